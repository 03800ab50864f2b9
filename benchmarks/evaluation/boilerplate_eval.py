"""How well flag_boilerplate tells content from the rest, next to the C4 line rules.

    python benchmarks/evaluation/boilerplate_eval.py /work/shared/eval [--skip-lines-gold]

Data (never copied into the repo): DATA_DIR/boilerplate/l3s_gn1_blocks.jsonl.gz (L3S-GN1 news
pages as text blocks in page order, human labels; content = headline, fulltext, supplemental) and
DATA_DIR/boilerplate/lines_gold_match.jsonl.gz (pages line by line, content = the line occurs in
the human gold text; scored on lines of 5+ words only, shorter ones are too noisy).

Each page becomes one document whose paragraphs are its blocks/lines in order; the real
`flag_boilerplate` runs on them (rules only; rules + model without the guard that spares
prose lines the model is not very sure about; rules + model as configured by default), then
`find_site_templates` with one site per data set (the pipeline's choice for input without URLs:
one site per input file).
Documents are split in two halves by a hash of their id: the model was trained on the tuning
half only (benchmarks/training/train_boilerplate_model.py); both halves are reported.

Printed per data set and half: precision, recall and F1 of CONTENT, per block and weighted by
characters; for textwash (rules, rules + model, + site templates) and the C4 line rules
(datatrove's C4QualityFilter line rules; its page-level rules are reported separately). Then
which rules fire how often (and how often on content), and flag_boilerplate's speed.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import hashlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tasks.settings import BoilerplateSettings, SplitSettings
from tasks.shard import boilerplate
from tasks.shard.boilerplate import find_site_templates, flag_boilerplate
from tasks.shard.boilerplate.model import load_model
from tasks.shard.paragraphs import split_paragraphs

L3S = "boilerplate/l3s_gn1_blocks.jsonl.gz"
LINES_GOLD = "boilerplate/lines_gold_match.jsonl.gz"
WEB_CORPUS = "corpus/web_fulltext.jsonl.gz"
TUNE, HELD_OUT = 0, 1


def half_of(doc: str) -> int:
    """0 = tuning half, 1 = held-out half: first byte of SHA-1 of the document id, even or odd."""
    return hashlib.sha1(doc.encode("utf-8")).digest()[0] % 2


@dataclass
class Dataset:
    name: str
    paragraphs: pa.Table  # doc_id, para_index, text: documents in order, blocks in page order
    is_content: np.ndarray  # gold label per row
    half: np.ndarray  # 0 tuning, 1 held out, per row
    scored: np.ndarray  # rows that count in the scores
    site: np.ndarray  # site code per row (one per data set / sub-collection)
    source: np.ndarray  # per row, where the page comes from as far as it can be told (str):
    # lines_gold its data set family (CleanEval, Big9, ... ), L3S-GN1 the site named in its title


    @property
    def chars(self) -> np.ndarray:
        return np.array([len(t) for t in self.paragraphs["text"].to_pylist()], dtype=np.float64)


def load(data_dir: Path, which: str) -> Dataset:
    path = data_dir / (L3S if which == "l3s" else LINES_GOLD)
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    if which == "l3s":
        rows.sort(key=lambda r: (r["doc"], r["block"]))
        docs = [r["doc"] for r in rows]
        labels = [bool(r["is_content"]) for r in rows]
        sites = ["l3s"] * len(rows)
    else:
        rows.sort(key=lambda r: (r["dataset"], r["doc"], r["line"]))
        docs = [f"{r['dataset']}/{r['doc']}" for r in rows]
        labels = [r["label"] == "content" for r in rows]
        sites = [r["dataset"] for r in rows]
    texts = [r["text"] for r in rows]
    para_index, last, i = [], None, 0
    for d in docs:
        i = 0 if d != last else i + 1
        para_index.append(i)
        last = d
    table = pa.table({"doc_id": docs, "para_index": pa.array(para_index, pa.int32()),
                      "text": texts})
    half_cache: dict[str, int] = {}
    half = np.array([half_cache.setdefault(d, half_of(d)) for d in docs])
    if which == "l3s":
        scored = np.ones(len(rows), bool)
    else:
        scored = np.array([len(t.split()) >= 5 for t in texts])
    site_codes: dict[str, int] = {}
    site = np.array([site_codes.setdefault(s, len(site_codes)) for s in sites])
    if which == "l3s":
        titles = {r["doc"]: r["text"] for r in rows if r["block"] == 0}
        source = np.array([l3s_site(titles.get(d, ""), d) for d in docs])
    else:
        source = np.array([FAMILY.sub("", s) for s in sites])
    return Dataset(which, table, np.array(labels), half, scored, site, source)


FAMILY = re.compile(r"-(?:dev|final|\d\d)$")  # cleaneval-dev, big9-05: one family each
_TITLE_PARTS = re.compile(r"\s+(?:[-|:>»]+|--)\s+|_|\s*\|\s*")
_DOMAIN = re.compile(r"(?i)\b[\w-]+\.(?:com|net|org|co\.uk|com\.au|cn|ca|de)\b")


def l3s_site(title: str, doc: str) -> str:
    """The site a L3S-GN1 page comes from, as its title tells it (the data has no URLs):
    a domain in the title, else its last part ("Headline - Site"), else the page itself."""
    domain = _DOMAIN.search(title)
    if domain:
        return domain.group(0).lower().removeprefix("www.")
    parts = [p.strip() for p in _TITLE_PARTS.split(title) if p.strip()]
    if len(parts) > 1 and len(parts[-1].split()) <= 5:
        return parts[-1].lower()
    return doc


# --- the C4 baseline: datatrove's C4QualityFilter, line by line -------------------------------
_C4_CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
_C4_END_PUNCTUATION = (".", "?", "!", '"', "'")
_C4_POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies",
              "use cookies")
_C4_SENTENCE = re.compile(r"[.!?]+[\"')\]]*(?:\s+|$)")


def c4_line_rule(line: str) -> str | None:
    """The C4 line rule that drops a line, in datatrove's order; None = kept."""
    line = line.strip()
    words = line.split()
    if any(len(w) > 1000 for w in words):
        return "too_long_word"
    line = _C4_CITATION.sub("", line)
    if not line.endswith(_C4_END_PUNCTUATION) or line.endswith("..."):
        return "no_terminal_punct"
    if len(words) < 3:
        return "too_few_words"
    lower = line.lower()
    if "javascript" in lower:
        return "javascript"
    if any(p in lower for p in _C4_POLICY):
        return "policy"
    return None


