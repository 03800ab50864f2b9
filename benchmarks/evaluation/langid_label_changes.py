"""The language labels that differ between two outputs of the same input, by characters.

    .venv/bin/python benchmarks/evaluation/langid_label_changes.py CLEAN_A CLEAN_B [--examples 25]

CLEAN_A and CLEAN_B are two `clean/` folders that `textwash run` wrote from the same raw folder
(e.g. two versions of the code, or `language.screen` on and off): their paragraphs are matched
by `para_id`. Prints, for all paragraphs, content paragraphs (no boilerplate rule) and kept ones,
the paragraphs and the share of characters whose `lang` differs; the commonest changes in
content paragraphs; and a random sample of changed content paragraphs to read.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.dataset as ds

COLUMNS = ["para_id", "text", "lang", "boilerplate_rule", "keep"]


def paragraphs(clean: Path):
    folder = clean / "paragraphs"
    if not folder.is_dir():
        sys.exit(f"no paragraphs in {clean}: pass a clean/ folder that textwash run wrote")
    return ds.dataset(folder).to_table(columns=COLUMNS).sort_by("para_id")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clean_a", type=Path)
    parser.add_argument("clean_b", type=Path)
    parser.add_argument("--examples", type=int, default=25)
    args = parser.parse_args(argv)
    a, b = paragraphs(args.clean_a), paragraphs(args.clean_b)
    if not a["para_id"].equals(b["para_id"]):
        sys.exit("the two outputs do not hold the same paragraphs (not the same input?)")
    before = np.array(a["lang"].to_pylist(), dtype=object)
    after = np.array(b["lang"].to_pylist(), dtype=object)
    chars = pc.utf8_length(a["text"]).to_numpy(zero_copy_only=False)
    content = a["boilerplate_rule"].is_null().to_numpy(zero_copy_only=False)
    kept = a["keep"].to_numpy(zero_copy_only=False)
    changed = before != after
    for name, rows in (("all", np.ones(len(chars), bool)), ("content", content), ("kept", kept)):
        n = int(rows.sum())
        print(f"{name}: {n:,} paragraphs, labels changed on {(changed & rows).sum():,} "
              f"({(changed & rows).sum() / max(n, 1):.2%}), "
              f"{chars[changed & rows].sum() / max(chars[rows].sum(), 1):.2%} of characters")
    long = chars >= 40
    print(f"content paragraphs of 40+ characters changed: {(changed & content & long).sum():,} "
          f"of {(content & long).sum():,}")
    pairs = Counter(zip(before[changed & content], after[changed & content]))
    print("commonest changes in content (before -> after):", pairs.most_common(10))
    rows = np.flatnonzero(changed & content)
    rng = np.random.default_rng(0)
    texts = a["text"]
    for row in sorted(rng.choice(rows, min(args.examples, len(rows)), replace=False).tolist()):
        print(f"  {before[row]} -> {after[row]}  {texts[row].as_py()[:110]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
