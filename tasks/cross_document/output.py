"""Phase 7 of the run-wide step: what it leaves for publish and for later runs.

Per shard, a `cross` table aligned row for row with the shard's staged paragraphs (the columns
of CROSS); and this run's index files (tasks/cross_document/history.py), with its canonical and
unique content paragraphs that may lead a cluster: a member passed the verifier with its
canonical, so matching the canonical is enough.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.cross_document.canonicals import Duplicates
from tasks.cross_document.history import RunIndexWriter
from tasks.cross_document.rows import RunRows
from tasks.shard import STAGING_COMPRESSION, ShardResult

CROSS = pa.schema(
    [
        ("repeated_id", pa.bool_()),  # the document's id was used by a record of an earlier shard
        ("site_template", pa.bool_()),
        ("dup_of", pa.string()),
        ("dup_cluster", pa.string()),
        ("dup_similarity", pa.float32()),
    ]
)
_ENTRY_COLUMNS = ["para_id", "doc_id", "norm_hash", "content", "own_content", "skip_pairs",
                  "numbers"]


def write_cross_tables(shards: list[ShardResult], rows: RunRows, repeated: np.ndarray,
                       templates: np.ndarray, found: Duplicates, earlier_ids: list[str]) -> None:
    """Each shard's `cross` table; `earlier_ids`: the para_id of each earlier entry (they come
    first in the numbering of `found`)."""
    for number, shard in enumerate(shards):
        at = rows.of_shard(number)
        similarity = found.similarity[at]
        part = pa.Table.from_pydict(
            {
                "repeated_id": repeated[at],
                "site_template": templates[at],
                "dup_of": _names(found.dup_of[at], earlier_ids, rows),
                "dup_cluster": _names(found.cluster[at], earlier_ids, rows),
                "dup_similarity": pa.array(similarity, type=pa.float32(),
                                           mask=np.isnan(similarity)),
            },
            schema=CROSS,
        )
        pq.write_table(part, shard.path("cross"), compression=STAGING_COMPRESSION)


def write_run_index(shards: list[ShardResult], rows: RunRows, eligible: np.ndarray,
                    dup_of: np.ndarray, index: RunIndexWriter) -> int:
    """This run's index: the eligible rows that are no duplicate and may lead a cluster, shard
    by shard (their entries
    in canonical order), then their band keys band by band. Returns the entries written."""
    indexed_parts = []
    for number, shard in enumerate(shards):
        at = rows.of_shard(number)
        local = np.flatnonzero(eligible[at] & (dup_of[at] < 0) & rows.may_lead[at])
        indexed = local + at.start
        indexed_parts.append((shard, local, indexed))
        entries = pq.read_table(shard.path("paragraphs"), columns=_ENTRY_COLUMNS)
        index.add_entries(entries.take(pa.array(local))
                          .append_column("order", pa.array(indexed, type=pa.int64())))

    def band_keys_of_entries(band: int) -> tuple[np.ndarray, np.ndarray]:
        entries, keys, first = [], [], 0
        for shard, local, indexed in indexed_parts:
            with_keys = rows.has_keys[indexed]
            entries.append(first + np.flatnonzero(with_keys))
            keys.append(np.asarray(shard.band_keys()[band])[local[with_keys]])
            first += len(indexed)
        if not entries:
            return np.zeros(0, np.int64), np.zeros(0, np.uint64)
        return np.concatenate(entries), np.concatenate(keys)

    index.finish(band_keys_of_entries)
    return index.count


def _names(targets: np.ndarray, earlier_ids: list[str], rows: RunRows) -> pa.Array:
    """para_id of each target (earlier entries first in the numbering), null for -1."""
    h = len(earlier_ids)
    out: list[str | None] = [None] * len(targets)
    where = np.flatnonzero(targets >= 0)
    if len(where):
        t = targets[where]
        new = t >= h
        names = np.empty(len(t), dtype=object)
        names[~new] = [earlier_ids[i] for i in t[~new].tolist()]
        names[new] = rows.para_ids(t[new] - h)
        for i, name in zip(where.tolist(), names.tolist()):
            out[i] = name
    return pa.array(out, type=pa.string())
