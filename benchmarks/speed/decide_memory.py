"""The memory of the cluster's `decide` task on one large component: the 50M benchmark's
2,000,000-paragraph drifting component had 20.2 million verified pairs, all in one partition.

Writes a `by_component` exchange of `--pairs` pairs of one component over `--rows` rows (each
row paired with its next `pairs / rows` rows, the pairs spread over `--sources` map files),
then runs `decide` on it in a process of its own and prints that process's peak resident
memory (VmHWM) and seconds. Usage:

    .venv/bin/python -m benchmarks.speed.decide_memory --work /tmp/decide --rows 2000000 \\
        --pairs 20000000
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from benchmarks.speed.process_memory import run_in_child, status_mb
from tasks.cross_document.cluster.decide import BY_COMPONENT
from tasks.cross_document.cluster.job import Job, node_of_row
from tasks.settings import Settings

SHARD_ROWS = 50_000


def _job(work: Path, rows: int) -> Job:
    starts = tuple(range(0, rows, SHARD_ROWS)) + (rows,)
    return Job(work=str(work), shards=tuple(str(work / f"staged-{k}")
                                            for k in range(len(starts) - 1)),
               starts=starts, parts=1, settings=Settings(), clean=str(work),
               staging=str(work), run_id="probe", run_seq=1)


def _write(work: Path, rows: int, pairs: int, sources: int) -> None:
    job = _job(work, rows)
    for shard in range(len(job.starts) - 1):  # every row a representative
        job.shard_work(shard).mkdir(parents=True, exist_ok=True)
        np.save(job.shard_work(shard) / "reps.npy",
                np.arange(job.starts[shard], job.starts[shard + 1], dtype=np.int64))
    step = max(1, pairs // rows)
    rng = np.random.default_rng(1)
    exchange = job.exchange("by_component")
    for gap in range(1, step + 1):
        i = np.arange(rows - gap, dtype=np.int64)
        source = rng.integers(0, sources, len(i))
        for s in range(sources):  # a map task's file holds its share of every gap
            at = i[source == s]
            table = pa.table({"i": node_of_row(at), "j": node_of_row(at + gap),
                              "score": rng.uniform(0.5, 1, len(at)).astype(np.float32),
                              "name_i": pa.nulls(len(at), pa.string()),
                              "label": np.full(len(at), node_of_row(np.int64(0)), np.int64)},
                             schema=BY_COMPONENT)
            exchange.write(gap * sources + s, np.zeros(len(at), np.int64), table)


def _decide(work: str, rows: str) -> int:
    from tasks.cross_document.cluster.decide import decide

    start = time.perf_counter()
    members, pairs = decide(_job(Path(work), int(rows)), 0)
    print(json.dumps({"seconds": round(time.perf_counter() - start, 1),
                      "peak_mb": status_mb("VmHWM"), "members": members,
                      "member_pairs": pairs}))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--pairs", type=int, default=20_000_000)
    parser.add_argument("--sources", type=int, default=50)
    parser.add_argument("--decide", nargs=2, help=argparse.SUPPRESS)  # internal: the task
    args = parser.parse_args(argv)
    if args.decide:
        return _decide(*args.decide)
    if args.work is None:
        parser.error("--work is required")
    shutil.rmtree(args.work, ignore_errors=True)
    _write(args.work, args.rows, args.pairs, args.sources)
    result = run_in_child("benchmarks.speed.decide_memory", "--decide", str(args.work),
                          str(args.rows))
    if result is None:
        return 1
    result.update(rows=args.rows, pairs=args.pairs, sources=args.sources)
    print(json.dumps(result))
    shutil.rmtree(args.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
