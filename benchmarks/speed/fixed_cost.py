"""The fixed cost of `textwash run`: one tiny document, Prefect's start-up and nothing else.

    python -m benchmarks.speed.fixed_cost WORK [--repeat 3] [--modes fresh,warm,server]
        [--repo PATH ...]

Each repetition runs `textwash run` (`python -m flows.cli run`, a new output folder each time)
on one short document, in three ways:

- fresh: no PREFECT_API_URL, a new, empty PREFECT_HOME (the run starts a temporary Prefect server
  and Prefect creates its database);
- warm: the same again on the PREFECT_HOME the fresh run left (without `fresh` in `--modes`, after a
  run on a new one that is not counted);
- server: PREFECT_API_URL set, to a Prefect server this script started beforehand (not counted).

Each run's wall seconds are printed with a breakdown, seconds since the start, from its
timestamped output lines: the first line (`textwash: RAW -> CLEAN ...`), the temporary server
answering (`server_ready`, the line the run logs then; runs before the early start log none), the
flow's `Beginning flow run`, its `Finished in state`, the summary table, and the process's exit.
`--repo` (repeatable) runs another checkout's code (`PYTHONPATH`), e.g. an earlier commit's in a
`git worktree`; with several, each repetition alternates between them, so that a change in the
machine's load falls on all of them. The load average is printed before and after. The figures
are in docs/benchmarks/throughput.md ("Fixed cost").
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# (name, what its first output line starts with); the times are seconds since the start
MARKS = [("first_line", re.compile(r"^textwash: .* -> ")),
         ("server_ready", re.compile(r"Temporary Prefect server for this run on")),
         ("flow_begins", re.compile(r"Beginning flow run")),
         ("flow_ends", re.compile(r"Flow run .* - Finished in state")),
         ("summary", re.compile(r"textwash run \w"))]


def run_once(repo: Path, raw: Path, clean: Path, env: dict) -> dict:
    env = {**env, "PYTHONPATH": str(repo), "PYTHONUNBUFFERED": "1"}
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "run", str(raw), str(clean)],
                            env=env, cwd=raw.parent, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    marks: dict[str, float] = {}
    lines = []
    for line in proc.stdout:
        now = time.monotonic() - start
        lines.append(line)
        for name, pattern in MARKS:
            if name not in marks and pattern.search(line):
                marks[name] = now
    proc.wait()
    marks["exit"] = time.monotonic() - start
    if proc.returncode != 0 or "flow_ends" not in marks:
        raise RuntimeError(f"textwash run failed ({proc.returncode}):\n{''.join(lines)[-3000:]}")
    return marks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work", help="a folder for the inputs, outputs and Prefect homes")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--modes", default="fresh,warm,server")
    parser.add_argument("--repo", action="append", type=Path,
                        help="a checkout whose flows/ and tasks/ to run (default: this one)")
    args = parser.parse_args(argv)
    modes = args.modes.split(",")
    repos = [r.resolve() for r in args.repo or [REPO]]
    work = Path(args.work).resolve()
    for old in (work / "raw", work / "server-home", *work.glob("home-*"), *work.glob("clean-*")):
        shutil.rmtree(old, ignore_errors=True)  # this script's own, from an earlier call
    raw = work / "raw"
    raw.mkdir(parents=True)
    (raw / "one.txt").write_text("A single short document, one paragraph of plain text.\n")
    base = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    print(f"machine: {os.cpu_count()} cores, load average {_load()} at start", flush=True)

    server = None
    if "server" in modes:
        from benchmarks.speed.throughput import PrefectServer

        server = PrefectServer(work / "server-home").__enter__()
    results: dict[tuple[str, str], list[dict]] = {}
    try:
        for i in range(args.repeat):
            for n, repo in enumerate(repos):
                home = work / f"home-{i}-{n}"
                for mode in modes:
                    if mode == "server":
                        env = {**base, "PREFECT_HOME": str(work / "server-home"),
                               "PREFECT_API_URL": server.api}
                    else:
                        env = {**base, "PREFECT_HOME": str(home)}
                    if mode == "warm" and not (home / "prefect.db").exists():
                        run_once(repo, raw, work / f"clean-{i}-{n}-first", env)  # not counted
                    clean = work / f"clean-{i}-{n}-{mode}"
                    marks = run_once(repo, raw, clean, env)
                    results.setdefault((str(repo), mode), []).append(marks)
                    shutil.rmtree(clean, ignore_errors=True)
                    print(f"{repo.name:>12} {mode:6} {marks['exit']:6.2f} s   " +
                          "  ".join(f"{k} {v:.2f}" for k, v in marks.items() if k != "exit"),
                          flush=True)
    finally:
        if server is not None:
            server.__exit__(None, None, None)
    print(f"\nload average {_load()} at the end\n")
    for (repo, mode), runs in results.items():
        walls = [r["exit"] for r in runs]
        print(f"{Path(repo).name:>12} {mode:6} median {statistics.median(walls):6.2f} s  "
              f"min {min(walls):6.2f}  max {max(walls):6.2f}  (n={len(walls)})")
    return 0


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
