"""Flag machine-translation and spinning artifacts with named signals and an `mt_score` in [0, 1].

Two kinds of evidence, added as log-odds:

- Rules, one regex each, named in `mt_signals`: the damage that round-trip translation and
  article spinners leave and careful human text does not: "$ 1 million", "users. .",
  "racial profiling ”and", "dialogue. ”", ‘quotes that do not match”,
  "Said Arvind Krishna, CEO of IBM, that", "; Stating that", "IMB" beside "IBM", words merged
  where a link was dropped ("own.twoeastern"), a sentence that starts in lower case. Each rule's weight (RULE_LOGODDS)
  follows how often it fires on round-trip translations against human text (PAN13 sources, WMT
  original English and human translations; see docs/benchmarks/machine-translation.md): loose punctuation, which scraped
  human pages show as often as translations do, counts little.
- Word patterns (tasks/shard/translation_style.py), for paragraphs in English (`lang` == "en", or no
  `lang` column): a small logistic regression over function words and word classes, shrunk for
  short paragraphs. Named `word_patterns` in `mt_signals` when it alone reaches the threshold.

The rules were measured on English, and other languages' typography is not damage ("€ 9,99",
"US $ 2.400,00", German „...“ closing with the glyph English opens with, French « ... »,
"bzw. die"): where a paragraph's `lang` or its document's language is not English, the rules on
English words, numbers, abbreviations and casing (_ENGLISH_ONLY) do not apply and the quote
rules read quotes by the languages' own pairs (_quote_faults). Without a `lang` column every
paragraph is English.

A paragraph's score is sigmoid(evidence - offset), the offset being the prior log-odds
against machine translation (3: a paragraph with no evidence scores 0.05). A document is scored from its content paragraphs (boilerplate
excluded) so that one odd paragraph does not make a translated article: rule hits as a rate,
log-odds per 1,000 words with 600 words of prior text, plus word patterns when the word-weighted
mean z of its English paragraphs is above the model's `document_center` (`document_logit`).
"""

from __future__ import annotations

import math
import re
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks import reasons, schema
from tasks.settings import TranslationSettings
from tasks.shard.boilerplate import content_mask
from tasks.shard.language import UNDETERMINED, content_or_all, document_languages
from tasks.shard.translation_style import WordPatterns, default_word_patterns, load_model

# Log-odds a hit adds, following how often each rule fires on round-trip translations against
# human text (benchmarks/evaluation/mt_eval.py prints the rates; the table is in
# docs/benchmarks/machine-translation.md). said_that, quote_mismatch and acronym_anagram never
# fire on the evaluation data: their weights come from the seed articles, where they are the
# spinner's work.
RULE_LOGODDS = {
    reasons.CURRENCY_SPACE: 3.0,
    reasons.SAID_THAT: 3.0,
    reasons.QUOTE_GLUED: 3.0,
    reasons.QUOTE_MISMATCH: 2.5,
    reasons.SEMICOLON_CAPITAL: 2.5,
    reasons.ACRONYM_ANAGRAM: 2.0,  # document level: the paragraphs with the rarer form
    reasons.QUOTE_SPACING: 1.5,
    reasons.LOWERCASE_SENTENCE_START: 1.0,
    reasons.DOUBLED_PUNCT: 0.7,
    reasons.MERGED_WORDS: 0.3,
    reasons.SPACE_BEFORE_PUNCT: 0.2,
}
# Loose punctuation: rare in edited text (WMT) but as common in scraped human pages (PAN13
# sources; docs/benchmarks/machine-translation.md) as in translations, because removing markup
# leaves the same traces ("windows, , and", "phased in. voluntary programs"). Together they
# count at most this much.
_LOOSE_PUNCTUATION = frozenset(
    [reasons.LOWERCASE_SENTENCE_START, reasons.DOUBLED_PUNCT, reasons.MERGED_WORDS,
     reasons.SPACE_BEFORE_PUNCT])
_LOOSE_PUNCTUATION_CAP = 1.5
ENGLISH = "en"  # the language the rules were measured on
# Documents: rule log-odds per 1,000 words, with this many words of prior (human) text.
_DOC_PRIOR_WORDS = 600
_DOC_RULE_RATE = 1000.0

