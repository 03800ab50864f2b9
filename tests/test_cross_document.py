"""The run-wide step's phases (tasks/cross_document/), each called directly on small inputs,
without Prefect; and `cross_document` itself on staged shards (tests/staged_shards.py)."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from staged_shards import Doc, run_step, stage_shard

import tasks.cross_document as step
from tasks.cross_document.candidates import Earlier, ExactCopies, exact_copies
from tasks.cross_document.canonicals import (
    Canonicals,
    choose_canonicals,
    resolve_copies,
    verify_range,
)
from tasks.cross_document.rows import RunRows, load_rows, repeated_ids
from tasks.cross_document.staged_sets import StagedSets, sets_of_table
from tasks.cross_document.templates import SCHEMA as TEMPLATE_COUNTS
from tasks.cross_document.templates import site_templates
from tasks.cross_document.verifier import WordRarity
from tasks.settings import BoilerplateSettings, DedupSettings, Settings
from tasks.shard import ShardResult
from tasks.store import Layout, Staging, Store

BASE = ("The regional council voted on Tuesday to extend the night bus network to the northern "
        "suburbs, after a two-year campaign by residents, shift workers and local businesses.")
SPUN = ("On Tuesday the regional council decided to extend its night bus network into the "
        "northern suburbs following a campaign of two years by residents and shift workers.")
OTHER = "Something unrelated about the weather in the mountains this weekend, with rain."


def words(lo, hi):
    return list(range(lo, hi))


def rows_of(norm_hash, boilerplate=None, has_keys=None, docs=None, template_key=None):
    """RunRows of one shard, made by hand."""
    n = len(norm_hash)
    doc = np.asarray(docs if docs is not None else range(n), dtype=np.int32)
    return RunRows(
        doc=doc, doc_names=[f"d{k}" for k in range(int(doc.max(initial=-1)) + 1)],
        para_index=np.zeros(n, np.int32), shard=np.zeros(n, np.int32),
        starts=np.array([0, n], np.int64),
        boilerplate=np.asarray(boilerplate if boilerplate is not None else [False] * n),
        template_key=np.asarray(template_key if template_key is not None else [0] * n,
                                dtype=np.uint64),
        norm_hash=np.asarray(norm_hash, dtype=np.uint64),
        has_keys=np.asarray(has_keys if has_keys is not None else [True] * n),
        may_lead=np.ones(n, bool))


def staged_sets(tmp_path, content, own=None):
    """StagedSets of rows with these content-word sets (and words outside quotations)."""
    sets = StagedSets(tmp_path / "sets")
    sets.append(set_columns(content, own))
    return sets.finish()


def set_columns(content, own=None):
    """The verifier's set columns for rows with these content-word sets (and words outside
    quotations); skip pairs as the sets, no numbers."""
    lists = [sorted(set(c)) for c in content]
    return pa.table({
        "content": pa.array(lists, pa.list_(pa.uint32())),
        "own_content": pa.array(own or [None] * len(content), pa.list_(pa.uint32())),
        "skip_pairs": pa.array(lists, pa.list_(pa.uint32())),
        "numbers": pa.array([[] for _ in content], pa.list_(pa.uint32()))})


def rarity_of(sets):
    return WordRarity.of(sets.read_all("content"), sets.rows)


# Only the Jaccard floors decide: these tests check the step's mechanics, not the verifier.
FLOORS = {"min_score": 0.0}


def no_earlier():
    return Earlier(pa.table({"para_id": pa.array([], pa.string())}), None, np.zeros(0, np.int64),
                   np.zeros((0, 2), np.int64), np.zeros((0, 2), np.int64))


class Pairs:
    """A pair source (as the band tables are) over the given (i, j) pairs of representatives."""

    def __init__(self, pairs, m):
        self.m = m
        self.codes = np.sort(np.array([j * m + i for i, j in pairs], dtype=np.int64))

    def pairs(self, a0, a1):
        lo, hi = np.searchsorted(self.codes, [a0 * self.m, a1 * self.m])
        return self.codes[lo:hi]


# -- 1. rows ------------------------------------------------------------------------------------

def test_rows_load_in_canonical_order_and_repeated_ids_are_those_of_later_shards(tmp_path):
    store, settings = Store(tmp_path), Settings()
    shards = [stage_shard(store, "00001-t", 0, [Doc("a", [BASE, OTHER]), Doc("b", [SPUN])],
                          settings),
              stage_shard(store, "00001-t", 1, [Doc("c", [OTHER], site="other.org"),
                                                Doc("a", [BASE])], settings)]
    rows, site_of_doc = load_rows(shards)
    assert rows.para_ids(np.arange(len(rows))) == ["a:0", "a:1", "b:0", "c:0", "a:0"]
    assert rows.starts.tolist() == [0, 3, 5]
    assert site_of_doc == {"a": "example.org", "b": "example.org", "c": "other.org"}
    assert repeated_ids(rows).tolist() == [False, False, False, False, True]
    assert rows.shard is None  # done with


def test_rows_of_a_shard_that_disagrees_with_its_result_are_refused(tmp_path):
    shard = stage_shard(Store(tmp_path), "00001-t", 0, [Doc("a", [BASE])], Settings())
    wrong = ShardResult(0, shard.directory, 1, 2, 0, {})
    with pytest.raises(RuntimeError, match="has 1 paragraphs, its result says 2"):
        load_rows([wrong])


# -- 2. site templates ----------------------------------------------------------------------------

def test_site_templates_count_this_run_and_earlier_runs(tmp_path):
    clean, staging = Layout(tmp_path / "clean"), Staging(tmp_path / "staging", "00002-t")
    earlier = clean.index_file("templates", "00001-t")
    earlier.parent.mkdir(parents=True)
    pq.write_table(pa.table({"site": ["s.org", "s.org"], "key": pa.array([9, 0], pa.uint64()),
                             "docs": [1, 1]}, schema=TEMPLATE_COUNTS), earlier)
    # Four documents of s.org: key 7 in three (and in a line of the fourth a rule took), key 9
    # in two (three with the earlier run's page), key 5 in one (and in a repeated id's row).
    keys = [7, 9, 5, 7, 9, 7, 7, 5, 1]
    docs = [0, 0, 0, 1, 1, 2, 3, 3, 3]
    rows = rows_of(np.ones(9), boilerplate=[False] * 6 + [True, False, False], docs=docs,
                   template_key=keys)
    repeated = np.array([False] * 7 + [True, False])
    site_of_doc = {"d0": "s.org", "d1": "s.org", "d2": "s.org", "d3": "s.org"}
    got = site_templates(rows, site_of_doc, repeated, BoilerplateSettings(), clean, staging)
    assert got.tolist() == [True, True, False, True, True, True, False, False, False]
    assert rows.template_key is None
    staged = pq.read_table(staging.index_file("templates")).to_pylist()
    assert staged == [{"site": "s.org", "key": key, "docs": docs}  # this run's counts only
                      for key, docs in ((0, 4), (1, 1), (5, 1), (7, 3), (9, 2))]


# -- 3. exact copies ------------------------------------------------------------------------------

def test_exact_copies_group_by_hash_and_never_take_boilerplate():
    rows = rows_of([5, 5, 0, 7, 5, 7, 9, 9],
                   boilerplate=[False, False, False, False, True, False, False, False],
                   has_keys=[True, True, True, False, True, False, True, True])
    templates = np.array([False] * 7 + [True])
    repeated = np.zeros(8, bool)
    exact, heads = exact_copies(rows, templates, repeated, with_history=True)
    assert exact.reps.tolist() == [0, 6]  # row 3 heads its group but has no band keys
    assert exact.copy_rows.tolist() == [1, 5] and exact.copy_heads.tolist() == [0, 3]
    assert exact.eligible.tolist() == [True, True, False, True, False, True, True, False]
    assert heads.rows.tolist() == [0, 3, 6] and heads.hashes.tolist() == [5, 7, 9]
    assert rows.norm_hash is None and rows.boilerplate is None
    _, heads = exact_copies(rows_of([5, 5]), np.zeros(2, bool), np.zeros(2, bool), False)
    assert len(heads.rows) == 0  # no earlier runs to match


# -- 5. verification ------------------------------------------------------------------------------

def test_verification_thresholds_same_document_and_quotations(tmp_path):
    quote = words(500, 560)
    content = [words(0, 100), words(8, 108), words(10, 110), words(0, 20) + quote,
               words(20, 40) + quote]
    own = [None, None, None, words(0, 20), words(20, 40)]
    sets = staged_sets(tmp_path, content, own)
    doc = np.array([0, 1, 0, 2, 3])
    reps = np.arange(5)
    settings = DedupSettings(**FLOORS, min_jaccard=0.7)
    i, j = np.array([0, 0, 3]), np.array([1, 2, 4])
    (near_i, near_j, sims), (hist, hist_s) = verify_range(sets, i, j, reps, doc,
                                                          np.zeros((0, 2), np.int64),
                                                          no_earlier(), rarity_of(sets), settings)
    # (0, 1): J 0.85, two documents; (0, 2): J 0.82 but one document (0.9 needed); (3, 4): J 0.5
    # over all words, and the words outside the quotation share nothing.
    assert list(zip(near_i.tolist(), near_j.tolist())) == [(0, 1)]
    assert 0 < sims[0] < 1  # the verifier's score
    assert len(hist) == len(hist_s) == 0


def test_verification_with_earlier_runs_paragraphs(tmp_path):
    sets = staged_sets(tmp_path, [words(0, 100), words(200, 300)])
    entries = set_columns([words(0, 100), words(200, 250)]).append_column(
        "para_id", pa.array(["old:0", "old:1"]))
    earlier = Earlier(entries, sets_of_table(entries), np.array([-1, -2]),
                      np.zeros((0, 2), np.int64), np.array([[0, 0], [1, 1]]))
    _, (hist, hist_s) = verify_range(sets, np.zeros(0, np.int32), np.zeros(0, np.int32),
                                     np.arange(2), np.arange(2), earlier.near, earlier,
                                     rarity_of(sets), DedupSettings(**FLOORS, min_jaccard=0.7))
    assert hist.tolist() == [[0, 0]] and hist_s[0] > 0.5  # (1, 1) has J 0.5


# -- 6. canonicals by range ------------------------------------------------------------------------

@pytest.mark.parametrize("one_range", [True, False])
def test_canonicals_earliest_first_and_no_chaining(tmp_path, one_range):
    # J(a, b) = J(b, c) = 0.85, J(a, c) = 0.72; d is a's set again; e is like nothing.
    content = [words(0, 100), words(8, 108), words(16, 116), words(0, 100), words(300, 400)]
    sets = staged_sets(tmp_path, content)
    pairs = Pairs([(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)], 5)
    ranges = [(0, 5)] if one_range else [(k, k + 1) for k in range(5)]
    found = choose_canonicals(pairs, ranges, np.arange(5), np.arange(5), no_earlier(), sets,
                              rarity_of(sets), np.ones(5, bool),
                              DedupSettings(**FLOORS, min_jaccard=0.78))
    assert found.canonical_of.tolist() == [-1, 0, -1, 0, -1]  # c stays alone: b is a member
    assert found.candidate_pairs == 6
    # in ranges, pairs whose earlier row is a member already are not compared
    assert found.compared_pairs == (6 if one_range else 4)


def test_pairs_inside_one_document_are_neither_compared_nor_copies(tmp_path):
    # a and b share a document: near, but not exact, so never copies; c (another document)
    # is a near copy of both.
    content = [words(0, 100), words(8, 108), words(4, 104)]
    sets = staged_sets(tmp_path, content)
    found = choose_canonicals(Pairs([(0, 1), (0, 2), (1, 2)], 3), [(0, 3)], np.arange(3),
                              np.array([0, 0, 1]), no_earlier(), sets, rarity_of(sets),
                              np.ones(3, bool), DedupSettings(**FLOORS, min_jaccard=0.78))
    assert found.canonical_of.tolist() == [-1, -1, 0]
    assert found.candidate_pairs == 3
    assert found.compared_pairs == 2


def test_canonicals_with_earlier_runs_paragraphs_first(tmp_path):
    """Earlier runs' paragraphs come first in the numbering: they are canonicals, never
    members; an exact match with one is taken as is."""
    sets = staged_sets(tmp_path, [words(0, 100), words(0, 100)])
    entries = set_columns([words(0, 100)]).append_column("para_id", pa.array(["old:0"]))
    earlier = Earlier(entries, sets_of_table(entries), np.array([-1]),
                      np.array([[0, 1]]), np.array([[0, 0]]))
    found = choose_canonicals(Pairs([(0, 1)], 2), [(0, 2)], np.arange(2), np.arange(2),
                              earlier, sets, rarity_of(sets), np.ones(2, bool),
                              DedupSettings(**FLOORS))
    assert found.canonical_of.tolist() == [-1, 0, 0]  # slot 0, then this run's rows 0 and 1
    assert 0.5 < found.sim_of[1] < 1 and found.sim_of[2] == 1.0  # the verifier's score; exact
    assert found.verified_pairs == 3  # the exact match, and rows 0 and 1 with slot 0 and each other


def test_exact_copies_follow_their_head_into_its_cluster():
    canonicals = Canonicals(np.array([-1, -1, 0, -1, -1], np.int32),
                            np.array([np.nan, np.nan, 0.9, np.nan, np.nan], np.float32))
    exact = ExactCopies(np.arange(3), np.array([3, 4]), np.array([2, 1]), np.ones(5, bool))
    found = resolve_copies(exact, canonicals, h=0)
    assert found.dup_of.tolist() == [-1, -1, 0, 0, 1]
    assert found.similarity[2:].tolist() == pytest.approx([0.9, 0.9, 1.0])
    assert found.cluster.tolist() == [0, 1, 0, 0, 1]


# -- the step as a whole --------------------------------------------------------------------------

def test_the_step_writes_a_cross_table_per_shard_and_indexes_canonicals(tmp_path):
    shards = [[Doc("a", [BASE, OTHER])], [Doc("b", ["Home", SPUN, OTHER.upper()])]]
    result, cross = run_step(tmp_path, 1, shards, Settings())
    assert cross["b:1"]["dup_of"] == "a:0" and cross["b:2"]["dup_of"] == "a:1"
    assert cross["a:0"]["dup_cluster"] == "a:0" and cross["b:0"]["dup_of"] is None
    assert (result.duplicates, result.clusters, result.duplicates_of_earlier_runs) == (2, 2, 0)
    store = Store(tmp_path)
    entries = pq.read_table(store.index_file("entries", "00001-test"))
    assert entries["para_id"].to_pylist() == ["a:0", "a:1", "b:0"]  # members are not indexed
    assert result.indexed_paragraphs == 3
    bands = pq.ParquetFile(store.index_file("bands", "00001-test"))
    assert bands.num_row_groups == DedupSettings().bands
    assert not Store(tmp_path).staging("00001-test").work_dir.exists()  # committed, cleaned


def test_the_step_leaves_superseded_documents_out_of_earlier_runs(tmp_path):
    run_step(tmp_path, 1, [[Doc("old", [BASE])]], Settings())
    _, cross = run_step(tmp_path, 2, [[Doc("new", [BASE])]], Settings(),
                        exclude_doc_ids={"old"}, commit=False)
    assert cross["new:0"]["dup_of"] is None
    result, cross = run_step(tmp_path, 3, [[Doc("newer", [SPUN])]], Settings(), commit=False)
    assert cross["newer:0"]["dup_of"] == "old:0" and result.earlier_paragraphs_matched == 1


def test_the_step_decides_the_same_range_by_range(tmp_path, monkeypatch):
    shards = [[Doc("a", [BASE, OTHER, SPUN])], [Doc("b", [SPUN + " Again.", BASE.upper()])],
              [Doc("c", [OTHER + " Today.", BASE + " Indeed."])]]
    new = "A new paragraph about the harbour plan and its cost, which residents questioned."
    later = [[Doc("d", [SPUN, OTHER.upper(), new])]]
    outputs = []
    for budget in (None, 1):
        if budget:
            monkeypatch.setattr(step, "_RANGE_PAIRS", budget)
        first = run_step(tmp_path / str(budget), 1, shards, Settings())
        second = run_step(tmp_path / str(budget), 2, later, Settings())
        outputs.append((first, second))
    for (result_a, cross_a), (result_b, cross_b) in zip(*outputs):
        assert cross_a == cross_b
        assert result_b.compared_pairs <= result_a.compared_pairs
        assert result_a.duplicates == result_b.duplicates > 0
    assert outputs[0][1][0].duplicates_of_earlier_runs > 0
