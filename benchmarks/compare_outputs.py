"""Are two `clean/` folders the same output? For refactors, which must change no output.

    python benchmarks/compare_outputs.py CLEAN_A CLEAN_B

Compares every row of every table (documents, paragraphs, rejects), the duplicate index
(`_index/`, as what a lookup finds: the same entries, band keys, exact keys, template counts and
superseded documents, however compaction split them into files), the planning state
(`_index/inputs.json`, without the files' stats), and the run manifests without what differs
from run to run by nature (clock times, seconds, the Prefect flow run id, the folders read and
written, library versions, what compaction merged). Rows are compared in a canonical order (by
run, then the table's id), so different shard counts and file layouts still compare.
Prints each difference found; exit code 0 when there is none, 1 otherwise, 2 on bad usage.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks import schema
from tasks.cross_document.history import ENTRY_SCHEMA, open_segment, superseded_documents
from tasks.plan.state import load_state
from tasks.store import Layout, Store

ORDER = {"documents": ["run_id", "doc_id"], "paragraphs": ["run_id", "para_id"],
         "rejects": ["run_id", "source", "position", "error"]}
VOLATILE = {"started_at", "finished_at", "prefect_flow_run_id", "raw", "output", "seconds",
            "cross_document_seconds", "stage_seconds", "libraries",
            "compacted"}  # how files were merged: layout, not output


def table(clean: Path, name: str):
    data = ds.dataset(clean / name, format="parquet", schema=schema.TABLES[name]).to_table()
    return data.sort_by([(column, "ascending") for column in ORDER[name]])


def manifests(clean: Path) -> dict[str, dict]:
    out = {}
    for manifest in Store(clean).manifests():
        run = manifest["run_id"]
        out[run] = {k: v for k, v in manifest.items() if k not in VOLATILE}
        # where the run read and wrote, how files are merged and reached: not its output
        layout = {"raw", "clean", "compaction", "storage"}
        out[run]["settings"] = {k: v for k, v in manifest["settings"].items()
                                if k not in layout}
    return out


def index_view(clean: Path) -> dict[str, pa.Table]:
    """The duplicate index as lookups see it, whatever its files: entries in canonical order,
    (band, key, para id) and (hash, para id) sorted, template counts summed, superseded
    documents with the latest run that superseded them."""
    layout = Layout(clean)
    view: dict[str, pa.Table] = {}
    entries, bands, exact = [], [], []
    for path in layout.index_files("entries"):
        segment = open_segment(layout, path.stem)
        table = pa.Table.from_batches(list(segment.entry_batches()), schema=ENTRY_SCHEMA)
        para = table["para_id"].to_numpy(zero_copy_only=False)
        entries.append(table)
        for band in range(segment.band_count):
            keys, rows = segment.whole_band(band)
            bands.append(pa.table({"band": pa.array([band] * len(keys), pa.int32()),
                                   "key": keys, "para_id": para[rows.astype(np.int64)]}))
        hashes, rows = segment.whole_exact()
        exact.append(pa.table({"norm_hash": hashes, "para_id": para[rows.astype(np.int64)]}))
    if entries:
        view["entries"] = pa.concat_tables(entries).sort_by([("run_seq", "ascending"),
                                                            ("order", "ascending")])
        view["bands"] = pa.concat_tables(bands).sort_by(
            [("band", "ascending"), ("key", "ascending"), ("para_id", "ascending")])
        view["exact"] = pa.concat_tables(exact).sort_by([("norm_hash", "ascending"),
                                                        ("para_id", "ascending")])
    templates = [pq.read_table(p) for p in layout.index_files("templates")]
    if templates:
        summed = pa.concat_tables(templates).group_by(["site", "key"]).aggregate(
            [("docs", "sum")])
        view["templates"] = summed.sort_by([("site", "ascending"), ("key", "ascending")])
    superseded: dict[str, int] = {}
    for doc_id, sequence in superseded_documents(layout):
        superseded[doc_id] = max(superseded.get(doc_id, 0), sequence)
    view["superseded"] = pa.table({"doc_id": sorted(superseded),
                                   "sequence": [superseded[d] for d in sorted(superseded)]})
    meta = layout.index_meta
    view["meta"] = pa.table({"json": [meta.read_text() if meta.is_file() else ""]})
    return view


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
    sa, sb = load_state(Store(a)), load_state(Store(b))
    for state in (sa, sb):
        state.stats = {}  # where the files lay, not what they held
    if sa != sb:
        found.append("_index/inputs.json: the planning state differs")
    ia, ib = index_view(a), index_view(b)
    if ia.keys() != ib.keys():
        found.append(f"_index: {sorted(ia.keys() ^ ib.keys())} in one folder only")
    for kind in sorted(ia.keys() & ib.keys()):
        if not ia[kind].equals(ib[kind]):
            found.append(f"_index/{kind}: contents differ")
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
