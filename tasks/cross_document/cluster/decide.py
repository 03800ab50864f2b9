"""The canonicals on the cluster (the single-process step's phase 6): each component of the
verified graph is decided on its own by the same greedy rule (tasks/cross_document/components.py
says why that gives the global answer), then each cluster is tightened as `tighten_clusters`
does it, with the pairs of members judged in the shards that hold their sets.

- `edges_by_component` (per partition of nodes): each verified pair with its component's
  label, to `by_component`;
- `decide` (per partition of components): the rule; the decisions staged, the member pairs to
  judge sent to `tighten` by the shard of their later member;
- `settle` (per partition of components, after the judging): the members that stay; each
  member's decision to its shard (`decisions`), each canonical of this run to its shard
  (`canonicals`).

A component is decided in one task, range by range of its pairs' later rows: the task holds
a few bytes per row of its components and one range of pairs (`EDGES_PER_RANGE`), so a
component's pairs need not fit a worker's memory; its rows must (docs/scale-out.md).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa

from tasks import npy
from tasks.cross_document.canonicals import cluster_pairs, members_leaving
from tasks.cross_document.cluster.components import LABELS
from tasks.cross_document.cluster.exchange import read_arrow, write_arrow
from tasks.cross_document.cluster.job import Job, is_row, node_partition, row_of_node
from tasks.cross_document.cluster.verify import EDGES
from tasks.cross_document.components import decide_in_ranges
from tasks.cross_document.duplicates import MAX_HEADS

BY_COMPONENT = EDGES.append(pa.field("label", pa.int64()))
TIGHTEN = pa.schema([("i", pa.int64()), ("j", pa.int64()), ("label", pa.int64()),
                     ("earlier", pa.int64()), ("later", pa.int64())])
JUDGED = pa.schema([("label", pa.int64()), ("earlier", pa.int64()), ("later", pa.int64()),
                    ("ok", pa.bool_())])
DECISIONS = pa.schema([("row", pa.int64()), ("dup_of", pa.int64()), ("score", pa.float32()),
                       ("name", pa.string())])  # the canonical's para_id if an earlier run's
ROWS = pa.schema([("row", pa.int64())])
_PAIRS = pa.schema([("i", pa.int64()), ("j", pa.int64()), ("score", pa.float32())])
# A component is decided a range of its pairs' later rows at a time (some 60 bytes a
# pair while it is decided): ranges are made of bins of rows.
EDGES_PER_RANGE = 2_000_000
_BIN_ROWS = 4096


def edges_by_component(job: Job, part: int) -> None:
    edges = job.exchange("edges").read(part, EDGES)
    if not edges.num_rows:
        return
    labels = job.exchange("labels").read(part, LABELS)
    nodes = labels["node"].to_numpy()
    order = np.argsort(nodes)
    at = order[np.searchsorted(nodes[order], edges["i"].to_numpy())]
    label = labels["label"].to_numpy()[at]
    table = edges.append_column("label", pa.array(label))
    job.exchange("by_component").write(part, node_partition(label, job.parts), table)


def decide(job: Job, part: int) -> tuple[int, int]:
    """The rule on the partition's components. Returns (members, member pairs to judge)."""
    by_component = job.exchange("by_component")
    nodes, label_of_node, name_of, later_rows = _nodes_of(by_component.pieces(part))
    if not len(nodes):
        return 0, 0
    # Pairs come only from rows that may lead (verify.judge) and earlier runs' paragraphs.
    bounds = _ranges(later_rows, EDGES_PER_RANGE)
    canonical_of, similarity = decide_in_ranges(
        _pairs_in_ranges(by_component, part, bounds, job.exchange("decide_ranges").directory),
        nodes, np.ones(len(nodes), bool))
    members = np.flatnonzero(canonical_of >= 0)
    decided = pa.table({
        "row": row_of_node(nodes[members]),
        "dup_of": canonical_of[members],
        "score": similarity[members],
        "name": pa.array([name_of.get(c) for c in canonical_of[members].tolist()], pa.string()),
        "label": label_of_node[members],
    })
    write_arrow(_decided_path(job, part), decided)
    # Members judged pairwise: those with sets, i.e. not the exact matches of an earlier run's
    # paragraph that are too short for band keys (like their canonical to every member).
    rows = decided["row"].to_numpy()
    with_sets = _representatives(job, rows)
    canonical = canonical_of[members][with_sets]
    rows, label = rows[with_sets], label_of_node[members][with_sets]
    order = np.lexsort((rows, canonical))
    rows, canonical, label = rows[order], canonical[order], label[order]
    earlier, later, position = cluster_pairs(canonical, MAX_HEADS)
    pairs = pa.table({"i": rows[earlier], "j": rows[later], "label": label[later],
                      "earlier": earlier, "later": later}, schema=TIGHTEN)
    job.exchange("tighten", by_shard=True).write(part, job.shard_of(rows[later]), pairs)
    write_arrow(_cluster_path(job, part), pa.table({"row": rows, "position": position}))
    return len(members), len(later)


