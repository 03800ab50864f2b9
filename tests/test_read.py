import gzip
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import write

from tasks.plan.inputs import discover_inputs
from tasks.settings import ReadSettings
from tasks.shard.read import make_doc_id, read_inputs

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


# --- finding inputs: links, odd names, folders that cannot be listed, special files ---------


def test_symlink_loops_are_rejects_and_linked_folders_are_read(tmp_path):
    raw = tmp_path / "raw"
    write(raw / "good.txt", "A good text.")
    os.symlink("b.txt", raw / "a.txt")  # a.txt -> b.txt -> a.txt
    os.symlink("a.txt", raw / "b.txt")
    write(raw / "loop" / "x.txt", "Inside the loop folder.")
    os.symlink("..", raw / "loop" / "up")  # back to raw/: walking it would never end
    write(tmp_path / "elsewhere" / "e.txt", "Text in a linked folder.")
    os.symlink(tmp_path / "elsewhere", raw / "linked")

    docs, rejects, counts = read_dir(raw)
    assert sorted(d["source"] for d in docs) == ["good.txt", "linked/e.txt", "loop/x.txt"]
    errors = {r["source"]: (r["position"], r["error"]) for r in rejects}
    assert errors == {"a.txt": (None, "unreadable"), "b.txt": (None, "unreadable"),
                      "loop/up/": (None, "unreadable")}
    assert "loop" in {r["source"]: r["detail"] for r in rejects}["a.txt"]
    assert sum(c["documents"] + c["rejects"] for c in counts.values()) == 6


