"""MinHash signatures of paragraphs, computed in bulk with numpy.

Compatible with datasketch: the permutations are datasketch's own ("affine32", its default
scheme since 2.0: h -> a * fmix32(h) + b mod 2^32), so a signature here equals
`datasketch.MinHash(num_perm, seed, hashfunc=shingle_hash32)` fed the same shingles (a test
checks it). What differs is the cost: tokens are hashed once per distinct token, shingle hashes
are combined from token hashes with array arithmetic, and the permutation and minimum run over
blocks of thousands of shingles at a time, not one Python object per shingle.

Normalisation (NORMALIZER_VERSION): NFKC, case-folded, word tokens (\\w+); text in scripts
written without spaces (Chinese, Japanese, Thai, ...) is tokenised into characters instead.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import numpy as np
import pyarrow as pa
import xxhash

from tasks.settings import DedupSettings

NORMALIZER_VERSION = 1
HASH_SCHEME = "datasketch-affine32/xxh3-tokens/poly64-shingles"

_WORD = re.compile(r"\w+")
# Scripts written without spaces between words: Han, Hiragana, Katakana, Thai, Lao, Khmer,
# Myanmar, Tibetan.
_NO_SPACE_SCRIPT = re.compile(
    r"[\u0e00-\u0eff\u0f00-\u0fff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf"
    r"\u4e00-\u9fff\uf900-\ufaff]"
)
_MASK64 = (1 << 64) - 1
_SHINGLE_MULT = 0x100000001B3  # FNV-1 64-bit prime: mixes the token hashes of a shingle
_BLOCK_SHINGLES = 8192  # shingles per permutation block: 8192 x 128 x 4 bytes = 4 MB


def tokens(text: str) -> list[str]:
    norm = unicodedata.normalize("NFKC", text).casefold()
    words = _WORD.findall(norm)
    if words and len(_NO_SPACE_SCRIPT.findall(norm)) > 0.3 * sum(len(w) for w in words):
        return [ch for w in words for ch in w]
    return words


def token_hash(token: str) -> int:
    return xxhash.xxh3_64_intdigest(token.encode("utf-8"))


def shingle_hash32(shingle: tuple[str, ...]) -> int:
    """The 32-bit hash of one shingle: the scalar twin of the bulk computation below."""
    h = 0
    for tok in shingle:
        h = (h * _SHINGLE_MULT + token_hash(tok)) & _MASK64
    return (h >> 32) ^ (h & 0xFFFFFFFF)


@lru_cache(maxsize=8)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's permutation parameters (a, b) for the affine32 scheme."""
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    return a.astype(np.uint32), b.astype(np.uint32)


def _fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def bulk_signatures(token_lists: list[list[str]], k: int, num_perm: int, seed: int,
                    min_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """Signatures (n x num_perm uint32) for the paragraphs given as token lists, and a mask of
    which paragraphs got one (those with >= max(k, min_tokens) tokens)."""
    n = len(token_lists)
    counts = np.fromiter((len(t) for t in token_lists), dtype=np.int64, count=n)
    has_sig = counts >= max(k, min_tokens)
    signatures = np.full((n, num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
    if not has_sig.any():
        return signatures, has_sig

    # Hash each distinct token once.
    vocab: dict[str, int] = {}
    ids = [vocab.setdefault(tok, len(vocab)) for i in np.flatnonzero(has_sig)
           for tok in token_lists[i]]
    vocab_hashes = np.fromiter((token_hash(t) for t in vocab), dtype=np.uint64, count=len(vocab))
    flat = vocab_hashes[np.asarray(ids, dtype=np.int64)]

    # Shingle i of a paragraph combines tokens i .. i+k-1 (polynomial, wrapping at 2^64).
    lengths = counts[has_sig]
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    n_shingles = lengths - k + 1
    total = int(n_shingles.sum())
    first = np.repeat(starts, n_shingles) + (
        np.arange(total) - np.repeat(np.cumsum(n_shingles) - n_shingles, n_shingles))
    with np.errstate(over="ignore"):
        h = flat[first]
        for j in range(1, k):
            h = h * np.uint64(_SHINGLE_MULT) + flat[first + j]
        h32 = ((h >> np.uint64(32)) ^ (h & np.uint64(0xFFFFFFFF))).astype(np.uint32)
        mixed = _fmix32(h32)

    a, b = permutations(num_perm, seed)
    out = np.empty((len(lengths), num_perm), dtype=np.uint32)
    shingle_starts = np.concatenate(([0], np.cumsum(n_shingles)))
    para = 0
    while para < len(lengths):
        # A block of whole paragraphs holding about _BLOCK_SHINGLES shingles (at least one).
        end = int(np.searchsorted(shingle_starts, shingle_starts[para] + _BLOCK_SHINGLES, "right"))
        end = min(max(end - 1, para + 1), len(lengths))
        lo, hi = shingle_starts[para], shingle_starts[end]
        with np.errstate(over="ignore"):
            block = mixed[lo:hi, None] * a[None, :] + b[None, :]
        out[para:end] = np.minimum.reduceat(block, shingle_starts[para:end] - lo, axis=0)
        para = end
    signatures[has_sig] = out
    return signatures, has_sig


def minhash(paragraphs: pa.Table, settings: DedupSettings) -> pa.Table:
    """Add `norm_hash` (hash of the normalised text, 0 when it has no words), `n_tokens` and
    `signature` (null for paragraphs too short for MinHash: they are matched exactly)."""
    token_lists = [tokens(t) for t in paragraphs["text"].to_pylist()]
    norm_hash = np.fromiter(
        (xxhash.xxh3_64_intdigest(" ".join(t).encode("utf-8")) if t else 0 for t in token_lists),
        dtype=np.uint64, count=len(token_lists))
    signatures, has_sig = bulk_signatures(token_lists, settings.shingle_words, settings.num_perm,
                                          settings.seed, settings.min_words)
    values = pa.array(signatures.ravel(), type=pa.uint32())
    sig_array = pa.FixedSizeListArray.from_arrays(values, settings.num_perm,
                                                  mask=pa.array(~has_sig))
    return (paragraphs.append_column("norm_hash", pa.array(norm_hash, type=pa.uint64()))
            .append_column("n_tokens", pa.array([len(t) for t in token_lists], type=pa.int32()))
            .append_column("signature", sig_array))


def signature_matrix(column: pa.ChunkedArray | pa.Array, num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    """The `signature` column back as (n x num_perm uint32, has-signature mask)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    has = column.is_valid().to_numpy(zero_copy_only=False)
    matrix = np.full((len(column), num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
    if has.any():
        matrix[has] = column.flatten().to_numpy().reshape(-1, num_perm)  # flatten skips nulls
    return matrix, has
