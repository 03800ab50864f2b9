"""Read what a run dropped as duplicates: a random sample of the duplicate drops of a `clean/`
folder, each beside the canonical it was matched with, to be read by a person.

    .venv/bin/python benchmarks/evaluation/sample_duplicates.py CLEAN [--near] [--n 50] [--seed 16]

Prints the counts (drop reasons; duplicate drops that are exact copies, `dup_similarity` 1, and
near ones), then `--n` drops drawn with `--seed` (all of them with `--near`: only near copies),
each with its score, the dropped text and the canonical's, marked IDENTICAL where the two
texts are the same string. docs/benchmarks/duplicates.md has a reading of such a sample.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from pathlib import Path

import pyarrow.dataset as ds

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tasks import schema


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clean", type=Path, help="a clean/ folder written by textwash run")
    parser.add_argument("--near", action="store_true", help="only near copies (score < 1)")
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args(argv)
    if not (args.clean / "paragraphs").is_dir():
        sys.exit(f"no paragraphs table in {args.clean}: give a clean/ folder of a textwash run")

    rows = ds.dataset(args.clean / "paragraphs", schema=schema.PARAGRAPHS).to_table(
        columns=["para_id", "text", "dup_of", "dup_similarity", "drop_reason"]).to_pylist()
    text_of = {r["para_id"]: r["text"] for r in rows}
    print("drop reasons:", dict(Counter(r["drop_reason"] for r in rows).most_common()))
    drops = sorted((r for r in rows if r["drop_reason"] == "duplicate"),
                   key=lambda r: r["para_id"])
    exact = sum(r["dup_similarity"] == 1 for r in drops)
    print(f"duplicate drops: {len(drops):,} ({exact:,} exact copies, {len(drops) - exact:,} near)")
    if args.near:
        drops = [r for r in drops if r["dup_similarity"] < 1]
    random.Random(args.seed).shuffle(drops)
    for k, r in enumerate(drops[:args.n], 1):
        canonical = text_of.get(r["dup_of"], "(a paragraph of an earlier run)")
        same = "  IDENTICAL" if canonical == r["text"] else ""
        print(f"{k:3d}. score {r['dup_similarity']:.3f}{same}\n"
              f"     dropped:   {r['text'][:300]!r}\n     canonical: {canonical[:300]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