def test_a_name_that_is_not_utf8_is_shown_escaped_and_its_document_kept(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    name = os.fsdecode(b"caf\xe9.txt")  # Latin-1 bytes: not UTF-8
    (raw / name).write_bytes("Un café au lait, s'il vous plaît.".encode())
    os.mkdir(raw / os.fsdecode(b"d\xff"))
    (raw / os.fsdecode(b"d\xff") / "in.txt").write_bytes(b"Inside an odd folder.")

    docs, rejects, _ = read_dir(raw)
    assert rejects == []
    assert [d["source"] for d in docs] == ["caf\\xe9.txt", "d\\xff/in.txt"]
    assert docs[0]["text"] == "Un café au lait, s'il vous plaît."
    assert docs[0]["doc_id"] == make_doc_id("caf\\xe9.txt", None, 0)
    assert read_dir(raw)[0] == docs
    # The escape is reversible: the source gives back the file's bytes.
    from tasks.plan.inputs import source_bytes

    assert source_bytes(docs[0]["source"]) == b"caf\xe9.txt"
    assert source_bytes("d\\xff/in.txt") == b"d\xff/in.txt"
    assert source_bytes("plain/caf\u00e9.txt") == "plain/caf\u00e9.txt".encode()


def test_an_escaped_name_that_clashes_with_a_real_name_is_a_reject(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / os.fsdecode(b"caf\xe9.txt")).write_bytes(b"Bytes name.")
    (raw / "caf\\xe9.txt").write_bytes(b"Literal backslash name.")
    docs, rejects, _ = read_dir(raw)
    assert [(d["source"], d["text"]) for d in docs] == [("caf\\xe9.txt", "Literal backslash name.")]
    assert [(r["source"], r["position"], r["error"]) for r in rejects] == [
        ("caf\\xe9.txt", None, "name_clash")]


def _unlistable(monkeypatch, *folders):
    """Tests run as root, which can list any folder: os.scandir refuses these ones instead."""
    refused = {os.path.abspath(f) for f in folders}
    real = os.scandir

    def scandir(path="."):
        if os.path.abspath(path) in refused:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


def test_a_folder_that_cannot_be_listed_is_a_reject(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    write(raw / "a.txt", "Readable.")
    write(raw / "locked" / "inside.txt", "Never seen.")
    write(raw / "z" / "deeper" / "in.txt", "Also never seen.")
    _unlistable(monkeypatch, raw / "locked", raw / "z" / "deeper")

    files = discover_inputs(raw)
    assert [f.source for f in files] == ["a.txt", "locked/", "z/deeper/"]
    docs, rejects, counts = read_dir(raw)
    assert [d["source"] for d in docs] == ["a.txt"]
    assert [(r["source"], r["position"], r["error"]) for r in rejects] == [
        ("locked/", None, "unreadable"), ("z/deeper/", None, "unreadable")]
    assert "Permission denied" in rejects[0]["detail"]
    assert counts["locked/"] == {"documents": 0, "rejects": 1}


def test_an_input_folder_that_cannot_be_listed_is_a_clear_error(tmp_path, monkeypatch):
    (tmp_path / "raw").mkdir()
    _unlistable(monkeypatch, tmp_path / "raw")
    with pytest.raises(PermissionError, match="cannot be listed"):
        discover_inputs(tmp_path / "raw")


def test_special_files_are_rejects_and_never_opened(tmp_path, fifo_unblocker):
    raw = tmp_path / "raw"
    write(raw / "a.txt", "Readable.")
    os.mkfifo(raw / "pipe.txt")
    fifo_unblocker.append(str(raw / "pipe.txt"))
    os.symlink("/dev/null", raw / "null.jsonl")
    docs, rejects, _ = read_dir(raw)
    assert [d["source"] for d in docs] == ["a.txt"]
    assert [(r["source"], r["position"], r["error"]) for r in rejects] == [
        ("null.jsonl", None, "not_a_file"), ("pipe.txt", None, "not_a_file")]
    assert "named pipe" in rejects[1]["detail"] and "device" in rejects[0]["detail"]


def test_a_file_that_vanishes_or_turns_into_a_fifo_after_planning(tmp_path, fifo_unblocker):
    raw = tmp_path / "raw"
    write(raw / "gone.txt", "Here at planning time.")
    write(raw / "pipe.txt", "A file at planning time.")
    files = discover_inputs(raw)
    (raw / "gone.txt").unlink()
    (raw / "pipe.txt").unlink()
    os.mkfifo(raw / "pipe.txt")
    fifo_unblocker.append(str(raw / "pipe.txt"))
    docs, rejects, _ = read_inputs(files, S)
    assert docs.num_rows == 0
    assert [(r["source"], r["position"], r["error"]) for r in rejects.to_pylist()] == [
        ("gone.txt", None, "unreadable"), ("pipe.txt", None, "not_a_file")]


def test_a_dangling_link_says_where_it_points(tmp_path):
    os.symlink(tmp_path / "nowhere.txt", tmp_path / "dangling.txt")
    _, rejects, _ = read_dir(tmp_path)
    assert [(r["source"], r["error"]) for r in rejects] == [("dangling.txt", "unreadable")]
    assert "nowhere.txt" in rejects[0]["detail"] and "does not exist" in rejects[0]["detail"]


def test_a_raw_folder_that_is_a_link(tmp_path):
    write(tmp_path / "real" / "sub" / "a.txt", "Through a link.")
    os.symlink(tmp_path / "real", tmp_path / "raw")
    docs, rejects, _ = read_dir(tmp_path / "raw")
    assert rejects == [] and [d["source"] for d in docs] == ["sub/a.txt"]


def test_a_gz_name_on_plain_text_is_not_gzip_and_a_cut_gzip_is_truncated(tmp_path):
    write(tmp_path / "fake.jsonl.gz", '{"text": "plain JSONL under a .gz name"}\n')
    with gzip.open(tmp_path / "cut.jsonl.gz", "wb") as fh:
        fh.write(b"".join(b'{"text": "line %d"}\n' % i for i in range(2000)))
    data = (tmp_path / "cut.jsonl.gz").read_bytes()
    (tmp_path / "cut.jsonl.gz").write_bytes(data[: len(data) // 2])
    docs, rejects, _ = read_dir(tmp_path)
    by_source = {r["source"]: r for r in rejects}
    assert (by_source["fake.jsonl.gz"]["error"], by_source["fake.jsonl.gz"]["position"]) == (
        "not_gzip", None)
    assert "not a gzip file" in by_source["fake.jsonl.gz"]["detail"]
    assert by_source["cut.jsonl.gz"]["error"] == "truncated"
    assert by_source["cut.jsonl.gz"]["position"] == len(docs) > 0


def test_null_text_is_missing_text_that_says_null(tmp_path):
    write(tmp_path / "a.jsonl", '{"id": 1, "text": null}\n{"id": 2}\n')
    pq.write_table(pa.table({"text": [None, "Row one."]}), tmp_path / "b.parquet")
    docs, rejects, _ = read_dir(tmp_path)
    assert [d["text"] for d in docs] == ["Row one."]
    assert [(r["source"], r["position"], r["error"], r["detail"]) for r in rejects] == [
        ("a.jsonl", 0, "missing_text", "'text' is null"),
        ("a.jsonl", 1, "missing_text", "no 'text' field (fields: id)"),
        ("b.parquet", 0, "missing_text", "'text' is null")]
