"""The rows do not depend on how the input is cut into shards (or a shard into chunks): the same
input with 1, 2 and 5 shards gives the same tables, column by column."""

import json
import random

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from conftest import RAW, write

from flows.clean_corpus import run_clean_corpus
from tasks.settings import BoilerplateSettings, Settings
from tasks.shard.boilerplate import boilerplate_signals

WORDS = ["the", "council", "said", "on", "monday", "that", "its", "plan", "for", "the", "harbour",
         "would", "cost", "more", "than", "expected", "and", "residents", "were", "invited", "to",
         "comment", "before", "a", "vote", "in", "march"]
MENU = ["Home", "News", "Sport", "Weather", "Contact us", "Subscribe", "Log in", "Share"]


def page(rng: random.Random, lines: int) -> list[str]:
    """A web page as lines: a menu, prose of random lengths, a footer."""
    out = rng.sample(MENU, 4)
    for _ in range(lines):
        n = rng.choice([3, 6, 12, 25, 40])
        out.append(" ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + ".")
    return out + rng.sample(MENU, 3)


def signals(docs: list[list[str]]) -> dict[str, np.ndarray]:
    ids = [f"d{i}" for i, lines in enumerate(docs) for _ in lines]
    table = pa.table({"doc_id": ids, "text": [t for lines in docs for t in lines]})
    return boilerplate_signals(table, BoilerplateSettings())[2]


def test_a_documents_features_do_not_depend_on_the_rows_before_it():
    rng = random.Random(5)
    target = page(rng, 60)
    alone = signals([target])
    for prefix_docs in (1, 7, 30):
        before = [page(rng, rng.randint(5, 80)) for _ in range(prefix_docs)]
        offset = sum(len(d) for d in before)
        after = signals(before + [target])
        for name, values in alone.items():
            shifted = after[name][offset:]
            if name in ("main_start", "main_end"):  # row numbers in the table
                shifted = shifted - offset
            assert np.array_equal(shifted, values), (name, prefix_docs)


def tables(clean):
    out = {}
    for name, keys in (("documents", ["doc_id"]), ("paragraphs", ["doc_id", "para_index"]),
                       ("rejects", ["source", "position"])):
        table = ds.dataset(clean / name, format="parquet").to_table()
        out[name] = table.sort_by([(k, "ascending") for k in keys])
    return out


@pytest.mark.flow
def test_one_two_and_five_shards_give_the_same_tables(prefect_server, tmp_path):
    rng = random.Random(11)
    raw = tmp_path / "raw"
    for name in sorted(p.name for p in RAW.glob("*.txt")):
        write(raw / name, (RAW / name).read_bytes())
    records = []
    for i in range(40):
        lines = page(rng, rng.randint(3, 50))
        if i % 6 == 5:  # copies across records, so duplicate clusters span shards
            lines = lines[:4] + records[-1]["text"].split("\n")[4:-3] + lines[-3:]
        records.append({"id": f"r{i}", "text": "\n".join(lines), "url": f"https://s{i % 3}.org/"})
    write(raw / "pages.jsonl", "\n".join(json.dumps(r) for r in records) + "\n{broken\n")
    size = sum(p.stat().st_size for p in raw.iterdir())

    results = {}
    for shards in (1, 2, 5):
        clean = tmp_path / f"clean-{shards}"
        manifest = run_clean_corpus(Settings.from_dict({
            "raw": str(raw), "clean": str(clean),
            "runtime": {"shard_bytes": max(1, size // shards), "task_runner": "thread"}}))
        results[shards] = tables(clean)
        assert manifest["shards"] >= shards  # the input really was cut that many ways
    one = results[1]
    for shards in (2, 5):
        for name in ("documents", "paragraphs", "rejects"):
            a, b = one[name], results[shards][name]
            assert a.num_rows == b.num_rows, (shards, name)
            for column in a.column_names:
                assert a[column].equals(b[column]), (shards, name, column)
