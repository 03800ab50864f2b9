"""Verification on the cluster (the single-process step's phase 5): every candidate pair is judged
by the verifier with the sets of both paragraphs. The sets of each shard's representatives are
staged once as an Arrow file (`stage_sets`), so the task that judges the pairs of one shard
(those whose later row is there) reads the sets it needs of any shard by row, from memory-mapped
files: a pair travels once, as two row numbers.

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

from tasks import npy
from tasks.cross_document.cluster.bands import candidates_path, pairs_of_codes
from tasks.cross_document.cluster.documents import read_rows
from tasks.cross_document.cluster.exact import EARLIER_PAIRS, open_history, representatives
from tasks.cross_document.cluster.exchange import partition_of, read_arrow, write_arrow
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

JUDGE_PAIRS = 250_000  # pairs judged at a time: their sets, features and scores in memory
EDGES = pa.schema([("i", pa.int64()), ("j", pa.int64()), ("score", pa.float32()),
                   ("name_i", pa.string())])  # the earlier run's para_id of i, else null


def stage_sets(job: Job, shard: int) -> None:
    """The shard's representatives' sets (in their order, `reps.npy`), and the document code
    of each of its rows, for the verification tasks to read by row."""
    reps = representatives(job, shard)
    table = pq.read_table(job.shard_files(shard).table("paragraphs"),
                          columns=list(SET_COLUMNS.values()))
    write_arrow(job.shard_work(shard) / "sets.arrow",
                table.take(pa.array(reps - job.first_row(shard))))
    rows = read_rows(job, shard, ["doc_id"])
    np.save(job.shard_work(shard) / "documents.npy", document_codes(rows["doc_id"], shard))


def judge(job: Job, shard: int, reps_counted: int, members: str | None = None
          ) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """The pairs (i, j, ...) whose j (a representative) is in `shard`, judged: (the pairs, the
    verifier's score, passed): the pairs of exchange `members` (members of one cluster), or
    without it the shard's LSH candidates (distinct: `candidates.npy`). Of the candidates, not
    pairs whose i may not lead; not pairs inside one document (only exact copies count there);
    and pairs below the Jaccard floor not scored (score NaN, not passed)."""
    candidates = members is None
    empty = pa.table({"i": pa.array([], pa.int64()), "j": pa.array([], pa.int64())})
    pairs = None if candidates else job.exchange(members, by_shard=True).read(shard, None)
    if not candidates and (pairs is None or not pairs.num_rows):
        return empty, np.zeros(0, np.float32), np.zeros(0, bool)
    if candidates:  # the shard's distinct pairs, merged round by round (bands.merge_pairs)
        path = candidates_path(job, shard)
        if not path.is_file():
            return empty, np.zeros(0, np.float32), np.zeros(0, bool)
        i, j = pairs_of_codes(npy.load(path), job.first_row(shard))
        keep = _per_row(job, i, lambda s: read_rows(job, s, ["may_lead"])["may_lead"]
                        .to_numpy(zero_copy_only=False)) & \
            (_per_row(job, i, lambda s: npy.load(job.shard_work(s) / "documents.npy",
                                                mmap_mode="r"))
             != _per_row(job, j, lambda s: npy.load(job.shard_work(s) / "documents.npy",
                                                   mmap_mode="r")))
        pairs = pa.table({"i": i[keep], "j": j[keep]})
    i, j = pairs["i"].to_numpy(), pairs["j"].to_numpy()
    scores = np.full(len(i), np.nan, dtype=np.float32)
    passed = np.zeros(len(i), dtype=bool)
    # In pieces: a piece holds the sets of its own pairs only (a hot key sends a shard
    # millions of pairs).
    for lo in range(0, len(i), JUDGE_PAIRS):
        at = slice(lo, lo + JUDGE_PAIRS)
        scores[at], passed[at] = _judge_piece(job, i[at], j[at], reps_counted, candidates)
    return pairs, scores, passed


def _judge_piece(job: Job, i: np.ndarray, j: np.ndarray, reps_counted: int,
                 floor: bool) -> tuple[np.ndarray, np.ndarray]:
    a, a_rows = _sets_of(job, i)
    b, b_rows = _sets_of(job, j)
    rarity = rarity_of(job, np.concatenate([a.csr["content"][0], b.csr["content"][0]]),
                       reps_counted)
    scores = np.full(len(i), np.nan, dtype=np.float32)
    passed = np.zeros(len(i), dtype=bool)
    worth = reach_jaccard_floor(a, a_rows, b, b_rows, job.settings.dedup) if floor else \
        np.ones(len(i), bool)
    if worth.any():
        features, smaller = pair_features(a, a_rows[worth], b, b_rows[worth], rarity)
        scored = load_verifier().score(features, smaller)
        scores[worth] = scored
        passed[worth] = are_copies(scored, features, np.zeros(int(worth.sum()), bool),
                                   job.settings.dedup)
    return scores, passed


def verify_candidates(job: Job, shard: int, reps_counted: int) -> tuple[int, int, int]:
    """The verified pairs whose later row is in `shard`, to `edges`. Returns (candidates,
    compared, verified)."""
    pairs, scores, passed = judge(job, shard, reps_counted)
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
        b, b_rows = _sets_of(job, rows[near])
        a_rows = slot[near]
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


def _sets_of(job: Job, rows: np.ndarray):
    """The sets of representatives `rows` (of any shards), read from their shards' staged
    sets: (ContentSets of the distinct rows, each row's place in them)."""
    needed, place = np.unique(rows, return_inverse=True)
    shard_of = job.shard_of(needed)
    parts = []
    for shard in np.unique(shard_of).tolist():
        reps = representatives(job, shard)
        at = np.searchsorted(reps, needed[shard_of == shard])
        parts.append(read_arrow(job.shard_work(shard) / "sets.arrow").take(pa.array(at)))
    table = pa.concat_tables(parts) if parts else pa.table(
        {c: pa.array([], pa.list_(pa.uint32())) for c in SET_COLUMNS.values()})
    return sets_of_table(table), place


def _per_row(job: Job, rows: np.ndarray, column_of_shard) -> np.ndarray:
    """A per-row array of each row's shard (`column_of_shard(shard)`), at `rows`."""
    shard_of = job.shard_of(rows)
    out = None
    for shard in np.unique(shard_of).tolist():
        at = np.flatnonzero(shard_of == shard)
        values = np.asarray(column_of_shard(shard))[rows[at] - job.first_row(shard)]
        if out is None:
            out = np.empty(len(rows), dtype=values.dtype)
        out[at] = values
    return out if out is not None else np.zeros(0, bool)
