"""The duplicate rules, each checked on the in-memory reference (tests/reference_dedup.py) and on
the product's run-wide step (`cross_document` on staged shards, tests/staged_shards.py)."""

import itertools

import numpy as np
import pytest
from conftest import random_pairs
from reference_dedup import DedupInput, candidate_pairs, exact_jaccard, find_duplicates
from staged_shards import Doc, find_with_the_step, run_step

from tasks.cross_document.duplicates import ContentSets, merge_sorted_unique
from tasks.cross_document.staged_sets import sets_of_normalized
from tasks.settings import DedupSettings, Settings
from tasks.shard.minhash import band_keys, signatures
from tasks.shard.normalize import normalize
from tasks.shard.paragraphs import split_text

S = DedupSettings()

BASE = ("The regional council voted on Tuesday to extend the night bus network to the northern "
        "suburbs, after a two-year campaign by residents, shift workers and local businesses.")


def run(texts, docs=None, settings=S, fixed=None):
    norm = normalize(texts)
    sigs, has = signatures(norm, settings.num_perm, settings.seed, settings.min_words)
    keys = band_keys(sigs, settings.bands, settings.rows, settings.seed)
    doc = np.array(docs if docs is not None else range(len(texts)))
    return find_duplicates(DedupInput(norm.norm_hash, keys, has, sets_of_normalized(norm), doc,
                                      fixed=fixed), settings)


@pytest.fixture(params=["reference", "step"])
def find(request, tmp_path):
    """find(texts, docs=None, settings=S): the duplicates, by row of `texts`."""
    if request.param == "reference":
        return run
    folders = (tmp_path / str(k) for k in itertools.count())
    return lambda texts, docs=None, settings=S: find_with_the_step(next(folders), texts, docs,
                                                                   settings)


SPUN = ("On Tuesday the regional council decided to extend its night bus network into the "
        "northern suburbs following a campaign of two years by residents and shift workers.")


def test_exact_and_rewritten_copies_join_the_earliest(find):
    texts = ["Something unrelated about the weather in the mountains this weekend, with rain.",
             BASE, BASE.upper(), SPUN]
    d = find(texts)
    assert d.dup_of.tolist() == [-1, -1, 1, 1]
    assert d.similarity[2] == 1.0 and S.min_score <= d.similarity[3] < 1.0
    assert d.cluster.tolist() == [-1, 1, 1, 1]


def test_same_topic_is_not_a_copy(find):
    texts = [BASE, ("Residents of the northern suburbs have campaigned for two years for better "
                    "buses; the council will vote on the network next month, officials said.")]
    assert find(texts).dup_of.tolist() == [-1, -1]


def test_seed_articles_differently_worded_paragraphs_are_not_merged(find, seed_texts):
    paragraphs, docs = [], []
    for name, text in seed_texts.items():
        for _, _, p in split_text(text):
            paragraphs.append(p)
            docs.append(name)
    codes = {d: i for i, d in enumerate(seed_texts)}
    d = find(paragraphs, [codes[x] for x in docs])
    # Only the repeated comment-form lines are copies (the pipeline tags them as boilerplate
    # first, so they never reach the duplicate finder); the article paragraphs, which quote one
    # letter in different words, are not.
    dup_texts = {paragraphs[i] for i in np.flatnonzero(d.dup_of >= 0)}
    assert dup_texts == {"Please enter your comment!", "Please enter your name here"}


def test_quotations_alone_do_not_make_a_copy(find):
    quote = ("“We believe now is the time to begin a national dialogue on whether and how facial "
             "recognition technology should be employed by domestic law enforcement agencies.”")
    a = f"In a letter to Congress on June 8, the chief executive wrote: {quote}"
    b = f"{quote} That is how the company's boss put it, according to a report by The Verge."
    assert find([a, b]).dup_of.tolist() == [-1, -1]
    assert find([a, a.replace("June 8", "8 June")]).dup_of.tolist() == [-1, 0]


def test_same_document_needs_a_near_copy(find):
    items = [("Score 6: the essay develops a point of view with outstanding critical thinking, "
              "using clearly appropriate examples, reasons and other evidence."),
             ("Score 5: the essay develops a point of view with strong critical thinking, using "
              "generally appropriate examples, reasons and other evidence.")]
    assert find(items, docs=[0, 0]).dup_of.tolist() == [-1, -1]
    assert find(items, docs=[0, 1]).dup_of.tolist() == [-1, 0]


