"""Round two of benchmarks/mt_alternatives.py: the second attempt at the PAN13 AUC target.

Run through `benchmarks/mt_alternatives.py DATA_DIR --round 2` (its docstring says how, and which
environment the fastText rows need). Every trained approach is fitted on the tune half only;
"tune CV" is 5-fold cross-validation grouped by case inside the tune half (what choices may be
made on), "holdout" the untouched half. Nothing here is used by textwash at run time.
"""

from __future__ import annotations

import collections
import gzip
import itertools
import json
import math
import random
import re
import tempfile
import unicodedata
import warnings
from pathlib import Path

import numpy as np
from mt_eval import WEB, collapse, half_of, roc_auc

from tasks.shard.translation_style import WordPatterns, default_word_patterns

_TOKEN = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*|\d+|[^\w\s]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_NOT_SENTENCE_START = frozenset([".", "!", "?", ":", '"', "(", "-", "|", "•"])
FOLDS = 5

# Grammar slips that round-trip translation was expected to make; each a rate per word.
GRAMMAR_RULES = {
    "a/an + plural": r"\b(?:a|an)\s+(?:\w+\s+)?\w+[^s]s\b(?!\s+of)",
    "these/those + singular": r"\b(?:these|those)\s+\w+[^s\W]\b",
    "this/that + plural": r"\b(?:this|that)\s+\w+[^su]s\b",
    "plural + that/which + verb-s": r"\w{3,}s\s+(?:that|which|who)\s+(?:\w+ly\s+)?(?:is|has|was|\w+[^s]s)\b",
    "they/we/I + has/is/was": r"\b(?:they|we|you|I)\s+(?:has|is|was)\b",
    "he/she/it + have/are/were": r"\b(?:he|she|it)\s+(?:have|are|were|do)\b",
    "article + function word": r"\b(?:the|a|an)\s+(?:the|a|an|of|to|in|is|are|and|for)\b",
    "sentence ends on a function word": r"\b(?:the|a|an|of|to|in|is|are|and|for|these|this|that|"
                                        r"which|with|was|be|has|have)\s*[.!?](?:\s|$)",
    "duplicated word": r"\b(\w{3,})\s+\1\b",
    "contraction": r"\w'(?:s|t|re|ve|ll|d)\b",
}


def _pan13_documents(data_dir: Path) -> tuple[dict[str, str], set[str]]:
    """PAN13's documents by id, and the ids of those in a translation-chain case (evaluated)."""
    with gzip.open(data_dir / "pan13/documents.jsonl.gz", "rt", encoding="utf-8") as f:
        documents = {r["id"]: r["text"] for r in map(json.loads, f)}
    used = set()
    with open(data_dir / "pan13/cases.jsonl", encoding="utf-8") as f:
        for case in map(json.loads, f):
            if case["kind"] == "translation-chain":
                used |= {case["suspicious"], case["source"]}
    return documents, used


def human_english(data_dir: Path) -> list[str]:
    """Human English text no evaluated passage is in: English lines (a third of their words among
    the 100 most common) of the web corpus, and paragraphs of PAN13 source documents that belong
    to no translation-chain case."""
    from wordfreq import top_n_list

    common = set(top_n_list("en", 100))
    documents, used = _pan13_documents(data_dir)
    out = []
    for name, text in documents.items():
        if name.startswith("source") and name not in used:
            out += [p for p in map(collapse, re.split(r"\n\s*\n", text)) if len(p.split()) >= 5]
    with gzip.open(data_dir / WEB, "rt", encoding="utf-8") as f:
        for record in map(json.loads, f):
            for line in record.get("text", "").splitlines():
                words = re.findall(r"[A-Za-z']+", line.lower())
                if len(words) >= 5 and sum(w in common for w in words) >= 0.3 * len(words):
                    out.append(collapse(line))
    return out


