"""The boilerplate model: small gradient-boosted trees over `boilerplate_features`, in numpy.

The weights live in `models/boilerplate_model.json` beside this module, written by
`benchmarks/training/train_boilerplate_model.py` (scikit-learn's HistGradientBoostingClassifier, trained
on the tuning halves of L3S-GN1 and lines_gold_match). Inference needs only numpy: each tree is
walked level by level for all rows at once.
"""

from __future__ import annotations

import json
from functools import cache

import numpy as np

from tasks import MODELS_DIR

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

    def content_probability(self, x: np.ndarray, chunk: int = 1024) -> np.ndarray:
        """P(content) per row of the feature matrix x (rows x features). All trees are walked
        together, one level per step, for a chunk of rows at a time (small enough that the
        per-step arrays stay in cache). The first level reads one column per tree; the others
        look up each row's node."""
        raw = np.full(len(x), self.baseline)
        n_features = x.shape[1] if x.ndim == 2 else 0
        root_feature, root_threshold = self.feature[self.roots], self.threshold[self.roots]
        root_left, root_right = self.left[self.roots], self.right[self.roots]
        for lo in range(0, len(x), chunk):
            block = np.ascontiguousarray(x[lo:lo + chunk], dtype=np.float64)
            flat = block.ravel()
            n = len(block)
            row_base = (np.arange(n, dtype=np.int32) * n_features)[:, None]
            # C order throughout: the sum over trees below must add in the same order always
            go_left = np.ascontiguousarray(block[:, root_feature]) <= root_threshold
            node = np.where(go_left, root_left, root_right)
            for _ in range(self.depth - 1):
                go_left = flat[row_base + self.feature[node]] <= self.threshold[node]
                node = np.where(go_left, self.left[node], self.right[node])
            raw[lo:lo + chunk] += self.value[node].sum(axis=1)
        return 1.0 / (1.0 + np.exp(-raw))


@cache
def load_model(path: str | None = None) -> TreeModel:
    with open(path or MODEL_PATH, encoding="utf-8") as fh:
        return TreeModel(json.load(fh))
