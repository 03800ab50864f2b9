"""The duplicate step on a Dask cluster at scale, on a synthetic run (benchmarks/speed/
synthetic_shards.py: band keys and content sets, no text), over two runs so that the second is
matched against the first's index.

    .venv/bin/python -m benchmarks.speed.cluster_dedup --paragraphs 5000000 --work /tmp/cl5 \\
        --compare-local
    .venv/bin/python -m benchmarks.speed.cluster_dedup --paragraphs 50000000 --work /tmp/cl50

A Dask scheduler and `--workers` single-thread workers (each with `--worker-memory`) are
started as processes of their own; the step runs in a process of its own (the flow's) under an
RLIMIT_DATA of `--flow-data-limit`. Printed as JSON: per run the step's wall seconds and parts,
its counts, the peak resident memory of the flow's process and of the scheduler, the workers'
restarts (from their log); with `--compare-local`, the single-process step on the same shards,
its seconds and peak, and whether every `cross` table and index file is the same.

Disk: the staged band keys are 512 bytes a paragraph (64 bands of 8 bytes), and the index of
the first run some 800 bytes per indexed paragraph: at 50M paragraphs some 60 GB in all.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.speed.process_memory import status_mb
from benchmarks.speed.synthetic_shards import Corpus, make_shard
from tasks.cross_document.cluster.exchange import bytes_under
from tasks.cross_document.history import ENTRY_SCHEMA, open_segment
from tasks.settings import Settings
from tasks.shard import ShardResult
from tasks.store import TABLE_NAMES, Layout, Store

RUN_IDS = {1: "00001-synthetic", 2: "00002-synthetic"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paragraphs", type=int, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--giant", type=int, default=2_000_000,
                        help="paragraphs of the one large component")
    parser.add_argument("--hot", type=int, default=1_000_000,
                        help="paragraphs that share one band key")
    parser.add_argument("--second-run", type=float, default=0.1,
                        help="the second run's paragraphs, as a share of the first's")
    parser.add_argument("--shard-rows", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--worker-memory", default="2GiB")
    parser.add_argument("--flow-data-limit", type=float, default=1.0, help="GB")
    parser.add_argument("--compare-local", action="store_true",
                        help="run the single-process step on the same shards and compare")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--resume", action="store_true",
                        help="go on with a stopped benchmark's work folder (same arguments): "
                             "a run whose shards are staged is not staged again, and its step "
                             "resumes after its last finished stage")
    parser.add_argument("--step", nargs=4, metavar=("CLEAN", "RUN", "ADDRESS", "SHARDS"),
                        help=argparse.SUPPRESS)  # internal: the flow's process
    args = parser.parse_args(argv)
    if args.step:
        return _step(*args.step)
    if args.resume and not args.work.is_dir():
        parser.error(f"--resume: there is no work folder {args.work}")
    if args.resume and args.compare_local:
        parser.error("--resume runs the cluster's step only (the single process does not resume)")
    if args.work.exists() and not args.resume:
        shutil.rmtree(args.work)
    args.work.mkdir(parents=True, exist_ok=True)
    report: dict = {"paragraphs": args.paragraphs, "giant": args.giant, "hot": args.hot,
                    "workers": args.workers, "worker_memory": args.worker_memory,
                    "flow_data_limit_gb": args.flow_data_limit, "load": os.getloadavg()}
    sizes = {1: args.paragraphs, 2: max(1, round(args.paragraphs * args.second_run))}
    cluster_clean, local_clean = args.work / "clean", args.work / "clean-local"
    scheduler, workers, address, worker_log = _start_cluster(args)
    finished = False
    try:
        done = args.work / "runs-done.jsonl"  # each finished run's entry, for --resume
        finished_runs = [json.loads(line) for line in done.read_text().splitlines()] \
            if args.resume and done.is_file() else []
        report["runs"] = finished_runs
        for run in (1, 2):
            if any(entry["run"] == run for entry in finished_runs):
                continue
            corpus = Corpus(rows=sizes[run], giant=min(args.giant, sizes[1] // 4),
                            hot=min(args.hot, sizes[1] // 4), run=run, first_rows=sizes[1])
            start = time.perf_counter()
            staged = _staged_shards(cluster_clean, run) if args.resume else 0
            if staged and staged == math.ceil(sizes[run] / args.shard_rows):
                shards, entry = range(staged), {"run": run, "resumed": True}
            else:
                shards, entry = _stage(corpus, cluster_clean, run, args.shard_rows), {"run": run}
                entry["staging_seconds"] = round(time.perf_counter() - start, 1)
            entry.update({"paragraphs": sizes[run], "shards": len(shards)})
            if args.compare_local:
                _copy_staging(cluster_clean, local_clean, run)
                entry["local"] = _run_step(local_clean, run, "", len(shards),
                                           16.0,  # the reference: no cluster limit
                                           args.work / "logs" / f"step-local-{run}.err")
            entry["cluster"] = _run_step(cluster_clean, run, address, len(shards),
                                         args.flow_data_limit,
                                         args.work / "logs" / f"step-cluster-{run}.err")
            work = Store(cluster_clean).staging(RUN_IDS[run]).directory / "cluster"
            if work.is_dir():  # what the exchanges left (each band round's keys are removed)
                entry["cluster_files_gb"] = round(bytes_under(work) / 1e9, 2)
            entry["scheduler_peak_mb"] = status_mb("VmHWM", scheduler.pid)
            entry["worker_restarts"] = _restarts(worker_log)
            entry["workers_removed"] = _removed(worker_log.with_name("scheduler.log"))
            if args.compare_local:
                entry["differs_from_local"] = _same_cross(cluster_clean, local_clean, run,
                                                          len(shards))
            for clean in (cluster_clean, local_clean) if args.compare_local else (cluster_clean,):
                _commit(clean, run)
            if args.compare_local:
                entry["differs_from_local"] += _same_index(cluster_clean, local_clean)
            entry["disk_gb"] = round(bytes_under(args.work) / 1e9, 1)
            report["runs"].append(entry)
            with open(done, "a") as out:
                out.write(json.dumps(entry) + "\n")
            print(json.dumps(entry), flush=True)
        finished = True
    finally:
        for process in (workers, scheduler):
            process.terminate()
            process.wait(timeout=60)
        # The cluster's logs are kept beside the work folder (`<work>-logs`); the folder is
        # kept when a step failed, so that `--resume` goes on after its last finished stage.
        shutil.rmtree(Path(f"{args.work}-logs"), ignore_errors=True)
        shutil.copytree(args.work / "logs", Path(f"{args.work}-logs"))
        if finished and not args.keep:
            shutil.rmtree(args.work, ignore_errors=True)
    print(json.dumps(report, indent=1))
    return 0


def _stage(corpus: Corpus, clean: Path, run: int, shard_rows: int) -> list[ShardResult]:
    staging = Store(clean).staging(RUN_IDS[run])
    settings = Settings().dedup
    cuts = list(range(0, corpus.rows, shard_rows))
    with ProcessPoolExecutor(2) as pool:
        futures = [pool.submit(make_shard, corpus, settings, staging, number, first,
                               min(shard_rows, corpus.rows - first))
                   for number, first in enumerate(cuts)]
        return [f.result() for f in futures]


def _staged_shards(clean: Path, run: int) -> int:
    """How many shards of `run` are staged and not yet committed (0: none)."""
    staging = Store(clean).staging(RUN_IDS[run]).directory
    return len(list(staging.glob("shard-*"))) if staging.is_dir() else 0


def _copy_staging(source: Path, target: Path, run: int) -> None:
    shutil.copytree(Store(source).staging(RUN_IDS[run]).directory,
                    Store(target).staging(RUN_IDS[run]).directory)


def _run_step(clean: Path, run: int, address: str, shards: int, data_gb: float,
              log: Path) -> dict:
    """The step in a process of its own, under RLIMIT_DATA, its stderr to `log`; its report."""
    limit = int(data_gb * 1e9)

    def limited():
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))

    work = Store(clean).staging(RUN_IDS[run]).directory / "cluster"
    with tempfile.TemporaryFile("w+") as out, open(log, "w+") as err:
        step = subprocess.Popen([sys.executable, "-m", "benchmarks.speed.cluster_dedup",
                                 "--paragraphs", "0", "--work", "-", "--step", str(clean),
                                 str(run), address or "-", str(shards)],
                                stdout=out, stderr=err, text=True,
                                preexec_fn=limited,  # noqa: PLW1509 (no threads here)
                                cwd=Path(__file__).resolve().parents[2])
        largest = 0
        while step.poll() is None:  # the step's folder, sampled: its largest size on disk
            largest = max(largest, bytes_under(work) if work.is_dir() else 0)
            time.sleep(5)
        out.seek(0), err.seek(0)
        if step.returncode:
            raise RuntimeError(f"the step failed:\n{err.read()[-3000:]}")
        report = json.loads(out.read().strip().splitlines()[-1])
    if address:
        report["largest_folder_gb"] = round(largest / 1e9, 2)
    return report


def _step(clean: str, run: str, address: str, shards: str) -> int:
    """The flow's process: the run-wide step on the staged shards, as the flow calls it."""
    from tasks.cross_document import cross_document
    from tasks.publish.supersede import stage_index_exclusions

    settings = Settings().merged({"clean": clean, "runtime": {"dask_dedup_min_rows": 0}})
    staging = Store(clean).staging(RUN_IDS[int(run)])
    stage_index_exclusions(staging, {})
    # (a copy of another folder's staging names that folder: the shards are these)
    loaded = [dataclasses.replace(ShardResult.load(staging, number, []),
                                  directory=str(staging.shard(number).directory))
              for number in range(int(shards))]
    start = time.perf_counter()
    result = cross_document(loaded, settings, staging, int(run), set(),
                            None if address == "-" else address)
    peak = status_mb("VmHWM")  # (ru_maxrss would keep the parent's peak across exec)
    print(json.dumps({"seconds": round(time.perf_counter() - start, 1),
                      "peak_mb": peak, "parts": result.seconds,
                      "duplicates": result.duplicates,
                      "duplicates_of_earlier_runs": result.duplicates_of_earlier_runs,
                      "clusters": result.clusters, "candidate_pairs": result.candidate_pairs,
                      "compared_pairs": result.compared_pairs,
                      "verified_pairs": result.verified_pairs,
                      "loose_members": result.loose_members,
                      "indexed": result.indexed_paragraphs,
                      "written_gb": round(sum(result.written_bytes.values()) / 1e9, 2),
                      "written_mb": {k: round(v / 1e6, 1)
                                     for k, v in result.written_bytes.items()}}))
    return 0


