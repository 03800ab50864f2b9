"""A shuffle through files: how the duplicate step's tasks on a cluster hand rows to each other.

A map task (one per shard, or per partition of an earlier exchange) writes, for each partition
its rows go to, one Arrow IPC file `<exchange>/p<part>/s<source>.arrow`; a reduce task reads its
partition's files in source order, so what it sees does not depend on which task finished first
(the output is the same whatever the workers). Files are written under a temporary name and
renamed, so a killed task leaves no half file; a stage whose tasks all finished is marked done
(`Stage`), and a resumed run skips it.

Why files and not Dask's DataFrame shuffle: every stage's output is staged for a resumed run
anyway, memory stays bounded by one partition (the workers run with memory limits), and the
same code runs on a LocalCluster or on a cluster that shares the staging folder.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa

_PART = "p{:05d}"
_SOURCE = "s{:012d}.arrow"


class Exchange:
    """Rows partitioned `parts` ways under `directory`."""

    def __init__(self, directory: str | Path, parts: int):
        self.directory = Path(directory)
        self.parts = parts

    def write(self, source: int, part_of: np.ndarray, table: pa.Table) -> None:
        """Rows of `table` to the partitions `part_of` (one per row), from map task `source`."""
        if not table.num_rows:
            return
        part_of = np.asarray(part_of, dtype=np.int64)
        order = np.argsort(part_of, kind="stable")
        sorted_parts = part_of[order]
        table = table.take(pa.array(order))
        cuts = np.flatnonzero(np.diff(sorted_parts)) + 1
        bounds = zip(np.concatenate(([0], cuts)).tolist(),
                     np.concatenate((cuts, [len(order)])).tolist())
        for lo, hi in bounds:
            part = int(sorted_parts[lo])
            if not 0 <= part < self.parts:
                raise ValueError(f"partition {part} of {self.parts}")
            write_arrow(self.directory / _PART.format(part) / _SOURCE.format(source),
                        table.slice(lo, hi - lo))

    def read(self, part: int, schema: pa.Schema | None) -> pa.Table | None:
        """Every row sent to partition `part`, in source order; if none, an empty table of
        `schema` (None without one). The files are memory-mapped: the table's buffers are read
        as they are used."""
        folder = self.directory / _PART.format(part)
        files = sorted(folder.glob("s*.arrow")) if folder.is_dir() else []
        tables = [read_arrow(f) for f in files]
        if not tables:
            return None if schema is None else schema.empty_table()
        return pa.concat_tables(tables)

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)



def write_arrow(path: Path, table: pa.Table) -> None:
    """`table` as an Arrow IPC file, written under a temporary name and renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + f".{os.getpid()}.tmp")
    with pa.OSFile(str(temporary), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    os.replace(temporary, path)


def read_arrow(path: Path) -> pa.Table:
    """An Arrow IPC file, memory-mapped: its buffers are read as they are used."""
    return pa.ipc.open_file(pa.memory_map(str(path))).read_all()


def partition_of(values: np.ndarray, parts: int) -> np.ndarray:
    """The partition of each 64-bit hash or key (mixed values: their high bits pick it)."""
    values = np.asarray(values).astype(np.uint64, copy=False)
    return ((values >> np.uint64(32)) * np.uint64(parts) >> np.uint64(32)).astype(np.int64)


class Stage:
    """A step of the cluster's duplicate search whose outputs are staged in `directory`: done
    when its marker is there. A stage found begun but not done is cleared and done again."""

    def __init__(self, root: Path, name: str):
        self.directory = Path(root) / name
        self._marker = Path(root) / f"{name}.done"

    @property
    def done(self) -> bool:
        return self._marker.is_file()

    def begin(self) -> Path:
        if self.directory.exists():
            shutil.rmtree(self.directory)
        self.directory.mkdir(parents=True)
        return self.directory

    def finish(self, summary: str = "") -> None:
        temporary = self._marker.with_name(self._marker.name + ".tmp")
        temporary.write_text(summary, encoding="utf-8")
        os.replace(temporary, self._marker)

    def summary(self) -> str:
        return self._marker.read_text(encoding="utf-8")
