"""The run-wide step alone, again and again, on the shards of one run: for speed work on
`cross_document` without running the shards each time.

    TEXTWASH_CRASH_AT=flow:shards .venv/bin/textwash run RAW CLEAN   # stage the shards, stop
    .venv/bin/python benchmarks/speed/cross_document_step.py RAW CLEAN [--copy-outputs DIR]

The first command runs a real `textwash run` and kills it (tasks/faults.py) once its shards are
staged; this script plans the same run again (same inputs, settings and history: the same run
id), loads the staged shards and calls `cross_document` as the flow does, then prints its wall
seconds, its parts and counts as JSON. The step writes its cross tables and index files into
the run's staging again each time; `--copy-outputs DIR` copies them there, so two versions of
the code can be compared file by file (benchmarks/compare_outputs.py compares whole clean/
folders; this compares the step's own outputs).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tasks.cross_document import cross_document
from tasks.plan import plan_run
from tasks.settings import Settings
from tasks.shard import ShardResult
from tasks.store import Store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("raw", type=Path)
    parser.add_argument("clean", type=Path)
    parser.add_argument("--copy-outputs", type=Path, default=None)
    args = parser.parse_args(argv)
    settings = Settings(raw=str(args.raw), clean=str(args.clean))
    plan = plan_run(settings)
    staging = Store(settings.clean).staging(plan.run_id)
    shards = [ShardResult.load(staging, s, plan.shard_keys(s)) for s in range(len(plan.shards))]
    if not plan.inputs or any(s is None for s in shards):
        sys.exit(f"no staged shards of run {plan.run_id} in {args.clean}: stage them first with "
                 f"TEXTWASH_CRASH_AT=flow:shards textwash run {args.raw} {args.clean}")
    start = time.perf_counter()
    result = cross_document(shards, settings, staging, plan.sequence)
    print(json.dumps({"seconds": round(time.perf_counter() - start, 2), **result.seconds,
                      "candidate_pairs": result.candidate_pairs,
                      "compared_pairs": result.compared_pairs,
                      "verified_pairs": result.verified_pairs,
                      "duplicates": result.duplicates, "loose_members": result.loose_members}))
    if args.copy_outputs:
        for path in staging.directory.glob("shard-*/cross.parquet"):
            target = args.copy_outputs / path.relative_to(staging.directory)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        shutil.copytree(staging.directory / "index", args.copy_outputs / "index",
                        dirs_exist_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
