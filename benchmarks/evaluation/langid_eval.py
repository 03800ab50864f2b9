"""Language identification on real sentences: accuracy per language and overall, throughput.

    .venv/bin/python benchmarks/evaluation/langid_eval.py /work/shared/eval
        [--backends fasttext,langdetect]

Data: DATA_DIR/langid/sentences/<iso>.txt (lingua's test sentences from the Leipzig corpora) and
DATA_DIR/langid/accuracy-reports/langdetect/<Language>.txt (lingua's published accuracy of
langdetect on the same sentences). Halves: lines at even indices are the TUNING half (the
resolver was trained and its settings chosen on them), odd indices the HELD-OUT half.

Accuracy counts a sentence right only when the answer is its language: `und` is wrong. A
backend's mean is over the languages it can answer (`supported_languages`). Also measured:
lid.176 alone (what textwash used before the resolver), the text preparation (URLs, capitals),
and borrowing the document's language for short `und` paragraphs.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pyarrow as pa

from tasks.settings import LanguageSettings
from tasks.shard.language import (
    UNDETERMINED,
    _detect_fasttext,
    _load,
    detect_language,
    detect_languages,
    fasttext_model_path,
    prepare_text,
    supported_languages,
    to_code,
)

NAMES = {  # lingua's language names (report file names) -> ISO 639-1
    "Afrikaans": "af", "Albanian": "sq", "Arabic": "ar", "Armenian": "hy", "Azerbaijani": "az",
    "Basque": "eu", "Belarusian": "be", "Bengali": "bn", "Bokmal": "nb", "Bosnian": "bs",
    "Bulgarian": "bg", "Catalan": "ca", "Chinese": "zh", "Croatian": "hr", "Czech": "cs",
    "Danish": "da", "Dutch": "nl", "English": "en", "Esperanto": "eo", "Estonian": "et",
    "Finnish": "fi", "French": "fr", "Ganda": "lg", "Georgian": "ka", "German": "de",
    "Greek": "el", "Gujarati": "gu", "Hebrew": "he", "Hindi": "hi", "Hungarian": "hu",
    "Icelandic": "is", "Indonesian": "id", "Irish": "ga", "Italian": "it", "Japanese": "ja",
    "Kazakh": "kk", "Korean": "ko", "Latin": "la", "Latvian": "lv", "Lithuanian": "lt",
    "Macedonian": "mk", "Malay": "ms", "Maori": "mi", "Marathi": "mr", "Mongolian": "mn",
    "Nynorsk": "nn", "Persian": "fa", "Polish": "pl", "Portuguese": "pt", "Punjabi": "pa",
    "Romanian": "ro", "Russian": "ru", "Serbian": "sr", "Shona": "sn", "Slovak": "sk",
    "Slovene": "sl", "Somali": "so", "Sotho": "st", "Spanish": "es", "Swahili": "sw",
    "Swedish": "sv", "Tagalog": "tl", "Tamil": "ta", "Telugu": "te", "Thai": "th",
    "Tsonga": "ts", "Tswana": "tn", "Turkish": "tr", "Ukrainian": "uk", "Urdu": "ur",
    "Vietnamese": "vi", "Welsh": "cy", "Xhosa": "xh", "Yoruba": "yo", "Zulu": "zu",
}
HALVES = {"tune": 0, "holdout": 1}


def load(data_dir: Path) -> dict[str, list[str]]:
    folder = data_dir / "langid" / "sentences"
    files = sorted(folder.glob("*.txt"))
    if not files:
        sys.exit(f"error: no sentence files in {folder}; pass the shared eval folder "
                 "(e.g. ../shared/eval)")
    return {p.stem: p.read_text(encoding="utf-8").splitlines() for p in files}


def half(data: dict[str, list[str]], name: str) -> dict[str, list[str]]:
    parity = HALVES[name]
    return {lang: [s for i, s in enumerate(lines) if i % 2 == parity and s.strip()]
            for lang, lines in data.items()}


def published_langdetect(data_dir: Path) -> dict[str, float]:
    """lingua's sentence-level accuracy of langdetect, per ISO code."""
    out = {}
    for path in sorted((data_dir / "langid" / "accuracy-reports" / "langdetect").glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        found = re.search(r"Detection of \d+ sentences.*?\nAccuracy: ([\d.]+)%", text)
        if found and path.stem in NAMES:
            out[NAMES[path.stem]] = float(found.group(1)) / 100
    return out


def lid176_alone(texts: list[str], min_score: float) -> tuple[list[str], list[float]]:
    """What textwash did before the resolver: lid.176's top label, raw probability."""
    predict = _load(fasttext_model_path()).predict
    langs, scores = [], []
    for text in texts:
        prob, label = predict(prepare_text(text) + "\n", 1, 0.0, "replace")[0]
        langs.append(to_code(label) if prob >= min_score else UNDETERMINED)
        scores.append(prob)
    return langs, scores


def lid176_languages() -> frozenset[str]:
    labels = _load(fasttext_model_path()).predict("a\n", -1, 0.0, "replace")
    return frozenset(to_code(label) for _, label in labels)


def run(method: str, texts: list[str]) -> tuple[list[str], float]:
    start = time.perf_counter()
    if method == "lid176-alone":
        langs, _ = lid176_alone(texts, LanguageSettings().min_score)
    else:
        langs, _ = detect_languages(texts, LanguageSettings(backend=method))
    return langs, time.perf_counter() - start


def accuracy(sentences: dict[str, list[str]], method: str) -> tuple[dict, dict, float, int]:
    flat = [(lang, s) for lang, lines in sentences.items() for s in lines]
    langs, seconds = run(method, [s for _, s in flat])
    per: dict[str, list[int]] = {}
    unds: dict[str, int] = {}
    for (truth, _), got in zip(flat, langs):
        per.setdefault(truth, []).append(got == truth)
        unds[truth] = unds.get(truth, 0) + (got == UNDETERMINED)
    acc = {lang: sum(v) / len(v) for lang, v in per.items()}
    und = {lang: unds[lang] / len(per[lang]) for lang in per}
    return acc, und, seconds, len(flat)


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else float("nan")


def report_accuracy(data_dir: Path, data, methods: list[str], halves: list[str]) -> None:
    published = published_langdetect(data_dir)
    results = {}
    for name in halves:
        sentences = half(data, name)
        for method in methods:
            results[(method, name)] = accuracy(sentences, method)
            acc, und, seconds, n = results[(method, name)]
            print(f"... {method} on the {name} half: {n} sentences in {seconds:.1f} s",
                  file=sys.stderr)
    backends = {m: lid176_languages() if m == "lid176-alone" else supported_languages(m)
                for m in methods}
    cols = [(m, h) for m in methods for h in halves]
    print("\n### Accuracy per language (sentences; `und` counts as wrong; - = not supported)\n")
    print("| lang | " + " | ".join(f"{m} {h}" for m, h in cols) + " | lingua's langdetect |")
    print("|---|" + "---:|" * (len(cols) + 1))
    for lang in sorted(data):
        cells = []
        for m, h in cols:
            cells.append(f"{results[(m, h)][0][lang]:.3f}" if lang in backends[m] else "-")
        pub = f"{published[lang]:.3f}" if lang in published else "-"
        print(f"| {lang} | " + " | ".join(cells) + f" | {pub} |")
    print("\n### Summary\n")
    print("| method | half | languages | mean accuracy | und share | sentences/s |")
    print("|---|---|---:|---:|---:|---:|")
    for m, h in cols:
        acc, und, seconds, n = results[(m, h)]
        langs = [lang for lang in acc if lang in backends[m]]
        print(f"| {m} | {h} | {len(langs)} | {mean(acc[x] for x in langs):.4f} | "
              f"{mean(und[x] for x in langs):.4f} | {n / seconds:,.0f} |")
    pub_langs = sorted(published)
    print(f"| lingua's published langdetect | all | {len(pub_langs)} | "
          f"{mean(published.values()):.4f} | | |")
    for m, h in cols:
        if m == "langdetect":
            acc = results[(m, h)][0]
            print(f"| langdetect here, on lingua's {len(pub_langs)} | {h} | {len(pub_langs)} | "
                  f"{mean(acc[x] for x in pub_langs):.4f} | | |")


def report_preparation(data, name: str) -> None:
    """Does prepare_text help? Sentences as they are, in capitals, and with a URL."""
    sentences = half(data, name)
    variants = {
        "as is": lambda s: s,
        "UPPER CASE": str.upper,
        "with a URL": lambda s: f"{s} https://www.example.com/news/2024/05/item?id=123",
    }
    print(f"\n### Text preparation (fasttext backend, {name} half, mean accuracy)\n")
    print("| sentences | prepared (default) | newlines only |")
    print("|---|---:|---:|")
    for label, change in variants.items():
        cells = []
        for prepare in (prepare_text, lambda t: " ".join(t.split())):
            per: dict[str, list[bool]] = {}
            flat = [(lang, change(s)) for lang, lines in sentences.items() for s in lines]
            langs, scores = _detect_fasttext([s for _, s in flat], prepare=prepare)
            for (truth, _), got, score in zip(flat, langs, scores):
                per.setdefault(truth, []).append(got == truth and score >= 0.5)
            cells.append(f"{mean(sum(v) / len(v) for v in per.values()):.4f}")
        print(f"| {label} | " + " | ".join(cells) + " |")


def synthetic_documents(sentences: dict[str, list[str]], seed: int = 0):
    """Per language, documents of 4 sentences, 3 short same-language fragments (the first 1 to 3
    words of other sentences) and one short fragment of another language."""
    rng = random.Random(seed)
    langs = sorted(sentences)
    rows = []  # (doc_id, text, truth, kind)
    for lang in langs:
        pool = sentences[lang]
        for d in range(60):
            doc = f"{lang}-{d}"
            picks = rng.sample(pool, 7)
            for s in picks[:4]:
                rows.append((doc, s, lang, "long"))
            for s in picks[4:]:
                rows.append((doc, " ".join(s.split()[: rng.randint(1, 3)]), lang, "short"))
            other = rng.choice([x for x in langs if x != lang])
            s = rng.choice(sentences[other])
            rows.append((doc, " ".join(s.split()[: rng.randint(1, 3)]), other, "foreign short"))
    return rows


def report_borrowing(data, halves: list[str], limits=(0, 20, 40, 80)) -> None:
    print("\n### Borrowing the document's language (fasttext; synthetic documents)\n")
    print("Each document: 4 sentences of one language, 3 short fragments of it (1-3 words), "
          "1 short fragment of another language. Shares of right / `und` / wrong answers.\n")
    print("| half | borrow_max_chars | short: right | short: und | short: wrong "
          "| foreign short: right | foreign short: und | foreign short: wrong |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in halves:
        rows = synthetic_documents(half(data, name))
        table = pa.table({"doc_id": [r[0] for r in rows], "text": [r[1] for r in rows]})
        for limit in limits:
            out = detect_language(table, LanguageSettings(borrow_max_chars=limit))
            got = out["lang"].to_pylist()
            cells = []
            for kind in ("short", "foreign short"):
                pairs = [(r[2], g) for r, g in zip(rows, got) if r[3] == kind]
                right = sum(t == g for t, g in pairs) / len(pairs)
                und = sum(g == UNDETERMINED for _, g in pairs) / len(pairs)
                cells += [f"{right:.3f}", f"{und:.3f}", f"{1 - right - und:.3f}"]
            print(f"| {name} | {limit} | " + " | ".join(cells) + " |")


def report_short_throughput(data) -> None:
    sentences = half(data, "holdout")
    short = [" ".join(s.split()[:6]) for lines in sentences.values() for s in lines]
    start = time.perf_counter()
    detect_languages(short, LanguageSettings())
    seconds = time.perf_counter() - start
    print(f"\nfasttext on {len(short):,} short paragraphs (first 6 words, "
          f"{mean(map(len, short)):.0f} characters on average): {len(short) / seconds:,.0f}/s; "
          f"load average {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir", type=Path, help="the shared eval folder (has langid/)")
    parser.add_argument("--backends", default="fasttext,langdetect,lid176-alone",
                        help="comma-separated: fasttext, langdetect, lid176-alone")
    parser.add_argument("--halves", default="tune,holdout")
    parser.add_argument("--skip", default="", help="comma-separated: accuracy, preparation, "
                        "borrowing, throughput")
    args = parser.parse_args()
    if not (args.data_dir / "langid").is_dir():
        sys.exit(f"error: {args.data_dir / 'langid'} not found; pass the shared eval folder "
                 "(e.g. ../shared/eval)")
    data = load(args.data_dir)
    halves = [h for h in args.halves.split(",") if h]
    skip = set(args.skip.split(","))
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    if "accuracy" not in skip:
        report_accuracy(args.data_dir, data, [m for m in args.backends.split(",") if m], halves)
    if "preparation" not in skip:
        report_preparation(data, halves[0])
    if "borrowing" not in skip:
        report_borrowing(data, halves)
    if "throughput" not in skip:
        report_short_throughput(data)
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