def _commit(clean: Path, run: int) -> None:
    store = Store(clean)
    staging = store.staging(RUN_IDS[run])
    for table in TABLE_NAMES:
        staging.table_dir(table).mkdir(parents=True, exist_ok=True)
    for shard in staging.directory.glob("shard-*"):
        shutil.rmtree(shard)  # the staged keys and sets are not needed any more
    shutil.rmtree(staging.directory / "cluster", ignore_errors=True)
    store.commit(RUN_IDS[run], {"run_id": RUN_IDS[run], "sequence": run})


def _same_cross(a: Path, b: Path, run: int, shards: int) -> list[str]:
    """The shards whose `cross` tables differ between two folders' staging."""
    sa, sb = Store(a).staging(RUN_IDS[run]), Store(b).staging(RUN_IDS[run])
    return [f"shard {number} cross" for number in range(shards)
            if not pq.read_table(sa.shard(number).table("cross")).equals(
                pq.read_table(sb.shard(number).table("cross")))]


def _same_index(a: Path, b: Path) -> list[str]:
    """The parts of the committed index that lookups see differently in two folders, compared
    band by band with numbers (an entry as run_seq << 40 | order), so that a large index is
    never held whole (benchmarks/compare_outputs.py's view holds it as strings)."""
    views = [_index_numbers(Layout(a)), _index_numbers(Layout(b))]
    differ = []
    if not all(x.equals(y) for x, y in zip(*(v["entries"] for v in views), strict=True)):
        differ.append("index entries")
    for name in ("exact", *(f"band {n}" for n in range(Settings().dedup.bands))):
        x, y = (v["arrays"](name) for v in views)
        if not (np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1])):
            differ.append(f"index {name}")
    return differ


