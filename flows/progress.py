"""The flow's side of a run's progress: wait on the shard tasks and show how far they are.

While the flow waits on the shard futures it reads the shards' progress files (tasks/shard/progress.py)
every POLL_SECONDS and shows shards done, megabytes done of the total, documents, the rate and
the time left: on a terminal as a rich progress bar on stderr (gone when the shards are done),
otherwise as a line in the flow run's log every LOG_EVERY_SECONDS (none for shorter runs, none
when nothing moved), which a scheduled run shows in the Prefect UI. Where the files cannot be
seen (a remote Dask worker with its own disk) only finished shards count.
"""

from __future__ import annotations

import logging
import queue
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tasks.plan import RunPlan
from tasks.shard import ShardResult
from tasks.shard.progress import read_progress, shard_bytes

POLL_SECONDS = 0.5  # how often the progress files are read while waiting
LOG_EVERY_SECONDS = 30.0  # not on a terminal: a progress line at most this often


@dataclass(frozen=True)
class RunSnapshot:
    shards_done: int
    shards_total: int
    bytes_done: int
    bytes_total: int
    documents: int


class RunProgress:
    """The run's progress from the finished shards and the others' progress files."""

    def __init__(self, plan: RunPlan, staging: str | Path) -> None:
        self.staging = Path(staging)
        self.sizes = [shard_bytes(plan, k) for k in range(len(plan.shards))]

    def snapshot(self, finished: dict[int, int]) -> RunSnapshot:
        """`finished`: shard -> its documents, for the shards whose task has returned."""
        done = sum(self.sizes[k] for k in finished)
        documents = sum(finished.values())
        for k in range(len(self.sizes)):
            if k not in finished and (seen := read_progress(self.staging, k)) is not None:
                done += min(seen.bytes_done, self.sizes[k])
                documents += seen.documents
        return RunSnapshot(len(finished), len(self.sizes), done, sum(self.sizes), documents)


def estimate(snapshot: RunSnapshot, elapsed: float) -> tuple[float, float | None]:
    """(bytes per second, seconds left or None when not known yet). The rate is the average
    since the shards were started, so the time left assumes the rest goes as fast."""
    rate = snapshot.bytes_done / elapsed if elapsed > 0 else 0.0
    left = (snapshot.bytes_total - snapshot.bytes_done) / rate if rate > 0 else None
    return rate, left


def format_progress(snapshot: RunSnapshot, elapsed: float) -> str:
    """The log line: `1/4 shards, 12.5/50.0 MB (25%), 1,234 documents, 1.25 MB/s, about 30 s
    left`."""
    rate, left = estimate(snapshot, elapsed)
    share = snapshot.bytes_done / snapshot.bytes_total if snapshot.bytes_total else 1.0
    said = "time left unknown" if left is None else \
        "done" if left <= 0 else f"about {format_duration(left)} left"
    return (f"{snapshot.shards_done}/{snapshot.shards_total} shards, "
            f"{format_megabytes(snapshot)} ({share:.0%}), {snapshot.documents:,} documents, "
            f"{rate / 1e6:.2f} MB/s, {said}")


def format_bar_text(snapshot: RunSnapshot, elapsed: float) -> tuple[str, str]:
    """The texts left and right of the bar, short enough for 80 columns."""
    rate, left = estimate(snapshot, elapsed)
    said = "-:--:--" if left is None else _clock_time(left)
    right = (f"{format_megabytes(snapshot)} · {snapshot.documents:,} docs · "
             f"{rate / 1e6:.2f} MB/s · {said} left")
    return f"{snapshot.shards_done}/{snapshot.shards_total} shards", right


def format_megabytes(snapshot: RunSnapshot) -> str:
    digits = 1 if snapshot.bytes_total < 100e6 else 0
    return f"{snapshot.bytes_done / 1e6:,.{digits}f}/{snapshot.bytes_total / 1e6:,.{digits}f} MB"


