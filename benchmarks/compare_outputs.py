"""Are two `clean/` folders the same output? For refactors, which must change no output.

    python benchmarks/compare_outputs.py CLEAN_A CLEAN_B

Compares every row of every table (documents, paragraphs, rejects), every file of the duplicate
index (`_index/`), and the run manifests without what differs from run to run by nature (clock
times, seconds, the Prefect flow run id, the folders read and written, library versions). Rows are compared
in a canonical order (by run, then the table's id), so different shard counts still compare.
Prints each difference found; exit code 0 when there is none, 1 otherwise, 2 on bad usage.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks import schema

ORDER = {"documents": ["run_id", "doc_id"], "paragraphs": ["run_id", "para_id"],
         "rejects": ["run_id", "source", "position", "error"]}
VOLATILE = {"started_at", "finished_at", "prefect_flow_run_id", "raw", "output", "seconds",
            "cross_document_seconds", "stage_seconds", "libraries"}


def table(clean: Path, name: str):
    data = ds.dataset(clean / name, format="parquet", schema=schema.TABLES[name]).to_table()
    return data.sort_by([(column, "ascending") for column in ORDER[name]])


def manifests(clean: Path) -> dict[str, dict]:
    out = {}
    for path in sorted((clean / "_runs").glob("*.json")):
        manifest = json.loads(path.read_text(encoding="utf-8"))
        out[path.name] = {k: v for k, v in manifest.items() if k not in VOLATILE}
        folders = {"raw", "clean"}  # where the run read and wrote: not its output
        out[path.name]["settings"] = {k: v for k, v in manifest["settings"].items()
                                      if k not in folders}
    return out


def index_files(clean: Path) -> dict[str, Path]:
    root = clean / "_index"
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*")) if p.is_file()}


def differences(a: Path, b: Path) -> list[str]:
    found = []
    for name in ORDER:
        ta, tb = table(a, name), table(b, name)
        if ta.num_rows != tb.num_rows:
            found.append(f"{name}: {ta.num_rows} rows against {tb.num_rows}")
            continue
        for column in ta.column_names:
            if not ta[column].equals(tb[column]):
                found.append(f"{name}.{column}: values differ")
    ma, mb = manifests(a), manifests(b)
    if ma.keys() != mb.keys():
        found.append(f"_runs: {sorted(ma)} against {sorted(mb)}")
    for run in sorted(ma.keys() & mb.keys()):
        for key in sorted(ma[run].keys() | mb[run].keys()):
            if ma[run].get(key) != mb[run].get(key):
                found.append(f"_runs/{run}: {key} differs")
    ia, ib = index_files(a), index_files(b)
    if ia.keys() != ib.keys():
        found.append(f"_index: files {sorted(ia.keys() ^ ib.keys())} in one folder only")
    for rel in sorted(ia.keys() & ib.keys()):
        if rel.endswith(".parquet"):
            same = pq.read_table(ia[rel]).equals(pq.read_table(ib[rel]))
        else:
            same = ia[rel].read_bytes() == ib[rel].read_bytes()
        if not same:
            found.append(f"_index/{rel}: contents differ")
    return found


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    a, b = (Path(x) for x in args)
    for clean in (a, b):
        if not (clean / "_runs").is_dir():
            print(f"{clean} is not a textwash output folder (no _runs/)", file=sys.stderr)
            return 2
    found = differences(a, b)
    for line in found:
        print(line)
    print("identical" if not found else f"{len(found)} differences")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
