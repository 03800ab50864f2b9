"""Publish a run: apply the keep policy, build the output tables, commit them atomically.

`publish_tables` runs `publish_shard` on every shard: read its staged tables, decide each
paragraph, build the paragraphs' and the documents' tables, write the parts into the run's
staging, count. Then the flow's publish task has the manifest built (manifest.py) and the store
commits the run (tasks/store.py), superseding rows of inputs read again (supersede.py).

The keep policy is the only place where anything is dropped, and it drops nothing from the
output: every paragraph keeps its row with `keep` and `drop_reason`; `documents.text` is the
document's kept paragraphs joined by a blank line. Re-running publish with another policy over
the same tags gives the other cut.
Drop reasons, first match wins: boilerplate, duplicate, machine_translation (the document's
mt_score is above policy.max_mt_score), language (not in policy.keep_languages).
A document's own `drop_reason` (`document_drop_reason`): machine_translation when the policy
drops it whole; else, when none of its paragraphs is kept, the paragraph drop reason that
removed most of its characters; no_content only for a document without paragraphs.

Part files: one per shard and table, never an empty one (some readers fail on a file without
rows); a shard without rejects writes no rejects part. Every table's folder is made all the
same: the store moves each of them into place.
"""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks import reasons as reasons_
from tasks import schema
from tasks.settings import PolicySettings, Settings
from tasks.shard import ShardResult
from tasks.shard.language import document_language
from tasks.store import Staging

OUTPUT_COMPRESSION = "zstd"
PARAGRAPH_SEPARATOR = "\n\n"
PARAGRAPH_REASONS = reasons_.PARAGRAPH_DROP_REASONS  # in the order paragraph_decisions tries them


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


def paragraph_decisions(rules: list, dup_of: list, doc_mt: list[float], langs: list[str],
                        policy: PolicySettings) -> list[str | None]:
    """The drop reason of each paragraph under `policy` (None = kept)."""
    allowed = set(policy.keep_languages) if policy.keep_languages else None
    reasons = []
    for rule, dup, mt, lang in zip(rules, dup_of, doc_mt, langs):
        if rule is not None and policy.drop_boilerplate:
            reasons.append(reasons_.BOILERPLATE)
        elif dup is not None and policy.drop_duplicates:
            reasons.append(reasons_.DUPLICATE)
        elif policy.max_mt_score is not None and mt > policy.max_mt_score:
            reasons.append(reasons_.MACHINE_TRANSLATION)
        elif allowed is not None and lang not in allowed:
            reasons.append(reasons_.LANGUAGE)
        else:
            reasons.append(None)
    return reasons


def document_drop_reason(reasons: list[str | None], lengths: list[int], mt_dropped: bool
                         ) -> str | None:
    """Why a document is not kept (None = kept), from its paragraphs' drop reasons and lengths:
    machine_translation when the MT policy drops the document whole; else, when none of its
    paragraphs is kept, the reason that removed most of its characters (a tie goes to the
    reason tried first), so a copied article with a few menu lines is a duplicate; no_content
    only when it has no paragraphs at all."""
    if mt_dropped:
        return reasons_.MACHINE_TRANSLATION
    if not reasons:
        return reasons_.NO_CONTENT
    if None in reasons:
        return None
    removed = Counter()
    for reason, length in zip(reasons, lengths):
        removed[reason] += length
    return max((r for r in PARAGRAPH_REASONS if r in removed), key=removed.__getitem__)


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
    doc_cols = _document_columns(staged, decided, settings.policy)
    rejects = staged.rejects.append_column(
        "run_id", pa.array([staging.run_id] * staged.rejects.num_rows, type=pa.string()))
    for table, name in ((_paragraphs_table(staged, decided, staging.run_id), "paragraphs"),
                        (_documents_table(staged, doc_cols, staging.run_id), "documents"),
                        (rejects.cast(schema.REJECTS), "rejects")):
        # every table's folder is made, with or without rows: the store moves each into place
        staging.table_dir(name).mkdir(parents=True, exist_ok=True)
        if table.num_rows:
            pq.write_table(table, staging.part_file(name, shard.shard),
                           compression=OUTPUT_COMPRESSION)
    _count_documents(counts, staged, doc_cols, settings.translation.flag_threshold)
    _count_paragraphs(counts, staged, decided)
    counts.documents_kept += sum(doc_cols["keep"])


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
    """A shard's paragraphs as lists (read once), with the policy's decision on each."""

    doc_ids: list[str]
    texts: list[str]
    langs: list[str]
    rules: list[str | None]  # the boilerplate rule; site_template for a site's template line
    dup_of: list[str | None]
    doc_mt: dict[str, float]  # doc_id -> the document's mt_score
    reasons: list[str | None]  # the drop reason (None = kept)
    keep: list[bool]


