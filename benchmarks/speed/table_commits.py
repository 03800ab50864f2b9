"""What a commit costs on object storage as commits accumulate: textwash's commit log
(tasks/remote/log.py) beside Delta Lake's (the `deltalake` package, delta-rs), on one S3 server.

    python -m benchmarks.speed.table_commits [--commits 500] [--endpoint URL]
        [--delta-checkpoint-interval N] [--only textwash|delta]

Each of `--commits` commits adds one small Parquet file (one run's part of a table) and
commits it: textwash uploads the file and creates the next `_log/<n>.json` (conditional PUT) with
the hint, then reads the newest generation back as the next run would; Delta appends the same
table with `write_deltalake(mode="append")` (delta-rs writes the file and the next
`_delta_log/<n>.json` with its own conditional PUT; a checkpoint every
`--delta-checkpoint-interval` commits, Delta's default 100)
and opens the table again. The generation's file list grows by one file a commit in both (no
compaction here: the log's cost as the table's file count grows, its worst case). Printed: the
mean seconds per commit (write + read back) over the first and the last 50 commits, and the
objects each leaves under its prefix. Without `--endpoint`, a moto S3 server is started here on
a free local port (the test extra has moto). Delta needs `pip install deltalake`; without it
only textwash is measured.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def start_server(endpoint: str | None) -> str:
    if endpoint is None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            os.environ.setdefault(name, "benchmark")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    return endpoint


def small_table(k: int):
    import pyarrow as pa

    return pa.table({"run_id": [f"{k:05d}"] * 100, "text": [f"paragraph {i} of run {k}"
                                                           for i in range(100)]})


def textwash_commits(bucket_url: str, n: int) -> list[float]:
    import pyarrow.parquet as pq

    from tasks.remote import log
    from tasks.remote.log import Generation
    from tasks.remote.objects import Bucket

    bucket = Bucket(bucket_url)
    files: dict[str, dict] = {}
    seconds = []
    for k in range(1, n + 1):
        start = time.perf_counter()
        sink = io.BytesIO()
        pq.write_table(small_table(k), sink, compression="zstd")
        rel = f"documents/{k:05d}/part-00000.parquet"
        bucket.write(rel, sink.getvalue())
        files[rel] = {"key": rel, "size": len(sink.getvalue()), "since": k}
        log.commit(bucket, Generation(k, dict(files), [], f"{k:05d}"))
        assert len(log.latest(bucket).files) == k
        seconds.append(time.perf_counter() - start)
    return seconds


def delta_commits(table_url: str, n: int, endpoint: str, interval: int) -> list[float]:
    from deltalake import DeltaTable, write_deltalake

    options = {"AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true",
               "AWS_REGION": os.environ["AWS_DEFAULT_REGION"],
               "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
               "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
               "conditional_put": "etag"}
    seconds = []
    for k in range(1, n + 1):
        start = time.perf_counter()
        write_deltalake(table_url, small_table(k), mode="append", storage_options=options,
                        configuration={"delta.checkpointInterval": str(interval)})
        assert len(DeltaTable(table_url, storage_options=options).file_uris()) == k
        seconds.append(time.perf_counter() - start)
    return seconds


def report(name: str, seconds: list[float], objects: int) -> None:
    first, last = seconds[:50], seconds[-50:]
    mean_first, mean_last = sum(first) / len(first), sum(last) / len(last)
    print(f"{name} commits {len(seconds)}: first 50 {mean_first * 1000:.0f} ms, last 50 "
          f"{mean_last * 1000:.0f} ms a commit ({mean_last / mean_first:.2f}x); "
          f"{objects} objects under its prefix", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=500)
    parser.add_argument("--endpoint", default=None,
                        help="an S3 server (default: moto's, started here)")
    parser.add_argument("--delta-checkpoint-interval", type=int, default=100)
    parser.add_argument("--only", choices=["textwash", "delta"], default=None)
    args = parser.parse_args(argv)
    if args.commits < 50:
        parser.error("--commits must be at least 50 (the means are over 50)")
    endpoint = start_server(args.endpoint)
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    bucket = f"textwash-commits-{os.getpid()}"
    fs.mkdir(bucket)
    print(f"S3 server {endpoint}, bucket {bucket}; load average {os.getloadavg()[0]:.2f} "
          f"({os.cpu_count()} cores)", flush=True)
    if args.only != "delta":
        ours = textwash_commits(f"s3://{bucket}/textwash", args.commits)
        report("textwash", ours, len(fs.find(f"{bucket}/textwash")))
    if args.only == "textwash":
        return 0
    try:
        import deltalake  # noqa: F401
    except ImportError:
        print("deltalake is not installed (pip install deltalake): Delta not measured")
        return 0
    theirs = delta_commits(f"s3://{bucket}/delta", args.commits, endpoint,
                           args.delta_checkpoint_interval)
    report(f"delta (checkpoint every {args.delta_checkpoint_interval})", theirs,
           len(fs.find(f"{bucket}/delta")))
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
