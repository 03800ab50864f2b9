"""The per-shard stage contract: what each stage reads, what it adds, which settings it takes.

A shard's inputs are read into documents and rejects (`ReadInputs`), the documents are cut into
paragraphs (`SplitParagraphs`), and the paragraphs go through `PARAGRAPH_STAGES` in order, one
chunk of whole documents at a time (tasks/shard/__init__.py). A stage is one object with one
`run`, made from the settings; its class declares:

    name          what timings, errors and the docs call it
    section       its part of the settings: the stage runs with `settings.<section>`
    needs         the columns of its input it reads
    adds          the columns it appends, with their Arrow types; it keeps every row, in order
    rewrites      columns of `needs` it gives back with new values, of the same type
    per_document  columns it returns in a second table, one row per document of the chunk,
                  `doc_id` first, and `without_paragraphs`: their values for a document that
                  has no paragraphs (no chunk holds it)

`ShardStages` checks the declarations against each other when a shard starts: a column that a
stage needs and no stage before it adds is an error naming the stage and the column, and so is a
column added twice. The paragraphs' schema after the stages is split_paragraphs' columns followed
by every stage's `adds`, worked out from the declarations alone; `ShardStages.run` compares each
stage's output with them, so a declaration cannot drift from what its stage does.

The stage functions also run on their own (tests, the evaluation scripts), on tables without
some of the columns a stage needs here: their docstrings say how they read such a table.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, ClassVar

import pyarrow as pa

from tasks import schema
from tasks.plan.inputs import InputFile
from tasks.settings import Settings
from tasks.shard.boilerplate import flag_boilerplate
from tasks.shard.language import detect_language
from tasks.shard.minhash import minhash
from tasks.shard.mojibake import fix_mojibake
from tasks.shard.paragraphs import PARAGRAPHS, split_paragraphs
from tasks.shard.read import READ_DOCUMENTS, READ_REJECTS, read_inputs
from tasks.shard.translation import flag_translation


class StageError(ValueError):
    """The stages' declarations do not fit together, or a stage did not do what it declares."""


class Stage:
    """A stage's declarations (see the module's docstring) and its settings section."""

    name: ClassVar[str]
    section: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ()
    rewrites: ClassVar[tuple[str, ...]] = ()
    adds: pa.Schema = pa.schema([])  # set on the instance when it depends on the settings
    per_document: ClassVar[pa.Schema | None] = None
    without_paragraphs: ClassVar[dict[str, Any]] = {}

    def __init__(self, settings: Settings) -> None:
        self.settings = getattr(settings, self.section)


class ReadInputs(Stage):
    """The shard's input files -> (documents, rejects, per-source counts); `adds` are the
    documents' columns, `rejects` the rejects'."""

    name = "read"
    section = "read"
    adds = READ_DOCUMENTS
    rejects = READ_REJECTS

    def run(self, files: list[InputFile]) -> tuple[pa.Table, pa.Table, dict]:
        return read_inputs(files, self.settings)


class SplitParagraphs(Stage):
    """Documents -> paragraphs: `needs` are the documents' columns, `adds` the paragraphs'."""

    name = "split_paragraphs"
    section = "split"
    needs = ("doc_id", "text")
    adds = PARAGRAPHS

    def run(self, documents: pa.Table) -> pa.Table:
        return split_paragraphs(documents, self.settings)


class ParagraphStage(Stage):
    def run(self, paragraphs: pa.Table) -> tuple[pa.Table, pa.Table | None]:
        """The paragraphs with the columns `adds` declares, and the per-document table when
        the stage declares `per_document` (else None)."""
        raise NotImplementedError


class FixMojibake(ParagraphStage):
    name = "fix_mojibake"
    section = "mojibake"
    needs = ("text",)
    rewrites = ("text",)
    adds = schema.columns(schema.PARAGRAPHS, "mojibake_fixed")

    def run(self, paragraphs: pa.Table) -> tuple[pa.Table, None]:
        return fix_mojibake(paragraphs, self.settings), None


class FlagBoilerplate(ParagraphStage):
    name = "flag_boilerplate"
    section = "boilerplate"
    needs = ("doc_id", "text")
    adds = pa.schema([schema.PARAGRAPHS.field("boilerplate_rule"),
                      ("template_key", pa.uint64())])  # for the run-wide site-template rule

    def run(self, paragraphs: pa.Table) -> tuple[pa.Table, None]:
        return flag_boilerplate(paragraphs, self.settings), None


class DetectLanguage(ParagraphStage):
    name = "detect_language"
    section = "language"
    needs = ("doc_id", "text", "boilerplate_rule")  # a short line borrows from content lines
    adds = schema.columns(schema.PARAGRAPHS, "lang", "lang_score")

    def run(self, paragraphs: pa.Table) -> tuple[pa.Table, None]:
        return detect_language(paragraphs, self.settings), None


class FlagTranslation(ParagraphStage):
    name = "flag_translation"
    section = "translation"
    needs = ("doc_id", "text", "boilerplate_rule", "lang")
    adds = schema.columns(schema.PARAGRAPHS, "mt_score", "mt_signals")
    per_document = schema.columns(schema.DOCUMENTS, "doc_id", "mt_score", "mt_signals")
    without_paragraphs: ClassVar[dict[str, Any]] = {"mt_score": 0.0, "mt_signals": []}

    def run(self, paragraphs: pa.Table) -> tuple[pa.Table, pa.Table]:
        return flag_translation(paragraphs, self.settings)