def c4_page_drops(ds: Dataset, kept: np.ndarray) -> np.ndarray:
    """Rows of documents C4 drops whole: "lorem ipsum" or "{" in a kept line, or fewer than 5
    sentences in its kept lines (a regex sentence count stands in for nltk's punkt)."""
    texts = ds.paragraphs["text"].to_pylist()
    docs = ds.paragraphs["doc_id"].to_pylist()
    sentences: dict[str, int] = collections.Counter()
    bad: set[str] = set()
    for t, d, k in zip(texts, docs, kept.tolist()):
        if not k:
            continue
        low = t.lower()
        if "lorem ipsum" in low or "{" in t:
            bad.add(d)
        sentences[d] += max(1, len(_C4_SENTENCE.findall(t.strip())))
    return np.array([d in bad or sentences[d] < 5 for d in docs])


# --- scoring -------------------------------------------------------------------------------
def prf(gold: np.ndarray, pred: np.ndarray, weight: np.ndarray | None = None
        ) -> tuple[float, float, float]:
    w = np.ones(len(gold)) if weight is None else weight
    tp = float(w[gold & pred].sum())
    fp = float(w[~gold & pred].sum())
    fn = float(w[gold & ~pred].sum())
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def report(ds: Dataset, systems: dict[str, np.ndarray]) -> None:
    chars = ds.chars
    print(f"\n## {ds.name}: content P/R/F1 per block and character-weighted "
          f"({'all blocks' if ds.name == 'l3s' else 'lines of 5+ words'})")
    print(f"{'system':40} {'half':9} {'blocks':>7} {'block P':>8} {'R':>6} {'F1':>6} "
          f"{'char P':>8} {'R':>6} {'F1':>6}")
    for name, kept in systems.items():
        for h, label in ((TUNE, "tuning"), (HELD_OUT, "held-out")):
            s = ds.scored & (ds.half == h)
            bp, br, bf = prf(ds.is_content[s], kept[s])
            cp, cr, cf = prf(ds.is_content[s], kept[s], chars[s])
            print(f"{name:40} {label:9} {int(s.sum()):7d} {bp:8.3f} {br:6.3f} {bf:6.3f} "
                  f"{cp:8.3f} {cr:6.3f} {cf:6.3f}")


