"""Train the duplicate verifier (tasks/models/dedup_verifier.json, tasks/cross_document/verifier.py).

    .venv/bin/python -m pip install -e '.[train]'    # scipy, through scikit-learn
    .venv/bin/python benchmarks/training/train_verifier.py ../shared/eval [--out PATH]

Tuning data: half 0 of each set (the halves of benchmarks/evaluation/neardup_pan13.py and
neardup_msrp.py); half 1 is never read here.
- copies: PAN13's reused passages with their sources (verbatim, random edits, round-trip
  translation chains; summaries are not copies and are left out) and MSRP label 1 (the same
  statement, much of it edited wire copy);
- not copies: MSRP label 0 (sentences of two outlets on one story) and the hard negatives of the
  PAN13 run: pairs of passages of different documents, on the topics the documents share, with a
  content-word Jaccard of at least 0.1, that are not one stretch of a document.
Every pair is featurised by the product's own code: `minhash` (the shard stage) makes the sets,
`WordRarity` counts the words over all paragraphs of the data set's run (as the duplicate step
counts them over a run), `pair_features` is what the duplicate step calls. The model learns from
the pairs at content-word Jaccard 0.1 or more; pairs the rules of `are_copies` turn down (below
`min_jaccard`, differing mostly in numbers) are never copies.

The model: a logistic regression with non-negative feature weights that move from a "short" to a
"long" value with the size of the smaller set (Verifier), fitted by L-BFGS-B. Then the cut, by
5-fold cross-validation inside the tuning half (scores of pairs the fold did not fit): a slope of
the cut over size (`SLOPES`) and the cut itself such that at most MAX_MSRP_0 of MSRP label 0 is
merged; of the slopes with a PAN13 precision (its copies against its negatives) of at least
MIN_PRECISION and at least MIN_MSRP_1 of MSRP label 1 merged, the one with the best PAN13 recall (random and translation). The
cut is folded into the biases: a pair is a copy at score >= 0.5 (dedup.min_score).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluation"))

from neardup_msrp import load_pairs
from pan13_paragraphs import build_task, is_right

from tasks.cross_document.duplicates import ContentSets, take_rows
from tasks.cross_document.staged_sets import sets_of_table
from tasks.cross_document.verifier import (
    FEATURES,
    MODEL_PATH,
    Verifier,
    WordRarity,
    are_copies,
    pair_features,
)
from tasks.settings import DedupSettings
from tasks.shard.minhash import minhash

SIZE_LO, SIZE_HI = 5, 256  # min_words and the content sets' bottom-k size
COPIES = ("pan13 verbatim", "pan13 random", "pan13 translation-chain", "msrp 1")
NOT_COPIES = ("msrp 0", "pan13 negative")
WEIGHT = {"msrp 0": 2.0}  # label 0 counts double: the target is on its merged share
NEGATIVE_JACCARD = 0.1
MAX_MSRP_0 = 0.38  # the target is 0.40: a margin for the held-out half and unseen data
MIN_PRECISION = 0.99  # on the tuning pairs; PAN13 leaves some real copies unannotated (noisy negatives)
MIN_MSRP_1 = 0.70
SLOPES = (-3.0, -2.5, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0)
L2 = 1e-3
FOLDS = 5


class PairSet:
    """Featurised pairs of one data set's run: features, smaller set size, group per pair."""

    def __init__(self, texts: list[str], pairs: list[tuple[int, int, str]]):
        settings = DedupSettings()
        table = minhash(pa.table({"text": pa.array(texts, pa.string())}), settings)
        sets = sets_of_table(table)
        with_sets = np.flatnonzero(sets.sizes("content") >= settings.min_words)
        rarity = WordRarity.of(take_rows(*sets.csr["content"], with_sets)[0], len(with_sets))
        a = np.array([p[0] for p in pairs], np.int64)
        b = np.array([p[1] for p in pairs], np.int64)
        self.features, self.smaller = pair_features(sets, a, sets, b, rarity)
        self.group = np.array([p[2] for p in pairs])
        self.sets = sets


def msrp_pairs(data: Path) -> PairSet:
    rows = [p for p in load_pairs(data) if p["half"] == 0]
    texts, index = [], {}
    for p in rows:
        for side in ("a", "b"):
            if p[side] not in index:
                index[p[side]] = len(texts)
                texts.append(p[f"text_{side}"])
    return PairSet(texts, [(index[p["a"]], index[p["b"]], f"msrp {p['label']}") for p in rows])


def pan13_pairs(data: Path) -> PairSet:
    task = build_task(data)
    paragraphs = task.paragraphs
    pairs = [(s, t, f"pan13 {kind}") for s, t, kind, half in task.true_pairs
             if half == 0 and kind != "summary"]
    true = {(min(s, t), max(s, t)) for s, t, *_ in task.true_pairs}
    sets = PairSet([p.text for p in paragraphs], []).sets
    for i, j in _overlapping(sets, NEGATIVE_JACCARD):
        pi, pj = paragraphs[i], paragraphs[j]
        if (pi.half == 0 and pj.half == 0 and pi.doc != pj.doc and (i, j) not in true
                and not is_right(pi, pj)):
            pairs.append((i, j, "pan13 negative"))
    return PairSet([p.text for p in paragraphs], pairs)


