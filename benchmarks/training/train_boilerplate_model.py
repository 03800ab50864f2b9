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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.evaluation.boilerplate_eval import (
    L3S,
    LINES_GOLD,
    TUNE,
    Dataset,
    load,
    prf,
    reads_as_sentence,
    site_template_rows,
)
from tasks.settings import BoilerplateSettings
from tasks.shard.boilerplate import (
    boilerplate_signals,
    decide_with_model,
    model_rows,
)
from tasks.shard.boilerplate.features import feature_matrix
from tasks.shard.boilerplate.model import MODEL_PATH, TreeModel

L3S_WEIGHT = 10.0  # chosen by cross_validate (docs/benchmarks/boilerplate.md)
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


FOLDS = 7
CHOICE_MARGIN = 0.01
THRESHOLDS = [(m, p) for m in (0.3, 0.4, 0.5) for p in (0.05, 0.1, 0.2) if p <= m]


@dataclass
class Prepared:
    """A data set with what flag_boilerplate computes before the model, and CV folds."""

    ds: Dataset
    rules: list
    feats: dict
    x: np.ndarray
    judged: np.ndarray  # rows the model is asked about
    fold: np.ndarray  # CV fold of each tuning row, -1 for the held-out half
    keys: np.ndarray  # template key per row (0 = none)
    doc_index: np.ndarray
    sentence: np.ndarray  # reads as an article sentence (10+ words, terminal punctuation)


def fold_of(ds: Dataset, by: str) -> np.ndarray:
    """CV folds of the tuning rows; held-out rows get -1 (they are in no fold).
    by "source": lines_gold one fold per data set family (a fold's pages come from collections
    the model never saw in that round), L3S-GN1 by the site its title names (a site's pages in
    one fold): the estimate for sites never seen. by "page": a hash of the page id (the
    estimate for new pages of the sources trained on, as the held-out half is)."""
    if by == "source" and ds.name == "lines_gold":
        families = sorted(set(ds.source.tolist()))
        fold = np.array([families.index(s) % FOLDS for s in ds.source.tolist()])
    else:
        groups = ds.source if by == "source" else ds.paragraphs["doc_id"].to_numpy(
            zero_copy_only=False)
        codes = {s: hashlib.sha1(s.encode()).digest()[2] % FOLDS for s in set(groups.tolist())}
        fold = np.array([codes[s] for s in groups.tolist()])
    return np.where(ds.half == TUNE, fold, -1)


def prepare(data_dir: Path, folds: str = "source") -> dict[str, Prepared]:
    settings = BoilerplateSettings()
    out = {}
    for which in ("l3s", "lines_gold"):
        ds = load(data_dir, which)
        rules, keys, feats = boilerplate_signals(ds.paragraphs, settings)
        judged = np.zeros(len(rules), bool)
        judged[model_rows(rules, feats)] = True
        x, _ = feature_matrix(feats)
        doc_index = np.unique(ds.paragraphs["doc_id"].to_numpy(zero_copy_only=False),
                              return_inverse=True)[1]
        out[which] = Prepared(ds, rules, feats, x, judged, fold_of(ds, folds),
                              np.array([k or 0 for k in keys], dtype=np.uint64), doc_index,
                              reads_as_sentence(ds))
        print(f"{which}: {ds.paragraphs.num_rows} rows, {int(judged.sum())} judged by the model",
              file=sys.stderr)
    return out


