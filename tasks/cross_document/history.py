"""The duplicate index in `clean/_index/`: what a run needs to match its paragraphs against every
earlier run without reading the earlier runs' output.

    _index/meta.json                 how the index was built; a run with other settings is refused
    _index/entries/<run_id>.parquet  one row per indexed paragraph: para_id, doc_id, run_seq,
                                     order, norm_hash, and the verifier's sets: content,
                                     own_content, skip_pairs, numbers
    _index/bands/<run_id>.parquet    (key, entry) per LSH band, sorted by key: row group b holds
                                     band b, so a lookup reads one band at a time
    _index/exact/<run_id>.parquet    (norm_hash, entry): exact-copy keys, sorted
    _index/superseded/<run_id>.parquet, _index/templates/<run_id>.parquet: see
                                     tasks/publish/supersede.py and templates.py

(tasks/store.py spells these paths: `Layout` for the committed files, `Staging` for a run's.)

A run indexes its canonical and unique content paragraphs that may lead a cluster (a member
passed the verifier with its canonical, so matching the canonical is enough). It keeps a
paragraph's LSH band keys, not its full MinHash signature: candidates need only the keys and the
verifier works on the sets, so the signature would add 768 bytes per paragraph for no use. Files are per
run: they are staged and switched in with the run's tables (tasks/store.py).

Segments. Each run's files are one segment; compaction (tasks/publish/compaction.py) merges
consecutive segments into one, `<first>-<last>-runs` (`merge_segments`): its entries are the
runs' entries concatenated (canonical order kept) in one uncompressed Arrow file
(`entries/A-B-runs.arrow`), its band and exact tables raw sorted arrays:

    bands/A-B-runs.npy   uint64: a header (format, header length, bands, runs, where each band
                         starts, where each run's entries start), then the keys of every band,
                         band after band, each band sorted by (key, entry), then their entries
                         (uint32, two to a word)
    exact/A-B-runs.npy   uint64: the sorted exact hashes, then their entries

all memory-mapped by the lookup. A lookup gives the same entries whatever the segments: the cap of
candidates per key applies per run, as when each run had its own files.

Cost of a lookup: per band and segment, each of the new run's keys is a binary search (in a
merged segment's mapped array only the pages it visits are read), so it grows with the new
keys times the log of the history, and with the number of segments, which compaction keeps to
a few per size tier. A run's own (unmerged) files are small and read whole.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import mmap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks import npy
from tasks.cross_document.duplicates import sort_by_key
from tasks.settings import DedupSettings
from tasks.shard.minhash import HASH_SCHEME
from tasks.shard.normalize import NORMALIZER_VERSION
from tasks.shard.stopwords import STOPWORDS
from tasks.store import Layout, Staging, sequence_range, write_bytes_atomic

# 5: segments merged by compaction (0.5). 6: 64-bit band keys (0.6); an index of 32-bit keys
# cannot be read (its keys match no new key) and is refused with what to do.
INDEX_FORMAT = 6
_READABLE_FORMATS = (6,)
_KEYS_OF_32_BITS = (4, 5)
_ENTRY_ROW_GROUP = 16_384
_ARRAY_FORMAT = 2  # a merged segment's arrays: the header's first number (1: 32-bit keys)
ENTRY_FIELDS = ("para_id", "doc_id", "run_seq", "order", "norm_hash", "content", "own_content",
                "skip_pairs", "numbers")


class IndexMismatchError(RuntimeError):
    pass


def index_meta(settings: DedupSettings) -> dict:
    stop = hashlib.sha256("\n".join(sorted(STOPWORDS)).encode()).hexdigest()[:16]
    return {
        "format": INDEX_FORMAT,
        "hash_scheme": HASH_SCHEME,
        "normalizer_version": NORMALIZER_VERSION,
        "stopwords": stop,
        "num_perm": settings.num_perm,
        "seed": settings.seed,
        "bands": settings.bands,
        "rows": settings.rows,
    }


def check_meta(root: Path, settings: DedupSettings) -> None:
    """Refuse an index built another way: its keys would not match ours."""
    path = Layout(root).index_meta
    if not path.is_file():
        return
    found = json.loads(path.read_text(encoding="utf-8"))
    if found.get("format") in _KEYS_OF_32_BITS:
        raise IndexMismatchError(
            f"the duplicate index in {path.parent} was built by textwash 0.5 or earlier, with "
            "32-bit LSH band keys; this textwash uses 64-bit keys (index format "
            f"{INDEX_FORMAT}), which match none of them. Use another output folder, or move "
            "clean/_index away to start the duplicate history afresh (earlier runs' "
            "paragraphs are then not matched), or keep running textwash 0.5 on this folder.")
    if found.get("format") in _READABLE_FORMATS:
        found["format"] = INDEX_FORMAT
    wanted = index_meta(settings)
    diff = {k: (found.get(k), v) for k, v in wanted.items() if found.get(k) != v}
    if diff:
        listed = "; ".join(f"{k}: index has {a!r}, this run uses {b!r}"
                           for k, (a, b) in diff.items())
        raise IndexMismatchError(
            f"the duplicate index in {path.parent} was built with other settings ({listed}). "
            "Use another output folder, or move the index away to start the duplicate history "
            "afresh (earlier runs' paragraphs are then not matched)."
        )


class History:
    """The earlier runs' index, opened for lookups band by band. Its files are segments: a run's
    own, or several runs' merged by compaction (`merge_segments`); a lookup gives the same
    entries either way."""

    def __init__(self, root: Path, settings: DedupSettings, exclude_doc_ids=frozenset()):
        check_meta(root, settings)
        self.layout = Layout(root)
        self.runs = [p.stem for p in self.layout.index_files("entries")]  # the segments
        self._segments: dict[int, _RunSegment | _MergedSegment] = {}
        # doc id -> the sequence of the run that superseded it: its entries of earlier runs are
        # gone from the tables; those of that run and later ones (the file read again) are not.
        self.excluded: dict[str, int] = dict.fromkeys(exclude_doc_ids, _THIS_RUN)
        for doc_id, sequence in superseded_documents(self.layout):
            self.excluded[doc_id] = max(self.excluded.get(doc_id, 0), sequence)

    def segment(self, number: int) -> _RunSegment | _MergedSegment:
        if number not in self._segments:
            self._segments[number] = open_segment(self.layout, self.runs[number])
        return self._segments[number]

    def band_matches(self, band: int, keys: np.ndarray, max_per_key: int
                     ) -> tuple[np.ndarray, np.ndarray]:
        """(history id, key) of earlier entries whose key in `band` is one of `keys` (sorted,
        distinct), at most `max_per_key` per key and run (the earliest). History id =
        segment number << 32 | entry."""
        found_ids, found_keys = [], []
        for number in range(len(self.runs)):
            entries, found = self.segment(number).band_lookup(band, keys, max_per_key)
            found_ids.append(_history_ids(number, entries))
            found_keys.append(found)
        if not found_ids:
            return np.zeros(0, np.uint64), np.zeros(0, np.uint64)
        return np.concatenate(found_ids), np.concatenate(found_keys)

    def exact_matches(self, norm_hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(history id, norm_hash) of earlier entries with one of these exact keys (sorted), the
        earliest of each run."""
        found_ids, found_hashes = [], []
        for number in range(len(self.runs)):
            entries, found = self.segment(number).exact_lookup(norm_hashes)
            found_ids.append(_history_ids(number, entries))
            found_hashes.append(found)
        if not found_ids:
            return np.zeros(0, np.uint64), np.zeros(0, np.uint64)
        return np.concatenate(found_ids), np.concatenate(found_hashes)

    def entries(self, history_ids: np.ndarray) -> pa.Table:
        """The entries of `history_ids` (sorted, distinct) with a `history_id` column, in
        canonical order (earlier run first, then input order), superseded documents left out."""
        tables = []
        runs = (history_ids >> np.uint64(32)).astype(np.int64)
        for run_number in np.unique(runs):
            wanted = history_ids[runs == run_number]
            rows = (wanted & np.uint64(0xFFFFFFFF)).astype(np.int64)
            table = self.segment(run_number).read_entries(rows)
            tables.append(table.append_column("history_id", pa.array(wanted)))
        if not tables:
            return pa.table({name: [] for name in (*ENTRY_FIELDS, "history_id")})
        table = pa.concat_tables(tables)
        if self.excluded:
            table = table.filter(pa.array(self._kept(table), type=pa.bool_()))
        order = np.lexsort((table["order"].to_numpy(), table["run_seq"].to_numpy()))
        return table.take(pa.array(order))

    def _kept(self, table: pa.Table) -> np.ndarray:
        """Per entry: not superseded (its document was not read again by a later run)."""
        ids = pa.array(list(self.excluded), type=pa.string())
        sequences = np.fromiter(self.excluded.values(), dtype=np.int64, count=len(self.excluded))
        at = pc.index_in(table["doc_id"], value_set=ids).to_numpy(zero_copy_only=False)
        found = ~np.isnan(at) if at.dtype.kind == "f" else at >= 0
        superseded_by = np.zeros(table.num_rows, dtype=np.int64)
        superseded_by[found] = sequences[at[found].astype(np.int64)]
        return table["run_seq"].to_numpy().astype(np.int64) >= superseded_by


