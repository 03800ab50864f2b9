"""Share of files whose text textwash reads correctly, per encoding.

    .venv/bin/python benchmarks/evaluation/encoding_eval.py /work/shared/eval [--baseline]

Data: DATA_DIR/encodings/<encoding>/ (chardet's test corpus; the folder name is the true
encoding, with a language suffix for some). A file is read correctly when textwash's decoded text
equals the file decoded with the true encoding (a leading BOM removed): the text counts, not the
encoding's name (ISO-8859-1 read as windows-1252 is right when no byte differs). Halves: within
each folder, files in name order at even positions are the tuning half, odd the held-out half.
--baseline shows charset-normalizer's best guess alone (after the BOM, UTF-8 and UTF-16 steps).
"""

from __future__ import annotations

import argparse
import codecs
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tasks.shard.decode import DecodeError, decode_bytes

LANGUAGE_SUFFIXES = ("-arabic", "-bulgarian", "-croatian", "-czech", "-greek", "-hebrew",
                     "-hungarian", "-polish", "-romanian", "-russian", "-slovak", "-slovene",
                     "-turkish")


def true_codec(folder: str) -> str | None:
    name = folder
    for suffix in LANGUAGE_SUFFIXES:
        name = name.removesuffix(suffix)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None  # e.g. EUC-TW: Python has no codec for it


def baseline(data: bytes) -> str:
    from charset_normalizer import from_bytes

    try:
        return decode_bytes(data).text if _easy(data) else str(from_bytes(data).best())
    except DecodeError:
        return ""


def _easy(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir", type=Path, help="the shared eval folder (has encodings/)")
    parser.add_argument("--baseline", action="store_true")
    args = parser.parse_args()
    root = args.data_dir / "encodings"
    if not root.is_dir():
        sys.exit(f"error: {root} not found; pass the shared eval folder (e.g. ../shared/eval)")

    rows = []  # (folder, half, file, right, got encoding or error, seconds)
    no_codec = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        codec = true_codec(folder.name)
        for i, path in enumerate(sorted(p for p in folder.iterdir() if p.is_file())):
            if codec is None:
                no_codec.append(f"{folder.name}/{path.name}")
                continue
            data = path.read_bytes()
            expected = data.decode(codec, errors="replace").removeprefix("\ufeff")
            start = time.perf_counter()
            if args.baseline:
                text, got = baseline(data), "charset-normalizer"
            else:
                try:
                    decoded = decode_bytes(data)
                    text, got = decoded.text, decoded.encoding
                except DecodeError as exc:
                    text, got = None, exc.code
            rows.append((folder.name, "tune" if i % 2 == 0 else "holdout", path.name,
                         text == expected, got, time.perf_counter() - start))

    print(f"load average: {os.getloadavg()[0]:.2f}\n")
    print("| encoding | files | right | wrong: read as |")
    print("|---|---:|---:|---|")
    for folder in sorted({r[0] for r in rows}):
        mine = [r for r in rows if r[0] == folder]
        wrong = ", ".join(f"{r[2]} -> {r[4]}" for r in mine if not r[3])
        print(f"| {folder} | {len(mine)} | {sum(r[3] for r in mine)} | {wrong} |")
    print("\n| half | files | right | share |")
    print("|---|---:|---:|---:|")
    for name in ("tune", "holdout", None):
        part = [r for r in rows if name is None or r[1] == name]
        right = sum(r[3] for r in part)
        print(f"| {name or 'all'} | {len(part)} | {right} | {right / len(part):.3f} |")
    folders = sorted({r[0] for r in rows})
    per_folder = [sum(r[3] for r in rows if r[0] == f) / sum(r[0] == f for r in rows)
                  for f in folders]
    print(f"\nmean over {len(folders)} encodings: {sum(per_folder) / len(per_folder):.3f}; "
          f"{sum(r[5] for r in rows):.1f} s for {len(rows)} files")
    if no_codec:
        print(f"not scored (Python has no codec to make the reference text): {', '.join(no_codec)}")


if __name__ == "__main__":
    main()
