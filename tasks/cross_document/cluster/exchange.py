"""A shuffle through files: how the duplicate step's tasks on a cluster hand rows to each other.

A map task (one per shard, or per partition of an earlier exchange) writes ONE Arrow IPC file,
`<exchange>/s<source>.arrow`, a record batch per partition its rows go to, in partition order,
the partitions listed in the file's metadata; a reduce task reads its batch of every source's
file (only those bytes, into memory of its own), in source order, so what it sees does not
depend on which task finished first (the output is the same whatever the workers). Not
memory-mapped: the pages of a mapped file that a task touches count in its resident memory,
with the kernel's read-around many times the rows read, and a worker over its memory limit is
restarted (docs/benchmarks/cluster.md, the 50M attempts). One file per map
task, not one per (map task, partition): with a partition per shard, that would be millions
of small files in a large run. Files are written under a temporary name and renamed, so a
killed task leaves no half file; a stage whose tasks all finished is marked done (`Stage`),
and a resumed run skips it.

Why files and not Dask's DataFrame shuffle: every stage's output is staged for a resumed run
anyway, memory stays bounded by one partition (the workers run with memory limits), and the
same code runs on a LocalCluster or on a cluster that shares the staging folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa

_SOURCE = "s{:012d}.arrow"
_PARTS_KEY = b"textwash.parts"  # metadata: the partition of each record batch (int64)


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
        if part_of.min() < 0 or part_of.max() >= self.parts:
            raise ValueError(f"partitions {part_of.min()}..{part_of.max()} of {self.parts}")
        order = np.argsort(part_of, kind="stable")
        sorted_parts = part_of[order]
        starts = np.flatnonzero(np.concatenate(([True], sorted_parts[1:] != sorted_parts[:-1])))
        ends = np.append(starts[1:], len(order))
        table = table.take(pa.array(order)).combine_chunks()
        batches = [table.slice(lo, hi - lo).to_batches()[0] for lo, hi in zip(starts, ends)]
        schema = table.schema.with_metadata(
            {_PARTS_KEY: sorted_parts[starts].astype(np.int64).tobytes()})
        _write_batches(self.directory / _SOURCE.format(source), schema, batches)

    def read(self, part: int, schema: pa.Schema | None) -> pa.Table | None:
        """Every row sent to partition `part`, in source order; if none, an empty table of
        `schema` (None without one)."""
        tables = list(self.pieces(part))
        if not tables:
            return None if schema is None else schema.empty_table()
        return pa.concat_tables(tables)

    def pieces(self, part: int):
        """The rows sent to partition `part`, one table per map task, in source order (a
        reader that takes them one at a time holds one at a time)."""
        files = sorted(self.directory.glob("s*.arrow")) if self.directory.is_dir() else []
        for path in files:
            with pa.OSFile(str(path)) as file:
                reader = pa.ipc.open_file(file)
                parts = np.frombuffer(reader.schema.metadata[_PARTS_KEY], dtype=np.int64)
                at = int(np.searchsorted(parts, part))
                if at < len(parts) and parts[at] == part:
                    batch = reader.get_batch(at)
                    yield pa.Table.from_batches([batch]).replace_schema_metadata()


def _write_batches(path: Path, schema: pa.Schema, batches: list[pa.RecordBatch]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + f".{os.getpid()}.tmp")
    with pa.OSFile(str(temporary), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
    os.replace(temporary, path)


def bytes_under(folder: Path) -> int:
    """The bytes of the files under `folder` (files removed or renamed meanwhile: skipped)."""
    total = 0
    for directory, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.stat(os.path.join(directory, name)).st_size
            except FileNotFoundError:
                pass
    return total


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
    """A step of the cluster's duplicate search whose outputs are staged: done when its marker
    `<root>/<name>.done` is there (it holds the step's results, as JSON). A step found begun
    but not done is run again: its tasks write the same files again."""

    def __init__(self, root: Path, name: str):
        self._marker = Path(root) / f"{name}.done"

    @property
    def done(self) -> bool:
        return self._marker.is_file()

    def finish(self, summary: str) -> None:
        self._marker.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._marker.with_name(self._marker.name + ".tmp")
        temporary.write_text(summary, encoding="utf-8")
        os.replace(temporary, self._marker)

    def summary(self) -> str:
        return self._marker.read_text(encoding="utf-8")
