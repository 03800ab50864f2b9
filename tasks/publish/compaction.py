"""Compaction: `clean/` stays few files however many runs it holds.

Every run adds a folder per table, a file per kind of the duplicate index and a manifest. Left
alone, an hourly schedule makes tens of thousands of small files a year: readers open them
all, every lookup in the index visits every run's files, and every commit links them all into
the next generation. Compaction merges them size-tiered, as LSM stores do: `fanout` consecutive
files of one size tier become one file of the next tier; files below `small_bytes` are one
tier, so a small run is merged with its neighbours at once and its rows are rewritten only a
few times over their life; files of `max_bytes` or more are left as they are. What it merges:

    <table>/<run_id>/ ...             ->  <table>/<first>-<last>-runs/part-NNNNN.parquet
    _index/<kind>/<run_id>.parquet    ->  _index/<kind>/<first>-<last>-runs.parquet (a segment's
                                          entries .arrow, bands and exact .npy: history.py)
    _runs/<run_id>.json               ->  _runs/<first>-<last>-runs.jsonl (one manifest a line)

(`<first>-<last>-runs` names the run sequences it holds and sorts among run ids by its first:
tasks/store.py.) Rows are moved, never
changed: a merged table file holds its runs' rows in run order and shard order, the `run_id`
column says whose they are, and duplicate lookups in a merged index segment find exactly what
they found in its parts (tasks/cross_document/history.py). It runs inside a commit, on the next
generation (tasks/store.py), so readers see the files before or after it, never between; and by
`textwash compact` (`Store.rearrange`), which can also merge every file below `max_bytes`. A
reader that lists files and opens them later should list inside the generation
(`os.path.realpath("clean/.current")`): the folders merged away are gone from the next one,
and a generation stays until the run after the next starts.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pyarrow.parquet as pq

from tasks import schema
from tasks.cross_document.history import merge_segments, merge_superseded, segment_files
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


def plan_merges(generation: Layout, settings: CompactionSettings,
                full: bool = False) -> list[dict]:
    """What the policy merges in `generation`, in order: each table's run folders, the index
    segments, the superseded and template counts, the manifests. `full`: every run of
    consecutive files below `max_bytes`, up to that size. One item per merge: what, the
    consecutive names it merges (in run order), the name it makes."""
    merges = []

    def add(what: str, names: list[str], sizes: list[int]) -> None:
        for start, end in _merges(sizes, settings, full):
            merges.append({"what": what, "names": names[start:end],
                           "into": _span(names[start:end])})

    for table in TABLE_NAMES:
        folders = generation.table_folders(table)
        add(table, [f.name for f in folders], [_folder_bytes(f) for f in folders])
    for kind in ("entries", "superseded", "templates"):
        names = [p.stem for p in generation.index_files(kind)]
        files = (lambda n: segment_files(generation, n)) if kind == "entries" else \
            (lambda n, kind=kind: [generation.index_file(kind, n)])
        add(f"_index/{kind}", names, [sum(_size(f) for f in files(n)) for n in names])
    manifests = _manifest_files(generation)
    add("_runs", [p.name for p in manifests], [_size(p) for p in manifests])
    return merges


def compact(generation: Layout, settings: CompactionSettings, full: bool = False) -> list[dict]:
    """Carry out `plan_merges` in `generation`. Returns one line per merge: what, into what,
    how many files or folders."""
    done = []
    for merge in plan_merges(generation, settings, full):
        what, names, into = merge["what"], merge["names"], merge["into"]
        if what in TABLE_NAMES:
            _merge_table(generation, what, [generation.root / what / n for n in names],
                         settings.max_bytes)
        elif what == "_runs":
            _merge_manifests(generation, [generation.runs_dir / n for n in names], into)
        else:
            _INDEX_MERGES[what](generation, names, into)
        done.append({"what": what, "into": into, "merged": len(names)})
        checkpoint("compact:merged")
    return done


_INDEX_MERGES = {"_index/entries": merge_segments, "_index/superseded": merge_superseded,
                 "_index/templates": merge_counts}


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


def _merge_manifests(generation: Layout, files: list[Path], into: str) -> None:
    manifests = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        manifests += [json.loads(line) for line in text.splitlines() if line] \
            if path.suffix == ".jsonl" else [json.loads(text)]
    lines = "".join(json.dumps(m, sort_keys=True) + "\n" for m in manifests)
    (generation.runs_dir / f"{into}.jsonl").write_text(lines, encoding="utf-8")
    for path in files:
        path.unlink()


def _manifest_files(generation: Layout) -> list[Path]:
    if not generation.runs_dir.is_dir():
        return []
    return by_sequence([*generation.runs_dir.glob("*.json"), *generation.manifest_logs()])


def _span(names: list[str]) -> str:
    """The compacted name of consecutive runs' files or folders."""
    stems = [n.split(".")[0] for n in names]
    return compacted_name(sequence_range(stems[0])[0], sequence_range(stems[-1])[1])


def _folder_bytes(folder: Path) -> int:
    return sum(_size(p) for p in folder.glob("*.parquet"))


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else 0
