import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from tasks.settings import TranslationSettings
from tasks.shard.paragraphs import split_text
from tasks.shard.translation import (
    RULE_LOGODDS,
    flag_translation,
    paragraph_signals,
    rule_evidence,
    sigmoid,
)
from tasks.shard.translation_style import default_word_patterns, load_model

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("text,signal", [
    ("The firm raised $ 1 million last year.", "currency_space"),
    ("without the consent of users. .", "doubled_punct"),
    ("It was a good result , the coach said.", "space_before_punct"),
    ("for mass surveillance, racial profiling ”and human rights violations.", "quote_glued"),
    ("We believe it is time to start a national dialogue. ”", "quote_spacing"),
    ("It was “ a historic day” for the city.", "quote_spacing"),
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


def test_quote_glued_is_not_plain_quote_spacing():
    assert paragraph_signals("racial profiling ”and human rights") == ["quote_glued"]
    assert paragraph_signals("a national dialogue. ”") == ["quote_spacing"]


def test_repeated_rule_hits_add_less_and_loose_punctuation_is_capped():
    one = rule_evidence(["currency_space"])
    assert one == RULE_LOGODDS["currency_space"]
    assert one < rule_evidence(["currency_space"] * 3) < 3 * one
    # a page full of dropped links: loose punctuation everywhere, still weak evidence
    loose = ["space_before_punct"] * 15 + ["doubled_punct"] * 4 + ["lowercase_sentence_start"] * 3
    assert rule_evidence(loose) <= RULE_LOGODDS["currency_space"]
    assert rule_evidence(loose + ["semicolon_capital"]) > rule_evidence(["semicolon_capital"])


def score_table(texts, langs=None, settings=None, doc_ids=None):
    rows = {"doc_id": doc_ids or [str(i) for i in range(len(texts))], "text": texts}
    if langs is not None:
        rows["lang"] = langs
    return flag_translation(pa.table(rows), settings or TranslationSettings())


def signals_in(texts, langs, doc_ids=None):
    """mt_signals of each paragraph, the text's language in the `lang` column; one document per
    paragraph unless `doc_ids` says otherwise."""
    paragraphs, _ = score_table(texts, langs, doc_ids=doc_ids)
    return paragraphs["mt_signals"].to_pylist()


# Human typography of other languages, which English rules read as translation damage.
HUMAN_TYPOGRAPHY = [
    ("„Wir sorgen uns sehr um sie“, sagte sie. „Das ist keine Lösung.“ Dann ging sie.", "de"),
    ("Er bleibt bei seiner Meinung: Der Plan sei „noch schöner“ als der erste.", "de"),
    ("Die ‚kleine‘ Reform kam. Er sagte: „Wir prüfen das ‚sehr‘ genau.“ Dann ging er.", "de"),
    ("Mietpreis: US $ 2.400,00 pro Woche, jede weitere Person US $ 100,00.", "de"),
    ("Versandkosten € 9,99; ab € 60 liefern wir frei Haus. Mehr Infos ggf. per E-Mail.", "de"),
    ("Die Bahn bzw. die SBB informieren. Die Bücher gibt es u. a. bei uns, vgl. dazu die Liste.",
     "de"),
    ("« Je ne sais pas », a-t-il dit. « Il a répondu “ non ” puis il est parti. »", "fr"),
    ("Voir la liste des revues, etc. ; le comité a voté, etc. : la grève continue.", "fr"),
    ("El presidente dijo: «No vamos a ceder». Luego añadió: ”Haré todo lo necesario”.", "es"),
    ("Los Bronces costará US$ 3.300 millones, según el informe.", "es"),
    ("Il ministro ha detto: «Non ci sono “soldi” per tutti», poi è uscito.", "it"),
    ("Hij zei: „Dat is niet waar.” Daarna vertrok hij.", "nl"),
    ("Prezes powiedział: „To nie jest «dobry» pomysł”, m.in. dla klientów.", "pl"),
    ("Řekl: „Víc mě bavil zápas Ostravy,“ říká Petr Švancara.", "cs"),
    ("Pääministeri sanoi: ”Luottamus on yhä” – ja lähti.", "fi"),
    # web habits: guillemets as link arrows or spaced, ‚...’, elisions, a quote closed before
    ("» Schlagzeilen", "de"),
    ("Klicken Sie auf » Start – Systemsteuerung « und dann auf » Programme «.", "de"),
    ("Er nannte es „die ‚biologische Modernitätsschwelle’ einer Gesellschaft“.", "de"),
    ("„Cool, ‘ne Frau in einer Führungsposition“, sagen viele.", "de"),
    ("Le offerte per gli anni ’80 e ’90 da non lasciarsi sfuggire.", "it"),
    ("” wenn konkrete Varianten zur Auswahl gestanden hätten.", "de"),
]


@pytest.mark.parametrize("text,lang", HUMAN_TYPOGRAPHY)
def test_other_languages_typography_gives_no_signal(text, lang):
    assert signals_in([text], [lang]) == [[]]


@pytest.mark.parametrize("text,signal", [
    ("She said: “ We worry about her very much. ”", "quote_spacing"),
    ("He said “ no ” and left the room.", "quote_spacing"),
    ("“The best player I have ever trained,“ said Gleim.", "quote_spacing"),
    ("The rent is US $ 2,400.00 a week.", "currency_space"),
    ("The rail company and the SBB inform. other services are closed.",
     "lowercase_sentence_start"),
    ("El presidente dijo: ”Haré todo lo necesario”.", "quote_glued"),
])
def test_english_typography_rules_still_fire_on_english(text, signal):
    assert signal in signals_in([text], ["en"])[0]


def test_a_decimal_comma_amount_is_not_an_english_artifact():
    assert signals_in(["Rent: US $ 2.400,00 a week, US $ 1500,00 deposit."], ["en"]) == [[]]
    assert signals_in(["It cost $ 5, not $ 1,000."], ["en"]) == [["currency_space"]]
    assert paragraph_signals("It cost $ 5, not $ 1,000 or ₹ 1,00,000.") == ["currency_space"] * 3


def test_quote_damage_is_still_found_under_other_conventions():
    texts = ["Er sprach von „rassistischer Kontrolle ”und Menschenrechten.",  # closer glued on
             "Er nannte es ‚einen historischen Tag“ für die Stadt.",           # ‚...“
             "Er sagte: „ Nein.“ Und ging.",                                  # „ spaced
             "Il a dit « non »et il est parti."]                              # » glued on
    assert signals_in(texts, ["de", "de", "de", "fr"]) == [
        ["quote_glued"], ["quote_mismatch"], ["quote_spacing"], ["quote_glued"]]


def test_paragraphs_of_unsure_language_follow_their_document():
    """A short German line detected as another language, or as undetermined, is read with the
    German conventions of its document."""
    german = "Die Ausstellung „Hugo Junkers“ im Technikmuseum zeigt zwei Flugzeuge und Motoren."
    texts = [german, "„Heikles“ Thema 3. November 2023", "Eintritt: € 10 “ermäßigt“ € 5"]
    assert signals_in(texts, ["de", "lt", "und"], doc_ids=["d"] * 3) == [[], [], []]
    # the undetermined line in an English document is read with English rules
    english = "The exhibition on aircraft engines opened on Monday with two planes."
    assert signals_in([english, texts[2]], ["en", "und"], doc_ids=["e"] * 2) == \
        [[], ["currency_space", "quote_spacing"]]


def test_english_quoting_with_low_nine_is_read_the_german_way():
    """English typeset the German way (human translations from German, text about German): its
    “ closes a „ quotation; the same quote damage still counts."""
    assert signals_in(["„We worry about her very much,“ she said.",
                       "„Wurde“ is the past tense of „werden“ and is used for the passive.",
                       "„We worry about her,“ she said. „ It is a shame. “ Then she left."],
                      ["en"] * 3) == [[], [], ["quote_spacing"]]
    assert paragraph_signals("„We worry about her,“ she said. „ It is a shame. “") == \
        ["quote_spacing"] * 2


def test_scores_are_probabilities_for_any_text():
    texts = ["", "   ", "!!!", "42", "IBM", "Das ist ein ganz normaler deutscher Satz.",
             "the " * 400, "$ 1 $ 2 $ 3 users. . ; The " * 30, "日本語のテキストです。"]
    paragraphs, documents = score_table(texts)
    for column in (paragraphs["mt_score"], documents["mt_score"]):
        values = column.to_numpy()
        assert np.all((values >= 0) & (values <= 1)) and not np.isnan(values).any()


def test_word_patterns_only_for_english_paragraphs():
    text = ("Over the years, he completed 30 more than money in the event of the World Series of "
            "Poker is a poker game. He also won first place five bracelet with different events.")
    english, _ = score_table([text], ["en"])
    german, _ = score_table([text], ["de"])
    rules_only, _ = score_table([text], ["en"], TranslationSettings(word_patterns=False))
    offset = load_model().offset
    assert german["mt_score"][0].as_py() == pytest.approx(sigmoid(-offset), rel=1e-6)
    assert rules_only["mt_score"][0].as_py() == german["mt_score"][0].as_py()
    assert english["mt_score"][0].as_py() != german["mt_score"][0].as_py()


def test_short_plain_sentences_score_low():
    texts = ["The company said on Monday that it would stop selling the software.",
             "Prices rose 5% to $1.2 million last year, more than analysts expected.",
             "Read more", "Share this article"]
    paragraphs, _ = score_table(texts, ["en"] * len(texts))
    assert max(paragraphs["mt_score"].to_pylist()) < TranslationSettings().flag_threshold


def test_word_pattern_scorer_is_deterministic_and_shrinks_short_texts():
    patterns = default_word_patterns()
    text = "The US-based IT giant will no longer develop and research facial recognition."
    assert patterns.score(text) == patterns.score(text)
    words, z = patterns.score(text)
    assert words == 13
    assert abs(patterns.evidence(words, z)) < abs(patterns.evidence(10 * words, z))
    assert patterns.score("") == (0, 0.0)
    assert patterns.symbols("Over the years, he won 30 “gold” bracelets") == \
        ["^over", "the", "years", ",", "he", "h", "0", '"', "h", '"', "m"]


def test_seed_translations_have_more_translation_like_word_patterns(seed_texts):
    """The word-pattern model alone, averaged over each article: the translated article 000
    reads more like round-trip translation than the human one (003)."""
    patterns = default_word_patterns()

    def mean_z(text):
        scored = [patterns.score(p) for _, _, p in split_text(text)]
        return sum(n * z for n, z in scored) / sum(n for n, _ in scored)

    assert mean_z(seed_texts["000_91afe73fcc59af63.txt"]) > \
        mean_z(seed_texts["003_3dad9c3ed2cc3204.txt"])


def test_artifacts_all_over_an_article_flag_it(seed_texts):
    human = [p for _, _, p in split_text(seed_texts["003_3dad9c3ed2cc3204.txt"])]
    threshold = TranslationSettings().flag_threshold

    def document(paragraphs):
        _, docs = score_table(paragraphs, doc_ids=["d"] * len(paragraphs))
        return docs["mt_score"][0].as_py(), docs["mt_signals"][0].as_py()

    base, _ = document(human)
    one, one_signals = document(human + ["It cost $ 5 million."])
    spun = [p + " It cost $ 5 million." if i % 3 == 0 else p for i, p in enumerate(human)]
    many, _ = document(spun)
    assert base < one < threshold <= many
    assert one_signals == ["currency_space"]


def test_boilerplate_is_left_out_of_the_document_score():
    texts = ["A plain sentence written by a careful person.", "Price: $ 5 , $ 6 , $ 7 users. ."]
    rows = {"doc_id": ["d", "d"], "text": texts, "boilerplate_rule": [None, "share_bar"]}
    paragraphs, documents = flag_translation(pa.table(rows), TranslationSettings())
    assert "currency_space" in paragraphs["mt_signals"][1].as_py()
    assert documents["mt_signals"][0].as_py() == []
    assert documents["mt_score"][0].as_py() < 0.1


def test_model_file_is_small_and_sane():
    model = load_model()
    assert (REPO / "tasks" / "models" / "mt_word_patterns.json").stat().st_size < 500_000
    assert len(model.kept_words) >= 100 and "the" in model.kept_words
    assert all(math.isfinite(idf) and idf > 0 and math.isfinite(w)
               for idf, w in model.features.values())
    assert model.offset > 0 and model.scale > 0 and model.shrink_words >= 0


def test_eval_script_says_when_data_is_missing(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "evaluation" / "mt_eval.py"),
                             str(tmp_path / "missing")], check=False, capture_output=True,
                            text=True)
    assert result.returncode != 0
    assert "evaluation data not found" in result.stderr


