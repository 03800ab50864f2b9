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
from tasks.store import RunLockedError

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


def cli_run(raw, clean, crash_at=None, stall_at=None, wait=True):
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    env.pop("TEXTWASH_CRASH_AT", None)
    if crash_at:
        env["TEXTWASH_CRASH_AT"] = crash_at
    if stall_at:
        env["TEXTWASH_STALL_AT"] = stall_at
    args = [sys.executable, "-m", "flows.cli", "run", str(raw), str(clean),
            "--task-runner", "thread", "--shard-mb", "0.000001"]
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


def test_two_runs_at_once_one_stops_with_a_clear_message(prefect_server, tmp_path):
    raw, clean = tmp_path / "raw", tmp_path / "clean"
    make_inputs(raw, ["a.txt"])
    first = cli_run(raw, clean, stall_at="flow:locked:10", wait=False)
    try:
        deadline = time.time() + 120
        while not (clean / "_lock").exists() or "pid" not in (clean / "_lock").read_text():
            assert time.time() < deadline and first.poll() is None, "first run did not start"
            time.sleep(0.2)
        with pytest.raises(RunLockedError, match="another textwash run is writing"):
            run_clean_corpus(Settings(raw=str(raw), clean=str(clean)))
    finally:
        _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err.decode()[-2000:]
    assert len(list((clean / "_runs").glob("*.json"))) == 1
    assert ds.dataset(clean / "documents", format="parquet").to_table().num_rows == 1


def test_process_workers_exit_when_the_run_is_killed(prefect_server, tmp_path):
    """kill -9 of `textwash run` leaves no process-pool worker behind (each holds its models)."""
    import psutil
    from prefect.settings import PREFECT_API_URL

    make_inputs(tmp_path / "raw", ["a.txt", "b.txt"])
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(),
           "TEXTWASH_STALL_AT": "shard:staged:60"}  # the workers wait inside their shard
    env.pop("TEXTWASH_CRASH_AT", None)
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "run", str(tmp_path / "raw"),
                             str(tmp_path / "clean"), "--task-runner", "process", "--workers",
                             "2", "--shard-mb", "0.000001"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    workers = []
    while time.time() < deadline and len(workers) < 2:
        workers = [p for p in psutil.Process(proc.pid).children(recursive=True)
                   if "flows.cli" not in " ".join(p.cmdline())]
        time.sleep(0.5)
    assert workers, "no worker process started"
    time.sleep(3)  # let the workers reach their shard
    proc.kill()
    proc.wait()
    _, alive = psutil.wait_procs(workers, timeout=15)
    for p in alive:
        p.kill()
    assert not alive, f"workers outlived the killed run: {[p.pid for p in alive]}"
