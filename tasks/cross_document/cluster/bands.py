"""Candidate pairs on the cluster (the single-process step's phase 4): the representatives' band
keys meet by key in a partition, a group of equal keys pairs each row with its first rows (at
most MAX_HEADS, as `pairs_in_groups`), and the partition's keys are looked up in the earlier
runs' index.

Bands go in rounds (`BANDS_PER_ROUND` at a time) so that the staged keys of one round, not of
all bands, are on disk at once. A round's candidate pairs go to the shard of their later row
(`pairs-<round>`), each as one number (`pair_codes`), and are merged there with the shard's
distinct pairs of the rounds before (`merge_pairs`, `candidates.npy`): a pair met in many bands
is held once (a copy shares most of its bands with its source, so a round's pairs come many
times over), and the disk holds the distinct pairs and one round's.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tasks import npy
from tasks.cross_document.cluster.exact import EARLIER_PAIRS, open_history, representatives
from tasks.cross_document.cluster.exchange import partition_of
from tasks.cross_document.cluster.job import Job
from tasks.cross_document.duplicates import (
    MAX_HEADS,
    merge_sorted_unique,
    sort_by_key,
    sorted_unique,
)
from tasks.cross_document.history import expand_ranges

BANDS_PER_ROUND = 8
BAND_ROWS = pa.schema([("band", pa.uint8()), ("key", pa.uint64()), ("row", pa.int64())])
CODES = pa.schema([("code", pa.int64())])
_I_BITS = 40  # a pair as one number: (j's place in its shard) << 40 | i


def rounds(bands: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + BANDS_PER_ROUND, bands)) for lo in range(0, bands, BANDS_PER_ROUND)]


def send_band_keys(job: Job, shard: int, first_band: int, end_band: int) -> None:
    """The shard's representatives' keys of bands [first_band, end_band), by key."""
    reps = representatives(job, shard)
    if not len(reps):
        return
    keys = npy.load(job.shard_files(shard).band_keys, mmap_mode="r")
    local = reps - job.first_row(shard)
    count = end_band - first_band
    band_keys = np.asarray(keys[first_band:end_band][:, local]).ravel()
    sent = pa.table({"band": np.repeat(np.arange(first_band, end_band, dtype=np.uint8),
                                       len(reps)),
                     "key": band_keys, "row": np.tile(reps, count)}, schema=BAND_ROWS)
    job.exchange(f"bands-{first_band:03d}").write(shard, partition_of(band_keys, job.parts),
                                                  sent)


def pair_keys(job: Job, part: int, first_band: int, with_history: bool) -> int:
    """The candidate pairs of one partition of one round's keys, and its keys' earlier
    candidates, sent in pieces of at most PIECE_PAIRS (a hot key's group of a million rows
    makes 32 million pairs). Returns the pairs found (with repeats across bands)."""
    table = job.exchange(f"bands-{first_band:03d}").read(part, BAND_ROWS)
    if not table.num_rows:
        return 0
    band_of = table["band"].to_numpy()
    history = open_history(job) if with_history else None
    pairs, earlier = job.exchange(f"pairs-{first_band:03d}", by_shard=True), \
        job.exchange("earlier_pairs", by_shard=True)
    found = 0
    for band in np.unique(band_of).tolist():
        at = np.flatnonzero(band_of == band)
        # Rows of equal keys come in shard order, rising in a shard: sorted by (key, row).
        keys, rows = sort_by_key(table["key"].to_numpy()[at], table["row"].to_numpy()[at])
        source = (part * 256 + band) * 100_000  # a file per piece, named in a fixed order
        for piece, (i, j) in enumerate(pairs_of_groups(keys, rows, MAX_HEADS)):
            shard_of = job.shard_of(j)
            pairs.write(source + piece, shard_of, pa.table(
                {"code": pair_codes(i, j - np.asarray(job.starts)[shard_of])}, schema=CODES))
            found += len(i)
        if history is not None and history.runs:
            ids, matched = history.band_matches(band, sorted_unique(keys), MAX_HEADS)
            lo = np.searchsorted(keys, matched, side="left")
            counts = np.searchsorted(keys, matched, side="right") - lo
            for piece, (a, b) in enumerate(_pieces(counts)):
                rows_of = rows[expand_ranges(lo[a:b], counts[a:b])]
                earlier.write((1 << 36) + source + piece, job.shard_of(rows_of), pa.table({
                    "history_id": np.repeat(ids[a:b], counts[a:b]), "row": rows_of,
                    "exact": np.zeros(len(rows_of), bool)}, schema=EARLIER_PAIRS))
    return found


def merge_pairs(job: Job, shard: int, first_band: int) -> int:
    """The shard's distinct candidate pairs so far: those of round `first_band` merged into
    `candidates.npy` (sorted codes; a map task's piece at a time). Run again, it changes
    nothing (a union). Returns the distinct pairs so far."""
    path = candidates_path(job, shard)
    codes = npy.load(path) if path.is_file() else np.zeros(0, np.int64)
    for piece in job.exchange(f"pairs-{first_band:03d}", by_shard=True).pieces(shard):
        codes = merge_sorted_unique(codes, sorted_unique(piece["code"].to_numpy()))
        del piece
    temporary = path.with_name(path.name + ".tmp.npy")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(temporary, codes)
    temporary.replace(path)
    return len(codes)


def candidates_path(job: Job, shard: int):
    return job.shard_work(shard) / "candidates.npy"


def pair_codes(i: np.ndarray, j_in_shard: np.ndarray) -> np.ndarray:
    """Pairs (row i, the place of row j in its shard) as one int64 each, in (j, i) order."""
    return (np.asarray(j_in_shard, np.int64) << np.int64(_I_BITS)) | np.asarray(i, np.int64)


def pairs_of_codes(codes: np.ndarray, first_row: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows (i, j) of a shard's pair codes."""
    return codes & np.int64((1 << _I_BITS) - 1), (codes >> np.int64(_I_BITS)) + first_row


PIECE_PAIRS = 4_000_000


def _pieces(counts: np.ndarray):
    """Consecutive ranges [a, b) of `counts` that sum to at most PIECE_PAIRS each (more only
    where one count alone is more)."""
    total = np.cumsum(counts)
    a = 0
    while a < len(counts):
        before = int(total[a - 1]) if a else 0
        b = max(int(np.searchsorted(total, before + PIECE_PAIRS, side="right")), a + 1)
        yield a, b
        a = b


def pairs_of_groups(keys: np.ndarray, rows: np.ndarray, max_heads: int):
    """For rows sorted by (key, row): the pairs (earlier, later) inside each group of equal
    keys, each row paired with at most the first `max_heads` rows of its group (as
    tasks/cross_document/duplicates.py `pairs_in_groups`), as (rows i, rows j) in pieces of at
    most PIECE_PAIRS pairs."""
    m = len(keys)
    if m == 0:
        return
    new_group = np.empty(m, dtype=bool)
    new_group[0] = True
    new_group[1:] = keys[1:] != keys[:-1]
    group_start = np.flatnonzero(new_group)
    start_of = np.repeat(group_start, np.diff(np.append(group_start, m)))
    heads = np.minimum(np.arange(m) - start_of, max_heads)
    for a, b in _pieces(heads):
        yield rows[expand_ranges(start_of[a:b], heads[a:b])], np.repeat(rows[a:b], heads[a:b])
