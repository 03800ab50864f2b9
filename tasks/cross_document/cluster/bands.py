"""Candidate pairs on the cluster (the single-process step's phase 4): the representatives' band
keys meet by key in a partition, a group of equal keys pairs each row with its first rows (at
most MAX_HEADS, as `pairs_in_groups`), and the partition's keys are looked up in the earlier
runs' index.

Bands go in rounds (`BANDS_PER_ROUND` at a time) so that the staged keys of one round, not of
all bands, are on disk at once; the candidate pairs of every round go to the shard of their
later row (`pairs`), where they are verified.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tasks.cross_document.cluster.exact import EARLIER_PAIRS, open_history, representatives
from tasks.cross_document.cluster.exchange import partition_of
from tasks.cross_document.cluster.job import Job
from tasks.cross_document.duplicates import MAX_HEADS, sort_by_key, sorted_unique
from tasks.cross_document.history import expand_ranges

BANDS_PER_ROUND = 8
BAND_ROWS = pa.schema([("band", pa.uint8()), ("key", pa.uint64()), ("row", pa.int64())])
PAIRS = pa.schema([("i", pa.int64()), ("j", pa.int64())])


def rounds(bands: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + BANDS_PER_ROUND, bands)) for lo in range(0, bands, BANDS_PER_ROUND)]


def send_band_keys(job: Job, shard: int, first_band: int, end_band: int) -> None:
    """The shard's representatives' keys of bands [first_band, end_band), by key."""
    reps = representatives(job, shard)
    if not len(reps):
        return
    keys = np.load(job.shard_files(shard).band_keys, mmap_mode="r")
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
    pairs, earlier = job.exchange("pairs", by_shard=True), \
        job.exchange("earlier_pairs", by_shard=True)
    found = 0
    for band in np.unique(band_of).tolist():
        at = np.flatnonzero(band_of == band)
        # Rows of equal keys come in shard order, rising in a shard: sorted by (key, row).
        keys, rows = sort_by_key(table["key"].to_numpy()[at], table["row"].to_numpy()[at])
        source = (part * 256 + band) * 100_000  # a file per piece, named in a fixed order
        for piece, (i, j) in enumerate(pairs_of_groups(keys, rows, MAX_HEADS)):
            pairs.write(source + piece, job.shard_of(j), pa.table({"i": i, "j": j},
                                                                  schema=PAIRS))
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
