"""Turn input bytes into text honestly: never `errors="ignore"`.

Decision order (the first step that applies decides):
1. a byte-order mark: UTF-8, UTF-16 or UTF-32;
2. NUL bytes: UTF-16 or UTF-32 without a BOM when they fall in every other (every fourth) byte
   or charset-normalizer says so (CJK text in UTF-16 has NULs only beside ASCII); else they
   are stray bytes in text (a damaged file, a bad join): each becomes U+FFFD, counted as a
   replacement, and the other bytes are decoded by the steps below. More NULs than
   `max_replacement_ratio` of the bytes: `binary`;
3. ISO-2022-JP/KR escape sequences (7-bit, so they would pass as UTF-8 or look like controls);
4. strict UTF-8;
5. "mostly UTF-8": at least as many valid multi-byte sequences as bad bytes (a legacy code
   page almost never forms valid UTF-8 sequences; a file cut and pasted together does): U+FFFD
   for the bad bytes, counted;
6. a legacy code page, when one reads the bytes as text. Candidates: charset-normalizer's best
   guess when it is not a Latin-script code page (Cyrillic, Greek, CJK, UTF-16, ...),
   windows-1252, windows-1250, ISO-8859-2, MacRoman, and the Latin-script code pages
   charset-normalizer names (they decode the same bytes to different letters without error).
   Each decodes strictly; the winner has the most plausible characters (below; letters of one
   language; within 0.01), then the fewest unusual characters (letters that the language of
   the surrounding ASCII words, by lid.176, does not have; symbols other than common
   punctuation), then comes first in the order above. It is taken when at least 90% of its
   characters beyond ASCII are plausible;
7. otherwise the bytes above 0x7F are corrupt, not a code page: U+FFFD for each, counted.
Whatever the step, control characters (other than tab, newlines, form feed) in more than 5% of
the text make it `binary`; and in steps 1, 2, 5 and 7 the input is `undecodable` when more
than `max_replacement_ratio` (1%) of its characters would be replaced.

Plausible characters beyond ASCII (of the first 500):
- a Latin letter that keeps the case of its word (not a capital after a small letter, not a
  small letter before a capital) and that is a letter of the language with the most of the
  text's letters (`_ALPHABETS`) or, for the 90% rule, of a second language with several of the
  rest, or of any language when the first has 80% of them (names, loanwords). French read as
  windows-1257 gives "élčves", "déją": letters no language has together;
- a letter of another script that does not stand alone against a Latin word ("heжllo");
- a combining mark on a letter of its script; a space or format character;
- punctuation, a symbol or a digit not inside a Latin word, except apostrophes, dashes, the
  middle dot and the soft hyphen, which may be;
- never a C1 control, a private-use or an unassigned character.
So stray bytes in ASCII text that read as private-use characters, as "ð", "÷" and "ù" inside
English words or as "Ã" after a small letter are U+FFFD, random high bytes are `undecodable`,
and a windows-1252 text with a few "é" inside its words stays windows-1252. A few corrupt bytes
that happen to read as letters of one language inside words (or as punctuation between words)
cannot be told from a code page, and are read as one.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from tasks import reasons

_BOMS = (  # longest first: the UTF-32-LE BOM starts with the UTF-16-LE one
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# Control characters other than tab, newlines and form feed: text has almost none of them.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_CONTROL_BYTES = bytes([*range(0x09), *range(0x0E, 0x20), 0x7F])
# A valid UTF-8 multi-byte sequence (2 to 4 bytes).
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
_MAX_CONTROL_SHARE = 0.05


class DecodeError(ValueError):
    """The bytes are not text we can decode. `code` is the reject reason (tasks/reasons.py)."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str
    replacements: int  # U+FFFD characters put in for bytes that could not be decoded (and NULs)


