"""Train the boilerplate model and write tasks/boilerplate_model.json.

    pip install -e '.[train]'
    python benchmarks/train_boilerplate_model.py /work/shared/eval

Trains scikit-learn's HistGradientBoostingClassifier (fixed seed) on the TUNING half only of
L3S-GN1 (every block) and lines_gold_match (lines of 5+ words: the labels of shorter lines come
from string matching and are noisy), on the rows flag_boilerplate asks the model about (no sure
rule fired, the document has a main run of prose), with the features flag_boilerplate computes
(tasks/boilerplate_features.py), and exports its trees as plain JSON for the numpy inference in
tasks/boilerplate_model.py. The held-out halves are for benchmarks/boilerplate_eval.py.

L3S-GN1 is small (about 16,000 blocks in the tuning half) next to lines_gold_match (about
100,000 scored lines), so its blocks weigh L3S_WEIGHT times more: the model should learn news
pages without forgetting other kinds of pages.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.boilerplate_eval import L3S, LINES_GOLD, TUNE, load
from tasks.boilerplate import boilerplate_signals, model_rows
from tasks.boilerplate_features import feature_matrix
from tasks.boilerplate_model import MODEL_PATH, TreeModel
from tasks.settings import BoilerplateSettings

L3S_WEIGHT = 30.0
PARAMS = {"max_depth": 4, "max_iter": 100, "learning_rate": 0.2, "max_leaf_nodes": 16,
              "l2_regularization": 1.0, "random_state": 0}


def training_rows(data_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    settings = BoilerplateSettings()
    xs, ys, ws = [], [], []
    names: list[str] = []
    for which, weight in (("l3s", L3S_WEIGHT), ("lines_gold", 1.0)):
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


def export(model, names: list[str]) -> dict:
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
        "trained_on": "tuning halves of L3S-GN1 (all blocks) and lines_gold_match (5+ words)",
        "params": {k: v for k, v in PARAMS.items()} | {"l3s_weight": L3S_WEIGHT},
        "features": names,
        "baseline": float(np.ravel(model._baseline_prediction)[0]),
        "max_depth": int(max(p.nodes["depth"].max() for (p,) in model._predictors)),
        "trees": trees,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    args = parser.parse_args(argv)
    missing = [p for p in (L3S, LINES_GOLD) if not (args.data_dir / p).is_file()]
    if missing:
        print(f"error: training data not found under {args.data_dir}: {', '.join(missing)}",
              file=sys.stderr)
        return 2
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, y, w, names = training_rows(args.data_dir)
    model = HistGradientBoostingClassifier(**PARAMS).fit(x, y, sample_weight=w)
    spec = export(model, names)
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
