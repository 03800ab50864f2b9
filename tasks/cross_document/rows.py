"""Phase 1 of the run-wide step: the run's paragraphs, loaded from the staged shards as a few
numpy columns (no whole-run Arrow table), and the rows whose document id an earlier shard used.

Rows are numbered in canonical order: shard by shard, in input order inside a shard, so a row's
number is its priority (the earliest row of a cluster is its canonical).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks import reasons
from tasks.shard import ShardResult

# What the phases need of each staged paragraph (the content sets are read later, per range).
COLUMNS = ["doc_id", "para_index", "boilerplate_rule", "template_key", "norm_hash", "has_keys"]


@dataclass
class RunRows:
    """Per paragraph of the run, in canonical order. A phase that is the last to need a column
    sets it to None, so that its memory goes at once."""

    doc: np.ndarray  # int32 document code
    doc_names: list[str]
    para_index: np.ndarray  # int32
    shard: np.ndarray | None  # int32 shard number (until the repeated ids are found)
    starts: np.ndarray  # int64 first row of each shard (+ the total)
    boilerplate: np.ndarray | None  # bool: a phrase, shape or position rule took it (the
    # content model's tags take part in the duplicate search)
    template_key: np.ndarray | None  # uint64, 0 = none (until the site templates are found)
    norm_hash: np.ndarray | None  # uint64, 0 = no words (until the exact copies are found)
    has_keys: np.ndarray  # bool: enough content words for LSH band keys
    may_lead: np.ndarray  # bool: may be a canonical (the content model did not tag it)

    def __len__(self) -> int:
        return len(self.doc)

    def of_shard(self, number: int) -> slice:
        return slice(int(self.starts[number]), int(self.starts[number + 1]))

    def para_ids(self, rows: np.ndarray) -> list[str]:
        names = self.doc_names
        return [f"{names[d]}:{i}" for d, i in zip(self.doc[rows].tolist(),
                                                   self.para_index[rows].tolist())]


def load_rows(shards: list[ShardResult]) -> tuple[RunRows, dict[str, str]]:
    """The run's rows, shard by shard straight into preallocated columns; and the site of each
    document (doc_id -> site)."""
    sizes = [shard.paragraphs for shard in shards]
    starts = np.cumsum([0] + sizes).astype(np.int64)
    n = int(starts[-1])
    r = RunRows(doc=np.empty(n, np.int32), doc_names=[], para_index=np.empty(n, np.int32),
                shard=np.repeat(np.arange(len(shards), dtype=np.int32), sizes), starts=starts,
                boilerplate=np.empty(n, bool), template_key=np.empty(n, np.uint64),
                norm_hash=np.empty(n, np.uint64), has_keys=np.empty(n, bool),
                may_lead=np.empty(n, bool))
    doc_code: dict[str, int] = {}
    site_of_doc = {}
    for number, shard in enumerate(shards):
        table = pq.read_table(shard.path("paragraphs"), columns=COLUMNS)
        at = r.of_shard(number)
        if table.num_rows != at.stop - at.start:
            raise RuntimeError(f"staged shard {shard.directory} has {table.num_rows} paragraphs, "
                               f"its result says {shard.paragraphs}")
        codes = pc.dictionary_encode(table["doc_id"]).combine_chunks()
        to_run = np.array([doc_code.setdefault(name, len(doc_code))
                           for name in codes.dictionary.to_pylist()], dtype=np.int32)
        if len(to_run):
            r.doc[at] = to_run[codes.indices.to_numpy()]
        r.para_index[at] = table["para_index"].to_numpy()
        # The content model's tags take part, as members only: the model guesses, often on
        # real content that has copies, and a copy of a paragraph that is dropped as
        # boilerplate must not be dropped as its duplicate.
        rule = table["boilerplate_rule"]
        by_model = pc.equal(rule, reasons.CONTENT_MODEL).fill_null(False)
        r.boilerplate[at] = pc.and_(pc.is_valid(rule), pc.invert(by_model)).to_numpy(
            zero_copy_only=False)
        r.may_lead[at] = pc.invert(by_model).to_numpy(zero_copy_only=False)
        r.template_key[at] = table["template_key"].fill_null(0).to_numpy()
        r.norm_hash[at] = table["norm_hash"].to_numpy()
        r.has_keys[at] = table["has_keys"].to_numpy(zero_copy_only=False)
        del table, codes
        d = pq.read_table(shard.path("documents"), columns=["doc_id", "site"])
        site_of_doc.update(zip(d["doc_id"].to_pylist(), d["site"].to_pylist()))
    r.doc_names = list(doc_code)
    return r, site_of_doc


def repeated_ids(rows: RunRows) -> np.ndarray:
    """Per row: its document's id was used by a record of an earlier shard. A record id repeated
    in one file is rejected by the reader; when a large file is read in parts, the repeat can
    sit in a later shard: those rows take no part in the step, and publish turns their
    documents into rejects. Drops `rows.shard`."""
    first_shard = np.full(len(rows.doc_names), len(rows.starts) - 1, dtype=np.int32)
    np.minimum.at(first_shard, rows.doc, rows.shard)
    repeated = rows.shard > first_shard[rows.doc]
    rows.shard = None
    return repeated
