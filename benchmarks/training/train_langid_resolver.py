"""Train textwash's language resolver (tasks/models/langid-resolver.ftz and .json).

    python3 -m venv /tmp/lid-train && /tmp/lid-train/bin/pip install -e . \
        && /tmp/lid-train/bin/pip install fasttext-numpy2-wheel
    /tmp/lid-train/bin/python benchmarks/training/train_langid_resolver.py /work/shared/eval

(fasttext-numpy2-wheel is the full fastText with training; it replaces fasttext-predict's module
of the same name, so it lives in its own environment, never in textwash's dependencies.)

Data: lingua's sentences, DATA_DIR/langid/sentences/<iso>.txt. Only the TUNING half is used: the
sentences at even line indices. The odd ones are held out for benchmarks/evaluation/langid_eval.py.

1. Cross-fitting inside the tuning half (quarters: line index % 4 == 0 and == 2): a resolver
   trained on one quarter is run on the other, beside lid.176, on its sentences and on fragments
   of 1, 2 and 4 words cut from them. Per length bucket (prepared text under 16, 32, 64
   characters, longer) the script picks `alpha` (weight of lid.176 in the mix) and `gate`
   (lid.176 probability from which the resolver is not asked; 0 = never) for the best mean
   accuracy over languages, and fits the calibration table (raw score -> share of right answers,
   isotonic), all on answers for texts the resolver did not see.
2. The shipped resolver is trained on the whole tuning half (sentences and fragments) and
   quantised (a .ftz of ~1.3 MB).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tasks.shard.language import (
    MODELS_DIR,
    _top,
    bucket_of,
    combine,
    fasttext_model_path,
    prepare_text,
    to_code,
)

FASTTEXT_ARGS = {"lr": 0.5, "epoch": 25, "dim": 32, "minn": 1, "maxn": 4, "bucket": 200_000, "wordNgrams": 1,
                     "loss": "softmax", "thread": 1, "seed": 0, "verbose": 0}
QUANTIZE_ARGS = {"qnorm": True, "retrain": True, "cutoff": 50_000}
ALPHAS = (0.0, 0.2, 0.35, 0.5, 0.65)
GATES = (0.0, 0.5, 0.8, 0.9, 0.95, 0.97, 0.99, 1.01)  # 0.0: never ask the resolver
BUCKET_EDGES = (16, 32, 64, 1 << 30)  # characters of the prepared text
# Below this length the resolver is never asked. On lingua's fragments it would help, but on real
# web lines (menus, names, dates in German and English pages: ../shared/eval/corpus) it turned
# "Presseverteiler" into nb and "Kontakt" into sv: 500 sentences per language teach it too few
# words, while lid.176 learnt the big languages from all of Wikipedia.
RESOLVER_MIN_CHARS = 32
FRAGMENT_WORDS = (1, 2, 4)
TOP_K = 10


def fragments(rows: list[tuple[str, str]], seed: int) -> list[tuple[str, str]]:
    """Short texts cut from the sentences (1, 2 or 4 consecutive words): web paragraphs are often
    this short, and a model judged on sentences alone is over-confident on them."""
    rng = random.Random(seed)
    out = []
    for lang, sentence in rows:
        words = sentence.split()
        for n in FRAGMENT_WORDS:
            if len(words) > n:
                start = rng.randrange(len(words) - n + 1)
                out.append((lang, " ".join(words[start:start + n])))
    return out


def load_sentences(data_dir: Path) -> dict[str, list[str]]:
    folder = data_dir / "langid" / "sentences"
    files = sorted(folder.glob("*.txt"))
    if not files:
        sys.exit(f"no sentence files in {folder} (expected <iso>.txt files from lingua)")
    return {p.stem: p.read_text(encoding="utf-8").splitlines() for p in files}


def rows_where(data: dict[str, list[str]], keep) -> list[tuple[str, str]]:
    return [(lang, s) for lang, lines in data.items() for i, s in enumerate(lines)
            if keep(i) and s.strip()]


def train(fasttext, rows: list[tuple[str, str]], out: Path):
    rows = list(rows) + fragments(rows, seed=1)
    random.Random(0).shuffle(rows)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as fh:
        for lang, sentence in rows:
            fh.write(f"__label__{lang} {prepare_text(sentence).lower()}\n")
        train_file = fh.name
    model = fasttext.train_supervised(train_file, **FASTTEXT_ARGS)
    model.quantize(input=train_file, **QUANTIZE_ARGS)
    model.save_model(str(out))
    Path(train_file).unlink()
    return model


def predictions(general, resolver, rows):
    """(language, characters, lid.176's top-k, the resolver's top-k) per row."""
    out = []
    for lang, sentence in rows:
        line = prepare_text(sentence) + "\n"
        out.append((lang, len(line) - 1, _top(general.predict(line, TOP_K, 0.0, "replace")),
                    _top(resolver.f.predict(line.lower(), TOP_K, 0.0, "replace"))))
    return out


def decide(general: dict, resolver: dict, languages, alpha: float, gate: float):
    best = max(sorted(general), key=general.__getitem__)
    if general[best] >= gate:
        return best, general[best]
    return combine(general, resolver, languages, alpha)


def macro_accuracy(answers: list[tuple[str, str]]) -> float:
    per: dict[str, list[bool]] = {}
    for truth, got in answers:
        per.setdefault(truth, []).append(truth == got)
    return sum(sum(v) / len(v) for v in per.values()) / len(per)


def isotonic(xs: list[float], ys: list[float], knots: int = 40) -> tuple[list, list]:
    """Pool-adjacent-violators on (raw score, right 0/1), then at most `knots` points."""
    order = sorted(range(len(xs)), key=xs.__getitem__)
    blocks: list[list[float]] = []  # [sum_y, count, sum_x]
    for i in order:
        blocks.append([ys[i], 1, xs[i]])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            y, n, x = blocks.pop()
            blocks[-1][0] += y
            blocks[-1][1] += n
            blocks[-1][2] += x
    points = [(b[2] / b[1], b[0] / b[1]) for b in blocks]
    if len(points) > knots:  # keep the level changes spread evenly
        step = len(points) / knots
        points = [points[int(i * step)] for i in range(knots)] + [points[-1]]
    raw = [0.0] + [round(x, 4) for x, _ in points] + [1.0]
    right = [round(points[0][1], 4)] + [round(y, 4) for _, y in points] + [round(points[-1][1], 4)]
    # np.interp needs increasing x: drop repeated x
    dedup_raw, dedup_right = [], []
    for x, y in zip(raw, right):
        if dedup_raw and x <= dedup_raw[-1]:
            continue
        dedup_raw.append(x)
        dedup_right.append(y)
    return dedup_raw, dedup_right


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir", type=Path, help="the shared eval folder (has langid/sentences)")
    parser.add_argument("--out", type=Path, default=MODELS_DIR)
    args = parser.parse_args()
    try:
        import fasttext
        fasttext.train_supervised  # noqa: B018
    except (ImportError, AttributeError):
        sys.exit("needs the full fastText (pip install fasttext-numpy2-wheel), see the docstring")

    data = load_sentences(args.data_dir)
    languages = sorted(data)
    general = fasttext.load_model(str(fasttext_model_path())).f
    start = time.time()

    with tempfile.TemporaryDirectory() as tmp:
        cross = []
        for train_q, test_q in ((0, 2), (2, 0)):
            model = train(fasttext, rows_where(data, lambda i, q=train_q: i % 4 == q),
                          Path(tmp) / f"q{train_q}.ftz")
            test = rows_where(data, lambda i, q=test_q: i % 4 == q)
            cross += predictions(general, model, test + fragments(test, seed=2))
    print(f"cross-fit predictions for {len(cross)} texts in {time.time() - start:.0f} s")

    lang_set = frozenset(languages)
    edges = [{"below_chars": edge} for edge in BUCKET_EDGES]
    buckets = []
    for b, edge in enumerate(edges):
        part = [row for row in cross if bucket_of(edges, row[1]) == b]
        grid = {}
        gates = GATES if edge["below_chars"] > RESOLVER_MIN_CHARS else (0.0,)
        for alpha in ALPHAS:
            for gate in gates:
                answers = [(t, decide(g, r, lang_set, alpha, gate)[0]) for t, _, g, r in part]
                grid[(alpha, gate)] = macro_accuracy(answers)
        (alpha, gate), best = max(sorted(grid.items()), key=lambda kv: (kv[1], -kv[0][1]))
        alone = grid[(ALPHAS[0], 0.0)]
        decided = [(t,) + decide(g, r, lang_set, alpha, gate) for t, _, g, r in part]
        raw, right = isotonic([sc for _, _, sc in decided],
                              [float(t == lang) for t, lang, _ in decided])
        buckets.append({"below_chars": edge["below_chars"], "alpha": alpha, "gate": gate,
                        "texts": len(part), "cross_fit_macro_accuracy": {
                            "lid176": round(alone, 4), "combined": round(best, 4)},
                        "calibration": {"raw": raw, "right": right}})
        print(f"texts under {edge['below_chars']} chars ({len(part)}): lid.176 alone "
              f"{alone:.4f}, with the resolver {best:.4f} (alpha={alpha}, gate={gate})")

    args.out.mkdir(parents=True, exist_ok=True)
    model_path = args.out / "langid-resolver.ftz"
    train(fasttext, rows_where(data, lambda i: i % 2 == 0), model_path)
    meta = {
        "about": "textwash's language resolver; see tasks/shard/language.py and "
                 "benchmarks/train_langid_resolver.py. Trained on the even-indexed lines of "
                 "lingua's test sentences (Leipzig corpora, research licence).",
        "languages": languages,
        "fasttext_args": FASTTEXT_ARGS,
        "quantize_args": QUANTIZE_ARGS,
        "fragment_words": FRAGMENT_WORDS,
        "buckets": buckets,
        "model_sha256": hashlib.sha256(model_path.read_bytes()).hexdigest(),
    }
    (args.out / "langid-resolver.json").write_text(json.dumps(meta, indent=1) + "\n",
                                                   encoding="utf-8")
    print(f"wrote {model_path} ({model_path.stat().st_size:,} bytes) and its JSON "
          f"in {time.time() - start:.0f} s")
    assert all(to_code(lang) == lang for lang in languages)


if __name__ == "__main__":
    main()
