import codecs

import pytest

from tasks.decode import DecodeError, decode_bytes

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
