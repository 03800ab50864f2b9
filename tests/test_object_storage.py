"""`raw` and `clean` as s3:// URLs, against an S3 server running here (moto): the same rows as
local folders, a history a new working copy continues, superseding and compaction, the lease,
the commit log, readers, and runs killed with SIGKILL at every step of publishing."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import s3fs
from conftest import write

from flows.clean_corpus import run_clean_corpus
from tasks.remote import log
from tasks.remote.lease import Lease
from tasks.remote.log import Generation, LogError
from tasks.remote.objects import Bucket
from tasks.remote.session import committed_manifests, table_files
from tasks.settings import Settings
from tasks.store import RunLockedError

TABLES = ("documents", "paragraphs", "rejects")
STORY = ("The regional council voted on Tuesday to extend the night bus network to the "
         "northern suburbs, after a two-year campaign by residents and shift workers.")


def fs():
    return s3fs.S3FileSystem(skip_instance_cache=True)


def article(name: str) -> str:
    return f"{name} headline\n\n{STORY}\n\nA line only {name} has, with its own words.\n"


def put_inputs(raw: str, names):
    """Inputs as objects under `raw` (an s3:// URL), or files under a local folder."""
    for name in names:
        text = article(name) if not name.endswith(".jsonl") else \
            json.dumps({"text": article(name)}) + "\n{\"text\": 5}\n"  # and a reject
        if raw.startswith("s3://"):
            fs().pipe(f"{raw[5:]}/{name}", text.encode())
        else:
            write(Path(raw) / name, text)


def settings_for(raw, clean, cache=None, **sections) -> Settings:
    return Settings.from_dict({"raw": str(raw), "clean": str(clean),
                               "runtime": {"shard_bytes": 1, "task_runner": "thread"},
                               "storage": {"cache_dir": str(cache) if cache else None},
                               **sections})


def seen(settings: Settings) -> dict:
    """What a reader of the committed state sees: every table's rows (through `textwash
    files`), and the runs."""
    out = {}
    for table in TABLES:
        rows = []
        for name in table_files(settings, table):
            if name.startswith("s3://"):
                with fs().open(name[5:], "rb") as fh:
                    rows += pq.read_table(fh).to_pylist()
            else:
                rows += pq.read_table(name).to_pylist()
        out[table] = sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)
    out["runs"] = [m["run_id"] for m in committed_manifests(settings)]
    return out


def stray_objects(clean: str) -> list[str]:
    """Objects under `clean` that its newest generation does not reference (the log, the hint
    and the lock aside): what a killed push could leave behind."""
    bucket = Bucket(clean)
    keys = log.latest(bucket).keys()
    return sorted(rel for rel in bucket.list()
                  if rel not in keys and not rel.startswith("_log/") and rel != "_lock")


# -- the commit log and the lease (no flow) ---------------------------------------------------

def test_a_generation_commits_once(bucket):
    b = Bucket(bucket + "/clean")
    assert log.latest(b).number == 0
    log.commit(b, Generation(1, {"documents/x/part-00000.parquet": {
        "key": "documents/x/part-00000.parquet", "size": 1, "since": 1}}, [], "x"))
    with pytest.raises(LogError, match="another writer committed generation 1"):
        log.commit(b, Generation(1, {}, [], "y"))
    assert log.latest(b).run_id == "x"
    # A writer killed between the commit and the hint: the reader still finds the newest.
    assert b.create(log.log_name(2), Generation(2, {}, [], "z").to_json())
    assert log.latest(b).run_id == "z"


