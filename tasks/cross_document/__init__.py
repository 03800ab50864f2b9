"""The run-wide step: what needs the whole run at once, site templates then duplicates.

It works from the staged shards with memory that grows slowly with the run: per paragraph it
holds a few numbers (document, position, flags, the chosen canonical). Everything that grows with
the duplicates is staged on disk (band tables, content sets: tasks/cross_document/band_tables.py
and staged_sets.py) and worked through range of members by range of members, each range holding
at most `_RANGE_PAIRS` candidate pairs per band. The phases, in order, each a plain function:

1. load the shards' rows, and find the ids an earlier shard used (rows.py);
2. site templates, with earlier runs' counts (templates.py);
3. exact copies by normalised hash; a group's first row represents it (candidates.py);
4. candidate pairs: this run's band tables, band by band, and candidates and exact matches
   among earlier runs' indexed paragraphs (candidates.py, history.py);
5. verification and 6. canonical assignment, range by range (canonicals.py; whether a pair is a
   copy is verifier.py's call, with the run's word rarity; the greedy choice is duplicates.py's);
7. per shard a `cross` table for publish; this run's index files for later runs (output.py).
A phase drops what no later phase needs as soon as it is done with it: the step's peak memory
is what bounds the run.

On a Dask cluster, from `runtime.dask_dedup_min_rows` paragraphs on, every phase runs on the
workers instead, with the same rows as the result (tasks/cross_document/cluster/).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from tasks.cross_document.candidates import band_tables, earlier_candidates, exact_copies
from tasks.cross_document.canonicals import choose_canonicals, resolve_copies
from tasks.cross_document.history import History, RunIndexWriter
from tasks.cross_document.output import CROSS, write_cross_tables, write_run_index
from tasks.cross_document.rows import load_rows, repeated_ids
from tasks.cross_document.staged_sets import stage_sets
from tasks.cross_document.templates import site_templates
from tasks.cross_document.verifier import WordRarity
from tasks.settings import Settings
from tasks.shard import ShardResult, map_large_allocations, return_freed_memory
from tasks.store import Staging, Store

__all__ = ["CROSS", "CrossDocumentResult", "cross_document"]

# Candidate pairs per band and range of members: bounds the step's working memory (a range
# holds its distinct pairs, some tens of bytes each while verified, and the sets of their
# paragraphs). More, smaller ranges cost little, as each reads only its own rows of the band
# tables (docs/benchmarks/throughput.md has the memory measured).
_RANGE_PAIRS = 3_000_000


@dataclass
class CrossDocumentResult:
    site_template_lines: int
    duplicates: int
    duplicates_of_earlier_runs: int
    clusters: int
    candidate_pairs: int  # distinct LSH candidate pairs (+ exact matches with earlier runs)
    compared_pairs: int  # of the near candidates, those whose content sets were compared
    verified_pairs: int  # exact matches with earlier runs, and compared pairs that passed
    loose_members: int  # near copies of a canonical that are not copies of another member
    earlier_paragraphs_matched: int
    indexed_paragraphs: int
    candidate_search: str  # "local" (this process) or "cluster" (the whole step on Dask)
    seconds: dict[str, float] = field(default_factory=dict)  # wall seconds per part
    # On a cluster, the bytes each stage wrote to the shared folder (its shuffle); else empty.
    written_bytes: dict[str, int] = field(default_factory=dict)


def cross_document(shards: list[ShardResult], settings: Settings, staging: Staging,
                   run_seq: int, exclude_doc_ids: set[str] = frozenset(),
                   dask_address: str | None = None) -> CrossDocumentResult:
    """Site templates and duplicates of the staged `shards` (a `cross` table each), and this
    run's index files in `staging`. `exclude_doc_ids`: documents superseded by this run, left
    out of the earlier runs' index (on a cluster: as staged in `staging` by the flow).
    `dask_address`: a Dask scheduler; with it, and at least runtime.dask_dedup_min_rows
    paragraphs, the whole step runs on its workers (tasks/cross_document/cluster/)."""
    if dask_address and sum(s.paragraphs for s in shards) >= settings.runtime.dask_dedup_min_rows:
        from tasks.cross_document.cluster import cross_document_on_cluster  # Dask only then

        return cross_document_on_cluster(shards, settings, staging, run_seq, dask_address)
    clean, lap = Store(settings.clean), _Laps()
    map_large_allocations()
    rows, site_of_doc = load_rows(shards)
    return_freed_memory()  # the Arrow tables it read
    repeated = repeated_ids(rows)
    lap("load")

    templates = site_templates(rows, site_of_doc, repeated, settings.boilerplate, clean, staging)
    del site_of_doc
    lap("site_templates")

    history = History(clean.root, settings.dedup, exclude_doc_ids)
    exact, heads = exact_copies(rows, templates, repeated, with_history=bool(history.runs))
    lap("exact")

    tables, near_earlier = band_tables(shards, rows.starts, exact.reps, settings.dedup.bands,
                                       history, staging.work_dir)
    earlier = earlier_candidates(history, heads, near_earlier, rows.doc_names)
    del heads, near_earlier
    lap("band_tables")

    sets = stage_sets(shards, rows.starts, exact.reps, staging.work_dir)
    rarity = WordRarity.of(sets.read_all("content"), sets.rows)
    lap("stage_sets")

    canonicals = choose_canonicals(tables, tables.ranges(_RANGE_PAIRS), exact.reps, rows.doc,
                                   earlier, sets, rarity, rows.may_lead, settings.dedup)
    tables.remove()
    sets.remove()
    del tables, sets
    lap("ranges")

    found = resolve_copies(exact, canonicals, earlier.h)
    write_cross_tables(shards, rows, repeated, templates, found, earlier.para_ids())
    indexed = write_run_index(shards, rows, exact.eligible, found.dup_of,
                              RunIndexWriter(staging.directory, staging.run_id, run_seq,
                                             settings.dedup))
    lap("tables_and_index")

    members = found.dup_of >= 0
    return CrossDocumentResult(
        site_template_lines=int(templates.sum()),
        duplicates=int(members.sum()),
        duplicates_of_earlier_runs=int((found.dup_of[members] < earlier.h).sum()),
        clusters=len(np.unique(found.cluster[found.cluster >= 0])),
        candidate_pairs=canonicals.candidate_pairs,
        compared_pairs=canonicals.compared_pairs,
        verified_pairs=canonicals.verified_pairs,
        loose_members=canonicals.loose_members,
        earlier_paragraphs_matched=earlier.h,
        indexed_paragraphs=indexed,
        candidate_search="local",
        seconds=lap.seconds,
    )


class _Laps:
    """Wall seconds per part of the step (the manifest's cross_document_seconds)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name], self._last = round(now - self._last, 3), now
