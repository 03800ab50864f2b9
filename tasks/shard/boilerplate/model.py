"""The boilerplate model: small gradient-boosted trees over `boilerplate_features`, in numpy.

The weights live in `models/boilerplate_model.json` beside this module, written by
`benchmarks/training/train_boilerplate_model.py` (scikit-learn's HistGradientBoostingClassifier, trained
on the tuning halves of L3S-GN1 and lines_gold_match). Inference is compiled
(tasks/shard/boilerplate/_trees.c, built by `pip install` with the system's C compiler): each row
walks every tree, and the leaves are summed as numpy sums a row.
"""

from __future__ import annotations

import json
from functools import cache

import numpy as np

from tasks import MODELS_DIR
from tasks.shard.boilerplate import _trees

MODEL_PATH = MODELS_DIR / "boilerplate_model.json"


class TreeModel:
    def __init__(self, spec: dict) -> None:
        self.features: list[str] = spec["features"]
        self.baseline = float(spec["baseline"])
        self.depth = int(spec["max_depth"])
        # all trees in one flat node array; children as global node numbers; a leaf has
        # feature -1 and points to itself, so walking past it changes nothing
        feature, threshold, left, right, value, roots = [], [], [], [], [], []
        offset = 0
        for tree in spec["trees"]:
            roots.append(offset)
            feature += tree["feature"]
            threshold += tree["threshold"]
            left += [offset + i for i in tree["left"]]
            right += [offset + i for i in tree["right"]]
            value += tree["value"]
            offset += len(tree["feature"])
        self.feature = np.maximum(np.asarray(feature, np.int32), 0)  # leaves read feature 0
        self.threshold = np.asarray(threshold, np.float64)
        self.left = np.asarray(left, np.int32)
        self.right = np.asarray(right, np.int32)
        self.value = np.asarray(value, np.float64)
        self.roots = np.asarray(roots, np.int32)

    def check_features(self, names: list[str]) -> None:
        if names != self.features:
            raise ValueError("boilerplate model was trained on other features; retrain it with "
                             "benchmarks/training/train_boilerplate_model.py")

    def content_probability(self, x: np.ndarray) -> np.ndarray:
        """P(content) per row of the feature matrix x (rows x features)."""
        if not len(x):
            return np.zeros(0, dtype=np.float64)
        x = np.ascontiguousarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] <= self.feature.max(initial=0):
            raise ValueError(f"feature matrix of shape {x.shape}: the model reads "
                             f"{len(self.features)} features per row")
        raw = np.empty(len(x), dtype=np.float64)
        _trees.raw_scores(x, x.shape[1], self.feature, self.threshold, self.left, self.right,
                          self.value, self.roots, self.depth, self.baseline, raw)
        return 1.0 / (1.0 + np.exp(-raw))


@cache
def load_model(path: str | None = None) -> TreeModel:
    with open(path or MODEL_PATH, encoding="utf-8") as fh:
        return TreeModel(json.load(fh))
