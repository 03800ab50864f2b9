"""Repair encoding damage (mojibake) with ftfy, leaving correct text alone.

ftfy's defaults also "improve" correct text: they straighten curly quotes (a machine-translation
signal we need), fold full-width characters and ligatures, and NFKC would change compatibility
characters. These settings repair only damage. ftfy works line by line anyway, so running it per
paragraph loses nothing.
"""

from __future__ import annotations

import re

import pyarrow as pa
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


def fix_mojibake(paragraphs: pa.Table, settings: MojibakeSettings) -> pa.Table:
    """Replace `text` with its repaired form and add `mojibake_fixed` (did the text change)."""
    texts = paragraphs["text"].to_pylist()
    if settings.enabled:
        fixed = [fix_paragraph(t) for t in texts]
    else:
        fixed = texts
    changed = pa.array([a != b for a, b in zip(texts, fixed)], type=pa.bool_())
    index = paragraphs.schema.get_field_index("text")
    out = paragraphs.set_column(index, "text", pa.array(fixed, type=pa.string()))
    return out.append_column("mojibake_fixed", changed)

