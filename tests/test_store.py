import json
import multiprocessing

import pytest

from tasks.store import RunLockedError, Store


def test_recover_removes_uncommitted_runs_and_staging(tmp_path):
    store = Store(tmp_path)
    for table in ("documents", "paragraphs"):
        (tmp_path / table / "00001-a").mkdir(parents=True)
        (tmp_path / table / "00002-b").mkdir(parents=True)
    (tmp_path / "_runs").mkdir()
    (tmp_path / "_runs" / "00001-a.json").write_text(json.dumps({"sequence": 1}))
    (tmp_path / "_staging" / "00003-c").mkdir(parents=True)
    removed = store.recover()
    assert sorted(p.rsplit("/", 2)[-2] + "/" + p.rsplit("/", 1)[-1] for p in removed) == [
        "_staging/00003-c", "documents/00002-b", "paragraphs/00002-b"]
    assert (tmp_path / "documents" / "00001-a").is_dir()
    assert not (tmp_path / "documents" / "00002-b").exists()


def test_commit_moves_tables_then_writes_manifest(tmp_path):
    store = Store(tmp_path)
    out = store.staging_dir("00001-x") / "out"
    for table in ("documents", "paragraphs", "rejects"):
        (out / table).mkdir(parents=True)
        (out / table / "part-00000.parquet").write_bytes(b"data")
    store.commit("00001-x", {"run_id": "00001-x", "sequence": 1})
    assert (tmp_path / "paragraphs" / "00001-x" / "part-00000.parquet").read_bytes() == b"data"
    assert store.manifests() == [{"run_id": "00001-x", "sequence": 1}]
    assert not store.staging_dir("00001-x").exists()


def _try_lock(path, queue):
    try:
        with Store(path).lock():
            queue.put("got it")
    except RunLockedError as exc:
        queue.put(str(exc))


def test_a_second_writer_is_refused_with_a_clear_message(tmp_path):
    store = Store(tmp_path)
    with store.lock():
        queue = multiprocessing.get_context("spawn").Queue()
        proc = multiprocessing.get_context("spawn").Process(target=_try_lock,
                                                            args=(str(tmp_path), queue))
        proc.start()
        proc.join(60)
        message = queue.get(timeout=5)
    assert "another textwash run is writing" in message
    with store.lock():  # released after the first holder left
        pass


def test_unreadable_manifest_is_an_error(tmp_path):
    (tmp_path / "_runs").mkdir()
    (tmp_path / "_runs" / "x.json").write_text("{not json")
    with pytest.raises(RuntimeError, match="unreadable"):
        Store(tmp_path).manifests()
