"""A run, a compaction or a report on `raw` / `clean` given as URLs: what the flow and the CLI
call. `hold_output` takes the output's lock (the working copy's own lock, then the bucket's
lease), brings the working copies up to date and gives back the settings with local folders;
`Held.publish` pushes the local commit as the bucket's next generation.

With two local folders it is only the output folder's lock, so callers need no second path.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tasks.remote import log
from tasks.remote.lease import Lease, LeaseLost, lock_holder
from tasks.remote.mirror import Mirror
from tasks.remote.objects import Bucket
from tasks.remote.raw import sync_raw
from tasks.remote.urls import cache_folder, is_url
from tasks.settings import Settings
from tasks.store import TABLE_NAMES, Store, sequence_range


@dataclass
class Held:
    settings: Settings  # raw and clean as local folders
    mirror: Mirror | None = None
    lease: Lease | None = None
    seconds: dict = field(default_factory=dict)  # bringing the working copies up to date

    def publish(self, run_id: str | None = None) -> dict | None:
        """Push the local commit to the bucket (nothing to do for a local output)."""
        if self.mirror is None:
            return None
        if self.lease is not None and self.lease.lost:
            raise LeaseLost(f"{self.mirror.bucket.url}: {self.lease.lost}; this run's output was "
                            "not published; run again")
        return self.mirror.push(run_id)


def working_folders(settings: Settings) -> tuple[Path | None, Path | None]:
    """The local working copies of raw and clean (None for a value that is a local folder).
    The raw copy belongs to one output, so the output's lock covers it too."""
    cache = settings.storage.cache_dir
    output = settings.clean if is_url(settings.clean) else str(Path(settings.clean).resolve())
    raw = cache_folder(f"{settings.raw}\n{output}", cache) / "raw" if is_url(settings.raw) \
        else None
    clean = cache_folder(settings.clean, cache) / "clean" if is_url(settings.clean) else None
    return raw, clean


def local_settings(settings: Settings) -> Settings:
    """`settings` with URLs replaced by their working copies; `storage.mirrors` says which
    URL each copy stands for (the run manifest records the URLs)."""
    raw, clean = working_folders(settings)
    if raw is None and clean is None:
        return settings
    mirrors = {name: url for name, url, local in (("raw", settings.raw, raw),
                                                   ("clean", settings.clean, clean))
               if local is not None}
    storage = settings.storage.model_copy(update={"mirrors": mirrors})
    return settings.model_copy(update={"raw": str(raw or settings.raw),
                                       "clean": str(clean or settings.clean),
                                       "storage": storage})


def output_locked_by(settings: Settings) -> str | None:
    """Who is writing to `settings.clean` now, or None: only a hint (runs take the lock)."""
    local = Store(local_settings(settings).clean)
    if not is_url(settings.clean):
        return local.is_locked()
    bucket = Bucket(settings.clean, settings.storage.options)
    return lock_holder(bucket, str(local.root), local.is_locked() is not None)


@contextmanager
def hold_output(settings: Settings, say: Callable[[str], None] = print,
                with_raw: bool = True) -> Iterator[Held]:
    """The right to write `settings.clean` for the duration, with local folders to work in
    (`with_raw`: raw's too; a compaction needs only clean's)."""
    local = local_settings(settings)
    store = Store(local.clean)
    with ExitStack() as stack:
        stack.enter_context(store.lock())
        held = Held(local)
        if is_url(settings.clean):
            bucket = Bucket(settings.clean, settings.storage.options)
            try:
                held.lease = stack.enter_context(
                    Lease(bucket, str(store.root), settings.storage.lock_ttl_seconds))
            except FileNotFoundError as exc:
                raise FileNotFoundError(f"{settings.clean} cannot be written: {exc} (make the "
                                        "bucket first)") from exc
            held.mirror = Mirror(bucket, store, say)
            start = time.perf_counter()
            held.mirror.pull()
            held.seconds["pull"] = round(time.perf_counter() - start, 3)
        if with_raw and is_url(settings.raw):
            start = time.perf_counter()
            counts = sync_raw(Bucket(settings.raw, settings.storage.options), Path(local.raw))
            held.seconds["raw"] = round(time.perf_counter() - start, 3)
            if counts["downloaded"] or counts["removed"]:
                say(f"{settings.raw}: {counts['downloaded']} new or changed objects downloaded, "
                    f"{counts['removed']} removed, of {counts['objects']}")
        yield held


def committed_manifests(settings: Settings) -> list[dict]:
    """The committed runs' manifests, oldest first, read from the bucket's newest generation
    for a URL (no working copy, no lock: a run under way is not disturbed)."""
    if not is_url(settings.clean):
        return Store(settings.clean).manifests()
    bucket = Bucket(settings.clean, settings.storage.options)
    runs = []
    for rel, entry in sorted(log.latest(bucket).files.items()):
        if not rel.startswith("_runs/"):
            continue
        text = (bucket.read(entry["key"]) or b"").decode("utf-8")
        runs += [json.loads(line) for line in text.splitlines() if line] \
            if rel.endswith(".jsonl") else [json.loads(text)]
    return sorted(runs, key=lambda m: m["sequence"])


def table_files(settings: Settings, table: str) -> list[str]:
    """The files that hold a table now, in run order: URLs from the bucket's newest generation,
    or paths inside the local folder's current generation. Reading exactly these is reading
    one committed state, whatever runs commit meanwhile."""
    if table not in TABLE_NAMES:
        raise ValueError(f"{table!r} is not a table: one of {', '.join(TABLE_NAMES)}")
    if is_url(settings.clean):
        bucket = Bucket(settings.clean, settings.storage.options)
        files = log.latest(bucket).files
        parts = [PurePosixPath(rel) for rel in files if rel.startswith(table + "/")]
        return [bucket.url_of(files[str(part)]["key"]) for part in _in_run_order(parts)]
    current = Store(settings.clean).current_generation()
    if current is None:
        return []
    return [str(part) for part in _in_run_order(Path(current, table).glob("*/*.parquet"))]


def _in_run_order(parts) -> list:
    """Part files `<run or range>/part-N.parquet` in run order, then part order; folders other
    tools left (named neither way) are not the table's, as for Layout.table_folders."""
    named = [(sequence_range(p.parent.name), p.name, p) for p in parts]
    return [p for key, _, p in sorted((k, n, p) for k, n, p in named if k is not None)]
