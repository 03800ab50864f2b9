"""The word-pattern model: how much an English paragraph's function words and word classes look
like round-trip machine translation (one part of `mt_score`, see tasks/shard/translation.py).

Each word becomes a symbol: one of the model's most frequent English words stays itself, any
other word becomes its frequency band in wordfreq's English list (`h` zipf >= 4.5, `m` >= 3,
`r` rarer, `o` unknown), capitalised words get a `^` prefix (all-caps `U`), numbers are `0` and
punctuation stays as it is. "Over the years, he won 30 bracelets." becomes
`^over the years , he h 0 m .` ("years" is among the kept words, "won" is not).
A paragraph's features are its symbol unigrams and bigrams, weighted as scikit-learn's
TfidfVectorizer(sublinear_tf=True) does, and a logistic regression trained on PAN13 round-trip
translations against their human sources gives log-odds `z`
(benchmarks/training/train_mt_model.py writes tasks/models/mt_word_patterns.json).

What it picks up: function-word habits of the round trip (more "the N", "of", "is", "not";
fewer "which", "up", "out", ";", "-"), case damage (names lower-cased, common words capitalised)
and unknown transliterations. Round-trip output is locally fluent: word-pair frequencies (Google
web bigrams in wordsegment/symspellpy) did not separate it from human text at all (measured,
see docs/benchmarks/machine-translation.md), so there is no bigram-frequency lookup here.

A short paragraph carries little evidence: its log-odds are scale * z * n / (n + shrink_words)
(n = words), so single short lines do not get flagged on word patterns alone. `shrink_words`
and `scale` are calibrated so that few human sentences reach the threshold (WMT22, see the
training script).
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections import Counter
from dataclasses import dataclass
from functools import cache
from itertools import chain, pairwise
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks import MODELS_DIR
from tasks.shard.ascii_tokens import ascii_tokens

MODEL_PATH = MODELS_DIR / "mt_word_patterns.json"

_TOKEN = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*|\d+|[^\w\s]")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "„": '"'})
# _TOKEN on the text before _QUOTES: curly apostrophes join words too, and each token is
# translated when its symbol is first made (cheaper than translating every text).
_TOKEN_CURLY = re.compile(r"[^\W\d_]+(?:['‘’][^\W\d_]+)*|\d+|[^\w\s]")
_CACHE_LIMIT = 500_000  # symbols cached per token string; cleared when full
_SUBLINEAR = [0.0] + [1.0 + math.log(n) for n in range(1, 64)]  # TF-IDF's sublinear tf
_SUBLINEAR_ARRAY = np.array(_SUBLINEAR)


@dataclass(frozen=True)
class WordPatternModel:
    kept_words: frozenset[str]
    band_zipf: tuple[float, float]          # h at or above the first, m at or above the second
    features: dict[str, tuple[float, float]]  # feature -> (idf, weight)
    intercept: float
    shrink_words: float   # z is shrunk by words / (words + shrink_words) ...
    scale: float          # ... and scaled to log-odds by this
    offset: float         # the prior log-odds against machine translation
    document_center: float  # documents: only mean z above this counts (see document_evidence)
    meta: dict

    @classmethod
    def from_json(cls, data: dict) -> WordPatternModel:
        return cls(
            kept_words=frozenset(data["kept_words"]),
            band_zipf=tuple(data["band_zipf"]),
            features={k: (v[0], v[1]) for k, v in data["features"].items()},
            intercept=float(data["intercept"]),
            shrink_words=float(data["shrink_words"]),
            scale=float(data["scale"]),
            offset=float(data["offset"]),
            document_center=float(data["document_center"]),
            meta=data.get("meta", {}),
        )


class WordPatterns:
    """Symbols, features and scores for one model; thread-safe for reading."""

    def __init__(self, model: WordPatternModel, frequencies: dict[str, float]):
        self.model = model
        high, mid = model.band_zipf
        self._high = 10 ** (high - 9)  # zipf = log10(frequency per word) + 9
        self._mid = 10 ** (mid - 9)
        self._frequencies = frequencies
        # Token -> symbol number (cleared when full), the symbols by number, and the model's
        # features as lookup arrays (built on first use).
        self._lock = threading.Lock()
        self._token_ids: dict[str, int] = {}
        self._symbol_ids: dict[str, int] = {}
        self._symbol_list: list[str] = []
        self._arrays: _FeatureArrays | None = None

    def _symbol(self, token: str) -> str:
        first = token[0]
        if first.isdigit():
            return "0"
        if not first.isalpha():
            return token
        low = token.lower()
        upper = first.isupper()
        if low in self.model.kept_words:
            return "^" + low if upper else low
        freq = self._frequencies.get(low)
        band = "o" if freq is None else "h" if freq >= self._high else "m" if freq >= self._mid else "r"
        if upper:
            return ("U" if len(token) > 1 and token.isupper() else "^") + band
        return band

    def symbols(self, text: str) -> list[str]:
        tokens = _TOKEN.findall(text.translate(_QUOTES))
        symbol_list = self._symbol_list
        return [symbol_list[number] for number in self._symbol_numbers(tokens).tolist()]

    @staticmethod
    def features(symbols: list[str]) -> list[str]:
        """Unigrams and bigrams, the analyzer the model was trained with."""
        return symbols + [a + " " + b for a, b in pairwise(symbols)]

    def score(self, text: str) -> tuple[int, float]:
        """(words, z): z is the model's log-odds that the text is a round-trip translation,
        before shrinking for length; 0.0 when no feature is known."""
        symbols = self.symbols(text)
        unigrams = Counter(symbols)
        words = sum(n for symbol, n in unigrams.items() if symbol[-1].isalpha())
        counts = Counter(a + " " + b for a, b in pairwise(symbols))
        counts.update(unigrams)
        table = self.model.features
        dot = norm = 0.0
        for feature, count in counts.items():
            known = table.get(feature)
            if known is not None:
                value = (_SUBLINEAR[count] if count < 64 else 1.0 + math.log(count)) * known[0]
                norm += value * value
                dot += value * known[1]
        if norm == 0.0:
            return words, 0.0
        return words, self.model.intercept + dot / math.sqrt(norm)

    def score_many(self, texts: list[str] | pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """`score` for many texts at once: (words, z) as arrays, the same numbers as `score`
        gives text by text (its sums are taken in the same order). ASCII texts are tokenised
        on their bytes (tasks/shard/ascii_tokens.py), the others with the regex, text by text;
        symbols, counts and the dot product are array operations."""
        if isinstance(texts, pa.ChunkedArray):
            texts = texts.combine_chunks()
        if not isinstance(texts, pa.Array):
            texts = pa.array(list(texts), pa.string())
        texts = texts.cast(pa.string()).fill_null("")
        n = len(texts)
        is_ascii = pc.string_is_ascii(texts).to_numpy(zero_copy_only=False)
        ascii_rows, other_rows = np.flatnonzero(is_ascii), np.flatnonzero(~is_ascii)
        symbols, owners = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        if len(ascii_rows):
            part = texts if not len(other_rows) else texts.take(pa.array(ascii_rows))
            distinct, codes, owner = ascii_tokens(part)
            used = np.unique(codes)  # the dictionary also holds the gaps between tokens
            number = np.zeros(len(distinct), dtype=np.int64)
            number[used] = self._symbol_numbers(distinct.take(pa.array(used)).to_pylist())
            symbols.append(number[codes])
            owners.append(ascii_rows[owner])
        if len(other_rows):
            token_lists = [_TOKEN_CURLY.findall(t)
                           for t in texts.take(pa.array(other_rows)).to_pylist()]
            lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
            symbols.append(self._symbol_numbers(list(chain.from_iterable(token_lists))))
            owners.append(np.repeat(other_rows, lengths))
        owner = np.concatenate(owners)
        in_text_order = np.argsort(owner, kind="stable")
        owner, symbol = owner[in_text_order], np.concatenate(symbols)[in_text_order]
        arrays = self._feature_arrays()
        in_vocab = np.array([arrays.vocab.get(s, arrays.other) for s in self._symbol_list],
                            dtype=np.int64)[symbol]
        is_word = np.array([s[-1].isalpha() for s in self._symbol_list], dtype=bool)[symbol]
        words = np.bincount(owner[is_word], minlength=n)

        # Each text's distinct features are summed in the order `score` meets them (its bigrams,
        # then its unigrams, each by first occurrence, as a Counter keeps them), so the floats
        # come out the same: bigrams of all texts come first in `feature`, and the texts' keys
        # are ordered by text, then by the index of their first occurrence.
        same_text = owner[1:] == owner[:-1]
        bigram = np.where(same_text,
                          arrays.bigram[in_vocab[:-1] * (arrays.other + 1) + in_vocab[1:]], -1)
        feature = np.concatenate([bigram, arrays.unigram[in_vocab]])
        text_of = np.concatenate([owner[:-1], owner]) if len(owner) else owner
        known = feature >= 0
        key = text_of[known] * len(arrays.idf) + feature[known]
        distinct, first, count = np.unique(key, return_index=True, return_counts=True)
        text, feature = np.divmod(distinct, len(arrays.idf))
        order = np.lexsort((first, text))
        text, feature, count = text[order], feature[order], count[order]
        tf = np.where(count < 64, _SUBLINEAR_ARRAY[np.minimum(count, 63)],
                      1.0 + np.log(np.maximum(count, 1)))
        value = tf * arrays.idf[feature]
        norm = np.bincount(text, weights=value * value, minlength=n)
        dot = np.bincount(text, weights=value * arrays.weight[feature], minlength=n)
        z = np.zeros(n)
        scored = norm != 0.0
        z[scored] = self.model.intercept + dot[scored] / np.sqrt(norm[scored])
        return words, z

    def _symbol_numbers(self, tokens: list[str]) -> np.ndarray:
        """Each token's symbol as a number into self._symbol_list."""
        with self._lock:
            ids = self._token_ids
            if len(ids) > _CACHE_LIMIT:
                ids.clear()
            try:
                return np.fromiter(map(ids.__getitem__, tokens), dtype=np.int64,
                                   count=len(tokens))
            except KeyError:
                for token in set(tokens).difference(ids):
                    symbol = self._symbol(token.translate(_QUOTES))
                    number = self._symbol_ids.get(symbol)
                    if number is None:
                        number = self._symbol_ids[symbol] = len(self._symbol_list)
                        self._symbol_list.append(symbol)
                    ids[token] = number
                return np.fromiter(map(ids.__getitem__, tokens), dtype=np.int64,
                                   count=len(tokens))

    def _feature_arrays(self) -> _FeatureArrays:
        if self._arrays is None:
            self._arrays = _FeatureArrays.of(self.model.features)
        return self._arrays

    def evidence(self, words: int, z: float) -> float:
        """The word-pattern log-odds of a text with this many words and this z: z shrunk
        towards 0 for short texts, then scaled."""
        if words == 0:
            return 0.0
        return self.model.scale * z * words / (words + self.model.shrink_words)

    def evidence_many(self, words: np.ndarray, z: np.ndarray) -> np.ndarray:
        """`evidence` for arrays of texts (the same floats)."""
        return np.where(words > 0, self.model.scale * z * words
                        / (words + self.model.shrink_words), 0.0)

    def document_evidence(self, words: int, mean_z: float) -> float:
        """The word-pattern log-odds of a document: only a word-weighted mean z above
        `document_center` counts. Averaged over many paragraphs, z separates PAN13 translations
        from their sources well, but human news articles average anywhere from -0.9 to 0.7, so
        below the center the patterns neither raise nor lower what the rules found."""
        return self.evidence(words, max(0.0, mean_z - self.model.document_center))


