"""ftfy's own test cases through textwash's read -> split -> fix_mojibake stages.

    .venv/bin/python benchmarks/evaluation/mojibake_eval.py /work/shared/eval

Data: DATA_DIR/mojibake/ftfy-test-cases/*.json (`original`, `fixed`, optional `fixed-encoding`,
`expect`). Each case becomes one JSONL record (UTF-8), is read, split into paragraphs and repaired
exactly as in a run. A case whose `expect` is pass must come out as its `fixed-encoding` text (the
encoding repair alone) or its `fixed` text (ftfy's full default repair); a `negative` case must
come out as its `fixed` text (the original, except where a C1 control is repaired). Paragraphs
are stored trimmed, so texts are compared without leading and trailing white space. textwash's ftfy settings differ from ftfy's defaults on purpose (curly quotes
kept, no width or ligature folding, NFC), so `fixed` alone would be the wrong yardstick where it
straightens quotes; where textwash matches `fixed` but not `fixed-encoding`, the script says so.
known-failures.json (expect: fail) is reported for information.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tasks.plan.inputs import discover_inputs
from tasks.settings import Settings
from tasks.shard.mojibake import fix_mojibake
from tasks.shard.paragraphs import split_paragraphs
from tasks.shard.read import read_inputs


def through_pipeline(texts: list[str]) -> list[str]:
    """Each text as a JSONL record through read, split_paragraphs and fix_mojibake."""
    settings = Settings()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cases.jsonl"
        with open(path, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps({"id": str(i), "text": text}, ensure_ascii=False) + "\n" for i, text in enumerate(texts))
        docs, rejects, _ = read_inputs(discover_inputs(tmp), settings.read)
    assert rejects.num_rows == 0, rejects.to_pylist()
    paragraphs = fix_mojibake(split_paragraphs(docs, settings.split), settings.mojibake)
    by_doc: dict[str, list[str]] = {}
    for doc_id, text in zip(paragraphs["doc_id"].to_pylist(), paragraphs["text"].to_pylist()):
        by_doc.setdefault(doc_id, []).append(text)
    return ["\n".join(by_doc.get(d, [])) for d in docs["doc_id"].to_pylist()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir", type=Path, help="the shared eval folder (has mojibake/)")
    args = parser.parse_args()
    folder = args.data_dir / "mojibake" / "ftfy-test-cases"
    files = sorted(folder.glob("*.json"))
    if not files:
        sys.exit(f"error: no ftfy test cases in {folder}; pass the shared eval folder")

    failed_required = 0
    print("| file | cases | as fixed-encoding | as fixed only | unchanged (negative) | wrong |")
    print("|---|---:|---:|---:|---:|---:|")
    notes = []
    for path in files:
        cases = json.loads(path.read_text(encoding="utf-8"))
        outs = through_pipeline([c["original"] for c in cases])
        as_encoding = as_fixed = unchanged = wrong = 0
        for case, out in zip(cases, outs):
            # Paragraphs are stored without leading or trailing white space (split stage).
            target = case.get("fixed-encoding", case["fixed"]).strip()
            out = out.strip()
            negative = path.stem == "negative"
            if negative:  # their `fixed` is the original, except where a C1 control is repaired
                ok = out == target
                unchanged += ok
            elif out == target:
                ok = True
                as_encoding += 1
            elif out == case["fixed"].strip():
                ok = True
                as_fixed += 1
                notes.append(f"{path.stem}: {case['label']!r} matches `fixed`, not "
                             f"`fixed-encoding` ({case['original']!r} -> {out!r})")
            else:
                ok = False
            if not ok:
                wrong += 1
                if case["expect"] == "pass":
                    failed_required += 1
                notes.append(f"{path.stem} ({case['expect']}): {case['label']!r}: "
                             f"{case['original']!r} -> {out!r}, expected {target!r}")
        print(f"| {path.stem} | {len(cases)} | {as_encoding} | {as_fixed} | "
              f"{unchanged if path.stem == 'negative' else '-'} | {wrong} |")
    print()
    for note in notes:
        print("-", note)
    print(f"\ncases expected to pass that did not: {failed_required}")
    sys.exit(1 if failed_required else 0)


if __name__ == "__main__":
    main()
