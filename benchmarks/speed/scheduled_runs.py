"""A scheduled user: many small runs on one `clean/` folder, one worker, and whether a run stays
as fast, and the folder as small, after hundreds of runs as after a few.

    python -m benchmarks.speed.scheduled_runs ../shared/eval/corpus/web_fulltext.jsonl.gz \
        [--runs 500] [--docs-per-run 12] [--supersede-every 25] [--set section.key=value ...] \
        [--work DIR] [--out CSV] [--keep] [--resume] [--s3 [ENDPOINT]]

Before run k it writes raw/drop-<k>.jsonl with the next `--docs-per-run` documents of the corpus
(JSONL or JSONL.gz with `text` and `id`; blank texts left out; a record longer than
`--max-doc-chars` is cut at line ends into parts of about equal size, each a document of its own,
so that the web corpus's 4,911 pages give 6,615 distinct documents, enough for 500 x 12; the
documents are shuffled with `--seed`, so every run draws from the whole mix; past the end they
repeat, and the script says so). Every `--supersede-every`-th run also rewrites one earlier drop
file (chosen with the run number as seed) with one document changed, so that run supersedes that
file's earlier rows (docs/operations.md, "Runs over time"). Then it calls the flow `clean_corpus`
in this process, every run inside one `prefect_api()`, so Prefect's start-up is paid once and is
not counted; settings are the defaults with one thread worker (`runtime.workers` 1,
`runtime.task_runner` "thread"), and `--set` puts further values on top (JSON when it parses,
else a string: `--set dedup.min_score=0.6`, `--set runtime.task_runner=process`).

One CSV row per run (`--out`, written as each run ends): the manifest's wall seconds per step
(plan, shards, cross_document, publish, commit) and `total`, their sum `steps` (the flow's own work,
without Prefect's start-up or its per-run bookkeeping), the wall seconds of the whole call, the
cross-document step's parts, rows superseded, and the files in `clean/`: `files_physical`
(regular files under clean/, symbolic links not followed, so every generation's hard links
count, `.generations/*` included), `inodes_physical` (the same, distinct inodes) and
`files_visible` (what a reader sees: under clean/.current, links followed). At the end it
prints the mean step seconds over runs 10-60 and over the last 50 runs and their ratio (target
<= 1.5), physical files per run (target < 5), the rows of documents, paragraphs and rejects a
reader sees, and the load average at start and end (the machine is shared: a high load slows
every step). `--resume` goes on from the last run the folder's manifests name, up to
`--runs` (with other output settings than before, its first run reads every drop again).
Without `--keep`, raw/ and clean/ are removed at the end (the CSV stays). The figures go to
docs/benchmarks/runs-over-time.md.

With `--s3`, raw and clean are `s3://<bucket>/raw` and `s3://<bucket>/clean` (tasks/remote/): on
an S3 server of moto's started here on a free local port (`--s3` alone; moto comes with the test
extra), or at ENDPOINT (credentials from the AWS variables; the bucket is made, and left with
--keep). Each drop is uploaded as an object; the working copies are under WORK/cache. A run's
steps then include `storage`: bringing the working copies up to date before the run and pushing
after it. Files are counted as objects under the clean prefix (`files_physical`), objects the
newest generation lists (`files_visible`), and regular files in the working copy
(`inodes_physical`). At the end a new working copy is pulled from the bucket into
WORK/fresh-copy and its tables compared with the run's own working copy (what a second machine
would see); compare it with a local run's clean/ by benchmarks/compare_outputs.py.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import random
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # this checkout's textwash, before the one installed in the venv

# `commit` (building the next generation: links, superseding, compaction) is in the manifest
# from 0.5 on; earlier manifests leave it out of `publish`, so it counts 0 there.
STEPS = ("plan", "shards", "cross_document", "publish", "commit", "storage")
FIELDS = ("run", "docs", "superseded_drop", "run_id", *(f"step_{s}" for s in STEPS), "total",
          "steps", "call", "cross_document_parts", "superseded_documents", "files_physical",
          "inodes_physical", "files_visible", "load1")
BASE_OVERRIDES = {"runtime": {"workers": 1, "task_runner": "thread"}}


# -- the documents ---------------------------------------------------------------------------------
def load_documents(path: Path, max_chars: int, seed: int) -> list[dict]:
    """The corpus's records as documents: blank texts left out, long ones cut at line ends into
    parts of at most about `max_chars` (0: not cut), shuffled with `seed`."""
    opener = gzip.open if path.name.endswith(".gz") else open
    docs = []
    with opener(path, "rt", encoding="utf-8") as fh:
        for number, line in enumerate(fh):
            if not line.strip():
                continue
            record = json.loads(line)
            text = record.get("text")
            if not isinstance(text, str) or not text.strip():
                continue
            doc_id = str(record.get("id") or f"line-{number}")
            meta = {k: record[k] for k in ("url", "dataset", "title") if k in record}
            parts = split_text(text, max_chars)
            for i, part in enumerate(parts):
                docs.append({"id": doc_id if len(parts) == 1 else f"{doc_id}#{i + 1}",
                             "text": part, **meta})
    random.Random(seed).shuffle(docs)
    return docs


def split_text(text: str, max_chars: int) -> list[str]:
    """`text` in ceil(len / max_chars) parts of about equal size, cut at line ends (a line is
    never cut); blank parts left out."""
    if max_chars <= 0 or len(text) <= max_chars:
        return [text]
    n = -(-len(text) // max_chars)
    target = len(text) / n
    parts, current, size = [], [], 0
    for line in text.splitlines(keepends=True):
        current.append(line)
        size += len(line)
        if size >= target and len(parts) < n - 1:
            parts.append("".join(current))
            current, size = [], 0
    parts.append("".join(current))
    return [p.rstrip("\n") for p in parts if p.strip()]


def drop_documents(docs: list[dict], k: int, per_run: int) -> list[dict]:
    """The documents of drop k (from 1): the next `per_run` of the corpus, round and round."""
    return [docs[((k - 1) * per_run + i) % len(docs)] for i in range(per_run)]


def write_drop(raw: Path, k: int, records: list[dict]) -> None:
    path = raw / f"drop-{k}.jsonl"
    tmp = path.with_name(f".{path.name}.tmp")  # hidden: not an input if a run saw it
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                   encoding="utf-8")
    tmp.replace(path)


def supersede(raw: Path, docs: list[dict], k: int, per_run: int) -> int:
    """Rewrite one drop before k with one document changed (the same for the same k, so a
    resumed run writes the same file). Returns that drop's number."""
    rng = random.Random(k)
    j = rng.randrange(1, k)
    records = [dict(r) for r in drop_documents(docs, j, per_run)]
    changed = records[rng.randrange(len(records))]
    changed["text"] += f"\nUpdated in run {k}: this page was edited after it was first collected."
    write_drop(raw, j, records)
    return j


