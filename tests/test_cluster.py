"""The run-wide step on a Dask cluster (tasks/cross_document/cluster/) writes what the single-
process step writes: the same `cross` rows, index files and template counts, over two runs (the
second matched against the first), with 1 to 4 workers and several partition counts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from staged_shards import Doc, stage_shard

from benchmarks.compare_outputs import index_view
from tasks.cross_document import cross_document
from tasks.publish.compaction import compact
from tasks.publish.supersede import stage_index_exclusions
from tasks.settings import CompactionSettings, Settings
from tasks.store import TABLE_NAMES, Store

distributed = pytest.importorskip("distributed")
ROOT = Path(__file__).resolve().parent.parent

WORDS = [f"{a}{b}" for a in ("bra", "cle", "dro", "fen", "gar", "hol", "jup", "kes", "lom",
                             "mar", "nev", "pol", "qua", "ros", "sel", "tam", "ulm", "vor")
         for b in ("ton", "isk", "ama", "ule", "ex", "ord", "ina", "ush")]


def _sentence(rng, n):
    return " ".join(rng.choice(WORDS, n)).capitalize() + "."


def _edit(rng, text, changes):
    words = text.rstrip(".").split()
    for _ in range(changes):
        words[int(rng.integers(len(words)))] = str(rng.choice(WORDS))
    return " ".join(words) + "."


def _corpus(seed: int, docs: int, first_doc: int = 0) -> list[list[Doc]]:
    """Shards of documents with exact copies, edited copies (some of copies: chains), copies
    inside one document, quotations, boilerplate, site templates, a content-model tag, and a
    document id read again by a later shard."""
    common = np.random.default_rng(0)  # the stories every run copies from
    sources = [_sentence(common, int(common.integers(12, 40))) for _ in range(40)]
    rng = np.random.default_rng(seed)
    made: list[Doc] = []
    chain = [str(sources[1])]
    for k in range(first_doc, first_doc + docs):
        paragraphs, rules = [], []
        # A chain: each an edit of the one before (a copy of a copy ...), across documents.
        chain.append(_edit(rng, chain[-1], 2))
        paragraphs.append(chain[-1])
        rules.append(None)
        # Copies of one story edited in its first or its second half: each like the story,
        # two of them not always like each other (tightened clusters).
        story = str(sources[2 + k % 3]).rstrip(".").split()
        half = len(story) // 2
        changed = range(half) if rng.random() < 0.5 else range(half, len(story))
        for at in changed:
            if rng.random() < 0.4:
                story[at] = str(rng.choice(WORDS))
        paragraphs.append(" ".join(story) + ".")
        rules.append(None)
        for _ in range(int(rng.integers(2, 7))):
            kind = rng.random()
            if kind < 0.25:
                text = str(rng.choice(sources))  # an exact copy
            elif kind < 0.55:
                base = str(rng.choice(sources + [p for d in made[-5:] for p in d.paragraphs]))
                text = _edit(rng, base, int(rng.integers(1, 6)))  # an edited copy, or of a copy
            elif kind < 0.62:
                text = f'He said "{rng.choice(sources)}" {_sentence(rng, 8)}'
            elif kind < 0.7 and paragraphs:
                text = paragraphs[-1]  # a copy inside one document
            else:
                text = _sentence(rng, int(rng.integers(3, 30)))
            paragraphs.append(text)
            rules.append("content_model" if rng.random() < 0.05 else None)
        paragraphs.append("Subscribe to our newsletter")  # a site template line
        rules.append(None)
        paragraphs.append("Please enter your comment!")
        rules.append("comment_form")
        made.append(Doc(f"doc-{k}", paragraphs, site=f"site{k % 3}.example", rules=rules))
    shards = [made[i:i + 7] for i in range(0, len(made), 7)]
    shards[-1].append(Doc(made[0].doc_id, ["A record read again with this id.",
                                           str(sources[0])], site="other.example"))
    return shards


def _run(clean, sequence, shards, settings, address=None, parts=None, superseded=()):
    store = Store(clean)
    settings = settings.merged({"clean": str(clean)})
    run_id = f"{sequence:05d}-test"
    staged = [stage_shard(store, run_id, k, docs, settings) for k, docs in enumerate(shards)]
    staging = store.staging(run_id)
    stage_index_exclusions(staging, {"x": set(superseded)} if superseded else {})
    if address is None:
        result = cross_document(staged, settings, staging, sequence, set(superseded))
    else:
        from tasks.cross_document.cluster import cross_document_on_cluster

        result = cross_document_on_cluster(staged, settings, staging, sequence, address, parts)
    rows = {}
    for shard in staged:
        ids = pq.read_table(shard.path("paragraphs"), columns=["para_id"])["para_id"].to_pylist()
        rows.update(zip(ids, pq.read_table(shard.path("cross")).to_pylist()))
    for table in TABLE_NAMES:
        staging.table_dir(table).mkdir(parents=True)
    store.commit(run_id, {"run_id": run_id, "sequence": sequence})
    # The index as lookups see it (one process writes Parquet, the cluster mapped arrays).
    index = {kind: table.to_pylist() for kind, table in index_view(clean).items()}
    return result, rows, index


def _same(a, b):
    result_a, rows_a, index_a = a
    result_b, rows_b, index_b = b
    assert rows_a == rows_b
    assert index_a == index_b
    for name in ("site_template_lines", "duplicates", "duplicates_of_earlier_runs", "clusters",
                 "loose_members", "indexed_paragraphs", "earlier_paragraphs_matched"):
        assert getattr(result_a, name) == getattr(result_b, name), name


SETTINGS = Settings().merged({"dedup": {"bands": 12, "rows": 2, "num_perm": 24, "min_words": 3},
                              "boilerplate": {"template_min_docs": 3}})


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as c:
        yield c


@pytest.mark.parametrize("parts", [1, 3, 8])
def test_the_cluster_writes_what_one_process_writes(tmp_path, cluster, parts, monkeypatch):
    if parts == 8:  # small pieces of pairs, judged a few at a time, components decided range
        # by range of their later rows (the workers are threads)
        from tasks.cross_document.cluster import bands, decide, verify

        monkeypatch.setattr(bands, "PIECE_PAIRS", 50)
        monkeypatch.setattr(verify, "JUDGE_PAIRS", 7)
        monkeypatch.setattr(decide, "EDGES_PER_RANGE", 5)
        monkeypatch.setattr(decide, "_BIN_ROWS", 3)
    first, second = _corpus(1, 30), _corpus(2, 25, first_doc=20)  # run 2 reads docs 20-29 again
    local = [_run(tmp_path / "local", 1, first, SETTINGS),
             _run(tmp_path / "local", 2, second, SETTINGS,
                  superseded=[f"doc-{k}" for k in range(20, 30)])]
    on_cluster = [_run(tmp_path / "cluster", 1, first, SETTINGS, cluster.scheduler_address,
                       parts),
                  _run(tmp_path / "cluster", 2, second, SETTINGS, cluster.scheduler_address,
                       parts, superseded=[f"doc-{k}" for k in range(20, 30)])]
    # The cases are there: copies of earlier runs' paragraphs, tightened clusters, templates.
    assert local[0][0].duplicates > 20 and local[1][0].duplicates_of_earlier_runs > 5
    assert local[0][0].loose_members > 0 and local[1][0].loose_members > 0
    assert local[0][0].site_template_lines > 0
    for a, b in zip(local, on_cluster):
        _same(a, b)
    # What the cluster's stages wrote for each other (the run report's shuffle bytes).
    written = on_cluster[0][0].written_bytes
    assert written["rows"] > 0 and written["verify"] > 0 and local[0][0].written_bytes == {}
    # Compaction merges the cluster's mapped segments with the rest as it merges Parquet ones.
    for clean in (tmp_path / "local", tmp_path / "cluster"):
        Store(clean).rearrange(lambda g: compact(g, CompactionSettings(), full=True))
    assert index_view(tmp_path / "local") == index_view(tmp_path / "cluster")


@pytest.mark.parametrize("workers", [1, 4])
def test_any_number_of_worker_processes_gives_the_same_rows(tmp_path, workers):
    shards = _corpus(5, 20)
    local = _run(tmp_path / "local", 1, shards, SETTINGS)
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as c:
        _same(local, _run(tmp_path / "cluster", 1, shards, SETTINGS, c.scheduler_address, 5))


def test_exact_copies_only(tmp_path, cluster):
    """Shards whose copies are all exact (short lines: no band keys), heads in other shards."""
    shards = [[Doc(f"d{s}-{k}", ["Short line one.", f"Line {s} {k} of its own.", "Another line."])
               for k in range(3)] for s in range(3)]
    _same(_run(tmp_path / "local", 1, shards, SETTINGS),
          _run(tmp_path / "cluster", 1, shards, SETTINGS, cluster.scheduler_address, 2))


def test_a_run_killed_on_the_cluster_resumes_after_its_last_finished_stage(tmp_path):
    """The flow's process killed (SIGKILL) once verification is done: run again, the stages
    before are not run again, and the rows are those of an uninterrupted run."""
    shards = _corpus(9, 14)
    local = _run(tmp_path / "local", 1, shards, SETTINGS)
    clean = tmp_path / "cluster"
    store, run_id = Store(clean), "00001-test"
    settings = SETTINGS.merged({"clean": str(clean)})
    staged = [stage_shard(store, run_id, k, docs, settings) for k, docs in enumerate(shards)]
    stage_index_exclusions(store.staging(run_id), {})
    script = (
        "import json, sys\n"
        "from tasks.cross_document.cluster import cross_document_on_cluster\n"
        "from tasks.settings import Settings\n"
        "from tasks.shard import ShardResult\n"
        "from tasks.store import Store\n"
        "args = json.loads(sys.argv[1])\n"
        "shards = [ShardResult(**s) for s in args['shards']]\n"
        "settings = Settings.model_validate(args['settings'])\n"
        "cross_document_on_cluster(shards, settings, Store(args['clean']).staging(args['run']),"
        " 1, args['address'], 3)\n")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as c:
        payload = json.dumps({"shards": [s.__dict__ for s in staged], "clean": str(clean),
                              "run": run_id, "address": c.scheduler_address,
                              "settings": settings.model_dump(mode="json")})
        killed = subprocess.run([sys.executable, "-c", script, payload], cwd=ROOT,
                                env={**os.environ, "TEXTWASH_CRASH_AT": "cluster:verify"},
                                capture_output=True, text=True, check=False)
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
        from tasks.cross_document.cluster import cross_document_on_cluster

        result = cross_document_on_cluster(staged, settings, store.staging(run_id), 1,
                                           c.scheduler_address, 3)
    assert "rows" not in result.seconds and "verify" not in result.seconds  # done before
    assert "labels" in result.seconds
    # Each exchange was removed once its last reader was done, before the kill or after it:
    # what is left is each shard's own files and the stage markers.
    work = store.staging(run_id).directory / "cluster"
    assert sorted(p.name for p in work.iterdir() if not p.name.startswith("shard-")) == \
        ["_stages"]
    assert not list(work.glob("shard-*/sets.arrow"))
    rows = {}
    for shard in staged:
        ids = pq.read_table(shard.path("paragraphs"), columns=["para_id"])["para_id"].to_pylist()
        rows.update(zip(ids, pq.read_table(shard.path("cross")).to_pylist()))
    assert rows == local[1]


def test_candidate_pairs_come_in_pieces_whatever_their_size(monkeypatch):
    """A hot key's group is paired in pieces of bounded size: the same pairs as in one piece."""
    from tasks.cross_document.cluster import bands
    from tasks.cross_document.duplicates import pairs_in_groups

    rng = np.random.default_rng(1)
    keys = np.sort(rng.integers(0, 50, 5000)).astype(np.uint64)
    rows = np.arange(5000)
    want = np.sort(pairs_in_groups(keys, rows, 5000, 32))
    for piece in (1, 7, 1000, 10**7):
        monkeypatch.setattr(bands, "PIECE_PAIRS", piece)
        found = list(bands.pairs_of_groups(keys, rows, 32))
        assert all(len(i) <= max(piece, 32) for i, _ in found)
        codes = np.concatenate([i * 5000 + j for i, j in found])
        assert np.array_equal(np.sort(codes), want)


