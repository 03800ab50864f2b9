"""Compaction (tasks/publish/compaction.py): fewer files, the same rows and the same lookups."""

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from conftest import write

from benchmarks.compare_outputs import differences
from tasks import schema
from tasks.cross_document.history import History, RunIndexWriter, merge_segments
from tasks.plan.state import InputsState, load_state, state_path
from tasks.publish.compaction import _merges
from tasks.settings import CompactionSettings, DedupSettings
from tasks.store import Layout, Staging, Store, compacted_name


def test_policy_merges_fanout_files_of_one_tier_and_leaves_large_ones():
    s = CompactionSettings(fanout=4, small_bytes=100, max_bytes=10_000)
    assert _merges([10] * 3, s, full=False) == []
    assert _merges([10] * 4, s, full=False) == [(0, 4)]
    # four small ones make a 40-byte file: still the small tier, so it merges again with the
    # next three; a large file stands between and is never merged.
    assert _merges([40, 10, 10, 10, 20_000, 10, 10], s, full=False) == [(0, 4)]
    assert _merges([500, 500, 500, 500, 10], s, full=False) == [(0, 4)]
    assert _merges([500, 500, 50, 500], s, full=False) == []  # tiers differ
    # --full: every run of consecutive files below max_bytes, packed up to it
    assert _merges([10, 20_000, 10, 10, 9_000, 3_000], s, full=True) == [(2, 5)]


def _stage_run(staging_root, run_id, run_seq, settings, rng, hot_key):
    """One run's index: 20 entries, a third of them sharing `hot_key` in every band (more than
    CAP per run), the rest random keys, some with a shared exact hash."""
    staging = staging_root / run_id
    writer = RunIndexWriter(staging, run_id, run_seq, settings)
    n = 20
    sets = [pa.array([[int(x)] for x in rng.integers(0, 50, n)], type=pa.list_(pa.uint32()))]
    writer.add_entries(pa.table({
        "para_id": [f"{run_id}-{i}" for i in range(n)], "doc_id": [f"d{run_seq}"] * n,
        "order": np.arange(n, dtype=np.int64),
        "norm_hash": pa.array(np.where(np.arange(n) % 4 == 0, 77, rng.integers(1, 2**60, n))
                              .astype(np.uint64)),
        "content": sets[0], "own_content": sets[0], "skip_pairs": sets[0], "numbers": sets[0]}))
    # 64-bit keys, some sharing their high 32 bits (sorted apart by a second pass)
    keys = rng.integers(0, 40, size=(settings.bands, n)).astype(np.uint64) << np.uint64(29)
    keys[:, ::3] = np.uint64(hot_key) << np.uint64(29)

    def band_keys(band):
        return np.arange(n, dtype=np.uint32), keys[band]

    writer.finish(band_keys)
    return Staging(staging, run_id)


CAP = 3  # candidates per key and run (the flow's is MAX_HEADS): the hot key exceeds it


def _lookups(history, settings, keys, hashes):
    """What a run's lookups find, as para ids (history ids differ with the files)."""
    found = []
    for band in range(settings.bands):
        ids, matched = history.band_matches(band, keys, CAP)
        assert len(ids) == len(matched)
        found.append(sorted(history.entries(np.unique(ids))["para_id"].to_pylist()))
    ids, _ = history.exact_matches(hashes)
    found.append(sorted(history.entries(np.unique(ids))["para_id"].to_pylist()))
    return found


