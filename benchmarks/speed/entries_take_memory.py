"""The memory of reading earlier runs' index entries for one verification task: at 50M, run 2's
tasks each asked for about 15,600 entries, spread over the whole of run 1's entry file (26.9
million entries, 7.3 GB, a record batch per shard).

Writes an entry file like a merged index segment's (`entries/<name>.arrow`, the schema of
tasks/cross_document/history.py, `--batches` record batches), then, in a process of its own,
takes `--take` random entries from it and prints that process's peak resident memory (VmHWM)
and seconds, either as the index reads them (`--how batches`: a batch at a time, the mapped
pages released after each) or as it did before edc9f48 (`--how table`: the mapped file as one
table, then a take). Usage:

    .venv/bin/python -m benchmarks.speed.entries_take_memory --work /tmp/entries \\
        --entries 27000000 --take 15600 --how batches
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from benchmarks.speed.process_memory import run_in_child, status_mb
from tasks.cross_document.history import ENTRY_SCHEMA

SETS = ("content", "own_content", "skip_pairs", "numbers")
SET_SIZES = {"content": 30, "own_content": 20, "skip_pairs": 25, "numbers": 2}  # mean sizes


def _batch(rng: np.random.Generator, first: int, rows: int) -> pa.RecordBatch:
    ids = np.arange(first, first + rows)
    columns = {"para_id": pa.array([f"{i:016x}:0" for i in ids]),
               "doc_id": pa.array([f"{i // 8:016x}" for i in ids]),
               "run_seq": pa.array(np.ones(rows, np.int32)), "order": pa.array(ids),
               "norm_hash": pa.array(rng.integers(0, 2**63, rows).astype(np.uint64))}
    for name in SETS:
        sizes = rng.poisson(SET_SIZES[name], rows)
        offsets = np.concatenate(([0], np.cumsum(sizes))).astype(np.int32)
        values = rng.integers(0, 2**32, int(offsets[-1]), dtype=np.uint32)
        columns[name] = pa.ListArray.from_arrays(offsets, values)
    return pa.RecordBatch.from_pydict(columns, schema=ENTRY_SCHEMA)


def _write(path: Path, entries: int, batches: int) -> None:
    rng = np.random.default_rng(1)
    bounds = np.linspace(0, entries, batches + 1).astype(np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    with pa.ipc.new_file(str(path), ENTRY_SCHEMA) as writer:
        for lo, hi in itertools.pairwise(bounds):
            writer.write_batch(_batch(rng, int(lo), int(hi - lo)))


def _take(path: str, take: str, how: str) -> int:
    from tasks.cross_document.history import _MappedBatches

    with pa.ipc.open_file(pa.memory_map(path)) as reader:
        entries = sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))
    rows = np.sort(np.random.default_rng(2).choice(entries, int(take), replace=False))
    start = time.perf_counter()
    if how == "batches":
        taken = _MappedBatches(Path(path)).take(rows)
    else:
        taken = pa.ipc.open_file(pa.memory_map(path)).read_all().take(pa.array(rows))
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": round(seconds, 2), "peak_mb": status_mb("VmHWM"),
                      "taken": taken.num_rows, "taken_mb": round(taken.nbytes / 2**20, 1)}))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path)
    parser.add_argument("--entries", type=int, default=27_000_000)
    parser.add_argument("--batches", type=int, default=1000)
    parser.add_argument("--take", type=int, default=15_600)
    parser.add_argument("--how", choices=("batches", "table"), default="batches")
    parser.add_argument("--keep", action="store_true", help="keep the entry file for another run")
    parser.add_argument("--take-from", nargs=3, help=argparse.SUPPRESS)  # internal: the task
    args = parser.parse_args(argv)
    if args.take_from:
        return _take(*args.take_from)
    if args.work is None:
        parser.error("--work is required")
    path = args.work / f"entries-{args.entries}-{args.batches}.arrow"
    if not path.is_file():
        shutil.rmtree(args.work, ignore_errors=True)
        _write(path, args.entries, args.batches)
    result = run_in_child("benchmarks.speed.entries_take_memory", "--take-from", str(path),
                          str(args.take), args.how)
    if result is None:
        return 1
    result.update(entries=args.entries, batches=args.batches, how=args.how,
                  file_gb=round(path.stat().st_size / 1e9, 2))
    print(json.dumps(result))
    if not args.keep:
        shutil.rmtree(args.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