def test_roc_auc_matches_pairwise_definition():
    from benchmarks.evaluation.mt_eval import roc_auc

    rng = np.random.default_rng(0)
    pos, neg = rng.integers(0, 5, 40).astype(float), rng.integers(0, 4, 30).astype(float)
    pairwise = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert roc_auc(pos, neg) == pytest.approx(pairwise)


def _rule_heavy_texts(n: int, seed: int) -> list[str]:
    """Random strings made of the characters and words the rules look at, plus the examples
    above: many hit, many nearly hit."""
    import random

    pieces = list("aB $€£ .,;:!?“”‘’„‚«»‹›'(\n\t\u00a0\u2009\x1c_1é") + [
        "said ", "Said ", "; Stating", "; however", "www.", ".com", "own.two", "etc. the",
        "media. other", "IBM", "IMB", " , ", ". .", "the ", "The ", "of ", "30 "]
    rnd = random.Random(seed)
    return ["".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 30))) for _ in range(n)]


def test_rules_run_over_a_column_find_what_they_find_text_by_text():
    from tasks.shard.translation import rule_hits

    texts = _rule_heavy_texts(3000, seed=1) + [
        "The firm raised $ 1 million last year.", "without the consent of users. .",
        "He called it ‘a historic day” for the city.", "a “quoted’ ‘word’ here",
        "Said Arvind Krishna, CEO of IBM, that the company would stop.", "", "plain text"]
    found = rule_hits(pa.array(texts))
    expected = [paragraph_signals(t) for t in texts]
    assert found == expected
    assert sum(map(bool, expected)) > 1000  # the column path was exercised on many hits


