"""publish_shard on small staged shards written here: the part files it writes and the
documents' drop reasons."""

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from tasks import schema
from tasks.cross_document import CROSS
from tasks.publish import PublishCounts, publish_shard
from tasks.publish.decisions import PARAGRAPH_REASONS, document_drop_reasons
from tasks.settings import Settings
from tasks.shard import ShardResult
from tasks.store import ShardFiles, Staging, part_name

STAGED_PARAGRAPHS = schema.columns(
    schema.PARAGRAPHS, "doc_id", "para_index", "para_id", "text", "char_start", "char_end",
    "mojibake_fixed", "boilerplate_rule", "lang", "lang_score", "mt_score", "mt_signals")
STAGED_DOCUMENTS = schema.columns(
    schema.DOCUMENTS, "doc_id", "source", "position", "input_id", "url", "meta", "encoding",
    "decode_replacements", "mt_score", "mt_signals")
STAGED_REJECTS = schema.columns(schema.REJECTS, "source", "position", "error", "detail")
LONG = ("River levels across the region fell on Tuesday after new flood defences held back "
        "the water that had threatened hundreds of homes during the weekend storms.")


def stage_shard(folder, docs, rejects=(), shard=0):
    """A staged shard as the shard and cross-document steps leave it. docs: doc_id ->
    (mt_score, paragraphs), each paragraph (text, boilerplate_rule, dup_of, lang)."""
    folder.mkdir(parents=True)
    paras, cross = [], []
    for doc_id, (_, lines) in docs.items():
        start = 0
        for index, (text, rule, dup_of, lang) in enumerate(lines):
            paras.append({"doc_id": doc_id, "para_index": index, "para_id": f"{doc_id}:{index}",
                          "text": text, "char_start": start, "char_end": start + len(text),
                          "mojibake_fixed": False, "boilerplate_rule": rule, "lang": lang,
                          "lang_score": 0.9, "mt_score": 0.05, "mt_signals": []})
            cross.append({"repeated_id": False, "site_template": False, "dup_of": dup_of,
                          "dup_cluster": dup_of, "dup_similarity": 1.0 if dup_of else None})
            start += len(text) + 1
    documents = [{"doc_id": doc_id, "source": "a.jsonl", "position": n, "input_id": None,
                  "url": None, "meta": "{}", "encoding": "utf-8", "decode_replacements": 0,
                  "mt_score": mt, "mt_signals": []}
                 for n, (doc_id, (mt, _)) in enumerate(docs.items())]
    for rows, name, table_schema in ((paras, "paragraphs", STAGED_PARAGRAPHS),
                                     (cross, "cross", CROSS),
                                     (documents, "documents", STAGED_DOCUMENTS),
                                     (list(rejects), "rejects", STAGED_REJECTS)):
        pq.write_table(pa.Table.from_pylist(rows, schema=table_schema),
                       ShardFiles(folder).table(name))
    return ShardResult(shard, str(folder), len(documents), len(paras), len(rejects), {})


def publish(tmp_path, shards, **policy):
    staging = Staging(tmp_path, "00001-test")
    settings = Settings.from_dict({"policy": policy})
    for shard in shards:
        publish_shard(shard, settings, staging, PublishCounts())
    return staging


def parts(folder):
    return sorted(p.name for p in folder.glob("*.parquet"))


REJECT = {"source": "b.jsonl", "position": 3, "error": "malformed_json", "detail": "not JSON"}


def test_no_part_file_is_empty(tmp_path):
    with_docs = stage_shard(tmp_path / "shard-00000", {"d1": (0.1, [(LONG, None, None, "en")])})
    only_rejects = stage_shard(tmp_path / "shard-00001", {}, [REJECT], shard=1)
    out = publish(tmp_path, [with_docs, only_rejects])
    assert parts(out.table_dir("documents")) == parts(out.table_dir("paragraphs")) == \
        [part_name(0)]
    assert parts(out.table_dir("rejects")) == [part_name(1)]
    for part in out.tables_dir.rglob("*.parquet"):
        assert pq.read_metadata(part).num_rows > 0, part


