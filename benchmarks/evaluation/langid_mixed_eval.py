"""Language labels as `textwash run` gives them, on documents built from lingua's sentences.

    .venv/bin/python benchmarks/evaluation/langid_mixed_eval.py /work/shared/eval \
        [--half holdout] [--work /tmp/langid-mixed] [--compare-unscreened]

Data: DATA_DIR/langid/sentences/<iso>.txt; `--half tune` (even lines) or `holdout` (odd lines,
the default: the screen's table and rule were chosen on the tuning half only).

Two inputs, each a JSONL file that `textwash run` reads as a user's input:
- single: every sentence its own document. Accuracy per language (`und` is wrong), the mean
  over the languages the default backend knows: what benchmarks/evaluation/langid_eval.py
  measures on the texts alone, here through the whole run.
- mixed: documents of SENTENCES_PER_DOCUMENT sentences of one language with one sentence of
  another language at a random place (not the first); for every fifth document that language is
  a close one (bs/hr/sr, nb/nn/da, ms/id, ...: benchmarks/training/train_langid_screen.py's
  CLOSE), for the others any language. Per-paragraph accuracy on paragraphs of 40+ characters:
  all, the documents' own-language ones, the inserted ones, the inserted close ones.
With `--compare-unscreened`, each input also runs with `language.screen = false` (every
paragraph identified on its own, as before the screen) and the labels that differ are counted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pyarrow.dataset as ds

from benchmarks.evaluation.langid_eval import half, load
from benchmarks.training.train_langid_screen import CLOSE
from tasks.settings import LanguageSettings
from tasks.shard.language import supported_languages

SENTENCES_PER_DOCUMENT = 5
MIN_CHARS = 40
REPO = Path(__file__).resolve().parents[2]


def single_documents(sentences: dict[str, list[str]]) -> list[dict]:
    return [{"id": f"{lang}/{i}", "text": s, "truth": [lang]}
            for lang, lines in sorted(sentences.items()) for i, s in enumerate(lines)]


def mixed_documents(sentences: dict[str, list[str]], seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    languages = sorted(sentences)
    pools = {lang: list(lines) for lang, lines in sentences.items()}
    for pool in pools.values():
        rng.shuffle(pool)
    docs = []
    for lang in languages:
        home = pools[lang]
        close = sorted({c for group in CLOSE if lang in group for c in group} - {lang})
        for k in range(len(home) // SENTENCES_PER_DOCUMENT):
            body = home[k * SENTENCES_PER_DOCUMENT:(k + 1) * SENTENCES_PER_DOCUMENT]
            near = close and k % 5 == 0
            other = rng.choice([c for c in close if c in pools] if near else
                               [o for o in languages if o != lang])
            at = rng.randrange(1, len(body) + 1)
            paragraphs = body[:at] + [rng.choice(pools[other])] + body[at:]
            truth = [lang] * at + [other] + [lang] * (len(body) - at)
            kind = ["home"] * at + ["close" if near else "other"] + ["home"] * (len(body) - at)
            docs.append({"id": f"{lang}/{k}", "text": "\n\n".join(paragraphs),
                         "truth": truth, "kind": kind, "paragraphs": paragraphs})
    return docs


def run_textwash(docs: list[dict], work: Path, screen: bool) -> dict[str, list[tuple[str, str]]]:
    """`textwash run` on the documents: {input id: [(paragraph text, lang), ...]} in order."""
    name = "screened" if screen else "unscreened"
    raw, clean = work / f"raw-{name}", work / f"clean-{name}"
    for folder in (raw, clean):
        subprocess.run(["rm", "-rf", str(folder)], check=True)
    raw.mkdir(parents=True)
    with open(raw / "docs.jsonl", "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps({"id": d["id"], "text": d["text"]}, ensure_ascii=False) + "\n"
                      for d in docs)
    config = work / f"{name}.toml"
    config.write_text(f"[split]\nmode = \"blank_line\"\n[language]\nscreen = {str(screen).lower()}\n")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "flows.cli", "run", str(raw), str(clean), "--config",
                    str(config)], check=True, cwd=REPO,
                   env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL)
    print(f"  textwash run ({name}): {time.perf_counter() - start:.1f} s")
    documents = ds.dataset(clean / "documents").to_table(columns=["doc_id", "input_id"])
    input_of = dict(zip(documents["doc_id"].to_pylist(), documents["input_id"].to_pylist()))
    paragraphs = ds.dataset(clean / "paragraphs").to_table(
        columns=["doc_id", "para_index", "text", "lang"]).sort_by([("doc_id", "ascending"),
                                                                   ("para_index", "ascending")])
    out: dict[str, list[tuple[str, str]]] = {}
    for doc_id, text, lang in zip(*(paragraphs[c].to_pylist() for c in ("doc_id", "text", "lang"))):
        out.setdefault(input_of[doc_id], []).append((text, lang))
    return out


def labelled(docs: list[dict], found: dict) -> list[tuple[str, str, str, str]]:
    """(truth, label, kind, text) per paragraph; a document whose paragraphs did not come back
    one per sentence is an error."""
    rows = []
    for d in docs:
        got = found.get(d["id"], [])
        if len(got) != len(d["truth"]):
            raise SystemExit(f"document {d['id']}: {len(got)} paragraphs came back, "
                             f"{len(d['truth'])} were written")
        kinds = d.get("kind", ["home"] * len(got))
        rows += [(t, lang, k, text) for t, (text, lang), k in zip(d["truth"], got, kinds)]
    return rows


def report_single(rows, languages) -> None:
    per: dict[str, list[int]] = {}
    for truth, label, _, _ in rows:
        if truth in languages:
            per.setdefault(truth, []).append(label == truth)
    means = {lang: sum(v) / len(v) for lang, v in per.items()}
    worst = sorted(means.items(), key=lambda kv: kv[1])[:6]
    print(f"  single: mean accuracy over {len(means)} languages {sum(means.values()) / len(means):.4f}; "
          f"weakest {', '.join(f'{k} {v:.3f}' for k, v in worst)}")


def report_mixed(rows) -> None:
    long_rows = [r for r in rows if len(r[3]) >= MIN_CHARS]
    def acc(kind=None):
        sel = [r for r in long_rows if kind is None or r[2] == kind]
        return f"{sum(t == lab for t, lab, _, _ in sel) / max(len(sel), 1):.4f} ({len(sel):,})"
    print(f"  mixed, paragraphs of {MIN_CHARS}+ characters: all {acc()}; own language {acc('home')}; "
          f"inserted {acc('other')}; inserted close language {acc('close')}")
    wrong = Counter((t, lab) for t, lab, k, _ in long_rows if t != lab and k != "home")
    print(f"  inserted paragraphs labelled wrong, commonest (truth, label): {wrong.most_common(8)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir")
    parser.add_argument("--half", choices=("tune", "holdout"), default="holdout")
    parser.add_argument("--work", default="/tmp/langid-mixed")
    parser.add_argument("--compare-unscreened", action="store_true")
    args = parser.parse_args(argv)
    work = Path(args.work)
    sentences = half(load(Path(args.data_dir)), args.half)
    languages = supported_languages(LanguageSettings().backend)
    print(f"{args.half} half: {sum(map(len, sentences.values())):,} sentences, "
          f"{len(sentences)} languages")
    for name, docs, report in (("single", single_documents(sentences), report_single),
                               ("mixed", mixed_documents(sentences), report_mixed)):
        print(f"{name}: {len(docs):,} documents")
        results = {}
        for screen in (True, False) if args.compare_unscreened else (True,):
            rows = labelled(docs, run_textwash(docs, work / name, screen))
            results[screen] = rows
            print(f"  language.screen = {str(screen).lower()}:")
            if report is report_single:
                report(rows, languages)
            else:
                report(rows)
        if len(results) == 2:
            a, b = results[True], results[False]
            changed = [(x[1], y[1]) for x, y in zip(a, b) if x[1] != y[1]]
            chars = sum(len(x[3]) for x, y in zip(a, b) if x[1] != y[1])
            print(f"  labels that differ screened / unscreened: {len(changed):,} of {len(a):,} "
                  f"paragraphs, {chars / sum(len(x[3]) for x in a):.2%} of characters")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