class KneserNey:
    """Interpolated Kneser-Ney n-gram model (fixed discount), enough to score passages."""

    def __init__(self, order: int, discount: float = 0.75):
        self.order, self.discount = order, discount

    def fit(self, sequences) -> KneserNey:
        n = self.order
        self.counts = [collections.Counter() for _ in range(n + 1)]
        for seq in sequences:
            seq = ("<s>",) * (n - 1) + tuple(seq) + ("</s>",)
            for i in range(n - 1, len(seq)):
                self.counts[n][seq[i - n + 1:i + 1]] += 1
        for k in range(n, 1, -1):  # lower orders: continuation counts
            for gram in self.counts[k]:
                self.counts[k - 1][gram[1:]] += 1
        self.totals = [collections.Counter() for _ in range(n + 1)]
        self.followers = [collections.Counter() for _ in range(n + 1)]
        for k in range(1, n + 1):
            for gram, c in self.counts[k].items():
                self.totals[k][gram[:-1]] += c
                self.followers[k][gram[:-1]] += 1
        self.vocabulary = len(self.counts[1]) + 1
        return self

    def logprobs(self, seq) -> np.ndarray:
        n = self.order
        seq = ["<s>"] * (n - 1) + list(seq) + ["</s>"]
        out = []
        for i in range(n - 1, len(seq)):
            p = 1.0 / self.vocabulary
            for k in range(1, n + 1):
                history = tuple(seq[i - k + 1:i])
                total = self.totals[k].get(history, 0)
                if total:
                    c = self.counts[k].get(history + (seq[i],), 0)
                    p = (max(c - self.discount, 0.0)
                         + self.discount * self.followers[k][history] * p) / total
            out.append(math.log(p))
        return np.array(out)


def case_table(texts: list[str]) -> tuple[collections.Counter, collections.Counter]:
    """How often each word is written in lower case and capitalised where it does not start a
    sentence (all-caps tokens left out)."""
    lower, capital = collections.Counter(), collections.Counter()
    for text in texts:
        for word in mid_sentence_words(text):
            (capital if word[0].isupper() else lower)[word.lower()] += 1
    return lower, capital


def mid_sentence_words(text: str):
    tokens = _TOKEN.findall(text)
    for previous, word in itertools.pairwise(tokens):
        if (word[0].isalpha() and previous not in _NOT_SENTENCE_START and not previous[0].isdigit()
                and not (len(word) > 1 and word.isupper())):
            yield word


def case_rates(text: str, lower, capital, min_count: int = 5, share: float = 0.9) -> list[float]:
    """Per mid-sentence word: capitalised words human text writes in lower case ("on file
    Place"), lower-case words it capitalises (names), both, capitalised unknown words."""
    n = common_capitalised = name_lowered = unknown_capitalised = 0
    for word in mid_sentence_words(text):
        n += 1
        key = word.lower()
        low, cap = lower[key], capital[key]
        if low + cap < min_count:
            unknown_capitalised += word[0].isupper()
        elif word[0].isupper() and low >= share * (low + cap):
            common_capitalised += 1
        elif word[0].islower() and cap >= share * (low + cap):
            name_lowered += 1
    n = max(n, 1)
    return [common_capitalised / n, name_lowered / n, (common_capitalised + name_lowered) / n,
            unknown_capitalised / n]


def ascii_folded(text: str) -> str:
    text = text.translate(str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "—": "-",
                                         "–": "-", "…": "..."}))
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _bootstrap_draws(hold, n: int = 1000, seed: int = 0) -> list[np.ndarray]:
    """Resamples of the holdout passages, whole cases at a time."""
    groups = np.array([e.group for e in hold])
    unique = np.unique(groups)
    members = {g: np.flatnonzero(groups == g) for g in unique}
    rng = np.random.default_rng(seed)
    return [np.concatenate([members[g] for g in rng.choice(unique, len(unique))])
            for _ in range(n)]


def _draw_aucs(draws, labels, scores) -> np.ndarray:
    scores = np.asarray(scores, dtype=float)
    return np.array([roc_auc(scores[d][labels[d] == 1], scores[d][labels[d] == 0])
                     for d in draws])


def bootstrap_auc_ci(hold, labels, scores) -> tuple[float, float]:
    """95% interval of the holdout AUC of scores, resampling cases."""
    aucs = _draw_aucs(_bootstrap_draws(hold), labels, scores)
    return float(np.percentile(aucs, 2.5)), float(np.percentile(aucs, 97.5))


def bootstrap_gain_ci(hold, labels, base, scores) -> tuple[float, float]:
    """95% interval of the holdout AUC gain of scores over base, same resamples for both."""
    draws = _bootstrap_draws(hold)
    gains = _draw_aucs(draws, labels, scores) - _draw_aucs(draws, labels, base)
    return float(np.percentile(gains, 2.5)), float(np.percentile(gains, 97.5))


