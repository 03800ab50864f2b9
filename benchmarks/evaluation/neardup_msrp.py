"""Same-story sentences on the product path: which MSRP pairs does `textwash run` merge?

    python benchmarks/evaluation/neardup_msrp.py ../shared/eval [--min-score 0.5]
        [--quotes-need-own-words] [--work DIR]

The Microsoft Research Paraphrase Corpus (train part, ../shared/eval/paraphrase/): sentence
pairs from news clusters, two outlets on one story. `Quality` 1: the two say the same thing
(many are edited wire copy); 0: they are on the same story and do not say the same thing (most
are not copies: the hard negatives of near-duplicate detection). Each sentence becomes its own
document (one JSONL record per sentence id; the first sentences of the pairs in one file, the
second in another, as two outlets), `textwash run` cleans them with default settings (or the
[dedup] flags given), and a pair counts as merged when its two sentences share a
`dup_cluster`, as a reader of the output would read it. Printed: the share of label-0 and label-1 pairs merged, per
half (a hash of the pair's ids: half 0 for tuning, half 1 held out) and both, and how many
sentences the run tagged as boilerplate (those are never deduplicated).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dedup_flags import add_dedup_flags, dedup_settings, describe

from tasks.settings import Settings


def load_pairs(data_dir: Path) -> list[dict]:
    path = data_dir / "paraphrase" / "msr_paraphrase_train.txt"
    if not path.is_file():
        sys.exit(f"evaluation data not found: {path} (pass the folder that holds paraphrase/, "
                 "e.g. ../shared/eval)")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    header, body = rows[0], rows[1:]
    if header[:3] != ["Quality", "#1 ID", "#2 ID"]:
        sys.exit(f"{path}: unexpected header {header}")
    return [{"label": int(r[0]), "a": r[1], "b": r[2], "text_a": r[3], "text_b": r[4],
             "half": int(hashlib.sha1(f"{r[1]}|{r[2]}".encode()).hexdigest(), 16) % 2}
            for r in body if len(r) == 5]


def write_inputs(pairs: list[dict], raw: Path) -> None:
    """One record per sentence id, in the file of the side it first appears on."""
    raw.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    with (raw / "outlet-1.jsonl").open("w", encoding="utf-8") as one, \
            (raw / "outlet-2.jsonl").open("w", encoding="utf-8") as two:
        for p in pairs:
            for side, fh in (("a", one), ("b", two)):
                if p[side] not in seen:
                    seen.add(p[side])
                    fh.write(json.dumps({"id": p[side], "text": p[f"text_{side}"]}) + "\n")


def clusters_of_sentences(work: Path, dedup: dict) -> tuple[dict, dict, dict]:
    """sentence id -> dup_cluster (kept or not), sentence id -> boilerplate rule, the manifest."""
    import pyarrow.dataset as ds

    from flows.clean_corpus import run_clean_corpus
    from tasks import schema

    manifest = run_clean_corpus(Settings.model_validate(
        {"raw": str(work / "raw"), "clean": str(work / "clean"), "dedup": dedup}))
    docs = ds.dataset(work / "clean" / "documents", schema=schema.DOCUMENTS).to_table(
        columns=["doc_id", "input_id"]).to_pylist()
    sentence_of = {d["doc_id"]: d["input_id"] for d in docs}
    paras = ds.dataset(work / "clean" / "paragraphs", schema=schema.PARAGRAPHS).to_table(
        columns=["doc_id", "dup_cluster", "boilerplate_rule"]).to_pylist()
    cluster, rule = {}, {}
    for p in paras:  # a sentence is one line: one paragraph per document
        sentence = sentence_of[p["doc_id"]]
        cluster[sentence] = p["dup_cluster"]
        rule[sentence] = p["boilerplate_rule"]
    return cluster, rule, manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path, help="folder that holds paraphrase/")
    add_dedup_flags(parser)
    parser.add_argument("--work", type=Path, default=None,
                        help="folder for the run's raw/ and clean/ (default: a temporary one)")
    args = parser.parse_args(argv)

    pairs = load_pairs(args.data_dir)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        if (work / "clean").exists():
            sys.exit(f"{work / 'clean'} exists: give an empty --work folder")
        write_inputs(pairs, work / "raw")
        dedup = dedup_settings(args)
        cluster, rule, manifest = clusters_of_sentences(work, dedup)
    boilerplate = sum(r is not None for r in rule.values())
    print(f"MSRP train: {len(pairs):,} pairs ({sum(p['label'] for p in pairs):,} label 1), "
          f"{len(cluster):,} sentences; {describe(dedup)}; {boilerplate:,} sentences tagged "
          f"boilerplate; run {manifest['run_id']}")
    print(f"{'half':>5} {'label 0 merged':>16} {'label 1 merged':>16}")
    for half in (0, 1, None):
        shares = []
        for label in (0, 1):
            chosen = [p for p in pairs if p["label"] == label and half in (None, p["half"])]
            merged = sum(cluster.get(p["a"]) is not None and cluster.get(p["a"]) == cluster.get(p["b"])
                         for p in chosen)
            shares.append(f"{merged / max(len(chosen), 1):.1%} of {len(chosen):,}")
        print(f"{'both' if half is None else half:>5} {shares[0]:>16} {shares[1]:>16}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