def test_no_chaining_through_a_middle_member(find):
    # Content-word sets: J(a, b) = J(b, c) = 0.85, J(a, c) = 0.72; the Jaccard floor 0.78.
    a, b, c = (" ".join(f"w{i}" for i in range(lo, lo + 100)) for lo in (0, 8, 16))
    settings = DedupSettings(min_score=0.0, min_jaccard=0.78)
    d = find([a, b, c], settings=settings)
    assert d.dup_of[1] == 0
    assert d.dup_of[2] == -1  # c is like b only, and b is a member, not a canonical
    assert d.verified_pairs >= 2


def test_earlier_runs_rows_are_never_members():
    d = run([BASE, BASE], fixed=np.array([True, True]))
    assert d.dup_of.tolist() == [-1, -1]
    d = run([BASE, BASE + " Indeed."], fixed=np.array([True, False]))
    assert d.dup_of.tolist() == [-1, 0]


def test_in_the_step_earlier_runs_paragraphs_come_first(tmp_path):
    """The step's form of the rule above: a later run's copy joins the earlier run's paragraph,
    exact or near, even when it comes earlier in its own run's input."""
    other = "Something unrelated about the weather in the mountains this weekend, with rain."
    settings = Settings()
    run_step(tmp_path, 1, [[Doc("old", [BASE, other])]], settings)
    result, cross = run_step(tmp_path, 2, [[Doc("new", [other.upper(), SPUN])]], settings)
    assert cross["new:0"]["dup_of"] == "old:1"  # exact
    assert cross["new:1"]["dup_of"] == "old:0"  # near
    assert cross["new:1"]["dup_cluster"] == "old:0"
    assert result.duplicates_of_earlier_runs == 2 and result.earlier_paragraphs_matched == 2


def test_short_paragraphs_are_matched_exactly_only(find):
    d = find(["Read the full story", "read the full story!", "Read the whole story"])
    assert d.dup_of.tolist() == [-1, 0, -1]


def test_candidate_pairs_by_sorting_band_keys():
    keys = np.array([[1, 9], [2, 9], [1, 7], [3, 3]], dtype=np.uint32)
    assert candidate_pairs(keys).tolist() == [[0, 1], [0, 2]]
    big = np.zeros((100, 1), dtype=np.uint32)  # one bucket: heads capped, canonical kept
    pairs = candidate_pairs(big, max_heads=4)
    assert {0} <= set(pairs[:, 0].tolist()) <= {0, 1, 2, 3}
    assert set(pairs[pairs[:, 0] == 0][:, 1].tolist()) == set(range(1, 100))


def test_sort_by_key_orders_by_key_then_row():
    """Keys that share their high 32 bits (sorted apart by a second pass) and equal keys."""
    from tasks.cross_document.duplicates import sort_by_key

    rng = np.random.default_rng(3)
    for trial in range(30):
        m = int(rng.integers(0, 2000))
        keys = (rng.integers(0, 4, m, dtype=np.uint64) << np.uint64(32)) | \
            rng.integers(0, 3, m, dtype=np.uint64) << np.uint64(int(rng.integers(0, 31)))
        rows = np.sort(rng.choice(10**6, m, replace=False)) if trial % 2 else np.arange(m)
        sorted_keys, sorted_rows = sort_by_key(keys, rows if trial % 2 else None)
        order = np.lexsort((rows, keys))
        assert np.array_equal(sorted_keys, keys[order])
        assert np.array_equal(sorted_rows, rows[order])


def test_exact_jaccard_in_bulk():
    values = np.array([1, 2, 3, 2, 3, 4, 9], dtype=np.uint32)
    offsets = np.array([0, 3, 6, 7])
    sets = ContentSets({"content": (values, offsets)}, np.zeros(3, bool))
    j = exact_jaccard(sets, np.array([[0, 1], [0, 2], [1, 1]]))
    assert np.allclose(j, [0.5, 0.0, 1.0])


