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

from tasks.store import TABLE_NAMES, Layout, Staging, Store


def superseded_doc_ids(store: Store, supersedes: list[tuple[str, str]]) -> dict[str, set[str]]:
    """run_id -> doc ids of the superseded sources' documents in that run."""
    found: dict[str, set[str]] = {}
    for run_id, sources in sorted(_by_run(supersedes).items()):
        ids: set[str] = set()
        parts, shared = store.run_parts("documents", run_id)
        for part in parts:
            groups = _groups_holding(part, run_id) if shared else None
            if groups == []:
                continue
            pf = pq.ParquetFile(part)
            docs = pf.read_row_groups(groups if groups is not None else
                                      list(range(pf.num_row_groups)),
                                      columns=["doc_id", "source", "run_id"])
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
    the compacted files that hold its rows: tasks/publish/compaction.py), each file once.
    Returns, per earlier run, the sources superseded and the rows removed from each table."""
    by_run = _by_run(supersedes)
    removed = {run_id: dict.fromkeys(TABLE_NAMES, 0) for run_id in by_run}
    for table in TABLE_NAMES:
        column = "doc_id" if table == "paragraphs" else "source"
        touched: dict[Path, list[tuple[str, set[str], bool]]] = defaultdict(list)
        for run_id, sources in sorted(by_run.items()):
            values = doc_ids.get(run_id, set()) if table == "paragraphs" else sources
            parts, shared = generation.run_parts(table, run_id)
            for part in parts:
                if not shared or _groups_holding(part, run_id):
                    touched[part].append((run_id, values, shared))
        for part, wanted in sorted(touched.items()):
            data = pq.read_table(part)
            drop = None
            for run_id, values, shared in wanted:
                mask = _rows_of(data, run_id, column, values, shared)
                removed[run_id][table] += int(pc.sum(mask).as_py() or 0)
                drop = mask if drop is None else pc.or_(drop, mask)
            if pc.any(drop).as_py():
                _replace_part(part, data.filter(pc.invert(drop)))
    return [{"run_id": run_id, "sources": sorted(by_run[run_id]), **removed[run_id]}
            for run_id in sorted(by_run)]


def _groups_holding(part: Path, run_id: str) -> list[int]:
    """The row groups of a compacted part whose `run_id` range holds `run_id` (its rows are in
    run order, so usually one or two)."""
    meta = pq.ParquetFile(part).metadata
    at = meta.schema.to_arrow_schema().get_field_index("run_id")
    groups = []
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(at).statistics
        if stats is None or not stats.has_min_max or stats.min <= run_id <= stats.max:
            groups.append(g)
    return groups


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
