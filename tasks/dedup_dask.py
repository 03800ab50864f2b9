"""Candidate search for near duplicates as a Dask DataFrame computation, for runs whose band
index is too large to sort in one process.

Each staged shard is read on a worker and exploded into (band code, row) pairs for the rows that
take part (the representatives of their exact-copy groups); a shuffle on the band code brings
equal keys together; each partition yields its candidate pairs exactly as the in-process search
does (`pairs_in_groups`); the flow process gathers the distinct pairs. Verification and the
choice of canonicals stay in the flow process: they work on the candidates, a small fraction of
the index. The same pairs come out as from `dedup.candidate_pairs`, so the output is the same.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from tasks.dedup import decode_pairs, pairs_in_groups, sorted_unique
from tasks.minhash import list_matrix


def _band_rows(keys: np.ndarray, rows: np.ndarray, reps: np.ndarray) -> pd.DataFrame:
    """(code = band << 32 | key, pos = the row's place among the representatives)."""
    pos = np.searchsorted(reps, rows)
    pos = np.minimum(pos, max(len(reps) - 1, 0))
    taking = (reps[pos] == rows) if len(reps) else np.zeros(len(rows), dtype=bool)
    keys, pos = keys[taking], pos[taking]
    bands = keys.shape[1]
    code = (np.arange(bands, dtype=np.uint64)[None, :] << np.uint64(32)) | keys.astype(np.uint64)
    return pd.DataFrame({"code": code.ravel(), "pos": np.repeat(pos, bands).astype(np.int64)})


def _shard_band_rows(path: str, first_row: int, bands: int, reps: np.ndarray) -> pd.DataFrame:
    keys, has = list_matrix(pq.read_table(path, columns=["band_keys"])["band_keys"], bands)
    rows = first_row + np.flatnonzero(has)
    return _band_rows(keys[has], rows, reps)


def _partition_pairs(part: pd.DataFrame, n: int, max_heads: int) -> pd.Series:
    part = part.sort_values(["code", "pos"], kind="stable")
    codes = pairs_in_groups(part["code"].to_numpy(), part["pos"].to_numpy(), n, max_heads)
    return pd.Series(codes, dtype="int64")


def candidate_pairs_on_dask(address: str, shard_paths: list[tuple[str, int]],
                            history_keys: np.ndarray, bands: int, max_heads: int):
    """A `candidates` function for `find_duplicates`: shard_paths are (staged paragraphs file,
    its first row in the combined numbering); history_keys are the band keys of the earlier
    runs' rows, which come first in that numbering."""

    def candidates(reps: np.ndarray) -> np.ndarray:
        import dask
        import dask.dataframe as dd
        from distributed import Client

        with Client(address) as client:
            reps_future = client.scatter(reps, broadcast=True)
            parts = [dask.delayed(_shard_band_rows)(path, first, bands, reps_future)
                     for path, first in shard_paths]
            if len(history_keys):
                parts.append(dask.delayed(_band_rows)(
                    history_keys, np.arange(len(history_keys)), reps_future))
            meta = pd.DataFrame({"code": pd.Series(dtype="uint64"),
                                 "pos": pd.Series(dtype="int64")})
            frame = dd.from_delayed(parts, meta=meta).shuffle(on="code")
            codes = frame.map_partitions(_partition_pairs, len(reps), max_heads,
                                         meta=pd.Series(dtype="int64")).compute()
        return decode_pairs(sorted_unique(codes.to_numpy()), len(reps))

    return candidates