def test_rules_by_language_over_a_column_find_what_they_find_text_by_text():
    import random

    from tasks.shard.translation import rule_hits

    rnd = random.Random(5)
    texts = _rule_heavy_texts(3000, seed=6) + [t for t, _ in HUMAN_TYPOGRAPHY]
    choices = ["en", "de", "fr", "fi", "pl", "es", "ja", "und", None]
    langs = [rnd.choice(choices) for _ in texts]
    document_langs = [rnd.choice(choices) for _ in texts]
    found = rule_hits(pa.array(texts), langs, document_langs)
    expected = [paragraph_signals(t, lang, doc) for t, lang, doc in
                zip(texts, langs, document_langs)]
    assert found == expected
    assert found != rule_hits(pa.array(texts))  # the languages made a difference
    assert sum(map(bool, expected)) > 1000


def test_document_languages_in_bulk_are_document_language_document_by_document():
    import random

    from tasks.shard.language import content_or_all, document_language, document_languages

    rnd = random.Random(7)
    n = 2000
    langs = [rnd.choice(["en", "de", "fr", "und", "und", None]) for _ in range(n)]
    texts = ["x" * rnd.choice([1, 5, 40, 200]) for _ in range(n)]
    scores = [rnd.random() for _ in range(n)]
    doc = np.array(sorted(rnd.randrange(300) for _ in range(n)))
    content = np.array([rnd.random() < 0.7 for _ in range(n)])
    lengths = np.array([len(t) for t in texts])
    found, found_scores = document_languages(doc, 300, pa.array(langs, pa.string()), lengths,
                                             content_or_all(doc, 300, content),
                                             np.array(scores))
    for d in range(300):
        rows = np.flatnonzero(doc == d)
        basis = [r for r in rows if content[r]] or list(rows)
        expected = document_language([langs[r] or "und" for r in basis],
                                     [scores[r] for r in basis], [len(texts[r]) for r in basis])
        assert (found[d].as_py(), found_scores[d]) == expected, d  # the same floats


