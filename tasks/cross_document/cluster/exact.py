"""Exact copies on the cluster (the single-process step's phase 3, tasks/cross_document/candidates.py
`exact_copies`): rows with the same normalised hash meet in one partition; the first row of each
group that may lead heads it (the first row when none may), the others are its copies. Heads with
band keys represent their group in the near-copy search; every head looks for an earlier run's
paragraph with its hash.

- `send_hashes` (per shard): which rows take part (content no rule took, no site template, id
  not read before), staged as the shard's flags, and their hashes to the `hashes` exchange;
- `group_copies` (per partition of hashes): the groups; copies to their heads' shards (`copies`), heads
  with keys to theirs (`reps`), exact matches with earlier runs to `earlier_pairs`;
- `stage_representatives` (per shard): the shard's representatives, sorted, as `reps.npy`.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tasks import npy
from tasks.cross_document.cluster.documents import ROW_LIST, read_rows
from tasks.cross_document.cluster.exchange import partition_of
from tasks.cross_document.cluster.job import Job
from tasks.cross_document.history import History

HASHES = pa.schema([("norm_hash", pa.uint64()), ("row", pa.int64()), ("may_lead", pa.bool_()),
                    ("has_keys", pa.bool_())])
COPIES = pa.schema([("row", pa.int64()), ("head", pa.int64())])
# An earlier run's paragraph and a row of this run: a candidate (`exact` false) or an exact match.
EARLIER_PAIRS = pa.schema([("history_id", pa.uint64()), ("row", pa.int64()),
                           ("exact", pa.bool_())])


def open_history(job: Job) -> History:
    """The earlier runs' index, without the documents this run supersedes (staged by the flow)."""
    from tasks.cross_document.cluster.output import superseded_ids

    return History(job.clean, job.settings.dedup, superseded_ids(job))


def send_hashes(job: Job, shard: int) -> int:
    """Stage the shard's flags (template, repeated, eligible) and send its eligible rows'
    hashes. Returns the eligible rows."""
    rows = read_rows(job, shard, ["boilerplate", "may_lead", "norm_hash", "has_keys"])
    work = job.shard_work(shard)
    template = np.zeros(rows.num_rows, dtype=bool)
    found = job.exchange("template_rows", by_shard=True).read(shard, ROW_LIST)
    template[found["row"].to_numpy() - job.first_row(shard)] = True
    repeated = npy.load(work / "repeated.npy")
    norm_hash = rows["norm_hash"].to_numpy().copy()
    norm_hash[rows["boilerplate"].to_numpy(zero_copy_only=False) | template | repeated] = 0
    eligible = norm_hash != 0
    np.savez(work / "flags.npz", template=template, repeated=repeated, eligible=eligible)
    at = np.flatnonzero(eligible)
    sent = pa.table({"norm_hash": norm_hash[at], "row": at + job.first_row(shard),
                     "may_lead": rows["may_lead"].take(pa.array(at)),
                     "has_keys": rows["has_keys"].take(pa.array(at))}, schema=HASHES)
    job.exchange("hashes").write(shard, partition_of(norm_hash[at], job.parts), sent)
    return len(at)


def group_copies(job: Job, part: int, with_history: bool) -> tuple[int, int]:
    """The exact groups of one partition of hashes. Returns (copies, representatives)."""
    table = job.exchange("hashes").read(part, HASHES)
    if not table.num_rows:
        return 0, 0
    hashes = table["norm_hash"].to_numpy()
    rows = table["row"].to_numpy()
    lead = table["may_lead"].to_numpy(zero_copy_only=False)
    order = np.lexsort((rows, ~lead, hashes))
    hashes, rows = hashes[order], rows[order]
    has_keys = table["has_keys"].to_numpy(zero_copy_only=False)[order]
    starts = np.flatnonzero(np.concatenate(([True], hashes[1:] != hashes[:-1])))
    head = np.repeat(rows[starts], np.diff(np.append(starts, len(rows))))
    copy = head != rows
    # To the head's shard: a copy follows its head's decision (output.py, `follow_heads`).
    job.exchange("copies", by_shard=True).write(
        part, job.shard_of(head[copy]), pa.table({"row": rows[copy], "head": head[copy]},
                                                  schema=COPIES))
    reps = rows[starts][has_keys[starts]]
    job.exchange("reps", by_shard=True).write(part, job.shard_of(reps),
                                              pa.table({"row": reps}, schema=ROW_LIST))
    if with_history:
        head_hashes = hashes[starts]  # sorted, distinct
        ids, found = open_history(job).exact_matches(head_hashes)
        matched = rows[starts][np.searchsorted(head_hashes, found)]
        job.exchange("earlier_pairs", by_shard=True).write(
            part, job.shard_of(matched),
            pa.table({"history_id": ids, "row": matched,
                      "exact": np.ones(len(ids), bool)}, schema=EARLIER_PAIRS))
    return int(copy.sum()), len(reps)


def stage_representatives(job: Job, shard: int) -> int:
    """The shard's representatives (rows of the run, sorted) as `reps.npy`. Returns them."""
    found = job.exchange("reps", by_shard=True).read(shard, ROW_LIST)
    reps = np.sort(found["row"].to_numpy())
    np.save(job.shard_work(shard) / "reps.npy", reps)
    return len(reps)


def representatives(job: Job, shard: int) -> np.ndarray:
    return npy.load(job.shard_work(shard) / "reps.npy")
