"""The frequent-word screen: a paragraph plainly in its document's language takes the document's
language without a model call of its own; every other paragraph is identified on its own."""

import numpy as np
import pyarrow as pa
import pytest

from tasks.settings import LanguageSettings
from tasks.shard import language
from tasks.shard.language import UNDETERMINED, detect_language
from tasks.shard.language_screen import evidence, load_screen, passes

DE = [
    "Der Gemeinderat hat am Dienstag den Haushalt für das kommende Jahr beschlossen.",
    "Die Opposition kritisierte, dass die Schulden der Stadt weiter steigen werden.",
    "Nach einer langen Debatte stimmte die Mehrheit der Mitglieder für den Antrag.",
]
EN_QUOTE = ("The minister said that the government would not change its position on the "
            "question of the new taxes this year.")
FR = "Le conseil municipal a voté le budget de la ville pour l'année prochaine mardi soir."


def _table(rows):
    return pa.table({"doc_id": [r[0] for r in rows], "text": [r[1] for r in rows],
                     "boilerplate_rule": [r[2] if len(r) > 2 else None for r in rows]})


@pytest.fixture
def model_calls(monkeypatch):
    """The texts each call of the fastText path was given."""
    calls = []
    real = language._detect_fasttext

    def recording(texts, *args, **kwargs):
        calls.append(list(texts))
        return real(texts, *args, **kwargs)

    monkeypatch.setattr(language, "_detect_fasttext", recording)
    return calls


def test_plain_paragraphs_take_the_document_language_without_a_call(model_calls):
    table = _table([("a", DE[0]), ("a", DE[1]), ("a", EN_QUOTE), ("a", DE[2])])
    out = detect_language(table, LanguageSettings())
    assert out["lang"].to_pylist() == ["de", "de", "en", "de"]
    documents, lines = model_calls  # one call for the documents, one for the rest
    assert len(documents) == 1 and DE[0] in documents[0]
    assert lines == [EN_QUOTE]  # the German paragraphs were not identified one by one
    scores = out["lang_score"].to_pylist()
    assert scores[0] == scores[1] == scores[3]  # the document's score
    off = detect_language(table, LanguageSettings(screen=False))
    assert off["lang"].to_pylist() == out["lang"].to_pylist()


def test_a_paragraph_in_another_language_is_identified_on_its_own():
    table = _table([("a", DE[0]), ("a", FR), ("a", DE[1]), ("b", FR), ("b", DE[2])])
    assert detect_language(table, LanguageSettings())["lang"].to_pylist() == \
        ["de", "fr", "de", "fr", "de"]


def test_short_lines_take_the_document_language_unless_another_leads():
    table = _table([("a", DE[0]), ("a", "Video"), ("a", "Sign in to your account"),
                    ("a", DE[1]), ("a", "12.03.2024"), ("a", "Impressum", "share_bar")])
    langs = detect_language(table, LanguageSettings())["lang"].to_pylist()
    assert langs[1] == "de" and langs[5] == "de"  # nothing says otherwise
    assert langs[2] == "en"  # its function words are English: identified on its own
    assert langs[4] == UNDETERMINED  # no letters: no language


def test_documents_in_a_language_the_screen_does_not_know_are_identified_line_by_line(
        model_calls):
    zh = "市议会周二晚上通过了明年的城市预算，反对派批评债务继续增加。"
    table = _table([("z", zh), ("z", zh + "这是第二段。")])
    out = detect_language(table, LanguageSettings())
    assert out["lang"].to_pylist() == ["zh", "zh"]
    assert sorted(model_calls[-1]) == sorted([zh, zh + "这是第二段。"])


def test_the_same_labels_whatever_the_chunks():
    rows = [("a", DE[0]), ("a", "Video"), ("a", EN_QUOTE), ("b", FR), ("b", "Archives"),
            ("c", EN_QUOTE), ("c", "Home"), ("c", DE[1])]
    table = _table(rows)
    whole = detect_language(table, LanguageSettings())
    parts = [detect_language(table.slice(0, 3), LanguageSettings()),
             detect_language(table.slice(3, 2), LanguageSettings()),
             detect_language(table.slice(5), LanguageSettings())]
    for column in ("lang", "lang_score"):
        assert whole[column].to_pylist() == [v for p in parts for v in p[column].to_pylist()]


def test_evidence_and_passes():
    screen = load_screen()
    texts = pa.array([DE[0], "Video", "12:30", EN_QUOTE])
    found = evidence(texts, screen)
    de, en = screen.index_of("de"), screen.index_of("en")
    assert found.words.tolist() == [12, 1, 0, len(EN_QUOTE.split())]
    assert found.gain[0, de] > found.gain[0, en] + screen.margin
    assert found.hits[2].sum() == 0
    rows = np.arange(4)
    short = np.array([False, True, True, False])
    assert passes(found, rows, np.full(4, de), short, screen).tolist() == \
        [True, True, False, False]
    assert passes(found, rows, np.full(4, -1), short, screen).tolist() == [False] * 4
    assert screen.index_of("xx") == -1
