import codecs
import random
import struct

import pytest

from tasks.shard.decode import DecodeError, decode_bytes

GERMAN = "Die Bürger wählten im März einen neuen Präsidenten. Größere Straßen, schöne Grüße."


def test_plain_utf8():
    d = decode_bytes(GERMAN.encode("utf-8"))
    assert (d.text, d.encoding, d.replacements) == (GERMAN, "utf-8", 0)


@pytest.mark.parametrize("bom,codec", [
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
])
def test_byte_order_marks(bom, codec):
    d = decode_bytes(bom + GERMAN.encode(codec))
    assert d.text == GERMAN
    assert d.encoding == codec
    assert not d.text.startswith("\ufeff")


def test_utf16_without_bom():
    d = decode_bytes(GERMAN.encode("utf-16-le"))
    assert d.text == GERMAN


def test_legacy_encoding_by_detection():
    text = GERMAN * 5
    d = decode_bytes(text.encode("cp1252"))
    assert d.text == text  # cp1250 and cp1252 agree on German letters: the text is what counts
    assert d.encoding != "utf-8"


def test_cyrillic_legacy_encoding():
    text = "Москва — столица России, крупнейший по численности населения город страны. " * 4
    d = decode_bytes(text.encode("cp1251"))
    assert d.text == text


def test_invalid_byte_inside_utf8_is_replaced_and_counted():
    data = GERMAN.encode("utf-8") + b" \xff " + GERMAN.encode("utf-8")
    d = decode_bytes(data, max_replacement_ratio=0.05)
    assert d.encoding == "utf-8"
    assert d.replacements == 1
    assert d.text == GERMAN + " \ufffd " + GERMAN


def test_mostly_utf8_with_too_many_invalid_bytes_is_an_error():
    data = "é".encode() * 100 + b"\xff" * 20
    with pytest.raises(DecodeError) as err:
        decode_bytes(data, max_replacement_ratio=0.01)
    assert err.value.code == "undecodable"
    assert "20 of 120" in err.value.detail


def test_binary_is_refused():
    # 8 NULs in 1,040 bytes (fewer than 1%, as stray NULs could be), but control bytes.
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
    with pytest.raises(DecodeError) as err:
        decode_bytes(png)
    assert err.value.code == "binary"


def test_existing_replacement_characters_are_not_counted():
    d = decode_bytes("a \ufffd b".encode("utf-8"))
    assert d.replacements == 0


@pytest.mark.parametrize("codec", ["utf-32-le", "utf-32-be", "utf-16-be"])
def test_wide_encodings_without_bom(codec):
    d = decode_bytes(GERMAN.encode(codec))
    assert (d.text, d.encoding) == (GERMAN, codec)


@pytest.mark.parametrize("codec", ["iso2022_jp", "iso2022_kr"])
def test_iso_2022_escapes_are_not_taken_for_ascii(codec):
    text = {"iso2022_jp": "日本語のテキストです。東京は晴れ。",
            "iso2022_kr": "한국어 텍스트입니다. 서울은 맑음."}[codec]
    d = decode_bytes(text.encode(codec))
    assert (d.text, d.encoding) == (text, codec)


POLISH = ("Wczoraj rząd przedstawił projekt budżetu. Większość posłów źle ocenia pomysł "
          "ministra, ale głosowanie odbędzie się dopiero w przyszłym tygodniu. Świat się śmieje.")


@pytest.mark.parametrize("codec", ["iso8859_2", "cp1250"])
def test_central_european_code_pages_are_told_apart(codec):
    # The same letters sit on different bytes (ą is 0xB1 in ISO-8859-2, 0xB9 in windows-1250):
    # reading one as the other gives "±" or "š" inside words.
    d = decode_bytes((POLISH * 3).encode(codec))
    assert d.text == POLISH * 3


def test_latin1_portuguese_is_not_read_as_central_european():
    text = "A população não está satisfeita com as eleições, disse o ministro à imprensa. " * 3
    assert decode_bytes(text.encode("latin-1")).text == text


# Issue 14: honest decoding. Fixtures are made here; the bytes are what a user hit.
ENGLISH = ("The council met on Tuesday evening to discuss the new budget for the coming year. "
           "Several members asked why the road repairs had been delayed again, and the mayor "
           "promised a full report before the next meeting. Residents who attended said they "
           "were worried about rising costs and the state of the local schools.\n")


