"""Train the boilerplate model and write tasks/models/boilerplate_model.json.

    pip install -e '.[train]'
    python benchmarks/training/train_boilerplate_model.py /work/shared/eval

Trains scikit-learn's HistGradientBoostingClassifier (fixed seed) on the TUNING half only of
L3S-GN1 (every block) and lines_gold_match (lines of 5+ words: the labels of shorter lines come
from string matching and are noisy), on the rows flag_boilerplate asks the model about (no sure
rule fired, the document has a main run of prose), with the features flag_boilerplate computes
(tasks/shard/boilerplate/features.py), and exports its trees as plain JSON for the numpy inference in
tasks/shard/boilerplate/model.py. The held-out halves are for benchmarks/evaluation/boilerplate_eval.py.

L3S-GN1 is small (about 16,000 blocks in the tuning half) next to lines_gold_match (about
100,000 scored lines), so its blocks weigh L3S_WEIGHT times more: the model should learn news
pages without forgetting other kinds of pages.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.evaluation.boilerplate_eval import L3S, LINES_GOLD, TUNE, load
from tasks.settings import BoilerplateSettings
from tasks.shard.boilerplate import boilerplate_signals, model_rows
from tasks.shard.boilerplate.features import feature_matrix
from tasks.shard.boilerplate.model import MODEL_PATH, TreeModel

L3S_WEIGHT = 30.0
PARAMS = {"max_depth": 4, "max_iter": 100, "learning_rate": 0.2, "max_leaf_nodes": 16,
              "l2_regularization": 1.0, "random_state": 0}


def training_rows(data_dir: Path, datasets: tuple[str, ...] = ("l3s", "lines_gold"),
                  l3s_weight: float = L3S_WEIGHT
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    settings = BoilerplateSettings()
    xs, ys, ws = [], [], []
    names: list[str] = []
    weights = {"l3s": l3s_weight, "lines_gold": 1.0}
    for which, weight in ((w, weights[w]) for w in datasets):
        ds = load(data_dir, which)
        rules, _, feats = boilerplate_signals(ds.paragraphs, settings)
        judged = np.zeros(ds.paragraphs.num_rows, bool)
        judged[model_rows(rules, feats)] = True  # the rows flag_boilerplate asks the model about
        use = (ds.half == TUNE) & ds.scored & judged
        x, names = feature_matrix(feats, np.flatnonzero(use))
        xs.append(x)
        ys.append(ds.is_content[use])
        ws.append(np.full(int(use.sum()), weight))
        print(f"{which}: {int(use.sum())} training rows", file=sys.stderr)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ws), names


def export(model, names: list[str], only: str | None = None,
           l3s_weight: float = L3S_WEIGHT) -> dict:
    """The fitted trees as arrays: feature (-1 at a leaf), threshold (go left when x <= it),
    left, right (a leaf points to itself) and value (the leaf's raw score, shrinkage included)."""
    trees = []
    for (predictor,) in model._predictors:  # binary: one tree per iteration
        nodes = predictor.nodes
        leaf = nodes["is_leaf"].astype(bool)
        idx = np.arange(len(nodes))
        trees.append({
            "feature": np.where(leaf, -1, nodes["feature_idx"]).tolist(),
            "threshold": np.where(leaf, 0.0, nodes["num_threshold"]).tolist(),
            "left": np.where(leaf, idx, nodes["left"]).tolist(),
            "right": np.where(leaf, idx, nodes["right"]).tolist(),
            "value": np.where(leaf, np.round(nodes["value"], 7), 0.0).tolist(),
        })
    return {
        "kind": "sklearn HistGradientBoostingClassifier, exported",
        "trained_on": "tuning halves of L3S-GN1 (all blocks) and lines_gold_match (5+ words)"
                      if not only else f"tuning half of {only} only",
        "params": PARAMS | {"l3s_weight": l3s_weight},
        "features": names,
        "baseline": float(np.ravel(model._baseline_prediction)[0]),
        "max_depth": int(max(p.nodes["depth"].max() for (p,) in model._predictors)),
        "trees": trees,
    }


def cross_validate(data_dir: Path, l3s_weights: list[float]) -> None:
    """Choose the L3S weight without touching the held-out half: 2-fold cross-validation inside
    the tuning half (folds by the second byte of SHA-1 of the document id), scoring the whole of
    flag_boilerplate (rules + model, default settings) on the left-out fold."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from benchmarks.evaluation.boilerplate_eval import prf
    from tasks import boilerplate

    settings = BoilerplateSettings()
    data = {}
    for which in ("l3s", "lines_gold"):
        ds = load(data_dir, which)
        rules, _, feats = boilerplate_signals(ds.paragraphs, settings)
        judged = np.zeros(len(rules), bool)
        judged[model_rows(rules, feats)] = True
        fold = np.array([hashlib.sha1(d.encode()).digest()[1] % 2
                         for d in ds.paragraphs["doc_id"].to_pylist()])
        x, names = feature_matrix(feats)
        data[which] = (ds, rules, feats, judged, fold, x)
    for weight in l3s_weights:
        scores: dict[str, list] = {k: [] for k in data}
        for left_out in (0, 1):
            xs, ys, ws = [], [], []
            for which, (ds, _, _, judged, fold, x) in data.items():
                use = (ds.half == TUNE) & ds.scored & judged & (fold != left_out)
                xs.append(x[use])
                ys.append(ds.is_content[use])
                ws.append(np.full(int(use.sum()), weight if which == "l3s" else 1.0))
            fitted = HistGradientBoostingClassifier(**PARAMS).fit(
                np.concatenate(xs), np.concatenate(ys), sample_weight=np.concatenate(ws))
            model = TreeModel(export(fitted, names))
            boilerplate.load_model = lambda m=model: m
            for which, (ds, rules, feats, _, fold, _) in data.items():
                kept = np.array([r is None for r in boilerplate._decide(rules, feats, settings)])
                s = (ds.half == TUNE) & ds.scored & (fold == left_out)
                scores[which].append((prf(ds.is_content[s], kept[s])[2],
                                      prf(ds.is_content[s], kept[s], ds.chars[s])[2]))
        print(f"l3s weight {weight:g}: " + ", ".join(
            f"{k} block F1 {np.mean(v, axis=0)[0]:.3f} char F1 {np.mean(v, axis=0)[1]:.3f}"
            for k, v in scores.items()), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    parser.add_argument("--only", choices=["l3s", "lines_gold"],
                        help="train on one data set (to compare; the shipped model uses both)")
    parser.add_argument("--l3s-weight", type=float, default=L3S_WEIGHT)
    parser.add_argument("--cv", metavar="W1,W2,...",
                        help="only cross-validate these L3S weights on the tuning half")
    args = parser.parse_args(argv)
    missing = [p for p in (L3S, LINES_GOLD) if not (args.data_dir / p).is_file()]
    if missing:
        print(f"error: training data not found under {args.data_dir}: {', '.join(missing)}",
              file=sys.stderr)
        return 2
    if args.cv:
        cross_validate(args.data_dir, [float(w) for w in args.cv.split(",")])
        return 0
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, y, w, names = training_rows(args.data_dir,
                                   (args.only,) if args.only else ("l3s", "lines_gold"),
                                   args.l3s_weight)
    model = HistGradientBoostingClassifier(**PARAMS).fit(x, y, sample_weight=w)
    spec = export(model, names, args.only, args.l3s_weight)
    # the numpy inference must reproduce scikit-learn's probabilities
    ours = TreeModel(spec).content_probability(x[:20000])
    theirs = model.predict_proba(x[:20000])[:, 1]
    gap = float(np.abs(ours - theirs).max())
    if gap > 1e-5:
        print(f"error: exported model differs from scikit-learn by {gap}", file=sys.stderr)
        return 1
    args.out.write_text(json.dumps(spec, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB, {len(spec['trees'])} trees, "
          f"{len(names)} features; max difference to scikit-learn {gap:.1e})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
