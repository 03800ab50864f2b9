"""Phases 5 and 6 of the run-wide step: verification of the candidate pairs and the choice of
canonicals, range of members by range of members; then the exact copies follow their heads.

Every pair has its earlier row first, so ranges taken in order see every earlier row decided:
a pair whose earlier row is already a duplicate cannot decide anything (no chaining) and is not
compared. A range holds only its own pairs and the content sets they need, read from staging.
The rules themselves (thresholds, quotations, same document, the greedy choice) are in
tasks/cross_document/duplicates.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from tasks.cross_document.candidates import Earlier, ExactCopies
from tasks.cross_document.duplicates import (
    CANONICAL,
    MEMBER,
    assign_sorted,
    resolve_assigned,
    similarities_between,
    sorted_unique,
    verified,
)
from tasks.cross_document.staged_sets import StagedSets
from tasks.settings import DedupSettings
from tasks.shard import return_freed_memory


class PairSource(Protocol):
    def pairs(self, a0: int, a1: int) -> np.ndarray:
        """Distinct candidate pairs of representatives whose member j is in [a0, a1), as sorted
        codes j * m + i (i < j): BandTables, or the pairs found on Dask."""


@dataclass
class Canonicals:
    """In the combined numbering (earlier entries first, then this run's rows)."""

    canonical_of: np.ndarray  # the canonical a row joined, -1 for none
    sim_of: np.ndarray  # float32 verified similarity to it, NaN for none
    candidate_pairs: int = 0  # near candidates, and the exact and near pairs with earlier runs
    compared_pairs: int = 0  # of the near candidates, those whose sets were compared
    verified_pairs: int = 0  # exact matches with earlier runs, and compared pairs that passed


def choose_canonicals(pairs: PairSource, ranges: list[tuple[int, int]], reps: np.ndarray,
                      doc: np.ndarray, earlier: Earlier, sets: StagedSets,
                      settings: DedupSettings) -> Canonicals:
    """Range by range of members ([a0, a1) of `reps`, the representatives): candidates less the
    pairs whose earlier row is a duplicate already, verified on the content sets (`sets`, in
    representative order), and the greedy choice: earliest canonical first, no chaining,
    earlier runs' paragraphs never members. `doc`: document code per row of this run."""
    h, n, m = earlier.h, len(doc), len(reps)
    total = h + n
    index_type = np.int32 if total < 2**31 else np.int64
    reps = reps.astype(index_type)
    status = np.full(total, CANONICAL, dtype=np.int8)
    out = Canonicals(np.full(total, -1, dtype=index_type), np.full(total, np.nan, np.float32))
    rep_member = np.zeros(m, dtype=bool)  # final for the ranges done
    for number, (a0, a1) in enumerate(ranges):
        # The rows of this run the range decides: from its first member to the next range's.
        row_lo = 0 if number == 0 else int(reps[a0])
        row_hi = n if number == len(ranges) - 1 else int(reps[a1])
        exact, hist = earlier.in_rows(row_lo, row_hi)
        out.candidate_pairs += len(exact) + len(hist)
        out.compared_pairs += len(hist)
        i_rep, j_rep = _undecided(pairs.pairs(a0, a1), m, rep_member, out)
        near, (hist, hist_s) = verify_range(sets, i_rep, j_rep, reps, doc, hist, earlier,
                                            settings)
        del i_rep, j_rep
        i = np.concatenate([exact[:, 0], hist[:, 0], near[0] + h]).astype(index_type)
        j = np.concatenate([exact[:, 1] + h, hist[:, 1] + h, near[1] + h]).astype(index_type)
        s = np.concatenate([np.ones(len(exact), np.float32), hist_s, near[2]])
        del near, hist, hist_s
        order = np.lexsort((i, j))
        assign_sorted(i[order], j[order], s[order], status, out.canonical_of, out.sim_of)
        out.verified_pairs += len(i)
        rep_member[a0:a1] = status[reps[a0:a1] + h] == MEMBER
        del i, j, s, order
        return_freed_memory()  # the range's temporaries, before the next range's
    return out


def _undecided(codes: np.ndarray, m: int, rep_member: np.ndarray, out: Canonicals
               ) -> tuple[np.ndarray, np.ndarray]:
    """The candidate pairs (codes j * m + i) as representatives (i, j), less those whose i is
    a duplicate already: on near-copy-dense data that is most pairs."""
    # (m < 2**31, checked by the band tables: the halves fit int32)
    j_rep = (codes // max(m, 1)).astype(np.int32)
    i_rep = (codes % max(m, 1)).astype(np.int32)
    out.candidate_pairs += len(codes)
    del codes
    live = ~rep_member[i_rep]
    out.compared_pairs += int(live.sum())
    return i_rep[live], j_rep[live]


def verify_range(sets: StagedSets, i_rep: np.ndarray, j_rep: np.ndarray, reps: np.ndarray,
                 doc: np.ndarray, hist: np.ndarray, earlier: Earlier, settings: DedupSettings
                 ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray],
                            tuple[np.ndarray, np.ndarray]]:
    """Which candidate pairs of a range are copies: pairs (i_rep, j_rep) of representatives,
    and pairs `hist` (earlier slot, row of this run) with earlier runs' paragraphs. The content
    sets the range needs are read from `sets` once. Returns the verified pairs of this run as
    (rows i, rows j, similarity), and the verified `hist` with their similarity."""
    hist_rep = np.searchsorted(reps, hist[:, 1])
    needed = sorted_unique(np.concatenate([i_rep, j_rep, hist_rep]))
    mine = sets.gather(needed)
    sims, own_sims = similarities_between(mine, np.searchsorted(needed, i_rep),
                                          mine, np.searchsorted(needed, j_rep))
    ok = verified(sims, own_sims, doc[reps[i_rep]] == doc[reps[j_rep]], settings)
    near = (reps[i_rep[ok]], reps[j_rep[ok]], sims[ok])
    del sims, own_sims, ok
    if not len(hist):
        return near, (hist, np.zeros(0, np.float32))
    sims, own_sims = similarities_between(earlier.sets, hist[:, 0],
                                          mine, np.searchsorted(needed, hist_rep))
    ok = verified(sims, own_sims, earlier.docs[hist[:, 0]] == doc[hist[:, 1]], settings)
    return near, (hist[ok], sims[ok])


@dataclass
class Duplicates:
    """Per row of this run; targets in the combined numbering (earlier entries first)."""

    dup_of: np.ndarray  # the canonical, -1 for none
    similarity: np.ndarray  # float32, NaN for none
    cluster: np.ndarray  # the cluster's canonical, for its members and itself; -1 for none


def resolve_copies(exact: ExactCopies, canonicals: Canonicals, h: int) -> Duplicates:
    """The other copies of each exact group join their head, and its cluster when the head is
    a near duplicate (earlier runs' rows are never members). Works in place on `canonicals`."""
    total = len(canonicals.canonical_of)
    index_type = canonicals.canonical_of.dtype
    dup_of, similarity, cluster = resolve_assigned(exact.copy_rows.astype(index_type) + h,
                                                   exact.copy_heads.astype(index_type) + h,
                                                   np.zeros(total, dtype=bool),
                                                   canonicals.canonical_of, canonicals.sim_of)
    return Duplicates(dup_of[h:], similarity[h:], cluster[h:])