def round_two(data_dir: Path, pan13, slow: bool = False, only: str | None = None) -> None:
    """Print round 2's tables; slow adds the Apertium and Link Grammar rows, only="link-grammar"
    prints just the shipped-features baseline and the Link Grammar rows."""
    warnings.filterwarnings("ignore")
    from scipy import sparse
    from scipy.stats import rankdata
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.model_selection import GroupKFold, cross_val_predict
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    tune = [e for e in pan13 if e.half == "tune"]
    hold = [e for e in pan13 if e.half == "holdout"]
    xt, xh = [e.text for e in tune], [e.text for e in hold]
    yt = np.array([e.label == "translation" for e in tune], dtype=int)
    yh = np.array([e.label == "translation" for e in hold], dtype=int)
    gt = [e.group for e in tune]
    folds = list(GroupKFold(FOLDS).split(xt, yt, gt))

    def auc(scores, labels=yh) -> float:
        scores = np.asarray(scores, dtype=float)
        return roc_auc(scores[labels == 1], scores[labels == 0])

    def row(name: str, cv=None, holdout=None) -> None:
        cells = [f"{auc(cv, yt):.3f}" if cv is not None else "",
                 f"{auc(holdout):.3f}" if holdout is not None else ""]
        print(f"| {name} | {cells[0]} | {cells[1]} |", flush=True)

    shipped = default_word_patterns()

    def sym12(text):
        return WordPatterns.features(shipped.symbols(text))

    def sym123(text):
        s = shipped.symbols(text)
        return WordPatterns.features(s) + [f"{a} {b} {c}" for a, b, c in zip(s, s[1:], s[2:])]

    def tfidf_lr(c=3.0, **vectorizer):
        """(tune CV decision values, holdout decision values) of TF-IDF + logistic regression."""
        def fit(texts, labels):
            return make_pipeline(TfidfVectorizer(sublinear_tf=True, min_df=2, **vectorizer),
                                 LogisticRegression(C=c, max_iter=10_000)).fit(texts, labels)
        cv = np.zeros(len(xt))
        for train, test in folds:
            cv[test] = fit([xt[i] for i in train], yt[train]).decision_function(
                [xt[i] for i in test])
        return cv, fit(xt, yt).decision_function(xh)

    def dense_lr(train_columns, holdout_columns, c=0.3):
        a, b = np.column_stack(train_columns), np.column_stack(holdout_columns)
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5_000))
        cv = cross_val_predict(model, a, yt, groups=gt, cv=GroupKFold(FOLDS),
                               method="decision_function")
        return cv, model.fit(a, yt).decision_function(b)

    print("\n## Round 2\n\n| approach | tune CV | holdout |\n|---|---:|---:|")
    if only == "link-grammar":
        base_cv, base_h = tfidf_lr(3.0, analyzer=sym12)
        row("shipped features (symbol 1-2-grams), L2, C 3.0", base_cv, base_h)
        _link_grammar_rows(xt, yt, xh, base_cv, base_h, row, dense_lr,
                           lambda h: bootstrap_gain_ci(hold, yh, base_h, h))
        return
    views = {}
    for c in (0.3, 1.0, 3.0, 10.0):
        views[f"sym12 C{c}"] = tfidf_lr(c, analyzer=sym12)
        row(f"shipped features (symbol 1-2-grams), L2, C {c}", *views[f"sym12 C{c}"])
    vectorizer = TfidfVectorizer(analyzer=sym12, sublinear_tf=True, min_df=2)
    mt, mh = vectorizer.fit_transform(xt), vectorizer.transform(xh)
    for c in (3.0, 10.0, 30.0):
        l1 = LogisticRegression(C=c, penalty="l1", solver="liblinear", max_iter=10_000).fit(mt, yt)
        row(f"shipped features, L1, C {c} ({int((l1.coef_ != 0).sum())} features kept)",
            holdout=l1.decision_function(mh))
    difference = mt[0::2] - mt[1::2]  # passages come in (translation, source) pairs
    pairwise = LogisticRegression(C=3.0, fit_intercept=False, max_iter=10_000).fit(
        sparse.vstack([difference, -difference]), np.r_[np.ones(difference.shape[0]),
                                                        np.zeros(difference.shape[0])])
    row("shipped features, trained on pair differences (translation minus its source)",
        holdout=pairwise.decision_function(mh))
    views["sym123"] = tfidf_lr(10.0, analyzer=sym123)
    row("symbol 1-3-grams, C 10", *views["sym123"])
    views["char"] = tfidf_lr(10.0, analyzer="char", ngram_range=(1, 4), lowercase=False)
    row("character 1-4-grams, C 10", *views["char"])
    views["word"] = tfidf_lr(10.0, ngram_range=(1, 2), lowercase=False,
                             token_pattern=r"(?u)\b\w+\b|[^\w\s]")
    row("word 1-2-grams, C 10", *views["word"])

    counts = CountVectorizer(analyzer=sym12, min_df=2, binary=True)
    ct, ch = counts.fit_transform(xt), counts.transform(xh)
    bayes = MultinomialNB(alpha=1.0).fit(ct, yt).predict_log_proba(ch)
    row("shipped features, multinomial naive Bayes", holdout=bayes[:, 1] - bayes[:, 0])

    # Sentence-level training: each sentence labelled as its passage, passage = word-weighted mean.
    sentences, labels = [], []
    for text, label in zip(xt, yt):
        for sentence in _SENTENCE.split(text):
            sentences.append(sentence)
            labels.append(label)
    by_sentence = make_pipeline(TfidfVectorizer(analyzer=sym12, sublinear_tf=True, min_df=2),
                                LogisticRegression(C=3.0, max_iter=10_000)).fit(sentences, labels)
    passage_scores = []
    for text in xh:
        parts = _SENTENCE.split(text)
        weights = np.array([len(p.split()) for p in parts], dtype=float)
        passage_scores.append(float(by_sentence.decision_function(parts) @ weights / weights.sum()))
    row(f"shipped features trained per sentence ({len(sentences)}), word-weighted mean",
        holdout=passage_scores)

    _fasttext_rows(xt, yt, xh, yh, shipped, row)

    print("\nGrammar slips, rate per word, no training (share of passages where it fires: "
          "translations / sources, both halves)\n\n| rule | tune | holdout | fires |\n|---|---:|---:|---:|")
    both, both_y = xt + xh, np.r_[yt, yh]
    for name, pattern in GRAMMAR_RULES.items():
        rate = np.array([len(re.findall(pattern, t)) / max(len(t.split()), 1) for t in both])
        fires = rate > 0
        print(f"| {name} | {auc(rate[:len(xt)], yt):.3f} | {auc(rate[len(xt):]):.3f} | "
              f"{fires[both_y == 1].mean():.0%} / {fires[both_y == 0].mean():.0%} |", flush=True)

    human = human_english(data_dir)
    print(f"\nHuman English for the n-gram models and the case table: {len(human):,} paragraphs, "
          f"{sum(len(t.split()) for t in human):,} words\n\n"
          "| statistic (lower or higher for translations: the better direction is shown) | tune | "
          "holdout |\n|---|---:|---:|")

    def words_of(text):
        return [t.lower() if t[0].isalpha() else "0" if t[0].isdigit() else t
                for t in _TOKEN.findall(text)]

    lm_columns = {"tune": [], "holdout": []}
    for name, view, order in (("symbols", shipped.symbols, 4), ("words", words_of, 3)):
        sequences = [view(t) for t in human]
        model, unigram = KneserNey(order).fit(sequences), KneserNey(1).fit(sequences)
        for half, texts in (("tune", xt), ("holdout", xh)):
            stats = []
            for text in texts:
                seq = view(text)
                lp, lu = model.logprobs(seq), unigram.logprobs(seq)
                stats.append([lp.mean(), (lp - lu).mean(), np.mean(lp < math.log(1e-4))])
            lm_columns[half].append(np.array(stats))
        for j, stat in enumerate(("mean log-probability", "mean log-probability minus unigram",
                                  "share of tokens below 1e-4")):
            t = auc(-lm_columns["tune"][-1][:, j], yt)
            h = auc(-lm_columns["holdout"][-1][:, j])
            sign = "lower" if h >= 0.5 else "higher"
            if sign == "higher":  # show both halves in the direction the holdout half has
                t, h = 1 - t, 1 - h
            print(f"| {order}-gram Kneser-Ney on {name}: {stat} ({sign}) | {t:.3f} | {h:.3f} |")

    lower, capital = case_table(human)
    case_t = np.array([case_rates(t, lower, capital) for t in xt])
    case_h = np.array([case_rates(t, lower, capital) for t in xh])
    for j, name in enumerate(("capitalised words usually written in lower case",
                              "lower-case words usually capitalised", "either",
                              "capitalised words rarer than 5 in the table")):
        t, h = auc(case_t[:, j], yt), auc(case_h[:, j])
        sign = "higher" if h >= 0.5 else "lower"
        print(f"| case table, rate of {name} ({sign}) | "
              f"{t if sign == 'higher' else 1 - t:.3f} | {h if sign == 'higher' else 1 - h:.3f} |")

    print("\n| combination | tune CV | holdout |\n|---|---:|---:|")
    z = {name: (cv - cv.mean()) / cv.std() for name, (cv, _) in views.items()}
    {name: (h - h.mean()) / h.std() for name, (_, h) in views.items()}
    for pair in (("sym12 C3.0", "sym123"), ("sym12 C3.0", "char"), ("sym12 C3.0", "word"),
                 ("sym12 C3.0", "sym123", "char")):
        rank_mean = sum(rankdata(views[name][1]) for name in pair)
        row("rank average: " + " + ".join(pair), sum(z[name] for name in pair), rank_mean)

    def extra(text):
        n = max(len(text.split()), 1)
        return [len(re.findall(GRAMMAR_RULES["duplicated word"], text)) / n,
                len(re.findall(GRAMMAR_RULES["contraction"], text)) / n, math.log(n)]

    extra_t = np.array([extra(t) for t in xt])
    extra_h = np.array([extra(t) for t in xh])
    base_cv, base_h = views["sym12 C3.0"]
    stacks = {
        "shipped features + capitalised common words": ([base_cv, case_t[:, :1]],
                                                        [base_h, case_h[:, :1]]),
        "shipped features + case rates + duplicated words, contractions, log length":
            ([base_cv, case_t, extra_t], [base_h, case_h, extra_h]),
        "the same + character 1-4-grams + both n-gram models":
            ([base_cv, views["char"][0], case_t, extra_t, *lm_columns["tune"]],
             [base_h, views["char"][1], case_h, extra_h, *lm_columns["holdout"]]),
    }
    for name, (train_columns, holdout_columns) in stacks.items():
        cv, h = dense_lr(train_columns, holdout_columns)
        low, high = bootstrap_gain_ci(hold, yh, base_h, h)
        row(f"stacked (logistic regression on tune CV values): {name}; holdout gain 95% CI "
            f"[{low:+.3f}, {high:+.3f}]", cv, h)
    low, high = bootstrap_auc_ci(hold, yh, base_h)
    print(f"shipped features' holdout AUC, 95% CI over cases (bootstrap): [{low:.3f}, {high:.3f}]")

    # Remove the genre from the score: predict a human passage's z from its topic words.
    content_words = TfidfVectorizer(sublinear_tf=True, min_df=2, analyzer=lambda t: [
        w.lower() for w in re.findall(r"[A-Za-z]{3,}", t)
        if w.lower() not in shipped.model.kept_words])
    topics = content_words.fit_transform(xt)
    shift = base_cv[yt == 1].mean() - base_cv[yt == 0].mean()
    target = base_cv - shift * yt
    expected = Ridge(alpha=3.0).fit(topics, target).predict(content_words.transform(xh))
    row("shipped z minus the z expected from the passage's topic words (ridge)",
        holdout=base_h - expected)

    _extra_negatives(data_dir, xt, yt, xh, sym12, row)
    if slow:
        _apertium_rows(data_dir, xt, yt, xh, gt, sym12, base_cv, base_h, row, dense_lr)
        _link_grammar_rows(xt, yt, xh, base_cv, base_h, row, dense_lr,
                           lambda h: bootstrap_gain_ci(hold, yh, base_h, h))
    _artifact_checks(tune, hold, xt, xh, yt, yh, shipped, auc, base_h)


