"""Publish a run: apply the keep policy, build the output tables, commit them atomically.

`publish_tables` runs `publish_shard` on every shard: read its staged tables, decide each
paragraph, build the paragraphs' and the documents' tables, write the parts into the run's
staging, count. Then the flow's publish task has the manifest built (manifest.py) and the store
commits the run (tasks/store.py), superseding rows of inputs read again (supersede.py).

The keep policy (decisions.py: the drop reasons, first match wins, and each document's own) is
the only place where anything is dropped, and it drops nothing from the output: every paragraph
keeps its row with `keep` and `drop_reason`; `documents.text` is the document's kept paragraphs
joined by a blank line. Re-running publish with another policy over the same tags gives the
other cut.

Part files: one per shard and table, never an empty one (some readers fail on a file without
rows); a shard without rejects writes no rejects part. Every table's folder is made all the
same: the store moves each of them into place.
"""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks import reasons as reasons_
from tasks import schema
from tasks.publish.decisions import (
    PARAGRAPH_REASONS,
    PARAGRAPH_SEPARATOR,
    DocumentColumns,
    as_strings,
    document_columns,
    paragraph_reasons,
)
from tasks.settings import PolicySettings, Settings
from tasks.shard import ShardResult
from tasks.store import Staging

OUTPUT_COMPRESSION = "zstd"
__all__ = ["PARAGRAPH_SEPARATOR", "PublishCounts", "publish_tables"]


@dataclass
class PublishCounts:
    documents: int = 0
    documents_kept: int = 0
    paragraphs: int = 0
    paragraphs_kept: int = 0
    rejects: int = 0
    mojibake_fixed: int = 0
    mt_flagged_documents: int = 0
    boilerplate_rules: Counter = field(default_factory=Counter)
    drop_reasons: Counter = field(default_factory=Counter)
    reject_errors: Counter = field(default_factory=Counter)
    document_languages: Counter = field(default_factory=Counter)
    mt_signals: Counter = field(default_factory=Counter)
    cluster_sizes: Counter = field(default_factory=Counter)  # canonical para_id -> members
    cluster_examples: dict = field(default_factory=dict)  # canonical para_id -> its text (cut)
    rule_examples: dict = field(default_factory=dict)  # boilerplate rule -> first lines it took
    reject_examples: dict = field(default_factory=dict)  # error -> first rejects
    mt_documents: list = field(default_factory=list)  # (score, source, doc_id, signals), best
    repeated_ids: Counter = field(default_factory=Counter)  # source -> documents made rejects

    _EXAMPLES = 3
    _MT_LISTED = 10

    def to_dict(self) -> dict:
        out = {}
        for key, value in self.__dict__.items():
            if key in ("cluster_sizes", "cluster_examples", "mt_documents"):
                continue
            out[key] = dict(value.most_common()) if isinstance(value, Counter) else value
        out["largest_clusters"] = self.largest_clusters()
        out["mt_flagged_examples"] = [
            {"source": source, "doc_id": doc_id, "mt_score": round(score, 3), "signals": signals}
            for score, source, doc_id, signals in sorted(
                self.mt_documents, key=lambda d: (-d[0], d[1], d[2]))[:self._MT_LISTED]]
        return out

    def add_example(self, book: dict, key: str, example) -> None:
        listed = book.setdefault(key, [])
        if len(listed) < self._EXAMPLES:
            listed.append(example)

    def largest_clusters(self, n: int = 5) -> list[dict]:
        top = sorted(self.cluster_sizes.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
        return [{"canonical": cid, "size": size, "example": self.cluster_examples.get(cid, "")}
                for cid, size in top]


def publish_tables(shards: list[ShardResult], settings: Settings, staging: Staging
                   ) -> PublishCounts:
    """Every shard's final tables, into the run's staging (a rerun after a crash starts this
    step afresh); the counts for the manifest."""
    shutil.rmtree(staging.tables_dir, ignore_errors=True)
    counts = PublishCounts()
    for shard in shards:
        publish_shard(shard, settings, staging, counts)
    return counts


def publish_shard(shard: ShardResult, settings: Settings, staging: Staging,
                  counts: PublishCounts) -> None:
    """Write the final tables for one shard into the run's staging (`Staging.part_file`)."""
    staged = _read_staged(shard)
    counts.repeated_ids.update(staged.repeated_ids)
    decided = _decide_paragraphs(staged, settings.policy)
    rejects = staged.rejects.append_column(
        "run_id", pa.array([staging.run_id] * staged.rejects.num_rows, type=pa.string()))
    for table, name in ((_paragraphs_table(staged, decided, staging.run_id), "paragraphs"),
                        (_documents_table(staged, decided.documents, staging.run_id),
                         "documents"),
                        (rejects.cast(schema.REJECTS), "rejects")):
        # every table's folder is made, with or without rows: the store moves each into place
        staging.table_dir(name).mkdir(parents=True, exist_ok=True)
        if table.num_rows:
            pq.write_table(table, staging.part_file(name, shard.shard),
                           compression=OUTPUT_COMPRESSION)
    _count_documents(counts, staged, decided.documents, settings.translation.flag_threshold)
    _count_paragraphs(counts, staged, decided)
    counts.documents_kept += int(decided.documents.keep.sum())


@dataclass
class _Staged:
    """One shard's staged tables, less the documents whose id an earlier shard used."""

    paras: pa.Table
    cross: pa.Table  # aligned row for row with `paras` (tasks/cross_document/)
    docs: pa.Table
    rejects: pa.Table
    repeated_ids: Counter  # source -> documents made rejects here


def _read_staged(shard: ShardResult) -> _Staged:
    tables = [pq.read_table(shard.path(name))
              for name in ("paragraphs", "cross", "documents", "rejects")]
    return _Staged(*_reject_repeated_ids(*tables))


def _reject_repeated_ids(paras: pa.Table, cross: pa.Table, docs: pa.Table, rejects: pa.Table
                         ) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table, Counter]:
    """Documents whose id an earlier shard's record of the same file already used become
    rejects (`duplicate_id`), as the reader rejects a repeat it sees itself."""
    repeated = cross["repeated_id"]
    if not pc.any(repeated).as_py():
        return paras, cross, docs, rejects, Counter()
    gone = pc.unique(pc.filter(paras["doc_id"], repeated))
    dropped = docs.filter(pc.is_in(docs["doc_id"], value_set=gone))
    extra = pa.table({
        "source": dropped["source"], "position": dropped["position"],
        "error": pa.array([reasons_.DUPLICATE_ID] * dropped.num_rows, type=pa.string()),
        "detail": pa.array([f"id {i!r} already used by an earlier record of this file"
                            for i in dropped["input_id"].to_pylist()], type=pa.string()),
    }, schema=rejects.schema)
    keep = pc.invert(repeated)
    return (paras.filter(keep), cross.filter(keep),
            docs.filter(pc.invert(pc.is_in(docs["doc_id"], value_set=gone))),
            pa.concat_tables([rejects, extra]), Counter(dropped["source"].to_pylist()))


