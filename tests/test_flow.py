"""End-to-end: the clean_corpus flow on the repo's raw/ sample and on inputs written here."""

import json

import pyarrow.dataset as ds
import pytest
from conftest import RAW, write

from flows.clean_corpus import StrictModeError, clean_corpus, run_clean_corpus
from tasks import schema
from tasks.settings import Settings

pytestmark = pytest.mark.flow


def tables(clean):
    # with the schema: a table no run has written a row to has no part file to read it from
    return {name: ds.dataset(clean / name, format="parquet", schema=schema.TABLES[name]).to_table()
            for name in ("documents", "paragraphs", "rejects")}


def run(raw, clean, **sections):
    return run_clean_corpus(Settings.from_dict({"raw": str(raw), "clean": str(clean), **sections}))


@pytest.fixture(scope="module")
def demo(prefect_server, tmp_path_factory):
    clean = tmp_path_factory.mktemp("demo") / "clean"
    manifest = run(RAW, clean)
    return clean, manifest, tables(clean)


BOILERPLATE = ["Please enter your comment!", "Please enter your name here",
               "Full coverage: Technology"]


def test_demo_boilerplate_is_gone_from_documents_and_tagged_not_deduplicated(demo):
    _, _, t = demo
    docs = t["documents"].to_pylist()
    assert len(docs) == 3
    for doc in docs:
        for line in BOILERPLATE:
            assert line not in doc["text"]
    paras = t["paragraphs"].to_pylist()
    for p in paras:
        if p["text"] in BOILERPLATE:
            assert p["boilerplate_rule"] is not None
            assert p["drop_reason"] == "boilerplate"
            assert p["dup_of"] is None and p["dup_cluster"] is None


def test_demo_languages_mt_and_no_false_merges(demo):
    _, manifest, t = demo
    paras = t["paragraphs"].to_pylist()
    assert all(p["lang"] == "en" for p in paras if len(p["text"]) > 40)
    assert all(p["lang"] is not None for p in paras)
    docs = {d["source"]: d for d in t["documents"].to_pylist()}
    threshold = manifest["settings"]["translation"]["flag_threshold"]
    assert docs["000_91afe73fcc59af63.txt"]["mt_score"] >= threshold
    assert docs["001_bee12d5db40c36a2.txt"]["mt_score"] >= threshold
    assert docs["003_3dad9c3ed2cc3204.txt"]["mt_score"] < threshold
    assert docs["000_91afe73fcc59af63.txt"]["mt_signals"]
    # The seeds quote the same letter in differently worded paragraphs: not duplicates.
    assert [p for p in paras if p["dup_cluster"] is not None] == []
    assert manifest["counts"]["mt_flagged_documents"] == 2


def test_demo_output_contract(demo):
    clean, manifest, t = demo
    run_id = manifest["run_id"]
    assert (clean / "_runs" / f"{run_id}.json").is_file()
    for name in ("documents", "paragraphs"):
        assert (clean / name / run_id / "part-00000.parquet").is_file()
        assert set(t[name]["run_id"].to_pylist()) == {run_id}
    # nothing rejected: the run's folder, and no empty part file for readers to trip on
    assert t["rejects"].num_rows == 0
    assert (clean / "rejects" / run_id).is_dir() and not any((clean / "rejects" / run_id).iterdir())
    paras = t["paragraphs"]
    assert len(set(paras["para_id"].to_pylist())) == paras.num_rows
    docs = t["documents"].to_pylist()
    assert sum(d["n_paragraphs"] for d in docs) == paras.num_rows
    assert [i["documents"] for i in manifest["inputs"]] == [1, 1, 1]
    assert not (clean / "_staging").exists() or not any((clean / "_staging").iterdir())


def test_demo_readable_by_pandas_polars_duckdb(demo):
    import duckdb
    import pandas as pd
    import polars as pl
    from datasets import load_dataset

    clean, _, t = demo
    for name in ("documents", "paragraphs"):  # the demo rejects nothing: no rejects file
        table = t[name]
        assert len(pd.read_parquet(clean / name)) == table.num_rows
        hf = load_dataset("parquet", data_files=str(clean / name / "*" / "*.parquet"),
                          split="train", cache_dir=str(clean.parent / "hf-cache"))
        assert hf.num_rows == table.num_rows
        assert pl.read_parquet(clean / name / "**" / "*.parquet").height == table.num_rows
        count = duckdb.sql(f"select count(*) from '{clean / name}/*/*.parquet'").fetchall()[0][0]
        assert count == table.num_rows


