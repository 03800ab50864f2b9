"""Read input files into a documents table and a rejects table.

Every input record ends up in exactly one of the two: records = documents + rejects. A record is
a .txt file, a non-blank JSONL line, or a Parquet row; a file that cannot be opened at all (or
is empty, binary, of an unsupported type, not a regular file) is one reject with a null
position, and so is a folder that cannot be listed (its source ends in "/").
`source` is the path relative to the raw folder; bytes of it that are not UTF-8 are written
\\xNN (`display_name`, undone by `source_bytes`).
`position` is the 0-based record index in its file: line index for JSONL, row for Parquet,
0 for a .txt file.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO

import pyarrow as pa
import xxhash

from tasks import reasons, schema
from tasks.plan.inputs import (
    FORMATS,
    InputFile,
    NotARegularFile,
    open_regular,
    printable,
    problem_now,
)
from tasks.settings import ReadSettings
from tasks.shard.decode import DecodeError, decode_bytes

READ_DOCUMENTS = schema.columns(schema.DOCUMENTS, "doc_id", "source", "position", "input_id",
                                "url", "meta", "encoding", "decode_replacements", "text")
READ_REJECTS = schema.columns(schema.REJECTS, "source", "position", "error", "detail")

_SURROGATE = re.compile(r"[\ud800-\udfff]")


def make_doc_id(source: str, input_id: str | None, position: int) -> str:
    """Stable id: from the record's own id when it has one, else from its position."""
    key = f"{source}\x00id\x00{input_id}" if input_id is not None else f"{source}\x00pos\x00{position}"
    return xxhash.xxh3_128_hexdigest(key.encode("utf-8", "surrogatepass"))[:20]


@dataclass
class _Collector:
    settings: ReadSettings
    docs: dict[str, list] = field(default_factory=lambda: {n: [] for n in READ_DOCUMENTS.names})
    rejects: dict[str, list] = field(default_factory=lambda: {n: [] for n in READ_REJECTS.names})
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def reject(self, source: str, position: int | None, error: str, detail: str) -> None:
        detail = printable(detail[:1000])  # an OS message may quote a name that is not UTF-8
        for name, value in zip(READ_REJECTS.names, (source, position, error, detail)):
            self.rejects[name].append(value)
        self._count(source, "rejects")

    def document(self, source: str, position: int, text: str, encoding: str, replacements: int,
                 input_id: str | None = None, url: str | None = None, meta: str | None = None,
                 seen_ids: dict[str, int] | None = None) -> None:
        limit = self.settings.max_document_bytes
        if len(text) * 4 > limit and len(text.encode("utf-8", "surrogatepass")) > limit:
            self.reject(source, position, reasons.TOO_LARGE,
                        f"text of {len(text):,} characters exceeds max_document_bytes "
                        f"({limit:,})")
            return
        if not text.strip():
            self.reject(source, position, reasons.EMPTY_TEXT,
                        "the text is empty or only whitespace")
            return
        if seen_ids is not None and input_id is not None:
            if input_id in seen_ids:
                self.reject(source, position, reasons.DUPLICATE_ID,
                            f"id {input_id!r} already used by the record at position "
                            f"{seen_ids[input_id]} of this file")
                return
            seen_ids[input_id] = position
        text, lone = _replace_lone_surrogates(text)
        values = (make_doc_id(source, input_id, position), source, position, input_id, url, meta,
                  encoding, replacements + lone, text)
        for name, value in zip(READ_DOCUMENTS.names, values):
            self.docs[name].append(value)
        self._count(source, "documents")

    def _count(self, source: str, what: str) -> None:
        entry = self.counts.setdefault(source, {"documents": 0, "rejects": 0})
        entry[what] += 1

    def tables(self) -> tuple[pa.Table, pa.Table]:
        return (pa.Table.from_pydict(self.docs, schema=READ_DOCUMENTS),
                pa.Table.from_pydict(self.rejects, schema=READ_REJECTS))


