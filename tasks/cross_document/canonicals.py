"""Phases 5 and 6 of the run-wide step: verification of the candidate pairs and the choice of
canonicals, range of members by range of members; then the exact copies follow their heads.

Every pair has its earlier row first, so ranges taken in order see every earlier row decided:
a pair whose earlier row is already a duplicate cannot decide anything (no chaining) and is not
compared. A range holds only its own pairs and the content sets they need, read from staging.
Whether a pair is a copy is the verifier's call (tasks/cross_document/verifier.py); the greedy
choice of canonicals is in tasks/cross_document/duplicates.py.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from tasks.cross_document.candidates import Earlier, ExactCopies
from tasks.cross_document.duplicates import (
    CANONICAL,
    MAX_HEADS,
    MEMBER,
    assign_sorted,
    resolve_assigned,
    sorted_unique,
)
from tasks.cross_document.staged_sets import StagedSets
from tasks.cross_document.verifier import (
    WordRarity,
    are_copies,
    load_verifier,
    pair_features,
    reach_jaccard_floor,
)
from tasks.settings import DedupSettings
from tasks.shard import return_freed_memory


class PairSource(Protocol):
    def pairs(self, a0: int, a1: int) -> np.ndarray:
        """Distinct candidate pairs of representatives whose member j is in [a0, a1), as sorted
        codes j * m + i (i < j) (BandTables)."""


@dataclass
class Canonicals:
    """In the combined numbering (earlier entries first, then this run's rows)."""

    canonical_of: np.ndarray  # the canonical a row joined, -1 for none
    sim_of: np.ndarray  # float32 verifier's score with it, NaN for none
    candidate_pairs: int = 0  # near candidates, and the exact and near pairs with earlier runs
    compared_pairs: int = 0  # of the near candidates, those whose sets were compared
    verified_pairs: int = 0  # exact matches with earlier runs, and compared pairs that passed
    loose_members: int = 0  # near copies of a canonical left out of its cluster (tighten_clusters)


def choose_canonicals(pairs: PairSource, ranges: list[tuple[int, int]], reps: np.ndarray,
                      doc: np.ndarray, earlier: Earlier, sets: StagedSets,
                      rarity: WordRarity, may_lead: np.ndarray, settings: DedupSettings
                      ) -> Canonicals:
    """Range by range of members ([a0, a1) of `reps`, the representatives): candidates less the
    pairs whose earlier row is a duplicate already or may not lead, verified on the content
    sets (`sets`, in representative order), and the greedy choice: earliest canonical first,
    no chaining, earlier runs' paragraphs never members. `doc`: document code per row of this run; `rarity`:
    the run's word rarity (the verifier's evidence); `may_lead`: per row of this run, may be a
    canonical (earlier runs' paragraphs all may)."""
    h, n, m = earlier.h, len(doc), len(reps)
    total = h + n
    index_type = np.int32 if total < 2**31 else np.int64
    reps = reps.astype(index_type)
    status = np.full(total, CANONICAL, dtype=np.int8)
    lead = np.concatenate([np.ones(h, bool), may_lead])
    out = Canonicals(np.full(total, -1, dtype=index_type), np.full(total, np.nan, np.float32))
    rep_member = np.zeros(m, dtype=bool)  # final for the ranges done
    rep_leads = may_lead[reps]
    for number, (a0, a1) in enumerate(ranges):
        # The rows of this run the range decides: from its first member to the next range's.
        row_lo = 0 if number == 0 else int(reps[a0])
        row_hi = n if number == len(ranges) - 1 else int(reps[a1])
        exact, hist = earlier.in_rows(row_lo, row_hi)
        out.candidate_pairs += len(exact) + len(hist)
        # Inside one document only exact copies count: such pairs are not scored at all.
        hist = hist[earlier.docs[hist[:, 0]] != doc[hist[:, 1]]] if len(hist) else hist
        out.compared_pairs += len(hist)
        i_rep, j_rep = _undecided(pairs.pairs(a0, a1), m, rep_member, rep_leads, reps, doc, out)
        near, (hist, hist_s) = verify_range(sets, i_rep, j_rep, reps, doc, hist, earlier,
                                            rarity, settings)
        del i_rep, j_rep
        i = np.concatenate([exact[:, 0], hist[:, 0], near[0] + h]).astype(index_type)
        j = np.concatenate([exact[:, 1] + h, hist[:, 1] + h, near[1] + h]).astype(index_type)
        s = np.concatenate([np.ones(len(exact), np.float32), hist_s, near[2]])
        del near, hist, hist_s
        order = np.lexsort((i, j))
        assign_sorted(i[order], j[order], s[order], status, out.canonical_of, out.sim_of, lead)
        out.verified_pairs += len(i)
        rep_member[a0:a1] = status[reps[a0:a1] + h] == MEMBER
        del i, j, s, order
        return_freed_memory()  # the range's temporaries, before the next range's
    out.loose_members = tighten_clusters(out, h, reps, sets, rarity, settings)
    return out


def tighten_clusters(out: Canonicals, h: int, reps: np.ndarray, sets: StagedSets, rarity: WordRarity, settings: DedupSettings,
                     cap: int = MAX_HEADS) -> int:
    """Make every two near members of a cluster copies of each other, as a reader of
    `dup_cluster` takes them: in row order, a member that the verifier does not pass with an
    earlier member still in the cluster (one of its first `cap`) leaves it and stays a paragraph
    of its own. Members are judged as paragraphs of two documents: both are copies of the
    canonical already, the stricter standard inside a document is for list items and table rows
    that are like nothing else. Members without staged sets are exact copies of their canonical (a short
    paragraph matched exactly with an earlier run): they are like it to every member. Returns
    how many members left. In place on `out`."""
    rows = np.flatnonzero(out.canonical_of[h:] >= 0)
    if len(reps):
        at = np.minimum(np.searchsorted(reps, rows), len(reps) - 1)
        rows = rows[reps[at] == rows]
    else:
        rows = rows[:0]
    canonical = out.canonical_of[rows + h]
    order = np.lexsort((rows, canonical))
    rows, canonical = rows[order], canonical[order]
    earlier, later, position = cluster_pairs(canonical, cap)
    if not len(later):
        return 0
    needed = sorted_unique(rows)  # rows is in cluster order, the sets are read in row order
    mine = sets.gather(np.searchsorted(reps, needed))
    a, b = np.searchsorted(needed, rows[earlier]), np.searchsorted(needed, rows[later])
    features, smaller = pair_features(mine, a, mine, b, rarity)
    ok = are_copies(load_verifier().score(features, smaller), features,
                    np.zeros(len(later), bool), settings)
    left = members_leaving(earlier, later, position, ok, len(rows))
    out.canonical_of[rows[left] + h] = -1
    out.sim_of[rows[left] + h] = np.nan
    return int(left.sum())


def cluster_pairs(canonical: np.ndarray, cap: int = MAX_HEADS
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For members sorted by (canonical, row): the pairs `tighten_clusters` judges, each
    member with the first `cap` members of its cluster before it, as positions in that order
    (earlier, later), and each member's position in its cluster."""
    if len(canonical) < 2:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(len(canonical), np.int64)
    starts = np.flatnonzero(np.concatenate(([True], canonical[1:] != canonical[:-1])))
    start_of = np.repeat(starts, np.diff(np.append(starts, len(canonical))))
    position = np.arange(len(canonical)) - start_of
    partners = np.minimum(position, cap)
    later = np.repeat(np.arange(len(canonical)), partners)
    earlier = np.repeat(start_of, partners) + (
        np.arange(len(later)) - np.repeat(np.cumsum(partners) - partners, partners))
    return earlier, later, position


def members_leaving(earlier: np.ndarray, later: np.ndarray, position: np.ndarray,
                    ok: np.ndarray, members: int) -> np.ndarray:
    """Which members leave their cluster: in position order, a member leaves when the verifier
    did not pass it (`ok`) with an earlier member that stays."""
    left = np.zeros(members, bool)
    if not len(later):
        return left
    by_position = np.argsort(position[later], kind="stable")
    bounds = np.searchsorted(position[later][by_position], np.arange(1, position.max() + 2))
    for lo, hi in itertools.pairwise(bounds):  # the members at one position decide together
        pairs = by_position[lo:hi]
        failed = pairs[~ok[pairs] & ~left[earlier[pairs]]]
        left[later[failed]] = True
    return left


def _undecided(codes: np.ndarray, m: int, rep_member: np.ndarray, rep_leads: np.ndarray,
               reps: np.ndarray, doc: np.ndarray, out: Canonicals
               ) -> tuple[np.ndarray, np.ndarray]:
    """The candidate pairs (codes j * m + i) as representatives (i, j) that can decide
    something: not those whose i is a duplicate already (on near-copy-dense data that is most
    pairs) or may not lead (the content model tagged it), nor those inside one document (only
    exact copies count there)."""
    # (m < 2**31, checked by the band tables: the halves fit int32)
    j_rep = (codes // max(m, 1)).astype(np.int32)
    i_rep = (codes % max(m, 1)).astype(np.int32)
    out.candidate_pairs += len(codes)
    del codes
    live = ~rep_member[i_rep] & rep_leads[i_rep]
    i_rep, j_rep = i_rep[live], j_rep[live]
    other_doc = doc[reps[i_rep]] != doc[reps[j_rep]]
    out.compared_pairs += int(other_doc.sum())
    return i_rep[other_doc], j_rep[other_doc]


def verify_range(sets: StagedSets, i_rep: np.ndarray, j_rep: np.ndarray, reps: np.ndarray,
                 doc: np.ndarray, hist: np.ndarray, earlier: Earlier, rarity: WordRarity,
                 settings: DedupSettings
                 ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray],
                            tuple[np.ndarray, np.ndarray]]:
    """Which candidate pairs of a range are copies: pairs (i_rep, j_rep) of representatives,
    and pairs `hist` (earlier slot, row of this run) with earlier runs' paragraphs. The sets
    the range needs are read from `sets` once. Returns the verified pairs of this run as
    (rows i, rows j, score), and the verified `hist` with their score."""
    verifier = load_verifier()
    hist_rep = np.searchsorted(reps, hist[:, 1])
    needed = sorted_unique(np.concatenate([i_rep, j_rep, hist_rep]))
    mine = sets.gather(needed)
    a, b = np.searchsorted(needed, i_rep), np.searchsorted(needed, j_rep)
    worth = reach_jaccard_floor(mine, a, mine, b, settings)
    i_rep, j_rep, a, b = i_rep[worth], j_rep[worth], a[worth], b[worth]
    features, smaller = pair_features(mine, a, mine, b, rarity)
    scores = verifier.score(features, smaller)
    ok = are_copies(scores, features, doc[reps[i_rep]] == doc[reps[j_rep]], settings)
    near = (reps[i_rep[ok]], reps[j_rep[ok]], scores[ok])
    del features, scores, ok
    if not len(hist):
        return near, (hist, np.zeros(0, np.float32))
    b = np.searchsorted(needed, hist_rep)
    worth = reach_jaccard_floor(earlier.sets, hist[:, 0], mine, b, settings)
    hist, b = hist[worth], b[worth]
    features, smaller = pair_features(earlier.sets, hist[:, 0], mine, b, rarity, a_in_run=False)
    scores = verifier.score(features, smaller)
    ok = are_copies(scores, features, earlier.docs[hist[:, 0]] == doc[hist[:, 1]], settings)
    return near, (hist[ok], scores[ok])


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
