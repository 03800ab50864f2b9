"""Normalise and tokenise paragraphs for duplicate detection, in bulk.

A paragraph's words are its maximal runs of letters, digits and combining marks after NFKC and
lower-casing (Arrow's Unicode-aware kernels, not a Python loop). Paragraphs in scripts written
without spaces (Chinese, Japanese, Thai, ...) are cut into character pairs instead. From the
words come:
- `norm_hash`: a 64-bit hash of the whole word sequence: equal for exact copies that differ only
  in case, punctuation, spacing or Unicode form;
- the content set: the distinct words that are not function words (tasks/shard/stopwords.py), each as
  a 32-bit hash; MinHash and the verifier compare these sets;
- the skip pairs: each content word paired with each of the next `SKIP_WINDOW` content words, in
  order, hashed: the verifier's evidence of word order (a spun copy keeps most content words in
  their order, an independent writer on the same story does not);
- the numbers: the content words made of digits (two reports of one story that give different
  figures are not copies of each other).
Everything that changes these values is versioned by NORMALIZER_VERSION, which the cross-run
index records.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from tasks.shard.stopwords import STOPWORDS

NORMALIZER_VERSION = 3
SKIP_WINDOW = 3
WORD_SPLIT = r"[^\p{L}\p{N}\p{M}]+"
NO_SPACE_SCRIPT = r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}\p{Tibetan}]"
_SEQUENCE_MULT = np.uint64(0x100000001B3)  # FNV-1 64-bit prime
_MAX_CONTENT = 256  # a longer content set keeps its 256 smallest hashes (a bottom-k sample)


def token_hash64(token: str) -> int:
    return xxhash.xxh3_64_intdigest(token.encode("utf-8"))


def content_hash32(token: str) -> int:
    """The 32-bit hash of one content word: what MinHash and the verifier see."""
    h = token_hash64(token)
    return (h >> 32) ^ (h & 0xFFFFFFFF)


@dataclass
class Normalized:
    """Per paragraph: `norm_hash` (uint64, 0 when it has no words), `n_words`, and four sets
    as CSR (the sorted distinct 32-bit hashes of paragraph i are
    values[offsets[i]:offsets[i + 1]]): `content` from all its words, `own` from its words
    outside quotation marks (the same as `content` where `quoted` is false), `skips` its skip
    pairs, `numbers` its number words."""

    norm_hash: np.ndarray
    n_words: np.ndarray
    content: np.ndarray
    offsets: np.ndarray
    own: np.ndarray
    own_offsets: np.ndarray
    quoted: np.ndarray
    skips: np.ndarray
    skip_offsets: np.ndarray
    numbers: np.ndarray
    number_offsets: np.ndarray

    @property
    def content_sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    def content_of(self, i: int) -> np.ndarray:
        return self.content[self.offsets[i]:self.offsets[i + 1]]

    def own_of(self, i: int) -> np.ndarray:
        return self.own[self.own_offsets[i]:self.own_offsets[i + 1]]


# A quotation: from an opening mark to its closing mark, or to the end of the paragraph (a
# quotation that goes on into the next paragraph has no closing mark).
QUOTATION = re.compile(r'“[^”]*(?:”|$)|„[^“”]*(?:[“”]|$)|«[^»]*(?:»|$)|"[^"]*(?:"|$)')
_QUOTE_MARKS = r'[“„«"]'


def own_words_text(text: str) -> str:
    """The paragraph without its quotations: the words that are the writer's own."""
    return QUOTATION.sub(" ", text)


