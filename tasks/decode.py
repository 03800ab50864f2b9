"""Turn input bytes into text honestly: never `errors="ignore"`.

Order: a byte-order mark decides (UTF-8, UTF-16, UTF-32); otherwise strict UTF-8; otherwise
"mostly UTF-8" (valid multi-byte sequences with a few bad bytes, as when a file was cut and pasted
together) is decoded with U+FFFD for the bad bytes and the count recorded; otherwise charset
detection (charset-normalizer) picks a legacy encoding. Bytes that are not text are refused.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

_BOMS = (  # longest first: the UTF-32-LE BOM starts with the UTF-16-LE one
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# Control characters other than tab, newlines and form feed: text has almost none of them.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
# A valid UTF-8 multi-byte sequence (2 to 4 bytes).
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
_MAX_CONTROL_SHARE = 0.05
_UTF8_REPLACEMENT_CHAR = "\ufffd".encode()


class DecodeError(ValueError):
    """The bytes are not text we can decode. `code` is the reject reason."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str
    replacements: int  # U+FFFD characters inserted for bytes that could not be decoded


def decode_bytes(data: bytes, max_replacement_ratio: float = 0.01) -> Decoded:
    """Decode `data` or raise DecodeError with a reason code and a human-readable detail."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _decode_with(data[len(bom):], encoding, max_replacement_ratio)

    if b"\x00" in data:
        utf16 = _guess_utf16_without_bom(data)
        if utf16:
            return _decode_with(data, utf16, max_replacement_ratio)
        raise DecodeError("binary", f"NUL bytes in the input ({data.count(0)} of {len(data)} bytes)")

    try:
        return _checked(Decoded(data.decode("utf-8"), "utf-8", 0))
    except UnicodeDecodeError:
        pass

    # Mostly UTF-8: a legacy encoding almost never forms valid multi-byte UTF-8 sequences.
    valid_multibyte = len(_UTF8_MULTIBYTE.findall(data))
    if valid_multibyte:
        text = data.decode("utf-8", errors="replace")
        bad = text.count("\ufffd") - data.count(_UTF8_REPLACEMENT_CHAR)
        if bad <= valid_multibyte:
            return _decode_with(data, "utf-8", max_replacement_ratio)

    from charset_normalizer import from_bytes  # imported here: only legacy input needs it

    best = from_bytes(data).best()
    if best is None or best.encoding is None:
        raise DecodeError("undecodable", "not UTF-8 and no legacy encoding fits")
    return _checked(Decoded(str(best), _python_codec_name(best.encoding), 0))


def _decode_with(data: bytes, encoding: str, max_replacement_ratio: float) -> Decoded:
    text = data.decode(encoding, errors="replace")
    # U+FFFD that were in the input already are not replacements we made.
    replaced = text.count("\ufffd") - data.count("\ufffd".encode(encoding))
    if replaced and replaced > max_replacement_ratio * max(len(text), 1):
        raise DecodeError(
            "undecodable",
            f"{replaced} of {len(text)} characters are not valid {encoding} "
            f"(limit {max_replacement_ratio:.1%})",
        )
    return _checked(Decoded(text, encoding, replaced))


def _checked(decoded: Decoded) -> Decoded:
    controls = len(_CONTROL.findall(decoded.text))
    if controls > _MAX_CONTROL_SHARE * max(len(decoded.text), 1):
        raise DecodeError(
            "binary",
            f"{controls} control characters in {len(decoded.text)} decoded as {decoded.encoding}",
        )
    return decoded


def _guess_utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 text without a BOM has NUL in every other byte for Latin script."""
    sample = data[:4096]
    even_nul = sample[0::2].count(0)
    odd_nul = sample[1::2].count(0)
    half = len(sample) / 2
    if odd_nul > 0.4 * half and even_nul < 0.05 * half:
        return "utf-16-le"
    if even_nul > 0.4 * half and odd_nul < 0.05 * half:
        return "utf-16-be"
    return None


def _python_codec_name(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return name
