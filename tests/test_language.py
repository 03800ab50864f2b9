import pyarrow as pa
import pytest

from tasks.language import UNDETERMINED, detect_language, detect_languages, document_language
from tasks.settings import LanguageSettings

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