@dataclass
class _Decided:
    """A shard's paragraphs decided under the policy, and its documents' columns."""

    rules: pa.Array  # the boilerplate rule; site_template for a site's template line
    reasons: np.ndarray  # code into PARAGRAPH_REASONS, -1 = kept
    documents: DocumentColumns

    @property
    def keep(self) -> np.ndarray:
        return self.reasons < 0


def _decide_paragraphs(staged: _Staged, policy: PolicySettings) -> _Decided:
    paras, cross, docs = staged.paras, staged.cross, staged.docs
    template = pc.and_(pc.is_null(paras["boilerplate_rule"]), cross["site_template"])
    rules = pc.if_else(template, pa.scalar(reasons_.SITE_TEMPLATE),
                       paras["boilerplate_rule"]).combine_chunks()
    doc = pc.index_in(paras["doc_id"], value_set=docs["doc_id"])
    if doc.null_count:
        raise ValueError("staged paragraphs of documents that the shard's documents table "
                         "does not hold")
    doc = doc.to_numpy(zero_copy_only=False).astype(np.int64)
    doc_mt = docs["mt_score"].to_numpy().astype(np.float64)
    langs = paras["lang"].combine_chunks()
    reasons = paragraph_reasons(rules, cross["dup_of"].combine_chunks(), doc_mt[doc], langs,
                                policy)
    texts = paras["text"].combine_chunks()
    mt_dropped = (doc_mt > policy.max_mt_score) if policy.max_mt_score is not None else \
        np.zeros(len(doc_mt), dtype=bool)
    documents = document_columns(
        doc, docs.num_rows, texts, pc.utf8_length(texts).to_numpy(zero_copy_only=False),
        langs, paras["lang_score"].to_numpy().astype(np.float64),
        rules.is_valid().to_numpy(zero_copy_only=False),
        cross["dup_of"].is_valid().to_numpy(zero_copy_only=False), reasons, mt_dropped)
    return _Decided(rules, reasons, documents)


def _paragraphs_table(staged: _Staged, d: _Decided, run_id: str) -> pa.Table:
    paras, cross = staged.paras, staged.cross
    return pa.Table.from_arrays(
        [
            paras["doc_id"], paras["para_index"], paras["para_id"], paras["text"],
            paras["char_start"], paras["char_end"], paras["mojibake_fixed"],
            d.rules, paras["lang"], paras["lang_score"],
            paras["mt_score"], paras["mt_signals"], cross["dup_cluster"], cross["dup_of"],
            cross["dup_similarity"], pa.array(d.keep, type=pa.bool_()),
            as_strings(d.reasons, PARAGRAPH_REASONS),
            pa.array([run_id] * paras.num_rows, type=pa.string()),
        ],
        schema=schema.PARAGRAPHS,
    )