def format_duration(seconds: float) -> str:
    seconds = max(round(seconds), 0)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _clock_time(seconds: float) -> str:
    seconds = max(round(seconds), 0)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class LogReporter:
    """A progress line in the run's log every `every` seconds, when something moved."""

    def __init__(self, logger: logging.Logger | logging.LoggerAdapter,
                 every: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.every = LOG_EVERY_SECONDS if every is None else every
        self._clock = clock
        self._start = self._last_line = clock()
        self._last: RunSnapshot | None = None

    def update(self, snapshot: RunSnapshot) -> None:
        now = self._clock()
        moved = snapshot != self._last if self._last is not None else \
            bool(snapshot.shards_done or snapshot.bytes_done or snapshot.documents)
        if now - self._last_line < self.every or not moved:
            return
        self.logger.info("progress: %s", format_progress(snapshot, now - self._start))
        self._last, self._last_line = snapshot, now

    def close(self) -> None:
        pass


class BarReporter:
    """A rich progress bar on stderr, removed when closed. It draws on the console of Prefect's
    log handler when there is one, so that log lines printed meanwhile go above the bar
    instead of through it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, console=None) -> None:
        self._clock = clock
        self._console = console
        self._start = clock()
        self._bar = None
        self._task = None

    def update(self, snapshot: RunSnapshot) -> None:
        left, right = format_bar_text(snapshot, self._clock() - self._start)
        fields = {"total": max(snapshot.bytes_total, 1), "completed": snapshot.bytes_done,
                  "description": left, "detail": right}
        if self._bar is None:
            if snapshot.shards_done == snapshot.shards_total:
                return  # all done before the first look (a rerun's staged shards): no flicker
            self._open(fields)
        else:
            self._bar.update(self._task, **fields)
        self._bar.refresh()
        # Back to the line's start: what a worker process writes to the terminal itself (its
        # own log handler) then overwrites the bar, instead of being glued to its end.
        self._bar.console.control(_carriage_return())

    def _open(self, fields: dict) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn

        # Explicit styles: Prefect's console has a theme without rich's default styles.
        self._bar = Progress(
            TextColumn("{task.description}", style="none"),
            BarColumn(bar_width=12, style="bright_black", complete_style="green",
                      finished_style="green", pulse_style="green"),
            TextColumn("{task.fields[detail]}", style="none"),
            console=self._console or _log_console() or Console(stderr=True), transient=True,
            auto_refresh=False)  # redrawn by `update`, once per look at the files
        self._task = self._bar.add_task(**fields)
        self._bar.start()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _carriage_return():
    from rich.control import Control, ControlType

    return Control(ControlType.CARRIAGE_RETURN)


def _log_console():
    """The rich console Prefect's console log handler prints with, if it has one."""
    for handler in logging.getLogger().handlers:
        console = getattr(handler, "console", None)
        if type(handler).__name__ == "PrefectConsoleHandler" and console is not None and \
                console.is_terminal:
            return console
    return None


def choose_reporter(logger, stream=None) -> BarReporter | LogReporter:
    stream = stream if stream is not None else sys.stderr
    return BarReporter() if stream.isatty() else LogReporter(logger)


def wait_for_shards(futures: Sequence, plan: RunPlan, staging: str | Path,
                    reporter: BarReporter | LogReporter | None = None,
                    poll: float = POLL_SECONDS) -> list[ShardResult]:
    """The shard tasks' results in shard order, showing progress while they run. A shard
    that failed raises its error as soon as it is known. Each future gets one done-callback
    (prefect.futures.wait would add one per call, kept until the future is done)."""
    if reporter is None:
        from prefect import get_run_logger

        reporter = choose_reporter(get_run_logger())
    finished: queue.SimpleQueue[int] = queue.SimpleQueue()
    for k, future in enumerate(futures):
        future.add_done_callback(lambda _, k=k: finished.put(k))
    progress = RunProgress(plan, staging)
    results: dict[int, ShardResult] = {}
    try:
        while len(results) < len(futures):
            try:
                k = finished.get(timeout=poll)
                while True:
                    results[k] = futures[k].result()
                    k = finished.get_nowait()
            except queue.Empty:
                pass
            reporter.update(progress.snapshot({k: r.documents for k, r in results.items()}))
    finally:
        reporter.close()
    return [results[k] for k in range(len(futures))]