# "$ 1 million"; not an amount written with a decimal comma ("US $ 2.400,00", "$ 1,5"), which is
# a European writer's number format (Indian "₹ 1,00,000" still counts).
_CURRENCY_SPACE = re.compile(r"[$€£¥₹]\s+\d(?![\d.]*,\d{1,2}(?!\d|[.,]\d))")
_DOUBLED_PUNCT = re.compile(r"\w[.,;:!?]\s+[.,;:](?=\s|$)(?!\s*\.)")
# French sets a space before ; and : ("etc. ;"): only . and , count there.
_DOUBLED_PUNCT_SPACED = re.compile(r"\w[.,;:!?]\s+[.,](?=\s|$)(?!\s*\.)")
_SPACE_BEFORE_PUNCT = re.compile(r"(?<=[^\W\d_])\s+[,.](?=\s|$)(?!\s+\.)")  # not ". . ."
_QUOTE_GLUED = re.compile(r"\s”\w")  # a closing quote moved onto the next word
_QUOTE_SPACING = re.compile(r"[.,!?]\s+”|“\s")
_SAID_THAT = re.compile(r"\b[Ss]aid\s+[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*)*,[^.;]{0,200},\s+that\b")
_SEMICOLON_CAPITAL = re.compile(
    r";\s+(Stating|Saying|Adding|Noting|However|And|But|The|This|That|These|It|They|We|He|She|"
    r"Although|While|Which|According)\b"
)
_MERGED = re.compile(r"(?<![/@.\w])([a-z]{2,})\.([a-z]{3,})\b(?!\.\w|/|@)")
_NOT_MERGED_TAIL = frozenset(
    ["com", "org", "net", "edu", "gov", "info", "html", "htm", "php", "asp", "aspx", "jsp", "pdf",
     "jpg", "jpeg", "png", "gif", "svg", "mp3", "mp4", "txt", "csv", "json", "xml", "doc", "docx",
     "xls", "xlsx", "zip", "js", "css", "io", "biz", "co", "uk", "de", "fr", "es", "it", "nl",
     "ru", "cn", "jp", "py", "exe"]
)
_LOWER_START = re.compile(r"\b([a-z]{2,})\.\s+([a-z]{2,})\b")
_ABBREVIATIONS = frozenset(
    ["etc", "inc", "ltd", "co", "corp", "approx", "vs", "al", "jr", "sr", "dr", "mr", "mrs", "ms",
     "st", "no", "nos", "vol", "pp", "ca", "cf", "fig", "figs", "dept", "gov", "univ", "min",
     "max", "sec", "hr", "hrs", "est", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
     "sept", "oct", "nov", "dec", "op", "ed", "eds", "resp", "incl", "excl", "esp", "avg", "ft",
     "lb", "lbs", "oz", "km", "cm", "mm", "kg", "mg", "ml", "pm", "am", "ph"]
)
_ACRONYM = re.compile(r"\b[A-Z]{3,5}\b")
_WORD = re.compile(r"\w+")

def _count(pattern: re.Pattern) -> Callable[[str], int]:
    return lambda text: len(pattern.findall(text))


def _merged_words(text: str) -> int:
    return sum(1 for _, tail in _MERGED.findall(text) if tail not in _NOT_MERGED_TAIL)


def _lowercase_starts(text: str) -> int:
    return sum(1 for word, _ in _LOWER_START.findall(text) if word not in _ABBREVIATIONS)


def _low_nine_or(count: Callable[[str], int], fault: int) -> Callable[[str], int]:
    """An English quote rule, except in a paragraph that quotes with „: English typeset the
    German way (translated from German, or writing about it: "„Wurde“ is the past tense of
    „werden“"), whose “ closes. There the fault-th of _quote_faults with German pairs."""
    def rule(text: str) -> int:
        if "„" in text:
            return int(_quote_faults(text, _GERMAN_QUOTES)[fault])
        return count(text)
    return rule