def _fasttext_rows(xt, yt, xh, yh, shipped, row) -> None:
    import fasttext

    if not hasattr(fasttext, "train_supervised"):
        print("| fastText supervised | skipped: needs the full fastText (see the docstring) | |")
        return
    fasttext.FastText.eprint = lambda *args, **kwargs: None
    order = list(range(len(xt)))
    random.Random(0).shuffle(order)

    def words(text):
        return " ".join(_TOKEN.findall(text))

    def symbols(text):
        return " ".join(shipped.symbols(text))

    settings = [
        ("words", words, {"lr": 0.2, "epoch": 25, "dim": 16, "wordNgrams": 2}),
        ("words + character 3-5-grams", words, {"lr": 0.2, "epoch": 25, "dim": 16, "wordNgrams": 2,
                                                     "minn": 3, "maxn": 5}),
        ("words", words, {"lr": 0.2, "epoch": 50, "dim": 16, "wordNgrams": 3}),
        ("symbols", symbols, {"lr": 0.2, "epoch": 50, "dim": 16, "wordNgrams": 2}),
        ("symbols", symbols, {"lr": 0.2, "epoch": 100, "dim": 16, "wordNgrams": 3}),
    ]
    with tempfile.TemporaryDirectory() as folder:
        for name, view, params in settings:
            path = Path(folder) / "train.txt"
            path.write_text("".join(f"__label__{yt[i]} {view(xt[i])}\n" for i in order),
                            encoding="utf-8")
            results = []
            for seed in (0, 1, 2):
                try:  # "Encountered NaN": training diverged (now and then, at any rate here)
                    model = fasttext.train_supervised(str(path), seed=seed, thread=1, verbose=0,
                                                      bucket=200_000, minCount=1, **params)
                    results.append([dict(zip(*model.predict(view(t), k=2))).get("__label__1", 0)
                                    for t in xh])
                except RuntimeError:
                    continue
            if not results:
                print(f"| fastText supervised on {name} ({params}) | diverged for every seed | |")
                continue
            described = ", ".join(f"{k} {v}" for k, v in params.items())
            aucs = [roc_auc(np.array(r)[yh == 1], np.array(r)[yh == 0]) for r in results]
            row(f"fastText supervised on {name} ({described}); holdout of each of "
                f"{len(results)} seeds: " + ", ".join(f"{a:.3f}" for a in aucs) + "; their mean:",
                holdout=np.mean(results, axis=0))