def test_merged_index_segments_find_what_the_runs_files_found(tmp_path):
    settings = DedupSettings(bands=4, rows=4, num_perm=16)
    rng = np.random.default_rng(3)
    clean = tmp_path / "clean"
    layout = Layout(clean)
    for seq in range(1, 7):
        staged = _stage_run(tmp_path / "staging", f"{seq:05d}-abc", seq, settings, rng, 7)
        for kind in ("entries", "bands", "exact"):
            target = layout.index_dir / kind / f"{seq:05d}-abc.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(staged.index_file(kind), target)
        shutil.move(staged.index_meta, layout.index_meta)
    keys = np.array([3, 7, 11, 39], dtype=np.uint64) << np.uint64(29)
    hashes = np.array([77], dtype=np.uint64)
    before = _lookups(History(clean, settings), settings, keys, hashes)
    hot = [int(p.split("-")[-1]) for p in before[0] if int(p.split("-")[-1]) % 3 == 0]
    # the hot key's cap holds per run: each run's earliest CAP of its 7 hot entries (and hot
    # entries that also hold another key looked up)
    assert hot.count(0) == hot.count(3) == hot.count(6) == 6
    assert len(before[-1]) == 6  # the shared exact hash: the earliest entry of each run

    names = [p.stem for p in layout.index_files("entries")]
    merge_segments(layout, names[:4], compacted_name(1, 4))
    middle = _lookups(History(clean, settings), settings, keys, hashes)
    merge_segments(layout, [compacted_name(1, 4), *names[4:]], compacted_name(1, 6))
    assert sorted(p.name for p in (layout.index_dir).rglob("*.*") if p.parent.name != "_index") \
        == sorted(f"{compacted_name(1, 6)}.{ext}" for ext in ("arrow", "npy", "npy"))
    after = _lookups(History(clean, settings), settings, keys, hashes)
    assert middle == before and after == before


def _docs(rng, paragraphs, first, n):
    """`n` JSONL records of four paragraphs drawn from real articles and one of their own."""
    lines = []
    for k in range(first, first + n):
        chosen = [paragraphs[i] for i in rng.choice(len(paragraphs), 4, replace=False)]
        own = f"A paragraph of its own, number {k}, says something nobody else said here."
        lines.append(json.dumps({"id": f"doc-{k}", "text": "\n\n".join([*chosen, own])}))
    return "\n".join(lines) + "\n"


def _schedule(prefect_server, tmp_path, seed_texts, compaction):
    """Eight runs of new drops (repeating earlier runs' paragraphs), two of them changing an
    earlier drop (superseding), and one broken drop (a reject)."""
    from flows.clean_corpus import clean_corpus

    paragraphs = [p for text in seed_texts.values() for p in text.split("\n") if len(p) > 80]
    rng = np.random.default_rng(8)
    raw, clean = tmp_path / "raw", tmp_path / f"clean-{compaction['enabled']}"
    shutil.rmtree(raw, ignore_errors=True)
    manifests = []
    for run in range(8):
        write(raw / f"drop-{run}.jsonl", _docs(rng, paragraphs, run * 10, 3))
        if run in (3, 6):
            write(raw / "drop-1.jsonl", _docs(rng, paragraphs, 100 + run, 2))
        if run == 5:
            write(raw / "broken.jsonl", b'{"id": "x", "text": "unterminated\n')
        manifests.append(clean_corpus(raw=str(raw), clean=str(clean), overrides={
            "compaction": compaction, "runtime": {"workers": 1, "task_runner": "thread"}}))
    return raw, clean, manifests


def _files(clean):
    return sum(1 for p in (clean / ".current").resolve().rglob("*") if p.is_file())


