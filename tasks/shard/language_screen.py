"""The frequent-word screen: which paragraphs are plainly in their document's language.

A paragraph's language can differ from its document's only in a few places (a quotation, a
cookie notice in English on a German page); identifying every paragraph on its own costs a
model call per distinct line. The screen finds the lines that need no call of their own: for
each language it knows, the relative frequencies of that language's most frequent words
(tasks/models/langid-screen.json, counted on the tuning half of lingua's sentences by
benchmarks/training/train_langid_screen.py); a line's evidence for a language is the sum over its
words of log(frequency / floor) where the word is among that language's frequent words (a naive
Bayes log-likelihood against a common floor). A line passes for its document's language when
that language has the most evidence, ahead of every other language by `margin`, from at least
`min_words` of its words. Anything else (another language ahead, too close to call, too few
known words, a language the screen does not know) goes to the language model, line by line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks import MODELS_DIR

SCREEN_MODEL = MODELS_DIR / "langid-screen.json"
# Letters and combining marks: digits, punctuation and symbols say nothing of the language.
WORD_SPLIT = r"[^\p{L}\p{M}]+"


@dataclass(frozen=True)
class Screen:
    languages: tuple[str, ...]
    vocabulary: pa.Array  # the known words (strings)
    starts: np.ndarray  # word i's entries are entries[starts[i]:starts[i + 1]]
    entry_language: np.ndarray  # index into `languages`
    entry_gain: np.ndarray  # log(frequency / floor), > 0
    margin: float
    min_words: int
    short_lead: float

    def index_of(self, language: str) -> int:
        """The language's index in `languages`, -1 when the screen does not know it."""
        try:
            return self.languages.index(language)
        except ValueError:
            return -1


@lru_cache(maxsize=4)
def load_screen(path: str = str(SCREEN_MODEL)) -> Screen:
    model = json.loads(Path(path).read_text(encoding="utf-8"))
    languages = tuple(model["languages"])
    floor = float(model["floor"])
    words = sorted(model["words"])
    starts, entry_language, entry_gain = [0], [], []
    for word in words:
        for language, frequency in model["words"][word]:
            entry_language.append(language)
            entry_gain.append(np.log(frequency / floor))
        starts.append(len(entry_language))
    return Screen(languages, pa.array(words, type=pa.string()), np.asarray(starts, np.int64),
                  np.asarray(entry_language, np.int64), np.asarray(entry_gain, np.float64),
                  float(model["margin"]), int(model["min_words"]),
                  float(model.get("short_lead", 0.0)))


def words_of(texts: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Every text's lower-cased words, flattened, and each word's text index."""
    split = pc.split_pattern_regex(pc.utf8_lower(texts.fill_null("")), WORD_SPLIT)
    flat = pc.list_flatten(split)
    owner = pc.list_parent_indices(split).to_numpy()
    keep = pc.not_equal(flat, "")  # separators at either end leave empty strings
    return pc.filter(flat, keep), owner[keep.to_numpy(zero_copy_only=False)]


@dataclass(frozen=True)
class Evidence:
    """Per text and language: `gain` (the summed evidence) and `hits` (how many of the text's
    words are frequent words of the language); per text: `words`, how many words it has."""

    gain: np.ndarray
    hits: np.ndarray
    words: np.ndarray


def evidence(texts: pa.Array, screen: Screen) -> Evidence:
    """The screen's evidence for every language in each of `texts`."""
    n, n_lang = len(texts), len(screen.languages)
    flat, owner = words_of(texts)
    words = np.bincount(owner, minlength=n)
    ids = pc.index_in(flat, value_set=screen.vocabulary).fill_null(-1).to_numpy()
    found = ids >= 0
    ids, owner = ids[found].astype(np.int64), owner[found]
    # Every (text, entry of its word) pair, then sums per (text, language).
    counts = screen.starts[ids + 1] - screen.starts[ids]
    text_of_entry = np.repeat(owner, counts)
    before = np.cumsum(counts) - counts  # entries of the earlier words
    entries = np.repeat(screen.starts[ids] - before, counts) + np.arange(len(text_of_entry))
    cell = text_of_entry * n_lang + screen.entry_language[entries]
    gain = np.bincount(cell, weights=screen.entry_gain[entries],
                       minlength=n * n_lang).astype(np.float64)  # int when there are none
    hits = np.bincount(cell, minlength=n * n_lang)
    return Evidence(gain.reshape(n, n_lang), hits.reshape(n, n_lang), words)


def passes(found: Evidence, text: np.ndarray, language: np.ndarray, short: np.ndarray,
           screen: Screen) -> np.ndarray:
    """Which rows pass for `language` (per row, an index into the screen's languages; -1: one it
    does not know); row i is text `text[i]` of `found`. A row passes when the language leads
    every other by `margin`, from at least `min_words` of its words, or, for a `short` row with
    words, when no other language leads it by `short_lead`."""
    known = language >= 0
    rows = np.flatnonzero(known)
    t, lang = text[rows], language[rows]
    gain = found.gain[t]
    own = gain[np.arange(len(rows)), lang]
    gain[np.arange(len(rows)), lang] = -np.inf
    other = gain.max(axis=1) if gain.shape[1] > 1 else np.zeros(len(rows))
    plain = (found.hits[t, lang] >= screen.min_words) & (own - other >= screen.margin)
    unopposed = short[rows] & (found.words[t] > 0) & (other - own < screen.short_lead)
    out = np.zeros(len(language), dtype=bool)
    out[rows] = plain | unopposed
    return out
