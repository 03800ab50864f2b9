"""A reference implementation of the duplicate step, all in memory, for tests only.

The product runs the same rules band by band and range by range (tasks/cross_document/); this
module composes the product's own pieces (exact groups, verification, the greedy assignment,
resolution) in the simplest way, so that tests can compare the streamed product with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tasks.cross_document.canonicals import Canonicals, tighten_clusters
from tasks.cross_document.duplicates import (
    CANONICAL,
    MAX_HEADS,
    ContentSets,
    assign_sorted,
    decode_pairs,
    exact_groups,
    pairs_in_groups,
    resolve_assigned,
    sorted_unique,
    take_rows,
)
from tasks.cross_document.setops import jaccard_between
from tasks.cross_document.verifier import WordRarity, are_copies, load_verifier, pair_features
from tasks.settings import DedupSettings


@dataclass
class DedupInput:
    norm_hash: np.ndarray  # uint64 per row; 0 = not eligible (boilerplate, no words)
    band_keys: np.ndarray  # (n x bands) uint64 LSH keys of the rows' MinHash signatures
    has_keys: np.ndarray  # bool: enough content words for MinHash
    sets: ContentSets  # the verifier's sets of every row
    doc: np.ndarray  # int64 document code per row (same code = same document)
    fixed: np.ndarray | None = None  # bool: rows from earlier runs, never members


@dataclass
class Duplicates:
    dup_of: np.ndarray  # int64 row of the canonical, -1 when the row is not a duplicate
    similarity: np.ndarray  # float32 verifier's score with the canonical, NaN otherwise
    cluster: np.ndarray  # int64 row of the cluster's canonical for every member (and itself)
    candidate_pairs: int  # distinct pairs sharing an LSH band
    verified_pairs: int  # of those, pairs that passed verification

    @property
    def n_duplicates(self) -> int:
        return int((self.dup_of >= 0).sum())


def candidate_pairs(keys: np.ndarray, max_heads: int = MAX_HEADS) -> np.ndarray:
    """Distinct (i, j), i < j, of rows that share a key in some band: (m x 2) int64."""
    n = keys.shape[0]
    rows = np.arange(n, dtype=np.int64)
    found = []
    for band in range(keys.shape[1]):
        # Sorted by (key, row): equal keys grouped, rows ascending inside a group.
        order = np.lexsort((rows, keys[:, band]))
        found.append(pairs_in_groups(keys[order, band], rows[order], n, max_heads))
    return decode_pairs(sorted_unique(np.concatenate(found)) if found else np.zeros(0, np.int64),
                        n)


def exact_jaccard(sets: ContentSets, pairs: np.ndarray) -> np.ndarray:
    """Jaccard of the content sets of each pair."""
    content = sets.csr["content"]
    return jaccard_between(content, pairs[:, 0], content, pairs[:, 1])


def assign_canonicals(pairs: np.ndarray, sims: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """For verified pairs (i, j), i < j: each row j joins the earliest i it is paired with that
    is not itself a member; a row that no canonical takes is a canonical."""
    canonical_of = np.full(n, -1, dtype=np.int64)
    sim_of = np.full(n, np.nan, dtype=np.float32)
    status = np.full(n, CANONICAL, dtype=np.int8)
    order = np.lexsort((pairs[:, 0], pairs[:, 1]))  # grouped by member, candidates rising
    assign_sorted(pairs[order, 0], pairs[order, 1], sims[order], status, canonical_of, sim_of)
    return canonical_of, sim_of


def find_duplicates(inp: DedupInput, settings: DedupSettings,
                    candidates: Callable[[np.ndarray], np.ndarray] | None = None) -> Duplicates:
    """All in memory, for tests (the product streams the same steps band by band and range by
    range: tasks/cross_document/candidates.py and canonicals.py). `candidates`, when given,
    finds the candidate pairs among the rows it is passed (the representatives) in place of
    `candidate_pairs`."""
    n = len(inp.norm_hash)
    fixed = inp.fixed if inp.fixed is not None else np.zeros(n, dtype=bool)
    rows, head = exact_groups(inp.norm_hash)
    reps = rows[(head == rows) & inp.has_keys[rows]]
    found = candidates(reps) if candidates is not None else candidate_pairs(inp.band_keys[reps])
    pairs = reps[found]  # reps is sorted: pairs stay (earlier, later)
    n_candidates = len(pairs)
    pairs = pairs[~fixed[pairs[:, 1]]]  # an earlier run's row is never a member
    content, _ = take_rows(*inp.sets.csr["content"], reps)
    rarity = WordRarity.of(content, len(reps))  # over the run's representatives, as the step
    features, smaller = pair_features(inp.sets, pairs[:, 0], inp.sets, pairs[:, 1], rarity)
    scores = load_verifier().score(features, smaller)
    ok = are_copies(scores, features, inp.doc[pairs[:, 0]] == inp.doc[pairs[:, 1]], settings)
    canonical_of, sim_of = assign_canonicals(pairs[ok], scores[ok], n)
    tighten_clusters(Canonicals(canonical_of, sim_of), 0, reps, inp.sets.gather(reps), rarity,
                     settings)
    dup_of, similarity, cluster = resolve_assigned(rows, head, fixed, canonical_of, sim_of)
    return Duplicates(dup_of, similarity, cluster, n_candidates, int(ok.sum()))


def assign_in_rounds(i: np.ndarray, j: np.ndarray, s: np.ndarray, status: np.ndarray,
                     canonical_of: np.ndarray, sim_of: np.ndarray,
                     may_lead: np.ndarray | None = None) -> None:
    """The greedy rule of `assign_sorted` in rounds of array operations (the product's before
    it was compiled): a row is decided once all its partners are. The reference it is tested
    against."""
    from tasks.cross_document.duplicates import MEMBER, UNDECIDED

    if not len(i):
        return
    status[j] = UNDECIDED
    usable_mark = np.zeros(len(status), dtype=bool)
    active = np.ones(len(i), dtype=bool)
    while active.any():
        ai, aj, a_sim = i[active], j[active], s[active]
        usable = status[ai] != MEMBER
        if may_lead is not None:
            usable &= may_lead[ai]
        ui, uj, u_sim = ai[usable], aj[usable], a_sim[usable]
        first = np.concatenate(([True], uj[1:] != uj[:-1])) if len(uj) else np.zeros(0, bool)
        fi, fj, f_sim = ui[first], uj[first], u_sim[first]
        take = status[fi] == CANONICAL
        canonical_of[fj[take]] = fi[take]
        sim_of[fj[take]] = f_sim[take]
        status[fj[take]] = MEMBER
        usable_mark[uj] = True
        alone = aj[~usable_mark[aj]]
        status[alone] = CANONICAL
        usable_mark[uj] = False
        active = status[j] == UNDECIDED
