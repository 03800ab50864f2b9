import pyarrow as pa
import pytest

from tasks.paragraphs import split_text
from tasks.settings import TranslationSettings
from tasks.translation import flag_translation, paragraph_signals


@pytest.mark.parametrize("text,signal", [
    ("The firm raised $ 1 million last year.", "currency_space"),
    ("without the consent of users. .", "doubled_punct"),
    ("It was a good result , the coach said.", "space_before_punct"),
    ("for mass surveillance, racial profiling ”and human rights violations.", "quote_glued"),
    ("We believe it is time to start a national dialogue. ”", "quote_spacing"),
    ("He called it ‘a historic day” for the city.", "quote_mismatch"),
    ("Said Arvind Krishna, CEO of IBM, that the company would stop.", "said_that"),
    ("As per the Principles; Stating that they are against it.", "semicolon_capital"),
    ("to constitute a state of their own.twoeastern Oklahoma", "merged_words"),
    ("from social media and other media. other Internet services", "lowercase_sentence_start"),
])
def test_each_signal_fires_on_its_example(text, signal):
    assert signal in paragraph_signals(text)


@pytest.mark.parametrize("text", [
    "“IBM firmly opposes and will not condone uses of any technology,” Krishna wrote.",
    "The company said new export limits on ‘the type of facial recognition system,’ were needed.",
    "Clearview’s technology and the users’ photos were discussed.",
    "Visit example.com or read index.html, e.g. the FAQ, etc. and more.",
    "Prices rose 5% to $1.2 million, i.e. more than expected.",
    "Wait . . . what happened next?",
    "He met Dr. Smith at 5 p.m. on Jan. 4 in the U.S. capital.",
])
def test_clean_text_has_no_signals(text):
    assert paragraph_signals(text) == []


def doc_scores(texts):
    rows = {"doc_id": [], "text": []}
    for name, text in texts.items():
        for _, _, para in split_text(text):
            rows["doc_id"].append(name)
            rows["text"].append(para)
    paragraphs, docs = flag_translation(pa.table(rows), TranslationSettings())
    return paragraphs, dict(zip(docs["doc_id"].to_pylist(), docs["mt_score"].to_pylist()))


def test_seed_documents_translated_ones_flagged_human_one_not(seed_texts):
    _, scores = doc_scores(seed_texts)
    threshold = TranslationSettings().flag_threshold
    assert scores["000_91afe73fcc59af63.txt"] >= threshold
    assert scores["001_bee12d5db40c36a2.txt"] >= threshold
    assert scores["003_3dad9c3ed2cc3204.txt"] < 0.1


def test_one_odd_paragraph_does_not_make_a_translated_article(seed_texts):
    human = seed_texts["003_3dad9c3ed2cc3204.txt"]
    _, scores = doc_scores({"doc": human + "\n\nThe deal was worth $ 5 million."})
    assert 0 < scores["doc"] < TranslationSettings().flag_threshold


def test_acronym_anagram_is_a_document_signal():
    paragraphs, _ = doc_scores({
        "d": "IBM said on Monday it would stop.\nIBM will not sell it.\nIMB also said more."})
    signals = paragraphs["mt_signals"].to_pylist()
    assert signals == [[], [], ["acronym_anagram"]]
