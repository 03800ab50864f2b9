"""Another fastText binding against textwash's (fasttext-predict): the same answers, and how fast.

    # textwash's binding, and one other in a venv of its own (both install a module `fasttext`):
    python3 -m venv /tmp/ftn && /tmp/ftn/bin/pip install fasttext-numpy2-wheel numpy
    .venv/bin/python benchmarks/speed/fasttext_binding.py lines ../shared/eval/corpus/web_fulltext.jsonl.gz /tmp/ft-lines.txt
    .venv/bin/python benchmarks/speed/fasttext_binding.py run /tmp/ft-lines.txt /tmp/ft-predict.json
    /tmp/ftn/bin/python benchmarks/speed/fasttext_binding.py run /tmp/ft-lines.txt /tmp/ft-other.json
    .venv/bin/python benchmarks/speed/fasttext_binding.py compare /tmp/ft-predict.json /tmp/ft-other.json

`lines` writes the paragraphs of the first pages of a JSONL(.gz) corpus (`text` field, split at
line breaks), prepared as the language stage prepares them (tasks/shard/language.prepare_text),
`--limit` of them. `run` (stdlib and the `fasttext` module only, so any venv can run it) loads
lid.176.ftz from the path `lines` recorded beside the lines, predicts each line's top 10 and top 1
labels, prints the CPU microseconds a line, and writes the top-10 answers; `compare` says whether
two runs' answers are the same, label for label and probability for probability.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path


def write_lines(corpus: Path, out: Path, limit: int) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tasks.shard.language import fasttext_model_path, prepare_text

    if not corpus.is_file():
        sys.exit(f"corpus not found: {corpus} (e.g. ../shared/eval/corpus/web_fulltext.jsonl.gz)")
    lines = []
    opener = gzip.open if corpus.suffix == ".gz" else open
    with opener(corpus, "rt", encoding="utf-8") as fh:
        for record in fh:
            for paragraph in json.loads(record)["text"].split("\n"):
                if paragraph.strip():
                    lines.append(prepare_text(paragraph))
            if len(lines) >= limit:
                break
    out.write_text("\n".join(lines[:limit]) + "\n", encoding="utf-8")
    out.with_suffix(".model").write_text(str(fasttext_model_path()), encoding="utf-8")
    return min(len(lines), limit)


def run(lines_path: Path, out: Path) -> None:
    import fasttext

    lines = [line + "\n" for line in lines_path.read_text(encoding="utf-8").splitlines()]
    model = fasttext.load_model(lines_path.with_suffix(".model").read_text(encoding="utf-8")).f
    answers = []
    start = time.process_time()
    for line in lines:
        answers.append(model.predict(line, 10, 0.0, "replace"))
    top10 = time.process_time() - start
    start = time.process_time()
    for line in lines:
        model.predict(line, 1, 0.0, "replace")
    top1 = time.process_time() - start
    print(f"{fasttext.__file__}: {len(lines):,} lines, top 10 {top10 / len(lines) * 1e6:.1f} µs "
          f"a line, top 1 {top1 / len(lines) * 1e6:.1f} µs a line (CPU)")
    out.write_text(json.dumps([[[float(p), label] for p, label in a] for a in answers]),
                   encoding="utf-8")


def compare(a: Path, b: Path) -> int:
    first, second = json.loads(a.read_text()), json.loads(b.read_text())
    differ = sum(x != y for x, y in zip(first, second)) + abs(len(first) - len(second))
    print(f"{len(first):,} lines: {'the same answers' if not differ else f'{differ:,} differ'}")
    return 1 if differ else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("lines")
    p.add_argument("corpus", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--limit", type=int, default=30_000)
    p = sub.add_parser("run")
    p.add_argument("lines", type=Path)
    p.add_argument("out", type=Path)
    p = sub.add_parser("compare")
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    args = parser.parse_args(argv)
    if args.command == "lines":
        print(f"{write_lines(args.corpus, args.out, args.limit):,} lines in {args.out}")
        return 0
    if args.command == "run":
        run(args.lines, args.out)
        return 0
    return compare(args.a, args.b)


if __name__ == "__main__":
    sys.exit(main())
