"""Connected components of the verified-pair graph, and the canonical rule run per component.

A row's decision (canonical, or member of which canonical) depends only on its verified
partners that come before it, their decisions on theirs, and so on: everything it depends on is
in its connected component of the graph of verified pairs. So the greedy rule of
`assign_sorted` (tasks/cross_document/duplicates.py) run inside each component gives exactly the
answer of the rule run on the whole graph, and components can be decided apart, on different
workers. The graph must be that of VERIFIED pairs: the
candidate graph percolates (shared templates, common words) into one giant component.

Components are labelled by their smallest row: deterministic, whatever the order of the pairs.
"""

from __future__ import annotations

import numpy as np

from tasks.cross_document.duplicates import CANONICAL, assign_sorted


def component_labels(i: np.ndarray, j: np.ndarray, rows: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(nodes, label): the distinct rows of the pairs (i, j) (sorted; with `rows`, those too)
    and for each the smallest row of its connected component. Hook and shortcut in rounds of
    array operations: each round joins every root to the smallest root it has an edge to, then
    jumps pointers to the roots, so the number of roots at least halves per round and a chain
    of any length needs O(log n) rounds."""
    parts = [np.asarray(i, np.int64), np.asarray(j, np.int64)]
    if rows is not None:
        parts.append(np.asarray(rows, np.int64))
    nodes = np.unique(np.concatenate(parts))
    u = np.searchsorted(nodes, parts[0])
    v = np.searchsorted(nodes, parts[1])
    parent = np.arange(len(nodes), dtype=np.int64)
    while len(u):
        pu, pv = parent[u], parent[v]
        joined = pu != pv
        if not joined.any():
            break
        u, v, pu, pv = u[joined], v[joined], pu[joined], pv[joined]
        np.minimum.at(parent, np.maximum(pu, pv), np.minimum(pu, pv))
        _jump_to_roots(parent)
    return nodes, nodes[parent]


def _jump_to_roots(parent: np.ndarray) -> None:
    while True:
        grand = parent[parent]
        if np.array_equal(grand, parent):
            return
        parent[:] = grand


def decide_components(i: np.ndarray, j: np.ndarray, s: np.ndarray, nodes: np.ndarray,
                      lead: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The greedy rule (`assign_sorted`) on the verified pairs (i, j, score), i < j, of whole
    components (every verified pair touching their rows is among them; several components at
    once decide as each alone, as they share no row). `nodes`: their distinct rows, sorted;
    `lead`: per node, may be a canonical. Returns per node the canonical it joined (a row
    number, -1 for none) and the score with it (NaN for none). Rows of earlier runs only ever
    come first in a pair, so they are never members."""
    return decide_in_ranges([(i, j, s)], nodes, lead)


def decide_in_ranges(pieces, nodes: np.ndarray, lead: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """`decide_components` on pairs that come as pieces (i, j, score) in ranges of their later
    row: every j of a piece before every j of the next, the pairs inside a piece in any order.
    Only one piece and a few bytes per node are held at a time, so a component with more
    pairs than memory is decided range by range."""
    status = np.full(len(nodes), CANONICAL, dtype=np.int8)
    canonical_of = np.full(len(nodes), -1, dtype=np.int64)
    similarity = np.full(len(nodes), np.nan, dtype=np.float32)
    lead = np.asarray(lead, bool)
    for i, j, s in pieces:
        li = np.searchsorted(nodes, i)
        lj = np.searchsorted(nodes, j)
        order = np.lexsort((li, lj))
        assign_sorted(li[order], lj[order], np.asarray(s, np.float32)[order], status,
                      canonical_of, similarity, lead)
    joined = canonical_of >= 0
    canonical_of[joined] = nodes[canonical_of[joined]]
    return canonical_of, similarity
