"""Find duplicate paragraphs: exact (normalised text) and near (MinHash LSH, verified).

Rows come in canonical priority order (earlier runs first, then input order), so a row's index
is its priority. For each row the result names the canonical it duplicates and the verifier's
score. The rules that keep clusters honest:
- candidates come from LSH bands over the content-word MinHash signatures, grouped by sorting
  band keys (no Python object per row); every candidate pair is VERIFIED before it counts
  (tasks/cross_document/verifier.py: rarity over the run, word order, length, the writer's own
  words outside quotations, numbers; inside one document, containment), so shared bands alone
  merge nothing and shared templates do not merge whole sites;
- no chaining: a row joins a canonical only if the verifier passes it with that canonical, and
  a row that is already a member cannot be a canonical;
- every two near members of a cluster are copies of each other too (canonicals.py,
  `tighten_clusters`);
- the canonical is the earliest row that may lead (the content model's boilerplate tags do
  not), so the same input gives the same clusters; rows from earlier runs (`fixed`) can be
  canonicals but never members.
Paragraphs with fewer than `min_words` content words are matched exactly only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tasks.cross_document import _assign, _setops

# A band bucket with more rows than this pairs each row with its first rows only: the canonical
# (the earliest row) is always among them, and a bucket of common words cannot blow up.
MAX_HEADS = 32


def pairs_in_groups(key: np.ndarray, row: np.ndarray, n: int,
                    max_heads: int = MAX_HEADS) -> np.ndarray:
    """For rows sorted by (key, row): the pairs (earlier, later) inside each group of equal keys,
    each row paired with at most the first `max_heads` rows of its group, as i * n + j."""
    m = len(key)
    if m == 0:
        return np.zeros(0, dtype=np.int64)
    new_group = np.empty(m, dtype=bool)
    new_group[0] = True
    new_group[1:] = key[1:] != key[:-1]
    group_start = np.flatnonzero(new_group)
    start_of = np.repeat(group_start, np.diff(np.append(group_start, m)))
    heads = np.minimum(np.arange(m) - start_of, max_heads)  # the rows before it, capped
    total = int(heads.sum())
    member = np.repeat(row, heads)
    head_pos = np.repeat(start_of, heads) + (
        np.arange(total) - np.repeat(np.cumsum(heads) - heads, heads))
    return row[head_pos] * n + member


def decode_pairs(codes: np.ndarray, n: int) -> np.ndarray:
    return np.stack([codes // n, codes % n], axis=1) if len(codes) else \
        np.empty((0, 2), dtype=np.int64)


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique by sorting (numpy 2's hash-based unique is several times slower here)."""
    values = np.sort(values)
    if len(values):
        values = values[np.concatenate(([True], values[1:] != values[:-1]))]
    return values


