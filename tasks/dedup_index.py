"""The duplicate index in `clean/_index/`: what a run needs to match its paragraphs against every
earlier run without reading the earlier runs' output.

    _index/meta.json                 how the index was built; a run with other settings is refused
    _index/entries/<run_id>.parquet  one row per indexed paragraph: para_id, doc_id, run_seq,
                                     order, norm_hash, band_keys, content, own_content
    _index/bands/<run_id>.parquet    (code, entry): LSH band keys as band << 32 | key, sorted
    _index/exact/<run_id>.parquet    (norm_hash, entry): exact-copy keys, sorted

A run indexes its canonical and unique content paragraphs (a member is within the threshold of
its canonical, so matching the canonical is enough). It keeps a paragraph's LSH band keys, not
its full MinHash signature: candidates need only the keys and verification is exact on the
content-word sets, so the signature would add 768 bytes per paragraph for no use. Files are per run: they are staged and
moved into place with the run's tables, and removed with them if the run never committed.

Cost of a lookup: the new run's keys are binary-searched in each earlier run's sorted key
column, and only the row groups of matched entries are read, so the computation grows with the
new data (times the log of the history); what grows with the history is reading the key
columns (8 bytes per indexed paragraph and band, a sequential read).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.dedup import sorted_unique
from tasks.minhash import HASH_SCHEME, content_csr, list_matrix
from tasks.normalize import NORMALIZER_VERSION
from tasks.settings import DedupSettings
from tasks.stopwords import STOPWORDS

INDEX_FORMAT = 2
_ENTRY_ROW_GROUP = 16_384


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
    """Refuse an index built another way: its signatures and keys would not match ours."""
    path = root / "_index" / "meta.json"
    if not path.is_file():
        return
    found = json.loads(path.read_text(encoding="utf-8"))
    wanted = index_meta(settings)
    diff = {k: (found.get(k), v) for k, v in wanted.items() if found.get(k) != v}
    if diff:
        listed = "; ".join(f"{k}: index has {a!r}, this run uses {b!r}" for k, (a, b) in diff.items())
        raise IndexMismatchError(
            f"the duplicate index in {path.parent} was built with other settings ({listed}). "
            "Use another output folder, or move the index away to start the duplicate history "
            "afresh (earlier runs' paragraphs are then not matched)."
        )


@dataclass
class HistoryRows:
    """Earlier runs' paragraphs that share a band key or an exact key with the new run."""

    para_id: list[str]
    doc_id: list[str]
    norm_hash: np.ndarray
    band_keys: np.ndarray
    has_keys: np.ndarray
    content: np.ndarray
    content_offsets: np.ndarray
    own: np.ndarray
    own_offsets: np.ndarray
    quoted: np.ndarray

    def __len__(self) -> int:
        return len(self.para_id)


def _committed_runs(root: Path, kind: str) -> list[Path]:
    folder = root / "_index" / kind
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


def lookup(root: Path, band_keys: np.ndarray, norm_hash: np.ndarray,
           settings: DedupSettings, exclude_doc_ids: set[str] = frozenset()) -> HistoryRows:
    """History rows matching any of the new rows' band keys (n x bands uint32) or exact keys,
    in canonical order (earlier run first, then input order). Paragraphs of superseded
    documents (earlier runs' `superseded` lists, and `exclude_doc_ids`) are left out."""
    check_meta(root, settings)
    excluded = set(exclude_doc_ids)
    for path in _committed_runs(root, "superseded"):
        excluded.update(pq.read_table(path, columns=["doc_id"])["doc_id"].to_pylist())
    wanted_bands = sorted_unique(_band_codes(band_keys))
    wanted_exact = sorted_unique(norm_hash[norm_hash != 0])
    tables = []
    for entries_path in _committed_runs(root, "entries"):
        run = entries_path.stem
        bands = pq.read_table(root / "_index" / "bands" / f"{run}.parquet")
        exact = pq.read_table(root / "_index" / "exact" / f"{run}.parquet")
        hits = sorted_unique(np.concatenate([
            _matches(bands["code"].to_numpy(), bands["entry"].to_numpy(), wanted_bands),
            _matches(exact["norm_hash"].to_numpy(), exact["entry"].to_numpy(), wanted_exact),
        ]).astype(np.int64))
        if len(hits):
            tables.append(_read_entries(entries_path, hits))
    if not tables:
        return _empty_history(settings.bands)
    table = pa.concat_tables(tables)
    if excluded:
        table = table.filter(pc.invert(pc.is_in(table["doc_id"], value_set=pa.array(
            sorted(excluded), type=pa.string()))))
    order = np.lexsort((table["order"].to_numpy(), table["run_seq"].to_numpy()))
    table = table.take(pa.array(order))
    keys, has = list_matrix(table["band_keys"], settings.bands)
    values, offsets = content_csr(table["content"])
    own, own_offsets = content_csr(table["own_content"], fallback=table["content"])
    return HistoryRows(table["para_id"].to_pylist(), table["doc_id"].to_pylist(),
                       table["norm_hash"].to_numpy(), keys, has, values, offsets, own,
                       own_offsets, table["own_content"].is_valid().to_numpy(zero_copy_only=False))