@pytest.mark.flow
def test_compacted_schedule_has_the_same_rows_and_fewer_files(prefect_server, tmp_path,
                                                             seed_texts):
    import duckdb
    import pandas as pd
    import polars as pl
    from datasets import load_dataset

    from flows.clean_corpus import clean_corpus

    raw, on, runs_on = _schedule(prefect_server, tmp_path, seed_texts,
                                 {"enabled": True, "fanout": 2, "small_bytes": 10**9})
    _, off, runs_off = _schedule(prefect_server, tmp_path, seed_texts, {"enabled": False})
    assert [m["run_id"] for m in runs_on] == [m["run_id"] for m in runs_off]
    assert any(m["superseded"] for m in runs_on) and all("compacted" in m for m in runs_on)
    assert sum(m["counts"]["duplicates_of_earlier_runs"] for m in runs_on) > 0
    assert differences(on, off) == []
    assert _files(on) < _files(off) / 2
    # planning's state, kept by each commit, is the fold of every manifest
    store = Store(on)
    kept, folded = load_state(store), InputsState.of_manifests(store.manifests())
    kept.stats = {}  # file stats are not in the manifests
    assert kept == folded
    assert state_path(store).is_file()
    assert [p.name for p in (on / "documents").iterdir()] == [compacted_name(1, 8)]

    # readers see the same rows through the README's snippets
    for name in ("documents", "paragraphs", "rejects"):
        rows = ds.dataset(off / name, format="parquet",
                          schema=schema.TABLES[name]).count_rows()
        assert rows > 0
        assert len(pd.read_parquet(on / name)) == rows
        assert pl.read_parquet(on / name / "**" / "*.parquet").height == rows
        assert duckdb.sql(f"select count(*) from '{on / name}/*/*.parquet'").fetchall()[0][0] \
            == rows
        hf = load_dataset("parquet", data_files=str(on / name / "*" / "*.parquet"),
                          split="train", cache_dir=str(tmp_path / "hf-cache"))
        assert hf.num_rows == rows

    # planning reads compacted manifests: nothing new; then a new drop after `compact --full`
    from flows.cli import main

    assert clean_corpus(raw=str(raw), clean=str(on))["run_id"] is None
    assert main(["compact", str(on), "--full"]) == 0
    for clean in (on, off):
        write(raw / "drop-9.jsonl", _docs(np.random.default_rng(9), [
            p for t in seed_texts.values() for p in t.split("\n") if len(p) > 80], 900, 3))
        clean_corpus(raw=str(raw), clean=str(clean), overrides={
            "compaction": {"enabled": clean == on}, "runtime": {"workers": 1}})
    assert differences(on, off) == []


def test_compacted_names_sort_by_their_first_run_and_other_folders_are_ignored(tmp_path):
    from tasks.store import by_sequence, sequence_range

    names = ["00009-0a1b2c3d4e5f", compacted_name(1, 8), ".ipynb_checkpoints", "notes",
             "00010-000000000123", compacted_name(11, 20)]
    assert sorted(n for n in names if sequence_range(n)) == [
        compacted_name(1, 8), "00009-0a1b2c3d4e5f", "00010-000000000123", compacted_name(11, 20)]
    assert sequence_range("00010-000000000123") == (10, 10)  # a run id of digits only
    assert sequence_range(compacted_name(11, 20)) == (11, 20)
    for name in names:
        (tmp_path / "documents" / name).mkdir(parents=True)
    assert [p.name for p in Layout(tmp_path).table_folders("documents")] == \
        [n for n in sorted(names) if sequence_range(n)]
    assert [p.name for p in by_sequence(tmp_path.glob("documents/*"))] == \
        [compacted_name(1, 8), "00009-0a1b2c3d4e5f", "00010-000000000123", compacted_name(11, 20)]


def test_an_index_of_32_bit_keys_is_refused_with_what_to_do(tmp_path):
    from tasks.cross_document.history import IndexMismatchError, check_meta, index_meta

    settings = DedupSettings()
    layout = Layout(tmp_path)
    layout.index_dir.mkdir(parents=True)
    layout.index_meta.write_text(json.dumps(index_meta(settings)))
    check_meta(tmp_path, settings)  # this version's
    for number, says in ((4, "32-bit LSH band keys"), (5, "32-bit LSH band keys"),
                         (3, "format: index has 3")):
        layout.index_meta.write_text(json.dumps({**index_meta(settings), "format": number}))
        with pytest.raises(IndexMismatchError, match=says):
            check_meta(tmp_path, settings)