def words(texts: pa.Array | list[str]) -> pa.ListArray:
    """list<string> of each paragraph's normalised words."""
    arr = _string_array(texts).fill_null("")
    ascii_rows = pc.string_is_ascii(arr)
    if not pc.all(ascii_rows).as_py():  # NFKC leaves ASCII alone: normalise only the others
        other = pc.invert(ascii_rows)
        arr = pc.replace_with_mask(arr, other, pc.utf8_normalize(pc.filter(arr, other), "NFKC"))
    norm = pc.utf8_lower(arr)
    split = pc.split_pattern_regex(norm, WORD_SPLIT)
    no_space = pc.match_substring_regex(norm, NO_SPACE_SCRIPT)
    if pc.any(no_space).as_py():
        # Few rows: only they go through Python.
        rows = np.flatnonzero(no_space.to_numpy(zero_copy_only=False))
        redone = [_characters_if_no_space_script(r) for r in split.take(pa.array(rows)).to_pylist()]
        full = [None] * len(split)
        for i, r in zip(rows.tolist(), redone):
            full[i] = r
        split = pc.if_else(no_space, pa.array(full, type=split.type), split)
    flat = pc.list_flatten(split)
    keep = pc.not_equal(flat, "")  # a leading or trailing separator leaves an empty string
    kept_parents = pc.filter(pc.list_parent_indices(split), keep).to_numpy()
    counts = np.bincount(kept_parents, minlength=len(split))
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pc.filter(flat, keep))


def _string_array(texts) -> pa.Array:
    arr = texts if isinstance(texts, (pa.Array, pa.ChunkedArray)) else pa.array(texts, pa.string())
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _characters_if_no_space_script(tokens: list[str]) -> list[str]:
    """Mostly Han/kana/Thai/...: every two neighbouring characters are a token (a word
    segmenter would be better and much slower; single characters are shared by any two
    paragraphs of a language, character pairs much less)."""
    text = "".join(tokens)
    spaced = sum(len(t) for t in tokens)
    no_space = sum(1 for ch in text if _is_no_space_char(ch))
    if no_space > 0.3 * max(spaced, 1):
        return [t[k:k + 2] for t in tokens for k in range(max(len(t) - 1, 1))]
    return tokens


def _is_no_space_char(ch: str) -> bool:
    cp = ord(ch)
    return (0x0E00 <= cp <= 0x0FFF or 0x1000 <= cp <= 0x109F or 0x1780 <= cp <= 0x17FF
            or 0x3040 <= cp <= 0x30FF or 0x3400 <= cp <= 0x4DBF or 0x4E00 <= cp <= 0x9FFF
            or 0xF900 <= cp <= 0xFAFF)


def normalize(texts: pa.Array | list[str]) -> Normalized:
    arr = _string_array(texts)
    lists = words(arr)
    n = len(lists)
    n_words = np.diff(lists.offsets.to_numpy()).astype(np.int32)
    hash64, is_content, is_number = _word_info(lists.values)
    para = np.repeat(np.arange(n), n_words)
    norm_hash = _sequence_hashes(hash64, para, n_words)
    content, offsets = _content_sets(hash64, is_content, para, n)
    skips, skip_offsets = _skip_pairs(hash64[is_content], para[is_content], n)
    numbers, number_offsets = _content_sets(hash64, is_number, para, n)

    # Own words: only paragraphs with a quotation mark differ from their content set.
    quoted = pc.match_substring_regex(arr.fill_null(""), _QUOTE_MARKS).to_numpy(
        zero_copy_only=False)
    own, own_offsets = content, offsets
    rows = np.flatnonzero(quoted)
    if len(rows):
        own_lists = words([own_words_text(t) for t in arr.take(pa.array(rows)).to_pylist()])
        own_hash, own_is_content, _ = _word_info(own_lists.values)
        own_para = np.repeat(np.arange(len(rows)), np.diff(own_lists.offsets.to_numpy()))
        q_values, q_offsets = _content_sets(own_hash, own_is_content, own_para, len(rows))
        own, own_offsets = _splice(content, offsets, rows, q_values, q_offsets)
    return Normalized(norm_hash, n_words, content, offsets, own, own_offsets, quoted,
                      skips, skip_offsets, numbers, number_offsets)