def _said_that(text: str) -> int:
    return len(_SAID_THAT.findall(text)) if "aid " in text else 0


# Python's Unicode \s spelled out for RE2 (Arrow's regex engine), whose \s is ASCII only.
_SPACE = "[" + "".join(f"\\x{{{c:x}}}" for c in range(sys.maxunicode + 1) if chr(c).isspace()) + "]"

# Each rule: its name, a necessary condition for a hit in RE2 (implied by the rule's regex:
# a paragraph that does not match it has no hit), and the count of hits in one text.
# rule_hits runs the conditions over a whole column in one pass each and the Python regexes
# only where they match (a few percent of web paragraphs).
_RULES: list[tuple[str, str, Callable[[str], int]]] = [
    (reasons.CURRENCY_SPACE, r"[$€£¥₹]", _count(_CURRENCY_SPACE)),
    (reasons.DOUBLED_PUNCT, r"[.,;:!?]" + _SPACE + r"+[.,;:]", _count(_DOUBLED_PUNCT)),
    (reasons.SPACE_BEFORE_PUNCT, _SPACE + r"[,.]", _count(_SPACE_BEFORE_PUNCT)),
    # an English paragraph that quotes with „ is read with German pairs (_low_nine_or)
    (reasons.QUOTE_GLUED, _SPACE + "”|„", _low_nine_or(_count(_QUOTE_GLUED), 1)),
    (reasons.QUOTE_SPACING, r"[.,!?]" + _SPACE + "+”|“" + _SPACE + "|„",
     _low_nine_or(_count(_QUOTE_SPACING), 0)),
    # a mismatch needs a ‘ before a ” or ’ (see _quotes_mismatched)
    (reasons.QUOTE_MISMATCH, r"(?s)‘.*[”’]|„",
     _low_nine_or(lambda text: int(_quotes_mismatched(text)), 2)),
    (reasons.SAID_THAT, r"[Ss]aid" + _SPACE + r"+[A-Z]", _said_that),
    (reasons.SEMICOLON_CAPITAL, ";" + _SPACE, _count(_SEMICOLON_CAPITAL)),
    (reasons.MERGED_WORDS, r"[a-z]\.[a-z]", _merged_words),
    (reasons.LOWERCASE_SENTENCE_START, r"[a-z]\." + _SPACE + r"+[a-z]", _lowercase_starts),
]
_MAY_HIT = "|".join(f"(?:{condition})" for _, condition, _ in _RULES)
_MAY_HAVE_ACRONYM = r"[A-Z]{3}"


def paragraph_signals(text: str, lang: str | None = ENGLISH,
                      document_lang: str | None = None) -> list[str]:
    """Names of the rule signals in `text`, one entry per hit, read with the conventions of its
    language and its document's language (`rules_for`)."""
    return [name for name, _, count in rules_for(lang, document_lang)[0]
            for _ in range(count(text))]


def _quotes_mismatched(text: str) -> bool:
    """A quotation opened with one kind of curly quote and closed with the other: ‘...” or “...’.
    ’ between letters is an apostrophe, not a quote."""
    stack: list[str] = []
    for i, ch in enumerate(text):
        if ch == "“":
            stack.append("“")
        elif ch == "‘" and not (i and text[i - 1].isalpha()):
            stack.append("‘")
        elif ch == "”":
            if stack and stack[-1] == "‘":
                return True
            if stack:
                stack.pop()
        elif ch == "’":
            inside_word = i and text[i - 1].isalnum() and i + 1 < len(text) and text[i + 1].isalnum()
            if inside_word or not stack:
                continue
            if stack[-1] == "“":
                if "‘" not in stack:  # an apostrophe after a word ("users’") inside a quote
                    continue
                return True
            stack.pop()
    return False


# Other languages. The rules and their weights are English: measured on English text, they
# read other languages' conventions as damage ("€ 9,99", „...“ closing with the glyph English
# opens with, "bzw. die"). Where the paragraph's language or its document's is not English, the
# rules on English words, number formats, abbreviations and casing do not apply, and the quote
# rules read quotes by the language's own pairs (_quote_faults).
_ENGLISH_ONLY = frozenset(
    [reasons.CURRENCY_SPACE, reasons.SAID_THAT, reasons.SEMICOLON_CAPITAL,
     reasons.LOWERCASE_SENTENCE_START])
