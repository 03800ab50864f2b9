import pyarrow as pa
import pytest

from tasks.settings import LanguageSettings
from tasks.shard.language import (
    UNDETERMINED,
    detect_language,
    detect_languages,
    document_language,
    supported_languages,
)

SENTENCES = {
    "en": "The committee will publish its final report on the new transport plan next week.",
    "de": "Der Ausschuss wird seinen Abschlussbericht zum neuen Verkehrsplan nächste Woche vorlegen.",
    "fr": "Le comité publiera la semaine prochaine son rapport final sur le nouveau plan de transport.",
    "es": "El comité publicará la próxima semana su informe final sobre el nuevo plan de transporte.",
    "zh": "委员会将于下周发布关于新交通计划的最终报告。",
}


@pytest.mark.parametrize("backend", ["fasttext", "langdetect"])
def test_both_backends_agree_on_codes(backend):
    langs, scores = detect_languages(list(SENTENCES.values()), LanguageSettings(backend=backend))
    assert langs == list(SENTENCES)  # langdetect's zh-cn is reported as zh
    assert all(0.5 <= s <= 1.0 for s in scores)


def test_langdetect_is_deterministic():
    text = ["Ceci est court.", "Kurz und gut.", "Esto es corto."] * 5
    settings = LanguageSettings(backend="langdetect")
    assert detect_languages(text, settings) == detect_languages(text, settings)


def test_no_letters_or_low_confidence_is_und():
    langs, scores = detect_languages(["12345 678", ""], LanguageSettings())
    assert langs == [UNDETERMINED, UNDETERMINED] and scores == [0.0, 0.0]
    langs, _ = detect_languages(["ok"], LanguageSettings(min_score=0.99))
    assert langs == [UNDETERMINED]


def test_table_columns():
    out = detect_language(pa.table({"text": ["Guten Morgen, wie geht es Ihnen heute?"]}),
                          LanguageSettings())
    assert out["lang"].to_pylist() == ["de"]
    assert out.schema.field("lang_score").type == pa.float32()


def test_document_language_is_weighted_by_length():
    assert document_language(["en", "de", "de"], [0.9, 0.9, 0.9], [300, 50, 50])[0] == "en"
    assert document_language(["und", "und"], [0.1, 0.2], [10, 10]) == (UNDETERMINED, 0.0)


def test_codes_are_the_same_for_both_backends():
    from tasks.shard.language import to_code

    assert [to_code(x) for x in ("zh-cn", "zh-tw", "__label__no", "__label__als", "sh", "en")] == \
        ["zh", "zh", "nb", "gsw", "hbs", "en"]
    for backend in ("fasttext", "langdetect"):
        codes = supported_languages(backend)
        assert {"en", "de", "zh", "nb"} <= codes
        assert not codes & {"zh-cn", "zh-tw", "no", "als", "sh", "bh"}


def test_norwegian_is_bokmal_from_both_backends():
    text = [("Regjeringen la i dag fram forslaget til statsbudsjett for neste år, og det blir "
            "mer penger til sykehusene i hele landet.")]
    for backend in ("fasttext", "langdetect"):
        assert detect_languages(text, LanguageSettings(backend=backend))[0] == ["nb"]


def test_resolver_only_redivides_its_own_languages():
    from tasks.shard.language import combine

    general = {"hr": 0.5, "bs": 0.2, "gl": 0.3}  # gl: a language only lid.176 knows
    lang, score = combine(general, {"bs": 0.9, "hr": 0.1}, frozenset({"hr", "bs"}), alpha=0.0)
    assert lang == "bs" and score == pytest.approx(0.7 * 0.9 / (0.9 + 0.1), rel=1e-3)
    lang, _ = combine({"gl": 0.8, "pt": 0.2}, {"pt": 1.0}, frozenset({"pt"}), alpha=0.35)
    assert lang == "gl"


def test_scores_are_calibrated_probabilities():
    from tasks.shard.language import _detect_fasttext, load_resolver_meta

    texts = list(SENTENCES.values()) + ["ok", "Berlin", "x y z"]
    _, raw = _detect_fasttext(texts, calibrate=False)
    _, calibrated = _detect_fasttext(texts)
    assert all(0.0 <= s <= 1.0 for s in calibrated)
    for bucket in load_resolver_meta()["buckets"]:
        table = bucket["calibration"]
        assert table["raw"] == sorted(table["raw"]) and table["right"] == sorted(table["right"])
    assert raw != calibrated


def test_prepare_text_drops_urls_and_capitals():
    from tasks.shard.language import prepare_text

    assert prepare_text("Mehr unter https://example.com/a?b=1 und\nwww.example.de") == \
        "Mehr unter und"
    assert prepare_text("DIE REGIERUNG TRITT ZURÜCK") == "die regierung tritt zurück"
    assert prepare_text("Schreiben Sie an info@example.org bitte") == "Schreiben Sie an bitte"


def _document(rows):
    return pa.table({"doc_id": [r[0] for r in rows], "text": [r[1] for r in rows],
                     "boilerplate_rule": [r[2] for r in rows]})


def test_short_und_paragraphs_borrow_the_document_language():
    long_de = "Der Gemeinderat hat am Dienstag den Haushalt für das kommende Jahr beschlossen."
    table = _document([
        ("a", long_de, None), ("a", "Video", None), ("a", "Start", "share_bar"),
        ("a", long_de.replace("Dienstag", "Mittwoch"), None),
        ("b", "The council approved next year's budget on Tuesday evening after a long debate.",
         None), ("b", "Archiv", None),
    ])
    # Each line identified on its own (no screen: tests/test_language_screen.py has it).
    off = detect_language(table, LanguageSettings(borrow_max_chars=0, screen=False))
    on = detect_language(table, LanguageSettings(borrow_max_chars=40, screen=False))
    was_und = [i for i, lang in enumerate(off["lang"].to_pylist()) if lang == UNDETERMINED]
    assert 1 in was_und and 5 in was_und  # too short to be sure on its own
    langs = on["lang"].to_pylist()
    assert langs[1] == "de" and langs[5] == "en"  # each takes its own document's language
    assert on["lang_score"].to_pylist() == off["lang_score"].to_pylist()  # scores stay their own
    assert langs[0] == "de" and langs[4] == "en"
    assert langs[2] in ("de", UNDETERMINED)  # boilerplate borrows too, but never votes


def test_a_document_without_content_borrows_from_all_its_lines():
    long_en = "The council approved next year's budget on Tuesday evening after a long debate."
    table = _document([("c", long_en, "site_template"), ("c", "Archiv", "site_template"),
                       ("d", "Archiv", None)])
    langs = detect_language(table, LanguageSettings(borrow_max_chars=40, screen=False)
                            )["lang"].to_pylist()
    assert langs[:2] == ["en", "en"]
    assert langs[2] == UNDETERMINED  # its own document has nothing to borrow from