def test_same_input_gives_identical_rows_and_rerun_publishes_nothing(demo, tmp_path):
    clean, _, first = demo
    # Again into a fresh folder, with one shard per file on a process pool this time.
    manifest = run(RAW, tmp_path / "clean", runtime={"shard_bytes": 1, "task_runner": "process"})
    assert len(manifest["stage_seconds"]) > 0
    second = tables(tmp_path / "clean")
    for name in first:
        assert second[name].equals(first[name]), name
    again = run(RAW, clean)
    assert again["run_id"] is None and len(again["skipped_inputs"]) == 3
    assert len(list((clean / "_runs").glob("*.json"))) == 1


def test_lightly_edited_paragraph_across_two_files_is_a_duplicate(prefect_server, tmp_path):
    para = ("The regional council voted on Tuesday to extend the night bus network to the "
            "northern suburbs, after a two-year campaign by residents and shift workers.")
    edited = para.replace("on Tuesday", "on Tuesday evening").replace("two-year", "two year")
    write(tmp_path / "raw" / "a.txt", f"First article\n\n{para}\n\nMore of the first article.")
    write(tmp_path / "raw" / "b.jsonl", json.dumps(
        {"id": "b1", "text": f"Another intro line here.\n{edited}\nThe end of the second one."}))
    run(tmp_path / "raw", tmp_path / "clean")
    t = tables(tmp_path / "clean")
    paras = {p["text"]: p for p in t["paragraphs"].to_pylist()}
    original, copy = paras[para], paras[edited]
    assert copy["dup_of"] == original["para_id"]
    assert copy["dup_cluster"] == original["dup_cluster"] == original["para_id"]
    assert copy["drop_reason"] == "duplicate" and copy["dup_similarity"] >= 0.7
    assert original["keep"] is True
    docs = {d["source"]: d for d in t["documents"].to_pylist()}
    assert edited not in docs["b.jsonl"]["text"] and para in docs["a.txt"]["text"]


def bad_corpus(raw):
    write(raw / "good.txt", "A perfectly good article.\n\nWith two paragraphs.")
    write(raw / "empty.txt", b"")
    write(raw / "binary.txt", bytes(range(256)) * 16)
    write(raw / "mixed.jsonl", '{"text": "ok"}\n{"text": broken}\n{"title": "no text"}\n')
    return 1 + 1 + 1 + 3  # records


def test_bad_input_never_stops_the_run(prefect_server, tmp_path):
    records = bad_corpus(tmp_path / "raw")
    manifest = run(tmp_path / "raw", tmp_path / "clean")
    t = tables(tmp_path / "clean")
    assert t["documents"].num_rows + t["rejects"].num_rows == records
    assert sorted(t["rejects"]["error"].to_pylist()) == [
        "binary", "empty_file", "malformed_json", "missing_text"]
    assert manifest["counts"]["rejects"] == 4


def test_strict_mode_fails_and_publishes_nothing(prefect_server, tmp_path):
    bad_corpus(tmp_path / "raw")
    with pytest.raises(StrictModeError, match="4 input records were rejected") as raised:
        run(tmp_path / "raw", tmp_path / "clean", runtime={"strict": True})
    assert "binary.txt" in str(raised.value)  # the list, for the caller to print once
    state = clean_corpus(raw=str(tmp_path / "raw"), clean=str(tmp_path / "clean2"),
                         settings={"runtime": {"strict": True}}, return_state=True)
    # a failed flow run with a one-line message, not an exception with its traceback
    assert state.is_failed() and "\n" not in state.message and "binary.txt" not in state.message
    assert not list((tmp_path / "clean").glob("_runs/*.json"))
    assert not list((tmp_path / "clean").glob("documents/*/*.parquet"))


