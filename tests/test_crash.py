"""Crash safety: real `textwash run` processes killed with SIGKILL at several points, a rerun,
and two runs at once on the same output folder."""

import json
import os
import subprocess
import sys
import time

import pyarrow.dataset as ds
import pytest
from conftest import write

from flows.clean_corpus import run_clean_corpus
from tasks.settings import Settings
from tasks.store import RunLockedError, Store

pytestmark = pytest.mark.flow

TABLES = ("documents", "paragraphs", "rejects")
ARTICLE = ("The regional council voted on Tuesday to extend the night bus network to the "
           "northern suburbs, after a two-year campaign by residents and shift workers.\n\n")


def make_inputs(raw, files):
    for name in files:
        write(raw / name, f"{name} headline\n\n{ARTICLE}A line only {name} has, with words.\n")


def visible(clean):
    """What a reader sees: every table's rows, as sorted tuples, and the committed run ids."""
    out = {}
    for table in TABLES:
        rows = ds.dataset(clean / table, format="parquet").to_table().to_pylist()
        out[table] = sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)
    out["runs"] = sorted(p.stem for p in (clean / "_runs").glob("*.json"))
    return out


def cli_run(raw, clean, crash_at=None, stall_at=None, wait=True, config=None):
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    env.pop("TEXTWASH_CRASH_AT", None)
    if crash_at:
        env["TEXTWASH_CRASH_AT"] = crash_at
    if stall_at:
        env["TEXTWASH_STALL_AT"] = stall_at
    args = [sys.executable, "-m", "flows.cli", "run", str(raw), str(clean),
            "--task-runner", "thread", "--shard-mb", "0.000001",
            *(["--config", str(config)] if config else [])]
    if not wait:
        return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def reference(prefect_server, tmp_path_factory):
    """Two runs, uninterrupted: a.txt and b.txt, then c.txt and d.txt added."""
    root = tmp_path_factory.mktemp("reference")
    settings = Settings.from_dict({"raw": str(root / "raw"), "clean": str(root / "clean"),
                                   "runtime": {"shard_bytes": 1}})
    make_inputs(root / "raw", ["a.txt", "b.txt"])
    run_clean_corpus(settings)
    first = visible(root / "clean")
    make_inputs(root / "raw", ["c.txt", "d.txt"])
    run_clean_corpus(settings)
    return first, visible(root / "clean")


@pytest.mark.parametrize("point", ["shard:staged", "flow:cross_document", "commit:linked",
                                   "commit:tables", "commit:switched"])
def test_killed_run_leaves_clean_readable_and_the_rerun_finishes(reference, tmp_path, point):
    first, final = reference
    raw, clean = tmp_path / "raw", tmp_path / "clean"
    make_inputs(raw, ["a.txt", "b.txt"])
    run_clean_corpus(Settings.from_dict({"raw": str(raw), "clean": str(clean),
                                         "runtime": {"shard_bytes": 1}}))
    assert visible(clean) == first
    make_inputs(raw, ["c.txt", "d.txt"])

    killed = cli_run(raw, clean, crash_at=point)
    assert killed.returncode == -9, killed.stderr[-2000:]
    # Readers see the first run whole, or (killed after the switch) both runs whole.
    assert visible(clean) in (first, final)

    if point == "shard:staged":  # a finished shard waits, staged, for the rerun to pick it up
        assert list((clean / "_staging").glob("*/shard-*/result.json"))
    run_clean_corpus(Settings.from_dict({"raw": str(raw), "clean": str(clean),
                                         "runtime": {"shard_bytes": 1}}))
    assert visible(clean) == final


EAGER = {"fanout": 2, "small_bytes": 10**9}  # every two files of a table merge at once


