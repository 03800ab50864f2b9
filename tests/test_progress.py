"""Progress of a run: shards write small progress files, the flow sums them while it waits."""

import io
import json
import logging

import pytest

from flows import progress as flow_progress
from flows.progress import (
    LogReporter,
    RunProgress,
    RunSnapshot,
    format_bar_text,
    format_progress,
    wait_for_shards,
)
from tasks import plan as plan_module
from tasks import shard
from tasks.settings import Settings
from tasks.shard import progress
from tasks.shard.progress import ProgressFile, read_progress, shard_bytes


def _settings(tmp_path, **runtime):
    return Settings.model_validate({"raw": str(tmp_path / "raw"), "clean": str(tmp_path / "clean"),
                                    "runtime": runtime})


def _plan(tmp_path, monkeypatch, shards: int, records: int = 300):
    """A plan of `shards` shards over one small JSONL file."""
    (tmp_path / "raw").mkdir()
    lines = [json.dumps({"id": f"r{i}", "text": f"Record {i} says something in plain words.\n\n"
                                                f"A second paragraph of record {i}."})
             for i in range(records)]
    (tmp_path / "raw" / "a.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr(plan_module, "MIN_SHARD_BYTES", 1000)
    settings = _settings(tmp_path, workers=shards)
    run = plan_module.plan_run(settings)
    assert len(run.shards) == shards
    return run, settings


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_flow_side_sums_what_the_shards_wrote(tmp_path, monkeypatch):
    run, _ = _plan(tmp_path, monkeypatch, shards=3)
    staging = tmp_path / "staging"
    staging.mkdir()
    sizes = [shard_bytes(run, k) for k in range(3)]
    assert sum(sizes) == (tmp_path / "raw" / "a.jsonl").stat().st_size

    ProgressFile(staging, 0, sizes[0]).report(paragraphs_done=50, paragraphs=200, documents=25)
    ProgressFile(staging, 1, sizes[1]).report(paragraphs_done=10, paragraphs=20, documents=999)
    # shard 2 has not started: no file
    seen = read_progress(staging, 0)
    assert (seen.bytes_done, seen.documents, seen.finished) == (sizes[0] // 4, 25, False)

    # shard 1 has finished: its result counts (its documents), not what its file said last
    snapshot = RunProgress(run, staging).snapshot(finished={1: 100})
    assert snapshot == RunSnapshot(shards_done=1, shards_total=3,
                                   bytes_done=sizes[0] // 4 + sizes[1],
                                   bytes_total=sum(sizes), documents=25 + 100)


def test_without_files_finished_shards_still_count(tmp_path, monkeypatch):
    """A remote Dask worker writes on its own disk: the flow sees only finished shards."""
    run, _ = _plan(tmp_path, monkeypatch, shards=2)
    snapshot = RunProgress(run, tmp_path / "elsewhere").snapshot(finished={0: 7})
    assert (snapshot.shards_done, snapshot.bytes_done, snapshot.documents) == (
        1, shard_bytes(run, 0), 7)


def test_progress_writes_are_throttled_but_the_last_one_always_lands(tmp_path):
    clock = Clock()
    writer = ProgressFile(tmp_path, 0, 1000, clock=clock)
    writer.report(paragraphs_done=0, paragraphs=10, documents=0)
    clock.now = progress.PROGRESS_EVERY_SECONDS / 2
    writer.report(paragraphs_done=5, paragraphs=10, documents=3)
    assert read_progress(tmp_path, 0).bytes_done == 0  # too soon after the previous write
    clock.now = progress.PROGRESS_EVERY_SECONDS * 1.5
    writer.report(paragraphs_done=6, paragraphs=10, documents=4)
    assert read_progress(tmp_path, 0).bytes_done == 600
    writer.report(paragraphs_done=10, paragraphs=10, documents=5, finished=True)
    done = read_progress(tmp_path, 0)
    assert (done.bytes_done, done.documents, done.finished) == (1000, 5, True)
    assert [p.name for p in tmp_path.iterdir()] == ["shard-00000.progress.json"]  # no temp left


def test_a_failed_progress_write_is_ignored_and_a_bad_file_is_not_read(tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    ProgressFile(not_a_folder, 0, 10).report(paragraphs_done=1, paragraphs=2, documents=1,
                                             finished=True)  # no exception
    ProgressFile(tmp_path / "vanished", 0, 10).report(paragraphs_done=1, paragraphs=2,
                                                      documents=1)
    progress.progress_path(tmp_path, 3).write_text('{"bytes_do')
    assert read_progress(tmp_path, 3) is None
    assert read_progress(tmp_path, 4) is None


def test_process_shard_leaves_a_final_progress_of_all_its_bytes(tmp_path, monkeypatch):
    run, settings = _plan(tmp_path, monkeypatch, shards=2)
    monkeypatch.setattr(shard, "CHUNK_PARAGRAPHS", 64)  # several chunks, several reports
    monkeypatch.setattr(progress, "PROGRESS_EVERY_SECONDS", 0.0)
    seen = []
    real = ProgressFile.report

    def report(self, *args, **kwargs):
        real(self, *args, **kwargs)
        seen.append(read_progress(self.staging, self.shard))

    monkeypatch.setattr(ProgressFile, "report", report)
    staging = tmp_path / "staging"
    staging.mkdir()
    result = shard.process_shard(run, 1, settings, str(staging))
    final = read_progress(staging, 1)
    assert final.finished and final.bytes_done == final.bytes_total == shard_bytes(run, 1)
    assert final.documents == result.documents
    assert read_progress(staging, 0) is None  # only its own file
    done = [p.bytes_done for p in seen]
    assert done[0] == 0 and done == sorted(done)
    assert len([d for d in done if 0 < d < final.bytes_total]) >= 3  # one report per chunk


def test_format_progress_gives_rate_and_time_left():
    snapshot = RunSnapshot(shards_done=1, shards_total=4, bytes_done=12_500_000,
                           bytes_total=50_000_000, documents=1234)
    line = format_progress(snapshot, elapsed=10.0)
    assert line == ("1/4 shards, 12.5/50.0 MB (25%), 1,234 documents, 1.25 MB/s, "
                    "about 30 s left")
    later = RunSnapshot(3, 4, 10_000_000, 760_000_000, 10)
    assert format_progress(later, elapsed=20.0).endswith("0.50 MB/s, about 25 min 00 s left")
    hours = RunSnapshot(0, 4, 1_000_000, 8_000_000_000, 0)
    assert format_progress(hours, elapsed=1.0).endswith("about 2 h 13 min left")
    nothing = RunSnapshot(0, 2, 0, 8_000_000, 0)
    assert format_progress(nothing, elapsed=5.0).endswith("0.00 MB/s, time left unknown")
    everything = RunSnapshot(2, 2, 8_000_000, 8_000_000, 5)
    assert format_progress(everything, elapsed=4.0).endswith("2.00 MB/s, done")


def test_the_bar_texts_are_short():
    snapshot = RunSnapshot(12, 94, 123_456_789, 1_500_000_000, 1_234_567)
    assert format_bar_text(snapshot, elapsed=100.0) == (
        "12/94 shards", "123/1,500 MB · 1,234,567 docs · 1.23 MB/s · 0:18:35 left")
    assert format_bar_text(RunSnapshot(0, 1, 0, 5_000_000, 0), elapsed=3.0)[1] == (
        "0.0/5.0 MB · 0 docs · 0.00 MB/s · -:--:-- left")


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _logger() -> tuple[logging.Logger, Lines]:
    logger = logging.getLogger("test_progress")
    logger.propagate = False
    logger.handlers[:] = [lines := Lines()]
    logger.setLevel(logging.INFO)
    return logger, lines


def test_the_log_reporter_logs_every_interval_and_only_when_something_changed():
    logger, lines = _logger()
    clock = Clock()
    reporter = LogReporter(logger, every=30.0, clock=clock)

    def at(t: float, done: int) -> None:
        clock.now = t
        reporter.update(RunSnapshot(0, 2, done * 1_000_000, 100_000_000, done))

    for t in range(30):  # progress every second, but no line within the first 30 s
        at(float(t), t)
    assert lines.lines == []
    at(30.0, 31)
    assert len(lines.lines) == 1
    assert lines.lines[0].startswith("progress: 0/2 shards, 31/100 MB (31%), 31 documents")
    at(45.0, 40)
    at(59.0, 50)
    assert len(lines.lines) == 1
    at(61.0, 50)  # 30 s after the last line; what moved at 59 s has not been logged yet
    assert len(lines.lines) == 2
    at(95.0, 50)  # nothing changed since the last line: none
    at(130.0, 50)
    assert len(lines.lines) == 2
    at(131.0, 51)
    assert len(lines.lines) == 3


def test_no_line_while_nothing_has_been_done():
    logger, lines = _logger()
    clock = Clock()
    reporter = LogReporter(logger, every=30.0, clock=clock)
    for t in (0.0, 31.0, 65.0):
        clock.now = t
        reporter.update(RunSnapshot(0, 2, 0, 100_000_000, 0))
    assert lines.lines == []


def test_a_run_that_finishes_within_the_interval_logs_no_progress():
    logger, lines = _logger()
    clock = Clock()
    reporter = LogReporter(logger, every=30.0, clock=clock)
    for t in range(29):
        clock.now = float(t)
        reporter.update(RunSnapshot(t // 10, 3, t, 29, t))
    reporter.close()
    assert lines.lines == []


class FakeFuture:
    def __init__(self, value) -> None:
        self.value = value

    def add_done_callback(self, fn) -> None:
        fn(self)

    def result(self):
        if isinstance(self.value, Exception):
            raise self.value
        return self.value


class Recorder:
    def __init__(self) -> None:
        self.snapshots: list[RunSnapshot] = []

    def update(self, snapshot: RunSnapshot) -> None:
        self.snapshots.append(snapshot)

    def close(self) -> None:
        pass


def test_wait_for_shards_returns_results_in_shard_order_and_counts_them(tmp_path, monkeypatch):
    run, _ = _plan(tmp_path, monkeypatch, shards=2)
    results = [shard.ShardResult(k, "", 10 + k, 0, 0, {}) for k in range(2)]
    recorder = Recorder()
    got = wait_for_shards([FakeFuture(r) for r in results], run, tmp_path, reporter=recorder)
    assert got == results
    last = recorder.snapshots[-1]
    assert (last.shards_done, last.bytes_done, last.documents) == (2, last.bytes_total, 21)


def test_wait_for_shards_raises_a_shards_failure(tmp_path, monkeypatch):
    run, _ = _plan(tmp_path, monkeypatch, shards=2)
    futures = [FakeFuture(shard.ShardResult(0, "", 1, 0, 0, {})), FakeFuture(OSError("disk"))]
    with pytest.raises(OSError, match="disk"):
        wait_for_shards(futures, run, tmp_path, reporter=Recorder())


class Stream:
    def __init__(self, terminal: bool) -> None:
        self.terminal = terminal

    def isatty(self) -> bool:
        return self.terminal


def test_the_reporter_is_a_bar_on_a_terminal_and_log_lines_otherwise():
    logger, _ = _logger()
    assert isinstance(flow_progress.choose_reporter(logger, Stream(False)), LogReporter)
    assert isinstance(flow_progress.choose_reporter(logger, Stream(True)),
                      flow_progress.BarReporter)


def test_the_bar_draws_on_a_console_themed_like_prefects_and_is_gone_when_closed():
    from rich.console import Console
    from rich.theme import Theme

    out = io.StringIO()
    # Prefect's log console: a theme without rich's default styles
    console = Console(file=out, force_terminal=True, width=80, theme=Theme(inherit=False))
    clock = Clock()
    bar = flow_progress.BarReporter(clock=clock, console=console)
    clock.now = 10.0
    bar.update(RunSnapshot(1, 4, 12_500_000, 50_000_000, 1234))
    drawn = out.getvalue()
    assert "1/4 shards" in drawn
    assert "12.5/50.0 MB · 1,234 docs · 1.25 MB/s · 0:00:30 left" in drawn
    assert drawn.endswith("\r")  # a worker's own log line starts at the line's start
    bar.close()
    assert out.getvalue().endswith("\x1b[2K")  # transient: the bar line is erased