def read_inputs(files: list[InputFile], settings: ReadSettings) -> tuple[pa.Table, pa.Table, dict]:
    """Read `files` in order. Returns (documents, rejects, per-source counts). Never raises for
    bad input: every problem becomes a reject row."""
    out = _Collector(settings)
    for f in files:
        out.counts.setdefault(f.source, {"documents": 0, "rejects": 0})
        problem = f.problem or problem_now(f)
        if problem is not None:
            out.reject(f.source, None, *problem)
        elif f.kind is None:
            out.reject(f.source, None, reasons.UNSUPPORTED_FORMAT,
                       f"unsupported file type (supported: {', '.join(FORMATS)})")
        elif f.size == 0:
            out.reject(f.source, None, reasons.EMPTY_FILE, "the file is empty")
        else:
            try:
                {"txt": _read_txt, "jsonl": _read_jsonl, "parquet": _read_parquet}[f.kind](f, out)
            except NotARegularFile as exc:  # replaced by a FIFO since the check above
                out.reject(f.source, None, reasons.NOT_A_FILE, exc.detail)
            except OSError as exc:  # vanished or unreadable mid-way: keep what was read
                out.reject(f.source, None, reasons.UNREADABLE, f"{type(exc).__name__}: {exc}")
    documents, rejects = out.tables()
    return documents, rejects, out.counts


def _read_txt(f: InputFile, out: _Collector) -> None:
    limit = out.settings.max_document_bytes
    if f.size is not None and f.size > limit:
        out.reject(f.source, 0, reasons.TOO_LARGE,
                   f"file of {f.size:,} bytes exceeds max_document_bytes ({limit:,})")
        return
    with open_regular(f.path) as fh:
        data = fh.read(limit + 1)
    try:
        decoded = decode_bytes(data, out.settings.max_replacement_ratio)
    except DecodeError as exc:
        out.reject(f.source, 0, exc.code, exc.detail)
        return
    out.document(f.source, 0, decoded.text, decoded.encoding, decoded.replacements)


def _iter_lines(fh, limit: int, end: int | None = None) -> Iterator[tuple[bytes | None, int]]:
    """Yield (line, size) per line up to byte `end`; line is None when it is longer than `limit`
    (never held in memory whole)."""
    while end is None or fh.tell() < end:
        line = fh.readline(limit + 1)
        if not line:
            return
        if len(line) > limit and not line.endswith(b"\n"):
            size = len(line)
            while True:
                chunk = fh.readline(1 << 20)
                size += len(chunk)
                if not chunk or chunk.endswith(b"\n"):
                    break
            yield None, size
        else:
            yield line, len(line)


def _read_jsonl(f: InputFile, out: _Collector) -> None:
    s = out.settings
    seen_ids: dict[str, int] = {}
    position = f.first_position  # index of the line being read
    try:
        with open_regular(f.path) as raw, _decompressed(f, raw) as fh:
            if fh is None:
                out.reject(f.source, None, reasons.NOT_GZIP,
                           "not a gzip file: the name ends in .gz but the bytes are not gzip "
                           "data (plain JSONL is read as .jsonl)")
                return
            if f.start:
                fh.seek(f.start)
            for line, size in _iter_lines(fh, s.max_document_bytes, f.end):
                if line is None:
                    out.reject(f.source, position, reasons.TOO_LARGE,
                               f"line of {size:,} bytes exceeds max_document_bytes "
                               f"({s.max_document_bytes:,})")
                elif line.strip():  # a blank line is not a record
                    if position == 0 and line.startswith(b"\xef\xbb\xbf"):
                        line = line[3:]
                    _jsonl_record(f.source, position, line, out, seen_ids)
                position += 1
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        out.reject(f.source, position, reasons.TRUNCATED,
                   f"compressed data is damaged or cut off at line index {position}: {exc}")


_GZIP_MAGIC = b"\x1f\x8b"


@contextmanager
def _decompressed(f: InputFile, raw: BinaryIO) -> Iterator[BinaryIO | None]:
    """The lines' stream: `raw` itself, or gunzipped for a .gz name; None when a .gz file does
    not even start as gzip data (a damaged one later is `truncated`)."""
    if not f.path.lower().endswith(".gz"):
        yield raw
    elif raw.read(len(_GZIP_MAGIC)) != _GZIP_MAGIC:
        yield None
    else:
        raw.seek(0)
        with gzip.GzipFile(fileobj=raw, mode="rb") as fh:
            yield fh