_QUOTE_RULES = frozenset([reasons.QUOTE_GLUED, reasons.QUOTE_MISMATCH, reasons.QUOTE_SPACING])
_DOUBLE_QUOTES = "“”„‟«»"
_SINGLE_QUOTES = "‘’‚‛‹›"
_CURLY_QUOTES = "“”„‟‘’‚‛"
_QUOTE_GLYPH = re.compile(f"[{_DOUBLE_QUOTES}{_SINGLE_QUOTES}]")
# (opening, closing) pairs. Web text in any language also uses the English pairs, German low
# quotes, and often one glyph for both ends (”...”: the Finnish and Swedish convention, and
# keyboards elsewhere).
_WEB_PAIRS = frozenset([("“", "”"), ("‘", "’"), ("”", "”"), ("„", "“"), ("„", "”"), ("‚", "‘"),
                        ("‚", "’")])
_GUILLEMETS = frozenset([("«", "»"), ("‹", "›")])
_LOW_HIGH = frozenset([("„", "“"), ("‚", "‘"), ("„", "”"), ("»", "«"), ("›", "‹")]) | _GUILLEMETS
_LOW_RIGHT = frozenset([("„", "”"), ("‚", "’"), ("»", "«"), ("›", "‹")]) | _GUILLEMETS
_NORDIC = frozenset([("’", "’"), ("»", "»")])
_QUOTE_PAIRS = {lang: pairs for langs, pairs in [
    # „...“ ‚...‘ (German, Czech, ...), with »...« in print and Swiss «...»
    ("de cs sk sl hr sr bs lt lv et is bg mk ru uk be ka sq lb da", _LOW_HIGH),
    ("pl nl hu ro", _LOW_RIGHT),  # „...”
    ("fr es it pt ca gl eu oc el tr nb nn no", _GUILLEMETS),
    ("fi sv", _NORDIC),  # ”...”, ’...’, »...»
] for lang in langs.split()}
_ANY_PAIRS = frozenset().union(*_QUOTE_PAIRS.values())  # a language not listed: any of them
_SPACED_QUOTES = frozenset(["fr"])  # « texte », “ texte ” and "etc. ;": spaces by the rules
_OPENING_BRACKETS = "([{<–—/"
_WORD_CHAR = re.compile(r"\w")


@dataclass(frozen=True)
class _Quotes:
    """How a language writes quotes: its (opening, closing) pairs, and whether the inside of a
    quotation is spaced."""
    pairs: frozenset[tuple[str, str]]
    spaced: bool

    @cached_property
    def openers(self) -> frozenset[str]:
        return frozenset(o for o, _ in self.pairs)

    @cached_property
    def closers(self) -> frozenset[str]:
        return frozenset(c for _, c in self.pairs)

    @cached_property
    def unspaced(self) -> str:
        """The glyphs a space inside the quotation is a fault next to: curly quotes, unless the
        language spaces them; never guillemets, spaced in French and Swiss print and used as
        arrows before links ("» Schlagzeilen")."""
        return "" if self.spaced else _CURLY_QUOTES


_GERMAN_QUOTES = _Quotes(_WEB_PAIRS | _QUOTE_PAIRS["de"], spaced=False)


