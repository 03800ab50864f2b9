"""One shard in this process, measured: the figures docs/benchmarks/throughput.md quotes
for a worker's memory and for the floor that language identification sets.

    python benchmarks/speed/hot_paths.py RAW_DIR [--shard-mb 16] [--profile 30]

RAW_DIR is a folder of inputs (e.g. the corpus benchmarks/speed/throughput.py builds under its
--work folder, `raw/`). Prints for the first shard of a default plan: paragraphs, CPU seconds
per stage, the process's peak resident memory, its resident memory after the shard once freed
memory is returned (what an idle process-pool worker keeps: imports and models), and the cost
of a bare loop of lid.176 `predict` calls over the shard's paragraph texts, prepared as the
language stage prepares them (the least any per-paragraph language identification costs).
With `--profile N`, the shard runs under cProfile (slower) and the N functions with the most
time of their own are printed.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import resource
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pyarrow.parquet as pq

from tasks.plan import plan_run
from tasks.settings import Settings
from tasks.shard import process_shard, return_freed_memory
from tasks.shard.language import _load, fasttext_model_path, prepare_text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("raw_dir", type=Path)
    parser.add_argument("--shard-mb", type=float, default=16)
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="run the shard under cProfile and print its top N functions")
    args = parser.parse_args(argv)
    if not args.raw_dir.is_dir():
        print(f"error: {args.raw_dir} not found (a folder of inputs, e.g. the raw/ folder that "
              "benchmarks/speed/throughput.py --work DIR builds)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="textwash-hot-"))
    settings = Settings.model_validate({"raw": str(args.raw_dir), "clean": str(work / "clean"),
                                        "runtime": {"shard_bytes": int(args.shard_mb * 1e6)}})
    plan = plan_run(settings)
    profile = cProfile.Profile() if args.profile else None
    start = time.process_time()
    if profile is not None:
        profile.enable()
    result = process_shard(plan, 0, settings, str(work / "staging"))
    if profile is not None:
        profile.disable()
    cpu = time.process_time() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return_freed_memory()
    idle = psutil.Process().memory_info().rss / 2**20
    print(f"shard 1 of {len(plan.shards)}: {result.documents:,} documents, "
          f"{result.paragraphs:,} paragraphs, {cpu:.1f} s CPU")
    print("  seconds per stage:", {k: round(v, 2) for k, v in result.seconds.items()})
    print(f"  peak resident memory {peak:,.0f} MB; after the shard, memory returned: {idle:,.0f} MB")

    texts = pq.read_table(Path(result.directory) / "paragraphs.parquet",
                          columns=["text"])["text"].to_pylist()
    lines = [prepare_text(t) + "\n" for t in texts]
    predict = _load(fasttext_model_path()).predict
    start = time.process_time()
    for line in lines:
        predict(line, 1, 0.0, "replace")
    bare = time.process_time() - start
    print(f"  bare lid.176 predict loop: {bare / len(lines) * 1e6:.1f} µs per paragraph "
          f"({len(lines):,} paragraphs, {bare:.1f} s CPU)")
    print(f"  load average {psutil.getloadavg()[0]:.2f}")
    if profile is not None:
        pstats.Stats(profile).sort_stats("tottime").print_stats(args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