def _extra_negatives(data_dir, xt, yt, xh, analyzer, row) -> None:
    """More human text of the same kind: passage-length pieces of PAN13 source documents that
    belong to no holdout case, as extra negatives."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    with gzip.open(data_dir / "pan13/documents.jsonl.gz", "rt", encoding="utf-8") as f:
        documents = {r["id"]: r["text"] for r in map(json.loads, f)}
    holdout_documents = set()
    with open(data_dir / "pan13/cases.jsonl", encoding="utf-8") as f:
        for case in map(json.loads, f):
            if half_of(f"{case['suspicious']}|{case['source']}") == "holdout":
                holdout_documents |= {case["suspicious"], case["source"]}
    rng = random.Random(0)
    pieces = []
    for name, text in documents.items():
        if name.startswith("source") and name not in holdout_documents:
            words = text.split()
            pieces += [" ".join(words[i:i + rng.randint(50, 120)])
                       for i in range(0, len(words) - 60, 300)]
    rng.shuffle(pieces)
    for n in (300, 1000):
        texts = xt + pieces[:n]
        labels = np.r_[yt, np.zeros(n, dtype=int)]
        vectorizer = TfidfVectorizer(analyzer=analyzer, sublinear_tf=True, min_df=2)
        model = LogisticRegression(C=3.0, class_weight="balanced", max_iter=10_000).fit(
            vectorizer.fit_transform(texts), labels)
        scores = model.decision_function(vectorizer.transform(xh))
        row(f"shipped features + {n} pieces of other PAN13 source documents as negatives "
            f"(balanced)", holdout=scores)


APERTIUM_ROUND_TRIPS = {"spa": ("eng-spa", "spa-eng_US"), "cat": ("eng-cat", "cat-eng_US"),
                        "eo": ("en-eo", "eo-en")}
APERTIUM_CHAINS = [("spa",), ("eo",), ("cat",), ("spa", "cat"), ("spa", "eo"), ("cat", "eo"),
                   ("spa", "cat", "eo")]


def apertium_round_trip(texts: list[str], pair: tuple[str, str]) -> list[str]:
    """English -> other language -> English with Apertium (rule-based MT, Debian packages), one
    <p> block per text so that the texts come back aligned."""
    import html
    import subprocess

    blocks = "\n".join(f"<p>{html.escape(' '.join(t.split()), quote=False)}</p>" for t in texts)
    there = subprocess.run(["apertium", "-u", "-f", "html", pair[0]], input=blocks + "\n",
                           capture_output=True, text=True, check=True).stdout
    back = subprocess.run(["apertium", "-u", "-f", "html", pair[1]], input=there,
                          capture_output=True, text=True, check=True).stdout
    out = [collapse(re.sub(r"[#@*](?=\w)", "", html.unescape(m)))
           for m in re.findall(r"<p>(.*?)</p>", back, flags=re.DOTALL)]
    if len(out) != len(texts):
        raise RuntimeError(f"apertium {pair}: {len(texts)} texts in, {len(out)} out")
    return out


def _apertium_rows(data_dir, xt, yt, xh, gt, analyzer, base_cv, base_h, row, dense_lr) -> None:
    """Synthetic training pairs: passage-length pieces of PAN13 source documents in no
    translation-chain case, and their round trip through 1-3 of Spanish, Catalan, Esperanto."""
    import shutil

    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    if shutil.which("apertium") is None:
        print("| Apertium round trips | skipped: apt-get install apertium apertium-eng-spa "
              "apertium-eng-cat apertium-eo-en | |")
        return
    documents, used = _pan13_documents(data_dir)
    rng = random.Random(0)
    human = []
    for name in sorted(documents):
        if not name.startswith("source") or name in used:
            continue
        sentences = re.split(r"(?<=[.!?])\s+", collapse(documents[name]))
        i = 0
        while i < len(sentences):
            target, piece, words = rng.randint(40, 160), [], 0
            while i < len(sentences) and words < target:
                piece.append(sentences[i])
                words += len(sentences[i].split())
                i += 1
            if words >= 30:
                human.append(" ".join(piece))
    chains = [rng.choice(APERTIUM_CHAINS) for _ in human]
    machine = list(human)
    for step in range(3):
        for language, pair in APERTIUM_ROUND_TRIPS.items():
            chosen = [i for i, chain in enumerate(chains) if len(chain) > step
                      and chain[step] == language]
            if chosen:
                for i, text in zip(chosen, apertium_round_trip([machine[i] for i in chosen],
                                                               pair)):
                    machine[i] = text
    keep = [i for i in range(len(human)) if machine[i]]
    texts = [human[i] for i in keep] + [machine[i] for i in keep]
    labels = np.r_[np.zeros(len(keep)), np.ones(len(keep))]
    vectorizer = TfidfVectorizer(analyzer=analyzer, sublinear_tf=True, min_df=2).fit(texts + xt)
    synthetic, tune, holdout = (vectorizer.transform(t) for t in (texts, xt, xh))
    only = LogisticRegression(C=1.0, max_iter=5_000).fit(synthetic, labels)
    row(f"shipped features trained on {len(keep):,} Apertium round trips only", None,
        only.decision_function(holdout))
    for weight in (1.0, 10.0):
        mixed = LogisticRegression(C=3.0, max_iter=5_000).fit(
            sparse.vstack([synthetic, tune]), np.r_[labels, yt],
            sample_weight=np.r_[np.ones(len(labels)), np.full(len(yt), weight)])
        row(f"shipped features, Apertium round trips + PAN13 tune (PAN13 weight {weight:g})",
            None, mixed.decision_function(holdout))
    cv, h = dense_lr([base_cv, only.decision_function(tune)],
                     [base_h, only.decision_function(holdout)])
    row("stacked: shipped features + the Apertium-trained score", cv, h)


LINK_GRAMMAR_MAX_WORDS = 60    # longer sentences are not parsed (counted as not parsed)
LINK_GRAMMAR_MAX_SECONDS = 2   # per sentence; a sentence that runs out counts as not parsed


def import_link_grammar():
    """Debian's python3-link-grammar, also from a venv of the same Python version (its
    dist-packages folder is appended to sys.path, after the venv's own packages); None if
    missing."""
    import sys

    try:
        import linkgrammar
    except ImportError:
        sys.path.append("/usr/lib/python3/dist-packages")
        try:
            import linkgrammar
        except ImportError:
            return None
    return linkgrammar


def link_grammar_statistics(text: str, parse) -> list[float]:
    """[null links per word of the parsed sentences, share of sentences not parsed]; parse(s)
    returns a sentence's null count, or None when it was not parsed."""
    nulls = words = skipped = 0
    sentences = _SENTENCE.split(text)
    for sentence in sentences:
        n = len(sentence.split())
        count = parse(sentence) if n <= LINK_GRAMMAR_MAX_WORDS else None
        if count is None:
            skipped += 1
        else:
            nulls += count
            words += n
    return [nulls / max(words, 1), skipped / max(len(sentences), 1)]