class _RunSegment:
    """A run's own index files (Parquet, as the run wrote them): one row group per band, sorted
    by (key, entry). Small: a lookup reads the band whole."""

    def __init__(self, layout: Layout, name: str):
        self.bands = pq.ParquetFile(layout.index_file("bands", name))
        self.entries_path = layout.index_file("entries", name)
        self._exact_path = layout.index_file("exact", name)
        self._exact: tuple[np.ndarray, np.ndarray] | None = None
        self._band_arrays: tuple[int, np.ndarray, np.ndarray] | None = None
        self.band_count = self.bands.num_row_groups
        self.run_starts = np.zeros(1, dtype=np.int64)

    def whole_band(self, band: int) -> tuple[np.ndarray, np.ndarray]:
        """(key, entry) of every row of one band, sorted."""
        if band >= self.band_count:
            return np.zeros(0, np.uint64), np.zeros(0, np.uint32)
        if self._band_arrays is None or self._band_arrays[0] != band:  # one band held at a time
            table = self.bands.read_row_group(band)
            self._band_arrays = (band, table["key"].to_numpy(), table["entry"].to_numpy())
        return self._band_arrays[1], self._band_arrays[2]

    @property
    def entry_count(self) -> int:
        return pq.ParquetFile(self.entries_path).metadata.num_rows

    def read_entries(self, rows: np.ndarray) -> pa.Table:
        """The entries numbered `rows` (sorted)."""
        return _read_entries(self.entries_path, rows)

    def entry_batches(self):
        f = pq.ParquetFile(self.entries_path)
        for group in range(f.num_row_groups):
            yield from f.read_row_group(group).cast(ENTRY_SCHEMA).to_batches()

    def band_rows(self, band: int) -> int:
        return self.bands.metadata.row_group(band).num_rows if band < self.band_count else 0

    def whole_exact(self) -> tuple[np.ndarray, np.ndarray]:
        """(norm_hash, entry) of every row, sorted."""
        if self._exact is None:
            table = pq.read_table(self._exact_path)
            self._exact = table["norm_hash"].to_numpy(), table["entry"].to_numpy()
        return self._exact

    def band_lookup(self, band: int, keys: np.ndarray, cap: int
                    ) -> tuple[np.ndarray, np.ndarray]:
        """(entry, key) of the rows with one of `keys` (sorted, distinct), the first `cap` of
        each key."""
        hk, he = self.whole_band(band)
        return _first_of_each(hk, he, keys, cap)

    def exact_lookup(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hn, he = self.whole_exact()
        return _first_of_each(hn, he, hashes, 1)


def _first_of_each(found, entries, wanted, cap):
    lo = np.searchsorted(found, wanted, side="left")
    hi = np.minimum(np.searchsorted(found, wanted, side="right"), lo + cap)
    positions = expand_ranges(lo, hi - lo)
    return entries[positions], found[positions]


class _MergedSegment:
    """Several runs' index merged by compaction: its band and exact tables are raw sorted arrays
    (the module's docstring has their layout), memory-mapped, so a lookup's binary searches touch only the pages they
    visit and its cost grows with the keys looked up, not with the segment."""

    def __init__(self, layout: Layout, name: str):
        self.bands_path = layout.index_dir / "bands" / f"{name}.npy"
        self.exact_path = layout.index_dir / "exact" / f"{name}.npy"
        self.entries_path = layout.index_dir / "entries" / f"{name}.arrow"
        self._entries: _MappedBatches | None = None
        self._bands = npy.load(self.bands_path, mmap_mode="r")
        head = int(self._bands[1])
        self.band_count = int(self._bands[2])
        header = np.asarray(self._bands[:head])
        runs = int(header[3])
        if int(header[0]) != _ARRAY_FORMAT:
            raise IndexMismatchError(f"{self.bands_path}: array format {int(header[0])}, "
                                     f"this textwash reads {_ARRAY_FORMAT}")
        self.band_starts = header[4:4 + self.band_count + 1].astype(np.int64)
        self.run_starts = header[5 + self.band_count:5 + self.band_count + runs].astype(np.int64)
        total = int(self.band_starts[-1])
        self._keys = self._bands[head:head + total]
        self._entries_of_keys = self._bands[head + total:].view(np.uint32)[:total]
        self._exact_array: np.ndarray | None = None

    def _entry_file(self) -> _MappedBatches:
        if self._entries is None:
            self._entries = _MappedBatches(self.entries_path)
        return self._entries

    @property
    def entry_count(self) -> int:
        return int(self._entry_file().starts[-1])

    def read_entries(self, rows: np.ndarray) -> pa.Table:
        """The entries numbered `rows` (sorted)."""
        return self._entry_file().take(rows)

    def entry_batches(self):
        yield from self._entry_file().batches()

    def _band(self, band: int) -> tuple[np.ndarray, np.ndarray]:
        """One band's (keys, entries), sorted by (key, entry), as mapped."""
        if band >= self.band_count:
            return np.zeros(0, np.uint64), np.zeros(0, np.uint32)
        at = slice(self.band_starts[band], self.band_starts[band + 1])
        return self._keys[at], self._entries_of_keys[at]

    def band_rows(self, band: int) -> int:
        return len(self._band(band)[0])

    def whole_band(self, band: int) -> tuple[np.ndarray, np.ndarray]:
        keys, entries = self._band(band)
        return np.asarray(keys), np.asarray(entries)

    def _exact(self) -> tuple[np.ndarray, np.ndarray]:
        if self._exact_array is None:
            self._exact_array = npy.load(self.exact_path, mmap_mode="r")
        n = len(self._exact_array) // 2
        return self._exact_array[:n], self._exact_array[n:]

    def whole_exact(self) -> tuple[np.ndarray, np.ndarray]:
        hashes, entries = self._exact()
        return np.asarray(hashes), np.asarray(entries).astype(np.uint32)

    def band_lookup(self, band: int, keys: np.ndarray, cap: int
                    ) -> tuple[np.ndarray, np.ndarray]:
        """(entry, key) of the rows with one of `keys` (sorted, distinct), the first `cap` of
        each key and run."""
        band_keys, band_entries = self._band(band)
        lo = np.searchsorted(band_keys, keys, side="left")
        hi = np.searchsorted(band_keys, keys, side="right")
        at = expand_ranges(lo, hi - lo)
        found, entries = np.asarray(band_keys[at]), np.asarray(band_entries[at])
        keep = self._within_cap(found, entries, cap)
        return entries[keep], found[keep]

    def exact_lookup(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        all_hashes, all_entries = self._exact()
        lo = np.searchsorted(all_hashes, hashes, side="left")
        hi = np.searchsorted(all_hashes, hashes, side="right")
        positions = expand_ranges(lo, hi - lo)
        found, entries = np.asarray(all_hashes[positions]), np.asarray(all_entries[positions])
        keep = self._within_cap(found, entries, 1)
        return entries[keep].astype(np.uint32), found[keep]

    def _within_cap(self, found: np.ndarray, entries: np.ndarray, cap: int) -> np.ndarray:
        """Per row (sorted by value, then entry): among the first `cap` of its value and run,
        as a run's own files would have given them."""
        if not len(found):
            return np.zeros(0, dtype=bool)
        run = np.searchsorted(self.run_starts, entries.astype(np.int64), side="right")
        first = np.ones(len(found), dtype=bool)
        first[1:] = (found[1:] != found[:-1]) | (run[1:] != run[:-1])
        starts = np.flatnonzero(first)
        rank = np.arange(len(found)) - starts[np.cumsum(first) - 1]
        return rank < cap


def open_segment(layout: Layout, name: str):
    if (layout.index_dir / "entries" / f"{name}.arrow").is_file():
        return _MergedSegment(layout, name)
    return _RunSegment(layout, name)


def segment_files(layout: Layout, name: str) -> list[Path]:
    """The files of one segment: its entries, band and exact tables."""
    merged = layout.index_dir / "entries" / f"{name}.arrow"
    if merged.is_file():
        return [merged, *(layout.index_dir / kind / f"{name}.npy" for kind in ("bands", "exact"))]
    return [layout.index_file(kind, name) for kind in ("entries", "bands", "exact")]


def superseded_documents(layout: Layout):
    """(doc id, sequence of the run that superseded it) of every superseded document."""
    for path in layout.index_files("superseded"):
        yield from _superseded_in(path)


def _superseded_in(path: Path):
    table = pq.read_table(path)
    if "sequence" in table.column_names:  # merged by compaction
        yield from zip(table["doc_id"].to_pylist(), table["sequence"].to_pylist(), strict=True)
    else:  # a run's own file: that run superseded them
        sequence = sequence_range(path.stem)[0]
        for doc_id in table["doc_id"].to_pylist():
            yield doc_id, sequence


def _history_ids(segment: int, entries: np.ndarray) -> np.ndarray:
    """History id = segment number << 32 | entry (`History.runs` lists the segments)."""
    return (np.uint64(segment) << np.uint64(32)) | entries.astype(np.uint64)


_THIS_RUN = np.iinfo(np.int64).max  # superseded by the run being made: every earlier entry


def expand_ranges(lo: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The positions lo[k], lo[k] + 1, ..., lo[k] + counts[k] - 1 of every k, concatenated."""
    total = int(counts.sum())
    return np.repeat(lo, counts) + (np.arange(total) - np.repeat(np.cumsum(counts) - counts,
                                                                  counts))


class _MappedBatches:
    """An Arrow file's record batches, memory-mapped, read a batch at a time.

    The pages of a mapped file that a process touches count in its resident memory until they
    are unmapped, and the kernel maps the cached pages around each one touched (fault-around),
    so rows taken at random from every batch would make the whole file resident (a Dask worker
    is restarted for it), and a take over the file's batches as one table reads it all. So rows
    are taken batch by batch, and the pages touched are dropped from this process after each
    batch (MADV_DONTNEED: a later read maps them again from the file; the taken rows are
    copies)."""

    def __init__(self, path: Path):
        with open(path, "rb") as file:
            self._map = mmap.mmap(file.fileno(), 0, prot=mmap.PROT_READ)
        reader = pa.ipc.open_file(pa.BufferReader(pa.py_buffer(self._map)))
        self.schema = reader.schema
        self._batches = [reader.get_batch(i) for i in range(reader.num_record_batches)]
        self.starts = np.cumsum([0] + [batch.num_rows for batch in self._batches])
        self._release()

    def _release(self) -> None:
        if hasattr(mmap, "MADV_DONTNEED"):  # not on Windows
            self._map.madvise(mmap.MADV_DONTNEED)

    def take(self, rows: np.ndarray) -> pa.Table:
        """The rows numbered `rows`, in that order (sorted, each batch is read once)."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) and (rows.min() < 0 or rows.max() >= self.starts[-1]):
            raise IndexError(f"entries {rows.min()}..{rows.max()} of {self.starts[-1]}")
        of = np.searchsorted(self.starts, rows, side="right") - 1
        bounds = np.flatnonzero(np.diff(of, prepend=-1, append=len(self._batches)))
        taken = []
        for lo, hi in itertools.pairwise(bounds):
            batch = int(of[lo])
            taken.append(self._batches[batch].take(pa.array(rows[lo:hi] - self.starts[batch])))
            self._release()
        return pa.Table.from_batches(taken, schema=self.schema)

    def batches(self):
        for batch in self._batches:
            yield batch
            self._release()


def _read_entries(path: Path, rows: np.ndarray) -> pa.Table:
    """The entries numbered `rows` (sorted), reading only the row groups that hold them."""
    pf = pq.ParquetFile(path)
    sizes = np.array([pf.metadata.row_group(i).num_rows for i in range(pf.num_row_groups)])
    starts = np.concatenate(([0], np.cumsum(sizes)))
    group_of_row = np.searchsorted(starts, rows, side="right") - 1
    groups = np.unique(group_of_row)
    table = pf.read_row_groups(groups.tolist(), columns=list(ENTRY_FIELDS))
    read_start = np.concatenate(([0], np.cumsum(sizes[groups])))
    local = rows - starts[group_of_row] + read_start[np.searchsorted(groups, group_of_row)]
    return table.take(pa.array(local))


class RunIndexWriter:
    """Stage this run's index files. Entries come in canonical order, shard by shard; band keys
    band by band (each band's keys of all entries at once, so a band is one row group)."""

    def __init__(self, staging: Path, run_id: str, run_seq: int, settings: DedupSettings):
        """`staging`: the run's staging folder (tasks/store.py, `Staging`)."""
        self.files = Staging(staging, run_id)
        for kind in ("entries", "bands", "exact"):
            self.files.index_file(kind).parent.mkdir(parents=True, exist_ok=True)
        self.run_seq, self.settings = run_seq, settings
        self._entries = pq.ParquetWriter(self.files.index_file("entries"), ENTRY_SCHEMA,
                                         compression="zstd", use_dictionary=["doc_id"])
        self._norm: list[np.ndarray] = []
        self.count = 0

    def add_entries(self, table: pa.Table) -> None:
        """Columns para_id, doc_id, order, norm_hash and the sets (content, own_content,
        skip_pairs, numbers)."""
        table = table.append_column("run_seq", pa.array(np.full(table.num_rows, self.run_seq),
                                                        type=pa.int32()))
        table = table.select(list(ENTRY_FIELDS)).cast(ENTRY_SCHEMA)
        self._entries.write_table(table, row_group_size=_ENTRY_ROW_GROUP)
        self._norm.append(table["norm_hash"].to_numpy())
        self.count += table.num_rows

    def finish(self, band_keys) -> None:
        """`band_keys(band)` -> (entry numbers, keys) of the entries that have band keys."""
        self._entries.close()
        with pq.ParquetWriter(self.files.index_file("bands"), _BANDS_SCHEMA,
                              **_HASH_TABLE_ENCODING) as writer:
            for band in range(self.settings.bands):
                entries, keys = band_keys(band)
                keys, entries = sort_by_key(keys, entries)
                writer.write_table(pa.table({"key": pa.array(keys),
                                             "entry": pa.array(entries.astype(np.uint32))},
                                            schema=_BANDS_SCHEMA), row_group_size=1 << 40)
        norm = np.concatenate(self._norm) if self._norm else np.zeros(0, np.uint64)
        order = np.argsort(norm, kind="stable")
        pq.write_table(pa.table({"norm_hash": pa.array(norm[order], type=pa.uint64()),
                                 "entry": pa.array(order.astype(np.uint32))}),
                       self.files.index_file("exact"), **_HASH_TABLE_ENCODING)
        self.files.index_meta.write_text(
            json.dumps(index_meta(self.settings), indent=2, sort_keys=True), encoding="utf-8")


ENTRY_SCHEMA = pa.schema([("para_id", pa.string()), ("doc_id", pa.string()),
                           ("run_seq", pa.int32()), ("order", pa.int64()),
                           ("norm_hash", pa.uint64()), ("content", pa.list_(pa.uint32())),
                           ("own_content", pa.list_(pa.uint32())),
                           ("skip_pairs", pa.list_(pa.uint32())),
                           ("numbers", pa.list_(pa.uint32()))])
_BANDS_SCHEMA = pa.schema([("key", pa.uint64()), ("entry", pa.uint32())])
# Hashes are all distinct: a dictionary only costs (Parquet's default tries one per column).
# The tables are sorted by their hash, so it is stored as deltas.
_HASH_TABLE_ENCODING = {"compression": "zstd", "use_dictionary": False,
                        "column_encoding": {"key": "DELTA_BINARY_PACKED",
                                            "norm_hash": "DELTA_BINARY_PACKED", "entry": "PLAIN"}}



# -- compaction: several segments merged into one (tasks/publish/compaction.py decides when) ---

def merge_segments(layout: Layout, names: list[str], merged: str) -> None:
    """Merge the index segments `names` (consecutive, in run order) into segment `merged` in
    `layout`, and remove them. Entries are renumbered by concatenation, so a segment's entries
    stay in canonical order; lookups in the merged segment find what they found in its parts."""
    parts = [open_segment(layout, name) for name in names]
    offsets = np.cumsum([0] + [p.entry_count for p in parts])
    if offsets[-1] >= 2**32:
        raise ValueError(f"{merged}: more than 2**32 index entries in one segment")
    # Uncompressed Arrow, memory-mapped by lookups: a run takes a few thousand entries spread
    # over the whole segment, which compressed row groups would make it decode whole.
    with pa.ipc.new_file(str(layout.index_dir / "entries" / f"{merged}.arrow"),
                         ENTRY_SCHEMA) as writer:
        for part in parts:
            for batch in part.entry_batches():
                writer.write(batch)
    run_starts = np.concatenate([p.run_starts + offsets[i] for i, p in enumerate(parts)])
    bands = max((p.band_count for p in parts), default=0)
    sizes = [sum(p.band_rows(band) for p in parts) for band in range(bands)]
    path = layout.index_dir / "bands" / f"{merged}.npy"
    create_mapped_bands(path, sizes, run_starts)
    for band in range(bands):  # one band in memory at a time
        read = [p.whole_band(band) for p in parts]
        keys = np.concatenate([keys for keys, _ in read])
        entries = np.concatenate([entries.astype(np.int64) + offset
                                  for (_, entries), offset in zip(read, offsets, strict=False)])
        del read
        write_mapped_band(path, band, keys, entries)
    hashes, entries = [], []
    for part, offset in zip(parts, offsets, strict=False):
        h, e = part.whole_exact()
        hashes.append(h)
        entries.append(e.astype(np.uint64) + np.uint64(offset))
    save_mapped_exact(layout.index_dir / "exact" / f"{merged}.npy", np.concatenate(hashes),
                      np.concatenate(entries))
    for name in names:
        for path in segment_files(layout, name):
            path.unlink()
    _mark_format(layout)


def create_mapped_bands(path: Path, sizes: list[int], run_starts: np.ndarray) -> None:
    """A merged segment's band file (the module's docstring has its layout), its header
    written and its bands, of `sizes` rows each, to be filled by `write_mapped_band` (in any
    order, by several processes at once: each band has its own place)."""
    header = np.concatenate((
        [_ARRAY_FORMAT, 0, len(sizes), len(run_starts)],
        np.concatenate(([0], np.cumsum(sizes, dtype=np.int64))), run_starts)).astype(np.uint64)
    header[1] = len(header)  # where the keys start
    total = int(sum(sizes))
    path.parent.mkdir(parents=True, exist_ok=True)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint64,
                                    shape=(len(header) + total + (total + 1) // 2,))
    out[:len(header)] = header
    out.flush()
    del out


def write_mapped_band(path: Path, band: int, keys: np.ndarray, entries: np.ndarray) -> None:
    """Band `band` of a file made by `create_mapped_bands`: its (key, entry) rows, sorted by
    (key, entry) here (`entries` must rise among equal keys: they do in entry order). Sorted
    and written a range of keys at a time (`_key_ranges`), with plain writes: a whole band's
    sort, or pages written through a map (they count in the process's memory), would take
    several times the band's size."""
    out = npy.load(path, mmap_mode="r")
    offset, head, bands = out.offset, int(out[1]), int(out[2])
    starts = np.asarray(out[4:4 + bands + 1]).astype(np.int64)
    del out
    total = int(starts[-1])
    lo, hi = int(starts[band]), int(starts[band + 1])
    if hi - lo != len(keys):
        raise ValueError(f"band {band} of {path} holds {hi - lo} rows, not {len(keys)}")
    keys = np.asarray(keys, dtype=np.uint64)
    with open(path, "r+b") as file:
        at = lo
        for rows in _key_ranges(keys):
            sorted_keys, sorted_entries = sort_by_key(keys[rows], np.asarray(entries)[rows])
            file.seek(offset + 8 * (head + at))
            file.write(memoryview(sorted_keys))
            file.seek(offset + 8 * (head + total) + 4 * at)
            file.write(memoryview(sorted_entries.astype(np.uint32)))
            at += len(rows)


def save_mapped_exact(path: Path, hashes: np.ndarray, entries: np.ndarray) -> None:
    """A merged segment's exact table: the hashes sorted (then by entry), and their entries;
    sorted and written a range of hashes at a time, as `write_mapped_band` does."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint64, shape=(2 * len(hashes),))
    offset = out.offset
    del out
    with open(path, "r+b") as file:
        at = 0
        for rows in _key_ranges(hashes):
            h, e = hashes[rows], np.asarray(entries)[rows]
            order = np.lexsort((e, h))
            file.seek(offset + 8 * at)
            file.write(memoryview(np.ascontiguousarray(h[order])))
            file.seek(offset + 8 * (len(hashes) + at))
            file.write(memoryview(e[order].astype(np.uint64)))
            at += len(rows)


def _key_ranges(keys: np.ndarray, bits: int = 5):
    """The positions of `keys` (uint64 hashes) by their top `bits` bits, range by range in
    key order, each in position order (so a stable sort of each keeps the order of equals)."""
    top = np.empty(len(keys), np.uint8)
    step = 1 << 20  # (a whole-length shift would take 8 bytes a key)
    for lo in range(0, len(keys), step):
        top[lo:lo + step] = keys[lo:lo + step] >> np.uint64(64 - bits)
    for value in range(1 << bits):
        rows = np.flatnonzero(top == value)
        if len(rows):
            yield rows


def _mark_format(layout: Layout) -> None:
    """Say in meta.json that the index holds merged segments (a new file: the current
    generation's stays as it was), so that textwash 0.4 refuses it instead of misreading it."""
    meta = json.loads(layout.index_meta.read_text(encoding="utf-8"))
    if meta.get("format") != INDEX_FORMAT:
        write_bytes_atomic(layout.index_meta, json.dumps(
            {**meta, "format": INDEX_FORMAT}, indent=2, sort_keys=True).encode("utf-8"))


def merge_superseded(layout: Layout, names: list[str], merged: str) -> None:
    """Merge superseded-document files: per document the latest run that superseded it."""
    pairs: dict[str, int] = {}
    for name in names:
        for doc_id, sequence in _superseded_in(layout.index_file("superseded", name)):
            pairs[doc_id] = max(pairs.get(doc_id, 0), sequence)
    ids = sorted(pairs)
    pq.write_table(pa.table({"doc_id": pa.array(ids, type=pa.string()),
                             "sequence": pa.array([pairs[i] for i in ids], type=pa.int64())}),
                   layout.index_file("superseded", merged), compression="zstd")
    for name in names:
        layout.index_file("superseded", name).unlink()