# -- the folder ------------------------------------------------------------------------------------
def count_files(clean: Path) -> tuple[int, int, int]:
    """Regular files under `clean` (links not followed), their distinct inodes, and the regular
    files under clean/.current with links followed (what a reader sees)."""
    physical, inodes = 0, set()
    for folder, _, names in os.walk(clean, followlinks=False):
        for name in names:
            st = os.lstat(os.path.join(folder, name))
            if stat.S_ISREG(st.st_mode):
                physical += 1
                inodes.add((st.st_dev, st.st_ino))
    visible = 0
    current = clean / ".current"
    if current.exists():
        for folder, _, names in os.walk(current, followlinks=True):
            visible += sum(os.path.isfile(os.path.join(folder, name)) for name in names)
    return physical, len(inodes), visible


def runs_done(clean: Path) -> int:
    """The highest k whose drop-<k>.jsonl a run of this folder read (0: none)."""
    done = 0
    for path in (clean / "_runs").glob("*.json"):
        for entry in json.loads(path.read_text(encoding="utf-8")).get("inputs", []):
            name = entry.get("source", "")
            if name.startswith("drop-") and name.endswith(".jsonl"):
                done = max(done, int(name[len("drop-"):-len(".jsonl")]))
    return done


def visible_rows(clean: Path) -> dict[str, int]:
    import pyarrow.dataset as ds

    from tasks.schema import TABLES

    return {name: ds.dataset(str(clean / name), schema=schema, format="parquet").count_rows()
            for name, schema in TABLES.items()}