def test_the_lease_refuses_a_live_holder_and_takes_a_dead_ones(bucket):
    b = Bucket(bucket + "/clean")
    with Lease(b, "/machine-a/copy", ttl=600), \
            pytest.raises(RunLockedError, match="another textwash run is writing"):
        Lease(b, "/machine-b/copy", ttl=600).acquire()
    assert b.read("_lock") is None  # released

    dead = Lease(b, "/machine-a/copy", ttl=600)
    dead.acquire()
    dead._stop.set()  # a process killed with SIGKILL: the lease stays, nobody renews it
    dead._thread.join()
    # The same working copy on this host: its holder is dead (the caller holds the copy's own
    # lock), so it is taken at once; the dead holder's release then leaves it alone.
    again = Lease(b, "/machine-a/copy", ttl=600)
    again.acquire()
    dead.release()
    assert json.loads(b.read("_lock"))["token"] == again.token
    again._stop.set()
    again._thread.join()

    # Another machine takes it only once it has not been renewed for ttl seconds (the
    # storage's clock). moto keeps whole seconds: wait for the lease to be older than 2 s.
    other = Lease(b, "/machine-b/copy", ttl=2)
    with pytest.raises(RunLockedError):
        other.acquire()
    again.ttl = 2
    b.write("_lock", again._body())
    deadline = time.time() + 60
    while True:
        try:
            other.acquire()
            break
        except RunLockedError:
            assert time.time() < deadline, "a stale lease was never taken over"
            time.sleep(0.5)
    assert json.loads(b.read("_lock"))["token"] == other.token
    other.release()
    assert b.read("_lock") is None


def test_a_storage_without_an_atomic_create_is_refused_clearly(tmp_path):
    with pytest.raises(RuntimeError, match="atomic create-if-absent"):
        Bucket("memory://textwash-test/clean").create("_log/0000000001.json", b"{}")


def test_raw_objects_are_downloaded_when_new_or_changed_and_removed_when_gone(bucket, tmp_path):
    from tasks.remote.raw import sync_raw

    raw = Bucket(bucket + "/raw")
    raw.write("a.txt", b"first")
    raw.write("sub/b.jsonl", b'{"text": "x"}\n')
    raw.write(".hidden/c.txt", b"not an input")
    copy = tmp_path / "raw"
    assert sync_raw(raw, copy) == {"objects": 2, "downloaded": 2, "removed": 0}
    assert (copy / "a.txt").read_bytes() == b"first" and not (copy / ".hidden").exists()
    before = (copy / "sub" / "b.jsonl").stat()

    raw.write("a.txt", b"second")  # changed
    raw.delete(["sub/b.jsonl"])
    raw.write("sub/b.jsonl", b'{"text": "x"}\n')  # the same bytes written again: same ETag
    raw.write("d.txt", b"new")
    assert sync_raw(raw, copy) == {"objects": 3, "downloaded": 2, "removed": 0}
    assert (copy / "a.txt").read_bytes() == b"second"
    after = (copy / "sub" / "b.jsonl").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # untouched

    raw.delete(["d.txt"])
    assert sync_raw(raw, copy)["removed"] == 1 and not (copy / "d.txt").exists()


def test_a_missing_bucket_is_said_clearly(s3_server, tmp_path):
    from tasks.remote.raw import RawFetchError, sync_raw
    from tasks.remote.session import hold_output

    settings = settings_for("s3://tw-no-such-bucket/raw", "s3://tw-no-such-bucket/clean",
                            tmp_path / "cache")
    with pytest.raises(FileNotFoundError, match="make the bucket first"), hold_output(settings):
        pass
    with pytest.raises(RawFetchError, match="the bucket does not exist"):
        sync_raw(Bucket("s3://tw-no-such-bucket/raw"), tmp_path / "raw")


# -- runs ---------------------------------------------------------------------------------------

@pytest.mark.flow
def test_runs_on_s3_give_the_rows_of_local_runs_and_a_new_working_copy_continues(
        prefect_server, bucket, tmp_path):
    raw, clean = bucket + "/raw", bucket + "/clean"
    local = settings_for(tmp_path / "raw", tmp_path / "clean")
    put_inputs(raw, ["a.txt", "b.jsonl"])
    put_inputs(str(tmp_path / "raw"), ["a.txt", "b.jsonl"])
    run_clean_corpus(settings_for(raw, clean, tmp_path / "cache-1"))
    run_clean_corpus(local)
    assert seen(settings_for(raw, clean)) == seen(local)

    # Run 2 from a new machine (an empty working copy): its paragraphs are matched against
    # run 1's, whose index it downloads.
    put_inputs(raw, ["c.txt", "sub/d.txt"])
    put_inputs(str(tmp_path / "raw"), ["c.txt", "sub/d.txt"])
    manifest = run_clean_corpus(settings_for(raw, clean, tmp_path / "cache-2"))
    run_clean_corpus(local)
    remote = seen(settings_for(raw, clean))
    assert remote == seen(local)
    assert len(remote["runs"]) == 2 and manifest["output"] == clean and manifest["raw"] == raw
    assert any('"dup_of": "' in row for row in remote["paragraphs"])  # the story, run 1's
    assert stray_objects(clean) == []

    # Back on the first machine: its copy is one generation behind and catches up.
    put_inputs(raw, ["e.txt"])
    put_inputs(str(tmp_path / "raw"), ["e.txt"])
    run_clean_corpus(settings_for(raw, clean, tmp_path / "cache-1"))
    run_clean_corpus(local)
    assert seen(settings_for(raw, clean)) == seen(local)
    assert not run_clean_corpus(settings_for(raw, clean, tmp_path / "cache-1"))["run_id"]