def _link_grammar_rows(xt, yt, xh, base_cv, base_h, row, dense_lr, gain_ci) -> None:
    """Grammaticality: null links per word when Link Grammar (CMU; Debian's python3-link-grammar
    and link-grammar-dictionaries-en) parses each sentence of LINK_GRAMMAR_MAX_WORDS words or
    fewer, allowing as many null links as needed (the parser takes the fewest that parse)."""
    import time

    linkgrammar = import_link_grammar()
    if linkgrammar is None:
        print("| Link Grammar | skipped: apt-get install python3-link-grammar "
              "link-grammar-dictionaries-en, and run with a Python of the version those "
              "bindings are built for | |")
        return
    dictionary = linkgrammar.Dictionary("en")
    options = linkgrammar.ParseOptions(min_null_count=0, max_null_count=999, linkage_limit=1,
                                       max_parse_time=LINK_GRAMMAR_MAX_SECONDS, verbosity=0)
    outcomes = collections.Counter()

    def parse(sentence):
        parsed = linkgrammar.Sentence(sentence, dictionary, options)
        try:
            linkages = parsed.parse()
        except linkgrammar.LG_TimerExhausted:
            outcomes["timer"] += 1
            return None
        if not linkages or len(linkages) == 0:
            outcomes["no parse"] += 1
            return None
        outcomes["parsed"] += 1
        return max(parsed.null_count(), 0)

    started = time.perf_counter()
    tune = np.array([link_grammar_statistics(t, parse) for t in xt])
    holdout = np.array([link_grammar_statistics(t, parse) for t in xh])
    long_ = sum(len(s.split()) > LINK_GRAMMAR_MAX_WORDS
                for t in xt + xh for s in _SENTENCE.split(t))
    print(f"Link Grammar: {outcomes['parsed']} sentences parsed, {outcomes['timer']} ran out of "
          f"the {LINK_GRAMMAR_MAX_SECONDS} s per sentence, {outcomes['no parse']} not parsed, "
          f"{long_} longer than {LINK_GRAMMAR_MAX_WORDS} words not tried; "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    for j, name in enumerate(("null links per word of the parsed sentences",
                              "share of sentences not parsed")):
        print(f"  {name}, tune half: mean {tune[yt == 1, j].mean():.4f} translations, "
              f"{tune[yt == 0, j].mean():.4f} sources", flush=True)
    row("Link Grammar null links per word (no training; higher = translation)",
        tune[:, 0], holdout[:, 0])
    row("Link Grammar share of sentences not parsed (no training)", tune[:, 1], holdout[:, 1])
    cv, h = dense_lr([base_cv, tune], [base_h, holdout])
    low, high = gain_ci(h)
    row(f"stacked: shipped features + null links per word + share of sentences not parsed; "
        f"holdout gain 95% CI [{low:+.3f}, {high:+.3f}]", cv, h)


def _artifact_checks(tune, hold, xt, xh, yt, yh, shipped, auc, base_h) -> None:
    import difflib

    print("\nArtifact checks")
    both = tune + hold
    for label in ("translation", "source"):
        texts = [e.text for e in both if e.label == label]
        non_ascii = np.mean([any(ord(c) > 127 for c in t) for t in texts])
        print(f"- PAN13 {label} passages with a non-ASCII character: {non_ascii:.1%}")
    folded = np.array([shipped.score(ascii_folded(t))[1] for t in xh])
    shipped_z = np.array([shipped.score(t)[1] for t in xh])
    print(f"- shipped model, holdout AUC as is {auc(shipped_z):.3f}, every passage ASCII-folded "
          f"{auc(folded):.3f}")
    first_upper = {lab: np.mean([e.text[:1].isupper() for e in both if e.label == lab])
                   for lab in ("translation", "source")}
    ends = {lab: np.mean([e.text[-1:] in ".!?" for e in both if e.label == lab])
            for lab in ("translation", "source")}
    print(f"- starts with a capital: translations {first_upper['translation']:.1%}, sources "
          f"{first_upper['source']:.1%}; ends with . ! ?: {ends['translation']:.1%}, "
          f"{ends['source']:.1%}")
    length = np.array([len(t.split()) for t in xh], dtype=float)
    print(f"- passage length in words alone, holdout AUC: {auc(-length):.3f} (shorter = translation)")
    similarity = np.array([difflib.SequenceMatcher(None, xh[i].lower().split(),
                                                   xh[i + 1].lower().split(),
                                                   autojunk=False).ratio()
                           for i in range(0, len(xh), 2)])
    translated, source = base_h[0::2], base_h[1::2]
    print(f"- holdout pairs where the translation scores above its own source: "
          f"{np.mean(translated > source):.1%} (shipped features refitted); by word-sequence "
          "similarity of the pair:")
    for low, high in ((0.0, 0.4), (0.4, 0.6), (0.6, 0.8), (0.8, 1.01)):
        chosen = (similarity >= low) & (similarity < high)
        print(f"  similarity {low:.1f}-{min(high, 1.0):.1f}: {chosen.sum()} pairs, translation "
              f"above its source {np.mean(translated[chosen] > source[chosen]):.1%}, AUC against "
              f"all holdout sources {roc_auc(translated[chosen], source):.3f}")