def _decide_paragraphs(staged: _Staged, policy: PolicySettings) -> _Decided:
    paras, cross, docs = staged.paras, staged.cross, staged.docs
    rules = [reasons_.SITE_TEMPLATE if (r is None and t) else r
             for r, t in zip(paras["boilerplate_rule"].to_pylist(),
                             cross["site_template"].to_pylist())]
    doc_ids = paras["doc_id"].to_pylist()
    doc_mt = dict(zip(docs["doc_id"].to_pylist(), docs["mt_score"].to_pylist()))
    langs = paras["lang"].to_pylist()
    dup_of = cross["dup_of"].to_pylist()
    reasons = paragraph_decisions(rules, dup_of, [doc_mt[d] for d in doc_ids], langs, policy)
    return _Decided(doc_ids, paras["text"].to_pylist(), langs, rules, dup_of, doc_mt, reasons,
                    [r is None for r in reasons])


def _paragraphs_table(staged: _Staged, d: _Decided, run_id: str) -> pa.Table:
    paras, cross = staged.paras, staged.cross
    return pa.Table.from_arrays(
        [
            paras["doc_id"], paras["para_index"], paras["para_id"], paras["text"],
            paras["char_start"], paras["char_end"], paras["mojibake_fixed"],
            pa.array(d.rules, type=pa.string()), paras["lang"], paras["lang_score"],
            paras["mt_score"], paras["mt_signals"], cross["dup_cluster"], cross["dup_of"],
            cross["dup_similarity"], pa.array(d.keep, type=pa.bool_()),
            pa.array(d.reasons, type=pa.string()),
            pa.array([run_id] * paras.num_rows, type=pa.string()),
        ],
        schema=schema.PARAGRAPHS,
    )


def _document_columns(staged: _Staged, d: _Decided, policy: PolicySettings) -> dict[str, list]:
    """Per document: kept text, counts, language from the kept paragraphs (from those no rule
    took if none is kept, from all if every one was boilerplate)."""
    scores = staged.paras["lang_score"].to_pylist()
    by_doc: dict[str, list[int]] = {}
    for row, doc_id in enumerate(d.doc_ids):
        by_doc.setdefault(doc_id, []).append(row)
    cols: dict[str, list] = {k: [] for k in ("lang", "lang_score", "text", "n_paragraphs",
                                             "n_kept", "n_boilerplate", "n_duplicate", "keep",
                                             "drop_reason")}
    for doc_id in staged.docs["doc_id"].to_pylist():
        rows = by_doc.get(doc_id, [])
        kept = [r for r in rows if d.keep[r]]
        basis = kept or [r for r in rows if d.rules[r] is None] or rows
        lang, lang_score = document_language([d.langs[r] for r in basis],
                                             [scores[r] for r in basis],
                                             [len(d.texts[r]) for r in basis])
        mt_dropped = policy.max_mt_score is not None and d.doc_mt[doc_id] > policy.max_mt_score
        cols["lang"].append(lang)
        cols["lang_score"].append(lang_score)
        cols["text"].append(PARAGRAPH_SEPARATOR.join(d.texts[r] for r in kept))
        cols["n_paragraphs"].append(len(rows))
        cols["n_kept"].append(len(kept))
        cols["n_boilerplate"].append(sum(d.rules[r] is not None for r in rows))
        cols["n_duplicate"].append(sum(d.dup_of[r] is not None for r in rows))
        cols["keep"].append(bool(kept) and not mt_dropped)
        cols["drop_reason"].append(document_drop_reason(
            [d.reasons[r] for r in rows], [len(d.texts[r]) for r in rows], mt_dropped))
    return cols


