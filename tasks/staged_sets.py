"""The content-word sets of a run's representatives, staged on disk as CSR, so verifying a range
of candidate pairs reads the sets it needs instead of holding every set of the run.

Files (raw, in representative order): content.u32 / content.off (int64 offsets, rows + 1),
own.u32 / own.off (words outside quotations; the row's content where it quotes nothing), and
`quoted` kept in memory (one byte per row). `gather` reads block by block, only the blocks that
hold wanted rows, with plain reads (no mapping held, so nothing of the files stays resident).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from tasks.band_tables import read_raw as _read
from tasks.dedup import ContentSets, take_rows
from tasks.minhash import content_csr

_BLOCK_ROWS = 1 << 20


class StagedSets:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.rows = 0
        self._ends = {"content": 0, "own": 0}
        self._quoted: list[np.ndarray] = []
        for name in ("content", "own"):
            self._path(name, "u32").write_bytes(b"")
            np.zeros(1, np.int64).tofile(self._path(name, "off"))
        self.quoted = np.zeros(0, dtype=bool)

    def append(self, table: pa.Table) -> None:
        """Rows with `content` and `own_content` columns (list<uint32>), in order."""
        content, offsets = content_csr(table["content"])
        own, own_offsets = content_csr(table["own_content"], fallback=table["content"])
        for name, values, offs in (("content", content, offsets), ("own", own, own_offsets)):
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
        """The sets of `rows` (sorted, distinct), compact and in that order."""
        parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"content": [], "own": []}
        blocks = rows // _BLOCK_ROWS
        for block in np.unique(blocks).tolist():
            wanted = rows[blocks == block] - block * _BLOCK_ROWS
            first = block * _BLOCK_ROWS
            count = min(_BLOCK_ROWS, self.rows - first)
            for name in ("content", "own"):
                offs = _read(self._path(name, "off"), np.int64, first, count + 1)
                values = _read(self._path(name, "u32"), np.uint32, int(offs[0]),
                               int(offs[-1] - offs[0]))
                parts[name].append(take_rows(values, offs - offs[0], wanted))
        content, offsets = _concat(parts["content"])
        own, own_offsets = _concat(parts["own"])
        return ContentSets(content, offsets, own, own_offsets, self.quoted[rows])

    def remove(self) -> None:
        for name in ("content", "own"):
            for ext in ("u32", "off"):
                self._path(name, ext).unlink(missing_ok=True)

    def _path(self, name: str, ext: str) -> Path:
        return self.directory / f"{name}.{ext}"


def sets_of_table(table: pa.Table) -> ContentSets:
    """In-memory sets of a table with `content` and `own_content` columns."""
    content, offsets = content_csr(table["content"])
    own, own_offsets = content_csr(table["own_content"], fallback=table["content"])
    return ContentSets(content, offsets, own, own_offsets,
                       table["own_content"].is_valid().to_numpy(zero_copy_only=False))


def _concat(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    if not parts:
        return np.zeros(0, np.uint32), np.zeros(1, np.int64)
    values = np.concatenate([v for v, _ in parts])
    lengths = np.concatenate([np.diff(o) for _, o in parts])
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return values, offsets