def _quote_faults(text: str, quotes: _Quotes) -> tuple[int, int, bool]:
    """(spacing, glued, mismatched) of the quotes in `text` read with `quotes`' pairs, the
    damage the English quote rules look for: an opening quote followed by a space or a closing
    one apart from the sentence's punctuation ("„ Nein“", "Nein. “"; not in spaced languages),
    a closing quote moved onto the next word ("Kontrolle ”und"), a quotation opened with a
    single quote and closed with a double one or the other way round (‚...“). A glyph that can
    both open and close (German “) closes the innermost quotation when it pairs with its
    opening; else it opens after a space, an opening bracket or an opening quote, or at the
    start before a word, and else closes a quotation opened before (in an earlier paragraph)."""
    stack: list[str] = []
    spacing = glued = 0
    mismatched = False
    opened_at = -2  # where the last opening quote was
    for match in _QUOTE_GLYPH.finditer(text):
        i = match.start()
        glyph = text[i]
        before = text[i - 1] if i else ""
        space_before = before.isspace()
        space_after = text[i + 1:i + 2].isspace()
        if glyph in _SINGLE_QUOTES and before.isalnum() and text[i + 1:i + 2].isalnum():
            continue  # an apostrophe: don’t, rock’n’roll
        closes = bool(stack) and (stack[-1], glyph) in quotes.pairs
        if not closes:
            if glyph in _SINGLE_QUOTES and before.isalnum():
                continue  # an apostrophe after a word: users’
            if glyph in quotes.openers and (
                    glyph not in quotes.closers or space_before or opened_at == i - 1
                    or (before in _OPENING_BRACKETS if before else not space_after)):
                stack.append(glyph)
                opened_at = i
                spacing += int(space_after and glyph in quotes.unspaced)
                continue
            if glyph not in quotes.closers:
                continue
            # A closing quote that does not close the innermost quotation: it closes an outer
            # one (the inner one was closed with a glyph not read as a quote: ' ´), or else,
            # of the other level, it is the mismatch.
            outer = [k for k, opening in enumerate(stack) if (opening, glyph) in quotes.pairs]
            if outer:
                del stack[outer[-1] + 1:]
            elif stack and (stack[-1] in _SINGLE_QUOTES) != (glyph in _SINGLE_QUOTES):
                mismatched = True
        if stack and (stack[-1], glyph) in quotes.pairs:
            stack.pop()
        if space_before and glyph in _DOUBLE_QUOTES and _WORD_CHAR.match(text, i + 1):
            glued += 1  # not ’: "anni ’80", "’tis" are elisions
        elif space_before and glyph in quotes.unspaced and _after_punctuation(text, i):
            spacing += 1
    return spacing, glued, mismatched


_Rule = tuple[str, str, Callable[[str], int]]
_SINGLE_CLASS, _DOUBLE_CLASS = f"[{_SINGLE_QUOTES}]", f"[{_DOUBLE_QUOTES}]"
_CURLY_CLASS = f"[{_CURLY_QUOTES}]"


def rules_for(lang: str | None, document_lang: str | None) -> tuple[list[_Rule], str]:
    """The rules for a paragraph in `lang` in a document in `document_lang`, and the RE2
    condition of any of them hitting (see _quotes_of)."""
    quotes = _quotes_of(lang, document_lang)
    return (_RULES, _MAY_HIT) if quotes is None else _other_language_rules(quotes)


def _quotes_of(lang: str | None, document_lang: str | None) -> _Quotes | None:
    """None (the English rules) when both languages are English or undetermined; else the
    quote conventions of both, so that only what is a fault in both languages counts (a short
    German line detected as another language keeps its German document's conventions)."""
    langs = frozenset([lang, document_lang]) - {None, UNDETERMINED}
    if langs <= {ENGLISH}:
        return None
    pairs = _WEB_PAIRS.union(*(_QUOTE_PAIRS.get(x, _ANY_PAIRS) for x in langs - {ENGLISH}))
    return _Quotes(pairs, bool(langs & _SPACED_QUOTES))


