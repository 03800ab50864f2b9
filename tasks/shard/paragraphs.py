"""Split documents into paragraphs, the unit every later stage tags.

Scraped web text (Common Crawl WET, trafilatura, news scrapers) puts one block per line, so by
default every non-empty line is a paragraph. Plain text that was hard-wrapped at a fixed width
(e-mail, Project Gutenberg, old archives) would be cut into half-sentences that way, so `auto`
recognises such documents and joins the wrapped lines again.

`char_start`/`char_end` are code-point offsets into the decoded document text, so a paragraph
can always be traced back to its input. Paragraph text is single-line: joined lines are joined
with one space.
"""

from __future__ import annotations

import re
from itertools import pairwise

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks import schema
from tasks.settings import SplitSettings

PARAGRAPHS = schema.columns(schema.PARAGRAPHS, "doc_id", "para_index", "para_id", "text",
                            "char_start", "char_end")

# Not U+0085 (NEL): in real text it is a windows-1252 "…" (byte 0x85) read as Latin-1, which
# fix_mojibake turns back into "…"; as a line break it would cut sentences in two.
_LINE_BREAK = re.compile(r"\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\u2028\u2029]")
_TRIM = "".join(c for c in map(chr, range(0x3000 + 1)) if c.isspace() and c != "\x85")
_BREAK_CHARS = "\n\r\x0b\x0c\x1c\x1d\x1e\u2028\u2029"
# A line's content: from its first to its last character that is not white space.
_CONTENT_LINE = re.compile(
    f"[^{re.escape(_TRIM)}](?:[^{re.escape(_BREAK_CHARS)}]*[^{re.escape(_TRIM)}])?")


def para_id(doc_id: str, index: int) -> str:
    return f"{doc_id}:{index}"


def split_paragraphs(documents: pa.Table, settings: SplitSettings) -> pa.Table:
    """One row per paragraph of every document, in document order."""
    doc_ids, starts, ends, texts, counts = [], [], [], [], []
    for text in documents["text"].to_pylist():
        paragraphs = split_text(text, settings.mode)
        counts.append(len(paragraphs))
        for start, end, para in paragraphs:
            starts.append(start)
            ends.append(end)
            texts.append(para)
    counts_arr = np.array(counts, dtype=np.int64)
    doc_ids = documents["doc_id"].combine_chunks().take(
        pa.array(np.repeat(np.arange(len(counts)), counts_arr)))
    index = np.arange(len(texts)) - np.repeat(np.cumsum(counts_arr) - counts_arr, counts_arr)
    para_ids = pc.binary_join_element_wise(doc_ids, pc.cast(pa.array(index), pa.string()), ":")
    return pa.Table.from_arrays(
        [doc_ids, pa.array(index, type=pa.int32()), para_ids, pa.array(texts, type=pa.string()),
         pa.array(starts, type=pa.int64()), pa.array(ends, type=pa.int64())],
        schema=PARAGRAPHS)


def split_text(text: str, mode: str = "auto") -> list[tuple[int, int, str]]:
    """(start, end, text) of each paragraph of `text`."""
    spans = [m.span() for m in _CONTENT_LINE.finditer(text)]
    if mode == "line" or (mode == "auto" and not _widths_look_wrapped([b - a for a, b in spans])):
        return [(a, b, text[a:b]) for a, b in spans]
    lines = _with_blank_lines(text, spans)
    if mode == "blank_line":
        return [_join(text, block) for block in _blocks(lines)]
    if not _is_hard_wrapped(text, lines):
        return [(a, b, text[a:b]) for a, b in spans]
    width = _wrap_width([b - a for a, b in spans])
    paragraphs = []
    for block in _blocks(lines):
        current = [block[0]]
        for span in block[1:]:
            prev_start, prev_end = current[-1]
            if prev_end - prev_start >= 0.75 * width:
                current.append(span)
            else:
                paragraphs.append(_join(text, current))
                current = [span]
        paragraphs.append(_join(text, current))
    return paragraphs


def _with_blank_lines(text: str, spans: list[tuple[int, int]]) -> list[tuple[int | None, int | None]]:
    """The content lines' spans, with (None, None) where one or more blank lines separate two."""
    out: list[tuple[int | None, int | None]] = []
    previous_end = None
    for a, b in spans:
        if previous_end is not None and a - previous_end > 1 and \
                len(_LINE_BREAK.findall(text, previous_end, a)) > 1:
            out.append((None, None))
        out.append((a, b))
        previous_end = b
    return out


def _blocks(lines: list[tuple[int | None, int | None]]) -> list[list[tuple[int, int]]]:
    blocks: list[list[tuple[int, int]]] = [[]]
    for a, b in lines:
        if a is None:
            if blocks[-1]:
                blocks.append([])
        else:
            blocks[-1].append((a, b))
    return [block for block in blocks if block]


def _join(text: str, block: list[tuple[int, int]]) -> tuple[int, int, str]:
    return block[0][0], block[-1][1], " ".join(text[a:b] for a, b in block)


def _wrap_width(lengths: list[int]) -> int:
    ordered = sorted(lengths)
    return ordered[int(0.95 * (len(ordered) - 1))]


def _widths_look_wrapped(lengths: list[int]) -> bool:
    """Most lines end near one fixed width (30-110 characters), as a wrapping editor leaves
    them. Web text has one paragraph per line: widths spread far beyond that."""
    if len(lengths) < 4:
        return False
    width = _wrap_width(lengths)
    if not 30 <= width <= 110:
        return False
    near = sum(1 for n in lengths if 0.75 * width <= n <= width + 2)
    return near >= 0.5 * len(lengths)


def _is_hard_wrapped(text: str, lines: list[tuple[int | None, int | None]]) -> bool:
    """Widths as a wrapping editor leaves them, and the line after a full-width line often goes
    on mid-sentence (starts in lower case); a list of headlines or menu items starts each line
    with a capital."""
    lengths = [b - a for a, b in lines if a is not None]
    if not _widths_look_wrapped(lengths):
        return False
    width = _wrap_width(lengths)
    wrapped_breaks = continued = 0
    for (a, b), (c, _) in pairwise(lines):
        if a is None or c is None or b - a < 0.75 * width:
            continue
        wrapped_breaks += 1
        first = text[c]
        continued += first.islower() or first.isdigit()
    return wrapped_breaks > 0 and continued >= 0.25 * wrapped_breaks
