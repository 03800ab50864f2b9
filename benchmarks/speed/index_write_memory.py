"""The memory of writing one band and the exact table of a run's index segment
(tasks/cross_document/history.py: `write_mapped_band`, `save_mapped_exact`), as the cluster's
index tasks call them at the end of a run: `--entries` random 64-bit keys and hashes. Prints,
for each, the process's resident memory just before the call (the inputs) and its peak during
it (VmHWM; and the peak before it, of making the inputs). Usage:

    .venv/bin/python -m benchmarks.speed.index_write_memory --work /tmp/iw --entries 30000000
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.speed.process_memory import status_mb
from tasks.cross_document.history import (
    create_mapped_bands,
    save_mapped_exact,
    write_mapped_band,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--entries", type=int, default=30_000_000)
    parser.add_argument("--what", choices=["band", "exact"], default="band",
                        help="one per process: the peak is the process's")
    args = parser.parse_args(argv)
    shutil.rmtree(args.work, ignore_errors=True)
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 2**64, args.entries, dtype=np.uint64)
    if args.what == "band":
        path = args.work / "bands.npy"
        create_mapped_bands(path, [args.entries], np.zeros(1, np.int64))
        entries = np.arange(args.entries, dtype=np.uint32)
        call = lambda: write_mapped_band(path, 0, keys, entries)
    else:
        entries = np.arange(args.entries, dtype=np.int64)
        call = lambda: save_mapped_exact(args.work / "exact.npy", keys, entries)
    # (the peak so far, of making the inputs, is printed too: the call's own is above it)
    before, peak_before, start = status_mb("VmRSS"), status_mb("VmHWM"), time.perf_counter()
    call()
    print(json.dumps({"what": args.what, "entries": args.entries, "inputs_mb": before,
                      "peak_before_mb": peak_before,
                      "peak_mb": status_mb("VmHWM"),
                      "seconds": round(time.perf_counter() - start, 1)}))
    shutil.rmtree(args.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
