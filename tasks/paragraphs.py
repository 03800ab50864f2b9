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

import pyarrow as pa

from tasks import schema
from tasks.settings import SplitSettings

PARAGRAPHS = schema.columns(schema.PARAGRAPHS, "doc_id", "para_index", "para_id", "text",
                            "char_start", "char_end")

# Not U+0085 (NEL): in real text it is a windows-1252 "…" (byte 0x85) read as Latin-1, which
# fix_mojibake turns back into "…"; as a line break it would cut sentences in two.
_LINE_BREAK = re.compile(r"\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\u2028\u2029]")
_TRIM = "".join(c for c in map(chr, range(0x3000 + 1)) if c.isspace() and c != "\x85")


def para_id(doc_id: str, index: int) -> str:
    return f"{doc_id}:{index}"


def split_paragraphs(documents: pa.Table, settings: SplitSettings) -> pa.Table:
    """One row per paragraph of every document, in document order."""
    cols: dict[str, list] = {name: [] for name in PARAGRAPHS.names}
    for doc_id, text in zip(documents["doc_id"].to_pylist(), documents["text"].to_pylist()):
        for index, (start, end, para) in enumerate(split_text(text, settings.mode)):
            cols["doc_id"].append(doc_id)
            cols["para_index"].append(index)
            cols["para_id"].append(para_id(doc_id, index))
            cols["text"].append(para)
            cols["char_start"].append(start)
            cols["char_end"].append(end)
    return pa.Table.from_pydict(cols, schema=PARAGRAPHS)


def split_text(text: str, mode: str = "auto") -> list[tuple[int, int, str]]:
    """(start, end, text) of each paragraph of `text`."""
    lines = _lines(text)
    if mode == "line":
        return [(a, b, text[a:b]) for a, b in lines if a is not None]
    if mode == "blank_line":
        return [_join(text, block) for block in _blocks(lines)]
    if not _is_hard_wrapped(text, lines):
        return [(a, b, text[a:b]) for a, b in lines if a is not None]
    width = _wrap_width([b - a for a, b in lines if a is not None])
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


def _lines(text: str) -> list[tuple[int | None, int | None]]:
    """Stripped (start, end) of each line; (None, None) for a blank line."""
    spans = []
    pos = 0
    for match in _LINE_BREAK.finditer(text):
        spans.append((pos, match.start()))
        pos = match.end()
    spans.append((pos, len(text)))
    out = []
    for a, b in spans:
        line = text[a:b]
        stripped = line.strip(_TRIM)
        if not stripped:
            out.append((None, None))
            continue
        lead = len(line) - len(line.lstrip(_TRIM))
        trail = len(line) - len(line.rstrip(_TRIM))
        out.append((a + lead, b - trail))
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


def _is_hard_wrapped(text: str, lines: list[tuple[int | None, int | None]]) -> bool:
    """Most lines end near one fixed width (30-110 characters), as a wrapping editor leaves them,
    and the line after a full-width line often goes on mid-sentence (starts in lower case).
    Web text has one paragraph per line: widths spread far beyond that, and a list of headlines
    or menu items starts each line with a capital."""
    lengths = [b - a for a, b in lines if a is not None]
    if len(lengths) < 4:
        return False
    width = _wrap_width(lengths)
    if not 30 <= width <= 110:
        return False
    near = sum(1 for n in lengths if 0.75 * width <= n <= width + 2)
    if near < 0.5 * len(lengths):
        return False
    wrapped_breaks = continued = 0
    for (a, b), (c, _) in pairwise(lines):
        if a is None or c is None or b - a < 0.75 * width:
            continue
        wrapped_breaks += 1
        first = text[c]
        continued += first.islower() or first.isdigit()
    return wrapped_breaks > 0 and continued >= 0.25 * wrapped_breaks