def _index_numbers(layout: Layout) -> dict:
    segments = [open_segment(layout, p.stem) for p in layout.index_files("entries")]
    entries, ids = [], []
    for segment in segments:
        table = pa.Table.from_batches(list(segment.entry_batches()), schema=ENTRY_SCHEMA)
        ids.append((table["run_seq"].to_numpy().astype(np.int64) << 40)
                   | table["order"].to_numpy())
        entries.append(table)

    def arrays(name: str) -> tuple[np.ndarray, np.ndarray]:
        keys, who = [], []
        for segment, id_of in zip(segments, ids, strict=True):
            if name == "exact":
                k, e = segment.whole_exact()
            else:
                k, e = segment.whole_band(int(name.split()[1]))
            keys.append(np.asarray(k))
            who.append(id_of[np.asarray(e).astype(np.int64)])
        k, w = np.concatenate(keys), np.concatenate(who)
        order = np.lexsort((w, k))
        return k[order], w[order]

    return {"entries": entries, "arrays": arrays}


def _start_cluster(args):
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_TRIM_THRESHOLD_": "65536"}
    logs = args.work / "logs"
    if logs.is_dir():  # a resumed benchmark's: the earlier attempt's logs kept beside
        logs.rename(logs.with_name(f"logs-{time.strftime('%Y%m%d-%H%M%S')}"))
    logs.mkdir()
    worker_log = logs / "workers.log"
    with open(logs / "scheduler.log", "w") as scheduler_log, open(worker_log, "w") as log:
        scheduler = subprocess.Popen(
            [str(Path(sys.executable).with_name("dask")), "scheduler", "--host", "127.0.0.1",
             "--port", str(port), "--no-dashboard"],
            stdout=subprocess.DEVNULL, stderr=scheduler_log, env=env)
        workers = subprocess.Popen(
            [str(Path(sys.executable).with_name("dask")), "worker", address, "--nworkers",
             str(args.workers), "--nthreads", "1", "--memory-limit", args.worker_memory,
             "--no-dashboard", "--local-directory", str(args.work / "dask-worker-space")],
            stdout=subprocess.DEVNULL, stderr=log, env=env,
            cwd=Path(__file__).resolve().parents[2])
    from distributed import Client

    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with Client(address, timeout=5) as client:
                if len(client.scheduler_info()["workers"]) >= args.workers:
                    return scheduler, workers, address, worker_log
        except OSError:
            pass
        time.sleep(1)
    raise RuntimeError(f"the Dask cluster did not start: see {logs}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _removed(log: Path) -> int:
    """Workers the scheduler removed so far, for any reason (a restart, a lost connection)."""
    return sum(1 for line in log.read_text(errors="replace").splitlines()
               if "Remove worker" in line)


def _restarts(log: Path) -> int:
    """Workers the nannies restarted (over their memory limit, or dead)."""
    return sum(1 for line in log.read_text(errors="replace").splitlines()
               if "distributed.nanny -" in line and "Restarting worker" in line)


if __name__ == "__main__":
    sys.exit(main())