def _word_info(flat: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """64-bit hash, is-a-content-word and is-a-number flags of every word, computed once per
    distinct word."""
    if len(flat) == 0:
        return np.zeros(0, np.uint64), np.zeros(0, bool), np.zeros(0, bool)
    encoded = pc.dictionary_encode(flat)
    vocab = encoded.dictionary.to_pylist()
    hashes = np.fromiter((token_hash64(w) for w in vocab), np.uint64, len(vocab))
    content = np.fromiter((w not in STOPWORDS for w in vocab), bool, len(vocab))
    number = np.fromiter((w.isdigit() for w in vocab), bool, len(vocab)) & content
    ids = encoded.indices.to_numpy()
    return hashes[ids], content[ids], number[ids]


def _skip_pairs(hash64: np.ndarray, para: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR of each paragraph's skip pairs: its content words (`hash64`, in order, paragraph
    `para`) each paired with each of the next SKIP_WINDOW ones, as sorted distinct 32-bit
    hashes (bottom-k, as the content sets)."""
    firsts, seconds = [], []
    for gap in range(1, SKIP_WINDOW + 1):
        same = np.flatnonzero(para[gap:] == para[:-gap]) if len(para) > gap else \
            np.zeros(0, np.int64)
        firsts.append(same)
        seconds.append(same + gap)
    first, second = np.concatenate(firsts), np.concatenate(seconds)
    with np.errstate(over="ignore"):
        pair_hash = _fmix64(hash64[first] * _SEQUENCE_MULT + hash64[second])
    return _content_sets(pair_hash, np.ones(len(first), dtype=bool), para[first], n)


def _content_sets(hash64: np.ndarray, is_content: np.ndarray, para: np.ndarray,
                  n: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR of each paragraph's distinct content-word hashes, sorted; bottom-k beyond k=256."""
    h64 = hash64[is_content]
    h32 = ((h64 >> np.uint64(32)) ^ (h64 & np.uint64(0xFFFFFFFF))).astype(np.uint32)
    # The paragraph numbers come in order (skip pairs: in a few ordered runs), which numpy's
    # stable sort takes advantage of and its default sort does not.
    key = np.sort((para[is_content].astype(np.uint64) << np.uint64(32)) | h32, kind="stable")
    if len(key):
        key = key[np.concatenate(([True], key[1:] != key[:-1]))]  # distinct, still sorted
    key_para = (key >> np.uint64(32)).astype(np.int64)
    values = (key & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    sizes = np.bincount(key_para, minlength=n)
    if sizes.max(initial=0) > _MAX_CONTENT:
        rank = np.arange(len(key_para)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        values = values[rank < _MAX_CONTENT]
        sizes = np.minimum(sizes, _MAX_CONTENT)
    return values, np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)


def _splice(values, offsets, rows, new_values, new_offsets) -> tuple[np.ndarray, np.ndarray]:
    """The CSR `values/offsets` with the sets of `rows` replaced by `new_values/new_offsets`."""
    sizes = np.diff(offsets).copy()
    new_sizes = np.diff(new_offsets)
    sizes[rows] = new_sizes
    out_offsets = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    out = np.empty(out_offsets[-1], dtype=values.dtype)
    replaced = np.zeros(len(sizes), dtype=bool)
    replaced[rows] = True
    keep_rows = np.flatnonzero(~replaced)
    out[_segments(out_offsets, keep_rows)] = values[_segments(offsets, keep_rows)]
    out[_segments(out_offsets, rows)] = new_values
    return out, out_offsets


def _segments(offsets: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Positions of the CSR segments of `rows`, concatenated."""
    lengths = offsets[rows + 1] - offsets[rows]
    starts = np.repeat(offsets[rows] - (np.cumsum(lengths) - lengths), lengths)
    return starts + np.arange(int(lengths.sum()))


def _sequence_hashes(hash64: np.ndarray, para: np.ndarray, n_words: np.ndarray) -> np.ndarray:
    """An order-sensitive 64-bit hash of each paragraph's word sequence: the sum over its words
    of mix(word hash + position * M), then mixed with the length; 0 only for no words."""
    n = len(n_words)
    out = np.zeros(n, dtype=np.uint64)
    if not len(hash64):
        return out
    starts = np.cumsum(n_words) - n_words
    position = (np.arange(len(hash64)) - starts[para]).astype(np.uint64)
    with np.errstate(over="ignore"):
        terms = _fmix64(hash64 + position * _SEQUENCE_MULT)
        nonempty = n_words > 0
        sums = np.add.reduceat(terms, starts[nonempty])
        out[nonempty] = _fmix64(sums ^ n_words[nonempty].astype(np.uint64))
    out[nonempty & (out == 0)] = 1  # 0 means "no words"
    return out


def _fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer (wrapping arithmetic)."""
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))