@pytest.mark.parametrize("point", ["compact:merged", "commit:tables", "commit:switched"])
def test_run_killed_while_compacting_leaves_clean_readable_and_the_rerun_finishes(
        prefect_server, tmp_path, point):
    """The second run merges the first run's files with its own; killed in the middle of the
    merges (or after them), readers still see the first run whole, and the rerun ends with what
    an uninterrupted pair of runs gives."""
    from benchmarks.compare_outputs import differences

    config = write(tmp_path / "settings.toml",
                   "[compaction]\nfanout = 2\nsmall_bytes = 1000000000\n")

    def settings(clean):
        return Settings.from_dict({"raw": str(tmp_path / "raw"), "clean": str(clean),
                                   "runtime": {"shard_bytes": 1, "task_runner": "thread"},
                                   "compaction": EAGER})  # as cli_run's flags and config

    make_inputs(tmp_path / "raw", ["a.txt", "b.txt"])
    for clean in (tmp_path / "reference", tmp_path / "clean"):
        run_clean_corpus(settings(clean))
    first = {t: ds.dataset(tmp_path / "clean" / t, format="parquet").count_rows()
             for t in ("documents", "paragraphs")}
    make_inputs(tmp_path / "raw", ["c.txt", "d.txt"])
    run_clean_corpus(settings(tmp_path / "reference"))
    assert [p.name for p in (tmp_path / "reference" / "documents").iterdir()] == \
        ["00001-00002-runs"]  # the reference did merge

    killed = cli_run(tmp_path / "raw", tmp_path / "clean", crash_at=point, config=config)
    assert killed.returncode == -9, killed.stderr[-2000:]
    seen = {t: ds.dataset(tmp_path / "clean" / t, format="parquet").count_rows()
            for t in ("documents", "paragraphs")}
    if point != "commit:switched":
        assert seen == first
    run_clean_corpus(settings(tmp_path / "clean"))
    assert differences(tmp_path / "clean", tmp_path / "reference") == []


def test_two_runs_at_once_one_stops_with_a_clear_message(prefect_server, tmp_path):
    raw, clean = tmp_path / "raw", tmp_path / "clean"
    make_inputs(raw, ["a.txt"])
    first = cli_run(raw, clean, stall_at="flow:locked:10", wait=False)
    try:
        deadline = time.time() + 120
        while Store(clean).is_locked() is None:
            assert time.time() < deadline and first.poll() is None, "first run did not start"
            time.sleep(0.2)
        with pytest.raises(RunLockedError, match="another textwash run is writing"):
            run_clean_corpus(Settings(raw=str(raw), clean=str(clean)))
    finally:
        _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err.decode()[-2000:]
    assert len(list((clean / "_runs").glob("*.json"))) == 1
    assert ds.dataset(clean / "documents", format="parquet").to_table().num_rows == 1


FLOW_CALL = ("import sys; from flows.clean_corpus import clean_corpus; clean_corpus("
             "raw=sys.argv[1], clean=sys.argv[2], settings={'runtime': {'task_runner': "
             "'process', 'workers': 2, 'shard_bytes': 1}})")


def process_run(raw, clean, env, entry="cli"):
    """`textwash run` (or the flow called from Python) of one shard per input on two process
    workers, each of which waits in its shard once it is staged (TEXTWASH_STALL_AT), long enough
    for the test to look and kill."""
    make_inputs(raw, ["a.txt", "b.txt"])
    env = {**env, "TEXTWASH_STALL_AT": "shard:staged:900"}
    env.pop("TEXTWASH_CRASH_AT", None)
    args = ([sys.executable, "-m", "flows.cli", "run", str(raw), str(clean), "--task-runner",
             "process", "--workers", "2", "--shard-mb", "0.000001"] if entry == "cli" else
            [sys.executable, "-c", FLOW_CALL, str(raw), str(clean)])
    with open(raw.parent / "run.log", "wb") as log:  # a file: a full pipe would stall the run
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    proc.log = raw.parent / "run.log"
    return proc


def descendants(proc):
    import psutil

    try:
        return psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def command(p) -> str:
    import psutil

    try:
        return " ".join(p.cmdline())
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return ""


def is_worker(p) -> bool:
    return "--multiprocessing-fork" in command(p)


