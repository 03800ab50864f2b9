"""Which evidence tells a copy from a paragraph on the same story? Pair features, measured.

    python benchmarks/evaluation/verifier_evidence.py ../shared/eval

For issue 16's verifier: positives are PAN13's reused passages and their sources (by kind) and
MSRP's label-1 pairs; negatives are MSRP's label-0 pairs (same story, not the same thing). Each
pair is tokenised as the duplicate step tokenises it (tasks/shard/normalize.py: content words,
function words left out), and scored by:
- jaccard: content-word set Jaccard (today's verifier);
- rare_jaccard: the same, each word weighted by log(N / df), df counted over all texts here
  (words every article of a story uses weigh little);
- order: longest common subsequence of the two content-word sequences over the shorter one (a
  spun copy keeps its words in order);
- containment: shared words over the smaller set.
For each feature, the cut that merges at most 40% of the MSRP label-0 pairs in the tuning half
(a hash of the pair), and what that cut gives on the held-out half and on PAN13's kinds. A
measurement for design, not a tuned product: the product's verifier lives in tasks/.
"""

from __future__ import annotations

import hashlib
import math
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from neardup_msrp import load_pairs
from pan13_paragraphs import build_task

from tasks.shard.normalize import STOPWORDS, words


def content_words(texts: list[str]) -> list[list[str]]:
    return [[w for w in ws if w not in STOPWORDS] for ws in words(texts).to_pylist()]


def lcs(a: list[str], b: list[str]) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def features(a: list[str], b: list[str], idf: dict[str, float]) -> dict[str, float]:
    sa, sb = set(a), set(b)
    inter, union = sa & sb, sa | sb
    weight = lambda ws: sum(idf.get(w, 0.0) for w in ws)
    return {
        "jaccard": len(inter) / max(len(union), 1),
        "rare_jaccard": weight(inter) / max(weight(union), 1e-9),
        "order": lcs(a, b) / max(min(len(a), len(b)), 1),
        "containment": len(inter) / max(min(len(sa), len(sb)), 1),
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    data = Path(args[0])
    msrp = load_pairs(data)
    task = build_task(data)
    pan = [(task.paragraphs[s].text, task.paragraphs[t].text, kind)
           for s, t, kind, _ in task.true_pairs]

    texts = [p["text_a"] for p in msrp] + [p["text_b"] for p in msrp] + \
        [p.text for p in task.paragraphs]
    tokens = content_words(texts)
    df = Counter(w for ws in tokens for w in set(ws))
    idf = {w: math.log(len(tokens) / n) for w, n in df.items()}
    m = len(msrp)
    msrp_a, msrp_b = tokens[:m], tokens[m:2 * m]
    pan_tokens = content_words([x for a, b, _ in pan for x in (a, b)])

    rows = []  # (group, half, features)
    for k, p in enumerate(msrp):
        rows.append((f"msrp_{p['label']}", p["half"], features(msrp_a[k], msrp_b[k], idf)))
    for k, (_, _, kind) in enumerate(pan):
        half = int(hashlib.sha1(str(k).encode()).hexdigest(), 16) % 2
        rows.append((f"pan13_{kind}", half, features(pan_tokens[2 * k], pan_tokens[2 * k + 1],
                                                       idf)))
    groups = sorted({g for g, _, _ in rows})
    print(f"{len(msrp):,} MSRP pairs, {len(pan):,} PAN13 pairs; the cut merges <= 40% of MSRP "
          "label 0 in the tuning half")
    print(f"{'feature':>13} {'cut':>6} " + " ".join(f"{g:>22}" for g in groups))
    for name in ("jaccard", "rare_jaccard", "order", "containment"):
        negatives = np.array([f[name] for g, h, f in rows if g == "msrp_0" and h == 0])
        cut = float(np.quantile(negatives, 0.60))
        shares = []
        for g in groups:
            values = [f[name] for gg, h, f in rows if gg == g and (h == 1 or not g.startswith("msrp"))]
            shares.append(f"{np.mean(np.array(values) > cut):.1%} of {len(values):,}")
        print(f"{name:>13} {cut:>6.3f} " + " ".join(f"{s:>22}" for s in shares))
    print("(MSRP columns: the held-out half; PAN13 columns: all pairs, recall)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
