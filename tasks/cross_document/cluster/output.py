"""The last stages on the cluster (the single-process step's phase 7): exact copies follow their
head, each shard gets its `cross` table, and the run's index files are written.

- `follow_heads` (per shard of heads): each exact copy takes its head's decision (the head's
  canonical when the head is a near copy, else the head), to the copy's shard;
- `write_cross` (per shard): the shard's `cross` table, with every canonical named by its
  para_id (read from the shard that holds it);
- `write_index_entries` (one task), then `write_index_band` (a task per band): this run's
  index, in the memory-mapped form of a merged segment (a lookup in it reads only the pages
  its binary searches touch; the Parquet form of the single-process step is read a band at a
  time, too much for a worker at this scale).
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tasks import npy
from tasks.cross_document.cluster.decide import DECISIONS, ROWS
from tasks.cross_document.cluster.documents import read_rows
from tasks.cross_document.cluster.exact import COPIES
from tasks.cross_document.cluster.exchange import read_arrow, write_arrow
from tasks.cross_document.cluster.job import Job, is_row, node_of_row, row_of_node
from tasks.cross_document.history import (
    ENTRY_FIELDS,
    ENTRY_SCHEMA,
    create_mapped_bands,
    index_meta,
    save_mapped_exact,
    write_mapped_band,
)
from tasks.cross_document.output import _ENTRY_COLUMNS, CROSS
from tasks.shard import STAGING_COMPRESSION
from tasks.store import Staging


def superseded_ids(job: Job) -> set[str]:
    """The documents this run supersedes (staged by the flow before the step)."""
    path = Staging(job.staging, job.run_id).index_file("superseded")
    return set(pq.read_table(path)["doc_id"].to_pylist()) if path.is_file() else set()


def follow_heads(job: Job, shard: int) -> int:
    """Exact copies whose head is in `shard`. Returns the exact-copy clusters that are not near
    clusters too (the head is no near copy and no near canonical)."""
    copies = job.exchange("copies", by_shard=True).read(shard, COPIES)
    if not copies.num_rows:
        return 0
    near = job.exchange("decisions", by_shard=True).read(shard, DECISIONS)
    heads = copies["head"].to_numpy()
    # Where each head is among the shard's near decisions (-1: the head is no near copy).
    near_rows = near["row"].to_numpy()
    by_row = np.argsort(near_rows)
    at = np.searchsorted(near_rows[by_row], heads)
    found = at < len(near_rows)
    found[found] = near_rows[by_row[at[found]]] == heads[found]
    where = np.full(len(heads), -1)
    where[found] = by_row[at[found]]
    dup_of = node_of_row(heads)
    score = np.ones(len(heads), np.float32)
    dup_of[found] = near["dup_of"].to_numpy()[where[found]]
    score[found] = near["score"].to_numpy()[where[found]]
    names = np.full(len(heads), None, dtype=object)
    names[found] = near["name"].take(pa.array(where[found])).to_pylist()
    rows = copies["row"].to_numpy()
    job.exchange("copy_decisions", by_shard=True).write(
        shard, job.shard_of(rows),
        pa.table({"row": rows, "dup_of": dup_of, "score": score,
                  "name": pa.array(names.tolist(), pa.string())}, schema=DECISIONS))
    leading = np.unique(heads[~found])
    write_arrow(job.shard_work(shard) / "exact_heads.arrow",
                pa.table({"row": leading}, schema=ROWS))
    near_canonicals = job.exchange("canonicals", by_shard=True).read(shard, ROWS)
    return int((~np.isin(leading, near_canonicals["row"].to_numpy())).sum())


def write_cross(job: Job, shard: int) -> tuple[int, int, int]:
    """The shard's `cross` table; the rows it indexes (`indexed.npy`). Returns (duplicates,
    duplicates of earlier runs, indexed rows)."""
    rows = read_rows(job, shard, ["doc_id", "para_index", "may_lead"])
    n, first = rows.num_rows, job.first_row(shard)
    flags = npy.load_npz(job.shard_work(shard) / "flags.npz")
    decisions = pa.concat_tables([
        job.exchange("decisions", by_shard=True).read(shard, DECISIONS),
        job.exchange("copy_decisions", by_shard=True).read(shard, DECISIONS)])
    local = decisions["row"].to_numpy() - first
    targets = decisions["dup_of"].to_numpy()
    dup_of = np.full(n, None, dtype=object)
    dup_of[local] = _names(job, targets, decisions["name"])
    similarity = np.full(n, np.nan, np.float32)
    similarity[local] = decisions["score"].to_numpy()
    canonical = np.zeros(n, bool)
    for found in (job.exchange("canonicals", by_shard=True).read(shard, ROWS),
                  _exact_heads(job, shard)):
        canonical[found["row"].to_numpy() - first] = True
    cluster = dup_of.copy()
    own = np.flatnonzero(canonical)
    cluster[own] = _para_ids(rows, own)
    part = pa.table({
        "repeated_id": flags["repeated"],
        "site_template": flags["template"],
        "dup_of": pa.array(dup_of.tolist(), pa.string()),
        "dup_cluster": pa.array(cluster.tolist(), pa.string()),
        "dup_similarity": pa.array(similarity, pa.float32(), mask=np.isnan(similarity)),
    }, schema=CROSS)
    pq.write_table(part, job.shard_files(shard).table("cross"), compression=STAGING_COMPRESSION)
    member = np.zeros(n, bool)
    member[local] = True
    indexed = np.flatnonzero(flags["eligible"] & ~member
                             & rows["may_lead"].to_numpy(zero_copy_only=False))
    np.save(job.shard_work(shard) / "indexed.npy", indexed)
    return len(local), int((~is_row(targets)).sum()), len(indexed)


def write_index_entries(job: Job) -> list[list[int]]:
    """This run's index entries, shard by shard (their canonical order), as the memory-mapped
    segment form (tasks/cross_document/history.py): `entries/<run_id>.arrow`, the exact table,
    the band file made ready for `write_index_band`, meta.json. Returns per shard (entries,
    entries with band keys)."""
    staging = Staging(job.staging, job.run_id)
    counts = []
    sizes = [len(npy.load(job.shard_work(shard) / "indexed.npy", mmap_mode="r"))
             for shard in range(len(job.shards))]
    every = np.empty(sum(sizes), np.uint64)  # the exact table's hashes, filled shard by shard
    first = 0
    path = staging.index_file("entries", ".arrow")
    path.parent.mkdir(parents=True, exist_ok=True)
    with pa.ipc.new_file(str(path), ENTRY_SCHEMA) as writer:
        for shard in range(len(job.shards)):
            local = npy.load(job.shard_work(shard) / "indexed.npy")
            entries = pq.read_table(job.shard_files(shard).table("paragraphs"),
                                    columns=_ENTRY_COLUMNS).take(pa.array(local))
            entries = entries.append_column("order", pa.array(local + job.first_row(shard),
                                                              type=pa.int64()))
            entries = entries.append_column("run_seq", pa.array(
                np.full(len(local), job.run_seq), type=pa.int32()))
            writer.write_table(entries.select(list(ENTRY_FIELDS)).cast(ENTRY_SCHEMA))
            has_keys = read_rows(job, shard, ["has_keys"])["has_keys"].to_numpy(
                zero_copy_only=False)[local]
            every[first:first + len(local)] = entries["norm_hash"].to_numpy()
            first += len(local)
            counts.append([len(local), int(has_keys.sum())])
    save_mapped_exact(staging.index_file("exact", ".npy"), every, np.arange(len(every)))
    with_keys = sum(c[1] for c in counts)
    create_mapped_bands(staging.index_file("bands", ".npy"), [with_keys] * job.settings.dedup.bands,
                        np.zeros(1, np.int64))
    staging.index_meta.write_text(json.dumps(index_meta(job.settings.dedup), indent=2,
                                             sort_keys=True), encoding="utf-8")
    return counts


def write_index_band(job: Job, band: int, counts: list[list[int]]) -> None:
    """One band of this run's index: the keys of its entries that have band keys."""
    with_keys = sum(keyed for _, keyed in counts)
    keys = np.empty(with_keys, np.uint64)  # filled shard by shard: no list of pieces to join
    entries = np.empty(with_keys, np.uint32)  # (a segment holds fewer than 2**32 entries)
    first = at = 0
    for shard, (count, keyed) in enumerate(counts):
        local = npy.load(job.shard_work(shard) / "indexed.npy")
        has_keys = read_rows(job, shard, ["has_keys"])["has_keys"].to_numpy(
            zero_copy_only=False)[local]
        band_row = npy.load(job.shard_files(shard).band_keys, mmap_mode="r")[band]
        entries[at:at + keyed] = first + np.flatnonzero(has_keys)
        keys[at:at + keyed] = band_row[local[has_keys]]
        first, at = first + count, at + keyed
    write_mapped_band(Staging(job.staging, job.run_id).index_file("bands", ".npy"), band,
                      keys, entries)


def _exact_heads(job: Job, shard: int) -> pa.Table:
    path = job.shard_work(shard) / "exact_heads.arrow"
    return read_arrow(path) if path.is_file() else ROWS.empty_table()


def _names(job: Job, targets: np.ndarray, earlier_names: pa.ChunkedArray) -> list:
    """para_id of each target node: an earlier run's (its name came with it) or this run's
    row (read from the shard that holds it)."""
    out = np.array(earlier_names.to_pylist(), dtype=object)
    mine = np.flatnonzero(is_row(targets))
    rows = row_of_node(targets[mine])
    shard_of = job.shard_of(rows)
    for shard in np.unique(shard_of).tolist():
        at = np.flatnonzero(shard_of == shard)
        table = read_rows(job, shard, ["doc_id", "para_index"])
        out[mine[at]] = _para_ids(table, rows[at] - job.first_row(shard))
    return out.tolist()


def _para_ids(rows: pa.Table, local: np.ndarray) -> list[str]:
    taken = rows.select(["doc_id", "para_index"]).take(pa.array(local))
    return [f"{d}:{i}" for d, i in zip(taken["doc_id"].to_pylist(),
                                       taken["para_index"].to_pylist())]