SENTENCE_LIKE = re.compile(r"[.!?][\"'”’»)]*$")


def reads_as_sentence(ds: Dataset) -> np.ndarray:
    """Per row: 10+ words ending in terminal punctuation, the lines counted as article sentences."""
    return np.array([len(t.split()) >= 10 and bool(SENTENCE_LIKE.search(t))
                     for t in ds.paragraphs["text"].to_pylist()])


def sentences_lost(ds: Dataset, systems: dict[str, np.ndarray]) -> None:
    """Gold-content lines that read as sentences (10+ words, terminal punctuation) but were
    flagged: the article text a system throws away, the error that matters most."""
    gold = ds.is_content & reads_as_sentence(ds) & ds.scored
    held = gold & (ds.half == HELD_OUT)
    print(f"\n{ds.name}: gold-content sentences (10+ words, terminal punctuation) flagged, "
          f"of {int(gold.sum())} (both halves) and of {int(held.sum())} (held-out half)")
    for name, kept in systems.items():
        lost = gold & ~kept
        print(f"  {name:40} {int(lost.sum()):6d} ({lost.sum() / max(gold.sum(), 1):.1%})"
              f"   held-out {int((lost & held).sum()):6d} "
              f"({(lost & held).sum() / max(held.sum(), 1):.1%})")


def rule_counts(ds: Dataset, rules: list[str | None], title: str) -> None:
    fired = collections.Counter(r for r in rules if r)
    on_content = collections.Counter(r for r, c, s in zip(rules, ds.is_content, ds.scored)
                                     if r and c and s)
    print(f"\n{title}: rule, lines flagged, of them gold content (scored lines)")
    for rule, n in fired.most_common():
        print(f"  {rule:20} {n:7d} {on_content[rule]:7d}")


def run(ds: Dataset, settings: BoilerplateSettings, timing: dict) -> None:
    t0 = time.perf_counter()
    flagged = flag_boilerplate(ds.paragraphs, settings)
    timing[ds.name] = (ds.paragraphs.num_rows, time.perf_counter() - t0, text_bytes(ds.paragraphs))
    rules_model = flagged["boilerplate_rule"].to_pylist()
    rules_only = flag_boilerplate(ds.paragraphs, settings.model_copy(update={"model": False}))
    rules_only = rules_only["boilerplate_rule"].to_pylist()
    no_guard = flag_boilerplate(ds.paragraphs, settings.model_copy(
        update={"model_prose_threshold": settings.model_threshold}))
    no_guard = no_guard["boilerplate_rule"].to_pylist()

    keys = flagged["template_key"].fill_null(0).to_numpy().astype(np.uint64)
    is_bp = np.array([r is not None for r in rules_model])
    doc_index = np.unique(ds.paragraphs["doc_id"].to_numpy(zero_copy_only=False),
                          return_inverse=True)[1]
    templates = site_template_rows(ds, doc_index, keys, is_bp, settings)
    with_templates = [r if r is not None or not t else "site_template"
                      for r, t in zip(rules_model, templates.tolist())]

    c4 = [c4_line_rule(t) for t in ds.paragraphs["text"].to_pylist()]
    c4_kept = np.array([r is None for r in c4])
    c4_page = c4_kept & ~c4_page_drops(ds, c4_kept)
    systems = {
        "textwash rules": np.array([r is None for r in rules_only]),
        "textwash rules + model, no prose guard": np.array([r is None for r in no_guard]),
        "textwash rules + model": ~is_bp,
        "textwash rules + model + templates": np.array([r is None for r in with_templates]),
        "C4 line rules": c4_kept,
        "C4 line + page rules": c4_page,
        "everything kept": np.ones(len(c4), bool),
    }
    report(ds, systems)
    sentences_lost(ds, systems)
    rule_counts(ds, with_templates, f"{ds.name}: textwash rules (with model and templates)")
    rule_counts(ds, c4, f"{ds.name}: C4 line rules")


