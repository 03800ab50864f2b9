"""Arrow schemas of the published tables: the output contract users read (see README)."""

import pyarrow as pa

# One row per input record that was read as a document.
DOCUMENTS = pa.schema(
    [
        ("doc_id", pa.string()),
        ("source", pa.string()),
        ("position", pa.int64()),
        ("input_id", pa.string()),
        ("url", pa.string()),
        ("meta", pa.string()),
        ("encoding", pa.string()),
        ("decode_replacements", pa.int32()),
        ("lang", pa.string()),
        ("lang_score", pa.float32()),
        ("text", pa.string()),
        ("n_paragraphs", pa.int32()),
        ("n_kept", pa.int32()),
        ("n_boilerplate", pa.int32()),
        ("n_duplicate", pa.int32()),
        ("mt_score", pa.float32()),
        ("mt_signals", pa.list_(pa.string())),
        ("keep", pa.bool_()),
        ("drop_reason", pa.string()),
        ("run_id", pa.string()),
    ]
)

# One row per paragraph of every document, kept or not.
PARAGRAPHS = pa.schema(
    [
        ("doc_id", pa.string()),
        ("para_index", pa.int32()),
        ("para_id", pa.string()),
        ("text", pa.string()),
        ("char_start", pa.int64()),
        ("char_end", pa.int64()),
        ("mojibake_fixed", pa.bool_()),
        ("boilerplate_rule", pa.string()),
        ("lang", pa.string()),
        ("lang_score", pa.float32()),
        ("mt_score", pa.float32()),
        ("mt_signals", pa.list_(pa.string())),
        ("dup_cluster", pa.string()),
        ("dup_of", pa.string()),
        ("dup_similarity", pa.float32()),
        ("keep", pa.bool_()),
        ("drop_reason", pa.string()),
        ("run_id", pa.string()),
    ]
)

# One row per input record (or whole file) that could not be read.
REJECTS = pa.schema(
    [
        ("source", pa.string()),
        ("position", pa.int64()),
        ("error", pa.string()),
        ("detail", pa.string()),
        ("run_id", pa.string()),
    ]
)

TABLES = {"documents": DOCUMENTS, "paragraphs": PARAGRAPHS, "rejects": REJECTS}


def columns(schema: pa.Schema, *names: str) -> pa.Schema:
    """The named fields of `schema`, in that order: stages build their tables with these, so
    a column has the same type from the stage that makes it to the published file."""
    return pa.schema([schema.field(name) for name in names])


def optional_column(table: pa.Table, name: str) -> pa.ChunkedArray | None:
    """Column `name` of `table`, or None when it has none: an input that a stage function reads
    when it is there. In a shard it always is (tasks/shard/stages.py declares it as needed, and
    a missing one stops the shard at its start); tests and the evaluation scripts call the
    functions on smaller tables, read as the functions' docstrings say."""
    return table[name] if name in table.column_names else None