def test_each_rounds_pairs_are_merged_once_into_the_shards_distinct_pairs(tmp_path):
    """Pairs met in many bands and rounds are held once; merging a round again (a resumed
    run) changes nothing."""
    from tasks.cross_document.cluster import bands
    from tasks.cross_document.cluster.job import Job

    job = Job(work=str(tmp_path), shards=("a", "b"), starts=(0, 100, 250), parts=3,
              settings=SETTINGS, clean=str(tmp_path), staging=str(tmp_path), run_id="r",
              run_seq=1)
    rng = np.random.default_rng(3)
    want = set()
    for first_band in (0, 8):
        exchange = job.exchange(f"pairs-{first_band:03d}", by_shard=True)
        for source in range(4):  # map tasks, each with repeats of its own and of the others
            j = rng.integers(1, 250, 400)
            i = rng.integers(0, j)
            shard = job.shard_of(j)
            exchange.write(source, shard, pa.table(
                {"code": bands.pair_codes(i, j - np.asarray(job.starts)[shard])},
                schema=bands.CODES))
            want |= set(zip(i.tolist(), j.tolist()))
        for _ in range(2):
            for shard in (0, 1):
                bands.merge_pairs(job, shard, first_band)
    found = set()
    for shard in (0, 1):
        codes = np.load(bands.candidates_path(job, shard))
        assert np.array_equal(codes, np.unique(codes))
        i, j = bands.pairs_of_codes(codes, job.first_row(shard))
        assert (job.shard_of(j) == shard).all()
        found |= set(zip(i.tolist(), j.tolist()))
    assert found == want


def test_the_stages_go_on_after_every_worker_restarted(tmp_path):
    """The job every task is handed survives its workers' restarts (a worker over its memory
    limit is restarted by its nanny): data scattered to them would be lost with them."""
    from distributed import Client

    from tasks.cross_document.cluster import _Runner
    from tasks.cross_document.cluster.job import Job

    job = Job(work=str(tmp_path), shards=("a", "b"), starts=(0, 10, 20), parts=2,
              settings=SETTINGS, clean=str(tmp_path), staging=str(tmp_path), run_id="r",
              run_seq=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as c, Client(c) as client:
        run = _Runner(client, job)
        assert run("before", lambda j, item: j.starts[item], [0, 1]) == [0, 10]
        client.restart_workers(list(client.scheduler_info()["workers"]))
        assert run("after", lambda j, item: j.starts[item + 1], [0, 1]) == [10, 20]