def _overlapping(sets: ContentSets, least: float) -> list[tuple[int, int]]:
    """Pairs of rows (i < j) whose content sets have at least `least` Jaccard, through an
    inverted index of the words fewer than 400 rows use (common words would pair everything)."""
    values, offsets = sets.csr["content"]
    rows = [values[offsets[r]:offsets[r + 1]].tolist() for r in range(len(offsets) - 1)]
    df = Counter(w for r in rows for w in r)
    postings = defaultdict(list)
    for r, words in enumerate(rows):
        for w in words:
            if df[w] < 400:
                postings[w].append(r)
    found = []
    for i, words in enumerate(rows):
        if len(words) < 5:
            continue
        shared = Counter(j for w in words if df[w] < 400 for j in postings[w] if j > i)
        for j, inter in shared.items():
            if inter / (len(words) + len(rows[j]) - inter) >= least:
                found.append((i, j))
    return found


def design(features: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Columns: features x (1 - t), features x t, (1 - t), t: the Verifier's logit is linear in
    them."""
    return np.hstack([features * (1 - t)[:, None], features * t[:, None],
                      (1 - t)[:, None], t[:, None]])


def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    from scipy.optimize import minimize

    k = x.shape[1] - 2

    def loss(beta):
        z = x @ beta
        p = 1 / (1 + np.exp(-z))
        nll = (w * (y * np.logaddexp(0, -z) + (1 - y) * np.logaddexp(0, z))).sum() / w.sum()
        grad = x.T @ (w * (p - y)) / w.sum()
        return nll + L2 * (beta[:k] ** 2).sum(), grad + np.r_[2 * L2 * beta[:k], 0, 0]

    bounds = [(0, None)] * k + [(None, None)] * 2
    return minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B", bounds=bounds).x


def folds(group: np.ndarray, n: int) -> np.ndarray:
    """A fold per pair, stratified by group (every n-th pair of a group in one fold)."""
    out = np.empty(len(group), np.int64)
    for g in np.unique(group):
        at = np.flatnonzero(group == g)
        out[at] = np.random.default_rng(0).permutation(len(at)) % n
    return out


def merged_shares(scores, can_merge, group, cut) -> dict[str, float]:
    """The share of each group merged, and PAN13 precision (its copies against its negatives)."""
    merged = can_merge & (scores >= cut)
    out = {g: float(merged[group == g].mean()) for g in (*COPIES, *NOT_COPIES)}
    pan = np.char.startswith(group.astype(str), "pan13")
    out["pan13 precision"] = float(np.isin(group[merged & pan], COPIES).mean()) \
        if (merged & pan).any() else float("nan")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path, help="folder with pan13/ and paraphrase/")
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    args = parser.parse_args(argv)

    parts = [msrp_pairs(args.data_dir), pan13_pairs(args.data_dir)]
    features = np.concatenate([p.features for p in parts])
    smaller = np.concatenate([p.smaller for p in parts])
    group = np.concatenate([p.group for p in parts])
    print("tuning pairs:", dict(Counter(group.tolist())))
    shape = Verifier(np.zeros(len(FEATURES)), np.zeros(len(FEATURES)), 0.0, 0.0, SIZE_LO, SIZE_HI)
    t = shape.size_position(smaller)
    x = design(features[:, :len(FEATURES)], t)  # the model's features (the rules' come after)
    y = np.isin(group, COPIES).astype(np.float64)
    w = np.array([WEIGHT.get(g, 1.0) for g in group])
    jaccard = features[:, FEATURES.index("jaccard")]
    fitted = jaccard >= NEGATIVE_JACCARD  # the pairs the model learns from
    # The rules besides the score (every pair here is of two documents)
    can_merge = are_copies(np.ones(len(y)), features, np.zeros(len(y), bool), DedupSettings())

    fold = folds(group, FOLDS)
    oof = np.full(len(y), -np.inf)
    for k in range(FOLDS):
        train, test = fitted & (fold != k), fitted & (fold == k)
        oof[test] = x[test] @ fit(x[train], y[train], w[train])

    print(f"cross-validated (out of fold), cut at <= {MAX_MSRP_0:.0%} of MSRP label 0 merged:")
    best = None
    for slope in SLOPES:
        shifted = oof - slope * t
        cut = float(np.quantile(np.where(can_merge, shifted, -np.inf)[group == "msrp 0"],
                                1 - MAX_MSRP_0, method="higher"))
        shares = merged_shares(shifted, can_merge, group, cut)
        ok = shares["pan13 precision"] >= MIN_PRECISION and shares["msrp 1"] >= MIN_MSRP_1
        gain = shares["pan13 random"] + shares["pan13 translation-chain"]
        print(f"  slope {slope:+.1f} " + " ".join(f"{g}={v:.3f}" for g, v in shares.items())
              + ("" if ok else "  (outside the bounds)"))
        if ok and (best is None or gain > best[0]):
            best = (gain, slope, cut)
    if best is None:
        sys.exit("no slope meets the bounds: see the table above")
    _, slope, cut = best
    beta = fit(x[fitted], y[fitted], w[fitted])
    k = len(FEATURES)
    model = {
        "format": 1,
        "features": list(FEATURES),
        "short": beta[:k].round(6).tolist(),
        "long": beta[k:2 * k].round(6).tolist(),
        "bias_short": round(float(beta[2 * k] - cut), 6),
        "bias_long": round(float(beta[2 * k + 1] - cut - slope), 6),
        "size_lo": SIZE_LO,
        "size_hi": SIZE_HI,
        "cut_slope": slope,
        "script": "benchmarks/training/train_verifier.py",
        "tuning_pairs": dict(Counter(group.tolist())),
    }
    verifier = Verifier.from_dict(model)
    final = verifier.score(features, smaller)
    print(f"chosen slope {slope:+.1f}; the final model on the tuning pairs (fitted on them, so "
          "optimistic): " + " ".join(f"{g}={v:.3f}" for g, v in
                                     merged_shares(final, can_merge, group, 0.5).items()))
    args.out.write_text(json.dumps(model, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