# -- settings --------------------------------------------------------------------------------------
def parse_set(item: str) -> dict:
    """`section.key=value` as {"section": {"key": value}}: value as JSON if it parses, else the
    string."""
    dotted, sep, text = item.partition("=")
    if not sep or not dotted.strip():
        raise argparse.ArgumentTypeError(f"--set {item!r}: expected section.key=value")
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = text
    out: dict = {}
    node = out
    keys = dotted.strip().split(".")
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value
    return out


def code_version() -> str:
    import tasks

    where = Path(tasks.__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "-C", str(where), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--", "tasks",
                                "flows"], capture_output=True, text=True, check=True).stdout
        head += " with uncommitted changes in tasks/ or flows/" if dirty.strip() else ""
    except (OSError, subprocess.CalledProcessError):
        head = "not a git checkout"
    return f"{tasks.__file__} (commit {head})"


# -- summary ---------------------------------------------------------------------------------------
def mean(rows: list[dict], key: str) -> float:
    values = [float(r[key]) for r in rows if r.get(key) not in (None, "")]
    return sum(values) / len(values) if values else float("nan")


def summary(out: Path, clean: Path, load_start: tuple, load_end: tuple) -> None:
    with out.open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["steps"] not in ("", None)]
    if not rows:
        print("no finished runs")
        return
    early = [r for r in rows if 10 <= int(r["run"]) <= 60]
    late = rows[-50:]

    def window(name: str, chosen: list[dict]) -> float:
        span = f"runs {chosen[0]['run']}-{chosen[-1]['run']}" if chosen else "no runs"
        parts = ", ".join(f"{s} {mean(chosen, f'step_{s}'):.2f}" for s in STEPS
                          if any(r.get(f"step_{s}") not in (None, "") for r in chosen))
        value = mean(chosen, "steps")
        print(f"  {name:<13} ({span}, {len(chosen)}): steps {value:.2f} s ({parts}); "
              f"call {mean(chosen, 'call'):.2f} s")
        return value

    print("mean seconds per run:")
    first, last = window("runs 10-60", early), window("last 50 runs", late)
    print(f"  ratio last 50 / runs 10-60: {last / first:.2f} (target <= 1.5)")
    final = rows[-1]
    runs = int(final["run"])
    print(f"files in clean/ after run {runs}: {final['files_physical']} physical "
          f"({int(final['files_physical']) / runs:.2f} per run, target < 5), "
          f"{final['inodes_physical']} distinct inodes, {final['files_visible']} visible")
    rows_seen = visible_rows(clean)
    print("rows a reader sees: " + ", ".join(f"{k} {v:,}" for k, v in rows_seen.items()))
    print("load average (1, 5, 15 min): start " + " ".join(f"{x:.2f}" for x in load_start)
          + ", end " + " ".join(f"{x:.2f}" for x in load_end) + f" ({os.cpu_count()} cores)")


