"""A process's memory as /proc reports it, and a measured step run in a process of its own (so
that its peak is its own), for the memory benchmarks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def status_mb(field: str = "VmHWM", pid: int | str = "self") -> float:
    """A field of /proc/<pid>/status (VmHWM: the peak resident memory) in MB (MiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def run_in_child(module: str, *args: str) -> dict | None:
    """Runs `python -m module *args` from the repository and returns the JSON object on its
    last line of output; None (its stderr printed) if it failed."""
    out = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                         check=False, cwd=ROOT)
    if out.returncode:
        print(out.stderr[-3000:], file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])
