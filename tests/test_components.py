"""Components of the verified-pair graph, and the canonical rule decided per component: the same
answer as the rule on the whole graph (the property the duplicate step on Dask rests on)."""

from __future__ import annotations

import numpy as np
import pytest
from reference_dedup import assign_in_rounds

from tasks.cross_document.components import (
    component_labels,
    decide_components,
    decide_in_ranges,
)
from tasks.cross_document.duplicates import CANONICAL, assign_sorted


def _reference_labels(i, j, nodes):
    """Union-find, one edge at a time."""
    parent = {int(x): int(x) for x in nodes}

    def root(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in zip(i.tolist(), j.tolist()):
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.array([root(int(x)) for x in nodes])


def _random_graph(rng, n, edges, chains):
    """Verified pairs (i < j) over rows 0..n-1: random edges, plus chains of consecutive rows
    (each row a copy of the one before only: the case where chaining would go wrong)."""
    a = rng.integers(0, n, edges)
    b = rng.integers(0, n, edges)
    pairs = [np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1)]
    for _ in range(chains):
        start = int(rng.integers(0, n - 2))
        length = int(rng.integers(2, max(3, n // 4)))
        rows = np.arange(start, min(n, start + length))
        pairs.append(np.stack([rows[:-1], rows[1:]], axis=1))
    p = np.concatenate(pairs)
    p = np.unique(p[p[:, 0] < p[:, 1]], axis=0)
    return p[:, 0], p[:, 1], rng.random(len(p)).astype(np.float32)


def _global_rule(i, j, s, n, lead, assign=assign_sorted):
    status = np.full(n, CANONICAL, np.int8)
    canonical_of = np.full(n, -1, np.int64)
    sim = np.full(n, np.nan, np.float32)
    order = np.lexsort((i, j))
    assign(i[order], j[order], s[order], status, canonical_of, sim, lead)
    return canonical_of, sim


@pytest.mark.parametrize("seed", range(30))
def test_the_compiled_rule_is_the_rule_in_rounds(seed):
    rng = np.random.default_rng(500 + seed)
    n = int(rng.integers(2, 400))
    i, j, s = _random_graph(rng, n, int(rng.integers(0, 3 * n)), int(rng.integers(0, 5)))
    lead = rng.random(n) > 0.2
    want = _global_rule(i, j, s, n, lead, assign_in_rounds)
    got = _global_rule(i, j, s, n, lead)
    assert np.array_equal(got[0], want[0])
    assert np.array_equal(got[1], want[1], equal_nan=True)


@pytest.mark.parametrize("seed", range(12))
def test_components_match_union_find(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 400))
    i, j, _ = _random_graph(rng, n, int(rng.integers(0, n)), int(rng.integers(0, 4)))
    nodes, label = component_labels(i, j)
    assert np.array_equal(label, _reference_labels(i, j, nodes))
    assert (label <= nodes).all()


def test_a_long_chain_is_one_component():
    n = 10_000
    rows = np.arange(n)
    # Shuffled, so that no order of the pairs helps.
    order = np.random.default_rng(0).permutation(n - 1)
    nodes, label = component_labels(rows[1:][order], rows[:-1][order])
    assert np.array_equal(nodes, rows)
    assert (label == 0).all()


def test_rows_without_pairs_are_their_own_component():
    nodes, label = component_labels(np.array([3]), np.array([7]), rows=np.array([1, 3, 9]))
    assert nodes.tolist() == [1, 3, 7, 9]
    assert label.tolist() == [1, 3, 3, 9]


@pytest.mark.parametrize("seed", range(40))
def test_rule_per_component_equals_rule_on_whole_graph(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(2, 300))
    i, j, s = _random_graph(rng, n, int(rng.integers(0, 2 * n)), int(rng.integers(0, 5)))
    lead = rng.random(n) > 0.2  # some rows may not lead (the content model tagged them)
    lead[: int(rng.integers(0, 5))] = True  # rows of earlier runs come first and all may lead
    want_canonical, want_sim = _global_rule(i, j, s, n, lead)

    nodes, label = component_labels(i, j)
    # Components decided in random groups, in a random order, as partitions of workers would.
    components = np.unique(label)
    group_of = dict(zip(components.tolist(), rng.integers(0, 4, len(components)).tolist()))
    pair_group = np.array([group_of[x] for x in label[np.searchsorted(nodes, i)].tolist()])
    got_canonical = np.full(n, -1, np.int64)
    got_sim = np.full(n, np.nan, np.float32)
    for group in rng.permutation(4):
        take = pair_group == group
        if not take.any():
            continue
        perm = rng.permutation(int(take.sum()))  # the pairs in any order
        gi, gj, gs = i[take][perm], j[take][perm], s[take][perm]
        rows = np.unique(np.concatenate([gi, gj]))
        canonical_of, sim = decide_components(gi, gj, gs, rows, lead[rows])
        got_canonical[rows], got_sim[rows] = canonical_of, sim
        # The same pairs in ranges of their later row (a component larger than memory).
        cuts = np.sort(rng.integers(0, n + 1, int(rng.integers(0, 6))))
        at = np.searchsorted(cuts, gj, side="right")
        in_ranges = decide_in_ranges(((gi[at == r], gj[at == r], gs[at == r])
                                      for r in range(len(cuts) + 1)), rows, lead[rows])
        assert np.array_equal(in_ranges[0], canonical_of)
        assert np.array_equal(in_ranges[1], sim, equal_nan=True)
    assert np.array_equal(got_canonical, want_canonical)
    assert np.array_equal(got_sim, want_sim, equal_nan=True)
    # No chaining: every member's canonical is a row that is no member.
    members = got_canonical >= 0
    assert (got_canonical[got_canonical[members]] == -1).all()


def test_chain_members_alternate():
    """0-1-2-3-4 copies of their neighbours only: 1 joins 0, 2 cannot join a member and leads,
    3 joins 2: the earliest canonical, no chaining through 1."""
    i, j = np.arange(4), np.arange(1, 5)
    canonical_of, _ = decide_components(i, j, np.ones(4, np.float32), np.arange(5),
                                        np.ones(5, bool))
    assert canonical_of.tolist() == [-1, 0, -1, 2, -1]