# -- main ------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="JSONL(.gz) with a `text` (and `id`) per line")
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--docs-per-run", type=int, default=12)
    parser.add_argument("--supersede-every", type=int, default=25, metavar="N",
                        help="every N-th run also rewrites an earlier drop (0: never)")
    parser.add_argument("--max-doc-chars", type=int, default=12_000,
                        help="cut longer records at line ends into documents (0: never)")
    parser.add_argument("--seed", type=int, default=0, help="order of the documents")
    parser.add_argument("--set", dest="sets", action="append", type=parse_set, default=[],
                        metavar="SECTION.KEY=VALUE", help="a setting on top (repeatable)")
    parser.add_argument("--work", type=Path, default=None,
                        help="holds raw/ and clean/ (default: a new temporary folder)")
    parser.add_argument("--out", type=Path, default=None,
                        help="CSV, a row per run (default: WORK/scheduled_runs.csv)")
    parser.add_argument("--keep", action="store_true", help="keep raw/ and clean/ at the end")
    parser.add_argument("--resume", action="store_true",
                        help="go on in an existing clean/ from the last run it holds")
    parser.add_argument("--s3", nargs="?", const="local", default=None, metavar="ENDPOINT",
                        help="raw and clean in a bucket: on a moto S3 server started here "
                        "(no value) or at ENDPOINT")
    args = parser.parse_args(argv)
    if args.s3 and args.resume:
        parser.error("--resume works on a local clean/ only")
    if args.runs < 1 or args.docs_per_run < 1 or args.supersede_every < 0:
        parser.error("--runs and --docs-per-run must be at least 1, --supersede-every at least 0")
    if not args.corpus.is_file():
        print(f"corpus not found: {args.corpus} (a JSONL or JSONL.gz file, e.g. "
              "../shared/eval/corpus/web_fulltext.jsonl.gz)", file=sys.stderr)
        return 2

    work = args.work or Path(tempfile.mkdtemp(prefix="textwash-scheduled-"))
    raw, clean = work / "raw", work / "clean"
    out = args.out or work / "scheduled_runs.csv"
    if clean.exists() and any(clean.iterdir()) and not args.resume:
        print(f"{clean} is not empty: pass --resume to go on with it, or another --work",
              file=sys.stderr)
        return 2
    raw.mkdir(parents=True, exist_ok=True)
    others = sorted(p.name for p in raw.iterdir()
                    if not (p.name.startswith("drop-") and p.name.endswith(".jsonl")))
    if others:
        print(f"{raw} holds files other than drop-<k>.jsonl ({', '.join(others[:3])}): they "
              "would be inputs too", file=sys.stderr)
        return 2

    from flows.clean_corpus import clean_corpus, resolve_settings
    from flows.prefect_server import prefect_api
    from tasks.settings import deep_merge

    overrides = BASE_OVERRIDES
    for extra in args.sets:
        overrides = deep_merge(overrides, extra)
    resolve_settings(str(raw), str(clean), None, overrides)  # bad values fail now, not in run 1
    docs = load_documents(args.corpus, args.max_doc_chars, args.seed)
    if not docs:
        print(f"no documents with text in {args.corpus}", file=sys.stderr)
        return 2
    first = runs_done(clean) + 1 if args.resume and clean.exists() else 1
    bucket = S3Work(args.s3, work) if args.s3 else None
    raw_url, clean_url = (str(raw), str(clean)) if bucket is None else (bucket.raw, bucket.clean)
    if bucket is not None:
        overrides = deep_merge(overrides, {"storage": {"cache_dir": str(work / "cache")}})
        clean = bucket.working_copy(resolve_settings(raw_url, clean_url, None, overrides))
    print(f"textwash code: {code_version()}", flush=True)
    print(f"work: {work}; CSV: {out}; runs {first}-{args.runs}, {args.docs_per_run} documents "
          f"each, of {len(docs):,} distinct from {args.corpus}; overrides "
          f"{json.dumps(overrides)}", flush=True)
    needed = args.runs * args.docs_per_run
    if needed > len(docs):
        print(f"note: {args.runs} runs x {args.docs_per_run} = {needed:,} documents > "
              f"{len(docs):,}: documents repeat from run {len(docs) // args.docs_per_run + 1}",
              flush=True)
    if first > args.runs:
        print(f"{clean} already holds run {first - 1}: nothing to do")

    load_start = os.getloadavg()
    new_csv = not out.exists() or out.stat().st_size == 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a", newline="", encoding="utf-8") as fh, prefect_api():
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        if new_csv:
            writer.writeheader()
            fh.flush()
        for k in range(first, args.runs + 1):
            write_drop(raw, k, drop_documents(docs, k, args.docs_per_run))
            every = args.supersede_every
            earlier = supersede(raw, docs, k, args.docs_per_run) if (
                every and k > 1 and k % every == 0) else None
            if bucket is not None:
                bucket.upload_drops(raw)
            start = time.perf_counter()
            manifest = clean_corpus(raw=raw_url, clean=clean_url, overrides=overrides)
            call = time.perf_counter() - start
            physical, inodes, visible = count_files(clean) if bucket is None else \
                bucket.count_files()
            seconds = dict(manifest.get("seconds") or {})
            if "object_storage" in manifest:
                storage = manifest["object_storage"]
                seconds["storage"] = (storage.get("pull", 0) + storage.get("raw", 0)
                                      + storage["push"]["seconds"])
            steps = sum(seconds.get(s, 0.0) for s in STEPS) if seconds else None
            row = {"run": k, "docs": args.docs_per_run, "superseded_drop": earlier or "",
                   "run_id": manifest.get("run_id") or "",
                   **{f"step_{s}": _round(seconds.get(s)) for s in STEPS},
                   "total": _round(seconds.get("total")), "steps": _round(steps),
                   "call": _round(call),
                   "cross_document_parts": json.dumps(
                       {p: round(v, 3) for p, v in
                        (manifest.get("cross_document_seconds") or {}).items()}),
                   "superseded_documents": sum(s.get("documents", 0)
                                          for s in manifest.get("superseded", [])),
                   "files_physical": physical, "inodes_physical": inodes,
                   "files_visible": visible, "load1": round(os.getloadavg()[0], 2)}
            writer.writerow(row)
            fh.flush()
            print(f"run {k}/{args.runs}: steps {row['steps']} s (" + ", ".join(
                f"{s} {row[f'step_{s}']}" for s in STEPS) + f"), call {row['call']} s, files "
                f"{physical} physical / {visible} visible"
                + (f", superseded drop-{earlier} ({row['superseded_documents']} documents)"
                   if earlier else "") + ("" if manifest.get("run_id") else ", NOTHING NEW"),
                flush=True)
    load_end = os.getloadavg()
    if bucket is not None:
        clean = bucket.fresh_copy(work / "fresh-copy", clean)
    summary(out, clean, load_start, load_end)
    if not args.keep:
        shutil.rmtree(raw, ignore_errors=True)
        shutil.rmtree(clean, ignore_errors=True)
        if bucket is not None:
            shutil.rmtree(work / "cache", ignore_errors=True)
        print(f"removed {raw} and {clean} (--keep keeps them); the CSV stays: {out}")
    return 0


