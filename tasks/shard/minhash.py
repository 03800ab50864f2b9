"""MinHash signatures of paragraphs' content-word sets, computed in bulk with numpy.

Compatible with datasketch: the permutations are datasketch's own ("affine32", its default
scheme since 2.0: h -> a * fmix32(h) + b mod 2^32), so a signature here equals
`datasketch.MinHash(num_perm, seed, hashfunc=content_hash32)` fed the same words (a test checks
it). What differs is the cost: words are tokenised by Arrow kernels and hashed once per distinct
word (tasks/shard/normalize.py), and the permutations and minimum run over blocks of thousands of
words at a time, never one Python object per word or paragraph.

Why content-word sets and not the usual word 5-grams: a spun or round-trip-translated copy
changes most 5-grams (median Jaccard 0.06 on PAN13's obfuscated copies) but keeps most of its
content words; see tasks/cross_document/duplicates.py for how candidates are verified.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.settings import DedupSettings
from tasks.shard.normalize import Normalized, normalize

HASH_SCHEME = "datasketch-affine32 over xxh3-64 word hashes folded to 32 bits; 64-bit band keys"
_BLOCK = 8192  # set elements per permutation block: 8192 x 128 x 4 bytes = 4 MB


@lru_cache(maxsize=8)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's permutation parameters (a, b) for the affine32 scheme."""
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    return a.astype(np.uint32), b.astype(np.uint32)


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's finalizer, as datasketch applies it before the permutations."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def signatures(norm: Normalized, num_perm: int, seed: int,
               min_content: int) -> tuple[np.ndarray, np.ndarray]:
    """(n x num_perm uint32 signatures, mask of paragraphs that have one: content set of at
    least `min_content` words). Rows without one are all 0xFFFFFFFF."""
    sizes = norm.content_sizes
    n = len(sizes)
    has = sizes >= max(min_content, 1)
    out = np.full((n, num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
    rows = np.flatnonzero(has)
    if not len(rows):
        return out, has
    # The elements of the rows that get a signature, in row order.
    element_row = np.repeat(np.arange(n), sizes)
    with np.errstate(over="ignore"):
        mixed = _fmix32(norm.content[has[element_row]])
    row_sizes = sizes[rows]
    starts = np.concatenate(([0], np.cumsum(row_sizes)))
    a, b = permutations(num_perm, seed)
    buf = np.empty((_BLOCK, num_perm), dtype=np.uint32)
    first = 0
    while first < len(rows):
        # Whole rows holding about _BLOCK elements (at least one row).
        last = int(np.searchsorted(starts, starts[first] + _BLOCK, "right")) - 1
        last = min(max(last, first + 1), len(rows))
        lo, hi = starts[first], starts[last]
        block = buf[: hi - lo] if hi - lo <= _BLOCK else np.empty((hi - lo, num_perm), np.uint32)
        with np.errstate(over="ignore"):
            np.multiply(mixed[lo:hi, None], a[None, :], out=block)
            np.add(block, b[None, :], out=block)
        out[rows[first:last]] = np.minimum.reduceat(block, starts[first:last] - lo, axis=0)
        first = last
    return out, has


def band_keys(signatures: np.ndarray, bands: int, rows: int, seed: int) -> np.ndarray:
    """(n x bands) uint64 LSH keys: each band's `rows` signature values folded by random odd
    multipliers, then mixed (MurmurHash3's 64-bit finalizer: every bit of the key depends on
    every value, so any bits of it can pick a partition). Two paragraphs share a key when they
    agree on the whole band, or collide by chance: with 64 bits, about once per band in 10^19
    pairs (32-bit keys met spurious candidates in every band at 10^9 paragraphs)."""
    rng = np.random.default_rng(seed)
    mult = rng.integers(0, 2**63, size=rows, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    n = signatures.shape[0]
    grouped = signatures[:, :bands * rows].reshape(n, bands, rows)
    with np.errstate(over="ignore"):
        h = grouped[:, :, 0].astype(np.uint64) * mult[0]
        for r in range(1, rows):
            h += grouped[:, :, r].astype(np.uint64) * mult[r]
        return fmix64(h)


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer, in place on a uint64 array (returned)."""
    with np.errstate(over="ignore"):
        h ^= h >> np.uint64(33)
        h *= np.uint64(0xFF51AFD7ED558CCD)
        h ^= h >> np.uint64(33)
        h *= np.uint64(0xC4CEB93FE53B6A89)
        h ^= h >> np.uint64(33)
    return h


def minhash(paragraphs: pa.Table, settings: DedupSettings) -> pa.Table:
    """Add `norm_hash` (exact-copy key, 0 = no words), `n_words`, `content` (sorted distinct
    content-word hashes), `own_content` (the same for the words outside quotations; null when
    the paragraph quotes nothing), `skip_pairs` and `numbers` (the verifier's evidence of word
    order and figures: tasks/shard/normalize.py) and `band_keys` (the LSH keys of the MinHash
    signature; null for paragraphs with fewer than `min_words` content words: they are matched
    exactly only). The signature itself is not kept: candidates need only its band keys, and
    verification works on the sets."""
    norm = normalize(paragraphs["text"])
    sigs, has = signatures(norm, settings.num_perm, settings.seed, settings.min_words)
    keys = np.zeros((len(has), settings.bands), dtype=np.uint64)
    keys[has] = band_keys(sigs[has], settings.bands, settings.rows, settings.seed)
    return (paragraphs.append_column("norm_hash", pa.array(norm.norm_hash, type=pa.uint64()))
            .append_column("n_words", pa.array(norm.n_words, type=pa.int32()))
            .append_column("content", csr_to_list(norm.content, norm.offsets))
            .append_column("own_content", csr_to_list(norm.own, norm.own_offsets,
                                                      valid=norm.quoted))
            .append_column("skip_pairs", csr_to_list(norm.skips, norm.skip_offsets))
            .append_column("numbers", csr_to_list(norm.numbers, norm.number_offsets))
            .append_column("band_keys", matrix_to_list(keys, valid=has)))


def matrix_to_list(matrix: np.ndarray, valid: np.ndarray) -> pa.Array:
    """A fixed-size list<uint64> column from an (n x k) matrix; rows not `valid` are null."""
    return pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel(), type=pa.uint64()),
                                             matrix.shape[1], mask=pa.array(~valid))


def csr_to_list(values: np.ndarray, offsets: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """A list<uint32> column from CSR; rows where `valid` is false are null."""
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)),
                                    pa.array(values, type=pa.uint32()),
                                    mask=None if valid is None else pa.array(~valid))


def list_matrix(column: pa.ChunkedArray | pa.Array, width: int) -> tuple[np.ndarray, np.ndarray]:
    """A fixed-size list<uint64> column (band keys) back as (n x width uint64, valid mask);
    null rows are zeros."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks else pa.array(
            [], type=column.type)
    has = column.is_valid().to_numpy(zero_copy_only=False)
    matrix = np.zeros((len(column), width), dtype=np.uint64)
    if has.any():
        matrix[has] = column.flatten().to_numpy().reshape(-1, width)  # flatten skips nulls
    return matrix, has


def content_csr(column: pa.ChunkedArray | pa.Array,
                fallback: pa.ChunkedArray | pa.Array | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A list<uint32> column back as CSR (values uint32, offsets int64). Null rows take the
    row of `fallback` (own_content falls back to content)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if fallback is not None and column.null_count:
        if isinstance(fallback, pa.ChunkedArray):
            fallback = fallback.combine_chunks()
        column = pc.if_else(column.is_valid(), column, fallback)
    if not len(column):
        return np.zeros(0, np.uint32), np.zeros(1, np.int64)
    offsets = column.offsets.to_numpy().astype(np.int64)
    values = column.values.to_numpy()[offsets[0]:offsets[-1]]
    return values, offsets - offsets[0]