def _nodes_of(pieces) -> tuple[np.ndarray, np.ndarray, dict, np.ndarray]:
    """A first pass over a partition's pairs, a piece at a time: its distinct nodes (sorted),
    each node's component label, the para_id of each named node (an earlier run's paragraph)
    and how many pairs have their later row in each bin of `_BIN_ROWS` rows."""
    nodes, labels = np.zeros(0, np.int64), np.zeros(0, np.int64)
    name_of: dict = {}
    later = np.zeros(0, np.int64)
    for piece in pieces:
        i, j = piece["i"].to_numpy(), piece["j"].to_numpy()
        label = piece["label"].to_numpy()
        nodes, first = np.unique(np.concatenate([nodes, i, j]), return_index=True)
        labels = np.concatenate([labels, label, label])[first]
        named = ~piece["name_i"].is_null().to_numpy(zero_copy_only=False)
        if named.any():
            name_of.update(zip(i[named].tolist(),
                               piece["name_i"].filter(pa.array(named)).to_pylist()))
        bins = np.bincount(row_of_node(j) // _BIN_ROWS)
        later = np.pad(later, (0, max(0, len(bins) - len(later))))
        later[:len(bins)] += bins
    return nodes, labels, name_of, later


def _ranges(pairs_per_bin: np.ndarray, most: int) -> np.ndarray:
    """Bounds (later rows) of consecutive ranges of about `most` pairs each; a bin is never
    split, so a range holds at most `most` pairs plus one bin's."""
    total = np.cumsum(pairs_per_bin)
    if not len(total) or total[-1] <= most:
        return np.array([0, np.iinfo(np.int64).max], np.int64)
    cuts = np.unique(np.searchsorted(total, np.arange(most, total[-1], most), side="right"))
    return np.concatenate([[0], cuts * _BIN_ROWS, [np.iinfo(np.int64).max]]).astype(np.int64)


def _pairs_in_ranges(exchange, part: int, bounds: np.ndarray, spill: Path):
    """The partition's pairs (i, j, score), range of later rows by range. With one range, read
    straight from the exchange; with more, each piece is split once into a file per range
    (an Arrow stream each, under `spill`), then the ranges are read back in order."""
    if len(bounds) == 2:
        pieces = [(p["i"].to_numpy(), p["j"].to_numpy(), p["score"].to_numpy())
                  for p in exchange.pieces(part)]
        yield tuple(np.concatenate(column) for column in zip(*pieces))
        return
    folder = spill / f"p{part:05d}"
    shutil.rmtree(folder, ignore_errors=True)  # a killed attempt's
    folder.mkdir(parents=True)
    writers = [pa.ipc.new_stream(str(folder / f"r{r:05d}.arrows"), _PAIRS)
               for r in range(len(bounds) - 1)]
    try:
        for piece in exchange.pieces(part):
            at = np.searchsorted(bounds, row_of_node(piece["j"].to_numpy()), side="right") - 1
            pairs = piece.select(["i", "j", "score"]).cast(_PAIRS)
            for r in np.unique(at).tolist():
                writers[r].write_table(pairs.filter(pa.array(at == r)))
    finally:
        for writer in writers:
            writer.close()
    try:
        for r in range(len(bounds) - 1):
            with pa.OSFile(str(folder / f"r{r:05d}.arrows")) as file:
                pairs = pa.ipc.open_stream(file).read_all()
            yield (pairs["i"].to_numpy(), pairs["j"].to_numpy(), pairs["score"].to_numpy())
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def send_judged(job: Job, shard: int, pairs: pa.Table, passed: np.ndarray) -> None:
    """The judged member pairs of a shard back to their components' partitions."""
    label = pairs["label"].to_numpy()
    job.exchange("judged").write(shard, node_partition(label, job.parts), pa.table({
        "label": label, "earlier": pairs["earlier"], "later": pairs["later"],
        "ok": passed}, schema=JUDGED))


def settle(job: Job, part: int) -> tuple[int, int, int]:
    """The members that stay, and the decisions to the shards. Returns (members that left,
    clusters, members of earlier runs' paragraphs)."""
    if not _decided_path(job, part).is_file():
        return 0, 0, 0
    decided = read_arrow(_decided_path(job, part))
    in_clusters = read_arrow(_cluster_path(job, part))
    judged = job.exchange("judged").read(part, JUDGED)
    cluster_rows = in_clusters["row"].to_numpy()
    left = np.zeros(len(cluster_rows), bool)
    if judged.num_rows:
        # Each component's pairs were numbered in this partition's cluster order.
        left = members_leaving(judged["earlier"].to_numpy(), judged["later"].to_numpy(),
                               in_clusters["position"].to_numpy(),
                               judged["ok"].to_numpy(zero_copy_only=False), len(cluster_rows))
    rows = decided["row"].to_numpy()
    stays = ~np.isin(rows, cluster_rows[left])
    kept = decided.filter(pa.array(stays)).drop_columns(["label"])
    kept_rows = kept["row"].to_numpy()
    job.exchange("decisions", by_shard=True).write(part, job.shard_of(kept_rows),
                                                   kept.cast(DECISIONS))
    canonicals = np.unique(kept["dup_of"].to_numpy())
    of_run = row_of_node(canonicals[is_row(canonicals)])
    job.exchange("canonicals", by_shard=True).write(part, job.shard_of(of_run),
                                                    pa.table({"row": of_run}, schema=ROWS))
    earlier = int((~is_row(kept["dup_of"].to_numpy())).sum())
    return int(left.sum()), len(canonicals), earlier


def _representatives(job: Job, rows: np.ndarray) -> np.ndarray:
    """Per row (of this run): is it a representative (it has staged sets and band keys)."""
    out = np.zeros(len(rows), bool)
    shard_of = job.shard_of(rows)
    for shard in np.unique(shard_of).tolist():
        at = np.flatnonzero(shard_of == shard)
        reps = npy.load(job.shard_work(shard) / "reps.npy", mmap_mode="r")
        where = np.minimum(np.searchsorted(reps, rows[at]), max(len(reps) - 1, 0))
        out[at] = (np.asarray(reps[where]) == rows[at]) if len(reps) else False
    return out


def _decided_path(job: Job, part: int):
    return job.exchange("decided").directory / f"p{part:05d}.arrow"


def _cluster_path(job: Job, part: int):
    return job.exchange("decided").directory / f"p{part:05d}.clusters.arrow"
