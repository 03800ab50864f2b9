"""The verifier: is a candidate pair a copy (verbatim, edited, spun, round-trip translated) or two
paragraphs written independently, if on the same story?

Shared words alone cannot tell: independent articles on one story share their story's words as
much as a spun copy shares its source's. What a copy keeps and an independent writer does not:
- rare words: a word most paragraphs of the run use is weak evidence (`WordRarity`: inverse
  document frequency over the run's paragraphs);
- word order: the copy keeps its content words in order (shared skip pairs);
- length: a copy is about as long as its source, or contained in it;
- its own words: two paragraphs quoting one statement share the quotation, not the words around
  it;
- figures: two reports giving different numbers are not copies.
Each pair gets these seven features (`FEATURES`, in [0, 1], higher = more like a copy) and a
logistic score. The weight of each feature moves from its "short" value to its "long" one as the
smaller content set grows (`size_position`): a short line shares a few words by chance, a long
paragraph does not. Every weight is non-negative, so more evidence never lowers the score. The
model (tasks/models/dedup_verifier.json) is trained by benchmarks/training/train_verifier.py;
docs/benchmarks/duplicates.md has its figures.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from tasks import MODELS_DIR
from tasks.cross_document.duplicates import ContentSets
from tasks.cross_document.setops import intersections
from tasks.settings import DedupSettings

FEATURES = ("jaccard", "containment", "length_ratio", "rare_jaccard", "order", "own_jaccard",
            "numbers")
# Evidence the rules of `are_copies` use besides the score (columns after FEATURES):
# - number_difference: of the content words in one paragraph only, the share that are numbers
#   (1 when the two differ in numbers only: two records of one template, at another time, on
#   another line, at another price);
# - shared_numbers: of the shared content words, the share that are numbers (two lines that
#   share a date and little else);
# - shared_words: how many shared content words are not numbers (with fewer than min_words
#   of them, "little else": a long table or census paragraph copied keeps its figures and
#   enough of its words);
# - both_quote: 1 when both paragraphs quote something (their own words are then the evidence:
#   two articles quoting one statement share the quotation, not the words around it).
RULE_FEATURES = ("number_difference", "shared_numbers", "shared_words", "both_quote")
MAX_NUMBER_SHARE = 0.5
MODEL_PATH = MODELS_DIR / "dedup_verifier.json"


@dataclass(frozen=True)
class WordRarity:
    """How rare each content word is among the run's other paragraphs: for a pair, log((N' + 1)
    / (df' + 0.5)) where N' and df' leave the pair's own paragraphs out (in a small run, a word
    the two share would otherwise look common because they share it). A word the run never saw
    (an earlier run's) has df 0."""

    vocabulary: np.ndarray  # sorted distinct content-word hashes (uint32)
    df: np.ndarray  # int64, paragraphs of the run holding each word
    rows: int  # N, the run's paragraphs counted

    @classmethod
    def of(cls, values: np.ndarray, rows: int) -> WordRarity:
        """From every content-set value of `rows` paragraphs (each word once per paragraph)."""
        vocabulary, df = np.unique(values, return_counts=True)
        return cls(vocabulary, df.astype(np.int64), rows)

    def counts(self, values: np.ndarray) -> np.ndarray:
        """df of each value (0 for words the run never saw)."""
        if not len(self.vocabulary):
            return np.zeros(len(values), np.int64)
        at = np.minimum(np.searchsorted(self.vocabulary, values), len(self.vocabulary) - 1)
        return np.where(self.vocabulary[at] == values, self.df[at], 0)

    def idf(self, df: np.ndarray, holding: int, counted: int) -> np.ndarray:
        """The weight of words with these counts for a pair of which `counted` paragraphs are
        in the run, `holding` of them holding the word."""
        others = np.maximum(np.asarray(df) - holding, 0)
        return np.log((max(self.rows - counted, 0) + 1) / (others + 0.5))


def reach_jaccard_floor(a: ContentSets, a_rows: np.ndarray, b: ContentSets, b_rows: np.ndarray,
                        settings: DedupSettings) -> np.ndarray:
    """Which pairs reach `min_jaccard` on their content words, as the feature `jaccard`: only
    those can pass `are_copies`, so the others need not be scored (on web text most LSH
    candidates are below it)."""
    na, nb = a.sizes("content")[a_rows], b.sizes("content")[b_rows]
    inter, _ = intersections(a.csr["content"], a_rows, b.csr["content"], b_rows)
    return _ratio(inter, na + nb - inter) >= settings.min_jaccard


def pair_features(a: ContentSets, a_rows: np.ndarray, b: ContentSets, b_rows: np.ndarray,
                  rarity: WordRarity, a_in_run: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(n x len(FEATURES + RULE_FEATURES) float64 evidence, n smaller content-set sizes) of the
    pairs
    (a_rows[k] of `a`, b_rows[k] of `b`), in bulk. `b` is of this run; `a` too unless
    `a_in_run` is false (an earlier run's paragraphs: not counted in `rarity`)."""
    content_a, content_b = a.csr["content"], b.csr["content"]
    in_run = int(a_in_run)
    counted = in_run + 1
    df_a = rarity.counts(content_a[0])
    df_b = df_a if content_b[0] is content_a[0] else rarity.counts(content_b[0])
    # A word of one side only is held by that side (if counted), a shared word by both.
    shared_weights = np.stack([rarity.idf(df_a, in_run + 1, counted),
                               rarity.idf(df_a, 1, counted),
                               rarity.idf(df_a, in_run, counted)], axis=1)
    inter, shared = intersections(content_a, a_rows, content_b, b_rows, shared_weights)
    na, nb = a.sizes("content")[a_rows], b.sizes("content")[b_rows]
    wa = _row_sums(rarity.idf(df_a, in_run, counted), content_a[1])[a_rows]
    wb = _row_sums(rarity.idf(df_b, 1, counted), content_b[1])[b_rows]
    # a's only words weigh as counted without a, b's without b, shared ones without either.
    rare_inter = shared[:, 0]
    rare_union = (wa - shared[:, 2]) + (wb - shared[:, 1]) + rare_inter
    smaller, larger = np.minimum(na, nb), np.maximum(na, nb)

    skips, _ = intersections(a.csr["skips"], a_rows, b.csr["skips"], b_rows)
    skip_smaller = np.minimum(a.sizes("skips")[a_rows], b.sizes("skips")[b_rows])

    jaccard = _ratio(inter, na + nb - inter)
    own = jaccard.copy()
    quoting = a.quoted[a_rows] | b.quoted[b_rows]
    if quoting.any():
        own_inter, _ = intersections(a.csr["own"], a_rows[quoting], b.csr["own"], b_rows[quoting])
        own[quoting] = _ratio(own_inter, a.sizes("own")[a_rows[quoting]]
                              + b.sizes("own")[b_rows[quoting]] - own_inter)

    numbers_inter, _ = intersections(a.csr["numbers"], a_rows, b.csr["numbers"], b_rows)
    numbers_union = a.sizes("numbers")[a_rows] + b.sizes("numbers")[b_rows] - numbers_inter
    numbers = np.where(numbers_union > 0, _ratio(numbers_inter, numbers_union), 1.0)
    number_difference = _ratio(numbers_union - numbers_inter, na + nb - 2 * inter)
    shared_numbers = _ratio(numbers_inter, inter)

    features = np.stack([
        jaccard,
        _ratio(inter, smaller),
        _ratio(smaller, larger),
        _ratio(rare_inter, rare_union),
        _ratio(skips, skip_smaller),
        own,
        numbers,
        number_difference,
        shared_numbers,
        inter - numbers_inter,
        a.quoted[a_rows] & b.quoted[b_rows],
    ], axis=1)
    return features, smaller


def _ratio(numerator, denominator) -> np.ndarray:
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    return np.where(denominator > 0, numerator / np.maximum(denominator, 1e-12), 0.0)


def _row_sums(weights: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The sum of each CSR row's weights, each row summed on its own (a difference of prefix
    sums would round with the rows before it: a pair's evidence would depend on which other
    pairs it is judged with)."""
    if len(offsets) < 2:
        return np.zeros(0)
    padded = np.append(np.asarray(weights, dtype=np.float64), 0.0)
    sums = np.add.reduceat(padded, offsets[:-1])
    sums[offsets[1:] == offsets[:-1]] = 0.0  # (reduceat gives an empty row the next value)
    return sums


@dataclass(frozen=True)
class Verifier:
    """score = sigmoid(sum_k f_k * ((1 - t) * short_k + t * long_k) + (1 - t) * bias_short
    + t * bias_long), t = size_position(smaller content set)."""

    short: np.ndarray  # per feature, >= 0
    long: np.ndarray
    bias_short: float
    bias_long: float
    size_lo: int  # t = 0 at or below this many content words, 1 at or above size_hi
    size_hi: int

    @classmethod
    def from_dict(cls, model: dict) -> Verifier:
        if tuple(model["features"]) != FEATURES:
            raise ValueError(f"verifier model features {model['features']} are not {FEATURES}")
        short, long = np.asarray(model["short"], np.float64), np.asarray(model["long"], np.float64)
        if (short < 0).any() or (long < 0).any():
            raise ValueError("verifier model weights must be non-negative")
        return cls(short, long, float(model["bias_short"]), float(model["bias_long"]),
                   int(model["size_lo"]), int(model["size_hi"]))

    def size_position(self, smaller: np.ndarray) -> np.ndarray:
        lo, hi = math.log2(1 + self.size_lo), math.log2(1 + self.size_hi)
        return np.clip((np.log2(1 + np.asarray(smaller, np.float64)) - lo) / (hi - lo), 0, 1)

    def score(self, features: np.ndarray, smaller: np.ndarray) -> np.ndarray:
        """The probability-like score in [0, 1] of each pair (float32)."""
        t = self.size_position(smaller)
        # Feature by feature, elementwise: a pair's score must not depend on which pairs it
        # is scored with (a matrix product's summation order does, with the batch's size).
        short = np.zeros(len(features))
        long = np.zeros(len(features))
        for k in range(len(FEATURES)):
            short += features[:, k] * self.short[k]
            long += features[:, k] * self.long[k]
        logit = short * (1 - t) + long * t + self.bias_short * (1 - t) + self.bias_long * t
        return (1 / (1 + np.exp(-logit))).astype(np.float32)


@lru_cache(maxsize=4)
def load_verifier(path: Path = MODEL_PATH) -> Verifier:
    return Verifier.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def are_copies(score: np.ndarray, features: np.ndarray, same_document: np.ndarray,
               settings: DedupSettings) -> np.ndarray:
    """Which scored pairs count as copies: two paragraphs of different documents (inside one
    document only exact copies count: near repeats there are list items, table rows, recipe
    steps and captions that differ in their key words), whose score reaches `min_score` and
    content-word Jaccard `min_jaccard`, and where numbers are neither most of what differs nor
    most of what is shared (MAX_NUMBER_SHARE) with fewer than `min_words` other words shared:
    lines of one template with another time, date, line number or price are different records,
    and two lines that share a date and little else are not copies. With
    `quotes_need_own_words`, where both paragraphs quote, their own words (outside the
    quotations) must reach `min_jaccard` too: two reports quoting one statement are then not
    copies of each other."""
    evidence = dict(zip(FEATURES + RULE_FEATURES, features.T))
    little_else = (evidence["shared_numbers"] >= MAX_NUMBER_SHARE) \
        & (evidence["shared_words"] < settings.min_words)
    quotes_only = (evidence["both_quote"] > 0) & (evidence["own_jaccard"] < settings.min_jaccard) \
        & settings.quotes_need_own_words
    return ((score >= settings.min_score) & (evidence["jaccard"] >= settings.min_jaccard)
            & (evidence["number_difference"] < MAX_NUMBER_SHARE)
            & ~little_else & ~quotes_only
            & ~same_document)
