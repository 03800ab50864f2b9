"""The stages that need the whole run at once: site templates, then duplicates.

Loads only the columns they need from every staged shard, runs `find_site_templates` and then
`find_duplicates` over the paragraphs that are still content, and stages, per shard, a table
aligned row for row with the shard's paragraphs: `site_template`, `dup_of`, `dup_cluster`,
`dup_similarity`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.boilerplate import find_site_templates
from tasks.dedup import find_duplicates
from tasks.minhash import signature_matrix
from tasks.settings import Settings
from tasks.shard import STAGING_COMPRESSION, ShardResult

CROSS = pa.schema(
    [
        ("site_template", pa.bool_()),
        ("dup_of", pa.string()),
        ("dup_cluster", pa.string()),
        ("dup_similarity", pa.float32()),
    ]
)


@dataclass
class CrossDocumentResult:
    site_template_lines: int
    duplicates: int
    clusters: int
    candidate_pairs: int
    verified_pairs: int


def cross_document(shards: list[ShardResult], settings: Settings) -> CrossDocumentResult:
    para_ids, doc_ids, rules, keys, norm_hashes, sigs, has_sig = [], [], [], [], [], [], []
    site_of_doc: dict[str, str] = {}
    for shard in shards:
        p = pq.read_table(shard.path("paragraphs"),
                          columns=["para_id", "doc_id", "boilerplate_rule", "template_key",
                                   "norm_hash", "signature"])
        d = pq.read_table(shard.path("documents"), columns=["doc_id", "site"])
        site_of_doc.update(zip(d["doc_id"].to_pylist(), d["site"].to_pylist()))
        para_ids.extend(p["para_id"].to_pylist())
        doc_ids.append(p["doc_id"])
        rules.append(pc.is_valid(p["boilerplate_rule"]).to_numpy(zero_copy_only=False))
        keys.append(p["template_key"].fill_null(0).to_numpy())
        norm_hashes.append(p["norm_hash"].to_numpy())
        matrix, has = signature_matrix(p["signature"], settings.dedup.num_perm)
        sigs.append(matrix)
        has_sig.append(has)

    doc_col = pa.chunked_array([c for chunk in doc_ids for c in chunk.chunks], type=pa.string())
    doc_codes = pc.dictionary_encode(doc_col).combine_chunks()
    doc_index = doc_codes.indices.to_numpy().astype(np.int64)
    doc_names = doc_codes.dictionary.to_pylist()
    site_names: dict[str, int] = {}
    doc_site = np.array([site_names.setdefault(site_of_doc[d], len(site_names)) for d in doc_names],
                        dtype=np.int64)
    is_boilerplate = np.concatenate(rules) if rules else np.zeros(0, bool)
    template_keys = np.concatenate(keys).astype(np.uint64) if keys else np.zeros(0, np.uint64)
    template_keys[is_boilerplate] = 0  # already flagged by a phrase rule
    templates = find_site_templates(doc_site[doc_index], doc_index, template_keys,
                                    settings.boilerplate)

    norm_hash = np.concatenate(norm_hashes) if norm_hashes else np.zeros(0, np.uint64)
    norm_hash[is_boilerplate | templates] = 0  # boilerplate is never a duplicate of content
    dups = find_duplicates(norm_hash, np.concatenate(sigs), np.concatenate(has_sig),
                           settings.dedup)

    ids = np.array(para_ids, dtype=object)
    offset = 0
    for shard in shards:
        n = shard.paragraphs
        sl = slice(offset, offset + n)
        dup_of = dups.dup_of[sl]
        cluster = dups.cluster[sl]
        sim = dups.similarity[sl]
        table = pa.Table.from_pydict(
            {
                "site_template": templates[sl],
                "dup_of": [ids[i] if i >= 0 else None for i in dup_of.tolist()],
                "dup_cluster": [ids[i] if i >= 0 else None for i in cluster.tolist()],
                "dup_similarity": pa.array(sim, type=pa.float32(), mask=np.isnan(sim)),
            },
            schema=CROSS,
        )
        pq.write_table(table, shard.path("cross"), compression=STAGING_COMPRESSION)
        offset += n
    return CrossDocumentResult(
        site_template_lines=int(templates.sum()),
        duplicates=dups.n_duplicates,
        clusters=len(np.unique(dups.cluster[dups.cluster >= 0])),
        candidate_pairs=dups.candidate_pairs,
        verified_pairs=dups.verified_pairs,
    )