@cache
def _other_language_rules(quotes: _Quotes) -> tuple[list[_Rule], str]:
    replaced: dict[str, _Rule] = {
        reasons.QUOTE_GLUED: (
            reasons.QUOTE_GLUED, _SPACE + _DOUBLE_CLASS,
            lambda text: _quote_faults(text, quotes)[1]),
        reasons.QUOTE_MISMATCH: (
            reasons.QUOTE_MISMATCH,
            f"(?s){_SINGLE_CLASS}.*{_DOUBLE_CLASS}|{_DOUBLE_CLASS}.*{_SINGLE_CLASS}",
            lambda text: int(_quote_faults(text, quotes)[2])),
        reasons.QUOTE_SPACING: (
            reasons.QUOTE_SPACING,
            _CURLY_CLASS + _SPACE + r"|[.,!?]" + _SPACE + "+" + _CURLY_CLASS,
            lambda text: _quote_faults(text, quotes)[0]),
    }
    if quotes.spaced:
        del replaced[reasons.QUOTE_SPACING]
        replaced[reasons.DOUBLED_PUNCT] = (reasons.DOUBLED_PUNCT,
                                           r"[.,;:!?]" + _SPACE + r"+[.,]",
                                           _count(_DOUBLED_PUNCT_SPACED))
    rules = [replaced.get(name, (name, condition, count)) for name, condition, count in _RULES
             if name not in _ENGLISH_ONLY and (name in replaced or name not in _QUOTE_RULES)]
    return rules, "|".join(f"(?:{condition})" for _, condition, _ in rules)


def _after_punctuation(text: str, i: int) -> bool:
    """Whether the spaces before text[i] follow . , ! or ? ("dialogue. ”")."""
    j = i - 1
    while j >= 0 and text[j].isspace():
        j -= 1
    return j >= 0 and text[j] in ".,!?"


def count_words(text: str) -> int:
    return len(_WORD.findall(text))


