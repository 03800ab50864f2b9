"""The duplicate step on a Dask cluster at some scale, as benchmarks/speed/cluster_dedup.py runs
it: a synthetic run (a drifting component, a hot bucket, chains, copies at Jaccard 0.1-0.9) and
a second run matched against it, on a scheduler and workers with memory limits, the step in a
process of its own under a data limit: the same `cross` tables and index files as the
single-process step, and no worker restarted. About 6-9 minutes on 2 cores, so not in the
default run (pyproject.toml's addopts): `.venv/bin/python -m pytest -m scale`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.scale
def test_two_million_paragraphs_on_a_cluster_give_the_single_process_rows(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.speed.cluster_dedup", "--paragraphs", "2000000",
         "--giant", "500000", "--hot", "250000", "--workers", "4", "--worker-memory", "2GiB",
         "--flow-data-limit", "1", "--work", str(tmp_path / "work"), "--compare-local"],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=1800)
    assert out.returncode == 0, out.stderr[-3000:]
    runs = [json.loads(line) for line in out.stdout.splitlines() if line.startswith('{"run"')]
    assert [r["run"] for r in runs] == [1, 2]
    for run in runs:
        assert run["differs_from_local"] == []
        assert run["worker_restarts"] == 0
        assert run["cluster"]["duplicates"] > 0
    assert runs[1]["cluster"]["duplicates_of_earlier_runs"] > 0
