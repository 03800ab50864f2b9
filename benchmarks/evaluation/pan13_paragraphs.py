"""The PAN13 text-alignment corpus as a paragraph-level near-duplicate task.

Each reused passage and its source passage become two paragraphs; the rest of every source
document that takes part in a case is cut into passages of similar length (split at sentence
ends, 250 to 700 characters) that serve as distractors: other passages of the same documents,
on the same topics. A pair of paragraphs is "right" when the two are, or were made from, one
stretch of a document: their character ranges overlap in the same document (a reused passage
counts as both its own range and its source range), or they share a verbatim run of 12 words
(some source documents are web pages that copy each other).

The suspicious documents are not cut into distractors: the cases file holds a sample of PAN13's
cases, and the suspicious documents carry further reused passages that it does not annotate (a
run that cut them found hundreds of such real copies, which would count as false positives), and
many of them are built on the same host text.

Cases are split into two halves by a hash of their document ids: half 0 is for tuning, half 1 is
held out. Used by neardup_pan13.py and by the training script of the verifier.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

KINDS = ("verbatim", "random", "translation-chain", "summary")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass
class Paragraph:
    text: str
    doc: str
    start: int
    end: int
    origins: list[tuple[str, int, int]] = field(default_factory=list)  # source stretches
    half: int = 0

    def stretches(self) -> list[tuple[str, int, int]]:
        return [(self.doc, self.start, self.end), *self.origins]


@dataclass
class Task:
    paragraphs: list[Paragraph]  # in canonical order: source documents first
    true_pairs: list[tuple[int, int, str, int]]  # (source index, reused index, kind, half)


def _half(*ids: str) -> int:
    return int(hashlib.sha1("|".join(ids).encode()).hexdigest(), 16) % 2


def load_pan13(data_dir: str | Path):
    root = Path(data_dir) / "pan13"
    cases_path, docs_path = root / "cases.jsonl", root / "documents.jsonl.gz"
    if not cases_path.is_file() or not docs_path.is_file():
        sys.exit(f"PAN13 data not found: expected {cases_path} and {docs_path} "
                 "(pass the folder that holds pan13/, e.g. ../shared/eval)")
    cases = [json.loads(line) for line in cases_path.open(encoding="utf-8")]
    docs = {}
    with gzip.open(docs_path, "rt", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            docs[d["id"]] = d["text"]
    return cases, docs


def _one_line(text: str) -> str:
    return " ".join(text.split())


def build_task(data_dir: str | Path, seed: int = 0) -> Task:
    cases, docs = load_pan13(data_dir)
    rng = random.Random(seed)
    by_stretch: dict[tuple[str, int, int], Paragraph] = {}
    reserved: dict[str, list[tuple[int, int]]] = {}
    pairs = []
    for case in cases:
        half = _half(case["suspicious"], case["source"])
        for p in case["passages"]:
            src = (case["source"], p["source_offset"], p["source_offset"] + p["source_length"])
            sus = (case["suspicious"], p["this_offset"], p["this_offset"] + p["this_length"])
            for key in (src, sus):
                if key not in by_stretch:
                    by_stretch[key] = Paragraph(_one_line(docs[key[0]][key[1]:key[2]]), *key,
                                                half=half)
                reserved.setdefault(key[0], []).append((key[1], key[2]))
            by_stretch[sus].origins.append(src)
            pairs.append((src, sus, case["kind"], half))

    for doc in sorted({c["source"] for c in cases}):
        for a, b in _tiles(docs[doc], reserved.get(doc, []), rng):
            by_stretch[(doc, a, b)] = Paragraph(_one_line(docs[doc][a:b]), doc, a, b,
                                                half=_half(doc))

    # Canonical order: source documents before suspicious ones (sources came first), then by
    # document and offset.
    keys = sorted(by_stretch, key=lambda k: (not k[0].startswith("source"), k))
    index = {k: i for i, k in enumerate(keys)}
    paragraphs = [by_stretch[k] for k in keys]
    true_pairs = [(index[s], index[t], kind, half) for s, t, kind, half in pairs]
    return Task(paragraphs, true_pairs)


def _tiles(text: str, reserved: list[tuple[int, int]], rng: random.Random):
    """Cut the parts of `text` outside `reserved` into passages of 250-700 characters, ending
    at sentence ends where possible."""
    cuts = [m.end() for m in _SENTENCE_END.finditer(text)] + [len(text)]
    start = 0
    while start < len(text):
        target = rng.randint(250, 700)
        end = next((c for c in cuts if c - start >= target), len(text))
        blocked = [r for r in reserved if r[0] < end and start < r[1]]
        if blocked:
            start = max(r[1] for r in blocked)
            continue
        if len(text[start:end].strip()) >= 100:
            yield start, end
        start = end


SHARED_RUN_WORDS = 12


def is_right(a: Paragraph, b: Paragraph) -> bool:
    if any(d1 == d2 and s1 < e2 and s2 < e1
           for d1, s1, e1 in a.stretches() for d2, s2, e2 in b.stretches()):
        return True
    return bool(_runs(a.text) & _runs(b.text))


def _runs(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.casefold())
    k = SHARED_RUN_WORDS
    return {tuple(words[i:i + k]) for i in range(len(words) - k + 1)}