@pytest.mark.flow
def test_raw_in_a_bucket_and_clean_on_disk(prefect_server, bucket, tmp_path):
    put_inputs(bucket + "/raw", ["a.txt", "sub/b.jsonl"])
    put_inputs(str(tmp_path / "raw"), ["a.txt", "sub/b.jsonl"])
    mixed = settings_for(bucket + "/raw", tmp_path / "clean-mixed", tmp_path / "cache")
    manifest = run_clean_corpus(mixed)
    local = settings_for(tmp_path / "raw", tmp_path / "clean")
    run_clean_corpus(local)
    assert seen(mixed) == seen(local) and manifest["raw"] == bucket + "/raw"
    assert manifest["output"] == str((tmp_path / "clean-mixed").resolve())


@pytest.mark.flow
def test_superseding_and_compaction_on_s3_keep_the_rows_of_local_runs(
        prefect_server, bucket, tmp_path):
    eager = {"compaction": {"fanout": 2, "small_bytes": 10**9}}
    raw, clean = bucket + "/raw", bucket + "/clean"
    local = settings_for(tmp_path / "raw", tmp_path / "clean", **eager)
    remote = settings_for(raw, clean, tmp_path / "cache", **eager)
    rewritten = b"a rewritten\n\nNothing of the old text.\n"
    steps = [lambda where: put_inputs(where, ["a.txt"]), lambda where: put_inputs(where, ["b.txt"]),
             lambda where: put_inputs(where, ["c.txt"]),
             lambda where: fs().pipe(f"{where[5:]}/a.txt", rewritten) if where.startswith("s3")
             else write(tmp_path / "raw" / "a.txt", rewritten)]  # supersedes run 1's rows
    for step in steps:
        step(raw)
        step(str(tmp_path / "raw"))
        run_clean_corpus(remote)
        run_clean_corpus(local)
        assert seen(remote) == seen(local)
    files = table_files(remote, "documents")
    assert len(files) == 1 and "-runs/" in files[0]  # merged by compaction
    assert stray_objects(clean) == []
    superseded = committed_manifests(remote)[-1]["superseded"]
    assert superseded and superseded[0]["sources"] == ["a.txt"]


# -- the command line, readers ------------------------------------------------------------------

def cli(*args, env_extra=None, crash_at=None, stall_at=None, wait=True, cache=None):
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value() or "",
           **(env_extra or {})}
    env.pop("TEXTWASH_CRASH_AT", None)
    if cache is not None:
        env["TEXTWASH_CACHE"] = str(cache)
    if crash_at:
        env["TEXTWASH_CRASH_AT"] = crash_at
    if stall_at:
        env["TEXTWASH_STALL_AT"] = stall_at
    command = [sys.executable, "-m", "flows.cli", *args]
    if not wait:
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600,
                          check=False)


HF_READ = ("import sys; from datasets import load_dataset; "
           "print(len(load_dataset('parquet', data_files=sys.argv[1:], split='train')))")
RUN_FLAGS = ("--task-runner", "thread", "--shard-mb", "0.000001")