def decode_bytes(data: bytes, max_replacement_ratio: float = 0.01) -> Decoded:
    """Decode `data` or raise DecodeError with a reason code and a human-readable detail."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _decode_with(data[len(bom):], encoding, max_replacement_ratio)

    nuls = data.count(0)
    if nuls:
        wide = _guess_utf16_32_without_bom(data) or _wide_by_detection(data)
        if wide:
            return _decode_with(data, wide, max_replacement_ratio)
        if nuls > max_replacement_ratio * len(data):
            raise DecodeError(
                reasons.BINARY, f"NUL bytes in the input ({nuls} of {len(data)} bytes, "
                          f"more than the {max_replacement_ratio:.1%} of stray bytes allowed)")
        # Stray NULs (a damaged file, a bad join): the rest says how to read the text.
        without = _decode_ascii_compatible(data.replace(b"\x00", b""), max_replacement_ratio)
        return _decode_with(data, without.encoding, max_replacement_ratio)
    return _decode_ascii_compatible(data, max_replacement_ratio)


def _decode_ascii_compatible(data: bytes, max_replacement_ratio: float) -> Decoded:
    """Steps 3-7 of the module docstring, for bytes without NULs. (UTF-16 text without NULs
    is charset-normalizer's guess in step 6.)"""
    if b"\x1b$" in data and data.isascii():
        for encoding in ("iso2022_jp", "iso2022_kr"):
            try:
                return _checked(Decoded(data.decode(encoding), encoding, 0))
            except UnicodeDecodeError:
                continue

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        _refuse_binary(data)
        return Decoded(text, "utf-8", 0)

    valid_multibyte = len(_UTF8_MULTIBYTE.findall(data))
    if valid_multibyte and _bad_utf8_bytes(data) <= valid_multibyte:
        return _decode_with(data, "utf-8", max_replacement_ratio)

    reading = _legacy_reading(data)
    if reading is not None:
        return _checked(reading)
    # No code page reads the bytes above 0x7F as text: they are corrupt, or this is not text.
    _refuse_binary(data)
    try:
        return _decode_with(data, "utf-8", max_replacement_ratio)
    except DecodeError as exc:
        raise DecodeError(reasons.UNDECODABLE, f"{exc.detail}; no legacy encoding reads it as text")


def _refuse_binary(data: bytes) -> None:
    """Raise `binary` for too many control bytes. Counted on the bytes (faster than searching
    the text): UTF-8 keeps them as they are."""
    controls = len(data) - len(data.translate(None, _CONTROL_BYTES))
    if controls > _MAX_CONTROL_SHARE * max(len(data), 1):
        raise DecodeError(reasons.BINARY, f"{controls} control bytes in {len(data)}")


def _wide_by_detection(data: bytes) -> str | None:
    """UTF-16 or UTF-32 without a BOM where the NULs do not show it (CJK text has none of its
    own, a few spaces give a few): charset-normalizer's guess."""
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    name = _python_codec_name(best.encoding) if best is not None and best.encoding else ""
    return name if name.startswith(("utf-16", "utf-32")) else None


def _bad_utf8_bytes(data: bytes) -> int:
    return data.decode("utf-8", errors="replace").count("\ufffd") - data.count("\ufffd".encode())


# Tried whatever charset-normalizer says, in this order (the common code pages first): Latin
# code pages decode the same bytes to different letters without error (ą/±, ã/ă, ő/õ, ’/Õ),
# and charset-normalizer often ranks several of them equal or leaves the right one out.
_ALWAYS_TRIED = ("cp1252", "cp1250", "iso8859_2", "mac_roman")
_MIN_LATIN_LETTERS = 24  # of the 128 upper bytes; windows-1252 has 60
_PLAUSIBLE_MARGIN = 0.01
_MIN_PLAUSIBLE = 0.9


def _legacy_reading(data: bytes) -> Decoded | None:
    """The legacy code page that reads `data` as text (step 6), or None when none does."""
    from charset_normalizer import from_bytes  # imported here: only legacy input needs it

    guesses = [m.encoding for m in from_bytes(data) if m.encoding is not None]
    # Its best guess, when not a Latin code page (Cyrillic, CJK, ...), goes first.
    first = guesses[:1] if guesses and not _is_latin_code_page(guesses[0]) else []
    latin = [e for e in guesses if _is_latin_code_page(e)]
    return _best_reading(data, [*first, *_ALWAYS_TRIED, *latin])


@lru_cache(maxsize=256)
def _is_latin_code_page(encoding: str) -> bool:
    """A single-byte code page whose upper half is mostly Latin letters (windows-1252, MacRoman,
    DOS 850, ...), not Cyrillic, Greek, Hebrew, Arabic, Thai or the lead bytes of CJK."""
    letters = latin = 0
    for byte in range(0x80, 0x100):
        try:
            char = bytes([byte]).decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
        if len(char) == 1 and char.isalpha():
            letters += 1
            latin += unicodedata.name(char, "").startswith("LATIN")
    return latin > 0.5 * letters and latin >= _MIN_LATIN_LETTERS


def _best_reading(data: bytes, encodings: list[str]) -> Decoded | None:
    """Of the strict decodings with `encodings` (in order of preference): those with the most
    plausible characters (letters of one language), then the fewest unusual ones, then the
    first. None when no encoding decodes `data` or the best does not read as text."""
    texts: dict[str, str] = {}  # decoded text -> first encoding that gave it
    for encoding in encodings:
        try:
            text = data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
        texts.setdefault(text, _python_codec_name(encoding))
    if not texts:
        return None
    positions = _high_byte_positions(data)
    contexts = {t: _contexts(t, positions if len(t) == len(data) else None) for t in texts}
    shares = {t: _plausible_shares(contexts[t]) for t in texts}
    readable = _within_margin(list(texts), lambda t: -shares[t][0], _PLAUSIBLE_MARGIN)
    if len(readable) > 1:
        alphabet = _alphabet_of_language(data)
        readable = _within_margin(
            readable, lambda t: _unusual_characters(contexts[t], alphabet), 0)
    text = readable[0]
    if shares[text][1] < _MIN_PLAUSIBLE:
        return None
    return Decoded(text, texts[text], 0)


_PIECE_CHARS = 36  # on each side: about 12 words around the byte
_MAX_PIECES = 40


def _pieces_around_high_bytes(data: bytes) -> list[tuple[int, int]]:
    """Spans around the first bytes above 0x7F, where single-byte readings differ (one byte is
    one character in all of them)."""
    spans: list[tuple[int, int]] = []
    for match in _HIGH_BYTE.finditer(data):
        if spans and match.start() < spans[-1][1]:
            continue  # already inside the last piece
        if len(spans) == _MAX_PIECES:
            break
        spans.append((max(match.start() - _PIECE_CHARS, 0), match.start() + _PIECE_CHARS))
    return spans


def _within_margin(texts: list[str], cost, margin: float) -> list[str]:
    """The texts whose cost is at most `margin` above the lowest, in their order."""
    costs = [cost(t) for t in texts]
    lowest = min(costs)
    return [t for t, c in zip(texts, costs) if c <= lowest + margin]


def _alphabet_of_language(data: bytes) -> frozenset[str]:
    """The letters of the languages lid.176 sees in the ASCII words around the bytes above 0x7F
    (the same for every reading); empty when none of its three best has letters of its own."""
    from tasks.shard.language import _load, fasttext_model_path, to_code

    skeleton = b" ".join(data[a:b] for a, b in _pieces_around_high_bytes(data))
    line = " ".join(re.sub(rb"[\x80-\xff]", b" ", skeleton).decode("ascii").split())
    found = _load(fasttext_model_path()).predict(line + "\n", 3, 0.0, "replace")
    letters = [_LANGUAGE_LETTERS.get(to_code(label), "") for _, label in found]
    return frozenset("".join(letters))


def _unusual_characters(contexts: Counter, alphabet: frozenset[str]) -> int:
    """Among the sampled characters beyond ASCII: letters that `alphabet` (when not empty) does
    not have, and symbols other than common punctuation."""
    unusual = 0
    chars: Counter = Counter()
    for (_, char, _), n in contexts.items():
        chars[char] += n
    for char, n in chars.items():
        kind = _kind(char)
        if kind == _UPPER or kind == _LOWER or kind == _OTHER_LETTER:
            unusual += n * (bool(alphabet) and _letter_key(char) not in alphabet)
        elif kind == _SYMBOL or kind == _NEVER:
            unusual += n * (char not in _COMMON_PUNCTUATION)
    return unusual


# The letters beyond ASCII of Latin-script languages (small letters; "İ" has no one-letter
# small form). A reading's letters should mostly be one language's. Vietnamese: the letters
# windows-1258 has whole (it writes the tones as combining marks).
_ALPHABETS = {  # language codes (textwash's, as lid.176 answers) -> letters
    "fr": "àâæçéèêëîïôœùûüÿ", "de lb gsw": "äöüß", "es gl": "áéíñóúü", "pt": "áâãàçéêíóôõúü",
    "it": "àèéìíîòóùú", "ca": "àçèéíïòóúü", "nl": "áéèëïóöü", "da nb nn no": "æøåé",
    "sv": "åäöé", "fi": "äöåšž", "is": "áðéíóúýþæö", "fo": "áðíóúýæø", "et": "äöõüšž",
    "lv": "āčēģīķļņšūž", "lt": "ąčęėįšųūž", "pl": "ąćęłńóśźż", "cs": "áčďéěíňóřšťúůýž",
    "sk": "áäčďéíĺľňóôŕšťúýž", "sl hr bs sr hbs": "čćđšž", "hu": "áéíóöőúüű",
    "ro": "ăâîșțşţ", "tr": "âçğıİîöşûü", "az": "çəğıİöşü", "ku": "çêîşû", "sq": "çë",
    "mt": "àèìòùċġħż", "eo": "ĉĝĥĵŝŭ", "cy": "âêîôûŵŷàáèéïöẁẃẅỳý", "ga": "áéíóú",
    "gd": "àèìòù", "af": "áäéèêëíïóôöúûüŉ", "br": "âêîñôùü", "eu": "ñü",
    "vi": "àáâãèéêíòóôõùúýăđơư",
}
_LANGUAGE_LETTERS = {code: letters for codes, letters in _ALPHABETS.items()
                     for code in codes.split()}
_ALPHABET_SETS = tuple(frozenset(letters) for letters in _ALPHABETS.values())
_ANY_ALPHABET = frozenset().union(*_ALPHABET_SETS)
_ALPHABETS_WITH = {letter: tuple(i for i, a in enumerate(_ALPHABET_SETS) if letter in a)
                   for letter in _ANY_ALPHABET}
# May stand between two letters of a word: apostrophes, dashes, middle dot, soft hyphen.
_WORD_JOINERS = frozenset("\u2019\u2018\u02bc\u00b4`\u00b7\u2010\u2011\u2013\u2014\u00ad")
# Punctuation and symbols that are common in text written in Latin script.
_COMMON_PUNCTUATION = frozenset("’‘“”„‚«»‹›–—…•·€£°©®™¿¡§\u00a0\u00ad")
_PLAUSIBLE_SAMPLE = 500  # non-ASCII characters looked at
# Where the first _PLAUSIBLE_SAMPLE of them end (possessive: no backtracking on long ASCII).
_SAMPLE_END = re.compile(rf"(?:[\x00-\x7f]*+[^\x00-\x7f]){{{_PLAUSIBLE_SAMPLE}}}")
_SAMPLE_END_BYTES = re.compile(rb"(?:[\x00-\x7f]*+[\x80-\xff]){%d}" % _PLAUSIBLE_SAMPLE)
_HIGH_BYTE = re.compile(rb"[\x80-\xff]")
_IN_CONTEXT = re.compile(r"(?s)(?<=(.))([^\x00-\x7f])(?=(.))")
_MIN_SECOND_LANGUAGE_LETTERS = 3
_DOMINANT_LANGUAGE_SHARE = 0.8


def _high_byte_positions(data: bytes) -> list[int]:
    """Where the first bytes above 0x7F are: the non-ASCII characters of any single-byte
    reading (one byte, one character)."""
    head = _SAMPLE_END_BYTES.match(data)
    return [m.start() for m in _HIGH_BYTE.finditer(data, 0, head.end() if head else len(data))]


def _contexts(text: str, positions: list[int] | None) -> Counter:
    """(character before, character, character after) of the first non-ASCII characters of
    `text` (at `positions` when given), with their counts; a space stands for the edges."""
    if positions is not None:
        last = len(text) - 1
        return Counter((text[i - 1] if i else " ", text[i], text[i + 1] if i < last else " ")
                       for i in positions)
    head = _SAMPLE_END.match(text)
    sample = " " + text[:head.end() + 1] if head else f" {text} "
    return Counter(_IN_CONTEXT.findall(sample))


# Kinds of character, for _plausible_shares.
_UPPER, _LOWER, _OTHER_LETTER, _MARK, _SPACE, _SYMBOL, _NEVER, _ASCII_UPPER, _ASCII_LOWER, \
    _ASCII_OTHER = range(10)
_LATIN_LETTER = frozenset((_UPPER, _LOWER, _ASCII_UPPER, _ASCII_LOWER))
_SMALL = frozenset((_LOWER, _ASCII_LOWER))
_CAPITAL = frozenset((_UPPER, _ASCII_UPPER))
_ASCII_LETTER = frozenset((_ASCII_UPPER, _ASCII_LOWER))
_OWN_RUN = frozenset((_OTHER_LETTER, _MARK))


@lru_cache(maxsize=8192)
def _kind(char: str) -> int:
    if char.isascii():
        if char.isalpha():
            return _ASCII_UPPER if char.isupper() else _ASCII_LOWER
        return _ASCII_OTHER
    category = unicodedata.category(char)
    if category[0] == "L":
        name = unicodedata.name(char, "")
        if name.startswith("LATIN"):
            return _UPPER if category == "Lu" else _LOWER
        if name.startswith(("FEMININE ORDINAL", "MASCULINE ORDINAL", "MICRO SIGN")):
            return _SYMBOL
        return _OTHER_LETTER
    if category[0] == "M":
        return _MARK
    if category in ("Cc", "Co", "Cn", "Cs"):
        return _NEVER
    if category[0] == "Z" or category == "Cf":
        return _SPACE
    return _SYMBOL


@lru_cache(maxsize=8192)
def _letter_key(char: str) -> str:
    small = char.lower()
    return small if len(small) == 1 else char


def _plausible_shares(contexts: Counter) -> tuple[float, float]:
    """The share of the sampled non-ASCII characters (`_contexts`) that are plausible in text
    (module docstring), with the letters of one language and with those of up to two.
    (1.0, 1.0) when there are none."""
    plausible = 0
    seen = 0
    letters: dict[str, int] = {}
    for (before_char, char, after_char), n in contexts.items():
        seen += n
        kind = _kind(char)
        before = _kind(before_char)
        after = _kind(after_char)
        if kind == _UPPER or kind == _LOWER:
            if not _breaks_case(char, kind, before, after):
                key = _letter_key(char)
                letters[key] = letters.get(key, 0) + n  # judged below, by alphabet
        elif _plausible_beside(char, kind, before, after):
            plausible += n
    if not seen:
        return 1.0, 1.0
    one, two = _letters_of_languages(letters)
    return (plausible + one) / seen, (plausible + two) / seen


def _breaks_case(char: str, kind: int, before: int, after: int) -> bool:
    """A capital after a small letter ("BlanchardÕs") or a small letter before a capital
    ("ìLa"); "STRAßE" is fine (ß has no common capital)."""
    if kind == _UPPER:
        return before in _SMALL
    return after in _CAPITAL and char != "ß"


def _plausible_beside(char: str, kind: int, before: int, after: int) -> bool:
    """Whether a character beyond ASCII that is not a Latin letter is plausible between the
    characters of kinds `before` and `after`."""
    if kind == _OTHER_LETTER:
        # One letter of another script stuck to a Latin word ("p嚙 ", "heжllo") is a byte
        # misread; "CSS布局" (a run of them beside a Latin word) is text.
        return before in _OWN_RUN or after in _OWN_RUN or not (
            before in _ASCII_LETTER or after in _ASCII_LETTER)
    if kind == _MARK:
        # Latin diacritics (U+0300-U+036F: windows-1258 writes Vietnamese tones so) go on Latin
        # letters; other scripts' marks on their own letters.
        return before in _OWN_RUN or (before in _LATIN_LETTER and "\u0300" <= char <= "\u036f")
    if kind == _SPACE:
        return True
    if kind == _SYMBOL:
        return char in _WORD_JOINERS or not (before in _LATIN_LETTER and after in _LATIN_LETTER)
    return False  # C1 controls, private use, unassigned


def _letters_of_languages(letters: dict[str, int]) -> tuple[int, int]:
    """How many of the letters belong to the language that has the most of them; and how many
    are explained as text: besides that language's, a second language's when it has several of
    the rest (a page in German and French), or any language's when the first has nearly all
    (a name, a loanword: "Grüne" in Norwegian). Random bytes give letters of many languages."""
    if not letters:
        return 0, 0
    first = _most_covering(letters)
    rest = {c: n for c, n in letters.items() if c not in first}
    total = sum(letters.values())
    one = total - sum(rest.values())
    if not rest:
        return one, one
    if one >= _DOMINANT_LANGUAGE_SHARE * total:
        return one, one + sum(n for c, n in rest.items() if c in _ANY_ALPHABET)
    second = _most_covering(rest)
    second_count = sum(n for c, n in rest.items() if c in second)
    return one, one + (second_count if second_count >= _MIN_SECOND_LANGUAGE_LETTERS else 0)


def _most_covering(letters: dict[str, int]) -> frozenset[str]:
    """The first alphabet with the most of the letters."""
    covered = [0] * len(_ALPHABET_SETS)
    for letter, n in letters.items():
        for i in _ALPHABETS_WITH.get(letter, ()):
            covered[i] += n
    return _ALPHABET_SETS[covered.index(max(covered))]


def _decode_with(data: bytes, encoding: str, max_replacement_ratio: float) -> Decoded:
    text = data.decode(encoding, errors="replace")
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")  # U+0000 is never text: a replacement, counted
    replaced = text.count("\ufffd") - _replacement_chars_in(data, encoding)
    if replaced and replaced > max_replacement_ratio * max(len(text), 1):
        raise DecodeError(
            reasons.UNDECODABLE,
            f"{replaced} of {len(text)} characters are not valid {encoding} "
            f"(limit {max_replacement_ratio:.1%})",
        )
    return _checked(Decoded(text, encoding, replaced))


def _replacement_chars_in(data: bytes, encoding: str) -> int:
    """U+FFFD that were in the input already: not replacements we made."""
    try:
        return data.count("\ufffd".encode(encoding))
    except UnicodeEncodeError:
        return 0  # the code page has no U+FFFD


def _checked(decoded: Decoded) -> Decoded:
    controls = len(_CONTROL.findall(decoded.text))
    if controls > _MAX_CONTROL_SHARE * max(len(decoded.text), 1):
        raise DecodeError(
            reasons.BINARY,
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