class Minhash(ParagraphStage):
    name = "minhash"
    section = "dedup"
    needs = ("text",)

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.adds = pa.schema([
            ("norm_hash", pa.uint64()),  # exact-copy key, 0 = no words
            ("n_words", pa.int32()),
            ("content", pa.list_(pa.uint32())),  # sorted distinct content-word hashes
            ("own_content", pa.list_(pa.uint32())),  # the same outside quotations
            ("skip_pairs", pa.list_(pa.uint32())),  # content words in order, hashed in pairs
            ("numbers", pa.list_(pa.uint32())),  # content words made of digits
            ("band_keys", pa.list_(pa.uint64(), self.settings.bands)),  # LSH keys, or null
        ])

    def run(self, paragraphs: pa.Table) -> tuple[pa.Table, None]:
        return minhash(paragraphs, self.settings), None


PARAGRAPH_STAGES: tuple[type[ParagraphStage], ...] = (
    FixMojibake, FlagBoilerplate, DetectLanguage, FlagTranslation, Minhash)


class ShardStages:
    """A shard's stages, made from the settings, their declarations checked against each other.
    `paragraph_columns`: the paragraphs' columns after every stage; `document_columns`: the
    per-document ones (doc_id first), `without_paragraphs` their values for a document that has
    no paragraphs."""

    def __init__(self, settings: Settings,
                 paragraph_stages: tuple[type[ParagraphStage], ...] = PARAGRAPH_STAGES) -> None:
        self.read = ReadInputs(settings)
        self.split = SplitParagraphs(settings)
        self.paragraph_stages = [stage(settings) for stage in paragraph_stages]
        _check_needs(self.split, self.read.adds)
        columns = self.split.adds
        documents = schema.columns(schema.DOCUMENTS, "doc_id")
        self.without_paragraphs: dict[str, Any] = {}
        self._outputs = []  # the paragraphs' columns after each stage
        for stage in self.paragraph_stages:
            _check_needs(stage, columns)
            columns = _add(stage, "", columns, stage.adds)
            self._outputs.append(columns)
            if stage.per_document is not None:
                documents = _add_per_document(stage, documents)
                self.without_paragraphs.update(stage.without_paragraphs)
        self.paragraph_columns = columns
        self.document_columns = documents

    def run(self, paragraphs: pa.Table,
            timed: Callable[[str], AbstractContextManager]) -> tuple[pa.Table, pa.Table]:
        """Every paragraph stage over one chunk of whole documents, in order, each inside
        `timed(stage name)`: the chunk with their columns, and its documents' per-document
        columns (one row per document, in the order of their first paragraph)."""
        _expect(self.split, "paragraph", paragraphs.schema, self.split.adds)
        documents = pa.table({"doc_id": paragraphs["doc_id"].unique()})
        for stage, output in zip(self.paragraph_stages, self._outputs):
            with timed(stage.name):
                paragraphs, per_document = stage.run(paragraphs)
            _expect(stage, "paragraph", paragraphs.schema, output)
            if stage.per_document is not None:
                _expect(stage, "per-document", per_document.schema, stage.per_document)
                if not per_document["doc_id"].equals(documents["doc_id"]):
                    raise StageError(f"stage {stage.name!r} gave per-document rows that are not "
                                     "the chunk's documents in order")
                for field in stage.per_document.remove(0):
                    documents = documents.append_column(field, per_document[field.name])
        return paragraphs, documents


def _check_needs(stage: Stage, columns: pa.Schema) -> None:
    for name in stage.needs:
        if name not in columns.names:
            raise StageError(f"stage {stage.name!r} needs column {name!r}, which no stage "
                             f"before it adds (columns before it: {', '.join(columns.names)})")
    for name in stage.rewrites:
        if name not in stage.needs:
            raise StageError(f"stage {stage.name!r} rewrites column {name!r} without needing it")


def _add(stage: Stage, what: str, columns: pa.Schema, added: pa.Schema) -> pa.Schema:
    """`columns` and the columns `stage` adds to them; a column added twice is an error."""
    for name in added.names:
        if name in columns.names:
            raise StageError(f"stage {stage.name!r} adds {what}column {name!r}, which is there "
                             "already")
    return pa.schema([*columns, *added])


def _add_per_document(stage: ParagraphStage, documents: pa.Schema) -> pa.Schema:
    if stage.per_document.names[0] != "doc_id":
        raise StageError(f"stage {stage.name!r}: its per-document columns must start with doc_id")
    added = stage.per_document.remove(0)
    for name in added.names:
        if name not in stage.without_paragraphs:
            raise StageError(f"stage {stage.name!r} declares no value of {name!r} for a "
                             "document without paragraphs")
    return _add(stage, "per-document ", documents, added)


def _expect(stage: Stage, what: str, got: pa.Schema, declared: pa.Schema) -> None:
    if not got.equals(declared):
        raise StageError(f"stage {stage.name!r} gave {what} columns {_spelled(got)}, but its "
                         f"declarations make them {_spelled(declared)}")


def _spelled(columns: pa.Schema) -> str:
    return ", ".join(f"{field.name}: {field.type}" for field in columns)
