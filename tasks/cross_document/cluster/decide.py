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

A component is decided in one task: its edges must fit a worker's memory (a 2,000,000-
paragraph component is some tens of MB). For a larger one, the plan in docs/scale-out.md.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tasks.cross_document.canonicals import cluster_pairs, members_leaving
from tasks.cross_document.cluster.components import LABELS
from tasks.cross_document.cluster.exchange import read_arrow, write_arrow
from tasks.cross_document.cluster.job import Job, is_row, node_partition, row_of_node
from tasks.cross_document.cluster.verify import EDGES
from tasks.cross_document.components import decide_components
from tasks.cross_document.duplicates import MAX_HEADS

BY_COMPONENT = EDGES.append(pa.field("label", pa.int64()))
TIGHTEN = pa.schema([("i", pa.int64()), ("j", pa.int64()), ("label", pa.int64()),
                     ("earlier", pa.int64()), ("later", pa.int64())])
JUDGED = pa.schema([("label", pa.int64()), ("earlier", pa.int64()), ("later", pa.int64()),
                    ("ok", pa.bool_())])
DECISIONS = pa.schema([("row", pa.int64()), ("dup_of", pa.int64()), ("score", pa.float32()),
                       ("name", pa.string())])  # the canonical's para_id if an earlier run's
ROWS = pa.schema([("row", pa.int64())])


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
    edges = job.exchange("by_component").read(part, BY_COMPONENT)
    if not edges.num_rows:
        return 0, 0
    i, j = edges["i"].to_numpy(), edges["j"].to_numpy()
    nodes = np.unique(np.concatenate([i, j]))
    # Pairs come only from rows that may lead (verify.judge) and earlier runs' paragraphs.
    canonical_of, similarity = decide_components(i, j, edges["score"].to_numpy(), nodes,
                                                 np.ones(len(nodes), bool))
    members = np.flatnonzero(canonical_of >= 0)
    # The canonical's para_id, when it is an earlier run's paragraph (named on its edges).
    named = ~edges["name_i"].is_null().to_numpy(zero_copy_only=False)
    name_nodes, first = np.unique(i[named], return_index=True)
    name_of = dict(zip(name_nodes.tolist(),
                       edges["name_i"].filter(pa.array(named)).take(pa.array(first)).to_pylist()))
    label_of_node = np.empty(len(nodes), np.int64)
    label_of_node[np.searchsorted(nodes, i)] = edges["label"].to_numpy()
    label_of_node[np.searchsorted(nodes, j)] = edges["label"].to_numpy()
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
        reps = np.load(job.shard_work(shard) / "reps.npy", mmap_mode="r")
        where = np.minimum(np.searchsorted(reps, rows[at]), max(len(reps) - 1, 0))
        out[at] = (np.asarray(reps[where]) == rows[at]) if len(reps) else False
    return out


def _decided_path(job: Job, part: int):
    return job.exchange("decided").directory / f"p{part:05d}.arrow"


def _cluster_path(job: Job, part: int):
    return job.exchange("decided").directory / f"p{part:05d}.clusters.arrow"
