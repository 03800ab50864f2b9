"""Compaction: `clean/` stays few files however many runs it holds.

Every run adds a folder per table, a file per kind of the duplicate index and a manifest. Left
alone, an hourly schedule makes tens of thousands of small files a year: readers open them
all, every lookup in the index visits every run's files, and every commit links them all into
the next generation. Compaction merges them size-tiered, as LSM stores do: `fanout` consecutive
files of one size tier become one file of the next tier; files below `small_bytes` are one
tier, so a small run is merged with its neighbours at once and its rows are rewritten only a
few times over their life; files of `max_bytes` or more are left as they are. What it merges:

    <table>/<run_id>/ ...             ->  <table>/runs-<first>-<last>/part-NNNNN.parquet
    _index/<kind>/<run_id>.parquet    ->  _index/<kind>/runs-<first>-<last>.parquet
    _runs/<run_id>.json               ->  _runs/runs-<first>-<last>.jsonl (one manifest a line)

(`runs-<first>-<last>` names the run sequences it holds: tasks/store.py.) Rows are moved, never
changed: a merged table file holds its runs' rows in run order and shard order, the `run_id`
column says whose they are, and duplicate lookups in a merged index segment find exactly what
they found in its parts (tasks/cross_document/history.py). It runs inside a commit, on the next
generation (tasks/store.py), so readers see the files before or after it, never between; and by
`textwash compact` (`Store.rearrange`), which can also merge every file below `max_bytes`.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pyarrow.parquet as pq

from tasks import schema
from tasks.cross_document.history import merge_segments, merge_superseded
from tasks.cross_document.templates import merge_counts
from tasks.faults import checkpoint
from tasks.publish import OUTPUT_COMPRESSION
from tasks.settings import CompactionSettings
from tasks.store import (
    TABLE_NAMES,
    Layout,
    by_sequence,
    compacted_name,
    part_name,
    sequence_range,
)


def compact(generation: Layout, settings: CompactionSettings, full: bool = False) -> list[dict]:
    """Merge what the policy says in `generation`: each table's run folders, the index segments,
    the superseded and template counts, the manifests. `full`: every run of consecutive files
    below `max_bytes`, up to that size. Returns one line per merge: what, into what, how many."""
    done = []
    for table in TABLE_NAMES:
        folders = generation.table_folders(table)
        for group in _merges([_folder_bytes(f) for f in folders], settings, full):
            chosen = folders[group[0]:group[1]]
            into = _merge_table(generation, table, chosen, settings.max_bytes)
            done.append({"what": table, "into": into, "merged": len(chosen)})
            checkpoint("compact:merged")
    index_kinds = (("entries", merge_segments), ("superseded", merge_superseded),
                   ("templates", merge_counts))
    for kind, merge in index_kinds:
        names = [p.stem for p in generation.index_files(kind)]
        sizes = [sum(_size(generation.index_file(k, n)) for k in _unit(kind)) for n in names]
        for group in _merges(sizes, settings, full):
            chosen = names[group[0]:group[1]]
            into = _span(chosen)
            merge(generation, chosen, into)
            done.append({"what": f"_index/{kind}", "into": into, "merged": len(chosen)})
    manifests = _manifest_files(generation)
    for group in _merges([_size(p) for p in manifests], settings, full):
        chosen = manifests[group[0]:group[1]]
        into = _merge_manifests(generation, chosen)
        done.append({"what": "_runs", "into": into, "merged": len(chosen)})
    return done


def _merges(sizes: list[int], settings: CompactionSettings, full: bool) -> list[tuple[int, int]]:
    """Ranges [i, j) of consecutive files to merge, each into one file."""
    if full:
        return _pack(sizes, settings.max_bytes)
    groups = [(i, i + 1, size) for i, size in enumerate(sizes)]
    fan = settings.fanout
    merged = True
    while merged:
        merged = False
        tiers = [_tier(size, settings) for _, _, size in groups]
        for i in range(len(groups) - fan + 1):
            if tiers[i] is not None and tiers[i:i + fan] == [tiers[i]] * fan:
                window = groups[i:i + fan]
                groups[i:i + fan] = [(window[0][0], window[-1][1], sum(g[2] for g in window))]
                merged = True
                break
    return [(start, end) for start, end, _ in groups if end - start > 1]


def _tier(size: int, settings: CompactionSettings) -> int | None:
    """0 below `small_bytes`, then one tier per factor `fanout`; None (never merged) from
    `max_bytes` on."""
    if size >= settings.max_bytes:
        return None
    if size < settings.small_bytes:
        return 0
    return 1 + int(math.log(size / settings.small_bytes, settings.fanout))


def _pack(sizes: list[int], largest: int) -> list[tuple[int, int]]:
    """Consecutive files below `largest` packed greedily into groups of less than `largest`."""
    groups, start, total = [], None, 0
    for i, size in enumerate([*sizes, largest]):
        if start is not None and (size >= largest or total + size > largest):
            if i - start > 1:
                groups.append((start, i))
            start, total = None, 0
        if size < largest and start is None:
            start, total = i, 0
        if start is not None:
            total += size
    return groups


def _merge_table(generation: Layout, table: str, folders: list[Path], max_bytes: int) -> str:
    """Rewrite the part files of `folders` (in run order) into one compacted folder, in parts
    of about `max_bytes`; remove the folders. Returns the new folder's name."""
    into = _span([f.name for f in folders])
    target = generation.root / table / into
    building = target.with_name(f".{into}.building")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    writer, part, written = None, 0, 0
    for folder in folders:
        for path in sorted(folder.glob("*.parquet")):
            if writer is not None and written >= max_bytes:
                writer.close()
                writer, part, written = None, part + 1, 0
            if writer is None:
                writer = pq.ParquetWriter(building / part_name(part), schema.TABLES[table],
                                          compression=OUTPUT_COMPRESSION)
            writer.write_table(pq.read_table(path, schema=schema.TABLES[table]))
            written += _size(path)
    if writer is not None:
        writer.close()
    for folder in folders:
        shutil.rmtree(folder)
    building.rename(target)
    return into


def _merge_manifests(generation: Layout, files: list[Path]) -> str:
    manifests = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        manifests += [json.loads(line) for line in text.splitlines() if line] \
            if path.suffix == ".jsonl" else [json.loads(text)]
    into = _span([p.name.split(".")[0] for p in files])
    lines = "".join(json.dumps(m, sort_keys=True) + "\n" for m in manifests)
    (generation.runs_dir / f"{into}.jsonl").write_text(lines, encoding="utf-8")
    for path in files:
        path.unlink()
    return into


def _manifest_files(generation: Layout) -> list[Path]:
    if not generation.runs_dir.is_dir():
        return []
    return by_sequence([*generation.runs_dir.glob("*.json"), *generation.manifest_logs()])


def _span(names: list[str]) -> str:
    """The compacted name of consecutive runs' files or folders."""
    return compacted_name(sequence_range(names[0])[0], sequence_range(names[-1])[1])


def _unit(kind: str) -> tuple[str, ...]:
    """The index files merged together: a segment's entries, bands and exact tables."""
    return ("entries", "bands", "exact") if kind == "entries" else (kind,)


def _folder_bytes(folder: Path) -> int:
    return sum(_size(p) for p in folder.glob("*.parquet"))


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else 0
