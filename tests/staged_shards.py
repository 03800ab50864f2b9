"""Staged shards written here, with the columns the shard step leaves for the run-wide step
(its own MinHash and template keys), so that the run-wide step's phases, and `cross_document`
itself, run on small inputs without Prefect and without the per-shard stages."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.cross_document import cross_document
from tasks.settings import DedupSettings, Settings
from tasks.shard import ShardResult
from tasks.shard.boilerplate import template_key
from tasks.shard.minhash import list_matrix, minhash
from tasks.store import TABLE_NAMES, Store


@dataclass
class Doc:
    doc_id: str
    paragraphs: list[str]
    site: str = "example.org"
    rules: list[str | None] | None = None  # boilerplate_rule per paragraph (None: content)


def stage_shard(store: Store, run_id: str, number: int, docs: list[Doc],
                settings: Settings) -> ShardResult:
    files = store.staging(run_id).shard(number)
    files.directory.mkdir(parents=True)
    doc_ids = [d.doc_id for d in docs for _ in d.paragraphs]
    texts = [t for d in docs for t in d.paragraphs]
    rules = [r for d in docs for r in (d.rules or [None] * len(d.paragraphs))]
    table = pa.table({
        "doc_id": pa.array(doc_ids, type=pa.string()),
        "para_index": pa.array([i for d in docs for i in range(len(d.paragraphs))],
                               type=pa.int32()),
        "para_id": pa.array([f"{d.doc_id}:{i}" for d in docs for i in range(len(d.paragraphs))],
                            type=pa.string()),
        "text": pa.array(texts, type=pa.string()),
        "boilerplate_rule": pa.array(rules, type=pa.string()),
        "template_key": pa.array([template_key(t, settings.boilerplate.template_max_words)
                                  for t in texts], type=pa.uint64()),
    })
    table = minhash(table, settings.dedup)
    keys, has_keys = list_matrix(table["band_keys"], settings.dedup.bands)
    table = table.drop_columns(["band_keys"]).append_column("has_keys", pa.array(has_keys))
    pq.write_table(table, files.table("paragraphs"))
    np.save(files.band_keys, np.ascontiguousarray(keys.T))
    pq.write_table(pa.table({"doc_id": pa.array([d.doc_id for d in docs], type=pa.string()),
                             "site": pa.array([d.site for d in docs], type=pa.string())}),
                   files.table("documents"))
    return ShardResult(number, str(files.directory), len(docs), len(texts), 0, {})


def run_step(clean: Path, sequence: int, shards: list[list[Doc]], settings: Settings,
             exclude_doc_ids=frozenset(), commit: bool = True):
    """`cross_document` on the shards as run `sequence` into `clean`, then (with `commit`) its
    index files committed, for later runs to match against. Returns (result, cross rows by
    para_id)."""
    store = Store(clean)
    settings = settings.merged({"clean": str(clean)})
    run_id = f"{sequence:05d}-test"
    staged = [stage_shard(store, run_id, k, docs, settings) for k, docs in enumerate(shards)]
    result = cross_document(staged, settings, store.staging(run_id), sequence, exclude_doc_ids)
    cross = {}
    for shard in staged:
        ids = pq.read_table(shard.path("paragraphs"), columns=["para_id"])["para_id"].to_pylist()
        cross.update(zip(ids, pq.read_table(shard.path("cross")).to_pylist()))
    if commit:
        for table in TABLE_NAMES:
            store.staging(run_id).table_dir(table).mkdir(parents=True)
        store.commit(run_id, {"run_id": run_id, "sequence": sequence})
    return result, cross


@dataclass
class Found:
    """What the step found, by row of `texts` (as tests/reference_dedup.py gives it)."""

    dup_of: np.ndarray  # the canonical's row, -1 for none
    similarity: np.ndarray
    cluster: np.ndarray
    verified_pairs: int


def find_with_the_step(folder: Path, texts: list[str], docs=None,
                       settings: DedupSettings | None = None) -> Found:
    """The duplicates `cross_document` finds among `texts` (one paragraph each; `docs`: the
    document of each, consecutive rows of a document together), one document per shard and a
    site per document (so that no line is a site template)."""
    docs = list(docs) if docs is not None else list(range(len(texts)))
    by_doc: dict = {}
    for doc, text in zip(docs, texts):
        by_doc.setdefault(doc, []).append(text)
    assert docs == [d for d, rows in by_doc.items() for _ in rows], \
        "a document's rows must be consecutive"
    shards = [[Doc(f"d{k}", rows, site=f"site{k}.org")] for k, rows in enumerate(by_doc.values())]
    row_of: dict[str, int] = {}
    for k, rows in enumerate(by_doc.values()):
        for i in range(len(rows)):
            row_of[f"d{k}:{i}"] = len(row_of)
    step = Settings().merged({"dedup": (settings or DedupSettings()).model_dump(mode="json")})
    result, cross = run_step(folder, 1, shards, step, commit=False)
    by_row = [cross[para_id] for para_id in row_of]
    rows_of = np.array([[-1 if r[c] is None else row_of[r[c]] for c in ("dup_of", "dup_cluster")]
                        for r in by_row], dtype=np.int64).reshape(-1, 2)
    similarity = np.array([np.nan if r["dup_similarity"] is None else r["dup_similarity"]
                           for r in by_row], dtype=np.float32)
    return Found(rows_of[:, 0], similarity, rows_of[:, 1], result.verified_pairs)