def is_prefect_server(p) -> bool:
    return "prefect.server.api.server:create_app" in command(p)


def wait_until(condition, proc, what: str, seconds: float = 600):
    """Poll until `condition()` holds; a generous deadline, for a loaded machine."""
    deadline = time.time() + seconds
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before {what}: {proc.log.read_text()[-3000:]}")
        assert time.time() < deadline, f"no {what} after {seconds} s"
        time.sleep(0.2)


def shards_staged(clean, n: int) -> bool:
    return len(list((clean / "_staging").glob("*/shard-*/result.json"))) >= n


def kill_and_list_survivors(proc, seconds: float = 240):
    """kill -9 of the run; its processes (as of the kill) still alive after `seconds`. A process
    with nothing watching its parent lives on for good (a pool worker waits for its next task),
    so a long wait proves the same as a short one, and survives a loaded machine."""
    import psutil

    processes = descendants(proc)
    proc.kill()
    proc.wait()
    _, alive = psutil.wait_procs(processes, timeout=seconds)
    return alive


def kill_all(processes) -> None:
    import psutil

    for p in processes:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


@pytest.mark.parametrize("when", ["starting", "in_shard"])
def test_process_workers_exit_when_the_run_is_killed(prefect_server, tmp_path, when):
    """kill -9 of `textwash run` leaves no process-pool worker behind (each holds its models):
    neither one killed while still starting (importing, before any task reached it) nor one
    busy in its shard."""
    from prefect.settings import PREFECT_API_URL

    clean = tmp_path / "clean"
    proc = process_run(tmp_path / "raw", clean,
                       {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()})
    try:
        if when == "starting":
            wait_until(lambda: sum(map(is_worker, descendants(proc))) >= 2, proc,
                       "two worker processes")
        else:
            wait_until(lambda: shards_staged(clean, 2), proc, "two shards staged")
        workers = [p for p in descendants(proc) if is_worker(p)]
        assert len(workers) == 2
        alive = kill_and_list_survivors(proc)
    finally:
        kill_all([proc, *descendants(proc)])
    survivors = [command(p)[:200] for p in alive]
    kill_all(alive)
    assert not survivors, f"outlived the killed run: {survivors}"


def test_a_run_without_a_server_starts_one_and_nothing_of_it_outlives_a_kill(tmp_path):
    """No PREFECT_API_URL: the run starts one temporary Prefect server, which its process
    workers use too (not one of their own each), and kill -9 of the run leaves none of its
    processes behind: neither the workers nor the server."""
    clean = tmp_path / "clean"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home")}
    env.pop("PREFECT_API_URL", None)
    proc = process_run(tmp_path / "raw", clean, env)
    try:
        wait_until(lambda: shards_staged(clean, 2), proc, "two shards staged")
        running = descendants(proc)
        servers = [p for p in running if is_prefect_server(p)]
        assert sum(map(is_worker, running)) == 2
        assert len(servers) == 1, [command(p)[:200] for p in servers]
        alive = kill_and_list_survivors(proc)
    finally:
        kill_all([proc, *descendants(proc)])
    survivors = [command(p)[:200] for p in alive]
    kill_all(alive)
    assert not survivors, f"outlived the killed run: {survivors}"


def test_a_flow_called_without_a_server_gives_its_workers_its_own(tmp_path):
    """The flow called from Python, no PREFECT_API_URL: Prefect starts a temporary server for
    the flow's process, and the process workers use that one, not one of their own each."""
    clean = tmp_path / "clean"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home")}
    env.pop("PREFECT_API_URL", None)
    proc = process_run(tmp_path / "raw", clean, env, entry="flow")
    try:
        wait_until(lambda: shards_staged(clean, 2), proc, "two shards staged")
        running = descendants(proc)
        servers = [command(p)[:200] for p in running if is_prefect_server(p)]
        assert sum(map(is_worker, running)) == 2
        assert len(servers) == 1, servers
    finally:
        kill_all([proc, *descendants(proc)])
