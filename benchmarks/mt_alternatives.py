"""The approaches tried for the PAN13 AUC target, measured the same way (BENCHMARKS.md).

    .venv/bin/python -m pip install scikit-learn wordsegment lemminflect   # this script only
    .venv/bin/python benchmarks/mt_alternatives.py ../shared/eval [--round 1|2|all]

ROC-AUC of PAN13 translation-chain passages against their sources: single statistics are
scored on the holdout half as they are (no training); trained models are fitted on the tune
half and scored on the holdout half; "tune CV" is 5-fold cross-validation grouped by case inside
the tune half, the figure choices were made on. Round 1 (the first attempt) takes about a minute.
Round 2 (the second attempt: regularisation, fastText, grammar rules, a human-English n-gram
model, case statistics, sentence-level training, extra negatives, stacking, artifact checks)
takes about five; its fastText rows need the full fastText trainer, which fasttext-predict
(textwash's dependency) is not: run it from a separate environment,

    python3 -m venv /tmp/mt-train && /tmp/mt-train/bin/pip install -e . \
        && /tmp/mt-train/bin/pip install fasttext-numpy2-wheel scikit-learn wordsegment lemminflect
    /tmp/mt-train/bin/python benchmarks/mt_alternatives.py ../shared/eval --round 2

(without it those rows print as skipped). --slow adds two sets of rows that need Debian packages
(each prints as skipped without them): Apertium round trips (apt-get install apertium
apertium-eng-spa apertium-eng-cat apertium-eo-en) and Link Grammar parses (apt-get install
python3-link-grammar link-grammar-dictionaries-en; the bindings are found in
/usr/lib/python3/dist-packages from any Python of the version they are built for, so also from
the venv when its Python is the system's version). --only link-grammar runs just the shipped
features' baseline and the Link Grammar rows (about 17 minutes on one core: ~4,500 sentences,
up to 2 s each, sentences over 60 words not parsed):

    taskset -c 1 .venv/bin/python benchmarks/mt_alternatives.py ../shared/eval --round 2 \
        --only link-grammar

The n-gram model and the case table are counted from English lines of
corpus/web_fulltext.jsonl.gz and from PAN13 source documents that belong to no translation-chain
case, so no evaluated passage is in them.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import re
import sys
from itertools import pairwise
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mt_eval import collapse, half_of, load_pan13, load_wmt, require, roc_auc

from tasks.shard.translation_style import WordPatterns, default_word_patterns

_WORD_OR_PUNCT = re.compile(r"[A-Za-z]+|[0-9]+|[^\sA-Za-z0-9]")
WORD_OR_PUNCT_PATTERN = r"(?u)\b\w+\b|[^\w\s]"


def bigram_statistics(texts: list[str]) -> dict[str, list[float]]:
    """Google web bigrams as shipped in wordsegment: pairs of common words (both > 1e6 in its
    unigram counts) not in the 286k-pair list, pairs whose reverse is, mean PMI."""
    import wordsegment

    wordsegment.load()
    unigrams, bigrams = wordsegment.UNIGRAMS, wordsegment.BIGRAMS
    total_uni, total_bi = sum(unigrams.values()), sum(bigrams.values())
    out: dict[str, list[float]] = {"unseen pair rate": [], "reversed pair rate": [], "mean PMI": []}
    for text in texts:
        pairs = unseen = reversed_ = 0
        pmi: list[float] = []
        previous = None
        for token in _WORD_OR_PUNCT.findall(text):
            if not token[0].isalpha():
                previous = None
                continue
            low = token.lower()
            if previous and unigrams.get(previous, 0) > 1e6 and unigrams.get(low, 0) > 1e6:
                pairs += 1
                count = bigrams.get(f"{previous} {low}", 0)
                if not count:
                    unseen += 1
                    reversed_ += f"{low} {previous}" in bigrams
                pmi.append(math.log((max(count, 3e4) / total_bi)
                                    / (unigrams[previous] / total_uni * unigrams[low] / total_uni)))
            previous = low
        out["unseen pair rate"].append(unseen / max(pairs, 1))
        out["reversed pair rate"].append(reversed_ / max(pairs, 1))
        out["mean PMI"].append(float(np.mean(pmi)) if pmi else 0.0)
    return out


def frequency_statistics(texts: list[str]) -> dict[str, list[float]]:
    from wordfreq import get_frequency_dict

    frequencies = get_frequency_dict("en", "large")
    out: dict[str, list[float]] = {"mean zipf of lower-case words": [], "rare-word rate": []}
    for text in texts:
        words = [w for w in re.findall(r"[A-Za-z]+", text) if w[0].islower()]
        zipf = [math.log10(frequencies.get(w, 1e-9)) + 9 for w in words]
        out["mean zipf of lower-case words"].append(float(np.mean(zipf)) if zipf else 5.0)
        out["rare-word rate"].append(sum(z < 3.5 for z in zipf) / max(len(words), 1))
    return out


def stylometric(text: str) -> list[float]:
    words = re.findall(r"[A-Za-z]+(?:['’][A-Za-z]+)?", text)
    n = max(len(words), 1)
    lower = [w.lower() for w in words]
    sentences = max(1, len(re.findall(r"[.!?](\s|$)", text)))
    return [len(words), sum("'" in w or "’" in w for w in words) / n,
            len(re.findall(r"[A-Za-z]-[A-Za-z]", text)) / n, text.count(",") / n,
            text.count(";") / n, text.count("(") / n, sum(w[0].isupper() for w in words[1:]) / n,
            len(set(lower)) / n, sum(a == b for a, b in pairwise(lower)) / n, n / sentences,
            *(lower.count(w) / n for w in ("the", "of", "and", "is", "which", "it", "not", "can",
                                           "could", "up"))]


def pos_symbols():
    import lemminflect

    patterns = default_word_patterns()
    tags = {"NOUN": "N", "VERB": "V", "ADJ": "A", "ADV": "R", "AUX": "X", "PROPN": "P"}
    cache: dict[str, str] = {}

    def analyzer(text: str) -> list[str]:
        out = []
        for token in re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)*|\d+|[^\w\s]", text):
            low = token.lower()
            if not token[0].isalpha() or low in patterns.model.kept_words:
                out.append(patterns.symbols(token)[0])
                continue
            if low not in cache:
                found = lemminflect.getAllLemmas(low)
                cache[low] = "".join(sorted(tags.get(k, "?") for k in found)) or "u"
            out.append(("^" if token[0].isupper() else "") + cache[low])
        return WordPatterns.features(out)

    return analyzer


def round_one(args, pan13) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    tune = [e for e in pan13 if e.half == "tune"]
    hold = [e for e in pan13 if e.half == "holdout"]
    y_tune = np.array([e.label == "translation" for e in tune], dtype=int)
    y_hold = np.array([e.label == "translation" for e in hold], dtype=int)
    x_tune, x_hold = [e.text for e in tune], [e.text for e in hold]

    def auc(scores, labels=y_hold) -> str:
        scores = np.asarray(scores, dtype=float)
        return f"{roc_auc(scores[labels == 1], scores[labels == 0]):.3f}"

    print("| approach | ROC-AUC |\n|---|---:|")
    for name, values in {**bigram_statistics(x_hold), **frequency_statistics(x_hold)}.items():
        print(f"| {name} (holdout, no training) | {auc(values)} |")

    style = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    cv = cross_val_predict(style, np.array([stylometric(t) for t in x_tune]), y_tune,
                           groups=[e.group for e in tune], cv=GroupKFold(5),
                           method="decision_function")
    print(f"| 20 stylometric rates, LR (tune, 5-fold CV) | {auc(cv, y_tune)} |")

    shipped = default_word_patterns()

    def shipped_analyzer(text):
        return WordPatterns.features(shipped.symbols(text))

    def tfidf_lr(analyzer=None, c=3.0, train=(x_tune, y_tune), **vectorizer):
        model = make_pipeline(TfidfVectorizer(analyzer=analyzer or "word", sublinear_tf=True,
                                              min_df=2, **vectorizer),
                              LogisticRegression(C=c, max_iter=10_000))
        model.fit(train[0], train[1])
        return model.decision_function(x_hold)

    words = tfidf_lr(ngram_range=(1, 2), lowercase=False, token_pattern=WORD_OR_PUNCT_PATTERN)
    print(f"| word 1-2-grams, TF-IDF LR | {auc(words)} |")
    characters = tfidf_lr(analyzer="char", ngram_range=(1, 4), lowercase=False)
    print(f"| character 1-4-grams, TF-IDF LR | {auc(characters)} |")
    print(f"| function words + part-of-speech classes (lemminflect) | {auc(tfidf_lr(pos_symbols()))} |")
    print(f"| function words + frequency bands (shipped features, refitted) "
          f"| {auc(tfidf_lr(shipped_analyzer))} |")

    wmt = [e for e in load_wmt(args.data_dir)
           if e.half == "tune" and e.label in ("original_en", "human_translation_en")]
    rng = np.random.default_rng(0)
    extra = [wmt[i].text for i in rng.choice(len(wmt), 2000, replace=False)]
    with_wmt = (x_tune + extra, np.r_[y_tune, np.zeros(len(extra), dtype=int)])
    print("| shipped features, 2,000 WMT human sentences as extra negatives "
          f"| {auc(tfidf_lr(shipped_analyzer, train=with_wmt))} |")

    with gzip.open(args.data_dir / "pan13/documents.jsonl.gz", "rt", encoding="utf-8") as f:
        documents = {r["id"]: r["text"] for r in map(json.loads, f)}
    random_texts, random_labels = [], []
    with open(args.data_dir / "pan13/cases.jsonl", encoding="utf-8") as f:
        for case in map(json.loads, f):
            if case["kind"] != "random" or half_of(f"{case['suspicious']}|{case['source']}") != "tune":
                continue
            made, source = documents[case["suspicious"]], documents[case["source"]]
            for p in case["passages"]:
                random_texts += [
                    collapse(made[p["this_offset"]:p["this_offset"] + p["this_length"]]),
                    collapse(source[p["source_offset"]:p["source_offset"] + p["source_length"]])]
                random_labels += [1, 0]
    with_random = (x_tune + random_texts, np.r_[y_tune, random_labels])
    print("| shipped features, PAN13 `random` obfuscation as extra positives "
          f"| {auc(tfidf_lr(shipped_analyzer, train=with_random))} |")

    print("\nLearning curve, shipped features (holdout AUC, mean of 3 draws of tune cases):")
    pairs = np.arange(len(tune) // 2)  # passages come in (translation, source) pairs
    for share in (0.25, 0.5, 0.75, 1.0):
        scores = []
        for _ in range(3 if share < 1 else 1):
            chosen = rng.permutation(pairs)[: int(share * len(pairs))]
            rows = np.sort(np.r_[2 * chosen, 2 * chosen + 1])
            subset = ([x_tune[i] for i in rows], y_tune[rows])
            scores.append(float(auc(tfidf_lr(shipped_analyzer, train=subset))))
        print(f"  {share:.0%}: {np.mean(scores):.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--round", choices=("1", "2", "all"), default="all",
                        help="1: the first attempt's table; 2: the second attempt's")
    parser.add_argument("--slow", action="store_true",
                        help="round 2 also: Apertium round trips and Link Grammar parses "
                             "(Debian packages; the Link Grammar parses alone take ~17 minutes)")
    parser.add_argument("--only", choices=("link-grammar",),
                        help="round 2: only the shipped-features baseline and the Link Grammar "
                             "rows (~17 minutes on one core)")
    args = parser.parse_args(argv)
    require(args.data_dir, "pan13/cases.jsonl", "pan13/documents.jsonl.gz")
    pan13 = load_pan13(args.data_dir)
    if args.round in ("1", "all"):
        round_one(args, pan13)
    if args.round in ("2", "all"):
        from mt_alternatives_round2 import round_two

        round_two(args.data_dir, pan13, slow=args.slow, only=args.only)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