def rule_evidence(hits: list[str]) -> float:
    """Summed log-odds of rule hits: repeats of one rule add less and less, w * (1 + ln n), as
    they are not independent evidence (a spinner has its habits, a scraper that drops links drops
    them all over the page); loose punctuation counts at most _LOOSE_PUNCTUATION_CAP."""
    counts: dict[str, int] = {}
    for name in hits:
        counts[name] = counts.get(name, 0) + 1
    strong = loose = 0.0
    for name, n in counts.items():
        weight = RULE_LOGODDS[name] * (1.0 + math.log(n))
        if name in _LOOSE_PUNCTUATION:
            loose += weight
        else:
            strong += weight
    return strong + min(loose, _LOOSE_PUNCTUATION_CAP)


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def _acronym_anagrams(texts: list[str]) -> dict[int, int]:
    """Paragraph index -> hits of the rarer spelling where a document writes one acronym two
    ways with the same letters (IBM / IMB): a typo a spinner makes and a human editor fixes."""
    seen: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for index, text in enumerate(texts):
        for acronym in _ACRONYM.findall(text):
            seen["".join(sorted(acronym))][acronym].append(index)
    hits: dict[int, int] = defaultdict(int)
    for spellings in seen.values():
        if len(spellings) < 2:
            continue
        ranked = sorted(spellings.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        for _, indexes in ranked[1:]:
            for index in indexes:
                hits[index] += 1
    return hits


def document_logit(patterns: WordPatterns | None, english: list[tuple[int, float]],
                   rule_logodds: float, words: int, offset: float) -> float:
    """`english`: (words, z) of the document's English content paragraphs; `rule_logodds`: the
    summed weights of the rule hits in all its content paragraphs, `words` their words."""
    return _document_logit(patterns, sum(n for n, _ in english),
                           sum(n * z for n, z in english), rule_logodds, words, offset)


def _document_logit(patterns: WordPatterns | None, english_words: int, weighted_z: float,
                    rule_logodds: float, words: int, offset: float) -> float:
    """document_logit from sums: `weighted_z` is the sum of words * z over the English
    paragraphs, added in row order."""
    pattern_logodds = 0.0
    if patterns is not None and english_words:
        pattern_logodds = patterns.document_evidence(english_words, weighted_z / english_words)
    rules = rule_logodds * _DOC_RULE_RATE / (words + _DOC_PRIOR_WORDS)
    return pattern_logodds + rules - offset


def rule_hits(texts: pa.Array, langs: pa.Array | list | None = None,
              document_langs: pa.Array | list | None = None) -> list[list[str]]:
    """paragraph_signals of every text (English when `langs` is None; `document_langs`: each
    row's document language): the rows are grouped by the rules their languages call for, and in
    each group a rule's regex runs only on the texts that meet its necessary condition."""
    hits: list[list[str]] = [[] for _ in range(len(texts))]
    for (rules, may_hit), rows in _rule_groups(len(texts), langs, document_langs):
        part = texts if rows is None else texts.take(pa.array(rows))
        maybe = np.flatnonzero(_matches(part, may_hit))
        if not len(maybe):
            continue
        candidates = part.take(pa.array(maybe))
        strings = candidates.to_pylist()
        owner = maybe if rows is None else rows[maybe]
        for name, condition, count in rules:
            for i in np.flatnonzero(_matches(candidates, condition)).tolist():
                hits[owner[i]] += [name] * count(strings[i])
    return hits


def _rule_groups(n: int, langs, document_langs) -> list[tuple[tuple[list[_Rule], str],
                                                                np.ndarray | None]]:
    """(rules_for's answer, the rows it is for, ascending; None: all rows)."""
    if langs is None:
        return [(rules_for(ENGLISH, None), None)]
    if document_langs is None:
        document_langs = pa.nulls(n, pa.string())
    pairs, inverse = _distinct_pairs(langs, document_langs)
    rows_of: dict[_Quotes | None, list[int]] = {}
    for number, pair in enumerate(pairs):
        rows_of.setdefault(_quotes_of(*pair), []).append(number)
    if len(rows_of) == 1:
        return [(rules_for(*pairs[0]), None)]
    out = []
    for numbers in rows_of.values():
        rows = np.flatnonzero(np.isin(inverse, numbers))
        out.append((rules_for(*pairs[numbers[0]]), rows))
    return out


def _distinct_pairs(langs, document_langs) -> tuple[list[tuple[str | None, str | None]],
                                                     np.ndarray]:
    """The distinct (lang, document lang) pairs of the rows and each row's pair number."""
    codes, names = [], []
    for column in (langs, document_langs):
        array = column if isinstance(column, pa.Array | pa.ChunkedArray) else pa.array(
            list(column), pa.string())
        encoded = pc.dictionary_encode(pa.chunked_array([array]).combine_chunks())
        names.append(encoded.dictionary.to_pylist() + [None])
        codes.append(encoded.indices.fill_null(len(encoded.dictionary)).to_numpy(
            zero_copy_only=False).astype(np.int64))
    keys, inverse = np.unique(codes[0] * len(names[1]) + codes[1], return_inverse=True)
    pairs = [(names[0][k // len(names[1])], names[1][k % len(names[1])]) for k in keys.tolist()]
    return pairs, inverse


def _matches(texts: pa.Array, pattern: str) -> np.ndarray:
    return pc.fill_null(pc.match_substring_regex(texts, pattern), False).to_numpy(
        zero_copy_only=False)


def flag_translation(paragraphs: pa.Table, settings: TranslationSettings,
                     patterns: WordPatterns | None = None) -> tuple[pa.Table, pa.Table]:
    """Add `mt_score` and `mt_signals` to paragraphs; return them with a per-document table
    (doc_id, mt_score, mt_signals) aggregated over each document's content paragraphs
    (boilerplate excluded when `boilerplate_rule` is present). Word patterns apply to English
    paragraphs (`lang` == "en"; all paragraphs when there is no `lang` column); the rules by
    the paragraph's language and its document's (the one covering most characters of its
    content paragraphs, as tasks.shard.language.document_language finds it).

    Column-wise: rules only where a prefilter says they may fire, word patterns for all English
    paragraphs at once (WordPatterns.score_many), documents aggregated with bincount in row
    order; every float is computed as the one-paragraph functions compute it."""
    n = paragraphs.num_rows
    texts = paragraphs["text"].combine_chunks().fill_null("")
    content = content_mask(paragraphs)
    langs = schema.optional_column(paragraphs, "lang")
    if not settings.word_patterns:
        english = np.zeros(n, dtype=bool)
    elif langs is not None:
        english = pc.fill_null(pc.equal(langs, "en"), False).to_numpy(zero_copy_only=False)
    else:
        english = np.ones(n, dtype=bool)
    if patterns is None and english.any():
        patterns = default_word_patterns()
    offset = (patterns.model if patterns is not None else load_model()).offset
    flag_logit = logit(settings.flag_threshold)

    doc_codes = pc.dictionary_encode(paragraphs["doc_id"].combine_chunks())
    doc = doc_codes.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    n_docs = len(doc_codes.dictionary)
    if langs is not None:
        langs = langs.combine_chunks()
        lengths = pc.utf8_length(texts).to_numpy(zero_copy_only=False)
        document_langs, _ = document_languages(doc, n_docs, langs, lengths,
                                               content_or_all(doc, n_docs, content))
        hits = rule_hits(texts, langs, document_langs.take(pa.array(doc)))
    else:
        hits = rule_hits(texts)

    # Document-level signal, attributed to paragraphs: only content paragraphs with a run of
    # three capitals can hold an acronym.
    acronym_rows: dict[int, list[int]] = defaultdict(list)
    for row in np.flatnonzero(content & _matches(texts, _MAY_HAVE_ACRONYM)).tolist():
        acronym_rows[int(doc[row])].append(row)
    for rows in acronym_rows.values():
        for local, count in _acronym_anagrams([texts[r].as_py() for r in rows]).items():
            hits[rows[local]] += [reasons.ACRONYM_ANAGRAM] * count

    evidence = np.zeros(n)
    with_hits = [row for row in range(n) if hits[row]]
    for row in with_hits:
        evidence[row] = rule_evidence(hits[row])
    words = np.zeros(n, dtype=np.int64)
    z = np.zeros(n)
    word_flag = np.zeros(n, dtype=bool)
    en_rows = np.flatnonzero(english)
    if len(en_rows):
        words[en_rows], z[en_rows] = patterns.score_many(texts.take(pa.array(en_rows)))
        word_evidence = patterns.evidence_many(words[en_rows], z[en_rows])
        evidence[en_rows] += word_evidence
        word_flag[en_rows] = word_evidence - offset >= flag_logit
    scores = [sigmoid(x) for x in (evidence - offset).tolist()]
    signals: list[list[str]] = [[]] * n  # shared empty list: rows are only read
    flagged = sorted(set(with_hits) | set(np.flatnonzero(word_flag).tolist()))
    for row in flagged:
        word = {reasons.WORD_PATTERNS} if word_flag[row] else set()
        signals[row] = sorted(set(hits[row]) | word)

    # Documents, from their content paragraphs, sums taken in row order as document_logit does.
    content_rows = np.flatnonzero(content)
    content_texts = texts.take(pa.array(content_rows)).to_pylist()
    doc_words = np.bincount(doc[content_rows], minlength=n_docs,
                            weights=[count_words(t) for t in content_texts])
    en_content = np.flatnonzero(content & english)
    en_words = np.bincount(doc[en_content], weights=words[en_content], minlength=n_docs)
    en_weighted = np.bincount(doc[en_content], weights=words[en_content] * z[en_content],
                              minlength=n_docs)
    doc_hits: dict[int, list[str]] = defaultdict(list)
    doc_signals: dict[int, set[str]] = defaultdict(set)
    for row in flagged:
        if content[row]:
            doc_hits[int(doc[row])] += hits[row]
            doc_signals[int(doc[row])].update(signals[row])
    doc_scores = [sigmoid(_document_logit(patterns, int(en_words[d]), float(en_weighted[d]),
                                          rule_evidence(doc_hits.get(d, [])),
                                          int(doc_words[d]), offset))
                  for d in range(n_docs)]
    doc_rows = {
        "doc_id": doc_codes.dictionary,
        "mt_score": pa.array(doc_scores, type=pa.float32()),
        "mt_signals": pa.array([sorted(doc_signals.get(d, ())) for d in range(n_docs)],
                               type=pa.list_(pa.string())),
    }
    paragraphs = (paragraphs.append_column("mt_score", pa.array(scores, type=pa.float32()))
                  .append_column("mt_signals", pa.array(signals, type=pa.list_(pa.string()))))
    documents = pa.Table.from_pydict(doc_rows, schema=pa.schema([
        ("doc_id", pa.string()), ("mt_score", pa.float32()), ("mt_signals", pa.list_(pa.string())),
    ]))
    return paragraphs, documents