def _matches(sorted_keys: np.ndarray, entries: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Entries whose key is in `wanted`: a binary search per wanted key, not a scan."""
    lo = np.searchsorted(sorted_keys, wanted, side="left")
    hi = np.searchsorted(sorted_keys, wanted, side="right")
    counts = hi - lo
    total = int(counts.sum())
    positions = np.repeat(lo, counts) + (np.arange(total) - np.repeat(np.cumsum(counts) - counts,
                                                                         counts))
    return entries[positions]


def _read_entries(path: Path, rows: np.ndarray) -> pa.Table:
    """The entries numbered `rows` (sorted), reading only the row groups that hold them."""
    pf = pq.ParquetFile(path)
    sizes = np.array([pf.metadata.row_group(i).num_rows for i in range(pf.num_row_groups)])
    starts = np.concatenate(([0], np.cumsum(sizes)))
    group_of_row = np.searchsorted(starts, rows, side="right") - 1
    groups = np.unique(group_of_row)
    table = pf.read_row_groups(groups.tolist())
    read_start = np.concatenate(([0], np.cumsum(sizes[groups])))
    local = rows - starts[group_of_row] + read_start[np.searchsorted(groups, group_of_row)]
    return table.take(pa.array(local))


def _band_codes(band_keys: np.ndarray) -> np.ndarray:
    n, bands = band_keys.shape
    band = np.broadcast_to(np.arange(bands, dtype=np.uint64), (n, bands))
    return ((band << np.uint64(32)) | band_keys.astype(np.uint64)).ravel()


def _empty_history(bands: int) -> HistoryRows:
    return HistoryRows([], [], np.zeros(0, np.uint64), np.zeros((0, bands), np.uint32),
                       np.zeros(0, bool), np.zeros(0, np.uint32), np.zeros(1, np.int64),
                       np.zeros(0, np.uint32), np.zeros(1, np.int64), np.zeros(0, bool))


ENTRY_SCHEMA_FIELDS = ("para_id", "doc_id", "run_seq", "order", "norm_hash", "band_keys",
                       "content", "own_content")


def write_run(staging: Path, run_id: str, run_seq: int, entries: pa.Table,
              settings: DedupSettings) -> None:
    """Stage this run's index files from `entries` (columns para_id, doc_id, order, norm_hash,
    band_keys, content, own_content, in canonical order)."""
    out = staging / "index"
    for kind in ("entries", "bands", "exact"):
        (out / kind).mkdir(parents=True, exist_ok=True)
    entries = entries.append_column("run_seq", pa.array(np.full(entries.num_rows, run_seq),
                                                        type=pa.int32()))
    entries = entries.select(list(ENTRY_SCHEMA_FIELDS))
    pq.write_table(entries, out / "entries" / f"{run_id}.parquet", compression="zstd",
                   row_group_size=_ENTRY_ROW_GROUP)

    keys, has = list_matrix(entries["band_keys"], settings.bands)
    rows_with = np.flatnonzero(has)
    codes = _band_codes(keys[has])
    entry = np.repeat(rows_with, settings.bands)
    order = np.argsort(codes, kind="stable")
    bands = pa.table({"code": pa.array(codes[order]),
                      "entry": pa.array(entry[order].astype(np.uint32))})
    pq.write_table(bands, out / "bands" / f"{run_id}.parquet", compression="zstd")

    norm = entries["norm_hash"].to_numpy()
    order = np.argsort(norm, kind="stable")
    pq.write_table(pa.table({"norm_hash": pa.array(norm[order]),
                             "entry": pa.array(order.astype(np.uint32))}),
                   out / "exact" / f"{run_id}.parquet", compression="zstd")
    (out / "meta.json").write_text(json.dumps(index_meta(settings), indent=2, sort_keys=True),
                                   encoding="utf-8")