@pytest.mark.parametrize("high", [40, 2**32 - 1])
def test_intersections_count_and_weigh_the_shared_elements(high):
    from tasks.cross_document.setops import intersections

    rng = np.random.default_rng(5)

    def random_csr(rows):
        sets = [np.unique(rng.integers(high - 40, high, rng.integers(0, 12), endpoint=True))
                .astype(np.uint32) for _ in range(rows)]
        offsets = np.concatenate(([0], np.cumsum([len(x) for x in sets])))
        return sets, (np.concatenate(sets), offsets)

    a_sets, a = random_csr(30)
    b_sets, b = random_csr(25)
    a_rows, b_rows = rng.integers(0, 30, 200), rng.integers(0, 25, 200).astype(np.int32)
    weights = rng.random((len(a[0]), 2))
    counts, _ = intersections(a, a_rows, b, b_rows)
    weighted_counts, weighed = intersections(a, a_rows, b, b_rows, weights)
    for k, (i, j) in enumerate(zip(a_rows, b_rows)):
        shared = set(a_sets[i].tolist()) & set(b_sets[j].tolist())
        assert counts[k] == weighted_counts[k] == len(shared)
        at = sorted(a[1][i] + a_sets[i].tolist().index(v) for v in shared)
        for column in range(2):  # added in a's order: the same float as a sequential sum
            assert weighed[k, column] == sum(weights[at, column].tolist(), 0.0)


def test_intersections_refuse_rows_outside_the_sets():
    from tasks.cross_document.setops import intersections

    sets = (np.array([1, 2, 3], np.uint32), np.array([0, 2, 3]))
    with pytest.raises(ValueError, match="out of range"):
        intersections(sets, np.array([0, 2]), sets, np.array([0, 1]))
    with pytest.raises(ValueError, match="do not span"):
        intersections((sets[0], np.array([0, 2, 4])), np.array([0]), sets, np.array([0]))
    with pytest.raises(ValueError, match="rows of a for"):
        intersections(sets, np.array([0]), sets, np.array([0, 1]))


def _greedy(pairs, sims, n):
    """The plain sequential greedy, as a reference."""
    dup_of = [-1] * n
    for (i, j), _ in sorted(zip(map(tuple, pairs.tolist()), sims.tolist())):
        if dup_of[i] < 0 and dup_of[j] < 0:
            dup_of[j] = i
    return dup_of


def test_vectorised_canonical_assignment_equals_the_greedy():
    from reference_dedup import assign_canonicals

    rng = np.random.default_rng(3)
    for _ in range(50):
        n, pairs, sims = random_pairs(rng, 40, 120)
        got, _ = assign_canonicals(pairs, sims, n)
        assert got.tolist() == _greedy(pairs, sims, n)


def test_merge_sorted_unique_is_the_sorted_union():
    rng = np.random.default_rng(3)
    for size_a, size_b in ((0, 5), (5, 0), (1000, 10), (10, 1000), (500, 500)):
        a = np.unique(rng.integers(0, 2000, size_a))
        b = np.unique(rng.integers(0, 2000, size_b))
        merged = merge_sorted_unique(a, b)
        assert merged.tolist() == np.union1d(a, b).tolist()
    wide = np.array([-(2**62), 0, 2**62])  # the whole int64 range
    assert merge_sorted_unique(wide, np.array([1, 2**62])).tolist() == [-(2**62), 0, 1, 2**62]
    with pytest.raises(TypeError, match="int64"):
        merge_sorted_unique(np.arange(3, dtype=np.uint64), np.arange(2, dtype=np.uint64))


def test_every_two_members_of_a_cluster_are_copies_of_each_other(find):
    # J(canonical, a) = J(canonical, b) = 0.54, J(a, b) = 0.25: with the Jaccard floor at 0.3
    # both are copies of the canonical, and not of each other, so b leaves the cluster.
    canonical = " ".join(f"w{i}" for i in range(100))
    a = " ".join(f"w{i}" for i in [*range(70), *range(200, 230)])
    b = " ".join(f"w{i}" for i in [*range(30, 100), *range(300, 330)])
    settings = DedupSettings(min_score=0.0, min_jaccard=0.3)
    d = find([canonical, a, b], docs=[0, 1, 2], settings=settings)
    assert d.dup_of.tolist() == [-1, 0, -1]
    assert d.cluster.tolist() == [0, 0, -1]
