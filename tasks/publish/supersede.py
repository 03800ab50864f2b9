"""Superseding: when an input that an earlier run read is read again (its content changed, or the
output settings did), the earlier rows for it must not stay visible beside the new ones.

The new run's commit rewrites the earlier runs' part files that hold such rows, without them,
into the new generation (tasks/store.py): readers of `clean/` see only the current version of
every input, and the earlier files stay untouched in the generation that is being replaced. The
new run's manifest lists what it superseded (`superseded`: source, run, counts), and the
documents' ids go to `_index/superseded/<run_id>.parquet` so that duplicate lookups no longer
match the removed paragraphs. Rows of other runs that named a removed paragraph in `dup_of`
keep that id.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.store import Layout, Staging, Store


def superseded_doc_ids(store: Store, supersedes: list[tuple[str, str]]) -> dict[str, set[str]]:
    """run_id -> doc ids of the superseded sources' documents in that run."""
    found: dict[str, set[str]] = {}
    for run_id, sources in sorted(_by_run(supersedes).items()):
        ids: set[str] = set()
        parts, shared = store.run_parts("documents", run_id)
        for part in parts:
            docs = pq.read_table(part, columns=["doc_id", "source", "run_id"])
            ids.update(pc.filter(docs["doc_id"], _rows_of(docs, run_id, "source", sources,
                                                          shared)).to_pylist())
        found[run_id] = ids
    return found


def stage_index_exclusions(staging: Staging, doc_ids: dict[str, set[str]]) -> None:
    every = sorted(set().union(*doc_ids.values())) if doc_ids else []
    path = staging.index_file("superseded")
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"doc_id": pa.array(every, type=pa.string())}), path,
                   compression="zstd")


def rewrite_without(generation: Layout, supersedes: list[tuple[str, str]],
                    doc_ids: dict[str, set[str]]) -> list[dict]:
    """Rewrite the part files of `generation` that hold superseded rows (a run's own files, or
    the compacted files that hold its rows: tasks/publish/compaction.py). Returns, per earlier
    run, the sources superseded and the rows removed from each table."""
    report = []
    for run_id, sources in sorted(_by_run(supersedes).items()):
        removed = {"documents": 0, "paragraphs": 0, "rejects": 0}
        for table in removed:
            column, values = ("doc_id", doc_ids.get(run_id, set())) if table == "paragraphs" \
                else ("source", sources)
            parts, shared = generation.run_parts(table, run_id)
            for part in parts:
                data = pq.read_table(part)
                drop = _rows_of(data, run_id, column, values, shared)
                n = int(pc.sum(drop).as_py() or 0)
                if n:
                    removed[table] += n
                    _replace_part(part, data.filter(pc.invert(drop)))
        report.append({"run_id": run_id, "sources": sorted(sources), **removed})
    return report


def _by_run(supersedes: list[tuple[str, str]]) -> dict[str, set[str]]:
    by_run: dict[str, set[str]] = defaultdict(set)
    for source, run_id in supersedes:
        by_run[run_id].add(source)
    return by_run


def _rows_of(data: pa.Table, run_id: str, column: str, values: set[str], shared: bool):
    """Per row: `column` is one of `values` (and, in a file several runs share, the row is
    `run_id`'s)."""
    mask = pc.is_in(data[column], value_set=pa.array(sorted(values), type=pa.string()))
    if shared:
        mask = pc.and_(mask, pc.equal(data["run_id"], run_id))
    return pc.fill_null(mask, False)
def _replace_part(part: Path, table: pa.Table) -> None:
    """Replace the generation's link to `part` by a new file; the old generation keeps its own.
    A part left with no rows is removed: readers fail on empty Parquet files."""
    if not table.num_rows:
        part.unlink()
        return
    tmp = part.with_name(f".{part.name}.rewrite")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(part)
