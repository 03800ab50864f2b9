import pyarrow as pa

from tasks.settings import MojibakeSettings
from tasks.shard.mojibake import fix_mojibake, fix_paragraph


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


def test_cases_through_split_and_fix():
    """Cases in the style of ftfy's test set, through the split and fix stages as in a run."""
    from tasks.settings import SplitSettings
    from tasks.shard.paragraphs import split_paragraphs

    cases = {  # original -> expected paragraph
        "He's Justinâ\x9d¤": "He's Justin❤",
        "Ecuadorâ\x80\x99s â\x80\x98purely politicalâ\x80\x99 decision\x85":
            "Ecuador’s ‘purely political’ decision…",  # U+0085 is cp1252's "…", not a line break
        "parlé\x85 Tu sais, ça fait": "parlé… Tu sais, ça fait",
        "â\x80\x9cmismatched quotes\x85\x94": "“mismatched quotes…”",
        "Η ¨ανατροφή¨ δυστυχώς": "Η ¨ανατροφή¨ δυστυχώς",  # negative: Greek diaereses as quotes
        "NICIODATĂ\xa0în viața mea": "NICIODATĂ\xa0în viața mea",  # negative
    }
    docs = pa.table({"doc_id": [f"d{i}" for i in range(len(cases))], "text": list(cases)})
    paragraphs = fix_mojibake(split_paragraphs(docs, SplitSettings()), MojibakeSettings())
    assert paragraphs["text"].to_pylist() == list(cases.values())


def test_fast_path_gives_what_ftfy_gives():
    from tasks.shard.mojibake import fix_texts

    cases = ["plain ascii", "café", "cafÃ©", "Itâ€™s", "fish &amp; chips", "a &lt; b <i>",
             "bell\x07", "C1 \x85 control", "e\u0301 to compose", "ﬁ ligature", "ＡＢＣ",
             "zero\ufeffwidth", "\x1b[31mred\x1b[0m", "Москва", "РњРѕСЃРєРІР°", "東京",
             "“curly” ‘quotes’", "naÃ¯ve cafÃ© rÃ©sumÃ©", "Ã¡rbol", ""]
    fixed, changed = fix_texts(pa.array(cases))
    assert fixed.to_pylist() == [fix_paragraph(c) for c in cases]
    assert changed.tolist() == [fix_paragraph(c) != c for c in cases]
