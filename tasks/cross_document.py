"""The stages that need the whole run at once: site templates, then duplicates.

Loads only the columns they need from every staged shard, flags site templates, looks the
remaining content paragraphs up in the duplicate index of earlier runs, finds duplicates among
them and the matched earlier paragraphs, stages per shard a table aligned row for row with the
shard's paragraphs (`site_template`, `dup_of`, `dup_cluster`, `dup_similarity`), and stages this
run's own index files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks import dedup_index, template_index
from tasks.boilerplate import find_site_templates, template_counts
from tasks.dedup import DedupInput, find_duplicates
from tasks.minhash import content_csr, list_matrix
from tasks.settings import Settings
from tasks.shard import STAGING_COMPRESSION, ShardResult

CROSS = pa.schema(
    [
        ("repeated_id", pa.bool_()),  # the document's id was used by a record of an earlier shard
        ("site_template", pa.bool_()),
        ("dup_of", pa.string()),
        ("dup_cluster", pa.string()),
        ("dup_similarity", pa.float32()),
    ]
)
_COLUMNS = ["para_id", "doc_id", "boilerplate_rule", "template_key", "norm_hash", "band_keys",
            "content", "own_content"]


@dataclass
class CrossDocumentResult:
    site_template_lines: int
    duplicates: int
    duplicates_of_earlier_runs: int
    clusters: int
    candidate_pairs: int
    verified_pairs: int
    earlier_paragraphs_matched: int
    indexed_paragraphs: int
    candidate_search: str  # "local" or "dask"


def _load(shards: list[ShardResult]) -> tuple[pa.Table, dict[str, str]]:
    tables, site_of_doc = [], {}
    for shard in shards:
        tables.append(pq.read_table(shard.path("paragraphs"), columns=_COLUMNS))
        d = pq.read_table(shard.path("documents"), columns=["doc_id", "site"])
        site_of_doc.update(zip(d["doc_id"].to_pylist(), d["site"].to_pylist()))
    return pa.concat_tables(tables).combine_chunks(), site_of_doc


def cross_document(shards: list[ShardResult], settings: Settings, run_id: str, run_seq: int,
                   staging: Path, exclude_doc_ids: set[str] = frozenset(),
                   dask_address: str | None = None) -> CrossDocumentResult:
    """`dask_address`: a Dask scheduler; with it, and at least runtime.dask_dedup_min_rows
    paragraphs with band keys, the candidate search runs there (tasks/dedup_dask.py)."""
    table, site_of_doc = _load(shards)
    n = table.num_rows

    # Documents and sites as integer codes.
    doc_codes = pc.dictionary_encode(table["doc_id"]).combine_chunks()
    doc_index = doc_codes.indices.to_numpy().astype(np.int64)
    site_names: dict[str, int] = {}
    doc_site = np.array([site_names.setdefault(site_of_doc[d], len(site_names))
                         for d in doc_codes.dictionary.to_pylist()], dtype=np.int64)
    # A record id repeated in one file is rejected by the reader; when a large file is read in
    # parts, the repeat can sit in a later shard: those rows take no part here, and publish
    # turns their documents into rejects.
    shard_of_row = np.repeat(np.arange(len(shards)), [s.paragraphs for s in shards])
    first_shard = np.full(len(doc_codes.dictionary), len(shards), dtype=np.int64)
    np.minimum.at(first_shard, doc_index, shard_of_row)
    repeated = shard_of_row > first_shard[doc_index]

    # 1. Site templates among the lines no phrase rule took.
    is_boilerplate = pc.is_valid(table["boilerplate_rule"]).to_numpy(zero_copy_only=False)
    template_keys = table["template_key"].fill_null(0).to_numpy().astype(np.uint64)
    template_keys[is_boilerplate | repeated] = 0
    site_names_list = list(site_names)
    history_counts = template_index.load_history(Path(settings.clean), dict(site_names))
    templates = find_site_templates(doc_site[doc_index], doc_index, template_keys,
                                    settings.boilerplate, history_counts)
    template_index.stage_run(staging, run_id, template_counts(doc_site[doc_index], doc_index,
                                                              template_keys), site_names_list)

    # 2. Duplicates among the content paragraphs, with the earlier runs' matching paragraphs.
    norm_hash = table["norm_hash"].to_numpy().copy()
    norm_hash[is_boilerplate | templates | repeated] = 0  # boilerplate is never a copy of content
    keys, has_keys = list_matrix(table["band_keys"], settings.dedup.bands)
    has_keys &= norm_hash != 0
    content, offsets = content_csr(table["content"])
    own, own_offsets = content_csr(table["own_content"], fallback=table["content"])
    quoted = table["own_content"].is_valid().to_numpy(zero_copy_only=False)
    history = dedup_index.lookup(Path(settings.clean), keys[has_keys], norm_hash, settings.dedup,
                                 exclude_doc_ids)
    h = len(history)
    doc_names = doc_codes.dictionary.to_pylist()
    doc_code_of = {d: i for i, d in enumerate(doc_names)}
    history_docs = np.array([doc_code_of.setdefault(d, len(doc_code_of)) for d in history.doc_id],
                            dtype=np.int64)
    combined = DedupInput(
        norm_hash=np.concatenate([history.norm_hash, norm_hash]),
        band_keys=np.concatenate([history.band_keys, keys]),
        has_keys=np.concatenate([history.has_keys, has_keys]),
        content=np.concatenate([history.content, content]),
        content_offsets=np.concatenate([history.content_offsets[:-1],
                                        offsets + len(history.content)]),
        own=np.concatenate([history.own, own]),
        own_offsets=np.concatenate([history.own_offsets[:-1], own_offsets + len(history.own)]),
        quoted=np.concatenate([history.quoted, quoted]),
        doc=np.concatenate([history_docs, doc_index]),
        fixed=np.concatenate([np.ones(h, bool), np.zeros(n, bool)]),
    )
    candidates = None
    if dask_address and int(has_keys.sum()) >= settings.runtime.dask_dedup_min_rows:
        from tasks.dedup import MAX_HEADS
        from tasks.dedup_dask import candidate_pairs_on_dask

        firsts = np.cumsum([0] + [s.paragraphs for s in shards])[:-1] + h
        candidates = candidate_pairs_on_dask(
            dask_address, [(str(s.path("paragraphs")), int(f)) for s, f in zip(shards, firsts)],
            history.band_keys[history.has_keys], settings.dedup.bands, MAX_HEADS)
    dups = find_duplicates(combined, settings.dedup, candidates)
    ids = np.array(history.para_id + table["para_id"].to_pylist(), dtype=object)
    dup_of, cluster, similarity = dups.dup_of[h:], dups.cluster[h:], dups.similarity[h:]

    offset = 0
    for shard in shards:
        sl = slice(offset, offset + shard.paragraphs)
        part = pa.Table.from_pydict(
            {
                "repeated_id": repeated[sl],
                "site_template": templates[sl],
                "dup_of": [ids[i] if i >= 0 else None for i in dup_of[sl].tolist()],
                "dup_cluster": [ids[i] if i >= 0 else None for i in cluster[sl].tolist()],
                "dup_similarity": pa.array(similarity[sl], type=pa.float32(),
                                           mask=np.isnan(similarity[sl])),
            },
            schema=CROSS,
        )
        pq.write_table(part, shard.path("cross"), compression=STAGING_COMPRESSION)
        offset += shard.paragraphs

    # 3. This run's index: its canonical and unique content paragraphs.
    indexed = np.flatnonzero((norm_hash != 0) & (dup_of < 0))
    entries = table.select(["para_id", "doc_id", "norm_hash", "band_keys", "content",
                            "own_content"]).take(pa.array(indexed))
    entries = entries.append_column("order", pa.array(indexed, type=pa.int64()))
    dedup_index.write_run(staging, run_id, run_seq, entries, settings.dedup)

    earlier = dup_of[dup_of >= 0] < h
    return CrossDocumentResult(
        site_template_lines=int(templates.sum()),
        duplicates=int((dup_of >= 0).sum()),
        duplicates_of_earlier_runs=int(earlier.sum()),
        clusters=len(np.unique(cluster[cluster >= 0])),
        candidate_pairs=dups.candidate_pairs,
        verified_pairs=dups.verified_pairs,
        earlier_paragraphs_matched=h,
        indexed_paragraphs=len(indexed),
        candidate_search="local" if candidates is None else "dask",
    )