def merge_sorted_unique(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The sorted distinct values of two sorted, distinct int64 arrays: one merge, in C
    (tasks/cross_document/_setops.c)."""
    if not len(a) or not len(b):
        return b if not len(a) else a
    if a.dtype != np.int64 or b.dtype != np.int64:
        raise TypeError(f"merge_sorted_unique takes int64 arrays, not {a.dtype} and {b.dtype}")
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    out = np.empty(len(a) + len(b), dtype=np.int64)
    return out[:_setops.union(a, b, out)]


def sort_by_key(keys: np.ndarray, rows: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """(keys sorted, `rows` in that order: np.arange by default) for uint64 `keys`, fewer than
    2**32, equal keys kept in their order (a stable sort, so (key, row) order where rows rise
    among equal keys). One sort of 64-bit words: the key's high 32 bits << 32 | position
    (several times faster than a stable argsort), then the rare runs where two different keys
    share their high bits are put in order by a sort of their own."""
    keys = np.asarray(keys, dtype=np.uint64)
    m = len(keys)
    if m >= 2**32:
        raise ValueError(f"{m:,} keys in one sort: at most 2**32 - 1")
    packed = keys >> np.uint64(32)
    packed <<= np.uint64(32)
    step = 1 << 16  # (a whole-length arange would double the peak)
    for lo in range(0, m, step):
        packed[lo:lo + step] |= np.arange(lo, min(lo + step, m), dtype=np.uint64)
    packed.sort()
    position = (packed & np.uint64(0xFFFFFFFF)).astype(np.int64)
    high = packed >> np.uint64(32)
    del packed
    sorted_keys = keys[position]
    clash = (high[1:] == high[:-1]) & (sorted_keys[1:] != sorted_keys[:-1])
    if clash.any():
        run = np.zeros(m, dtype=np.int64)
        np.cumsum(high[1:] != high[:-1], out=run[1:])
        mixed = np.zeros(int(run[-1]) + 1, dtype=bool)
        mixed[run[1:][clash]] = True
        at = np.flatnonzero(mixed[run])  # every row of those runs
        order = np.lexsort((position[at], sorted_keys[at], run[at]))
        position[at], sorted_keys[at] = position[at][order], sorted_keys[at][order]
    return sorted_keys, position if rows is None else np.asarray(rows)[position]


# The sets the verifier compares, by name, and the staged column each comes from.
SET_COLUMNS = {"content": "content", "own": "own_content", "skips": "skip_pairs",
               "numbers": "numbers"}


@dataclass
class ContentSets:
    """Per row, the sets the verifier compares (tasks/shard/normalize.py), each as CSR: `csr[name]`
    is (values: the sorted distinct uint32 hashes of every row, offsets: int64, rows + 1), for
    the names of SET_COLUMNS: content words, own words (outside quotations; the content where a
    row quotes nothing), skip pairs, numbers. `quoted`: the row quotes something."""

    csr: dict[str, tuple[np.ndarray, np.ndarray]]
    quoted: np.ndarray

    def __len__(self) -> int:
        return len(self.quoted)

    def sizes(self, name: str) -> np.ndarray:
        return np.diff(self.csr[name][1])

    def gather(self, rows: np.ndarray) -> ContentSets:
        """The sets of `rows`, compact and in that order (as StagedSets.gather)."""
        return ContentSets({name: take_rows(values, offsets, rows)
                            for name, (values, offsets) in self.csr.items()}, self.quoted[rows])


def take_rows(values: np.ndarray, offsets: np.ndarray, rows: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """The CSR rows `rows` of (values, offsets), as a compact CSR in that order."""
    lengths = np.diff(offsets)[rows]
    new_offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    starts = np.repeat(offsets[rows] - new_offsets[:-1], lengths)
    return values[starts + np.arange(int(new_offsets[-1]))], new_offsets


UNDECIDED, CANONICAL, MEMBER = 0, 1, 2


def assign_sorted(i: np.ndarray, j: np.ndarray, s: np.ndarray, status: np.ndarray,
                  canonical_of: np.ndarray, sim_of: np.ndarray,
                  may_lead: np.ndarray | None = None) -> None:
    """The greedy pass over verified pairs (i, j), i < j, sorted by (j, i), in place: `status`
    of every row before the smallest j must be decided (CANONICAL or MEMBER), so the pairs can
    come range of members by range of members, in order (tasks/cross_document/canonicals.py).
    Each j joins its first partner that is no member and may lead (`may_lead`), else leads.
    A compiled loop (_assign.c): every row before j is decided when j comes."""
    if not len(i):
        return
    if status.dtype != np.int8 or sim_of.dtype != np.float32 or \
            canonical_of.dtype not in (np.int32, np.int64):
        raise TypeError("status int8, sim_of float32, canonical_of int32 or int64")
    for array in (status, canonical_of, sim_of):
        if not array.flags.c_contiguous or not array.flags.writeable:
            raise ValueError("status, canonical_of and sim_of must be contiguous and writeable")
    i = np.ascontiguousarray(i, dtype=np.int64)
    j = np.ascontiguousarray(j, dtype=np.int64)
    if min(int(i.min()), int(j.min())) < 0 or max(int(i.max()), int(j.max())) >= len(status) \
            or len(status) != len(canonical_of) or len(status) != len(sim_of):
        raise ValueError("pair rows out of range of status, canonical_of, sim_of")
    lead = np.zeros(0, np.uint8) if may_lead is None else \
        np.ascontiguousarray(may_lead, dtype=bool).view(np.uint8)
    if len(lead) and len(lead) < len(status):
        raise ValueError("may_lead shorter than status")
    _assign.greedy(i, j, np.ascontiguousarray(s, dtype=np.float32), status, canonical_of,
                   sim_of, lead, canonical_of.dtype.itemsize)


def exact_groups(norm_hash: np.ndarray, may_lead: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Eligible rows (norm_hash != 0) and, for each, its exact canonical: the first row with
    the same normalised text that `may_lead` (the first row when none may)."""
    rows = np.flatnonzero(norm_hash != 0)
    if not len(rows):
        return rows, rows
    lead = np.ones(len(rows), bool) if may_lead is None else may_lead[rows]
    order = np.lexsort((rows, ~lead, norm_hash[rows]))
    hashes = norm_hash[rows[order]]
    starts = np.flatnonzero(np.concatenate(([True], hashes[1:] != hashes[:-1])))
    head = np.empty(len(rows), dtype=rows.dtype)
    head[order] = np.repeat(rows[order][starts], np.diff(np.append(starts, len(rows))))
    return rows, head


def resolve_assigned(rows: np.ndarray, head: np.ndarray, fixed: np.ndarray,
                     canonical_of: np.ndarray, sim_of: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact groups joined with the canonicals chosen among near pairs: (dup_of, similarity,
    cluster) per row. `canonical_of` and `sim_of` become dup_of and similarity (in place):
    the rows they name are exact-group heads, never the other copies set here."""
    dup_of, similarity = canonical_of, sim_of
    exact = (head != rows) & ~fixed[rows]
    dup_of[rows[exact]] = head[exact]
    similarity[rows[exact]] = 1.0
    # Exact copies follow their head into its near-duplicate cluster.
    moved = exact.copy()
    moved[exact] = dup_of[head[exact]] >= 0
    dup_of[rows[moved]] = dup_of[head[moved]]
    similarity[rows[moved]] = similarity[head[moved]]
    cluster = np.full(len(dup_of), -1, dtype=dup_of.dtype)
    members = np.flatnonzero(dup_of >= 0)
    cluster[members] = dup_of[members]
    cluster[dup_of[members]] = dup_of[members]
    return dup_of, similarity, cluster


