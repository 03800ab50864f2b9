"""The per-shard part of the pipeline: every stage that needs only the shard's own documents.

read -> split_paragraphs -> fix_mojibake -> flag_boilerplate -> detect_language
     -> flag_translation -> minhash
What each stage needs and adds is declared in tasks/shard/stages.py (the stage contract). The
result is staged as Parquet (paragraphs with their signatures, documents, rejects; `staged_schemas`
says their columns); tasks hand each other paths, not tables, so a shard can run in another
process or on another machine.
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

from tasks import npy
from tasks.faults import checkpoint
from tasks.plan import RunPlan
from tasks.settings import Settings
from tasks.shard.boilerplate import site_of
from tasks.shard.minhash import list_matrix
from tasks.shard.progress import ProgressFile, shard_bytes
from tasks.shard.stages import ShardStages, StageError
from tasks.store import ShardFiles, Staging

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
        return ShardFiles(self.directory).table(table)

    def band_keys(self) -> np.ndarray:
        """The paragraphs' LSH band keys, (bands x paragraphs) uint64, memory-mapped: one band
        is one contiguous read (zeros where a paragraph has none: see `has_keys`)."""
        return npy.load(ShardFiles(self.directory).band_keys, mmap_mode="r")

    @classmethod
    def load(cls, staging: Staging, shard: int, inputs: list[str]) -> ShardResult | None:
        """The result of a shard that was staged completely from exactly `inputs`, or None
        (a rerun may cut shards differently: then the shard is done again)."""
        done = staging.shard(shard).result
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
    stages = ShardStages(settings)  # the stages' declarations checked before any work
    staged = staged_schemas(stages)
    timer = _Timer()
    # Progress for the flow's display, once per chunk (bytes in proportion to paragraphs done).
    progress = ProgressFile(staging, shard, shard_bytes(plan, shard))
    progress.report(paragraphs_done=0, paragraphs=0, documents=0)
    with timer.stage(stages.read.name):
        docs, rejects, per_source = stages.read.run(plan.shard_inputs(shard))
    with timer.stage(stages.split.name):
        split = stages.split.run(docs)
        docs = docs.drop_columns(["text"])  # the paragraphs carry it from here on

    # Written under a temporary name and renamed when complete: a shard folder is whole or
    # absent, so a rerun after a crash can trust the ones it finds.
    files = Staging(staging, plan.run_id).shard(shard)
    directory, building = files.directory, files.building
    staged_files = ShardFiles(building)
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)

    # The stages look at one document at a time, so they run on chunks of whole documents and
    # each chunk is written out before the next: memory is bounded by the chunk, not the shard.
    band_keys = np.zeros((settings.dedup.bands, split.num_rows), dtype=np.uint64)
    doc_parts, done, writer = [], 0, None
    paragraphs, documents_done = split.num_rows, 0
    for chunk in document_chunks(split, CHUNK_PARAGRAPHS):
        with paused_gc():
            chunk, chunk_docs = stages.run(chunk, timer.stage)
        with timer.stage("stage_write"):
            keys, has_keys = list_matrix(chunk["band_keys"], settings.dedup.bands)
            band_keys[:, done:done + chunk.num_rows] = keys.T
            chunk = chunk.drop_columns(["band_keys"]).append_column(
                HAS_KEYS, pa.array(has_keys, type=pa.bool_()))
            if writer is None:
                writer = pq.ParquetWriter(staged_files.table("paragraphs"), staged["paragraphs"],
                                          compression=STAGING_COMPRESSION)
            writer.write_table(chunk)
            doc_parts.append(chunk_docs)
            done += chunk.num_rows
            documents_done += pc.count_distinct(chunk["doc_id"]).as_py()  # chunks hold whole docs
        progress.report(paragraphs_done=done, paragraphs=paragraphs, documents=documents_done)
    del split

    with timer.stage("stage_write"):
        if writer is None:  # no paragraphs at all (every record rejected)
            pq.write_table(staged["paragraphs"].empty_table(), staged_files.table("paragraphs"),
                           compression=STAGING_COMPRESSION)
        else:
            writer.close()
        np.save(staged_files.band_keys, band_keys)
        documents = _staged_documents(
            docs, pa.concat_tables([stages.document_columns.empty_table(), *doc_parts]),
            stages.without_paragraphs)
        for table, name in ((documents, "documents"), (rejects, "rejects")):
            if not table.schema.equals(staged[name]):  # the paragraphs' writer checks theirs
                raise StageError(f"staged {name} have columns {table.schema.names}, but the "
                                 f"stages' declarations make them {staged[name].names}")
            pq.write_table(table, staged_files.table(name), compression=STAGING_COMPRESSION)
    result = ShardResult(shard, str(directory), docs.num_rows, done, rejects.num_rows,
                         per_source, timer.seconds, plan.shard_keys(shard))
    staged_files.result.write_text(json.dumps(asdict(result)), encoding="utf-8")
    os.rename(building, directory)
    progress.report(paragraphs_done=done, paragraphs=done, documents=docs.num_rows, finished=True)
    checkpoint("shard:staged")
    return_freed_memory()  # a process-pool worker lives on, idle, during cross_document
    return result


@contextmanager
def paused_gc():
    """No cyclic garbage collection inside the block. The stages build and drop many
    short-lived lists and tuples per chunk (per-paragraph values, fastText's answers), which
    keeps triggering collections that scan every object of the process (imports, models;
    measured in docs/stages.md). The stages make no reference cycles worth collecting mid-chunk; what
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
    (an idle worker would hold a shard's peak; docs/benchmarks/throughput.md)."""
    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def map_large_allocations(threshold: int = 4 << 20) -> None:
    """Have glibc map every allocation of `threshold` bytes or more on its own, so it goes back
    to the system when freed. By default glibc raises its mapping threshold (up to 32 MB) as
    large blocks are freed, and then serves arrays below it from the heap, which loops of
    large temporaries fragment: the cross-document step's memory would climb within each range
    of pairs and fall only when the range ended (docs/benchmarks/throughput.md)."""
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


# The band keys are staged aside, as a (bands x paragraphs) matrix that cross_document reads one
# band at a time (ShardResult.band_keys); the paragraphs keep whether they have any.
HAS_KEYS = pa.field("has_keys", pa.bool_())
# The site a document belongs to, by which the run-wide template rule counts repeated lines.
SITE = pa.field("site", pa.string())


def staged_schemas(stages: ShardStages) -> dict[str, pa.Schema]:
    """The columns of the tables a shard stages, from the stages' declarations: the paragraphs'
    after every stage, `has_keys` for their band keys; the documents' as read, without `text`
    (publish rebuilds it from the kept paragraphs), with their `site` and the stages'
    per-document columns; the rejects' as read."""
    paragraphs = stages.paragraph_columns
    documents = stages.read.adds
    return {
        "paragraphs": paragraphs.remove(paragraphs.get_field_index("band_keys")).append(HAS_KEYS),
        "documents": pa.schema([*documents.remove(documents.get_field_index("text")), SITE,
                                *stages.document_columns.remove(0)]),
        "rejects": stages.read.rejects,
    }


def _staged_documents(docs: pa.Table, per_document: pa.Table, without_paragraphs: dict
                      ) -> pa.Table:
    """The documents (without their text) with their site and the stages' per-document
    columns; a document that no chunk held (it has no paragraphs) gets `without_paragraphs`."""
    sites = [site_of(src, url) for src, url in zip(docs["source"].to_pylist(),
                                                   docs["url"].to_pylist())]
    out = docs.append_column(SITE, pa.array(sites, type=pa.string()))
    row_of = {d: i for i, d in enumerate(per_document["doc_id"].to_pylist())}
    rows = pa.array([row_of.get(d) for d in docs["doc_id"].to_pylist()], type=pa.int64())
    for column in per_document.schema.remove(0):
        value = pa.scalar(without_paragraphs[column.name], type=column.type)
        out = out.append_column(column, per_document[column.name].take(rows).fill_null(value))
    return out
