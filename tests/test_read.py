import gzip
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import write

from tasks.read import discover_inputs, make_doc_id, read_inputs
from tasks.settings import ReadSettings

S = ReadSettings()


def read_dir(path, settings=S):
    docs, rejects, counts = read_inputs(discover_inputs(path), settings)
    return docs.to_pylist(), rejects.to_pylist(), counts


def test_txt_jsonl_gz_and_parquet(tmp_path):
    write(tmp_path / "a.txt", "Hello there.\n\nSecond paragraph.")
    lines = [{"id": "x1", "text": "First record.", "url": "https://example.com/a", "lang": "en"},
             {"text": "No id here.", "metadata": {"url": "https://example.org/b", "k": 1}}]
    write(tmp_path / "b.jsonl", "\n".join(json.dumps(r) for r in lines) + "\n")
    with gzip.open(tmp_path / "c.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write(json.dumps({"text": "Gzipped record."}) + "\n")
    pq.write_table(pa.table({"text": ["Row zero.", "Row one."], "id": [10, 11]}),
                   tmp_path / "d.parquet")
    docs, rejects, counts = read_dir(tmp_path)
    assert rejects == []
    assert [(d["source"], d["position"]) for d in docs] == [
        ("a.txt", 0), ("b.jsonl", 0), ("b.jsonl", 1), ("c.jsonl.gz", 0), ("d.parquet", 0),
        ("d.parquet", 1)]
    by_text = {d["text"]: d for d in docs}
    first = by_text["First record."]
    assert first["input_id"] == "x1"
    assert first["url"] == "https://example.com/a"
    assert json.loads(first["meta"]) == {"lang": "en"}
    second = by_text["No id here."]
    assert second["url"] == "https://example.org/b"
    assert second["input_id"] is None
    assert by_text["Row one."]["input_id"] == "11"
    assert counts["b.jsonl"] == {"documents": 2, "rejects": 0}


def test_doc_ids_are_stable_and_distinct(tmp_path):
    write(tmp_path / "a.jsonl", '{"id": "1", "text": "a"}\n{"text": "b"}\n')
    write(tmp_path / "b.jsonl", '{"id": "1", "text": "a"}\n')
    docs1, _, _ = read_dir(tmp_path)
    docs2, _, _ = read_dir(tmp_path)
    assert [d["doc_id"] for d in docs1] == [d["doc_id"] for d in docs2]
    assert len({d["doc_id"] for d in docs1}) == 3
    assert docs1[0]["doc_id"] == make_doc_id("a.jsonl", "1", 0)
    # An id names the record wherever it sits in its file.
    assert make_doc_id("a.jsonl", "1", 0) == make_doc_id("a.jsonl", "1", 7)


def test_bad_input_is_rejected_with_reasons_and_nothing_is_lost(tmp_path):
    """Every input record is a document or a reject; the run goes on past each problem."""
    write(tmp_path / "01_empty.txt", b"")
    write(tmp_path / "02_binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8)
    good_utf8 = "Grüße aus München, schöne Straßen. " * 20
    write(tmp_path / "03_bad_byte.txt", good_utf8.encode() + b"\xff" + good_utf8.encode())
    write(tmp_path / "04_mixed.jsonl",
          '{"text": "good one"}\n{"text": "broken\n{"id": 5, "title": "no text"}\n'
          '[1, 2]\n{"text": 42}\n{"text": "   "}\n\n{"text": "good two"}\n')
    (tmp_path / "05_big.jsonl").write_bytes(
        b'{"text": "before"}\n{"text": "' + b"x" * 50_000_000 + b'"}\n{"text": "after"}\n')
    os.symlink(tmp_path / "does-not-exist", tmp_path / "06_dangling.txt")
    write(tmp_path / "07_image.png", b"\x89PNG")
    with gzip.open(tmp_path / "08_cut.jsonl.gz", "wb") as fh:
        fh.write(b"".join(b'{"text": "line %d"}\n' % i for i in range(2000)))
    data = (tmp_path / "08_cut.jsonl.gz").read_bytes()
    (tmp_path / "08_cut.jsonl.gz").write_bytes(data[: len(data) // 2])
    write(tmp_path / "09_dup_ids.jsonl", '{"id": 1, "text": "a"}\n{"id": 1, "text": "b"}\n')
    write(tmp_path / "10_bad_line_bytes.jsonl",
          b'{"text": "ok"}\n{"text": "caf\xc3\xa9 \xff caf\xc3\xa9 caf\xc3\xa9 na\xc3\xafve"}\n')

    docs, rejects, counts = read_dir(tmp_path, ReadSettings(max_replacement_ratio=0.1))
    errors = {(r["source"], r["position"]): r["error"] for r in rejects}
    assert errors[("01_empty.txt", None)] == "empty_file"
    assert errors[("02_binary.txt", 0)] == "binary"
    assert errors[("04_mixed.jsonl", 1)] == "malformed_json"
    assert errors[("04_mixed.jsonl", 2)] == "missing_text"
    assert errors[("04_mixed.jsonl", 3)] == "not_an_object"
    assert errors[("04_mixed.jsonl", 4)] == "bad_text_type"
    assert errors[("04_mixed.jsonl", 5)] == "empty_text"
    assert errors[("05_big.jsonl", 1)] == "too_large"
    assert errors[("06_dangling.txt", None)] == "unreadable"
    assert errors[("07_image.png", None)] == "unsupported_format"
    assert errors[("09_dup_ids.jsonl", 1)] == "duplicate_id"
    cut = [r for r in rejects if r["source"] == "08_cut.jsonl.gz"]
    assert len(cut) == 1 and cut[0]["error"] == "truncated"
    assert all(r["detail"] for r in rejects)

    texts = {(d["source"], d["position"]): d for d in docs}
    bad_byte = texts[("03_bad_byte.txt", 0)]
    assert bad_byte["decode_replacements"] == 1 and "\ufffd" in bad_byte["text"]
    assert texts[("10_bad_line_bytes.jsonl", 1)]["decode_replacements"] == 1
    assert texts[("04_mixed.jsonl", 7)]["text"] == "good two"
    assert {d["text"] for d in docs if d["source"] == "05_big.jsonl"} == {"before", "after"}
    n_cut_docs = sum(1 for d in docs if d["source"] == "08_cut.jsonl.gz")
    assert 0 < n_cut_docs < 2000
    assert cut[0]["position"] == n_cut_docs

    # Records per file, counted independently of the reader: documents + rejects.
    expected_records = {
        "01_empty.txt": 1, "02_binary.txt": 1, "03_bad_byte.txt": 1, "04_mixed.jsonl": 7,
        "05_big.jsonl": 3, "06_dangling.txt": 1, "07_image.png": 1,
        "08_cut.jsonl.gz": n_cut_docs + 1, "09_dup_ids.jsonl": 2, "10_bad_line_bytes.jsonl": 2,
    }
    for source, n in expected_records.items():
        assert counts[source]["documents"] + counts[source]["rejects"] == n, source
    assert len(docs) + len(rejects) == sum(expected_records.values())


def test_oversized_txt_is_rejected_without_reading(tmp_path):
    write(tmp_path / "big.txt", "word " * 1000)
    docs, rejects, _ = read_dir(tmp_path, ReadSettings(max_document_bytes=100))
    assert docs == [] and rejects[0]["error"] == "too_large"


def test_parquet_without_text_column_and_broken_parquet(tmp_path):
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "a.parquet")
    write(tmp_path / "b.parquet", b"PAR1 not really parquet")
    _, rejects, _ = read_dir(tmp_path)
    assert [(r["source"], r["error"]) for r in rejects] == [("a.parquet", "missing_text"),
                                                           ("b.parquet", "bad_parquet")]


def test_configurable_fields(tmp_path):
    write(tmp_path / "a.jsonl", '{"uid": "u1", "content": "Body text."}\n')
    docs, rejects, _ = read_dir(tmp_path, ReadSettings(text_field="content", id_field="uid"))
    assert rejects == [] and docs[0]["input_id"] == "u1" and docs[0]["text"] == "Body text."


def test_lone_surrogates_become_replacements(tmp_path):
    write(tmp_path / "a.jsonl", '{"text": "half a pair \\ud83d here, a full pair \\ud83d\\ude00"}\n')
    docs, rejects, _ = read_dir(tmp_path)
    assert rejects == []
    assert docs[0]["text"] == "half a pair \ufffd here, a full pair \U0001F600"
    assert docs[0]["decode_replacements"] == 1


def test_hidden_files_are_not_inputs_and_order_is_stable(tmp_path):
    write(tmp_path / ".DS_Store", b"junk")
    write(tmp_path / "b" / "x.txt", "b")
    write(tmp_path / "a.txt", "a")
    assert [f.source for f in discover_inputs(tmp_path)] == ["a.txt", "b/x.txt"]


def test_missing_input_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        discover_inputs(tmp_path / "nope")