class S3Work:
    """raw and clean in a bucket: the server (moto's, started here, or one at an endpoint), the
    drops uploaded, the objects counted, a fresh working copy at the end."""

    def __init__(self, endpoint: str, work: Path):
        import s3fs

        if endpoint == "local":
            import logging

            from moto.server import ThreadedMotoServer

            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request

            self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            self.server.start()
            host, port = self.server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
                os.environ.setdefault(name, "benchmark")
            os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        self.fs = s3fs.S3FileSystem(skip_instance_cache=True)
        self.name = f"textwash-scheduled-{os.getpid()}"
        self.fs.mkdir(self.name)
        self.raw, self.clean = f"s3://{self.name}/raw", f"s3://{self.name}/clean"
        self.uploaded: dict[str, float] = {}
        self.copy: Path | None = None
        print(f"bucket s3://{self.name} at {endpoint}", flush=True)

    def working_copy(self, settings) -> Path:
        """The run's working copy of clean (its files are counted after each run)."""
        from tasks.remote.session import working_folders

        self.copy = working_folders(settings)[1]
        return self.copy

    def upload_drops(self, raw: Path) -> None:
        """Drops written or rewritten since the last upload, as objects."""
        for path in sorted(raw.glob("drop-*.jsonl")):
            mtime = path.stat().st_mtime_ns
            if self.uploaded.get(path.name) != mtime:
                self.fs.put_file(str(path), f"{self.name}/raw/{path.name}")
                self.uploaded[path.name] = mtime

    def count_files(self) -> tuple[int, int, int]:
        from tasks.remote import log
        from tasks.remote.objects import Bucket

        bucket = Bucket(self.clean)
        objects = len(bucket.list())
        return objects, count_files(self.copy)[0], len(log.latest(bucket).files)

    def fresh_copy(self, folder: Path, own: Path) -> Path:
        """A new working copy of the bucket (what another machine would pull), checked against
        the run's own copy table by table; returns it."""
        from benchmarks.compare_outputs import differences
        from tasks.remote.mirror import Mirror
        from tasks.remote.objects import Bucket
        from tasks.store import Store

        shutil.rmtree(folder, ignore_errors=True)
        store = Store(folder)
        start = time.perf_counter()
        with store.lock():
            Mirror(Bucket(self.clean), store, print).pull()
        seconds = time.perf_counter() - start
        found = differences(folder, own)
        print(f"a new working copy pulled from {self.clean} into {folder} in {seconds:.1f} s: "
              + ("the same tables, manifests and index as the run's own copy" if not found else
                 f"{len(found)} differences from the run's own copy: {found[:5]}"), flush=True)
        return folder


def _round(value: float | None) -> float | str:
    return "" if value is None else round(value, 3)


if __name__ == "__main__":
    sys.exit(main())