def test_word_patterns_scored_together_equal_scored_one_by_one():
    patterns = default_word_patterns()
    texts = _rule_heavy_texts(500, seed=2) + [
        "", "   ", "2024", "don’t ‘quote’ “this” „that“ it's ’twas rock’n’roll",
        "x² and ½ of Ⅳ_under", "the " * 80, "Over the years, he won 30 “gold” bracelets."]
    words, z = patterns.score_many(texts)
    one_by_one = [patterns.score(t) for t in texts]
    assert words.tolist() == [w for w, _ in one_by_one]
    assert z.tolist() == [s for _, s in one_by_one]  # the same floats, not only close
    assert patterns.score_many([])[0].tolist() == []


def test_paragraph_scores_are_the_one_paragraph_evidence():
    patterns = default_word_patterns()
    texts = _rule_heavy_texts(400, seed=3)
    # documents of 7 paragraphs, one in three German: each paragraph in its document's language
    langs = ["en" if (i // 7) % 3 else "de" for i in range(len(texts))]
    table = pa.table({"doc_id": [f"d{i // 7}" for i in range(len(texts))], "text": texts,
                      "lang": langs})
    paragraphs, documents = flag_translation(table, TranslationSettings())
    offset = patterns.model.offset
    for text, lang, score, signals in zip(texts, langs, paragraphs["mt_score"].to_pylist(),
                                          paragraphs["mt_signals"].to_pylist()):
        if "acronym_anagram" in signals:
            continue  # a document-level signal
        evidence = rule_evidence(paragraph_signals(text, lang, lang))
        if lang == "en":
            evidence += patterns.evidence(*patterns.score(text))
        assert score == pytest.approx(np.float32(sigmoid(evidence - offset)), abs=0)
    assert documents["doc_id"].to_pylist() == sorted(set(table["doc_id"].to_pylist()),
                                                     key=lambda d: int(d[1:]))


def test_ascii_tokeniser_finds_the_regex_tokens():
    import random

    from tasks.shard.ascii_tokens import ascii_tokens
    from tasks.shard.translation_style import _TOKEN

    rnd = random.Random(4)
    pieces = [chr(c) for c in range(128)] + ["don't", "'a", "a'", "''", "rock'n'roll", "12ab3",
                                             "  ", "__", "Over the years, he won 30"]
    texts = ["".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 25))) for _ in range(3000)]
    texts += ["", "a", "'", "x'y", ""]
    for array in (pa.array(texts), pa.array(texts).slice(11, 500)):
        distinct, codes, owner = ascii_tokens(array)
        names = distinct.to_pylist()
        found: list[list[str]] = [[] for _ in range(len(array))]
        for code, row in zip(codes.tolist(), owner.tolist()):
            found[row].append(names[code])
        assert found == [_TOKEN.findall(t) for t in array.to_pylist()]
    assert [len(x) for x in ascii_tokens(pa.array(["", " _ "]))] == [0, 0, 0]
