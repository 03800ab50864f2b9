"""End-to-end throughput: `textwash run` on a corpus of real text, beside the obvious script.

    python benchmarks/speed/throughput.py ../shared/eval [--scale 1] [--skip-baseline] [--work DIR]

1. Builds the corpus as JSONL from ../shared/eval: corpus/web_fulltext (web pages with their
   navigation), PAN13's documents, and the WMT22 English sentences grouped into documents of 20
   consecutive segments of one system. `--scale N` repeats it N times (N > 1: each copy's text is
   perturbed, one word in fifty replaced, so the copies are near and not exact duplicates) or
   keeps that fraction of the documents, evenly spread (N < 1).
2. Runs `textwash run` on it with default settings (one process, as a user would), against a
   Prefect server this script starts, so the server's own work is not counted, and reports input
   MB, documents, paragraphs, wall seconds, CPU seconds of textwash and its workers, MB/s per
   core (input MB / CPU seconds), paragraphs/s, peak resident memory of textwash and its workers
   together, and seconds per stage from the run manifest.
3. The straightforward pipeline the required packages suggest, on a sample of the corpus
   (every k-th document; it is two orders of magnitude slower): ftfy's fix_text with default
   settings per document, one langdetect call per paragraph, one datasketch MinHash (word
   5-grams, 128 permutations) per paragraph into MinHashLSH at 0.8, a pyarrow ParquetWriter.
   Reported as MB/s per core and as a ratio to textwash.
4. Fixed cost: `textwash run` on one tiny document, first run (fresh Prefect home: a temporary
   server is started) and warm (same home), and against the running server.
5. With `--datatrove-python PY`: datatrove's nearest pipeline on the same corpus, run by
   benchmarks/speed/datatrove_baseline.py under that interpreter (datatrove lives in its own virtual
   environment: that script's docstring says how to set it up), on one core, as a ratio to
   textwash. `--datatrove-mb` limits it to the first N MB.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


# -- corpus ------------------------------------------------------------------------------------
def build_corpus(data_dir: Path, out: Path, scale: float) -> dict:
    sources = {
        "web": data_dir / "corpus" / "web_fulltext.jsonl.gz",
        "pan13": data_dir / "pan13" / "documents.jsonl.gz",
        "wmt": data_dir / "wmt" / "wmt22_en_human_vs_mt.jsonl.gz",
    }
    for path in sources.values():
        if not path.is_file():
            sys.exit(f"evaluation data not found: {path} (pass the folder that holds corpus/, "
                     "pan13/ and wmt/, e.g. ../shared/eval)")
    docs = []
    with gzip.open(sources["web"], "rt", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            docs.append({"id": f"web/{d['id']}", "text": d["text"], "dataset": d["dataset"]})
    with gzip.open(sources["pan13"], "rt", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            docs.append({"id": f"pan13/{d['id']}", "text": d["text"]})
    groups: dict[tuple, list[str]] = {}
    with gzip.open(sources["wmt"], "rt", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            key = (d["pair"], d["label"], d["system"] or "")
            groups.setdefault(key, []).append(d["text"])
    for (pair, label, system), sentences in sorted(groups.items()):
        for i in range(0, len(sentences), 20):
            docs.append({"id": f"wmt/{pair}/{label}/{system}/{i // 20}",
                         "text": "\n".join(sentences[i:i + 20]), "label": label})

    rng = random.Random(0)
    copies = max(1, int(scale)) if scale >= 1 else 1
    # A fraction keeps documents evenly spread over the list, so every source keeps its share.
    keep = docs if scale >= 1 else [d for i, d in enumerate(docs)
                                    if int((i + 1) * scale) > int(i * scale)]
    out.mkdir(parents=True, exist_ok=True)
    n_docs = 0
    for copy in range(copies):
        with open(out / f"corpus-{copy:03d}.jsonl", "w", encoding="utf-8") as fh:
            for d in keep:
                text = d["text"] if copy == 0 else _perturb(d["text"], rng)
                fh.write(json.dumps({**d, "id": f"{d['id']}#{copy}", "text": text},
                                    ensure_ascii=False) + "\n")
                n_docs += 1
    size = sum(p.stat().st_size for p in out.glob("*.jsonl"))
    return {"documents": n_docs, "bytes": size}


def _perturb(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    for i in range(0, len(words), 50):
        j = min(len(words) - 1, i + rng.randrange(50))
        words[j] = words[j][::-1]
    return " ".join(words)


# -- measuring a process tree -----------------------------------------------------------------
def _tree_rss_kb(root: int) -> int:
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
        except OSError:
            continue
        pid = int(entry)
        children.setdefault(int(fields["PPid"]), []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


def run_measured(args: list[str], env: dict) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    peak = [0]

    def poll():
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss_kb(proc.pid))
            time.sleep(0.2)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    output, _ = proc.communicate()
    wall = time.perf_counter() - start
    poller.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(args)}\n{output[-3000:]}")
    return {"wall": wall, "cpu": cpu, "peak_rss_mb": peak[0] / 1024, "output": output}


# -- a Prefect server for the runs ----------------------------------------------------------------
class PrefectServer:
    def __init__(self, home: Path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.api = f"http://127.0.0.1:{self.port}/api"
        self.env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": self.api,
                    "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false"}

    def __enter__(self):
        import httpx

        self.proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start",
                                      "--host", "127.0.0.1", "--port", str(self.port)],
                                     env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                if httpx.get(f"{self.api}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(1)
        raise RuntimeError("Prefect server did not start")

    def __exit__(self, *exc):
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(60)


# -- the straightforward pipeline ----------------------------------------------------------------
def straightforward(files: list[Path], out: Path, max_bytes: int) -> dict:
    """What a data engineer writes with the required packages, on about `max_bytes` of the
    corpus: every k-th document, so the sample has the corpus's mix of web pages, PAN13 and WMT."""
    import ftfy
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasketch import MinHash, MinHashLSH
    from langdetect import DetectorFactory, detect
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = 0
    schema = pa.schema([("doc_id", pa.string()), ("text", pa.string()), ("lang", pa.string()),
                        ("duplicate", pa.bool_())])
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    writer = None
    used = n_par = 0
    start_cpu = time.process_time()
    key = 0
    stride = max(1, round(sum(p.stat().st_size for p in files) / max_bytes))
    for path in files:
        with open(path, encoding="utf-8") as fh:
            for i, line in enumerate(fh):
                if i % stride or used >= max_bytes:
                    continue
                used += len(line.encode("utf-8"))
                doc = json.loads(line)
                text = ftfy.fix_text(doc["text"])
                rows = {"doc_id": [], "text": [], "lang": [], "duplicate": []}
                for para in (p.strip() for p in text.split("\n")):
                    if not para:
                        continue
                    try:
                        lang = detect(para)
                    except LangDetectException:
                        lang = "und"
                    words = para.lower().split()
                    m = MinHash(num_perm=128)
                    for i in range(max(len(words) - 4, 1)):
                        m.update(" ".join(words[i:i + 5]).encode("utf-8"))
                    duplicate = bool(lsh.query(m))
                    lsh.insert(key, m)
                    key += 1
                    n_par += 1
                    for name, value in (("doc_id", doc["id"]), ("text", para), ("lang", lang),
                                        ("duplicate", duplicate)):
                        rows[name].append(value)
                table = pa.table(rows, schema=schema)
                if writer is None:
                    writer = pq.ParquetWriter(out, schema)
                writer.write_table(table)
    if writer is not None:
        writer.close()
    cpu = time.process_time() - start_cpu
    return {"bytes": used, "paragraphs": n_par, "cpu": cpu}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--baseline-mb", type=float, default=2.0,
                        help="megabytes the straightforward pipeline runs on (default 2)")
    parser.add_argument("--work", help="working folder (default: a temporary one)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--datatrove-python",
                        help="interpreter of a venv with datatrove (see datatrove_baseline.py)")
    parser.add_argument("--datatrove-mb", type=float, help="datatrove on the first N MB only")
    args = parser.parse_args(argv)

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="textwash-bench-"))
    raw, clean = work / "raw", work / "clean"
    shutil.rmtree(raw, ignore_errors=True)
    shutil.rmtree(clean, ignore_errors=True)
    corpus = build_corpus(Path(args.data_dir), raw, args.scale)
    mb = corpus["bytes"] / 1e6
    print(f"corpus: {mb:,.1f} MB JSONL, {corpus['documents']:,} documents in {raw}")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")

    textwash = [sys.executable, "-m", "flows.cli"]
    with PrefectServer(work / "prefect-home") as server:
        env = {**server.env, "PYTHONPATH": str(REPO)}
        r = run_measured(textwash + ["run", str(raw), str(clean), "--workers",
                                     str(args.workers), "--json"], env)
        manifest = json.loads(r["output"][r["output"].index("{\n"):])
        counts = manifest["counts"]
        print(f"\ntextwash run (default settings, {args.workers} workers, server already running)")
        print(f"  documents {counts['documents']:,}, paragraphs {counts['paragraphs']:,}, "
              f"rejects {counts['rejects']:,}")
        print(f"  wall {r['wall']:.1f} s, CPU {r['cpu']:.1f} s; {mb / r['wall']:.2f} MB/s wall, "
              f"{mb / r['cpu']:.2f} MB/s per core, {counts['paragraphs'] / r['wall']:,.0f} "
              f"paragraphs/s wall; peak resident memory {r['peak_rss_mb']:,.0f} MB")
        print("  seconds per step (wall):", {k: round(v, 2) for k, v in manifest["seconds"].items()})
        print("  seconds per shard stage (summed over shards):",
              {k: round(v, 2) for k, v in manifest["stage_seconds"].items()})

        tiny = work / "tiny"
        shutil.rmtree(tiny, ignore_errors=True)
        (tiny / "raw").mkdir(parents=True)
        (tiny / "raw" / "one.txt").write_text("A single short document.\n")
        with_server = run_measured(textwash + ["run", str(tiny / "raw"), str(tiny / "c1")], env)
    fresh_home = work / "fresh-home"
    shutil.rmtree(fresh_home, ignore_errors=True)
    solo_env = {**os.environ, "PREFECT_HOME": str(fresh_home), "PYTHONPATH": str(REPO)}
    solo_env.pop("PREFECT_API_URL", None)
    first = run_measured(textwash + ["run", str(tiny / "raw"), str(tiny / "c2")], solo_env)
    warm = run_measured(textwash + ["run", str(tiny / "raw"), str(tiny / "c3")], solo_env)
    print("\nfixed cost, one tiny document:")
    print(f"  first run, no server configured (fresh Prefect home): {first['wall']:.1f} s")
    print(f"  next run, no server configured:                        {warm['wall']:.1f} s")
    print(f"  with a running Prefect server:                         {with_server['wall']:.1f} s")

    if not args.skip_baseline:
        files = sorted(raw.glob("*.jsonl"))
        b = straightforward(files, work / "baseline.parquet", int(args.baseline_mb * 1e6))
        b_rate = b["bytes"] / 1e6 / b["cpu"]
        print(f"\nstraightforward pipeline on {b['bytes'] / 1e6:.1f} MB (every k-th document) "
              f"({b['paragraphs']:,} paragraphs): {b['cpu']:.1f} s CPU, {b_rate:.3f} MB/s per core")
        print(f"  textwash is {mb / r['cpu'] / b_rate:.0f} times faster per core")

    if args.datatrove_python:
        command = [args.datatrove_python, str(REPO / "benchmarks" / "speed" / "datatrove_baseline.py"),
                   str(raw), str(work / "datatrove"), "--textwash-mb-per-core",
                   f"{mb / r['cpu']:.4f}"]
        if args.datatrove_mb:
            command += ["--max-mb", str(args.datatrove_mb)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines or not lines[-1].startswith("{"):
            print(f"\ndatatrove: could not run ({done.returncode}):\n{done.stdout[-2000:]}"
                  f"{done.stderr[-2000:]}")
            return 1
        d = json.loads(lines[-1])
        print(f"\ndatatrove {d['versions'].get('datatrove', '?')} nearest pipeline on "
              f"{d['input_mb']:.1f} MB (one core): {d['cpu_s']:.1f} s CPU, "
              f"{d['mb_per_s_per_core']:.3f} MB/s per core = {d['ratio_to_textwash']:.2f} x textwash")
        for part, reason in d["not_run"].items():
            print(f"  not run: {part}: {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
