"""The sets the verifier compares, of a run's representatives, staged on disk as CSR, so verifying
a range of candidate pairs reads the sets it needs instead of holding every set of the run.

Files (raw, in representative order), per set name of SET_COLUMNS (content, own, skips,
numbers): <name>.u32 (values) / <name>.off (int64 offsets, rows + 1); the own words are the
row's content where it quotes nothing. `quoted` is kept in memory (one byte per row). `gather`
reads block by block, only the blocks that hold wanted rows, with plain reads (no mapping held,
so nothing of the files stays resident).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.cross_document.band_tables import read_raw as _read
from tasks.cross_document.duplicates import SET_COLUMNS, ContentSets, take_rows
from tasks.shard import ShardResult, return_freed_memory
from tasks.shard.minhash import content_csr
from tasks.shard.normalize import Normalized

_BLOCK_ROWS = 1 << 20


def stage_sets(shards: list[ShardResult], starts: np.ndarray, reps: np.ndarray,
               directory: Path) -> StagedSets:
    """The content sets of the representatives `reps` (sorted rows of the run; `starts`: the
    first row of each shard), read shard by shard and staged in `directory`."""
    sets = StagedSets(directory)
    for number, shard in enumerate(shards):
        lo, hi = np.searchsorted(reps, starts[number:number + 2])
        if hi > lo:
            sets.append(pq.read_table(shard.path("paragraphs"), columns=list(SET_COLUMNS.values()))
                        .take(pa.array(reps[lo:hi] - starts[number])))
    sets.finish()
    return_freed_memory()  # the shards' content columns it read
    return sets


class StagedSets:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.rows = 0
        self._ends = dict.fromkeys(SET_COLUMNS, 0)
        self._quoted: list[np.ndarray] = []
        for name in SET_COLUMNS:
            self._path(name, "u32").write_bytes(b"")
            np.zeros(1, np.int64).tofile(self._path(name, "off"))
        self.quoted = np.zeros(0, dtype=bool)

    def append(self, table: pa.Table) -> None:
        """Rows with the columns of SET_COLUMNS (list<uint32>), in order."""
        for name, (values, offs) in _csr_of_table(table).items():
            with open(self._path(name, "u32"), "ab") as f:
                values.astype(np.uint32, copy=False).tofile(f)
            with open(self._path(name, "off"), "ab") as f:
                (offs[1:] + self._ends[name]).tofile(f)
            self._ends[name] += int(offs[-1])
        self._quoted.append(table["own_content"].is_valid().to_numpy(zero_copy_only=False))
        self.rows += table.num_rows

    def finish(self) -> StagedSets:
        self.quoted = np.concatenate(self._quoted) if self._quoted else np.zeros(0, bool)
        self._quoted = []
        return self

    def gather(self, rows: np.ndarray) -> ContentSets:
        """The sets of `rows` (sorted, distinct), compact and in that order. The output arrays
        are sized first (offsets only) and filled block by block: no list of parts to join,
        which would hold everything twice."""
        blocks = rows // _BLOCK_ROWS
        starts = np.searchsorted(blocks, np.unique(blocks))
        bounds = list(zip(starts.tolist(), [*starts[1:].tolist(), len(rows)]))
        out = {}
        for name in SET_COLUMNS:
            offsets = np.zeros(len(rows) + 1, dtype=np.int64)
            for lo, hi in bounds:  # the lengths, from the offsets files only
                block_offsets = self._block_offsets(name, int(blocks[lo]))
                local = rows[lo:hi] - int(blocks[lo]) * _BLOCK_ROWS
                offsets[lo + 1:hi + 1] = block_offsets[local + 1] - block_offsets[local]
            np.cumsum(offsets, out=offsets)
            values = np.empty(int(offsets[-1]), dtype=np.uint32)
            for lo, hi in bounds:
                block_offsets = self._block_offsets(name, int(blocks[lo]))
                local = rows[lo:hi] - int(blocks[lo]) * _BLOCK_ROWS
                block_values = _read(self._path(name, "u32"), np.uint32, int(block_offsets[0]),
                                     int(block_offsets[-1] - block_offsets[0]))
                taken, _ = take_rows(block_values, block_offsets - block_offsets[0], local)
                values[offsets[lo]:offsets[hi]] = taken
            out[name] = (values, offsets)
        return ContentSets(out, self.quoted[rows])

    def read_all(self, name: str) -> np.ndarray:
        """Every value of one set file (the run's word rarity counts the content words)."""
        return _read(self._path(name, "u32"), np.uint32, 0, self._ends[name])

    def _block_offsets(self, name: str, block: int) -> np.ndarray:
        first = block * _BLOCK_ROWS
        return _read(self._path(name, "off"), np.int64, first,
                     min(_BLOCK_ROWS, self.rows - first) + 1)

    def remove(self) -> None:
        for name in SET_COLUMNS:
            for ext in ("u32", "off"):
                self._path(name, ext).unlink(missing_ok=True)

    def _path(self, name: str, ext: str) -> Path:
        return self.directory / f"{name}.{ext}"


def sets_of_table(table: pa.Table) -> ContentSets:
    """In-memory sets of a table with the columns of SET_COLUMNS."""
    return ContentSets(_csr_of_table(table),
                       table["own_content"].is_valid().to_numpy(zero_copy_only=False))


def sets_of_normalized(norm: Normalized) -> ContentSets:
    """In-memory sets of normalised paragraphs (tasks/shard/normalize.py)."""
    return ContentSets({"content": (norm.content, norm.offsets),
                        "own": (norm.own, norm.own_offsets),
                        "skips": (norm.skips, norm.skip_offsets),
                        "numbers": (norm.numbers, norm.number_offsets)}, norm.quoted)


def _csr_of_table(table: pa.Table) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {name: content_csr(table[column],
                              fallback=table["content"] if name == "own" else None)
            for name, column in SET_COLUMNS.items()}
