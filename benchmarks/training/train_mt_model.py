"""Train and calibrate the word-pattern model (tasks/models/mt_word_patterns.json).

    .venv/bin/python -m pip install scikit-learn    # training only; textwash does not need it
    .venv/bin/python benchmarks/training/train_mt_model.py ../shared/eval

Uses only the `tune` half of each data set (see benchmarks/evaluation/mt_eval.py for the split):
1. Features: symbol unigrams and bigrams (tasks/shard/translation_style.py), TF-IDF weighted.
2. A logistic regression, PAN13 translation-chain passages (1) against their source passages
   (0); C chosen by 5-fold cross-validation grouped by case.
3. Calibration, with the prior fixed (PRIOR_LOGODDS): the length shrink (`shrink_words`) and the
   `scale` that turns z into log-odds: the largest PAN13 recall (on cross-validated z, rules
   included) such that at the default threshold at most 0.5% of WMT original English and 1% of
   WMT human translations are flagged (half the targets, a margin for the holdout half).
4. Documents: `document_center`, the mean z above which word patterns count for a document, so
   that at most 1% of WMT pseudo-documents (10 consecutive human sentences) are flagged.
The written model is checked against scikit-learn's own scores before it is saved.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from importlib import metadata
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.evaluation.mt_eval import Example, load_pan13, load_wmt, pseudo_documents, roc_auc
from tasks.settings import TranslationSettings
from tasks.shard.translation import (
    count_words,
    document_logit,
    logit,
    paragraph_signals,
    rule_evidence,
)
from tasks.shard.translation_style import MODEL_PATH, WordPatternModel, WordPatterns

KEPT_WORDS = 300
BAND_ZIPF = (4.5, 3.0)
C_GRID = (1.0, 3.0, 10.0, 30.0)
SHRINK_GRID = (0.0, 10.0, 20.0, 40.0, 80.0, 160.0)  # larger: scores grow with length
PRIOR_LOGODDS = 3.0  # a paragraph with no evidence either way scores sigmoid(-3) = 0.05
MAX_FPR = {"original_en": 0.005, "human_translation_en": 0.01}
MAX_DOCUMENT_FPR = 0.01  # WMT pseudo-documents of 10 consecutive sentences
DOCUMENT_SENTENCES = 10
FOLDS = 5


def fit(texts, labels, c, analyzer):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(analyzer=analyzer, sublinear_tf=True, min_df=2)
    matrix = vectorizer.fit_transform(texts)
    model = LogisticRegression(C=c, max_iter=10_000).fit(matrix, labels)
    return vectorizer, model


def cross_validated(texts, labels, groups, c, analyzer) -> np.ndarray:
    from sklearn.model_selection import GroupKFold

    out = np.zeros(len(texts))
    for train, test in GroupKFold(n_splits=FOLDS).split(texts, labels, groups):
        vectorizer, model = fit([texts[i] for i in train], labels[train], c, analyzer)
        out[test] = model.decision_function(vectorizer.transform([texts[i] for i in test]))
    return out


def calibrate(pan13_z, pan13_words, pan13_rules, labels, wmt: dict[str, tuple]):
    """(shrink_words, scale, recall): for each shrink, the largest scale that keeps every WMT set
    within its false-positive budget (flagged: scale * shrunk z + rules - PRIOR >= threshold),
    then the shrink with the best PAN13 recall."""
    threshold = logit(TranslationSettings().flag_threshold)

    def flagged(z, words, rules, shrink, scale):
        return scale * z * words / (words + shrink) + rules - PRIOR_LOGODDS >= threshold

    def within_budget(shrink, scale):
        return all(flagged(*wmt[label], shrink, scale).mean() <= budget
                   for label, budget in MAX_FPR.items())

    best = None
    for shrink in SHRINK_GRID:
        low, high = 0.0, 100.0  # flags grow with the scale: bisect for the largest one allowed
        for _ in range(50):
            middle = (low + high) / 2
            low, high = (middle, high) if within_budget(shrink, middle) else (low, middle)
        recall = float(flagged(pan13_z, pan13_words, pan13_rules, shrink, low)[labels == 1].mean())
        print(f"  shrink_words {shrink:6.0f}: scale {low:.3f}, PAN13 tune recall {recall:.3f}")
        if best is None or recall > best[2]:
            best = (shrink, low, recall)
    return best


def calibrate_document_center(patterns: WordPatterns, documents: list[list[str]]) -> float:
    """The smallest document_center that flags at most MAX_DOCUMENT_FPR of the human documents."""
    threshold = logit(TranslationSettings().flag_threshold)
    parts = []
    for paragraphs in documents:
        hits = [paragraph_signals(t) for t in paragraphs]
        parts.append(([patterns.score(t) for t in paragraphs],
                      rule_evidence([name for h in hits for name in h]),
                      sum(count_words(t) for t in paragraphs)))

    def share_flagged(center: float) -> float:
        trial = WordPatterns(replace(patterns.model, document_center=center), {})
        return float(np.mean([document_logit(trial, english, rules, words, trial.model.offset)
                              >= threshold for english, rules, words in parts]))

    low, high = -2.0, 5.0  # fewer flags as the center rises: bisect for the smallest allowed
    for _ in range(50):
        middle = (low + high) / 2
        low, high = (low, middle) if share_flagged(middle) <= MAX_DOCUMENT_FPR else (middle, high)
    return high


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    args = parser.parse_args(argv)
    try:
        import sklearn
    except ImportError:
        sys.exit("error: training needs scikit-learn: .venv/bin/python -m pip install scikit-learn")
    from wordfreq import get_frequency_dict, top_n_list

    pan13 = [e for e in load_pan13(args.data_dir) if e.half == "tune"]
    wmt = [e for e in load_wmt(args.data_dir) if e.half == "tune" and e.label in MAX_FPR]
    wmt_documents = [paragraphs for _, _, paragraphs in pseudo_documents(wmt, DOCUMENT_SENTENCES)]
    texts = [e.text for e in pan13]
    labels = np.array([e.label == "translation" for e in pan13], dtype=int)
    groups = [e.group for e in pan13]
    print(f"tune half: {labels.sum()} PAN13 translations, {len(labels) - labels.sum()} sources, "
          + ", ".join(f"{sum(e.label == k for e in wmt)} WMT {k}" for k in MAX_FPR))

    kept = top_n_list("en", KEPT_WORDS)
    frequencies = get_frequency_dict("en", "large")
    symbols_only = WordPatterns(
        WordPatternModel(frozenset(kept), BAND_ZIPF, {}, 0.0, 0.0, 1.0, PRIOR_LOGODDS, 0.0, {}),
        frequencies)

    def analyzer(text: str) -> list[str]:
        return WordPatterns.features(symbols_only.symbols(text))

    print("C by grouped cross-validation (ROC-AUC):")
    cv = {}
    for c in C_GRID:
        cv[c] = cross_validated(texts, labels, groups, c, analyzer)
        print(f"  C {c:5.1f}: {roc_auc(cv[c][labels == 1], cv[c][labels == 0]):.3f}")
    c = max(C_GRID, key=lambda k: roc_auc(cv[k][labels == 1], cv[k][labels == 0]))
    vectorizer, model = fit(texts, labels, c, analyzer)

    names = vectorizer.get_feature_names_out()
    features = {str(name): [round(float(idf), 6), round(float(w), 6)]
                for name, idf, w in zip(names, vectorizer.idf_, model.coef_[0])}
    data = {
        "format": 1,
        "kept_words": kept,
        "band_zipf": list(BAND_ZIPF),
        "intercept": round(float(model.intercept_[0]), 6),
        "shrink_words": 0.0,
        "scale": 1.0,
        "offset": PRIOR_LOGODDS,
        "document_center": 0.0,
        "features": dict(sorted(features.items())),
        "meta": {
            "trained_on": "PAN13 text alignment, translation-chain passages vs their sources, "
                          "tune half (hash of suspicious|source)",
            "calibrated_on": "the same, cross-validated, and WMT22 original_en and "
                             "human_translation_en, tune half (hash of pair|seg)",
            "C": c,
            "wordfreq": metadata.version("wordfreq"),
            "scikit_learn": sklearn.__version__,
            "script": "benchmarks/train_mt_model.py",
        },
    }
    patterns = WordPatterns(WordPatternModel.from_json(data), frequencies)
    check = texts[:200]
    ours = np.array([patterns.score(t)[1] for t in check])
    theirs = model.decision_function(vectorizer.transform(check))
    gap = float(np.abs(ours - theirs).max())
    print(f"model file reproduces scikit-learn's scores within {gap:.2e}")
    if gap > 1e-3:
        sys.exit("error: the runtime scorer does not match the trained model")

    def parts(examples: list[Example], z=None):
        scored = [patterns.score(e.text) for e in examples]
        words = np.array([w for w, _ in scored], dtype=float)
        zs = np.array([s for _, s in scored]) if z is None else z
        rules = np.array([rule_evidence(paragraph_signals(e.text)) for e in examples])
        return zs, words, rules

    pan13_z, pan13_words, pan13_rules = parts(pan13, cv[c])
    wmt_parts = {k: parts([e for e in wmt if e.label == k]) for k in MAX_FPR}
    print("calibration on the tune half:")
    shrink, scale, recall = calibrate(pan13_z, pan13_words, pan13_rules, labels, wmt_parts)
    data["shrink_words"], data["scale"] = shrink, round(scale, 4)
    patterns = WordPatterns(WordPatternModel.from_json(data), frequencies)
    center = calibrate_document_center(patterns, wmt_documents)
    data["document_center"] = round(center, 4)
    print(f"document_center {center:.3f}: at most {MAX_DOCUMENT_FPR:.0%} of "
          f"{len(wmt_documents)} WMT tune pseudo-documents ({DOCUMENT_SENTENCES} sentences) flagged")
    print(f"chosen: C {c}, shrink_words {shrink}, scale {scale:.3f} "
          f"(PAN13 tune recall {recall:.3f}), {len(features)} features")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n",
                        encoding="utf-8")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
