"""The boilerplate model: small gradient-boosted trees over `boilerplate_features`, in numpy.

The weights live in `boilerplate_model.json` beside this module, written by
`benchmarks/train_boilerplate_model.py` (scikit-learn's HistGradientBoostingClassifier, trained
on the tuning halves of L3S-GN1 and lines_gold_match). Inference needs only numpy: each tree is
walked level by level for all rows at once.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np

MODEL_PATH = Path(__file__).with_name("boilerplate_model.json")


class TreeModel:
    def __init__(self, spec: dict) -> None:
        self.features: list[str] = spec["features"]
        self.baseline = float(spec["baseline"])
        self.trees = []
        for tree in spec["trees"]:
            self.trees.append(tuple(np.asarray(tree[k], dtype=dt) for k, dt in (
                ("feature", np.int64), ("threshold", np.float64), ("left", np.int64),
                ("right", np.int64), ("value", np.float64))))
        self.depth = int(spec["max_depth"])

    def check_features(self, names: list[str]) -> None:
        if names != self.features:
            raise ValueError("boilerplate model was trained on other features; retrain it with "
                             "benchmarks/train_boilerplate_model.py")

    def content_probability(self, x: np.ndarray) -> np.ndarray:
        """P(content) per row of the feature matrix x (rows x features)."""
        raw = np.full(len(x), self.baseline)
        rows = np.arange(len(x))
        for feature, threshold, left, right, value in self.trees:
            node = np.zeros(len(x), dtype=np.int64)
            for _ in range(self.depth):  # leaves point to themselves, so extra steps are no-ops
                f = feature[node]
                go_left = x[rows, np.maximum(f, 0)] <= threshold[node]
                node = np.where(f < 0, node, np.where(go_left, left[node], right[node]))
            raw += value[node]
        return 1.0 / (1.0 + np.exp(-raw))


@cache
def load_model(path: str | None = None) -> TreeModel:
    with open(path or MODEL_PATH, encoding="utf-8") as fh:
        return TreeModel(json.load(fh))
