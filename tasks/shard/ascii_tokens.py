"""The word-pattern tokeniser for ASCII text, on the bytes of an Arrow string array.

For ASCII text, tasks/shard/translation_style.py's token regex
`[^\\W\\d_]+(?:'[^\\W\\d_]+)*|\\d+|[^\\w\\s]` means: a run of letters (an apostrophe between two
letters joins the run), a run of digits, or any one other character that is not whitespace
(Python's: also \\x1c-\\x1f) or "_". Python's regex runs text by text, a paragraph at a time;
this finds the same tokens for a whole column with a handful of numpy passes over its bytes.
tests/test_translation.py checks it against the regex.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_SKIP, _LETTER, _DIGIT, _OTHER = 0, 1, 2, 3
_CLASS = np.full(256, _OTHER, dtype=np.uint8)
_CLASS[list(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")] = _LETTER
_CLASS[list(b"0123456789")] = _DIGIT
_CLASS[list(b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f_")] = _SKIP


def ascii_tokens(texts: pa.StringArray) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Tokens of ASCII-only texts (no nulls): the distinct token strings, each token's number
    in them, and each token's row, tokens in text order."""
    offsets = np.frombuffer(texts.buffers()[1], dtype=np.int32, count=len(texts) + 1,
                            offset=texts.offset * 4).astype(np.int64)
    base, stop = int(offsets[0]), int(offsets[-1])
    data_buffer = texts.buffers()[2]
    if stop == base:
        return pa.array([], pa.string()), np.zeros(0, np.int64), np.zeros(0, np.int64)
    data = np.frombuffer(data_buffer, dtype=np.uint8)[base:stop]
    rel = offsets - base
    n = len(data)
    cls = _CLASS[data]
    first = np.zeros(n + 1, dtype=bool)  # the first byte of a row (and the end)
    first[rel] = True
    # An apostrophe between two letters of one row joins them.
    apostrophe = np.flatnonzero(data == ord("'"))
    apostrophe = apostrophe[(apostrophe > 0) & (apostrophe < n - 1)]
    joins = apostrophe[(cls[apostrophe - 1] == _LETTER) & (cls[apostrophe + 1] == _LETTER)
                       & ~first[apostrophe] & ~first[apostrophe + 1]]
    cls[joins] = _LETTER
    token = cls != _SKIP
    changed = np.ones(n, dtype=bool)
    changed[1:] = cls[1:] != cls[:-1]
    start = token & (changed | (cls == _OTHER) | first[:n])
    # a token ends where the next one starts, at a skipped byte, or where its row ends
    boundary = np.append(start | ~token | first[:n], True)
    starts = np.flatnonzero(start)
    boundaries = np.flatnonzero(boundary)
    if not len(starts):
        return pa.array([], pa.string()), np.zeros(0, np.int64), np.zeros(0, np.int64)
    ends = boundaries[np.searchsorted(boundaries, starts, side="right")]
    owner = np.searchsorted(rel, starts, side="right") - 1
    # The tokens as strings without copying bytes: an array over the same data whose rows are
    # token, gap, token, gap, ..., token (offsets s0 e0 s1 e1 ...); its even rows are the tokens.
    bounds = np.empty(2 * len(starts), dtype=np.int32)
    bounds[0::2], bounds[1::2] = starts + base, ends + base
    interleaved = pa.StringArray.from_buffers(len(bounds) - 1, pa.py_buffer(bounds), data_buffer)
    encoded = pc.dictionary_encode(interleaved)
    codes = encoded.indices.to_numpy(zero_copy_only=False)[0::2].astype(np.int64)
    return encoded.dictionary, codes, owner.astype(np.int64)