def test_later_run_names_the_earlier_canonical(prefect_server, tmp_path):
    para = ("The regional council voted on Tuesday to extend the night bus network to the "
            "northern suburbs, after a two-year campaign by residents and shift workers.")
    spun = ("On Tuesday the regional council decided to extend its night bus network into the "
            "northern suburbs following a campaign of two years by residents and shift workers.")
    write(tmp_path / "raw" / "a.txt", f"First article\n\n{para}\n\nMore of the first article.")
    first = run(tmp_path / "raw", tmp_path / "clean")
    write(tmp_path / "raw" / "b.txt", f"Second article\n\n{spun}\n\n{para}")
    second = run(tmp_path / "raw", tmp_path / "clean")
    assert second["skipped_inputs"] == ["a.txt"]
    assert second["counts"]["duplicates_of_earlier_runs"] == 2
    t = tables(tmp_path / "clean")
    rows = {(p["run_id"], p["text"]): p for p in t["paragraphs"].to_pylist()}
    canonical = rows[(first["run_id"], para)]["para_id"]
    for text in (spun, para):
        row = rows[(second["run_id"], text)]
        assert row["dup_of"] == canonical and row["drop_reason"] == "duplicate"
    assert sorted(p.name for p in (tmp_path / "clean" / "_index" / "entries").iterdir()) == \
        sorted(f"{m['run_id']}.parquet" for m in (first, second))


def test_index_built_with_other_settings_is_refused(prefect_server, tmp_path):
    from tasks.cross_document.history import IndexMismatchError

    write(tmp_path / "raw" / "a.txt", "An article with some words in it.")
    run(tmp_path / "raw", tmp_path / "clean")
    write(tmp_path / "raw" / "b.txt", "Another article with other words in it.")
    with pytest.raises(IndexMismatchError, match="bands: index has 64, this run uses 60"):
        run(tmp_path / "raw", tmp_path / "clean", dedup={"bands": 60})


def test_changed_input_supersedes_its_earlier_rows(prefect_server, tmp_path):
    raw, clean = tmp_path / "raw", tmp_path / "clean"
    shared = ("The regional council voted on Tuesday to extend the night bus network to the "
              "northern suburbs, after a two-year campaign by residents and shift workers.")
    v1 = f"Version one headline\n\n{shared}\n\nA closing line of the first version."
    update = ("The update adds that the first buses will run in March, with a stop at the "
              "hospital that the residents had asked for since the campaign began.")
    v2 = f"Version two headline\n\n{shared}\n\n{update}"
    write(raw / "a.txt", v1)
    write(raw / "b.txt", "Another article that does not change at all.")
    first = run(raw, clean)
    write(raw / "a.txt", v2)
    second = run(raw, clean)
    assert second["skipped_inputs"] == ["b.txt"]
    assert second["superseded"] == [{"run_id": first["run_id"], "sources": ["a.txt"],
                                     "documents": 1, "paragraphs": 3, "rejects": 0}]
    t = tables(clean)
    docs = {d["source"]: d for d in t["documents"].to_pylist()}
    assert len(t["documents"]) == 2 and docs["a.txt"]["run_id"] == second["run_id"]
    assert "Version two headline" in docs["a.txt"]["text"] and shared in docs["a.txt"]["text"]
    texts = [p["text"] for p in t["paragraphs"].to_pylist()]
    assert "Version one headline" not in texts and texts.count(shared) == 1
    # The paragraph both versions share is not a duplicate of the superseded version.
    row = next(p for p in t["paragraphs"].to_pylist() if p["text"] == shared)
    assert row["dup_of"] is None and row["keep"]
    # The version read again is the current one: a later copy of it is its duplicate.
    write(raw / "c.txt", f"A copy elsewhere\n\n{update}")
    run(raw, clean)
    t = tables(clean)
    source_of = {d["doc_id"]: d["source"] for d in t["documents"].to_pylist()}
    paras = {(source_of[p["doc_id"]], p["text"]): p for p in t["paragraphs"].to_pylist()}
    assert paras[("c.txt", update)]["dup_of"] == paras[("a.txt", update)]["para_id"]

    write(raw / "a.txt", v1)  # back to the first version: read again, supersedes the second
    third = run(raw, clean)
    assert third["superseded"][0]["run_id"] == second["run_id"]
    docs = {d["source"]: d for d in tables(clean)["documents"].to_pylist()}
    assert "Version one headline" in docs["a.txt"]["text"]


