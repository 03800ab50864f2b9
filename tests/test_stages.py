"""The per-shard stage contract (tasks/shard/stages.py): declarations checked at start-up, every
stage's output as declared, the staged tables' columns from the declarations alone."""

from __future__ import annotations

import json
from contextlib import nullcontext

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks import schema
from tasks.plan import plan_run
from tasks.settings import Settings
from tasks.shard import _staged_documents, process_shard, staged_schemas
from tasks.shard.stages import (
    PARAGRAPH_STAGES,
    DetectLanguage,
    FixMojibake,
    FlagBoilerplate,
    FlagTranslation,
    Minhash,
    ParagraphStage,
    ShardStages,
    StageError,
)

S = Settings()


def _untimed(_name):
    return nullcontext()


def _chunk() -> pa.Table:
    first = "Home\nThe council met on Monday to discuss the new budget plan.\nLeave a reply"
    second = "Ein kurzer Satz auf Deutsch, über das Wetter von heute.\nOK"
    docs = pa.table({"doc_id": ["a", "b"], "text": [first, second]})
    return ShardStages(S).split.run(docs)


def test_the_stages_run_in_the_order_of_the_pipeline():
    assert [stage.name for stage in ShardStages(S).paragraph_stages] == [
        "fix_mojibake", "flag_boilerplate", "detect_language", "flag_translation", "minhash"]


def test_each_stage_reads_the_settings_section_it_declares():
    settings = Settings.model_validate({"dedup": {"bands": 8, "rows": 3}})
    stages = ShardStages(settings)
    for stage in [stages.read, stages.split, *stages.paragraph_stages]:
        assert stage.settings is getattr(settings, stage.section)
    assert stages.paragraph_columns.field("band_keys").type == pa.list_(pa.uint64(), 8)


def test_the_paragraph_columns_are_split_paragraphs_then_each_stage_adds():
    stages = ShardStages(S)
    expected = list(stages.split.adds)
    for stage in stages.paragraph_stages:
        expected += list(stage.adds)
    assert list(stages.paragraph_columns) == expected
    # every published paragraph column a stage makes has its published type
    for field in stages.paragraph_columns:
        if field.name in schema.PARAGRAPHS.names:
            assert schema.PARAGRAPHS.field(field.name) == field


def test_a_needed_column_no_stage_before_adds_is_an_error_at_start_up():
    order = (FixMojibake, DetectLanguage, FlagBoilerplate, FlagTranslation, Minhash)
    with pytest.raises(StageError, match="stage 'detect_language' needs column "
                                         "'boilerplate_rule', which no stage before it adds"):
        ShardStages(S, order)
    with pytest.raises(StageError, match="stage 'flag_translation' needs column 'lang'"):
        ShardStages(S, (FixMojibake, FlagBoilerplate, FlagTranslation, Minhash))


def test_a_column_added_twice_is_an_error_at_start_up():
    with pytest.raises(StageError, match="stage 'fix_mojibake' adds column 'mojibake_fixed', "
                                         "which is there already"):
        ShardStages(S, (*PARAGRAPH_STAGES, FixMojibake))


class _Undeclared(ParagraphStage):
    name = "undeclared"
    section = "mojibake"
    needs = ("text",)
    adds = pa.schema([("shout", pa.string())])

    def run(self, paragraphs):
        shout = pa.array([t.upper() for t in paragraphs["text"].to_pylist()], pa.large_string())
        return paragraphs.append_column("shout", shout), None


def test_a_stage_that_does_not_do_what_it_declares_fails_on_its_first_chunk():
    stages = ShardStages(S, (*PARAGRAPH_STAGES, _Undeclared))
    with pytest.raises(StageError, match="stage 'undeclared' gave paragraph columns .*shout: "
                                         "large_string, but its declarations make them .*"
                                         "shout: string"):
        stages.run(_chunk(), _untimed)


def test_a_chunk_gets_every_declared_column_and_its_documents_per_document_columns():
    stages = ShardStages(S)
    timed = []

    def timer(name):
        timed.append(name)
        return _untimed(name)

    paragraphs, documents = stages.run(_chunk(), timer)
    assert paragraphs.schema.equals(stages.paragraph_columns)
    assert documents.schema.equals(stages.document_columns)
    assert documents["doc_id"].to_pylist() == ["a", "b"]
    assert timed == [stage.name for stage in stages.paragraph_stages]
    assert paragraphs["boilerplate_rule"].to_pylist()[:3] == ["navigation", None, "comment_form"]


def test_every_per_document_column_has_a_value_for_a_document_without_paragraphs():
    stages = ShardStages(S)
    assert set(stages.document_columns.names[1:]) == set(stages.without_paragraphs)
    for name, value in stages.without_paragraphs.items():
        pa.scalar(value, stages.document_columns.field(name).type)  # of the column's type


def _plan(tmp_path, records: list[str]):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.jsonl").write_text("\n".join(records) + "\n", encoding="utf-8")
    settings = Settings.model_validate({"raw": str(raw), "clean": str(tmp_path / "clean")})
    return plan_run(settings), settings


@pytest.mark.parametrize("records", [
    [json.dumps({"id": f"r{i}", "text": f"Record {i} says something in plain words.\n\nHome"})
     for i in range(20)] + ["not json"],
    ["not json", json.dumps({"text": "  "})],  # only rejects: no paragraphs at all
], ids=["documents", "only-rejects"])
def test_the_staged_tables_have_the_columns_the_declarations_make(tmp_path, records):
    plan, settings = _plan(tmp_path, records)
    result = process_shard(plan, 0, settings, str(tmp_path / "staging"))
    staged = staged_schemas(ShardStages(settings))
    for table in ("paragraphs", "documents", "rejects"):
        assert pq.read_schema(result.path(table)).equals(staged[table]), table
    assert "text" not in staged["documents"].names and "site" in staged["documents"].names
    assert "has_keys" in staged["paragraphs"].names
    assert "band_keys" not in staged["paragraphs"].names


def test_a_document_without_paragraphs_is_staged_with_the_declared_values(tmp_path):
    plan, settings = _plan(tmp_path, [json.dumps({"id": "x", "text": "One line of text."})])
    stages = ShardStages(settings)
    docs, _, _ = stages.read.run(plan.shard_inputs(0))
    staged = _staged_documents(docs.drop_columns(["text"]), stages.document_columns.empty_table(),
                               stages.without_paragraphs)
    assert staged["mt_score"].to_pylist() == [0.0]
    assert staged["mt_signals"].to_pylist() == [[]]
    assert staged.schema.equals(staged_schemas(stages)["documents"])