def test_a_run_without_rejects_leaves_an_empty_rejects_folder_readers_can_open(tmp_path):
    shard = stage_shard(tmp_path / "shard-00000", {"d1": (0.1, [(LONG, None, None, "en")])})
    out = publish(tmp_path, [shard])
    assert out.table_dir("rejects").is_dir() and parts(out.table_dir("rejects")) == []
    # the store moves each table's folder into place, empty or not; with the schema, the empty
    # folder reads as a valid empty table
    table = ds.dataset(out.table_dir("rejects"), format="parquet",
                       schema=schema.REJECTS).to_table()
    assert table.num_rows == 0 and table.schema == schema.REJECTS


def published_documents(tmp_path, docs, **policy):
    out = publish(tmp_path, [stage_shard(tmp_path / "shard-00000", docs)], **policy)
    rows = pq.read_table(out.part_file("documents", 0)).to_pylist()
    return {row["doc_id"]: (row["keep"], row["drop_reason"]) for row in rows}


MENU = [(word, "leading_run", None, "en") for word in ("Home", "News", "Sport", "Weather")]


def test_documents_without_kept_text_say_what_removed_most_of_their_text(tmp_path):
    got = published_documents(tmp_path, {
        "kept": (0.1, MENU + [(LONG, None, None, "en")]),
        "copies": (0.1, [(LONG, None, "x:0", "en"), (LONG + " Again.", None, "x:1", "en")]),
        # more boilerplate lines than copied ones, but the copy is most of the text
        "mostly_copied": (0.1, MENU * 3 + [(LONG, None, "x:0", "en")]),
        "menus": (0.1, MENU + [("Leave a Reply", "comment_form", None, "en")]),
        "german": (0.1, MENU + [(LONG, None, None, "de")]),
        "translated": (0.9, MENU + [(LONG, None, "x:0", "en")]),
    }, max_mt_score=0.8, keep_languages=["en"])
    assert got == {
        "kept": (True, None),
        "copies": (False, "duplicate"),
        "mostly_copied": (False, "duplicate"),
        "menus": (False, "boilerplate"),
        "german": (False, "language"),
        "translated": (False, "machine_translation"),  # the policy drops the document whole
    }


@pytest.mark.parametrize("reasons,lengths,mt_dropped,expected", [
    ([None, "boilerplate"], [50, 10], False, None),
    (["boilerplate", "duplicate"], [60, 40], False, "boilerplate"),
    (["boilerplate", "duplicate", "duplicate"], [60, 40, 30], False, "duplicate"),
    (["language", "boilerplate"], [30, 30], False, "boilerplate"),  # a tie: decision order
    (["duplicate", "language"], [30, 30], False, "duplicate"),
    (["duplicate"], [0], False, "duplicate"),
    ([None], [50], True, "machine_translation"),
    ([], [], False, "no_content"),
])
def test_document_drop_reason(reasons, lengths, mt_dropped, expected):
    codes = np.array([-1 if r is None else PARAGRAPH_REASONS.index(r) for r in reasons],
                     np.int64)
    one = document_drop_reasons(np.zeros(len(codes), np.int64), 1, codes, np.array(lengths),
                                np.array([mt_dropped]))
    assert one.to_pylist() == [expected]
    # the same document among others: each document is decided on its own rows
    doc = np.concatenate([np.zeros(len(codes), np.int64), [1, 2, 2]])
    many = document_drop_reasons(doc, 4, np.concatenate([codes, [0, -1, 1]]),
                                 np.concatenate([lengths, [5, 5, 5]]),
                                 np.array([mt_dropped, False, False, False]))
    assert many.to_pylist() == [expected, "boilerplate", None, "no_content"]