@pytest.mark.flow
def test_the_readme_readers_read_a_table_on_s3(prefect_server, bucket, tmp_path):
    import duckdb
    import pandas as pd
    import polars as pl

    raw, clean = bucket + "/raw", bucket + "/clean"
    put_inputs(raw, ["a.txt", "b.jsonl"])
    done = cli("run", raw, clean, *RUN_FLAGS, cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr[-3000:]
    listed = cli("files", clean, "--table", "documents")
    assert listed.returncode == 0, listed.stderr
    files = listed.stdout.split()
    assert files and all(f.startswith(clean + "/documents/") for f in files)

    assert len(pd.read_parquet(f"{clean}/documents/")) == 2
    assert len(pd.concat(pd.read_parquet(f) for f in files)) == 2
    assert pl.read_parquet(files).height == 2
    con = duckdb.connect()
    con.register_filesystem(s3fs.S3FileSystem())
    assert con.sql(f"select count(*) from read_parquet({files})").fetchall() == [(2,)]
    # Hugging Face datasets, in a process of its own: the test session runs it offline
    hf = subprocess.run(
        [sys.executable, "-c", HF_READ, *files], capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0",
             "HF_HOME": str(tmp_path / "hf")})
    assert hf.stdout.strip().splitlines()[-1:] == ["2"], hf.stderr[-2000:]

    report = cli("report", clean)
    assert report.returncode == 0 and "rejects" in report.stdout, report.stderr
    stray = Bucket(clean)
    stray.write("documents/00009-0123456789ab/part-00000.parquet", b"a killed push's upload")
    compact = cli("compact", clean, "--full", cache=tmp_path / "cache")
    assert compact.returncode == 0, compact.stderr
    assert "deleted s3://" in compact.stdout and stray_objects(clean) == []
    assert len(seen(settings_for(raw, clean))["documents"]) == 2


@pytest.mark.flow
def test_two_runs_at_once_on_s3_one_stops_with_a_clear_message(prefect_server, bucket,
                                                               tmp_path):
    raw, clean = bucket + "/raw", bucket + "/clean"
    put_inputs(raw, ["a.txt"])
    first = cli("run", raw, clean, *RUN_FLAGS, stall_at="flow:locked:10", wait=False,
                cache=tmp_path / "machine-a")
    try:
        deadline = time.time() + 120
        while Bucket(clean).read("_lock") is None:
            assert time.time() < deadline and first.poll() is None, "first run did not start"
            time.sleep(0.2)
        second = cli("run", raw, clean, *RUN_FLAGS, cache=tmp_path / "machine-b")
        assert second.returncode == 4, second.stderr[-2000:]
        assert "another textwash run is writing to s3://" in second.stderr
    finally:
        _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err.decode()[-2000:]
    assert len(seen(settings_for(raw, clean))["documents"]) == 1


# -- kill -9 --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def s3_reference(prefect_server, s3_server, tmp_path_factory):
    """Two uninterrupted runs on local folders: a.txt and b.txt, then c.txt and d.txt."""
    root = tmp_path_factory.mktemp("s3-reference")
    settings = settings_for(root / "raw", root / "clean")
    put_inputs(str(root / "raw"), ["a.txt", "b.txt"])
    run_clean_corpus(settings)
    first = seen(settings)
    put_inputs(str(root / "raw"), ["c.txt", "d.txt"])
    run_clean_corpus(settings)
    return first, seen(settings)


@pytest.mark.flow
@pytest.mark.parametrize("point", ["flow:cross_document", "commit:switched", "push:uploaded",
                                   "push:committed"])
def test_a_run_on_s3_killed_anywhere_is_seen_whole_or_not_and_the_rerun_finishes(
        s3_reference, bucket, tmp_path, point):
    first, final = s3_reference
    raw, clean = bucket + "/raw", bucket + "/clean"
    put_inputs(raw, ["a.txt", "b.txt"])
    run_clean_corpus(settings_for(raw, clean, tmp_path / "cache"))
    assert seen(settings_for(raw, clean)) == first
    put_inputs(raw, ["c.txt", "d.txt"])

    killed = cli("run", raw, clean, *RUN_FLAGS, crash_at=point, cache=tmp_path / "cache")
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert seen(settings_for(raw, clean)) == (final if point == "push:committed" else first)

    rerun = cli("run", raw, clean, *RUN_FLAGS, cache=tmp_path / "cache")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert seen(settings_for(raw, clean)) == final
    assert stray_objects(clean) == []
    assert Bucket(clean).read("_lock") is None
