"""A shard's progress, told through a small file in the run's staging folder.

Shard tasks may run in threads, in a process pool or on Dask workers, so the flow process cannot
ask them how far they are: each shard rewrites `<staging>/shard-NNNNN.progress.json` as it goes
(whole or not at all: written under a temporary name, then renamed), and the flow reads these
files while it waits (flows/progress.py). The unit is input bytes: a shard's bytes count as
done in proportion to its paragraphs that have been through every stage. Progress is only ever
a display: a write that fails (a read-only or vanished staging folder, a worker with its own
disk) is ignored, and nothing here touches the tables.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tasks.plan import RunPlan
from tasks.store import Staging

PROGRESS_EVERY_SECONDS = 0.5  # at most one write per this often, except the last one


@dataclass(frozen=True)
class ShardProgress:
    shard: int
    bytes_total: int
    bytes_done: int
    documents: int  # documents whose paragraphs have been through every stage
    finished: bool


def progress_path(staging: str | Path, shard: int) -> Path:
    return Staging(staging).shard_progress(shard)


def shard_bytes(plan: RunPlan, shard: int) -> int:
    """The input bytes shard `shard` reads: the sizes of its parts."""
    return sum(plan.parts[i].size(plan.inputs[plan.parts[i].input]) for i in plan.shards[shard])


class ProgressFile:
    """Writes one shard's progress file; `report` is cheap to call once per chunk."""

    def __init__(self, staging: str | Path, shard: int, bytes_total: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.staging = Path(staging)
        self.shard = shard
        self.bytes_total = bytes_total
        self._clock = clock
        self._last_write: float | None = None

    def report(self, paragraphs_done: int, paragraphs: int, documents: int,
               finished: bool = False) -> None:
        now = self._clock()
        if not finished and self._last_write is not None and \
                now - self._last_write < PROGRESS_EVERY_SECONDS:
            return
        self._last_write = now
        if finished:
            done = self.bytes_total
        else:
            done = self.bytes_total * paragraphs_done // paragraphs if paragraphs else 0
        self._write(ShardProgress(self.shard, self.bytes_total, int(done), int(documents),
                                  finished))

    def _write(self, progress: ShardProgress) -> None:
        path = progress_path(self.staging, self.shard)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
        try:
            tmp.write_text(json.dumps(progress.__dict__), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:  # only a display: the shard goes on without it
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass


def read_progress(staging: str | Path, shard: int) -> ShardProgress | None:
    """What shard `shard` last wrote, or None (no file yet, not visible here, or unreadable)."""
    try:
        data = json.loads(progress_path(staging, shard).read_text(encoding="utf-8"))
        return ShardProgress(**data)
    except (OSError, ValueError, TypeError):
        return None
