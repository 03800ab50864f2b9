"""LSH band tables of a run's representatives, sorted once and staged on disk, so candidate
pairs can be produced range of members by range of members with memory bounded by the range.

A band's rows are sorted by (key, row) once; a row `j` then pairs with the first rows of its
group that come before it, at most `max_heads` (tasks/cross_document/duplicates.py,
`pairs_in_groups`). Per band the table keeps, as raw files:

    pos     int32 per sorted position: the row there
    gstart  int32 per row: the sorted position where its group starts
    heads   uint8 per row: how many rows of its group it pairs with (min(rank in group, cap))

so the pairs of members [a0, a1) are `(pos[gstart[j] + t], j)` for t < heads[j]: one read of
`pos` and a slice of the two per-row files. The pairs come out sorted by (member, head), which
is the order the canonical choice wants (tasks/cross_document/duplicates.py, `assign_sorted`),
as codes `j * m + i`. `heads_max` (the most pairs a row has in any band) sizes the ranges.

Disk: 9 bytes per row and band (64 bands: 576 bytes per paragraph), written once, read back
once per range from the page cache.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np

from tasks.cross_document.duplicates import merge_sorted_unique, sort_by_key

_STEP = 1 << 16  # members expanded at a time (bounds the temporaries of one band)
# Below this many bytes of tables (9 per row and band) they stay in memory: a small run would
# spend more on creating three files per band than on its whole candidate search.
IN_MEMORY_BYTES = 64_000_000


class BandTables:
    """The band tables of `m` rows (rows are numbered 0..m-1, fewer than 2**31: positions are
    int32), staged in `directory` (in memory when they are small: `IN_MEMORY_BYTES` for
    `bands` bands): `add_band` once per band, in order, then `pairs` per range."""

    def __init__(self, directory: Path, m: int, max_heads: int, bands: int):
        if max_heads > 255:
            raise ValueError("max_heads must fit in a byte")
        if m >= 2**31:
            raise ValueError(f"{m:,} paragraphs with band keys in one run: at most 2**31 - 1 "
                             "(split the input over several runs)")
        self.directory = Path(directory)
        self._held: dict[str, np.ndarray] | None = {} if 9 * m * bands < IN_MEMORY_BYTES \
            else None
        if self._held is None:
            self.directory.mkdir(parents=True, exist_ok=True)
        self.m = m
        self.max_heads = max_heads
        self.bands = 0
        self.heads_max = np.zeros(m, dtype=np.uint8)

    def add_band(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sort one band's keys (uint64, one per row) and stage its table. Returns the sorted
        keys and the rows in that order (int32), for lookups in earlier runs' index."""
        m = self.m
        sorted_keys, rows = sort_by_key(keys)
        rows = rows.astype(np.int32)
        if m:
            new_group = np.empty(m, dtype=bool)
            new_group[0] = True
            np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=new_group[1:])
            group = np.cumsum(new_group, dtype=np.int32)
            group -= 1
            start_of = np.flatnonzero(new_group).astype(np.int32)[group]
            del group, new_group
            heads = np.arange(m, dtype=np.int32)
            heads -= start_of
            np.minimum(heads, self.max_heads, out=heads)
            heads = heads.astype(np.uint8)
        else:
            start_of, heads = np.zeros(0, np.int32), np.zeros(0, np.uint8)
        gstart = np.empty(m, dtype=np.int32)
        gstart[rows] = start_of
        del start_of
        by_row = np.empty(m, dtype=np.uint8)
        by_row[rows] = heads
        del heads
        np.maximum(self.heads_max, by_row, out=self.heads_max)
        band = self.bands
        self._stage(band, "pos", rows)
        self._stage(band, "gstart", gstart)
        self._stage(band, "heads", by_row)
        self.bands += 1
        return sorted_keys, rows

    def ranges(self, budget: int) -> list[tuple[int, int]]:
        """Consecutive ranges of members [a0, a1) covering all rows, each with at most `budget`
        pairs per band (more only where one row alone has more)."""
        if self.m == 0:
            return [(0, 0)]
        load = np.cumsum(self.heads_max, dtype=np.int64)
        cuts, start, before = [0], 0, 0
        while start < self.m:
            end = int(np.searchsorted(load, before + budget, side="right"))
            end = max(end, start + 1)
            cuts.append(end)
            before = int(load[end - 1])
            start = end
        return list(pairwise(cuts))

    def pairs(self, a0: int, a1: int) -> np.ndarray:
        """Distinct candidate pairs whose member j is in [a0, a1), over all bands, as sorted
        codes j * m + i (i < j)."""
        found = np.zeros(0, dtype=np.int64)
        for band in range(self.bands):
            heads = self._read(band, "heads", np.uint8, a0, a1 - a0)
            if not heads.any():
                continue
            gstart = self._read(band, "gstart", np.int32, a0, a1 - a0)
            pos = self._read(band, "pos", np.int32, 0, self.m)
            codes = np.concatenate([
                self._band_codes(pos, gstart[lo:lo + _STEP], heads[lo:lo + _STEP], a0 + lo)
                for lo in range(0, a1 - a0, _STEP)])
            del pos
            found = merge_sorted_unique(found, codes)
        return found

    def _band_codes(self, pos: np.ndarray, gstart: np.ndarray, heads: np.ndarray,
                    first_member: int) -> np.ndarray:
        heads = heads.astype(np.int64)
        total = int(heads.sum())
        before = np.cumsum(heads) - heads
        at = np.repeat(gstart.astype(np.int64) - before, heads) + np.arange(total)
        members = np.repeat(np.arange(first_member, first_member + len(heads), dtype=np.int64),
                            heads)
        # Sorted already: members rise, and a member's heads rise inside its group.
        members *= self.m
        members += pos[at]
        return members

    def remove(self) -> None:
        if self._held is not None:
            self._held.clear()
            return
        for band in range(self.bands):
            for name in ("pos", "gstart", "heads"):
                self._file(band, name).unlink(missing_ok=True)

    def _stage(self, band: int, name: str, values: np.ndarray) -> None:
        if self._held is not None:
            self._held[f"{band}.{name}"] = values
        else:
            values.tofile(self._file(band, name))

    def _read(self, band: int, name: str, dtype, start: int, count: int) -> np.ndarray:
        if self._held is not None:
            return self._held[f"{band}.{name}"][start:start + count]
        return read_raw(self._file(band, name), dtype, start, count)

    def _file(self, band: int, name: str) -> Path:
        return self.directory / f"band{band:03d}.{name}"


def read_raw(path: Path, dtype, start: int, count: int) -> np.ndarray:
    """`count` items from item `start` of a raw file (a plain read: no mapping held)."""
    return np.fromfile(path, dtype=dtype, count=count, offset=start * np.dtype(dtype).itemsize)

