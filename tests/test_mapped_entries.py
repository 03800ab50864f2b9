"""A merged index segment's entry file read a record batch at a time (tasks/cross_document/
history.py `_MappedBatches`): the rows asked for, in their order, and none of the file's pages
left resident in the process after a take (a Dask worker's memory counts them)."""

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tasks.cross_document.history import _MappedBatches


def _entry_file(path: Path, batches: int, rows: int) -> pa.Table:
    rng = np.random.default_rng(5)
    tables = []
    for b in range(batches):
        ids = np.arange(b * rows, (b + 1) * rows)
        tables.append(pa.table({
            "order": ids,
            "para_id": [f"doc-{i}:0" for i in ids],
            "content": [rng.integers(0, 2**32, rng.integers(0, 40), dtype=np.uint32)
                        for _ in ids]}))
    with pa.ipc.new_file(str(path), tables[0].schema) as writer:
        for table in tables:
            writer.write_table(table)
    return pa.concat_tables(tables)


def test_rows_taken_from_many_batches_come_in_the_order_asked(tmp_path):
    path = tmp_path / "entries.arrow"
    whole = _entry_file(path, batches=7, rows=300)
    entries = _MappedBatches(path)
    assert int(entries.starts[-1]) == whole.num_rows
    rng = np.random.default_rng(1)
    wanted = np.sort(rng.choice(whole.num_rows, 500, replace=False))
    assert entries.take(wanted).equals(whole.take(pa.array(wanted)))
    shuffled = rng.permutation(wanted)  # unsorted works too, a run of one batch at a time
    assert entries.take(shuffled).equals(whole.take(pa.array(shuffled)))
    assert entries.take(np.array([0, 0, 2099])).equals(whole.take(pa.array([0, 0, 2099])))
    empty = entries.take(np.zeros(0, np.int64))
    assert empty.num_rows == 0 and empty.schema == whole.schema
    assert pa.Table.from_batches(list(entries.batches())).equals(whole.combine_chunks())
    with pytest.raises(IndexError, match="of 2100"):
        entries.take(np.array([5, 2100]))


def _resident_kb(path: Path) -> int:
    """Resident kB of this process's mappings of `path`."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if "-" in fields[0] and len(fields) >= 5:  # a mapping's header line
            inside = len(fields) >= 6 and fields[-1] == str(path)
        elif inside and fields[0] == "Rss:":
            total += int(fields[1])
    return total


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps")
def test_a_take_leaves_no_page_of_the_file_resident(tmp_path):
    path = tmp_path / "entries.arrow"
    whole = _entry_file(path, batches=20, rows=2000)
    entries = _MappedBatches(path)
    taken = entries.take(np.arange(0, whole.num_rows, 37))
    assert _resident_kb(path) == 0
    assert taken.num_rows == len(range(0, whole.num_rows, 37))
    batches = entries.batches()
    first = next(batches)
    assert pc.sum(first["order"]).as_py() == sum(range(2000))
    assert _resident_kb(path) > 0  # its pages read, mapped while the reader holds the batch
    next(batches)
    assert _resident_kb(path) == 0
    assert first["order"][1999].as_py() == 1999  # read again from the file after the release
