"""Repair encoding damage (mojibake) with ftfy, leaving correct text alone.

ftfy's defaults also "improve" correct text: they straighten curly quotes (a machine-translation
signal we need), fold full-width characters and ligatures, and NFKC would change compatibility
characters. These settings repair only damage. ftfy works line by line anyway, so running it per
paragraph loses nothing.

Fast path, exact: with these settings ftfy changes a paragraph only if it has an HTML entity
(`&`), a control character ftfy removes or repairs, or mojibake that ftfy's own badness test
finds (ftfy does not try to re-decode text that test calls good); otherwise its result is the NFC
form. The three tests run over the whole column in Arrow's C++ regex engine (the badness
pattern is ftfy's, rewritten from Python's verbose syntax), NFC too, and only the paragraphs
they flag go through ftfy in Python. A test checks the fast path gives what ftfy gives.
"""

from __future__ import annotations

import re
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from ftfy import TextFixerConfig, fix_text

from tasks.settings import MojibakeSettings

FTFY_CONFIG = TextFixerConfig(
    unescape_html="auto",
    remove_terminal_escapes=True,
    fix_encoding=True,
    restore_byte_a0=True,
    replace_lossy_sequences=True,
    decode_inconsistent_utf8=True,
    fix_c1_controls=True,
    fix_latin_ligatures=False,
    fix_character_width=False,
    uncurl_quotes=False,
    fix_line_breaks=False,  # paragraphs are single lines already
    fix_surrogates=True,
    remove_control_chars=True,
    normalization="NFC",
    explain=False,
)

# What ftfy could change in pure-ASCII text: HTML entities and control characters.
_ASCII_NEEDS_FTFY = re.compile(r"[&\x00-\x08\x0b-\x1f\x7f]")


def fix_paragraph(text: str) -> str:
    if text.isascii() and not _ASCII_NEEDS_FTFY.search(text):
        return text
    fixed = fix_text(text, FTFY_CONFIG)
    # An unescaped entity such as &#10; must not put a line break into a paragraph.
    return fixed.replace("\n", " ") if "\n" in fixed else fixed


@cache
def _needs_ftfy_pattern() -> str:
    """Entities, and every character ftfy's control-character and C1 fixes touch."""
    from ftfy.chardata import CONTROL_CHARS

    chars = sorted(set(CONTROL_CHARS) | set(range(0x80, 0xA0)))
    return "[&" + "".join(f"\\x{{{c:x}}}" for c in chars) + "]"


@cache
def badness_pattern() -> str:
    """ftfy's BADNESS_RE with Python's verbose-mode whitespace and comments taken out, so that
    Arrow's RE2 engine reads it the same way."""
    from ftfy.badness import BADNESS_RE

    pattern, out, i, in_class = BADNESS_RE.pattern, [], 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c.isspace():
            i += 1
            continue
        elif c == "#":
            end = pattern.find("\n", i)
            i = len(pattern) if end < 0 else end
            continue
        out.append(c)
        i += 1
    return "".join(out)


def fix_texts(texts: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Repaired texts and a per-row changed mask, ftfy called only where it can change text."""
    texts = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
    if not len(texts):
        return texts, np.zeros(0, dtype=bool)
    ascii_rows = pc.string_is_ascii(texts)
    candidates = pc.or_(pc.match_substring_regex(texts, _needs_ftfy_pattern()),
                        pc.and_(pc.invert(ascii_rows),
                                pc.match_substring_regex(texts, badness_pattern())))
    # NFC for the other non-ASCII rows (Arrow, in bulk); ftfy for the candidates.
    fixed = pc.if_else(pc.or_(ascii_rows, candidates), texts, pc.utf8_normalize(texts, "NFC"))
    rows = np.flatnonzero(candidates.to_numpy(zero_copy_only=False))
    if len(rows):
        repaired = pa.array([fix_paragraph(t) for t in texts.take(pa.array(rows)).to_pylist()],
                            type=pa.string())
        mask = np.zeros(len(texts), dtype=bool)
        mask[rows] = True
        fixed = pc.replace_with_mask(fixed, pa.array(mask), repaired)
    changed = pc.not_equal(fixed, texts).to_numpy(zero_copy_only=False)
    return fixed, changed


def fix_mojibake(paragraphs: pa.Table, settings: MojibakeSettings) -> pa.Table:
    """Replace `text` with its repaired form and add `mojibake_fixed` (did the text change)."""
    texts = paragraphs["text"].combine_chunks()
    if settings.enabled:
        fixed, changed = fix_texts(texts)
    else:
        fixed, changed = texts, np.zeros(len(texts), dtype=bool)
    index = paragraphs.schema.get_field_index("text")
    out = paragraphs.set_column(index, "text", fixed)
    return out.append_column("mojibake_fixed", pa.array(changed, type=pa.bool_()))
