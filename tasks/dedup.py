"""Find duplicate paragraphs: exact (normalised text) and near (MinHash LSH), verified.

Input rows come in canonical priority order (earliest run, then input order), so a row's index
is its priority. The result names, for each row, the canonical it duplicates, with the verified
similarity. Three rules keep clusters honest:
- every candidate pair from the LSH bands is verified (estimated Jaccard from the full
  signatures >= threshold) before it counts; shared bands alone merge nothing;
- no chaining: a row joins a canonical only if it is itself within the threshold of that
  canonical (not merely of another member);
- the canonical is the earliest row of its cluster, so the same input gives the same clusters.
Paragraphs too short for MinHash (fewer than `min_words` words) are matched exactly only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from tasks.settings import DedupSettings

# Candidates are verified, so a false positive from the bands costs only a comparison while a
# false negative is a missed duplicate: weigh misses heavier when choosing bands and rows.
_FALSE_POSITIVE_WEIGHT = 0.1
_FALSE_NEGATIVE_WEIGHT = 0.9
# A band bucket holding more rows than this is compared against its first rows only, which
# keeps the canonical (the earliest row) in every comparison without quadratic blow-up.
_MAX_BUCKET_PAIRS_FROM = 64


@dataclass
class Duplicates:
    dup_of: np.ndarray  # int64 row of the canonical, -1 when the row is not a duplicate
    similarity: np.ndarray  # float32 verified similarity to the canonical, NaN when not a duplicate
    cluster: np.ndarray  # int64 row of the cluster's canonical for every member (and itself), -1
    candidate_pairs: int  # distinct pairs sharing an LSH band
    verified_pairs: int  # of those, pairs whose signatures agree at >= threshold

    @property
    def n_duplicates(self) -> int:
        return int((self.dup_of >= 0).sum())


@lru_cache(maxsize=16)
def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) minimising the weighted miss and false-candidate probabilities."""
    from datasketch.lsh import _optimal_param

    return _optimal_param(threshold, num_perm, _FALSE_POSITIVE_WEIGHT, _FALSE_NEGATIVE_WEIGHT)


def _band_keys(signatures: np.ndarray, bands: int, rows: int, seed: int) -> np.ndarray:
    """(n x bands) uint64 keys: each band's `rows` values folded by random odd multipliers."""
    rng = np.random.default_rng(seed)
    mult = rng.integers(1, 2**63, size=rows, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    keys = np.zeros((signatures.shape[0], bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for band in range(bands):
            block = signatures[:, band * rows:(band + 1) * rows].astype(np.uint64)
            keys[:, band] = (block * mult[None, :]).sum(axis=1, dtype=np.uint64)
    return keys


def _candidate_pairs(keys: np.ndarray) -> np.ndarray:
    """Distinct (i, j), i < j, of rows sharing a key in some band; (m x 2) int64."""
    found = []
    for band in range(keys.shape[1]):
        col = keys[:, band]
        order = np.argsort(col, kind="stable")
        sorted_keys = col[order]
        boundaries = np.flatnonzero(np.diff(sorted_keys)) + 1
        starts = np.concatenate(([0], boundaries))
        ends = np.concatenate((boundaries, [len(col)]))
        multi = np.flatnonzero(ends - starts >= 2)
        for s, e in zip(starts[multi].tolist(), ends[multi].tolist()):
            members = np.sort(order[s:e])
            for h in range(min(e - s - 1, _MAX_BUCKET_PAIRS_FROM)):
                rest = members[h + 1:]
                found.append(np.column_stack((np.full(len(rest), members[h]), rest)))
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    return np.unique(np.concatenate(found).astype(np.int64), axis=0)


def _similarities(signatures: np.ndarray, pairs: np.ndarray, chunk: int = 65536) -> np.ndarray:
    out = np.empty(len(pairs), dtype=np.float32)
    for lo in range(0, len(pairs), chunk):
        p = pairs[lo:lo + chunk]
        out[lo:lo + chunk] = (signatures[p[:, 0]] == signatures[p[:, 1]]).mean(axis=1)
    return out


def find_duplicates(norm_hash: np.ndarray, signatures: np.ndarray, has_signature: np.ndarray,
                    settings: DedupSettings) -> Duplicates:
    """norm_hash: uint64 per row, 0 = not eligible (boilerplate, no words); signatures:
    (n x num_perm) uint32; has_signature: rows long enough for MinHash."""
    n = len(norm_hash)
    dup_of = np.full(n, -1, dtype=np.int64)
    similarity = np.full(n, np.nan, dtype=np.float32)
    eligible = norm_hash != 0

    # 1. Exact: the first row of each normalised text is its canonical.
    rows = np.flatnonzero(eligible)
    _, first, inverse = np.unique(norm_hash[rows], return_index=True, return_inverse=True)
    head = rows[first][inverse]
    exact = head != rows
    dup_of[rows[exact]] = head[exact]
    similarity[rows[exact]] = 1.0

    # 2. Near: LSH over the heads of exact groups that are long enough, verified.
    reps = rows[~exact]
    reps = reps[has_signature[reps]]
    bands, band_rows = lsh_params(settings.threshold, signatures.shape[1])
    pairs = _candidate_pairs(_band_keys(signatures[reps], bands, band_rows, settings.seed))
    candidate_count = len(pairs)
    verified_count = 0
    if len(pairs):
        pairs = reps[pairs]  # back to row numbers; order preserved since reps is sorted
        sims = _similarities(signatures, pairs)
        ok = sims >= settings.threshold
        pairs, sims = pairs[ok], sims[ok]
        verified_count = len(pairs)
        order = np.lexsort((pairs[:, 1], pairs[:, 0]))
        pairs, sims = pairs[order], sims[order]
        # Greedy in priority order: a row that is already a duplicate cannot be a canonical.
        for (i, j), sim in zip(pairs.tolist(), sims.tolist()):
            if dup_of[i] >= 0 or dup_of[j] >= 0:
                continue
            dup_of[j] = i
            similarity[j] = sim

    # 3. Exact copies follow their head into its near-duplicate cluster.
    moved = exact.copy()
    moved[exact] = dup_of[head[exact]] >= 0
    dup_of[rows[moved]] = dup_of[head[moved]]
    similarity[rows[moved]] = similarity[head[moved]]

    cluster = np.full(n, -1, dtype=np.int64)
    members = np.flatnonzero(dup_of >= 0)
    cluster[members] = dup_of[members]
    cluster[dup_of[members]] = dup_of[members]
    return Duplicates(dup_of, similarity, cluster, candidate_count, verified_count)
