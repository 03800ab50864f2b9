"""The per-shard part of the pipeline: every stage that needs only the shard's own documents.

read -> split_paragraphs -> fix_mojibake -> flag_boilerplate -> detect_language
     -> flag_translation -> minhash
The result is staged as Parquet (paragraphs with their signatures, documents, rejects); tasks
hand each other paths, not tables, so a shard can run in another process or on another machine.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.faults import checkpoint
from tasks.plan import RunPlan
from tasks.settings import Settings
from tasks.shard.boilerplate import flag_boilerplate, site_of
from tasks.shard.language import detect_language
from tasks.shard.minhash import list_matrix, minhash
from tasks.shard.mojibake import fix_mojibake
from tasks.shard.paragraphs import split_paragraphs
from tasks.shard.progress import ProgressFile, shard_bytes
from tasks.shard.read import read_inputs
from tasks.shard.translation import flag_translation

STAGING_COMPRESSION = "lz4"  # staged files are read once, soon: speed over size


@dataclass
class ShardResult:
    shard: int
    directory: str
    documents: int
    paragraphs: int
    rejects: int
    per_source: dict[str, dict[str, int]]
    seconds: dict[str, float] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)  # "source sha256" of what it read

    def path(self, table: str) -> Path:
        return Path(self.directory) / f"{table}.parquet"

    def band_keys(self) -> np.ndarray:
        """The paragraphs' LSH band keys, (bands x paragraphs) uint32, memory-mapped: one band
        is one contiguous read (zeros where a paragraph has none: see `has_keys`)."""
        return np.load(Path(self.directory) / "band_keys.npy", mmap_mode="r")

    @classmethod
    def load(cls, staging: str, shard: int, inputs: list[str]) -> ShardResult | None:
        """The result of a shard that was staged completely from exactly `inputs`, or None
        (a rerun may cut shards differently: then the shard is done again)."""
        done = Path(staging) / f"shard-{shard:05d}" / "result.json"
        if not done.is_file():
            return None
        result = cls(**json.loads(done.read_text(encoding="utf-8")))
        if result.inputs != inputs:
            shutil.rmtree(done.parent, ignore_errors=True)
            return None
        return result


class _Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str):
        start = time.perf_counter()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def process_shard(plan: RunPlan, shard: int, settings: Settings, staging: str) -> ShardResult:
    timer = _Timer()
    # Progress for the flow's display, once per chunk (bytes in proportion to paragraphs done).
    progress = ProgressFile(staging, shard, shard_bytes(plan, shard))
    progress.report(paragraphs_done=0, paragraphs=0, documents=0)
    with timer.stage("read"):
        docs, rejects, per_source = read_inputs(plan.shard_inputs(shard), settings.read)
    with timer.stage("split_paragraphs"):
        split = split_paragraphs(docs, settings.split)
        docs = docs.drop_columns(["text"])  # the paragraphs carry it from here on

    # Written under a temporary name and renamed when complete: a shard folder is whole or
    # absent, so a rerun after a crash can trust the ones it finds.
    directory = Path(staging) / f"shard-{shard:05d}"
    building = directory.with_name(directory.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)

    # The stages look at one document at a time, so they run on chunks of whole documents and
    # each chunk is written out before the next: memory is bounded by the chunk, not the shard.
    band_keys = np.zeros((settings.dedup.bands, split.num_rows), dtype=np.uint32)
    doc_parts, done, writer = [], 0, None
    paragraphs, documents_done = split.num_rows, 0
    for chunk in document_chunks(split, CHUNK_PARAGRAPHS):
        with paused_gc():
            with timer.stage("fix_mojibake"):
                chunk = fix_mojibake(chunk, settings.mojibake)
            with timer.stage("flag_boilerplate"):
                chunk = flag_boilerplate(chunk, settings.boilerplate)
            with timer.stage("detect_language"):
                chunk = detect_language(chunk, settings.language)
            with timer.stage("flag_translation"):
                chunk, chunk_mt = flag_translation(chunk, settings.translation)
            with timer.stage("minhash"):
                chunk = minhash(chunk, settings.dedup)
        with timer.stage("stage_write"):
            keys, has_keys = list_matrix(chunk["band_keys"], settings.dedup.bands)
            band_keys[:, done:done + chunk.num_rows] = keys.T
            chunk = chunk.drop_columns(["band_keys"]).append_column(
                "has_keys", pa.array(has_keys, type=pa.bool_()))
            if writer is None:
                writer = pq.ParquetWriter(building / "paragraphs.parquet", chunk.schema,
                                          compression=STAGING_COMPRESSION)
            writer.write_table(chunk)
            doc_parts.append(chunk_mt)
            done += chunk.num_rows
            documents_done += pc.count_distinct(chunk["doc_id"]).as_py()  # chunks hold whole docs
        progress.report(paragraphs_done=done, paragraphs=paragraphs, documents=documents_done)
    del split

    with timer.stage("stage_write"):
        if writer is None:  # no paragraphs at all (every record rejected)
            empty = _empty_stage_output(settings)
            pq.write_table(empty.drop_columns(["band_keys"]).append_column(
                "has_keys", pa.array([], type=pa.bool_())), building / "paragraphs.parquet",
                compression=STAGING_COMPRESSION)
            doc_parts.append(flag_translation(empty, settings.translation)[1])
        else:
            writer.close()
        np.save(building / "band_keys.npy", band_keys)
        documents = _staged_documents(docs, pa.concat_tables(doc_parts))
        for table, name in ((documents, "documents"), (rejects, "rejects")):
            pq.write_table(table, building / f"{name}.parquet", compression=STAGING_COMPRESSION)
    result = ShardResult(shard, str(directory), docs.num_rows, done, rejects.num_rows,
                         per_source, timer.seconds, plan.shard_keys(shard))
    (building / "result.json").write_text(json.dumps(asdict(result)), encoding="utf-8")
    os.rename(building, directory)
    progress.report(paragraphs_done=done, paragraphs=done, documents=docs.num_rows, finished=True)
    checkpoint("shard:staged")
    return_freed_memory()  # a process-pool worker lives on, idle, during cross_document
    return result


@contextmanager
def paused_gc():
    """No cyclic garbage collection inside the block. The stages build and drop many
    short-lived lists and tuples per chunk (per-paragraph values, fastText's answers), which
    keeps triggering collections that scan every object of the process (imports, models):
    ~4% of a shard's CPU in a bare process (benchmarks/hot_paths.py), more objects to scan in
    a Prefect worker. The stages make no reference cycles worth collecting mid-chunk; what
    cycles there are go at the first collection after the block. Threads may nest blocks:
    only the outermost one turns collection back on."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def return_freed_memory() -> None:
    """Hand freed memory back to the system: Arrow's allocator and glibc's keep it otherwise
    (about 110 MB after a 16 MB shard; 350 MB of whole-column reads in cross_document)."""
    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def map_large_allocations(threshold: int = 4 << 20) -> None:
    """Have glibc map every allocation of `threshold` bytes or more on its own, so it goes back
    to the system when freed. By default glibc raises its mapping threshold (up to 32 MB) as
    large blocks are freed, and then serves arrays below it from the heap, which loops of
    large temporaries fragment: in the 1.5 GB run the cross-document step's memory climbed by
    ~700 MB within each range of pairs, and fell only when the range ended."""
    try:
        ctypes.CDLL("libc.so.6").mallopt(-3, threshold)  # -3: M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc
        pass


CHUNK_PARAGRAPHS = 16_384


def document_chunks(paragraphs: pa.Table, size: int):
    """Slices of `paragraphs` of about `size` rows that never cut a document (its rows are
    contiguous)."""
    n = paragraphs.num_rows
    if n <= size:
        if n:
            yield paragraphs
        return
    doc = pc.dictionary_encode(paragraphs["doc_id"]).combine_chunks().indices.to_numpy()
    boundaries = np.flatnonzero(np.diff(doc)) + 1  # rows where a new document starts
    start = 0
    while start < n:
        cut = int(np.searchsorted(boundaries, start + size))
        end = int(boundaries[cut]) if cut < len(boundaries) else n
        if end <= start:
            end = n
        yield paragraphs.slice(start, end - start)
        start = end


def _empty_stage_output(settings: Settings) -> pa.Table:
    """The stages' columns for a shard without paragraphs (only rejects)."""
    from tasks.shard.paragraphs import PARAGRAPHS

    empty = PARAGRAPHS.empty_table()
    chunk = detect_language(flag_boilerplate(fix_mojibake(empty, settings.mojibake),
                                             settings.boilerplate), settings.language)
    return minhash(flag_translation(chunk, settings.translation)[0], settings.dedup)


def _staged_documents(docs: pa.Table, doc_mt: pa.Table) -> pa.Table:
    """Document metadata without the raw text (publish rebuilds `text` from kept paragraphs),
    plus the site used by the template rule and the document's MT score."""
    mt = {d: (s, sig) for d, s, sig in zip(doc_mt["doc_id"].to_pylist(),
                                           doc_mt["mt_score"].to_pylist(),
                                           doc_mt["mt_signals"].to_pylist())}
    ids = docs["doc_id"].to_pylist()
    sites = [site_of(src, url) for src, url in zip(docs["source"].to_pylist(),
                                                   docs["url"].to_pylist())]
    out = docs.drop_columns([c for c in ("text",) if c in docs.column_names])
    return (out.append_column("site", pa.array(sites, type=pa.string()))
            .append_column("mt_score", pa.array([mt.get(d, (0.0, []))[0] for d in ids],
                                                type=pa.float32()))
            .append_column("mt_signals", pa.array([mt.get(d, (0.0, []))[1] for d in ids],
                                                  type=pa.list_(pa.string()))))