def _documents_table(staged: _Staged, cols: DocumentColumns, run_id: str) -> pa.Table:
    docs = staged.docs
    return pa.Table.from_arrays(
        [
            docs["doc_id"], docs["source"], docs["position"], docs["input_id"], docs["url"],
            docs["meta"], docs["encoding"], docs["decode_replacements"],
            cols.lang, pa.array(cols.lang_score, type=pa.float32()), cols.text,
            pa.array(cols.n_paragraphs, type=pa.int32()),
            pa.array(cols.n_kept, type=pa.int32()),
            pa.array(cols.n_boilerplate, type=pa.int32()),
            pa.array(cols.n_duplicate, type=pa.int32()),
            docs["mt_score"], docs["mt_signals"],
            pa.array(cols.keep, type=pa.bool_()), cols.drop_reason,
            pa.array([run_id] * docs.num_rows, type=pa.string()),
        ],
        schema=schema.DOCUMENTS,
    )


def _count_documents(counts: PublishCounts, staged: _Staged, cols: DocumentColumns,
                     flag_threshold: float) -> None:
    """Languages, and the documents flagged as machine-translated (the best few listed)."""
    docs = staged.docs
    counts.documents += docs.num_rows
    doc_ids = docs["doc_id"].to_pylist()
    doc_mt = dict(zip(doc_ids, docs["mt_score"].to_pylist()))
    doc_source = dict(zip(doc_ids, docs["source"].to_pylist()))
    doc_signals = dict(zip(doc_ids, docs["mt_signals"].to_pylist()))
    for doc_id, lang in zip(doc_ids, cols.lang.to_pylist()):
        counts.document_languages[lang] += 1
        if doc_mt[doc_id] >= flag_threshold:
            counts.mt_flagged_documents += 1
            counts.mt_documents.append((doc_mt[doc_id], doc_source[doc_id], doc_id,
                                        doc_signals[doc_id]))
            if len(counts.mt_documents) > 4 * counts._MT_LISTED:  # keep the list short
                counts.mt_documents.sort(key=lambda m: (-m[0], m[1], m[2]))
                del counts.mt_documents[counts._MT_LISTED:]


def _count_paragraphs(counts: PublishCounts, staged: _Staged, d: _Decided) -> None:
    """Paragraphs, rejects, rules and reasons with their first examples, duplicate clusters.
    Counters take their keys in the order of first appearance, as if counted row by row."""
    paras, rejects = staged.paras, staged.rejects
    counts.paragraphs += paras.num_rows
    counts.paragraphs_kept += int(d.keep.sum())
    counts.rejects += rejects.num_rows
    counts.mojibake_fixed += int(pc.sum(paras["mojibake_fixed"]).as_py() or 0)
    _count(counts.boilerplate_rules, d.rules)
    texts = paras["text"].combine_chunks()
    encoded = pc.dictionary_encode(d.rules)
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    for code, rule in enumerate(encoded.dictionary.to_pylist()):  # in order of first row
        for row in np.flatnonzero(codes == code)[:counts._EXAMPLES].tolist():
            counts.add_example(counts.rule_examples, rule, texts[row].as_py()[:120])
    for reject in rejects.select(["source", "position", "error", "detail"]).to_pylist():
        counts.add_example(counts.reject_examples, reject["error"],
                           {k: reject[k] for k in ("source", "position", "detail")})
    _count(counts.drop_reasons, as_strings(d.reasons, PARAGRAPH_REASONS))
    counts.reject_errors.update(rejects["error"].to_pylist())
    _count(counts.mt_signals, pc.list_flatten(paras["mt_signals"]))
    clusters = staged.cross["dup_cluster"]
    _count(counts.cluster_sizes, clusters)
    canonical = np.flatnonzero(pc.fill_null(pc.equal(clusters, paras["para_id"]), False)
                               .to_numpy(zero_copy_only=False))
    for cluster, text in zip(clusters.take(canonical).to_pylist(),
                             texts.take(canonical).to_pylist()):
        counts.cluster_examples[cluster] = text[:160]


def _count(counter: Counter, values: pa.Array | pa.ChunkedArray) -> None:
    """Add the values' counts (nulls left out) to `counter`, new keys in order of first
    appearance."""
    found = pc.value_counts(values.drop_null())
    counter.update(dict(zip(found.field("values").to_pylist(),
                            found.field("counts").to_pylist())))
