"""The duplicate verifier (tasks/cross_document/verifier.py): its evidence, its rules, its model."""

import json

import numpy as np
import pyarrow as pa
import pytest

from tasks.cross_document.duplicates import ContentSets, assign_sorted, exact_groups
from tasks.cross_document.staged_sets import sets_of_table
from tasks.cross_document.verifier import (
    FEATURES,
    MODEL_PATH,
    RULE_FEATURES,
    Verifier,
    WordRarity,
    are_copies,
    load_verifier,
    pair_features,
    reach_jaccard_floor,
)
from tasks.settings import DedupSettings
from tasks.shard.minhash import minhash

S = DedupSettings()


def evidence(texts, pairs):
    sets = sets_of_table(minhash(pa.table({"text": texts}), S))
    rarity = WordRarity.of(sets.csr["content"][0], len(texts))
    a, b = (np.array(side) for side in zip(*pairs))
    features, smaller = pair_features(sets, a, sets, b, rarity)
    return dict(zip(FEATURES + RULE_FEATURES, features.T)), features, smaller


def test_a_paragraph_and_itself_agree_on_everything():
    text = "The council voted 7 to 2 on Tuesday to extend the night bus network to the suburbs."
    ev, features, smaller = evidence([text, text], [(0, 1)])
    for name in FEATURES:
        assert ev[name][0] == pytest.approx(1.0), name
    assert ev["number_difference"][0] == 0
    assert load_verifier().score(features, smaller)[0] > 0.9


def test_words_the_pair_shares_are_not_made_common_by_the_pair_itself():
    # In a run of just these two paragraphs every word has the same rarity: rare-word Jaccard
    # is plain Jaccard (the pair's own paragraphs are left out of the counts).
    a = "regional council night bus network northern suburbs residents shift workers campaign"
    b = "regional council night bus network northern suburbs voters officials budget plan"
    ev, _, _ = evidence([a, b], [(0, 1)])
    assert ev["rare_jaccard"][0] == pytest.approx(ev["jaccard"][0])
    # Words many other paragraphs use weigh less: sharing only those is weaker evidence.
    common = ["council night bus network weather sports"] * 20
    ev2, _, _ = evidence([a, b, *common], [(0, 1)])
    assert ev2["rare_jaccard"][0] < ev2["jaccard"][0]


def test_order_counts_content_words_kept_in_order():
    a = "police facial recognition scrutiny researchers racial gender disparities systems"
    shuffled = "systems disparities gender racial researchers scrutiny recognition facial police"
    ev, _, _ = evidence([a, a + " amazon", shuffled], [(0, 1), (0, 2)])
    assert ev["jaccard"][1] == 1.0 and ev["order"][0] > ev["order"][1]


def test_template_lines_that_differ_in_their_numbers_are_different_records():
    a = "18.10.2019, 06:37 Zum Antworten anmelden Zitieren #"
    b = "18.10.2019, 16:31 Zum Antworten anmelden Zitieren #"
    ev, features, _ = evidence([a, b], [(0, 1)])
    assert ev["number_difference"][0] == 1.0
    score = np.ones(1, np.float32)
    assert not are_copies(score, features, np.zeros(1, bool), S)[0]


def test_lines_that_share_a_date_and_little_else_are_not_copies_but_copied_figures_are():
    bylines = ["Brian Keller - July 18th, 2012, 9:40 am", "Gallery: July 18th, 2012, 9:40 am 9 of 9"]
    census = ("There were 300 people, 136 households and 82 families residing in the village, "
              "1,312.8 people per square mile; 93.67% white, 1.00% Asian, 4.33% from two races.")
    spun = ("Of 2000, there were 300 people, 136 family and 82 families of the village, 1,312.8 "
            "people per square mile; 93.67% white, 1.00% Asian, 4.33% from two or more races.")
    ev, features, _ = evidence([*bylines, census, spun], [(0, 1), (2, 3)])
    assert (ev["shared_numbers"] >= 0.5).all()
    assert ev["shared_words"][0] < S.min_words <= ev["shared_words"][1]
    ok = are_copies(np.ones(2, np.float32), features, np.zeros(2, bool), S)
    assert not ok[0] and ok[1]


def test_two_reports_quoting_one_statement_are_copies_only_if_their_own_words_are_asked_not_to_be():
    statement = ("“While scientists have not yet detected liquid water directly, we have found "
                 "the next best thing: water in vapor form,”")
    texts = [f"{statement} Paganini added.",
             f"{statement} lead researcher Lucas Paganini said in a NASA statement.",
             f"{statement} Paganini added in Tuesday's briefing."]
    ev, features, _ = evidence(texts, [(0, 1), (0, 2)])
    assert (ev["both_quote"] == 1).all() and ev["own_jaccard"][0] < S.min_jaccard
    score = np.ones(2, np.float32)
    assert are_copies(score, features, np.zeros(2, bool), S).all()
    strict = DedupSettings(quotes_need_own_words=True)
    assert are_copies(score, features, np.zeros(2, bool), strict).tolist() == [False, True]


