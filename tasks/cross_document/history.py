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

Cost of a lookup: per band, the new run's keys are binary-searched in each earlier run's sorted
keys of that band, and only the row groups of matched entries are read, so the computation
grows with the new data (times the log of the history) and memory with one band; what grows
with the history is reading the key columns (4 bytes per indexed paragraph and band,
sequentially).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.settings import DedupSettings
from tasks.shard.minhash import HASH_SCHEME
from tasks.shard.normalize import NORMALIZER_VERSION
from tasks.shard.stopwords import STOPWORDS
from tasks.store import Layout, Staging

INDEX_FORMAT = 4
_ENTRY_ROW_GROUP = 16_384
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
    """The earlier runs' index, opened for lookups band by band."""

    def __init__(self, root: Path, settings: DedupSettings, exclude_doc_ids=frozenset()):
        check_meta(root, settings)
        self.layout = Layout(root)
        self.runs = [p.stem for p in self.layout.index_files("entries")]
        # doc id -> the sequence of the run that superseded it: its entries of earlier runs are
        # gone from the tables; those of that run and later ones (the file read again) are not.
        self.excluded: dict[str, int] = dict.fromkeys(exclude_doc_ids, _THIS_RUN)
        for path in self.layout.index_files("superseded"):
            sequence = int(path.stem.split("-")[0])
            for doc_id in pq.read_table(path, columns=["doc_id"])["doc_id"].to_pylist():
                self.excluded[doc_id] = max(self.excluded.get(doc_id, 0), sequence)

    def band_matches(self, band: int, keys: np.ndarray, max_per_key: int
                     ) -> tuple[np.ndarray, np.ndarray]:
        """(history id, key) of earlier entries whose key in `band` is one of `keys` (sorted,
        distinct), at most `max_per_key` per key and run (the earliest). History id =
        run number << 32 | entry."""
        found_ids, found_keys = [], []
        for run_number, run in enumerate(self.runs):
            part = pq.ParquetFile(self.layout.index_file("bands", run))
            if band >= part.num_row_groups:
                continue
            group = part.read_row_group(band)
            hk, he = group["key"].to_numpy(), group["entry"].to_numpy()
            lo = np.searchsorted(hk, keys, side="left")
            hi = np.minimum(np.searchsorted(hk, keys, side="right"), lo + max_per_key)
            counts = hi - lo
            positions = expand_ranges(lo, counts)
            found_ids.append(_history_ids(run_number, he[positions]))
            found_keys.append(hk[positions])
        if not found_ids:
            return np.zeros(0, np.uint64), np.zeros(0, np.uint32)
        return np.concatenate(found_ids), np.concatenate(found_keys)

    def exact_matches(self, norm_hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(history id, norm_hash) of earlier entries with one of these exact keys (sorted)."""
        found_ids, found_hashes = [], []
        for run_number, run in enumerate(self.runs):
            table = pq.read_table(self.layout.index_file("exact", run))
            hn, he = table["norm_hash"].to_numpy(), table["entry"].to_numpy()
            lo = np.searchsorted(hn, norm_hashes, side="left")
            hi = np.minimum(np.searchsorted(hn, norm_hashes, side="right"), lo + 1)
            positions = expand_ranges(lo, hi - lo)
            found_ids.append(_history_ids(run_number, he[positions]))
            found_hashes.append(hn[positions])
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
            table = _read_entries(self.layout.index_file("entries", self.runs[run_number]), rows)
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


def _history_ids(run_number: int, entries: np.ndarray) -> np.ndarray:
    """History id = run number << 32 | entry."""
    return (np.uint64(run_number) << np.uint64(32)) | entries.astype(np.uint64)


_THIS_RUN = np.iinfo(np.int64).max  # superseded by the run being made: every earlier entry


def expand_ranges(lo: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The positions lo[k], lo[k] + 1, ..., lo[k] + counts[k] - 1 of every k, concatenated."""
    total = int(counts.sum())
    return np.repeat(lo, counts) + (np.arange(total) - np.repeat(np.cumsum(counts) - counts,
                                                                  counts))


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
        self._entries = pq.ParquetWriter(self.files.index_file("entries"), _ENTRY_SCHEMA,
                                         compression="zstd", use_dictionary=["doc_id"])
        self._norm: list[np.ndarray] = []
        self.count = 0

    def add_entries(self, table: pa.Table) -> None:
        """Columns para_id, doc_id, order, norm_hash and the sets (content, own_content,
        skip_pairs, numbers)."""
        table = table.append_column("run_seq", pa.array(np.full(table.num_rows, self.run_seq),
                                                        type=pa.int32()))
        table = table.select(list(ENTRY_FIELDS)).cast(_ENTRY_SCHEMA)
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
                # Sorted by (key, entry): both are 32-bit, so one sort of key << 32 | entry.
                packed = keys.astype(np.uint64) << np.uint64(32)
                packed |= entries.astype(np.uint64)
                packed.sort()
                writer.write_table(pa.table({"key": pa.array((packed >> np.uint64(32))
                                                             .astype(np.uint32)),
                                             "entry": pa.array(packed.astype(np.uint32))},
                                            schema=_BANDS_SCHEMA), row_group_size=1 << 40)
        norm = np.concatenate(self._norm) if self._norm else np.zeros(0, np.uint64)
        order = np.argsort(norm, kind="stable")
        pq.write_table(pa.table({"norm_hash": pa.array(norm[order], type=pa.uint64()),
                                 "entry": pa.array(order.astype(np.uint32))}),
                       self.files.index_file("exact"), **_HASH_TABLE_ENCODING)
        self.files.index_meta.write_text(
            json.dumps(index_meta(self.settings), indent=2, sort_keys=True), encoding="utf-8")


_ENTRY_SCHEMA = pa.schema([("para_id", pa.string()), ("doc_id", pa.string()),
                           ("run_seq", pa.int32()), ("order", pa.int64()),
                           ("norm_hash", pa.uint64()), ("content", pa.list_(pa.uint32())),
                           ("own_content", pa.list_(pa.uint32())),
                           ("skip_pairs", pa.list_(pa.uint32())),
                           ("numbers", pa.list_(pa.uint32()))])
_BANDS_SCHEMA = pa.schema([("key", pa.uint32()), ("entry", pa.uint32())])
# Hashes are all distinct: a dictionary only costs (Parquet's default tries one per column).
# The tables are sorted by their hash, so it is stored as deltas.
_HASH_TABLE_ENCODING = {"compression": "zstd", "use_dictionary": False,
                        "column_encoding": {"key": "DELTA_BINARY_PACKED",
                                            "norm_hash": "DELTA_BINARY_PACKED", "entry": "PLAIN"}}

