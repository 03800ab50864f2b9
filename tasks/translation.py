"""Flag machine-translation and spinning artifacts with named signals and an `mt_score` in [0, 1].

Modern neural MT reads fluently; the damage that round-trip translation and article spinners
leave does not: "$ 1 million", "users. .", "racial profiling ”and", ‘quotes that do not match”,
"Said Arvind Krishna, CEO of IBM, that", "; Stating that", "IMB" beside "IBM", words merged
where a link was dropped ("own.twoeastern"), a sentence that starts in lower case after a full
stop. Each signal has a weight (the chance that a paragraph showing it is machine-made);
a paragraph's score is 1 - prod(1 - weight) over its hits.

A document's score weighs the evidence against its length, so one odd paragraph in a long
article does not make it a translated article: with E = sum of -ln(1 - paragraph score) over
its content paragraphs and W its words, score = 1 - exp(-(E * 1000 / (W + 600)) / 1.6).
The weights and constants are first estimates from the seed articles, to be calibrated on
labelled data.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict

import pyarrow as pa

from tasks.settings import TranslationSettings

WEIGHTS = {
    "currency_space": 0.6,
    "doubled_punct": 0.5,
    "space_before_punct": 0.4,
    "quote_spacing": 0.5,
    "quote_mismatch": 0.5,
    "said_that": 0.6,
    "semicolon_capital": 0.3,
    "merged_words": 0.4,
    "lowercase_sentence_start": 0.4,
    "acronym_anagram": 0.5,  # document level, attributed to the paragraphs with the rarer form
}
_DOC_PRIOR_WORDS = 600
_DOC_SCALE = 1.6

_CURRENCY_SPACE = re.compile(r"[$€£¥₹]\s+\d")
_DOUBLED_PUNCT = re.compile(r"\w[.,;:!?]\s+[.,;:](?=\s|$)(?!\s*\.)")
_SPACE_BEFORE_PUNCT = re.compile(r"[^\W\d_]\s+[,.](?=\s|$)(?!\s+\.)")  # not ". . ."
_QUOTE_SPACING = re.compile(r"\s[”]\w|[.,!?]\s+”|“\s")
_SAID_THAT = re.compile(r"\b[Ss]aid\s+[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*)*,[^.;]{0,200},\s+that\b")
_SEMICOLON_CAPITAL = re.compile(
    r";\s+(Stating|Saying|Adding|Noting|However|And|But|The|This|That|These|It|They|We|He|She|"
    r"Although|While|Which|According)\b"
)
_MERGED = re.compile(r"(?<![/@.\w])([a-z]{2,})\.([a-z]{3,})\b(?!\.\w|/|@)")
_NOT_MERGED_TAIL = frozenset(
    ["com", "org", "net", "edu", "gov", "info", "html", "htm", "php", "asp", "aspx", "jsp", "pdf", "jpg", "jpeg", "png", "gif", "svg", "mp3", "mp4", "txt", "csv", "json", "xml", "doc", "docx", "xls", "xlsx", "zip", "js", "css", "io", "biz", "co", "uk", "de", "fr", "es", "it", "nl", "ru", "cn", "jp", "py", "exe"]
)
_LOWER_START = re.compile(r"\b([a-z]{2,})\.\s+([a-z]{2,})\b")
_ABBREVIATIONS = frozenset(
    ["etc", "inc", "ltd", "co", "corp", "approx", "vs", "al", "jr", "sr", "dr", "mr", "mrs", "ms", "st", "no", "nos", "vol", "pp", "ca", "cf", "fig", "figs", "dept", "gov", "univ", "min", "max", "sec", "hr", "hrs", "est", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "op", "ed", "eds", "resp", "incl", "excl", "esp", "avg", "ft", "lb", "lbs", "oz", "km", "cm", "mm", "kg", "mg", "ml", "pm", "am", "ph"]
)
_ACRONYM = re.compile(r"\b[A-Z]{3,5}\b")
_WORD = re.compile(r"\w+")


def paragraph_signals(text: str) -> list[str]:
    """Names of the signals in `text`, one entry per hit."""
    hits: list[str] = []
    hits += ["currency_space"] * len(_CURRENCY_SPACE.findall(text))
    hits += ["doubled_punct"] * len(_DOUBLED_PUNCT.findall(text))
    hits += ["space_before_punct"] * len(_SPACE_BEFORE_PUNCT.findall(text))
    hits += ["quote_spacing"] * len(_QUOTE_SPACING.findall(text))
    if _quotes_mismatched(text):
        hits.append("quote_mismatch")
    hits += ["said_that"] * len(_SAID_THAT.findall(text))
    hits += ["semicolon_capital"] * len(_SEMICOLON_CAPITAL.findall(text))
    hits += ["merged_words"] * sum(
        1 for _, tail in _MERGED.findall(text) if tail not in _NOT_MERGED_TAIL
    )
    hits += ["lowercase_sentence_start"] * sum(
        1 for word, _ in _LOWER_START.findall(text) if word not in _ABBREVIATIONS
    )
    return hits


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


def score_hits(hits: list[str]) -> float:
    keep = 1.0
    for name in hits:
        keep *= 1.0 - WEIGHTS[name]
    return 1.0 - keep


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


def document_score(paragraph_scores: list[float], words: int) -> float:
    evidence = sum(-math.log(max(1.0 - s, 1e-9)) for s in paragraph_scores)
    rate = evidence * 1000.0 / (words + _DOC_PRIOR_WORDS)
    return 1.0 - math.exp(-rate / _DOC_SCALE)


def flag_translation(paragraphs: pa.Table, settings: TranslationSettings) -> tuple[pa.Table, pa.Table]:
    """Add `mt_score` and `mt_signals` to paragraphs; return them with a per-document table
    (doc_id, mt_score, mt_signals) aggregated over each document's content paragraphs
    (boilerplate excluded when `boilerplate_rule` is present)."""
    texts = paragraphs["text"].to_pylist()
    doc_ids = paragraphs["doc_id"].to_pylist()
    rules = (paragraphs["boilerplate_rule"].to_pylist()
             if "boilerplate_rule" in paragraphs.column_names else [None] * len(texts))
    hits = [paragraph_signals(t) for t in texts]

    # Document-level signal, attributed to paragraphs; documents are contiguous runs of rows.
    by_doc: dict[str, list[int]] = defaultdict(list)
    for row, doc_id in enumerate(doc_ids):
        by_doc[doc_id].append(row)
    for rows in by_doc.values():
        content = [r for r in rows if rules[r] is None]
        for local, n in _acronym_anagrams([texts[r] for r in content]).items():
            hits[content[local]] += ["acronym_anagram"] * n

    scores = [score_hits(h) for h in hits]
    doc_rows = {"doc_id": [], "mt_score": [], "mt_signals": []}
    for doc_id, rows in by_doc.items():
        content = [r for r in rows if rules[r] is None]
        words = sum(len(_WORD.findall(texts[r])) for r in content)
        doc_rows["doc_id"].append(doc_id)
        doc_rows["mt_score"].append(document_score([scores[r] for r in content], words))
        doc_rows["mt_signals"].append(sorted({name for r in content for name in hits[r]}))
    paragraphs = (paragraphs.append_column("mt_score", pa.array(scores, type=pa.float32()))
                  .append_column("mt_signals", pa.array([sorted(set(h)) for h in hits],
                                                        type=pa.list_(pa.string()))))
    documents = pa.Table.from_pydict(doc_rows, schema=pa.schema([
        ("doc_id", pa.string()), ("mt_score", pa.float32()), ("mt_signals", pa.list_(pa.string())),
    ]))
    return paragraphs, documents
