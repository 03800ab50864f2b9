"""Measure flag_translation on labelled data: quality per paragraph, and speed.

    .venv/bin/python benchmarks/evaluation/mt_eval.py ../shared/eval [--web-paragraphs 50000]

DATA_DIR holds pan13/ (cases.jsonl, documents.jsonl.gz), wmt/wmt22_en_human_vs_mt.jsonl.gz and,
for the speed figure, corpus/web_fulltext.jsonl.gz. Each data set is split in two halves by a
hash of the case (PAN13: suspicious|source document) or segment (WMT: pair|seg, so every
translation of a segment falls in one half): the model is trained and calibrated on `tune`
(benchmarks/training/train_mt_model.py); `holdout` checks that this generalises. Both are printed.

Per half it prints: ROC-AUC of mt_score for PAN13 translation-chain passages against their source
passages (each passage one paragraph, whitespace collapsed: the pipeline joins hard-wrapped lines
too), precision and recall at the default threshold (TranslationSettings().flag_threshold), and
the share of WMT22 sentences at or above it: false positives on original English and on human
translations, detections on machine translations. Then how often each rule fires per data set,
and paragraphs per second through flag_translation on one core (with the load average: other
processes on the machine slow it down).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import xxhash

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tasks.settings import TranslationSettings
from tasks.shard.translation import RULE_LOGODDS, flag_translation, paragraph_signals

PAN13_CASES = "pan13/cases.jsonl"
PAN13_DOCUMENTS = "pan13/documents.jsonl.gz"
WMT = "wmt/wmt22_en_human_vs_mt.jsonl.gz"
WEB = "corpus/web_fulltext.jsonl.gz"
WMT_LABELS = ("original_en", "human_translation_en", "machine_translation_en")
PAN13_DOCUMENT_PASSAGES = 5
WMT_DOCUMENT_SENTENCES = 10
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Example:
    half: str    # tune | holdout
    label: str   # pan13: translation | source; wmt: its label
    text: str
    group: str   # PAN13 case or WMT segment: examples that belong together
    source: str = ""  # WMT: pair|label|system, the document stream the sentence belongs to
    order: int = 0    # WMT: segment number


def half_of(key: str) -> str:
    return "tune" if xxhash.xxh64_intdigest(key.encode("utf-8")) % 2 == 0 else "holdout"


def collapse(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def require(data_dir: Path, *relative: str) -> None:
    missing = [r for r in relative if not (data_dir / r).is_file()]
    if missing:
        sys.exit(f"error: evaluation data not found under {data_dir}: {', '.join(missing)} "
                 "(pass the folder that holds pan13/ and wmt/, e.g. ../shared/eval)")


def load_pan13(data_dir: Path) -> list[Example]:
    """Translation-chain passages (label translation) and their source passages (source)."""
    require(data_dir, PAN13_CASES, PAN13_DOCUMENTS)
    with gzip.open(data_dir / PAN13_DOCUMENTS, "rt", encoding="utf-8") as f:
        documents = {r["id"]: r["text"] for r in map(json.loads, f)}
    out = []
    with open(data_dir / PAN13_CASES, encoding="utf-8") as f:
        for case in map(json.loads, f):
            if case["kind"] != "translation-chain":
                continue
            group = f"{case['suspicious']}|{case['source']}"
            half = half_of(group)
            for p in case["passages"]:
                made = documents[case["suspicious"]][p["this_offset"]:p["this_offset"] + p["this_length"]]
                source = documents[case["source"]][p["source_offset"]:p["source_offset"] + p["source_length"]]
                out.append(Example(half, "translation", collapse(made), group))
                out.append(Example(half, "source", collapse(source), group))
    return out


def load_wmt(data_dir: Path) -> list[Example]:
    require(data_dir, WMT)
    out = []
    with gzip.open(data_dir / WMT, "rt", encoding="utf-8") as f:
        for r in map(json.loads, f):
            group = f"{r['pair']}|{r['seg']}"
            out.append(Example(half_of(group), r["label"], r["text"], group,
                               f"{r['pair']}|{r['label']}|{r['system']}", r["seg"]))
    return out


def pseudo_documents(examples: list[Example], size: int) -> list[tuple[str, str, list[str]]]:
    """(half, label, paragraphs): there are no labelled documents, so documents are made of
    `size` paragraphs of one half and label: consecutive WMT segments of one stream (pair, label,
    system; mostly from one news story), or PAN13 passages in file order (unrelated topics)."""
    streams: dict[tuple, list[Example]] = {}
    for e in examples:
        streams.setdefault((e.half, e.label, e.source), []).append(e)
    out = []
    for (half, label, _), members in streams.items():
        members.sort(key=lambda e: e.order)
        for i in range(0, len(members) - size + 1, size):
            out.append((half, label, [e.text for e in members[i:i + size]]))
    return out


def load_web_paragraphs(data_dir: Path, limit: int) -> list[str]:
    """Non-empty lines of real web pages: the paragraphs the pipeline sees."""
    out: list[str] = []
    with gzip.open(data_dir / WEB, "rt", encoding="utf-8") as f:
        for r in map(json.loads, f):
            out += [line.strip() for line in r.get("text", "").splitlines() if line.strip()]
            if len(out) >= limit:
                break
    return out[:limit]


def paragraph_scores(texts: list[str], settings: TranslationSettings | None = None,
                     patterns=None) -> np.ndarray:
    """mt_score of each text scored as a one-paragraph English document."""
    table = pa.table({"doc_id": [str(i) for i in range(len(texts))], "text": texts})
    scored, _ = flag_translation(table, settings or TranslationSettings(), patterns)
    return scored["mt_score"].to_numpy()


def roc_auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    scores = np.concatenate([positive, negative])
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # average ranks over ties
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_scores)) + 1]
    ends = np.r_[starts[1:], len(scores)]
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = (s + e + 1) / 2.0
    n_pos, n_neg = len(positive), len(negative)
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def quality(pan13: list[Example], wmt: list[Example], threshold: float, patterns=None) -> dict:
    out = {}
    for half in ("tune", "holdout"):
        made = [e.text for e in pan13 if e.half == half and e.label == "translation"]
        source = [e.text for e in pan13 if e.half == half and e.label == "source"]
        pos, neg = paragraph_scores(made, patterns=patterns), paragraph_scores(source, patterns=patterns)
        tp, fp = int((pos >= threshold).sum()), int((neg >= threshold).sum())
        row = {
            "pan13_passages": len(made),
            "pan13_auc": roc_auc(pos, neg),
            "pan13_precision": tp / (tp + fp) if tp + fp else float("nan"),
            "pan13_recall": tp / len(made),
            "pan13_source_fpr": fp / len(source),
        }
        for label in WMT_LABELS:
            texts = [e.text for e in wmt if e.half == half and e.label == label]
            row[f"wmt_{label}"] = float((paragraph_scores(texts, patterns=patterns) >= threshold).mean())
            row[f"wmt_{label}_n"] = len(texts)
        out[half] = row
    return out


def document_quality(pan13: list[Example], wmt: list[Example], threshold: float) -> dict:
    """Share of pseudo-documents (see pseudo_documents) at or above the threshold."""
    documents = pseudo_documents(pan13, PAN13_DOCUMENT_PASSAGES) + \
        pseudo_documents(wmt, WMT_DOCUMENT_SENTENCES)
    doc_ids, texts = [], []
    for index, (_, _, paragraphs) in enumerate(documents):
        doc_ids += [str(index)] * len(paragraphs)
        texts += paragraphs
    _, scored = flag_translation(pa.table({"doc_id": doc_ids, "text": texts}), TranslationSettings())
    score = dict(zip(scored["doc_id"].to_pylist(), scored["mt_score"].to_pylist()))
    out: dict[str, dict[str, tuple[int, float]]] = {}
    for half in ("tune", "holdout"):
        for label in ("translation", "source", *WMT_LABELS):
            flags = [score[str(i)] >= threshold for i, (h, lab, _) in enumerate(documents)
                     if h == half and lab == label]
            out.setdefault(half, {})[label] = (len(flags), float(np.mean(flags)) if flags else 0.0)
    return out


def rule_rates(pan13: list[Example], wmt: list[Example]) -> dict[str, dict[str, float]]:
    sets = {"pan13 translation": [e.text for e in pan13 if e.label == "translation"],
            "pan13 source": [e.text for e in pan13 if e.label == "source"]}
    for label in WMT_LABELS:
        sets[f"wmt {label}"] = [e.text for e in wmt if e.label == label]
    rates: dict[str, dict[str, float]] = {name: {} for name in RULE_LOGODDS}
    for set_name, texts in sets.items():
        fired: dict[str, int] = dict.fromkeys(RULE_LOGODDS, 0)
        for text in texts:
            for name in set(paragraph_signals(text)):
                fired[name] += 1
        for name in RULE_LOGODDS:
            rates[name][set_name] = fired[name] / len(texts)
    return rates


def speed(texts: list[str], repeat: int = 3) -> float:
    """Paragraphs per second through flag_translation, all paragraphs English (the slow path),
    documents of 20 paragraphs; best of `repeat` runs."""
    table = pa.table({"doc_id": [str(i // 20) for i in range(len(texts))], "text": texts,
                      "lang": ["en"] * len(texts), "boilerplate_rule": pa.nulls(len(texts), pa.string())})
    settings = TranslationSettings()
    flag_translation(table.slice(0, 100), settings)  # load the model and word frequencies
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        flag_translation(table, settings)
        best = min(best, time.process_time() - start)
    return len(texts) / best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path, help="the evaluation data folder (../shared/eval)")
    parser.add_argument("--web-paragraphs", type=int, default=50_000,
                        help="real web lines to time, from corpus/ (0: time only WMT and PAN13)")
    args = parser.parse_args(argv)
    data_dir: Path = args.data_dir
    require(data_dir, PAN13_CASES, PAN13_DOCUMENTS, WMT)
    threshold = TranslationSettings().flag_threshold
    pan13, wmt = load_pan13(data_dir), load_wmt(data_dir)

    print(f"default threshold: mt_score >= {threshold}")
    results = quality(pan13, wmt, threshold)
    print("\n| | tune | holdout |\n|---|---:|---:|")
    rows = [("PAN13 translation-chain passages (each half)", "pan13_passages", "{:d}"),
            ("PAN13 ROC-AUC, translations vs sources", "pan13_auc", "{:.3f}"),
            ("PAN13 precision at threshold", "pan13_precision", "{:.3f}"),
            ("PAN13 recall at threshold", "pan13_recall", "{:.3f}"),
            ("PAN13 source passages flagged", "pan13_source_fpr", "{:.2%}")]
    for label, name in [("WMT original English flagged (FPR)", "original_en"),
                        ("WMT human translations flagged (FPR)", "human_translation_en"),
                        ("WMT machine translations flagged (detection)", "machine_translation_en")]:
        rows.append((label, f"wmt_{name}", "{:.2%}"))
    for label, key, fmt in rows:
        print(f"| {label} | {fmt.format(results['tune'][key])} | {fmt.format(results['holdout'][key])} |")
    print("WMT sentences per half: " + ", ".join(
        f"{label} {results['tune'][f'wmt_{label}_n']}/{results['holdout'][f'wmt_{label}_n']}"
        for label in WMT_LABELS))

    print(f"\nDocuments (no labelled ones exist: {PAN13_DOCUMENT_PASSAGES} PAN13 passages or "
          f"{WMT_DOCUMENT_SENTENCES} consecutive WMT sentences of one half and label each)")
    documents = document_quality(pan13, wmt, threshold)
    print("| documents flagged | tune | holdout |\n|---|---:|---:|")
    names = {"translation": "PAN13 translation-chain passages (recall)",
             "source": "PAN13 source passages (FPR)",
             "original_en": "WMT original English (FPR)",
             "human_translation_en": "WMT human translations (FPR)",
             "machine_translation_en": "WMT machine translations (detection)"}
    for label, name in names.items():
        cells = [f"{documents[h][label][1]:.2%} of {documents[h][label][0]}"
                 for h in ("tune", "holdout")]
        print(f"| {name} | {cells[0]} | {cells[1]} |")

    print("\nRule signals: share of paragraphs where each fires (both halves)")
    rates = rule_rates(pan13, wmt)
    columns = list(next(iter(rates.values())))
    print("| signal | log-odds | " + " | ".join(columns) + " |")
    print("|---|---:|" + "---:|" * len(columns))
    for name, by_set in rates.items():
        print(f"| {name} | {RULE_LOGODDS[name]} | "
              + " | ".join(f"{by_set[c]:.2%}" for c in columns) + " |")

    print("\nSpeed through flag_translation on one core (CPU time, best of 3; every paragraph "
          "scored as English, the slower path; documents of 20 paragraphs)")
    sets = [(f"WMT sentences (first {min(len(wmt), 50_000):,})", [e.text for e in wmt[:50_000]]),
            ("PAN13 passages (all, x10)", [e.text for e in pan13] * 10)]
    if args.web_paragraphs and (data_dir / WEB).is_file():
        sets.insert(0, (f"lines of {WEB} (first {args.web_paragraphs:,})",
                        load_web_paragraphs(data_dir, args.web_paragraphs)))
    print("| paragraphs | words each | paragraphs/s | words/s |\n|---|---:|---:|---:|")
    for label, texts in sets:
        words = sum(len(t.split()) for t in texts)
        rate = speed(texts)
        print(f"| {label} | {words / len(texts):.1f} | {rate:,.0f} | {rate * words / len(texts):,.0f} |")
    print("load average while measuring: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