def out_of_fold(data: dict[str, Prepared], params: dict, l3s_weight: float
                ) -> dict[str, np.ndarray]:
    """P(content) of every tuning row from the model trained on the other folds (1 where the
    model is not asked)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    p = {k: np.ones(len(v.rules)) for k, v in data.items()}
    for left_out in range(FOLDS):
        xs, ys, ws = [], [], []
        for which, d in data.items():
            use = (d.fold >= 0) & (d.fold != left_out) & d.ds.scored & d.judged
            xs.append(d.x[use])
            ys.append(d.ds.is_content[use])
            ws.append(np.full(int(use.sum()), l3s_weight if which == "l3s" else 1.0))
        fitted = HistGradientBoostingClassifier(**params).fit(
            np.concatenate(xs), np.concatenate(ys), sample_weight=np.concatenate(ws))
        for d_name, d in data.items():
            rows = np.flatnonzero((d.fold == left_out) & d.judged)
            if len(rows):
                p[d_name][rows] = fitted.predict_proba(d.x[rows])[:, 1]
    return p


def decisions(d: Prepared, p_content: np.ndarray, settings: BoilerplateSettings) -> np.ndarray:
    """Claimed content per row: flag_boilerplate's decision with these probabilities, then the
    site-template rule over the tuning pages of each site (as a run over them would)."""
    rules = decide_with_model(d.rules, d.feats, p_content, settings)
    flagged = np.array([r is not None for r in rules])
    return ~flagged & ~site_template_rows(d.ds, d.doc_index, d.keys, flagged, settings,
                                          d.fold >= 0)


def scores(d: Prepared, content: np.ndarray, rows: np.ndarray) -> tuple[float, float, float]:
    """Block F1, character F1 and the share of article sentences lost, on `rows`."""
    s = rows & d.ds.scored
    gold = d.ds.is_content
    lost = s & gold & d.sentence & ~content
    return (prf(gold[s], content[s])[2], prf(gold[s], content[s], d.ds.chars[s])[2],
            float(lost.sum() / max((s & gold & d.sentence).sum(), 1)))


def cross_validate(data_dir: Path, l3s_weights: list[float], depths: list[int],
                   folds: str = "source", iterations: int = PARAMS["max_iter"]) -> None:
    """Choose the L3S weight, the trees' depth and the two thresholds without touching the
    held-out half: out-of-fold probabilities on the tuning half (FOLDS folds, see fold_of), the
    whole decision scored as the product makes it (rules, model, thresholds, site templates)."""
    data = prepare(data_dir, folds)
    print(f"{FOLDS} folds by {folds}, {iterations} trees")
    print("weight depth thresholds | L3S block F1, char F1, sentences lost | lines_gold block "
          "F1, char F1, sentences lost | lines_gold block F1 by family")
    results = []
    for weight in l3s_weights:
        for depth in depths:
            params = PARAMS | {"max_depth": depth, "max_iter": iterations}
            p = out_of_fold(data, params, weight)
            for model_t, prose_t in THRESHOLDS:
                settings = BoilerplateSettings(model_threshold=model_t,
                                               model_prose_threshold=prose_t)
                line = [f"{weight:6g} {depth:5d} {model_t:.2f}/{prose_t:.2f} |"]
                f1s, losses, content = [], [], {}
                for which, d in data.items():
                    content[which] = decisions(d, p[which], settings)
                    b, c, lost = scores(d, content[which], d.fold >= 0)
                    f1s += [b, c]
                    losses.append(lost)
                    line.append(f" {b:.3f} {c:.3f} {lost:5.1%} |")
                lg = data["lines_gold"]
                line += [f" {fam} {scores(lg, content['lines_gold'], lg.ds.source == fam)[0]:.3f}"
                         for fam in sorted(set(lg.ds.source.tolist()))]
                print("".join(line), flush=True)
                results.append((float(np.mean(f1s)), max(losses), line[0]))
    # The choice: of the settings within CHOICE_MARGIN of the best mean F1 (block and character,
    # both data sets), the one that loses the fewest article sentences on either.
    best = max(r[0] for r in results)
    chosen = min((r for r in results if r[0] >= best - CHOICE_MARGIN), key=lambda r: (r[1], -r[0]))
    print(f"chosen: {chosen[2].strip(' |')} (mean F1 {chosen[0]:.3f}, best {best:.3f}; at most "
          f"{chosen[1]:.1%} of sentences lost)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    parser.add_argument("--only", choices=["l3s", "lines_gold"],
                        help="train on one data set (to compare; the shipped model uses both)")
    parser.add_argument("--l3s-weight", type=float, default=L3S_WEIGHT)
    parser.add_argument("--cv", action="store_true",
                        help="only cross-validate on the tuning half: every L3S weight and depth "
                             "given, with each pair of thresholds in THRESHOLDS")
    parser.add_argument("--l3s-weights", default=str(L3S_WEIGHT), metavar="W1,W2,...")
    parser.add_argument("--depths", default=str(PARAMS["max_depth"]), metavar="D1,D2,...")
    parser.add_argument("--folds", choices=["source", "page"], default="source")
    parser.add_argument("--trees", type=int, default=PARAMS["max_iter"])
    args = parser.parse_args(argv)
    missing = [p for p in (L3S, LINES_GOLD) if not (args.data_dir / p).is_file()]
    if missing:
        print(f"error: training data not found under {args.data_dir}: {', '.join(missing)}",
              file=sys.stderr)
        return 2
    if args.cv:
        cross_validate(args.data_dir, [float(w) for w in args.l3s_weights.split(",")],
                       [int(d) for d in args.depths.split(",")], args.folds, args.trees)
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
