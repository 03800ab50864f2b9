"""Verification on the cluster (the single-process step's phase 5): every candidate pair is judged
by the verifier, with the sets of both paragraphs, which live in two shards. So a pair travels
twice: to the shard of its earlier row, which attaches that row's sets (`attach_sets`), then to
the shard of its later row, which reads its own sets and judges (`judge`).

Unlike the single-process step, every candidate is verified (that step skips pairs whose earlier
row is a duplicate already, which it knows because it decides in row order): the components of
the verified graph must be whole for each to be decided apart (tasks/cross_document/components.py).

`verify_candidates` (per shard): this run's pairs and the pairs with earlier runs' paragraphs
(exact matches and candidates), the verified ones to the `edges` exchange as (node, node, score)
with the earlier paragraph's para_id.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.cross_document.cluster.documents import read_rows
from tasks.cross_document.cluster.exact import EARLIER_PAIRS, open_history
from tasks.cross_document.cluster.exchange import partition_of
from tasks.cross_document.cluster.job import (
    Job,
    document_codes,
    node_of_entry,
    node_of_row,
    node_partition,
)
from tasks.cross_document.cluster.rarity import rarity_of
from tasks.cross_document.duplicates import SET_COLUMNS
from tasks.cross_document.staged_sets import sets_of_table
from tasks.cross_document.verifier import (
    are_copies,
    load_verifier,
    pair_features,
    reach_jaccard_floor,
)
from tasks.shard.minhash import fmix64

EDGES = pa.schema([("i", pa.int64()), ("j", pa.int64()), ("score", pa.float32()),
                   ("name_i", pa.string())])  # the earlier run's para_id of i, else null
_SET_FIELDS = [pa.field(c, pa.list_(pa.uint32())) for c in SET_COLUMNS.values()]


def attach_sets(job: Job, shard: int, source: str, target: str, candidates: bool) -> int:
    """Pairs (i, j, ...) of exchange `source` whose i is in `shard`, with i's document and
    sets, to exchange `target` by the shard of j. With `candidates`: repeats (from several
    bands) once, and not pairs whose i may not lead. Returns the pairs sent."""
    pairs = job.exchange(source, by_shard=True).read(shard, None)
    if pairs is None or not pairs.num_rows:
        return 0
    if candidates:
        both = np.stack([pairs["i"].to_numpy(), pairs["j"].to_numpy()], axis=1)
        both = np.unique(both, axis=0)
        pairs = pa.table({"i": both[:, 0], "j": both[:, 1]})
    first = job.first_row(shard)
    local = pairs["i"].to_numpy() - first
    rows = read_rows(job, shard, ["doc_id", "may_lead"])
    if candidates:
        keep = rows["may_lead"].to_numpy(zero_copy_only=False)[local]
        pairs, local = pairs.filter(pa.array(keep)), local[keep]
    sets = _sets_of_rows(job, shard, local)
    doc = document_codes(rows["doc_id"], shard)[local]
    out = pairs.append_column("doc_i", pa.array(doc))
    for name in SET_COLUMNS.values():
        out = out.append_column(name, sets[name])
    job.exchange(target, by_shard=True).write(shard, job.shard_of(pairs["j"].to_numpy()), out)
    return out.num_rows


def judge(job: Job, shard: int, source: str, reps_counted: int, floor: bool,
          same_document_out: bool) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """The pairs of exchange `source` (from `attach_sets`) whose j is in `shard`, judged:
    (the pairs less their sets, the verifier's score, passed). With `floor`, pairs below the
    Jaccard floor are not scored (score NaN, not passed); with `same_document_out`, pairs inside
    one document are dropped (only exact copies count there)."""
    half = job.exchange(source, by_shard=True).read(shard, None)
    if half is None or not half.num_rows:
        return pa.table({"i": pa.array([], pa.int64()), "j": pa.array([], pa.int64())}), \
            np.zeros(0, np.float32), np.zeros(0, bool)
    first = job.first_row(shard)
    j_local = half["j"].to_numpy() - first
    if same_document_out:
        doc_j = document_codes(read_rows(job, shard, ["doc_id"])["doc_id"], shard)[j_local]
        other = half["doc_i"].to_numpy() != doc_j
        half, j_local = half.filter(pa.array(other)), j_local[other]
    needed = np.unique(j_local)
    a = sets_of_table(half.select(list(SET_COLUMNS.values())))
    b = sets_of_table(_sets_of_rows(job, shard, needed))
    a_rows = np.arange(half.num_rows)
    b_rows = np.searchsorted(needed, j_local)
    rarity = rarity_of(job, np.concatenate([a.csr["content"][0], b.csr["content"][0]]),
                       reps_counted)
    scores = np.full(half.num_rows, np.nan, dtype=np.float32)
    passed = np.zeros(half.num_rows, dtype=bool)
    worth = reach_jaccard_floor(a, a_rows, b, b_rows, job.settings.dedup) if floor else \
        np.ones(half.num_rows, bool)
    if worth.any():
        features, smaller = pair_features(a, a_rows[worth], b, b_rows[worth], rarity)
        scored = load_verifier().score(features, smaller)
        scores[worth] = scored
        passed[worth] = are_copies(scored, features, np.zeros(int(worth.sum()), bool),
                                   job.settings.dedup)
    kept = [c for c in half.column_names if c not in SET_COLUMNS.values() and c != "doc_i"]
    return half.select(kept), scores, passed


def verify_candidates(job: Job, shard: int, reps_counted: int) -> tuple[int, int, int]:
    """The verified pairs whose later row is in `shard`, to `edges`. Returns (candidates,
    compared, verified)."""
    pairs, scores, passed = judge(job, shard, "pairs_half", reps_counted, floor=True,
                                  same_document_out=True)
    candidates = compared = len(scores)
    edges = [pa.table({"i": node_of_row(pairs["i"].to_numpy()[passed]),
                       "j": node_of_row(pairs["j"].to_numpy()[passed]),
                       "score": scores[passed], "name_i": pa.nulls(int(passed.sum()),
                                                                    pa.string())},
                      schema=EDGES)]
    earlier, counts = _verify_earlier(job, shard, reps_counted)
    edges.append(earlier)
    table = pa.concat_tables(edges)
    table = _once_per_pair(table)
    job.exchange("edges").write(shard, node_partition(table["i"].to_numpy(), job.parts), table)
    return candidates + counts[0], compared + counts[1], table.num_rows


def _verify_earlier(job: Job, shard: int, reps_counted: int
                    ) -> tuple[pa.Table, tuple[int, int]]:
    """Exact matches and candidates with earlier runs' paragraphs (tasks/cross_document/
    canonicals.py, `verify_range`), as edges; and (pairs, compared). The paragraphs involved
    to `earlier_ids`, to be counted once (`count_earlier`)."""
    pairs = job.exchange("earlier_pairs", by_shard=True).read(shard, EARLIER_PAIRS)
    if not pairs.num_rows:
        return EDGES.empty_table(), (0, 0)
    ids, rows = pairs["history_id"].to_numpy(), pairs["row"].to_numpy()
    exact = pairs["exact"].to_numpy(zero_copy_only=False)
    packed = np.unique(np.stack([ids.view(np.int64), rows, exact.astype(np.int64)], axis=1),
                       axis=0)
    ids, rows, exact = packed[:, 0].view(np.uint64), packed[:, 1], packed[:, 2].astype(bool)
    entries = open_history(job).entries(np.unique(ids))  # superseded documents left out
    by_id = np.argsort(entries["history_id"].to_numpy())
    sorted_ids = entries["history_id"].to_numpy()[by_id]
    at = np.minimum(np.searchsorted(sorted_ids, ids), max(len(sorted_ids) - 1, 0))
    known = (sorted_ids[at] == ids) if len(sorted_ids) else np.zeros(len(ids), bool)
    ids, rows, exact, slot = ids[known], rows[known], exact[known], by_id[at[known]]
    counted = len(ids)
    involved = entries["history_id"].to_numpy()
    job.exchange("earlier_ids").write(shard, partition_of(fmix64(involved.copy()), job.parts),
                                      pa.table({"history_id": involved}))
    node = node_of_entry(entries["run_seq"].to_numpy(), entries["order"].to_numpy())
    names = entries["para_id"]
    local = rows - job.first_row(shard)
    row_docs = read_rows(job, shard, ["doc_id"])["doc_id"]
    # Inside one document only exact copies count: such candidates are not scored at all.
    same_doc = pc.equal(entries["doc_id"].take(pa.array(slot)),
                        row_docs.take(pa.array(local))).to_numpy(zero_copy_only=False)
    near = ~exact & ~same_doc
    compared = int(near.sum())
    scores = np.ones(len(ids), dtype=np.float32)
    passed = exact.copy()
    if near.any():
        a = sets_of_table(entries.select(list(SET_COLUMNS.values())))
        needed = np.unique(local[near])
        b = sets_of_table(_sets_of_rows(job, shard, needed))
        a_rows, b_rows = slot[near], np.searchsorted(needed, local[near])
        worth = reach_jaccard_floor(a, a_rows, b, b_rows, job.settings.dedup)
        if worth.any():
            rarity = rarity_of(job, np.concatenate([a.csr["content"][0], b.csr["content"][0]]),
                               reps_counted)
            features, smaller = pair_features(a, a_rows[worth], b, b_rows[worth], rarity,
                                              a_in_run=False)
            scored = load_verifier().score(features, smaller)
            ok = are_copies(scored, features, np.zeros(len(scored), bool), job.settings.dedup)
            where = np.flatnonzero(near)[worth]
            scores[where], passed[where] = scored, ok
    return pa.table({"i": node[slot[passed]], "j": node_of_row(rows[passed]),
                     "score": scores[passed], "name_i": names.take(pa.array(slot[passed]))},
                    schema=EDGES), (counted, compared)


def count_earlier(job: Job, part: int) -> int:
    """Earlier runs' paragraphs that candidates or exact matches involved, each once."""
    found = job.exchange("earlier_ids").read(part, None)
    return 0 if found is None else len(np.unique(found["history_id"].to_numpy()))


def _once_per_pair(edges: pa.Table) -> pa.Table:
    """One edge per pair of nodes: an exact match (score 1) before a candidate that passed
    too, as the single-process step's assignment sees them (its exact pairs come first)."""
    if not edges.num_rows:
        return edges
    i, j = edges["i"].to_numpy(), edges["j"].to_numpy()
    exact_first = -(edges["score"].to_numpy() == 1.0).astype(np.int8)
    order = np.lexsort((exact_first, i, j))
    i, j = i[order], j[order]
    first = np.concatenate(([True], (i[1:] != i[:-1]) | (j[1:] != j[:-1])))
    return edges.take(pa.array(order[first]))


def _sets_of_rows(job: Job, shard: int, local: np.ndarray) -> pa.Table:
    """The verifier's set columns of rows `local` of a shard (in that order)."""
    table = pq.read_table(job.shard_files(shard).table("paragraphs"),
                          columns=list(SET_COLUMNS.values()))
    return table.take(pa.array(local))