def site_template_rows(ds: Dataset, doc_index: np.ndarray, keys: np.ndarray,
                       flagged: np.ndarray, settings: BoilerplateSettings,
                       rows: np.ndarray | None = None) -> np.ndarray:
    """Which rows the site-template rule takes, as the run-wide step finds them (lines a rule
    flagged take no part; one site per data set), counted over `rows` only (all by default)."""
    rows = np.ones(len(keys), bool) if rows is None else rows
    keys = np.where(flagged | ~rows, np.uint64(0), keys)
    out = np.zeros(len(keys), bool)
    out[np.flatnonzero(rows)] = find_site_templates(ds.site[rows], doc_index[rows], keys[rows],
                                                    settings)
    return out


def text_bytes(paragraphs: pa.Table) -> int:
    """UTF-8 bytes of paragraph text (no Arrow offsets)."""
    return int(pc.sum(pc.binary_length(paragraphs["text"])).as_py() or 0)


def speed_on_web_corpus(data_dir: Path, n_docs: int, settings: BoilerplateSettings) -> None:
    """flag_boilerplate on real full-page text (navigation and footers included), split into
    paragraphs as the pipeline does: paragraphs/s and MB/s of paragraph text, one process."""
    path = data_dir / WEB_CORPUS
    if not path.is_file():
        print(f"\n(no {path}: speed on the web corpus skipped)")
        return
    ids, texts = [], []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i >= n_docs:
                break
            ids.append(str(i))
            texts.append(json.loads(line)["text"])
    paragraphs = split_paragraphs(pa.table({"doc_id": ids, "text": texts}), SplitSettings())
    nbytes = text_bytes(paragraphs)
    print(f"\nflag_boilerplate on {WEB_CORPUS} ({len(ids)} pages, {paragraphs.num_rows} "
          f"paragraphs, {nbytes / 1e6:.1f} MB), one process, CPU time:")
    for label, s in (("rules only", settings.model_copy(update={"model": False})),
                     ("rules + model", settings)):
        start = time.process_time()
        flag_boilerplate(paragraphs, s)
        secs = time.process_time() - start
        print(f"  {label:14} {secs:6.2f} s = {paragraphs.num_rows / secs:8.0f} paragraphs/s, "
              f"{nbytes / secs / 1e6:5.2f} MB/s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path, help="the shared eval folder (has boilerplate/)")
    parser.add_argument("--skip-lines-gold", action="store_true",
                        help="only L3S-GN1 (lines_gold_match takes about a minute)")
    parser.add_argument("--model", type=Path,
                        help="evaluate another model file (from train_boilerplate_model.py --out)")
    parser.add_argument("--prose-threshold", type=float, default=None,
                        help="model_prose_threshold for the default system (explores the prose "
                             "guard's trade-off; default: the setting's default)")
    parser.add_argument("--speed-docs", type=int, default=1500,
                        help="pages of corpus/web_fulltext.jsonl.gz to time flag_boilerplate on")
    args = parser.parse_args(argv)
    needed = [L3S] + ([] if args.skip_lines_gold else [LINES_GOLD])
    missing = [p for p in needed if not (args.data_dir / p).is_file()]
    if missing:
        print(f"error: evaluation data not found: {', '.join(str(args.data_dir / p) for p in missing)}"
              "\n(pass the shared eval folder, e.g. ../shared/eval)", file=sys.stderr)
        return 2
    if args.model:
        other = load_model(str(args.model))
        boilerplate.load_model = lambda: other  # flag_boilerplate looks the model up here
    settings = BoilerplateSettings()
    if args.prose_threshold is not None:
        settings = settings.model_copy(update={"model_prose_threshold": args.prose_threshold})
    timing: dict = {}
    for which in ("l3s",) if args.skip_lines_gold else ("l3s", "lines_gold"):
        run(load(args.data_dir, which), settings, timing)
    speed_on_web_corpus(args.data_dir, args.speed_docs, settings)
    print("\nflag_boilerplate speed on the eval sets (rules + model, one process, wall time):")
    for name, (n, secs, nbytes) in timing.items():
        print(f"  {name:12} {n:8d} paragraphs in {secs:6.2f} s = {n / secs:9.0f} paragraphs/s, "
              f"{nbytes / secs / 1e6:5.2f} MB/s")
    print(f"  load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
