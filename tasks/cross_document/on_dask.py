"""Candidate search for near duplicates as a Dask DataFrame computation, for runs whose band
index is too large to sort in one process.

Each staged shard's band keys are read on a worker and exploded into (band, key, position)
triples for the paragraphs that take part (the representatives of their exact-copy groups); a
shuffle on the band code brings equal keys together; each partition yields its candidate pairs
exactly as the in-process search does (`pairs_in_groups`); the flow process gathers the distinct
pairs. Verification and the choice of canonicals stay in the flow process: they work on the
candidates, a small fraction of the index. The same pairs come out as from the in-process
search, so the output is the same.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tasks.cross_document.duplicates import MAX_HEADS, decode_pairs, pairs_in_groups, sorted_unique
from tasks.store import ShardFiles


def _shard_band_rows(directory: str, first_row: int, bands: int, reps: np.ndarray) -> pd.DataFrame:
    """(band, key, pos = the row's place among the representatives)."""
    keys = np.load(ShardFiles(directory).band_keys, mmap_mode="r")
    rows = first_row + np.arange(keys.shape[1])
    pos = np.searchsorted(reps, rows)
    pos_clipped = np.minimum(pos, max(len(reps) - 1, 0))
    taking = (reps[pos_clipped] == rows) if len(reps) else np.zeros(len(rows), dtype=bool)
    local, pos = np.flatnonzero(taking), pos[taking]
    return pd.DataFrame({"band": np.repeat(np.arange(bands, dtype=np.int32), len(local)),
                         "key": np.asarray(keys)[:, local].astype(np.uint64).ravel(),
                         "pos": np.tile(pos, bands).astype(np.int64)})


def _partition_pairs(part: pd.DataFrame, n: int, max_heads: int) -> pd.Series:
    part = part.sort_values(["band", "key", "pos"], kind="stable")
    band, key = part["band"].to_numpy(), part["key"].to_numpy()
    new_group = np.ones(len(part), dtype=bool)
    new_group[1:] = (band[1:] != band[:-1]) | (key[1:] != key[:-1])
    codes = pairs_in_groups(np.cumsum(new_group), part["pos"].to_numpy(), n, max_heads)
    return pd.Series(codes, dtype="int64")


def candidate_pairs_on_dask(address: str, shards, reps: np.ndarray, bands: int,
                            max_heads: int) -> np.ndarray:
    """Candidate pairs among `reps` (sorted row numbers of the run), as positions in `reps`."""
    import dask
    import dask.dataframe as dd
    from distributed import Client

    firsts = np.cumsum([0] + [s.paragraphs for s in shards])[:-1]
    with Client(address) as client:
        reps_future = client.scatter(reps, broadcast=True)
        parts = [dask.delayed(_shard_band_rows)(shard.directory, int(first), bands, reps_future)
                 for shard, first in zip(shards, firsts)]
        meta = pd.DataFrame({"band": pd.Series(dtype="int32"), "key": pd.Series(dtype="uint64"),
                             "pos": pd.Series(dtype="int64")})
        frame = dd.from_delayed(parts, meta=meta).shuffle(on=["band", "key"])
        codes = frame.map_partitions(_partition_pairs, len(reps), max_heads,
                                     meta=pd.Series(dtype="int64")).compute()
    return decode_pairs(sorted_unique(codes.to_numpy()), len(reps))


class DaskPairs:
    """The candidate pairs among `reps` found on a Dask cluster, handed out range of members by
    range of members as the band tables hand out theirs (`pairs`)."""

    def __init__(self, address: str, shards, reps: np.ndarray, bands: int):
        found = candidate_pairs_on_dask(address, shards, reps, bands, MAX_HEADS)
        self.m = len(reps)
        self.codes = sorted_unique(found[:, 1].astype(np.int64) * self.m + found[:, 0])

    def pairs(self, a0: int, a1: int) -> np.ndarray:
        lo, hi = np.searchsorted(self.codes, [a0 * self.m, a1 * self.m])
        return self.codes[lo:hi]