def test_demo_report_and_prefect_artifacts(demo):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from tasks.publish.report import markdown_report

    _, manifest, _ = demo
    report = markdown_report(manifest)
    for expected in ("## Boilerplate rules", "Please enter your comment!", "## Languages",
                     "## Documents flagged as machine-translated", "000_91afe73fcc59af63.txt",
                     "## Paragraphs dropped"):
        assert expected in report
    with get_client(sync_client=True) as client:
        for key, kind in (("textwash-run-report", "markdown"), ("textwash-run-inputs", "table")):
            found = client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
            assert found and found[-1].type == kind


def test_dask_local_cluster_gives_the_same_output(prefect_server, tmp_path):
    pytest.importorskip("prefect_dask")
    para = ("The regional council voted on Tuesday to extend the night bus network to the "
            "northern suburbs, after a two-year campaign by residents and shift workers.")
    spun = ("On Tuesday the regional council decided to extend its night bus network into the "
            "northern suburbs following a campaign of two years by residents and shift workers.")
    for i in range(4):
        write(tmp_path / "raw" / f"{i}.txt", f"Article {i} headline\n\n{para if i % 2 else spun}"
              f"\n\nA line that only article number {i} has, with several words.")
    single = run(tmp_path / "raw", tmp_path / "single", runtime={"task_runner": "thread"})
    on_dask = run(tmp_path / "raw", tmp_path / "dask",
                  runtime={"task_runner": "dask", "workers": 2, "shard_bytes": 1,
                           "dask_dedup_min_rows": 0})
    # The article paragraph's three copies; the lines that differ in their number are no copies.
    assert on_dask["counts"]["duplicates"] == single["counts"]["duplicates"] == 3
    assert on_dask["counts"]["candidate_search"] == "cluster"
    a, b = tables(tmp_path / "single"), tables(tmp_path / "dask")
    for name in a:
        assert a[name].sort_by("run_id").equals(b[name].sort_by("run_id")), name


def test_site_templates_count_earlier_runs(prefect_server, tmp_path):
    menu = "Home Politics Sport Weather"

    def page(i):
        return json.dumps({"id": f"p{i}", "url": f"https://news.example.com/{i}",
                           "text": f"{menu}\nStory number {i} is told here in a full sentence of "
                                   f"its own, with enough words to be a paragraph."})

    write(tmp_path / "raw" / "a.jsonl", page(1) + "\n" + page(2) + "\n")
    first = run(tmp_path / "raw", tmp_path / "clean")
    assert first["counts"]["site_template_lines"] == 0  # two pages: not yet a template
    write(tmp_path / "raw" / "b.jsonl", page(3) + "\n")
    second = run(tmp_path / "raw", tmp_path / "clean")
    assert second["counts"]["site_template_lines"] == 1  # the third page with the same line
    rows = [p for p in tables(tmp_path / "clean")["paragraphs"].to_pylist()
            if p["run_id"] == second["run_id"] and p["text"] == menu]
    assert [r["boilerplate_rule"] for r in rows] == ["site_template"]


def test_large_jsonl_is_read_in_parts_and_a_repeated_id_across_parts_is_a_reject(
        prefect_server, tmp_path):
    lines = [json.dumps({"id": f"r{i}", "text": f"Record number {i} says something unique "
                                                f"about topic {i * 7} in plain words."})
             for i in range(400)]
    lines.append(json.dumps({"id": "r3", "text": "A late record that repeats an earlier id."}))
    write(tmp_path / "raw" / "big.jsonl", "\n".join(lines) + "\n")
    manifest = run(tmp_path / "raw", tmp_path / "clean", runtime={"shard_bytes": 4000})
    assert len(manifest["stage_seconds"]) and manifest["inputs"][0]["documents"] == 400
    assert manifest["inputs"][0]["rejects"] == 1
    t = tables(tmp_path / "clean")
    assert t["documents"].num_rows == 400
    assert len(set(t["documents"]["doc_id"].to_pylist())) == 400
    assert t["rejects"].to_pylist()[0]["error"] == "duplicate_id"
    assert t["rejects"].to_pylist()[0]["position"] == 400
    positions = sorted(t["documents"]["position"].to_pylist())
    assert positions == list(range(400))
    run(tmp_path / "raw", tmp_path / "single")  # one part: the same rows
    assert tables(tmp_path / "single")["documents"].sort_by("position").equals(
        t["documents"].sort_by("position"))