def _documents_table(staged: _Staged, cols: dict[str, list], run_id: str) -> pa.Table:
    docs = staged.docs
    return pa.Table.from_arrays(
        [
            docs["doc_id"], docs["source"], docs["position"], docs["input_id"], docs["url"],
            docs["meta"], docs["encoding"], docs["decode_replacements"],
            pa.array(cols["lang"], type=pa.string()),
            pa.array(cols["lang_score"], type=pa.float32()),
            pa.array(cols["text"], type=pa.string()),
            pa.array(cols["n_paragraphs"], type=pa.int32()),
            pa.array(cols["n_kept"], type=pa.int32()),
            pa.array(cols["n_boilerplate"], type=pa.int32()),
            pa.array(cols["n_duplicate"], type=pa.int32()),
            docs["mt_score"], docs["mt_signals"],
            pa.array(cols["keep"], type=pa.bool_()),
            pa.array(cols["drop_reason"], type=pa.string()),
            pa.array([run_id] * docs.num_rows, type=pa.string()),
        ],
        schema=schema.DOCUMENTS,
    )


def _count_documents(counts: PublishCounts, staged: _Staged, cols: dict[str, list],
                     flag_threshold: float) -> None:
    """Languages, and the documents flagged as machine-translated (the best few listed)."""
    docs = staged.docs
    counts.documents += docs.num_rows
    doc_ids = docs["doc_id"].to_pylist()
    doc_mt = dict(zip(doc_ids, docs["mt_score"].to_pylist()))
    doc_source = dict(zip(doc_ids, docs["source"].to_pylist()))
    doc_signals = dict(zip(doc_ids, docs["mt_signals"].to_pylist()))
    for doc_id, lang in zip(doc_ids, cols["lang"]):
        counts.document_languages[lang] += 1
        if doc_mt[doc_id] >= flag_threshold:
            counts.mt_flagged_documents += 1
            counts.mt_documents.append((doc_mt[doc_id], doc_source[doc_id], doc_id,
                                        doc_signals[doc_id]))
            if len(counts.mt_documents) > 4 * counts._MT_LISTED:  # keep the list short
                counts.mt_documents.sort(key=lambda m: (-m[0], m[1], m[2]))
                del counts.mt_documents[counts._MT_LISTED:]


def _count_paragraphs(counts: PublishCounts, staged: _Staged, d: _Decided) -> None:
    """Paragraphs, rejects, rules and reasons with their first examples, duplicate clusters."""
    paras, rejects = staged.paras, staged.rejects
    counts.paragraphs += paras.num_rows
    counts.paragraphs_kept += sum(d.keep)
    counts.rejects += rejects.num_rows
    counts.mojibake_fixed += int(pc.sum(paras["mojibake_fixed"]).as_py() or 0)
    counts.boilerplate_rules.update(r for r in d.rules if r is not None)
    for rule, text in zip(d.rules, d.texts):
        if rule is not None:
            counts.add_example(counts.rule_examples, rule, text[:120])
    for reject in rejects.select(["source", "position", "error", "detail"]).to_pylist():
        counts.add_example(counts.reject_examples, reject["error"],
                           {k: reject[k] for k in ("source", "position", "detail")})
    counts.drop_reasons.update(r for r in d.reasons if r is not None)
    counts.reject_errors.update(rejects["error"].to_pylist())
    counts.mt_signals.update(s for sigs in paras["mt_signals"].to_pylist() for s in sigs)
    para_ids = paras["para_id"].to_pylist()
    for row, cluster in enumerate(staged.cross["dup_cluster"].to_pylist()):
        if cluster is not None:
            counts.cluster_sizes[cluster] += 1
            if cluster == para_ids[row]:
                counts.cluster_examples[cluster] = d.texts[row][:160]