@dataclass(frozen=True)
class _FeatureArrays:
    """The model's features as arrays: symbols in any feature numbered (`vocab`, every other
    symbol is `other`), feature number per unigram and per bigram of those (-1: not a feature),
    and idf and weight per feature number."""
    vocab: dict[str, int]
    other: int
    unigram: np.ndarray
    bigram: np.ndarray  # at first * (other + 1) + second
    idf: np.ndarray
    weight: np.ndarray

    @classmethod
    def of(cls, features: dict[str, tuple[float, float]]) -> _FeatureArrays:
        vocab = {s: i for i, s in enumerate(sorted({s for f in features for s in f.split(" ")}))}
        other = len(vocab)
        unigram = np.full(other + 1, -1, dtype=np.int64)
        bigram = np.full((other + 1) ** 2, -1, dtype=np.int64)
        for number, name in enumerate(features):
            parts = name.split(" ")
            if len(parts) == 1:
                unigram[vocab[parts[0]]] = number
            else:
                bigram[vocab[parts[0]] * (other + 1) + vocab[parts[1]]] = number
        values = np.array(list(features.values()), dtype=np.float64).reshape(-1, 2)
        return cls(vocab, other, unigram, bigram, values[:, 0].copy(), values[:, 1].copy())


@cache
def load_model(path: Path | str = MODEL_PATH) -> WordPatternModel:
    return WordPatternModel.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


_lock = threading.Lock()


@cache
def _default() -> WordPatterns:
    from wordfreq import get_frequency_dict  # ships its word lists inside the wheel

    return WordPatterns(load_model(), get_frequency_dict("en", "large"))


def default_word_patterns() -> WordPatterns:
    """The shipped model with wordfreq's English frequencies, loaded once per process."""
    with _lock:
        return _default()
