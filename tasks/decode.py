"""Turn input bytes into text honestly: never `errors="ignore"`.

Order:
1. a byte-order mark decides (UTF-8, UTF-16, UTF-32);
2. NUL bytes: UTF-16 or UTF-32 without a BOM (by where the NULs fall), else not text;
3. ISO-2022-JP/KR escape sequences (7-bit, so they would pass as UTF-8 or look like controls);
4. strict UTF-8;
5. "mostly UTF-8" (valid multi-byte sequences with a few bad bytes, as when a file was cut and
   pasted together): U+FFFD for the bad bytes, counted;
6. a legacy encoding: charset-normalizer's candidates, plus the common single-byte code pages,
   each decoded strictly; the text that reads best wins: least mess (charset-normalizer's
   mess ratio) and then the highest language-id confidence (lid.176), which tells ISO-8859-2 from
   windows-1250 or Latin-1 from windows-1250 where both decode without error.
Bytes that are not text are refused with a reason.
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
        wide = _guess_utf16_32_without_bom(data)
        if wide:
            return _decode_with(data, wide, max_replacement_ratio)
        raise DecodeError("binary", f"NUL bytes in the input ({data.count(0)} of {len(data)} bytes)")

    if b"\x1b$" in data and data.isascii():
        for encoding in ("iso2022_jp", "iso2022_kr"):
            try:
                return _checked(Decoded(data.decode(encoding), encoding, 0))
            except UnicodeDecodeError:
                continue

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

    return _legacy(data)


# Latin-script code pages: charset-normalizer often ranks several of them equal (or leaves the
# right one out), and they give different letters for the same bytes (ą/±, ã/ă, ő/õ).
_LATIN = ("cp1252", "iso8859_15", "cp1250", "iso8859_2", "iso8859_1", "cp1257", "iso8859_13",
          "cp1254", "iso8859_9", "cp1258", "iso8859_4", "iso8859_10", "iso8859_14", "iso8859_16",
          "mac_roman", "cp850", "cp852")
_C1 = re.compile("[\x80-\x9f]")
_MESS_MARGIN = 0.02
_SAMPLE_CHARS = 4000


def _legacy(data: bytes) -> Decoded:
    from charset_normalizer import from_bytes  # imported here: only legacy input needs it

    matches = list(from_bytes(data))
    if not matches or matches[0].encoding is None:
        raise DecodeError("undecodable", "not UTF-8 and no legacy encoding fits")
    best = matches[0]
    if _codec_key(best.encoding) not in _LATIN:
        return _checked(Decoded(str(best), _python_codec_name(best.encoding), 0))
    candidates = [m.encoding for m in matches if _codec_key(m.encoding) in _LATIN]
    return _checked(_best_reading(data, candidates + ["cp1252", "cp1250", "iso8859_2"]))


def _codec_key(name: str) -> str:
    return _python_codec_name(name).replace("-", "_")


def _best_reading(data: bytes, encodings: list[str]) -> Decoded:
    """The candidate whose text reads best: least mess, then the most confident language."""
    from charset_normalizer.md import mess_ratio

    from tasks.language import _load, fasttext_model_path, prepare_text

    texts: dict[str, str] = {}  # decoded text -> first encoding that gave it
    for encoding in encodings:
        try:
            text = data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
        texts.setdefault(text, _python_codec_name(encoding))
    if not texts:
        raise DecodeError("undecodable", "no legacy encoding decodes these bytes")
    if len(texts) == 1:
        (text, encoding), = texts.items()
        return Decoded(text, encoding, 0)
    # C1 control characters (U+0080-U+009F) are bytes a code page left unmapped, never text.
    clean = [t for t in texts if not _C1.search(t)]
    if clean and len(clean) < len(texts):
        texts = {t: texts[t] for t in clean}
    mess = {t: mess_ratio(t[:_SAMPLE_CHARS], maximum_threshold=1.0) for t in texts}
    least = min(mess.values())
    readable = [t for t in texts if mess[t] <= least + _MESS_MARGIN]
    predict = _load(fasttext_model_path()).predict

    def confidence(text: str) -> float:
        # Mean over pieces of 12 words: on a whole page lid.176 is sure of every candidate.
        # (lid.176 alone: with textwash's resolver, 4 more files of the eval went wrong.)
        words = text[:_SAMPLE_CHARS].split()
        pieces = [" ".join(words[i:i + 12]) for i in range(0, len(words), 12)] or [""]
        total = 0.0
        for piece in pieces:
            found = predict(prepare_text(piece) + "\n", 1, 0.0, "replace")
            total += found[0][0] if found else 0.0
        return total / len(pieces)

    text = max(readable, key=confidence)  # max keeps the first of equals: candidate order
    return Decoded(text, texts[text], 0)


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


def _guess_utf16_32_without_bom(data: bytes) -> str | None:
    """UTF-16 text without a BOM has NUL in every other byte for Latin script, UTF-32 in three
    bytes of every four."""
    sample = data[:4096]
    lanes = [sample[i::4].count(0) for i in range(4)]
    quarter = len(sample) / 4
    if len(sample) % 4 == 0 and quarter:
        if lanes[1] > 0.9 * quarter and lanes[2] > 0.9 * quarter and lanes[3] > 0.9 * quarter:
            return "utf-32-le"
        if lanes[0] > 0.9 * quarter and lanes[1] > 0.9 * quarter and lanes[2] > 0.9 * quarter:
            return "utf-32-be"
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