def test_inside_a_document_only_exact_copies_count():
    teaser = "El estratega sudamericano habló de lo que representa para él ganarle a su exequipo."
    longer = teaser[:-1] + " y también de lo que le genera estar a punto de ganar."
    item_a = ("When a player from a CPU controlled team gets an injury, this will "
              "increase or reduce the severity of that injury.")
    item_b = item_a.replace("CPU", "user")
    _, features, _ = evidence([teaser, longer, item_a, item_b], [(0, 1), (2, 3)])
    assert not are_copies(np.ones(2, np.float32), features, np.ones(2, bool), S).any()
    assert are_copies(np.ones(2, np.float32), features, np.zeros(2, bool), S).all()


def test_pairs_left_unscored_are_those_below_the_jaccard_floor():
    rng = np.random.default_rng(2)
    vocabulary = [f"w{k}" for k in range(30)]
    texts = [" ".join(rng.choice(vocabulary, rng.integers(3, 15))) for _ in range(60)]
    sets = sets_of_table(minhash(pa.table({"text": texts}), S))
    a, b = rng.integers(0, 60, 500), rng.integers(0, 60, 500)
    features, _ = pair_features(sets, a, sets, b, WordRarity.of(sets.csr["content"][0], 60))
    for floor in (0.2, 0.4):
        settings = DedupSettings(min_jaccard=floor)
        reached = reach_jaccard_floor(sets, a, sets, b, settings)
        assert 0 < reached.sum() < len(a)
        assert (reached == (features[:, FEATURES.index("jaccard")] >= floor)).all()


def test_more_evidence_never_lowers_the_score():
    verifier = load_verifier()
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 1, (500, len(FEATURES)))
    more = np.minimum(base + rng.uniform(0, 0.3, base.shape), 1.0)
    sizes = rng.integers(5, 300, 500)
    assert (verifier.score(more, sizes) >= verifier.score(base, sizes) - 1e-6).all()


def test_the_model_file_is_checked():
    model = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    Verifier.from_dict(model)
    with pytest.raises(ValueError, match="non-negative"):
        Verifier.from_dict({**model, "short": [-1.0] + model["short"][1:]})
    with pytest.raises(ValueError, match="features"):
        Verifier.from_dict({**model, "features": model["features"][:-1]})


def test_a_paragraph_that_may_not_lead_is_a_member_but_never_a_canonical():
    # Exact groups: the head is the first row that may lead.
    norm_hash = np.array([5, 5, 5, 7], dtype=np.uint64)
    _, head = exact_groups(norm_hash, np.array([False, True, True, False]))
    assert head.tolist() == [1, 1, 1, 3]
    # Near pairs: row 1 cannot join row 0, which may not lead; row 2 joins row 1.
    status = np.ones(3, np.int8)
    canonical_of, sim_of = np.full(3, -1), np.full(3, np.nan, np.float32)
    i, j = np.array([0, 0, 1]), np.array([1, 2, 2])
    assign_sorted(i, j, np.ones(3, np.float32), status, canonical_of, sim_of,
                  np.array([False, True, True]))
    assert canonical_of.tolist() == [-1, -1, 1]


def test_a_pairs_evidence_and_score_do_not_depend_on_the_pairs_judged_with_it():
    """The cluster judges a pair with other pairs than one process does: each pair's features
    and score must be the same bit for bit (sums per row, not differences of running sums)."""
    from tasks.cross_document.verifier import WordRarity, load_verifier, pair_features

    rng = np.random.default_rng(11)
    rows = 400
    sets = [np.unique(rng.integers(0, 3000, rng.integers(3, 60))).astype(np.uint32)
            for _ in range(rows)]
    offsets = np.concatenate(([0], np.cumsum([len(x) for x in sets])))
    values = np.concatenate(sets)
    csr = {name: (values, offsets) for name in ("content", "own", "skips", "numbers")}
    every = ContentSets(csr, np.zeros(rows, bool))
    rarity = WordRarity.of(values, rows)
    a, b = rng.integers(0, rows, 300), rng.integers(0, rows, 300)
    together, smaller = pair_features(every, a, every, b, rarity)
    scores = load_verifier().score(together, smaller)
    for k in range(0, 300, 37):
        alone_a, alone_b = every.gather(np.array([a[k]])), every.gather(np.array([b[k]]))
        alone, small = pair_features(alone_a, np.array([0]), alone_b, np.array([0]), rarity)
        assert np.array_equal(alone[0], together[k])
        assert load_verifier().score(alone, small)[0] == scores[k]
