import pyarrow as pa

from tasks.mojibake import fix_mojibake, fix_paragraph
from tasks.settings import MojibakeSettings


def test_repairs_utf8_read_as_cp1252():
    assert fix_paragraph("The cafÃ© servesÂ crÃ¨me brÃ»lÃ©e.") == "The café serves\xa0crème brûlée."
    assert fix_paragraph("Itâ€™s â€œquotedâ€\x9d") == "It’s “quoted”"


def test_leaves_correct_text_alone():
    for text in ["“Curly quotes” and ‘single ones’ stay curly.",
                 "Full-width ＡＢＣ and the ligature ﬁ stay.",
                 "Plain ASCII, nothing to do.",
                 "Ελληνικά, русский, 中文 and emoji 😀 are fine.",
                 "Voilà, à bientôt."]:
        assert fix_paragraph(text) == text


def test_html_entities_and_control_characters():
    assert fix_paragraph("Fish &amp; chips") == "Fish & chips"
    assert fix_paragraph("bad\x07bell") == "badbell"


def test_table_flags_changed_paragraphs():
    table = pa.table({"text": ["fine", "cafÃ©"]})
    out = fix_mojibake(table, MojibakeSettings())
    assert out["text"].to_pylist() == ["fine", "café"]
    assert out["mojibake_fixed"].to_pylist() == [False, True]
    off = fix_mojibake(table, MojibakeSettings(enabled=False))
    assert off["text"].to_pylist() == ["fine", "cafÃ©"]
    assert off["mojibake_fixed"].to_pylist() == [False, False]
