"""The duplicate step's range-by-range machinery gives what the all-in-memory one gives: band
tables staged on disk, content sets gathered from disk, canonicals chosen range by range."""

import itertools

import numpy as np
import pyarrow as pa
import pytest
from conftest import random_pairs
from reference_dedup import assign_canonicals, candidate_pairs

from tasks.cross_document import staged_sets
from tasks.cross_document.band_tables import BandTables
from tasks.cross_document.duplicates import CANONICAL, assign_sorted
from tasks.cross_document.staged_sets import StagedSets, sets_of_table


def _tables(tmp_path, keys, max_heads, on_disk=True):
    # 10**9 bands: more table bytes than the tables keep in memory, so they go to disk
    tables = BandTables(tmp_path / "bands", keys.shape[0], max_heads,
                        bands=10**9 if on_disk else keys.shape[1])
    for band in range(keys.shape[1]):
        tables.add_band(keys[:, band])
    assert (tmp_path / "bands").is_dir() == on_disk
    return tables


@pytest.mark.parametrize("on_disk", [True, False])
def test_band_tables_give_the_candidate_pairs_range_by_range(tmp_path, on_disk):
    rng = np.random.default_rng(5)
    m = 400
    keys = rng.integers(0, 60, size=(m, 6)).astype(np.uint32)  # many shared keys
    keys[:50, 0] = 7  # one big bucket: heads capped
    for max_heads in (4, 32):
        expected = candidate_pairs(keys, max_heads)
        tables = _tables(tmp_path / str(max_heads), keys, max_heads, on_disk)
        for budget in (1, 37, 500, 10**9):
            ranges = tables.ranges(budget)
            assert ranges[0][0] == 0 and ranges[-1][1] == m
            assert all(a1 == b0 for (_, a1), (b0, _) in itertools.pairwise(ranges))
            found = []
            for a0, a1 in ranges:
                codes = tables.pairs(a0, a1)
                assert np.all(np.diff(codes) > 0)  # sorted by (member, head), distinct
                j, i = codes // m, codes % m
                assert np.all((a0 <= j) & (j < a1)) and np.all(i < j)
                found.append(np.stack([i, j], axis=1))
            got = np.concatenate(found)
            assert sorted(map(tuple, got.tolist())) == sorted(map(tuple, expected.tolist()))
        tables.remove()
        if on_disk:
            assert not list((tmp_path / str(max_heads) / "bands").iterdir())


def test_band_table_ranges_keep_to_the_budget(tmp_path):
    keys = np.zeros((100, 2), dtype=np.uint32)  # one bucket per band: row k pairs with min(k, 32)
    tables = _tables(tmp_path, keys, 32)
    for a0, a1 in tables.ranges(100):
        per_band = np.minimum(np.arange(a0, a1), 32).sum()
        assert per_band <= 100 or a1 - a0 == 1


def test_staged_sets_gather_across_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(staged_sets, "_BLOCK_ROWS", 4)
    rng = np.random.default_rng(2)
    parts = []
    for size in (7, 0, 6):
        content = [sorted(set(rng.integers(0, 50, rng.integers(0, 8)).tolist()))
                   for _ in range(size)]
        own = [None if k % 3 else c[: len(c) // 2] for k, c in enumerate(content)]
        parts.append(pa.table({"content": pa.array(content, pa.list_(pa.uint32())),
                               "own_content": pa.array(own, pa.list_(pa.uint32())),
                               "skip_pairs": pa.array([c[::-1] and sorted(c[1:]) for c in content],
                                                      pa.list_(pa.uint32())),
                               "numbers": pa.array([c[:1] for c in content],
                                                   pa.list_(pa.uint32()))}))
    sets = StagedSets(tmp_path / "sets")
    for part in parts:
        sets.append(part)
    sets.finish()
    whole = pa.concat_tables(parts)
    rows = np.array([0, 3, 4, 5, 11, 12])
    got = sets.gather(rows)
    want = sets_of_table(whole.take(pa.array(rows)))
    for name in ("content", "own", "skips", "numbers"):
        for part in (0, 1):
            assert got.csr[name][part].tolist() == want.csr[name][part].tolist(), name
    assert got.quoted.tolist() == want.quoted.tolist()
    assert sets.gather(np.zeros(0, np.int64)).csr["content"][1].tolist() == [0]


def test_canonicals_range_by_range_equal_all_at_once():
    rng = np.random.default_rng(8)
    for _ in range(40):
        n, pairs, sims = random_pairs(rng, 50, 150)
        want, want_sims = assign_canonicals(pairs, sims, n)
        status = np.full(n, CANONICAL, dtype=np.int8)
        got = np.full(n, -1, dtype=np.int64)
        got_sims = np.full(n, np.nan, dtype=np.float32)
        cuts = sorted({0, n, *rng.integers(0, n, 3).tolist()})
        for lo, hi in itertools.pairwise(cuts):
            take = (pairs[:, 1] >= lo) & (pairs[:, 1] < hi)
            p, s = pairs[take], sims[take]
            order = np.lexsort((p[:, 0], p[:, 1]))
            assign_sorted(p[order, 0], p[order, 1], s[order], status, got, got_sims)
        assert got.tolist() == want.tolist()
        assert np.array_equal(got_sims, want_sims, equal_nan=True)