def test_duplicates_chosen_range_by_range_give_the_same_output(prefect_server, tmp_path,
                                                               monkeypatch):
    """The duplicate step works through ranges of paragraphs sized by a pair budget; a budget of
    one pair (a range per paragraph) must give the output of the default, with earlier runs."""
    from tasks import cross_document

    para = ("The regional council voted on Tuesday to extend the night bus network to the "
            "northern suburbs, after a two-year campaign by residents and shift workers.")
    spun = ("On Tuesday the regional council decided to extend its night bus network into the "
            "northern suburbs following a campaign of two years by residents and shift workers.")
    other = ("Shift workers and residents campaigned for two years before the regional council "
             "voted to extend the night bus network to the northern suburbs on Tuesday.")
    for i in range(5):
        text = (para, spun, other, para.replace("Tuesday", "Monday"), spun)[i]
        write(tmp_path / "first" / f"{i}.txt", f"Article {i} headline\n\n{text}\n\n{para}")
        write(tmp_path / "second" / f"later-{i}.txt", f"Later article {i}\n\n{spun}\n\n{text}")
    outputs = {}
    for budget in (None, 1):
        if budget:
            monkeypatch.setattr(cross_document, "_RANGE_PAIRS", budget)
        clean = tmp_path / f"clean-{budget}"
        first = run(tmp_path / "first", clean, runtime={"task_runner": "thread"})
        second = run(tmp_path / "second", clean, runtime={"task_runner": "thread"})
        outputs[budget] = (first["counts"], second["counts"], tables(clean))
    (first_a, second_a, a), (first_b, second_b, b) = outputs[None], outputs[1]
    assert second_a["duplicates_of_earlier_runs"] > 0 and first_a["duplicates"] > 0
    # Only the pairs compared (and so verified) differ: with smaller ranges, more earlier
    # paragraphs are known to be duplicates already when a pair comes up, and such pairs are not
    # compared.
    for counts_a, counts_b in ((first_a, first_b), (second_a, second_b)):
        for name in ("compared_pairs", "verified_pairs"):
            assert counts_b.pop(name) <= counts_a.pop(name)
        assert counts_a == counts_b
    for name in a:
        assert a[name].sort_by("run_id").equals(b[name].sort_by("run_id")), name


def test_articles_on_one_story_are_not_merged_but_a_reprint_is(prefect_server, tmp_path):
    """raw/ holds three articles on one story (one letter, quoted and retold by each outlet);
    a fourth file reprints one of their paragraphs with light edits. The reprint joins its
    source; no paragraph of one article joins another article's."""
    import shutil

    raw = tmp_path / "raw"
    shutil.copytree(RAW, raw)
    source = ("Police’s use of facial recognition has come under scrutiny after researchers "
              "uncovered racial and gender disparities in systems built by companies such as IBM, "
              "Microsoft and Amazon. This led to IBM and Microsoft improving their accuracy, but "
              "Krishna said the time has come to debate whether facial recognition technology "
              "should be used at all by national law enforcement authorities.")
    assert source in (raw / "001_bee12d5db40c36a2.txt").read_text(encoding="utf-8")
    reprint = ("The police use of facial recognition came under scrutiny after researchers "
               "found racial and gender disparities in systems built by companies like IBM, "
               "Microsoft and Amazon. That led IBM and Microsoft to improve their accuracy, but "
               "Krishna said the time had come to debate whether facial recognition technology "
               "should be used at all by national law enforcement.")
    write(raw / "reprint.txt", f"Tech news roundup\n\n{reprint}\n\nMore news tomorrow.")
    run(raw, tmp_path / "clean")
    paragraphs = tables(tmp_path / "clean")["paragraphs"].to_pylist()
    doc_of = {p["para_id"]: p["doc_id"] for p in paragraphs}
    clusters: dict[str, set[str]] = {}
    for p in paragraphs:
        if p["dup_cluster"] is not None:
            clusters.setdefault(p["dup_cluster"], set()).add(p["doc_id"])
    reprinted = next(p for p in paragraphs if p["text"] == reprint)
    original = next(p for p in paragraphs if p["text"] == source)
    assert reprinted["dup_of"] == original["para_id"]
    articles = {p["doc_id"] for p in paragraphs} - {reprinted["doc_id"]}
    assert len(articles) == 3 and doc_of[original["para_id"]] in articles
    for docs in clusters.values():
        assert len(docs & articles) <= 1, docs  # no cluster joins two of the articles
