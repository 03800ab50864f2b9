"""Find duplicate paragraphs: exact (normalised text) and near (MinHash LSH, verified).

Rows come in canonical priority order (earlier runs first, then input order), so a row's index
is its priority. For each row the result names the canonical it duplicates and the verified
similarity. The rules that keep clusters honest:
- candidates come from LSH bands over the content-word MinHash signatures, grouped by sorting
  band keys (no Python object per row); every candidate pair is VERIFIED before it counts, by
  the exact Jaccard of the two content-word sets (shared bands alone merge nothing, so shared
  templates do not merge whole sites);
- words inside quotation marks count for the overall similarity but not as the writer's own:
  the words outside quotations must be alike too, since independent articles quote the same
  statement in paragraphs that are not copies of each other;
- two paragraphs of the same document must be near copies (`same_document_threshold`): in one
  document, list items, table rows and rubric levels look alike without being copies; spinning
  and syndication happen between documents;
- no chaining: a row joins a canonical only if it is itself within the threshold of that
  canonical, and a row that is already a member cannot be a canonical;
- the canonical is the earliest row, so the same input gives the same clusters; rows from
  earlier runs (`fixed`) can be canonicals but never members.
Paragraphs with fewer than `min_words` content words are matched exactly only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tasks.settings import DedupSettings

# A band bucket with more rows than this pairs each row with its first rows only: the canonical
# (the earliest row) is always among them, and a bucket of common words cannot blow up.
MAX_HEADS = 32
_PAIR_CHUNK = 200_000


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
    """The sorted distinct values of two sorted, distinct arrays, in time linear in `a` when
    `b` is small: only b's values not in `a` are added, and numpy's stable sort (a timsort for
    64-bit integers) merges two sorted runs in one pass."""
    if not len(a) or not len(b):
        return b if not len(a) else a
    at = np.minimum(np.searchsorted(a, b), len(a) - 1)
    b = b[a[at] != b]
    if not len(b):
        return a
    out = np.concatenate([a, b])
    out.sort(kind="stable")
    return out


@dataclass
class ContentSets:
    """Content-word sets of some rows, as CSR: all words and the words outside quotations."""

    content: np.ndarray  # sorted distinct content-word hashes (uint32) per row
    offsets: np.ndarray  # int64, rows + 1
    own: np.ndarray  # the same for the words outside quotations (= content when none)
    own_offsets: np.ndarray
    quoted: np.ndarray  # bool: the row quotes something (own differs from content)


def take_rows(values: np.ndarray, offsets: np.ndarray, rows: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """The CSR rows `rows` of (values, offsets), as a compact CSR in that order."""
    lengths = np.diff(offsets)[rows]
    new_offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    starts = np.repeat(offsets[rows] - new_offsets[:-1], lengths)
    return values[starts + np.arange(int(new_offsets[-1]))], new_offsets


def jaccard_between(a_values: np.ndarray, a_offsets: np.ndarray, a_rows: np.ndarray,
                    b_values: np.ndarray, b_offsets: np.ndarray, b_rows: np.ndarray) -> np.ndarray:
    """Jaccard of set a_rows[k] of CSR a and set b_rows[k] of CSR b, in bulk. Each set is
    sorted, so the elements of the second sets tagged with their pair number form one sorted
    array; the first sets' elements, tagged the same way, are looked up in it by binary
    search."""
    out = np.empty(len(a_rows), dtype=np.float32)
    a_sizes, b_sizes = np.diff(a_offsets), np.diff(b_offsets)
    for lo in range(0, len(a_rows), _PAIR_CHUNK):
        ra, rb = a_rows[lo:lo + _PAIR_CHUNK], b_rows[lo:lo + _PAIR_CHUNK]
        a = _tagged_elements(a_values, a_offsets, a_sizes, ra)
        b = _tagged_elements(b_values, b_offsets, b_sizes, rb)
        at = np.minimum(np.searchsorted(b, a), max(len(b) - 1, 0))
        hit = b[at] == a if len(b) else np.zeros(len(a), dtype=bool)
        inter = np.bincount((a[hit] >> np.uint64(32)).astype(np.int64), minlength=len(ra))
        union = a_sizes[ra] + b_sizes[rb] - inter
        out[lo:lo + len(ra)] = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    return out


def _tagged_elements(values, offsets, sizes, rows) -> np.ndarray:
    lengths = sizes[rows]
    starts = np.repeat(offsets[rows] - (np.cumsum(lengths) - lengths), lengths)
    elements = values[starts + np.arange(int(lengths.sum()))]
    tags = np.repeat(np.arange(len(rows), dtype=np.uint64), lengths)
    return (tags << np.uint64(32)) | elements.astype(np.uint64)


UNDECIDED, CANONICAL, MEMBER = 0, 1, 2


def assign_sorted(i: np.ndarray, j: np.ndarray, s: np.ndarray, status: np.ndarray,
                  canonical_of: np.ndarray, sim_of: np.ndarray) -> None:
    """The greedy pass over verified pairs (i, j), i < j, sorted by (j, i), in place: `status`
    of every row before the smallest j must be decided (CANONICAL or MEMBER), so the pairs can
    come range of members by range of members, in order (tasks/cross_document/canonicals.py).

    Computed in rounds of array operations: a row is decided once all its partners are, and the
    earliest undecided row always is (its partners all come before it), so every round makes
    progress; in practice a few rounds decide everything."""
    if not len(i):
        return
    status[j] = UNDECIDED
    usable_mark = np.zeros(len(status), dtype=bool)
    active = np.ones(len(i), dtype=bool)
    while active.any():
        ai, aj, a_sim = i[active], j[active], s[active]
        usable = status[ai] != MEMBER
        ui, uj, u_sim = ai[usable], aj[usable], a_sim[usable]
        first = np.concatenate(([True], uj[1:] != uj[:-1])) if len(uj) else np.zeros(0, bool)
        fi, fj, f_sim = ui[first], uj[first], u_sim[first]
        take = status[fi] == CANONICAL  # the first usable partner is decided: join it
        canonical_of[fj[take]] = fi[take]
        sim_of[fj[take]] = f_sim[take]
        status[fj[take]] = MEMBER
        usable_mark[uj] = True
        alone = aj[~usable_mark[aj]]
        status[alone] = CANONICAL  # every partner is a member: stays alone
        usable_mark[uj] = False
        active = status[j] == UNDECIDED


def exact_groups(norm_hash: np.ndarray, fixed: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Eligible rows (norm_hash != 0) and, for each, the first row with the same normalised text
    (its exact canonical)."""
    rows = np.flatnonzero(norm_hash != 0)
    if not len(rows):
        return rows, rows
    _, first, inverse = np.unique(norm_hash[rows], return_index=True, return_inverse=True)
    return rows, rows[first][inverse]


def verified(sims: np.ndarray, own_sims: np.ndarray, same_doc: np.ndarray,
             settings: DedupSettings) -> np.ndarray:
    """Which candidate pairs are copies: both similarities reach the threshold (the stricter
    one inside a document)."""
    needed = np.where(same_doc, settings.same_document_threshold, settings.threshold)
    return (sims >= needed) & (own_sims >= needed)


def similarities_between(a: ContentSets, a_rows: np.ndarray, b: ContentSets, b_rows: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
    """`pair_similarities` for pairs whose two sides are rows of two sets."""
    sims = jaccard_between(a.content, a.offsets, a_rows, b.content, b.offsets, b_rows)
    own_sims = sims.copy()
    quoting = a.quoted[a_rows] | b.quoted[b_rows]
    own_sims[quoting] = jaccard_between(a.own, a.own_offsets, a_rows[quoting],
                                        b.own, b.own_offsets, b_rows[quoting])
    return sims, own_sims


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


