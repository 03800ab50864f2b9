"""Publish a run: apply the keep policy, build the output tables, commit them atomically.

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

from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks import schema
from tasks.settings import PolicySettings, Settings
from tasks.shard import ShardResult
from tasks.shard.language import document_language
from tasks.store import Staging

OUTPUT_COMPRESSION = "zstd"
PARAGRAPH_SEPARATOR = "\n\n"
# paragraph drop reasons in the order paragraph_decisions tries them
PARAGRAPH_REASONS = ("boilerplate", "duplicate", "machine_translation", "language")


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
            reasons.append("boilerplate")
        elif dup is not None and policy.drop_duplicates:
            reasons.append("duplicate")
        elif policy.max_mt_score is not None and mt > policy.max_mt_score:
            reasons.append("machine_translation")
        elif allowed is not None and lang not in allowed:
            reasons.append("language")
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
        return "machine_translation"
    if not reasons:
        return "no_content"
    if None in reasons:
        return None
    removed = Counter()
    for reason, length in zip(reasons, lengths):
        removed[reason] += length
    return max((r for r in PARAGRAPH_REASONS if r in removed), key=removed.__getitem__)


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
        "error": pa.array(["duplicate_id"] * dropped.num_rows, type=pa.string()),
        "detail": pa.array([f"id {i!r} already used by an earlier record of this file"
                            for i in dropped["input_id"].to_pylist()], type=pa.string()),
    }, schema=rejects.schema)
    keep = pc.invert(repeated)
    return (paras.filter(keep), cross.filter(keep),
            docs.filter(pc.invert(pc.is_in(docs["doc_id"], value_set=gone))),
            pa.concat_tables([rejects, extra]), Counter(dropped["source"].to_pylist()))


def publish_shard(shard: ShardResult, settings: Settings, staging: Staging,
                  counts: PublishCounts) -> None:
    """Write the final tables for one shard into the run's staging (`Staging.part_file`)."""
    run_id = staging.run_id
    paras = pq.read_table(shard.path("paragraphs"))
    cross = pq.read_table(shard.path("cross"))
    docs = pq.read_table(shard.path("documents"))
    rejects = pq.read_table(shard.path("rejects"))
    paras, cross, docs, rejects, moved = _reject_repeated_ids(paras, cross, docs, rejects)
    counts.repeated_ids.update(moved)

    rules = paras["boilerplate_rule"].to_pylist()
    rules = ["site_template" if (r is None and t) else r
             for r, t in zip(rules, cross["site_template"].to_pylist())]
    doc_ids = paras["doc_id"].to_pylist()
    doc_mt = dict(zip(docs["doc_id"].to_pylist(), docs["mt_score"].to_pylist()))
    doc_source = dict(zip(docs["doc_id"].to_pylist(), docs["source"].to_pylist()))
    doc_signals = dict(zip(docs["doc_id"].to_pylist(), docs["mt_signals"].to_pylist()))
    langs = paras["lang"].to_pylist()
    dup_of = cross["dup_of"].to_pylist()
    reasons = paragraph_decisions(rules, dup_of, [doc_mt[d] for d in doc_ids], langs,
                                  settings.policy)
    keep = [r is None for r in reasons]
    n = paras.num_rows
    run_col = pa.array([run_id] * n, type=pa.string())
    paragraphs_out = pa.Table.from_arrays(
        [
            paras["doc_id"], paras["para_index"], paras["para_id"], paras["text"],
            paras["char_start"], paras["char_end"], paras["mojibake_fixed"],
            pa.array(rules, type=pa.string()), paras["lang"], paras["lang_score"],
            paras["mt_score"], paras["mt_signals"], cross["dup_cluster"], cross["dup_of"],
            cross["dup_similarity"], pa.array(keep, type=pa.bool_()),
            pa.array(reasons, type=pa.string()), run_col,
        ],
        schema=schema.PARAGRAPHS,
    )

    # Per document: kept text, counts, language from the kept paragraphs (all, if none kept).
    texts = paras["text"].to_pylist()
    scores = paras["lang_score"].to_pylist()
    by_doc: dict[str, list[int]] = {}
    for row, doc_id in enumerate(doc_ids):
        by_doc.setdefault(doc_id, []).append(row)
    threshold = settings.translation.flag_threshold
    doc_cols: dict[str, list] = {k: [] for k in ("lang", "lang_score", "text", "n_paragraphs",
                                                 "n_kept", "n_boilerplate", "n_duplicate",
                                                 "keep", "drop_reason")}
    for doc_id in docs["doc_id"].to_pylist():
        rows = by_doc.get(doc_id, [])
        kept = [r for r in rows if keep[r]]
        basis = kept or [r for r in rows if rules[r] is None] or rows
        lang, lang_score = document_language([langs[r] for r in basis], [scores[r] for r in basis],
                                             [len(texts[r]) for r in basis])
        mt_dropped = settings.policy.max_mt_score is not None and \
            doc_mt[doc_id] > settings.policy.max_mt_score
        doc_cols["lang"].append(lang)
        doc_cols["lang_score"].append(lang_score)
        doc_cols["text"].append(PARAGRAPH_SEPARATOR.join(texts[r] for r in kept))
        doc_cols["n_paragraphs"].append(len(rows))
        doc_cols["n_kept"].append(len(kept))
        doc_cols["n_boilerplate"].append(sum(rules[r] is not None for r in rows))
        doc_cols["n_duplicate"].append(sum(dup_of[r] is not None for r in rows))
        doc_cols["keep"].append(bool(kept) and not mt_dropped)
        doc_cols["drop_reason"].append(document_drop_reason(
            [reasons[r] for r in rows], [len(texts[r]) for r in rows], mt_dropped))
        counts.document_languages[lang] += 1
        if doc_mt[doc_id] >= threshold:
            counts.mt_flagged_documents += 1
            counts.mt_documents.append((doc_mt[doc_id], doc_source[doc_id], doc_id,
                                        doc_signals[doc_id]))
            if len(counts.mt_documents) > 4 * counts._MT_LISTED:  # keep the list short
                counts.mt_documents.sort(key=lambda d: (-d[0], d[1], d[2]))
                del counts.mt_documents[counts._MT_LISTED:]

    nd = docs.num_rows
    documents_out = pa.Table.from_arrays(
        [
            docs["doc_id"], docs["source"], docs["position"], docs["input_id"], docs["url"],
            docs["meta"], docs["encoding"], docs["decode_replacements"],
            pa.array(doc_cols["lang"], type=pa.string()),
            pa.array(doc_cols["lang_score"], type=pa.float32()),
            pa.array(doc_cols["text"], type=pa.string()),
            pa.array(doc_cols["n_paragraphs"], type=pa.int32()),
            pa.array(doc_cols["n_kept"], type=pa.int32()),
            pa.array(doc_cols["n_boilerplate"], type=pa.int32()),
            pa.array(doc_cols["n_duplicate"], type=pa.int32()),
            docs["mt_score"], docs["mt_signals"],
            pa.array(doc_cols["keep"], type=pa.bool_()),
            pa.array(doc_cols["drop_reason"], type=pa.string()),
            pa.array([run_id] * nd, type=pa.string()),
        ],
        schema=schema.DOCUMENTS,
    )
    rejects_out = rejects.append_column("run_id", pa.array([run_id] * rejects.num_rows,
                                                           type=pa.string()))

    for table, table_name in ((paragraphs_out, "paragraphs"), (documents_out, "documents"),
                              (rejects_out.cast(schema.REJECTS), "rejects")):
        staging.table_dir(table_name).mkdir(parents=True, exist_ok=True)
        if table.num_rows:
            pq.write_table(table, staging.part_file(table_name, shard.shard),
                           compression=OUTPUT_COMPRESSION)

    counts.documents += nd
    counts.documents_kept += sum(doc_cols["keep"])
    counts.paragraphs += n
    counts.paragraphs_kept += sum(keep)
    counts.rejects += rejects.num_rows
    counts.mojibake_fixed += int(pc.sum(paras["mojibake_fixed"]).as_py() or 0)
    counts.boilerplate_rules.update(r for r in rules if r is not None)
    for rule, text in zip(rules, texts):
        if rule is not None:
            counts.add_example(counts.rule_examples, rule, text[:120])
    for reject in rejects.select(["source", "position", "error", "detail"]).to_pylist():
        counts.add_example(counts.reject_examples, reject["error"],
                           {k: reject[k] for k in ("source", "position", "detail")})
    counts.drop_reasons.update(r for r in reasons if r is not None)
    counts.reject_errors.update(rejects["error"].to_pylist())
    counts.mt_signals.update(s for sigs in paras["mt_signals"].to_pylist() for s in sigs)
    para_ids = paras["para_id"].to_pylist()
    for row, cluster in enumerate(cross["dup_cluster"].to_pylist()):
        if cluster is not None:
            counts.cluster_sizes[cluster] += 1
            if cluster == para_ids[row]:
                counts.cluster_examples[cluster] = texts[row][:160]