def _english_bytes(size: int) -> bytes:
    return (ENGLISH * (size // len(ENGLISH) + 1)).encode("ascii")[:size]


def test_ascii_text_with_three_bad_bytes_is_utf8_with_replacements():
    # Lone F0, F7, F9: cp932 makes private-use characters of them (with the next letter),
    # windows-1252 "ð", "÷", "ù" inside English words; no code page makes them text.
    data = bytearray(_english_bytes(3420))
    for position, byte in ((500, b"\xf0"), (1700, b"\xf7"), (2900, b"\xf9")):
        data[position:position] = byte
    data = bytes(data)
    d = decode_bytes(data)
    assert (d.encoding, d.replacements) == ("utf-8", 3)
    assert d.text == data.decode("utf-8", errors="replace")


@pytest.mark.parametrize("seed", range(8))
def test_ascii_text_with_a_few_corrupt_utf8_halves_is_utf8_with_replacements(seed):
    # What a cut or a lost byte leaves: a lead byte without its continuation, or the reverse.
    rnd = random.Random(seed)
    data = bytearray(_english_bytes(3420))
    halves = [b"\xc3", b"\xe2\x80", b"\xa9", b"\x9c", b"\xf0\x9f", b"\xbb", b"\xe2", b"\x80"]
    for byte in rnd.sample(halves, 3):
        position = rnd.randrange(len(data))
        data[position:position] = byte
    d = decode_bytes(bytes(data))
    assert d.encoding == "utf-8"
    assert d.text == bytes(data).decode("utf-8", errors="replace")


@pytest.mark.parametrize("size", [200, 500, 2000])
@pytest.mark.parametrize("seed", range(16))
def test_random_high_bytes_in_english_are_undecodable(size, seed):
    # About 17% of the bytes replaced by random high bytes: no encoding explains them.
    rnd = random.Random(seed)
    data = bytes(rnd.randrange(0x80, 0x100) if rnd.random() < 0.17 else b
                 for b in _english_bytes(size))
    with pytest.raises(DecodeError) as err:
        decode_bytes(data)
    assert err.value.code == "undecodable"


FRENCH_GERMAN = (
    "Les élèves de l'école ont déjà commencé à préparer la fête de fin d'année. "
    "Ils sont très contents et leurs professeurs aussi. Où est la bibliothèque ? "
    "Die Schüler der Schule haben schon begonnen, das Fest vorzubereiten. Grüße aus Köln. ")
FRENCH_GERMAN_2 = (
    "Les élèves de l'école ont déjà commencé à préparer la fête de fin d'année. Ils sont "
    "très contents, et leurs maîtres aussi. Où est la bibliothèque ? Voilà, derrière l'église. "
    "Die Schüler haben schon begonnen, das Fest vorzubereiten. Viele Grüße aus Köln.\n")


@pytest.mark.parametrize("sample", [FRENCH_GERMAN, FRENCH_GERMAN_2])
def test_cp1252_french_and_german_are_not_read_as_baltic(sample):
    # cp1257 decodes the same bytes without error: "élčves", "déją".
    text = sample * 3
    d = decode_bytes(text.encode("cp1252"))
    assert d.text == text


def test_cp1252_text_with_one_percent_accented_letters_stays_cp1252():
    # The other side of the rule above: few high bytes, but they are letters of one language
    # in the middle of its words, so this is a legacy code page, not corrupt UTF-8.
    text = (ENGLISH * 6 + "We met at the café with our fiancée and her naïve friend Zoë.\n"
            + "Les élèves sont très contents, déjà prêts pour la fête.\n")
    d = decode_bytes(text.encode("cp1252"))
    assert d.text == text and d.replacements == 0


MAC_LISTING = "".join(
    f'    | {{ "Product" = "Daniel\u2019s Trackpad #{i}", "Version" = {i}, "Size" = {i * 512} }}\n'
    for i in range(1, 3)) + "".join(
    f'    | "Device{i}" = <class IOService, id 0x1000{i:04x}, registered, matched>\n'
    for i in range(60))


def test_mac_roman_listing_is_read_as_mac_roman():
    # One typographic apostrophe (0xD5 in MacRoman) in an English machine listing.
    d = decode_bytes(MAC_LISTING.encode("mac_roman"))
    assert d.text == MAC_LISTING
    assert d.encoding == "mac-roman"


@pytest.mark.parametrize("sample", [FRENCH_GERMAN, FRENCH_GERMAN_2])
def test_mac_roman_french_is_read_as_mac_roman(sample):
    text = sample * 2
    assert decode_bytes(text.encode("mac_roman")).text == text


def test_a_few_stray_nul_bytes_in_text_are_replacements():
    text = _english_bytes(342)
    data = text[:100] + b"\x00" + text[100:200] + b"\x00" + text[200:] + b"\x00"
    d = decode_bytes(data)
    assert d.encoding == "utf-8"
    assert d.replacements == 3
    assert d.text == data.decode("ascii").replace("\x00", "\ufffd")


def test_stray_nul_bytes_in_a_legacy_text_are_replacements():
    text = FRENCH_GERMAN * 3
    data = text.encode("cp1252")
    data = data[:200] + b"\x00" + data[200:]
    d = decode_bytes(data)
    assert d.replacements == 1
    assert d.text == text[:200] + "\ufffd" + text[200:]


def test_many_nul_bytes_are_binary():
    text = _english_bytes(300)
    data = b"".join(text[i:i + 20] + b"\x00\x00\x00\x01" for i in range(0, 300, 20))
    with pytest.raises(DecodeError) as err:
        decode_bytes(data)
    assert err.value.code == "binary"


def test_packed_numbers_are_binary():
    data = b"".join(struct.pack("<IdH", i * 7919, i / 3, i) for i in range(200))
    with pytest.raises(DecodeError) as err:
        decode_bytes(data)
    assert err.value.code == "binary"


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("tail", ["", " ok"])
def test_cjk_utf16_without_bom_is_not_taken_for_stray_nuls(codec, tail):
    # CJK text in UTF-16 has NUL bytes only beside ASCII characters: none, or a few.
    text = "東京は日本の首都です。今日はいい天気ですね。" * 20 + tail
    d = decode_bytes(text.encode(codec))
    assert (d.text, d.encoding) == (text, codec)


def test_croatian_windows_1250_is_not_read_as_windows_1252():
    # č/è, ć/æ, đ/ð: windows-1252 decodes the same bytes, with letters of no one language.
    text = ("Vijeće je u četvrtak odlučilo da će se škola zatvoriti. Građani su nezadovoljni, "
            "a načelnik kaže da će odgovor stići sljedeći tjedan. Đak je došao kući.\n") * 2
    d = decode_bytes(text.encode("cp1250"))
    assert d.text == text