def _jsonl_record(source: str, position: int, line: bytes, out: _Collector,
                  seen_ids: dict[str, int]) -> None:
    s = out.settings
    try:
        decoded = decode_bytes(line, s.max_replacement_ratio)
    except DecodeError as exc:
        out.reject(source, position, exc.code, exc.detail)
        return
    try:
        obj = json.loads(decoded.text)
    except json.JSONDecodeError as exc:
        snippet = decoded.text.strip()[:120]
        out.reject(source, position, reasons.MALFORMED_JSON,
                   f"{exc.msg} at column {exc.colno}: {snippet!r}")
        return
    if not isinstance(obj, dict):
        out.reject(source, position, reasons.NOT_AN_OBJECT,
                   f"a JSON {type(obj).__name__} where an object with a {s.text_field!r} field "
                   "was expected")
        return
    _record_from_mapping(source, position, obj, decoded.encoding, decoded.replacements, out,
                         seen_ids)


def _record_from_mapping(source: str, position: int, obj: dict, encoding: str,
                         replacements: int, out: _Collector, seen_ids: dict[str, int]) -> None:
    s = out.settings
    text = obj.get(s.text_field)
    if text is None:  # a null is no text as much as an absent field (Parquet's missing value)
        fields = ", ".join(list(obj)[:10]) or "none"
        out.reject(source, position, reasons.MISSING_TEXT,
                   f"{s.text_field!r} is null" if s.text_field in obj else
                   f"no {s.text_field!r} field (fields: {fields})")
        return
    if isinstance(text, bytes):
        try:
            decoded = decode_bytes(text, s.max_replacement_ratio)
        except DecodeError as exc:
            out.reject(source, position, exc.code, exc.detail)
            return
        text, encoding, replacements = decoded.text, decoded.encoding, decoded.replacements
    if not isinstance(text, str):
        out.reject(source, position, reasons.BAD_TEXT_TYPE,
                   f"{s.text_field!r} is a {type(text).__name__}, not a string")
        return
    raw_id = obj.get(s.id_field)
    input_id = None if raw_id is None else str(raw_id)
    url = obj.get(s.url_field)
    metadata = obj.get("metadata")
    if url is None and isinstance(metadata, dict):
        url = metadata.get(s.url_field)
    rest = {k: v for k, v in obj.items() if k not in (s.text_field, s.id_field, s.url_field)}
    meta = None
    if rest:
        meta, _ = _replace_lone_surrogates(
            json.dumps(rest, ensure_ascii=False, sort_keys=True, default=str))
    out.document(source, position, text, encoding, replacements, input_id=input_id,
                 url=None if url is None else str(url), meta=meta, seen_ids=seen_ids)


def _read_parquet(f: InputFile, out: _Collector) -> None:
    import pyarrow.parquet as pq

    s = out.settings
    try:  # by path, for Arrow's own file reader (read_inputs checked it is a regular file)
        pf = pq.ParquetFile(f.path)
    except (pa.ArrowInvalid, pa.ArrowException) as exc:
        out.reject(f.source, None, reasons.BAD_PARQUET, f"not a readable Parquet file: {exc}")
        return
    names = pf.schema_arrow.names
    if s.text_field not in names:
        out.reject(f.source, None, reasons.MISSING_TEXT,
                   f"no {s.text_field!r} column (columns: {', '.join(names[:10])})")
        return
    seen_ids: dict[str, int] = {}
    position = 0
    try:
        for batch in pf.iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                _record_from_mapping(f.source, position, row, "utf-8", 0, out, seen_ids)
                position += 1
    except (pa.ArrowInvalid, pa.ArrowException) as exc:
        out.reject(f.source, position, reasons.BAD_PARQUET,
                   f"cannot read rows from position {position} on: {exc}")


def _replace_lone_surrogates(text: str) -> tuple[str, int]:
    """JSON may escape half of a surrogate pair (json.loads joins whole pairs itself); such text
    cannot be stored as UTF-8, so each half becomes U+FFFD and is counted."""
    if not _SURROGATE.search(text):
        return text, 0
    return _SURROGATE.subn("\ufffd", text)
