"""Boilerplate on the product path: `textwash run` on labelled pages given as a user gives them.

    .venv/bin/python benchmarks/evaluation/boilerplate_run_eval.py ../shared/eval
        [--skip-lines-gold] [--work DIR]

Each page of L3S-GN1 and of lines_gold_match becomes one JSONL record whose text is its blocks
(lines) in page order, one per line; one input file per site as a user without URLs would have
them (L3S-GN1 one file, lines_gold one file per source data set: site templates count within a
file). `textwash run` cleans them with default settings, and every paragraph of the output is
mapped back to the blocks it came from by its character span (a paragraph that joins
lines split_paragraphs reads as hard-wrapped spans several). A block is claimed content when
most of its characters are in paragraphs without a `boilerplate_rule` ("not boilerplate": the
stage's decision) or with `keep` true ("kept": what a reader of `documents.text` gets, which
also loses exact and near duplicates and other languages). Scores as boilerplate_eval.py's
(content precision, recall, F1 per block and by characters; lines_gold on lines of 5+ words),
per half (a hash of the page id: half 0 for tuning, half 1 held out), with C4's line rules on
the same blocks beside them, and the article sentences lost (10+ words, terminal punctuation).
"""

from __future__ import annotations

import argparse
import bisect
import json
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import TextIO

import numpy as np
import pyarrow.dataset as ds

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from boilerplate_eval import L3S, LINES_GOLD, Dataset, c4_line_rule, load, report, sentences_lost

from tasks import schema
from tasks.settings import Settings


def write_pages(data: Dataset, raw: Path) -> dict[str, tuple[int, list[int]]]:
    """One JSONL record per page, one file per site; per page id its first row in `data` and
    the character offset where each of its blocks starts in the record's text."""
    raw.mkdir(parents=True, exist_ok=True)
    texts = data.paragraphs["text"].to_pylist()
    docs = data.paragraphs["doc_id"].to_pylist()
    starts: dict[str, tuple[int, list[int]]] = {}
    page: list[str] = []
    at = 0
    with ExitStack() as stack:
        files: dict[int, TextIO] = {}
        for row, (doc, text) in enumerate(zip(docs, texts)):
            if doc not in starts:
                starts[doc] = (row, [])
                page, at = [], 0
            starts[doc][1].append(at)
            page.append(text.replace("\n", " "))  # a block is one line of the record
            at += len(page[-1]) + 1
            if row + 1 < len(docs) and docs[row + 1] == doc:
                continue
            site = int(data.site[row])  # the page is complete: write it to its site's file
            if site not in files:
                files[site] = stack.enter_context(
                    open(raw / f"{data.name}-site{site:02d}.jsonl", "w", encoding="utf-8"))
            files[site].write(json.dumps({"id": doc, "text": "\n".join(page)}) + "\n")
    return starts


def claimed_blocks(data: Dataset, starts, clean: Path) -> dict[str, np.ndarray]:
    """Per block: claimed content as "not boilerplate" and as "kept"; and whether any
    paragraph came from it (a block of whitespace gives none)."""
    n = data.paragraphs.num_rows
    chars = {name: np.zeros(n) for name in ("all", "not_boilerplate", "kept")}
    documents = ds.dataset(clean / "documents", schema=schema.DOCUMENTS).to_table(
        columns=["doc_id", "input_id"]).to_pylist()
    page_of = {d["doc_id"]: d["input_id"] for d in documents}
    paragraphs = ds.dataset(clean / "paragraphs", schema=schema.PARAGRAPHS).to_table(
        columns=["doc_id", "char_start", "char_end", "boilerplate_rule", "keep"]).to_pylist()
    texts = data.paragraphs["text"].to_pylist()
    for p in paragraphs:
        first, offsets = starts[page_of[p["doc_id"]]]
        # A paragraph may span several blocks (split_paragraphs joins lines it reads as
        # hard-wrapped): each block gets its own characters of it.
        block = bisect.bisect_right(offsets, p["char_start"]) - 1
        while block < len(offsets) and offsets[block] < p["char_end"]:
            row = first + block
            end = offsets[block] + len(texts[row])
            length = max(min(end, p["char_end"]) - max(offsets[block], p["char_start"]), 0)
            chars["all"][row] += length
            chars["not_boilerplate"][row] += length * (p["boilerplate_rule"] is None)
            chars["kept"][row] += length * bool(p["keep"])
            block += 1
    seen = chars["all"] > 0
    return {"not boilerplate": seen & (chars["not_boilerplate"] * 2 > chars["all"]),
            "kept": seen & (chars["kept"] * 2 > chars["all"]), "seen": seen,
            "mapped_chars": chars["all"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path, help="the shared eval folder (has boilerplate/)")
    parser.add_argument("--skip-lines-gold", action="store_true")
    parser.add_argument("--work", type=Path, default=None,
                        help="folder for the runs' raw/ and clean/ (default: a temporary one)")
    args = parser.parse_args(argv)
    which = ["l3s"] + ([] if args.skip_lines_gold else ["lines_gold"])
    missing = [args.data_dir / (L3S if w == "l3s" else LINES_GOLD) for w in which]
    missing = [str(p) for p in missing if not p.is_file()]
    if missing:
        print(f"error: evaluation data not found: {', '.join(missing)}\n(pass the shared eval "
              "folder, e.g. ../shared/eval)", file=sys.stderr)
        return 2

    from flows.clean_corpus import run_clean_corpus

    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        for name in which:
            data = load(args.data_dir, name)
            raw, clean = work / name / "raw", work / name / "clean"
            if clean.exists():
                sys.exit(f"{clean} exists: give an empty --work folder")
            starts = write_pages(data, raw)
            run_clean_corpus(Settings.model_validate({"raw": str(raw), "clean": str(clean)}))
            claimed = claimed_blocks(data, starts, clean)
            unseen = int((~claimed["seen"] & data.scored).sum())
            # The mapping's check: a block's paragraphs span its text less surrounding spaces.
            stripped = np.array([len(t.replace("\n", " ").strip())
                                 for t in data.paragraphs["text"].to_pylist()])
            off = int((claimed["mapped_chars"] > stripped).sum())
            print(f"\n{name}: {len(starts):,} pages, {data.paragraphs.num_rows:,} blocks; "
                  f"{unseen} scored blocks are in no paragraph, counted as not "
                  f"content; {off} blocks mapped more characters than they have (should be 0)")
            c4 = np.array([c4_line_rule(t) is None for t in data.paragraphs["text"].to_pylist()])
            systems = {"textwash run, not boilerplate": claimed["not boilerplate"],
                       "textwash run, kept": claimed["kept"], "C4 line rules": c4}
            report(data, systems)
            sentences_lost(data, systems)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
