"""What every task of the duplicate step on a cluster is handed: where things are, and how rows,
documents and nodes are numbered. Small and picklable: paths and a few numbers per shard, never
a number per paragraph.

Numbering:
- a row is a paragraph of this run: shard by shard, in input order (its number is its priority,
  as in the single-process step, tasks/cross_document/rows.py);
- a node is a paragraph in the graph of verified pairs: an earlier run's indexed paragraph
  (run_seq << 40 | its order in that run) or this run's row (1 << 62 | row), so that earlier
  runs' paragraphs come first, in canonical order, as in the single-process step;
- a document is (shard << 32 | its code in the shard): a document's rows are all in the shard
  that read it first (rows of a document id seen again in a later shard take no part).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from tasks.cross_document.cluster.exchange import Exchange, partition_of
from tasks.settings import Settings
from tasks.shard.minhash import fmix64
from tasks.store import ShardFiles

THIS_RUN = np.int64(1) << np.int64(62)
_ORDER_BITS = np.int64(40)


@dataclass(frozen=True)
class Job:
    work: str  # the step's working folder (staged stage outputs)
    shards: tuple[str, ...]  # staged shard folders, in run order
    starts: tuple[int, ...]  # the first row of each shard, then the run's row count
    parts: int  # partitions of each exchange keyed by a hash
    settings: Settings
    clean: str  # the output folder: earlier runs' index and template counts
    staging: str  # the run's staging folder (its superseded documents; its index files)
    run_id: str
    run_seq: int

    # -- where things are ------------------------------------------------------------------
    def exchange(self, name: str, by_shard: bool = False) -> Exchange:
        return Exchange(Path(self.work) / name, len(self.shards) if by_shard else self.parts)

    def shard_work(self, shard: int) -> Path:
        """This step's files of one shard (rows.arrow, flags.npz, reps.npy)."""
        return Path(self.work) / f"shard-{shard:05d}"

    def shard_files(self, shard: int) -> ShardFiles:
        return ShardFiles(self.shards[shard])

    # -- numbering --------------------------------------------------------------------------
    def shard_of(self, rows: np.ndarray) -> np.ndarray:
        return np.searchsorted(np.asarray(self.starts, dtype=np.int64), rows, side="right") - 1

    def first_row(self, shard: int) -> int:
        return self.starts[shard]

    @property
    def rows(self) -> int:
        return self.starts[-1]


def node_of_row(rows: np.ndarray) -> np.ndarray:
    return np.asarray(rows, dtype=np.int64) | THIS_RUN


def row_of_node(nodes: np.ndarray) -> np.ndarray:
    return np.asarray(nodes, dtype=np.int64) & ~THIS_RUN


def is_row(nodes: np.ndarray) -> np.ndarray:
    return (np.asarray(nodes, dtype=np.int64) & THIS_RUN) != 0


def node_of_entry(run_seq: np.ndarray, order: np.ndarray) -> np.ndarray:
    return (np.asarray(run_seq, dtype=np.int64) << _ORDER_BITS) | np.asarray(order, np.int64)


def node_partition(nodes: np.ndarray, parts: int) -> np.ndarray:
    """The partition of each node (a hash of it: rows next to each other spread out)."""
    return partition_of(fmix64(np.asarray(nodes, dtype=np.int64).astype(np.uint64)), parts)


def string_partition(values: pa.Array | pa.ChunkedArray, parts: int) -> np.ndarray:
    """The partition of each string (a stable 64-bit hash of it; each distinct string hashed
    once: a shard's rows share a few sites)."""
    values = pc.cast(values, pa.string())
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = pc.dictionary_encode(values)
    distinct = encoded.dictionary.to_pylist()
    hashes = np.fromiter((xxhash.xxh3_64_intdigest(v.encode("utf-8")) for v in distinct),
                         dtype=np.uint64, count=len(distinct))
    return partition_of(hashes[encoded.indices.to_numpy()], parts)


def document_codes(doc_ids: pa.ChunkedArray | pa.Array, shard: int) -> np.ndarray:
    """Per row, its document as (shard << 32 | its code in the shard, by first appearance)."""
    if isinstance(doc_ids, pa.ChunkedArray):
        doc_ids = doc_ids.combine_chunks()
    encoded = pc.dictionary_encode(doc_ids)
    return (np.int64(shard) << np.int64(32)) | encoded.indices.to_numpy().astype(np.int64)
