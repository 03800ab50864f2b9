"""MinHash signatures of paragraphs' content-word sets, computed in bulk with numpy.

Compatible with datasketch: the permutations are datasketch's own ("affine32", its default
scheme since 2.0: h -> a * fmix32(h) + b mod 2^32), so a signature here equals
`datasketch.MinHash(num_perm, seed, hashfunc=content_hash32)` fed the same words (a test checks
it). What differs is the cost: words are tokenised by Arrow kernels and hashed once per distinct
word (tasks/shard/normalize.py), and the permutations, minimum and band keys run in C
(tasks/shard/_minhash.c, built by `pip install` with the system's C compiler), never one Python
object per word or paragraph.

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
from tasks.shard import _minhash
from tasks.shard.normalize import Normalized, normalize

HASH_SCHEME = "datasketch-affine32 over xxh3-64 word hashes folded to 32 bits; 64-bit band keys"


@lru_cache(maxsize=8)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's permutation parameters (a, b) for the affine32 scheme."""
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    return a.astype(np.uint32), b.astype(np.uint32)


def signatures(norm: Normalized, num_perm: int, seed: int,
               min_content: int) -> tuple[np.ndarray, np.ndarray]:
    """(n x num_perm uint32 signatures, mask of paragraphs that have one: content set of at
    least `min_content` words). Rows without one are all 0xFFFFFFFF."""
    has = norm.content_sizes >= max(min_content, 1)
    out = np.full((len(has), num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
    out[has] = row_signatures(norm, np.flatnonzero(has), num_perm, seed)
    return out, has


def row_signatures(norm: Normalized, rows: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """(len(rows) x num_perm uint32) signatures of the content sets of `rows`."""
    a, b = permutations(num_perm, seed)
    out = np.empty((len(rows), num_perm), dtype=np.uint32)
    if len(rows):
        _minhash.signatures(np.ascontiguousarray(norm.content, dtype=np.uint32),
                            np.ascontiguousarray(norm.offsets, dtype=np.int64),
                            np.ascontiguousarray(rows, dtype=np.int64), a, b, out)
    return out


def band_multipliers(rows: int, seed: int) -> np.ndarray:
    """The odd 64-bit multipliers that fold a band's signature values into its key."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2**63, size=rows, dtype=np.uint64) * np.uint64(2) + np.uint64(1)


def band_keys(signatures: np.ndarray, bands: int, rows: int, seed: int) -> np.ndarray:
    """(n x bands) uint64 LSH keys: each band's `rows` signature values folded by random odd
    multipliers, then mixed (MurmurHash3's 64-bit finalizer: every bit of the key depends on
    every value, so any bits of it can pick a partition). Two paragraphs share a key when they
    agree on the whole band, or collide by chance: with 64 bits, about once per band in 10^19
    pairs (32-bit keys met spurious candidates in every band at 10^9 paragraphs)."""
    sigs = np.ascontiguousarray(signatures, dtype=np.uint32)
    keys = np.empty((sigs.shape[0], bands), dtype=np.uint64)
    _minhash.band_keys(sigs, sigs.shape[1], band_multipliers(rows, seed), bands, keys)
    return keys


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
    has = norm.content_sizes >= max(settings.min_words, 1)
    sigs = row_signatures(norm, np.flatnonzero(has), settings.num_perm, settings.seed)
    keys = np.zeros((len(has), settings.bands), dtype=np.uint64)
    keys[has] = band_keys(sigs, settings.bands, settings.rows, settings.seed)
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
