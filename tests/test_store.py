import multiprocessing
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks.store import LayoutError, RunLockedError, Staging, Store, part_name


def stage_run(store, run_id, rows=1):
    staging = store.staging(run_id)
    for table in ("documents", "paragraphs", "rejects"):
        staging.table_dir(table).mkdir(parents=True)
        pq.write_table(pa.table({"x": list(range(rows))}), staging.part_file(table, 0))
    staging.index_file("entries").parent.mkdir(parents=True)
    pq.write_table(pa.table({"x": [1]}), staging.index_file("entries"))


def test_the_layout_under_clean_and_staging():
    """The names readers and later runs rely on (docs/output.md), spelled in tasks/store.py."""
    store = Store("/c")
    assert store.table_dir("paragraphs", "00001-a") == Path("/c/paragraphs/00001-a")
    assert store.manifest_path("00001-a") == Path("/c/_runs/00001-a.json")
    assert store.index_file("bands", "00001-a") == Path("/c/_index/bands/00001-a.parquet")
    assert store.index_meta == Path("/c/_index/meta.json")
    assert store.generations == Path("/c/.generations")
    staging = store.staging("00002-b")
    assert staging.directory == store.staging_dir("00002-b") == Path("/c/_staging/00002-b")
    assert staging.part_file("rejects", 3) == \
        Path("/c/_staging/00002-b/out/rejects/part-00003.parquet")
    assert staging.index_file("superseded") == \
        Path("/c/_staging/00002-b/index/superseded/00002-b.parquet")
    assert staging.work_dir == Path("/c/_staging/00002-b/dedup")
    shard = staging.shard(7)
    assert shard.table("cross") == Path("/c/_staging/00002-b/shard-00007/cross.parquet")
    assert shard.band_keys == Path("/c/_staging/00002-b/shard-00007/band_keys.npy")
    assert shard.building == Path("/c/_staging/00002-b/shard-00007.building")
    assert staging.shard_progress(7) == Path("/c/_staging/00002-b/shard-00007.progress.json")
    assert Staging(Path("/elsewhere"), "x").index_meta == Path("/elsewhere/index/meta.json")


def test_commit_builds_a_generation_and_switches_to_it(tmp_path):
    store = Store(tmp_path)
    store.ensure_layout()
    stage_run(store, "00001-a")
    store.commit("00001-a", {"run_id": "00001-a", "sequence": 1})
    stage_run(store, "00002-b", rows=2)
    store.commit("00002-b", {"run_id": "00002-b", "sequence": 2})
    assert (tmp_path / "paragraphs").is_symlink()
    assert pq.read_table(tmp_path / "documents" / "00001-a" / "part-00000.parquet").num_rows == 1
    assert pq.read_table(tmp_path / "documents" / "00002-b" / "part-00000.parquet").num_rows == 2
    assert (tmp_path / "_index" / "entries" / "00002-b.parquet").is_file()
    assert [m["run_id"] for m in store.manifests()] == ["00001-a", "00002-b"]
    # The replaced generation stays for readers until the next run starts.
    assert sorted(p.name for p in store.generations.iterdir()) == ["1", "2"]
    assert store.recover() == []  # housekeeping after a normal run: nothing to warn about
    assert sorted(p.name for p in store.generations.iterdir()) == ["2"]
    assert not store.staging_dir("00002-b").exists()


def test_recover_removes_half_built_generations_and_other_staging(tmp_path):
    store = Store(tmp_path)
    store.ensure_layout()
    stage_run(store, "00001-a")
    store.commit("00001-a", {"run_id": "00001-a", "sequence": 1})
    (store.generations / "7.building" / "documents").mkdir(parents=True)
    (store.staging_dir("00002-b") / "shard-00000").mkdir(parents=True)
    (store.staging_dir("00003-c")).mkdir(parents=True)
    removed = store.recover(keep_staging="00002-b")
    # generation 0, replaced by run 1's commit, goes too, but is no leftover of an interruption
    assert sorted(os.path.basename(p) for p in removed) == ["00003-c", "7.building"]
    assert sorted(p.name for p in store.generations.iterdir()) == ["1"]
    assert store.staging_dir("00002-b").is_dir()
    assert (tmp_path / "documents" / "00001-a").is_dir()


def test_rewrite_replaces_only_the_new_generations_copy(tmp_path):
    store = Store(tmp_path)
    store.ensure_layout()
    stage_run(store, "00001-a", rows=3)
    store.commit("00001-a", {"run_id": "00001-a", "sequence": 1})
    old_part = store.table_dir("documents", "00001-a") / part_name(0)
    old_inode = old_part.resolve().stat().st_ino

    def drop_rows(generation):
        part = generation.table_dir("documents", "00001-a") / part_name(0)
        tmp = part.with_name(".tmp")
        pq.write_table(pa.table({"x": [0]}), tmp)
        tmp.replace(part)
        return {"superseded": ["x"]}

    stage_run(store, "00002-b")
    manifest = store.commit("00002-b", {"run_id": "00002-b", "sequence": 2}, rewrite=drop_rows)
    assert manifest["superseded"] == ["x"]
    assert pq.read_table(old_part).num_rows == 1
    assert old_part.resolve().stat().st_ino != old_inode


def test_is_locked_names_the_holder_and_is_free_afterwards(tmp_path):
    store = Store(tmp_path)
    assert store.is_locked() is None
    with store.lock():
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(1) as pool:
            holder = pool.apply(_holder_of, (str(tmp_path),))
    assert holder == f"pid {os.getpid()}"
    assert store.is_locked() is None


def _holder_of(root: str) -> str | None:
    return Store(root).is_locked()


def test_an_existing_real_folder_is_not_taken_over(tmp_path):
    (tmp_path / "documents").mkdir()
    with pytest.raises(LayoutError, match="real folder"):
        Store(tmp_path).ensure_layout()


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
    store = Store(tmp_path)
    store.ensure_layout()
    (tmp_path / "_runs" / "x.json").write_text("{not json")
    with pytest.raises(RuntimeError, match="unreadable"):
        store.manifests()
