"""Phases 3 and 4 of the run-wide step: exact copies, then the candidate pairs for near copies.

Exact copies share a normalised hash; the first row of each group represents it from here on,
and only representatives with band keys look for near copies. Candidates among this run's
representatives come from the LSH band tables, staged on disk band by band
(tasks/cross_document/band_tables.py) and read back range by range; candidates among earlier
runs' indexed paragraphs come from the index (tasks/cross_document/history.py), by binary search
in its sorted keys of each band, and exact matches with them by hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from tasks.cross_document.band_tables import BandTables
from tasks.cross_document.duplicates import MAX_HEADS, ContentSets, exact_groups, sorted_unique
from tasks.cross_document.history import History, expand_ranges
from tasks.cross_document.rows import RunRows
from tasks.cross_document.staged_sets import sets_of_table
from tasks.shard import ShardResult, return_freed_memory


@dataclass
class ExactCopies:
    reps: np.ndarray  # the first row of each group with band keys, sorted: near-copy search
    copy_rows: np.ndarray  # the other rows of each group ...
    copy_heads: np.ndarray  # ... and the first row of their group
    eligible: np.ndarray  # bool per row: content that takes part (has words, no rule took it)


@dataclass
class GroupHeads:
    """The first row of every exact group, sorted by its hash: for exact matches with earlier
    runs (empty when there are none)."""

    rows: np.ndarray
    hashes: np.ndarray


def exact_copies(rows: RunRows, templates: np.ndarray, repeated: np.ndarray,
                 with_history: bool) -> tuple[ExactCopies, GroupHeads]:
    """Groups of rows with the same normalised text. Boilerplate is never a copy of content:
    rows a rule took, site templates and repeated ids are in no group. Drops `rows.norm_hash`
    and `rows.boilerplate`."""
    norm_hash = rows.norm_hash
    rows.norm_hash = None
    norm_hash[rows.boilerplate | templates | repeated] = 0
    rows.boilerplate = None
    members, head = exact_groups(norm_hash, rows.may_lead)
    index_type = np.int32 if len(norm_hash) < 2**31 else np.int64
    reps = members[(head == members) & rows.has_keys[members]].astype(index_type)
    heads = np.unique(head) if with_history else np.zeros(0, np.int64)
    head_hashes = norm_hash[heads]
    by_hash = np.argsort(head_hashes, kind="stable")
    copies = head != members
    exact = ExactCopies(reps, members[copies].astype(index_type), head[copies].astype(index_type),
                        norm_hash != 0)
    return exact, GroupHeads(heads[by_hash], head_hashes[by_hash])


def band_tables(shards: list[ShardResult], starts: np.ndarray, reps: np.ndarray, bands: int,
                history: History, work_dir: Path) -> tuple[BandTables, np.ndarray]:
    """Band by band, the band table of the representatives (staged in `work_dir`), and their
    candidates among earlier runs' indexed paragraphs: distinct (history id, row) pairs.
    `starts`: the first row of each shard."""
    m = len(reps)
    tables = BandTables(work_dir, m, MAX_HEADS, bands)
    with_history = []
    for band in range(bands if m else 0):
        keys = _band_keys(shards, starts, reps, band)
        sorted_keys, positions = tables.add_band(keys)
        del keys
        if history.runs and m:
            ids, hkeys = history.band_matches(band, sorted_unique(sorted_keys), MAX_HEADS)
            lo = np.searchsorted(sorted_keys, hkeys, side="left")
            hi = np.searchsorted(sorted_keys, hkeys, side="right")
            counts = hi - lo
            with_history.append(np.stack([np.repeat(ids.astype(np.int64), counts),
                                          reps[positions[expand_ranges(lo, counts)]]], axis=1))
        del sorted_keys, positions
    return_freed_memory()  # the sorts' temporaries
    pairs = np.unique(np.concatenate(with_history), axis=0) if with_history else \
        np.zeros((0, 2), np.int64)
    return tables, pairs


def _band_keys(shards: list[ShardResult], starts: np.ndarray, reps: np.ndarray,
               band: int) -> np.ndarray:
    """The representatives' keys of one band (uint64), shard by shard."""
    keys = np.empty(len(reps), dtype=np.uint64)
    for number, shard in enumerate(shards):
        lo, hi = np.searchsorted(reps, starts[number:number + 2])
        if hi > lo:
            keys[lo:hi] = np.asarray(shard.band_keys()[band])[reps[lo:hi] - starts[number]]
    return keys


@dataclass
class Earlier:
    """The earlier runs' indexed paragraphs this run's candidates involve, in canonical order:
    they come first in the combined numbering (slot k is row k; this run's row r is h + r)."""

    entries: pa.Table  # their index entries (para_id, doc_id, content sets, ...)
    sets: ContentSets | None  # their content sets (None when there are none)
    docs: np.ndarray  # document code: this run's code for the same document, else a code < 0
    exact: np.ndarray  # (slot, row) exact matches (the row heads its group), sorted by row
    near: np.ndarray  # (slot, row) near candidates, sorted by row

    @property
    def h(self) -> int:
        return self.entries.num_rows

    def para_ids(self) -> list[str]:
        return self.entries["para_id"].to_pylist()

    def in_rows(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """The exact matches and near candidates whose row of this run is in [lo, hi)."""
        return (self.exact[slice(*np.searchsorted(self.exact[:, 1], [lo, hi]))],
                self.near[slice(*np.searchsorted(self.near[:, 1], [lo, hi]))])


def earlier_candidates(history: History, heads: GroupHeads, near_pairs: np.ndarray,
                       doc_names: list[str]) -> Earlier:
    """The earlier entries that match a group head exactly or are near candidates of a
    representative (`near_pairs`: history id, row), read from the index (superseded documents
    left out)."""
    exact_ids, exact_hashes = history.exact_matches(heads.hashes)
    involved = np.unique(np.concatenate([near_pairs[:, 0].astype(np.uint64), exact_ids]))
    entries = history.entries(involved)
    slot = {hid: i for i, hid in enumerate(entries["history_id"].to_pylist())}
    doc_code = {name: i for i, name in enumerate(doc_names)}
    docs = np.array([doc_code.get(d, -1 - i) for i, d in enumerate(entries["doc_id"].to_pylist())],
                    dtype=np.int64)
    del doc_code
    # The head of each exact group joins the earlier entry with its hash.
    head_of = heads.rows[np.searchsorted(heads.hashes, exact_hashes)] if len(exact_hashes) else \
        np.zeros(0, np.int64)
    exact = _by_row([(slot[i], x) for i, x in zip(exact_ids.tolist(), head_of.tolist())
                     if i in slot])
    near = _by_row([(slot[i], j) for i, j in zip(near_pairs[:, 0].tolist(),
                                                 near_pairs[:, 1].tolist()) if i in slot])
    return Earlier(entries, sets_of_table(entries) if entries.num_rows else None, docs, exact, near)


def _by_row(pairs: list[tuple[int, int]]) -> np.ndarray:
    """(earlier slot, row) pairs as an (k x 2) int64 array sorted by row, then slot."""
    out = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    return out[np.lexsort((out[:, 0], out[:, 1]))]
