"""Connected components of the verified-pair graph on the cluster, by large-star and small-star
rounds (Kiveris et al., "Connected Components in MapReduce and Beyond", 2014): each round is one
exchange of the edges by node, each node's neighbourhood is turned into a star around its
smallest neighbour, and the rounds end when a pair of them changes no edge. Then every edge is
(node, the smallest node of its component): the component's label, as
tasks/cross_document/components.py gives it in one process.

Rounds: O(log^2 n) in the worst case (a 10,000-long chain is in the tests; a drifting
component of 2,000,000 paragraphs took 36, docs/benchmarks/cluster.md). Whether a round changed anything is told by the edge count and two
order-free 64-bit checksums of the edge set (a false "unchanged" has odds of about 2**-64).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tasks.cross_document.cluster.job import Job, node_partition
from tasks.shard.minhash import fmix64

EDGE = pa.schema([("u", pa.int64()), ("v", pa.int64())])  # keyed by u
LABELS = pa.schema([("node", pa.int64()), ("label", pa.int64())])


def send_edges(job: Job, part: int, source: str) -> tuple[int, int, int]:
    """The (i, j) of exchange `source`'s partition (distinct pairs) as the first round's edges,
    keyed by each end. Returns (edges, checksum a, checksum b)."""
    table = job.exchange(source).read(part, None)
    if table is None or not table.num_rows:
        return 0, 0, 0
    u, v = table.column(0).to_numpy(), table.column(1).to_numpy()
    _send(job, "cc-000", part, u, v, both_ways=True)
    return (len(u), *checksums(u, v))


def star_round(job: Job, part: int, round_number: int, large: bool, next_both_ways: bool
               ) -> tuple[int, int, int]:
    """One large-star or small-star step on the edges keyed to this partition, its edges sent
    to the next round. Returns (edges, checksum a, checksum b) of what it sent."""
    table = job.exchange(f"cc-{round_number:03d}").read(part, EDGE)
    if not table.num_rows:
        return 0, 0, 0
    u, v = table["u"].to_numpy(), table["v"].to_numpy()
    order = np.lexsort((v, u))
    u, v = u[order], v[order]
    starts = np.flatnonzero(np.concatenate(([True], u[1:] != u[:-1])))
    sizes = np.diff(np.append(starts, len(u)))
    smallest = np.minimum(np.minimum.reduceat(v, starts), u[starts])  # of each neighbourhood + u
    m = np.repeat(smallest, sizes)
    if large:
        # Every larger neighbour joins the smallest of the neighbourhood.
        keep = v > u
        a, b = v[keep], m[keep]
    else:
        # The node and its (smaller) neighbours join the smallest of them.
        a = np.concatenate([v, u[starts]])
        b = np.concatenate([m, smallest])
        keep = a != b
        a, b = a[keep], b[keep]
    a, b = _distinct(a, b)
    _send(job, f"cc-{round_number + 1:03d}", part, a, b, next_both_ways)
    return (len(a), *checksums(a, b))


def checksums(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """Two order-free sums over the undirected edges (a, b)."""
    lo, hi = np.minimum(a, b).astype(np.uint64), np.maximum(a, b).astype(np.uint64)
    with np.errstate(over="ignore"):
        x = fmix64(lo * np.uint64(0x9E3779B97F4A7C15) + hi)
        y = fmix64(hi * np.uint64(0xC2B2AE3D27D4EB4F) ^ lo)
        return int(x.sum(dtype=np.uint64)), int(y.sum(dtype=np.uint64))


def label_nodes(job: Job, part: int, round_number: int) -> int:
    """After the last round (its edges are stars, keyed by each end): each node keyed to this
    partition labelled by the smallest node of its star, to `labels` (same partition).
    Returns the nodes labelled."""
    table = job.exchange(f"cc-{round_number:03d}").read(part, EDGE)
    if not table.num_rows:
        return 0
    u, v = table["u"].to_numpy(), table["v"].to_numpy()
    order = np.argsort(u, kind="stable")
    u, v = u[order], v[order]
    starts = np.flatnonzero(np.concatenate(([True], u[1:] != u[:-1])))
    node = u[starts]
    label = np.minimum(np.minimum.reduceat(v, starts), node)
    job.exchange("labels").write(part, np.full(len(node), part),
                                 pa.table({"node": node, "label": label}, schema=LABELS))
    return len(node)


def _distinct(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not len(a):
        return a, b
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    order = np.lexsort((hi, lo))
    lo, hi = lo[order], hi[order]
    first = np.concatenate(([True], (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])))
    return lo[first], hi[first]


def _send(job: Job, target: str, source: int, a: np.ndarray, b: np.ndarray,
          both_ways: bool) -> None:
    if both_ways:
        u, v = np.concatenate([a, b]), np.concatenate([b, a])
    else:
        u, v = np.maximum(a, b), np.minimum(a, b)
    job.exchange(target).write(source, node_partition(u, job.parts),
                               pa.table({"u": u, "v": v}, schema=EDGE))
