"""The stages that need the whole run at once: site templates, then duplicates.

Works from the staged shards with memory that grows slowly with the run: per paragraph it holds
a few numbers (document, position, flags, the chosen canonical: about 50 bytes, 1.1 GB for the
18.6 million paragraphs of the 1.5 GB benchmark, Python and Prefect included). Everything that grows with the duplicates is staged on disk and worked through range of
members by range of members, each range holding at most `_RANGE_PAIRS` candidate pairs per band:
- the LSH band tables, sorted once per band (tasks/cross_document/band_tables.py);
- the content-word sets of the paragraphs that can be near copies (tasks/cross_document/staged_sets.py).
Steps:
1. site templates among the lines no phrase rule took (this run's and earlier runs' counts);
2. exact copies by hash; the first paragraph of each normalised text represents it;
3. band by band: the band table of the representatives, and candidates with earlier runs'
   indexed paragraphs (binary search in the index's sorted keys of that band); exact matches
   with earlier runs by hash;
4. range by range of members (every pair has its earlier row first, so ranges in order see
   every earlier row decided): candidate pairs, less those whose earlier row is already a
   duplicate (they cannot decide anything), verification on the content sets the range needs,
   canonicals (no chaining, earliest first, earlier runs' paragraphs never members);
5. per shard, a table aligned row for row with its paragraphs: `repeated_id`,
   `site_template`, `dup_of`, `dup_cluster`, `dup_similarity`; and this run's index files.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.cross_document import templates as template_index
from tasks.cross_document.band_tables import BandTables
from tasks.cross_document.duplicates import (
    CANONICAL,
    MAX_HEADS,
    MEMBER,
    assign_sorted,
    exact_groups,
    resolve_assigned,
    similarities_between,
    sorted_unique,
    verified,
)
from tasks.cross_document.history import History, RunIndexWriter, expand_ranges
from tasks.cross_document.staged_sets import StagedSets, sets_of_table
from tasks.settings import Settings
from tasks.shard import (
    STAGING_COMPRESSION,
    ShardResult,
    map_large_allocations,
    return_freed_memory,
)
from tasks.shard.boilerplate import find_site_templates, template_counts
from tasks.store import Staging, Store

CROSS = pa.schema(
    [
        ("repeated_id", pa.bool_()),  # the document's id was used by a record of an earlier shard
        ("site_template", pa.bool_()),
        ("dup_of", pa.string()),
        ("dup_cluster", pa.string()),
        ("dup_similarity", pa.float32()),
    ]
)
# Candidate pairs per band and range of members: bounds the step's working memory (a range
# holds its distinct pairs, some tens of bytes each while verified, and the sets of their
# paragraphs).
# At 4 million the 1.5 GB benchmark peaked at 1,886-1,932 MiB, too near 2 GB; more, smaller
# ranges cost little, as each reads only its own rows of the band tables.
_RANGE_PAIRS = 3_000_000
_COLUMNS = ["doc_id", "para_index", "boilerplate_rule", "template_key", "norm_hash", "has_keys"]


@dataclass
class CrossDocumentResult:
    site_template_lines: int
    duplicates: int
    duplicates_of_earlier_runs: int
    clusters: int
    candidate_pairs: int  # distinct LSH candidate pairs (+ exact matches with earlier runs)
    compared_pairs: int  # of the near candidates, those whose content sets were compared
    verified_pairs: int  # exact matches with earlier runs, and compared pairs that passed
    earlier_paragraphs_matched: int
    indexed_paragraphs: int
    candidate_search: str  # "local" or "dask"
    seconds: dict[str, float] = field(default_factory=dict)  # wall seconds per sub-step


@dataclass
class _Rows:
    """Per paragraph of the run, in canonical order: what the cross-document steps need."""

    doc: np.ndarray  # int32 document code
    doc_names: list[str]
    para_index: np.ndarray  # int32
    shard: np.ndarray | None  # int32 shard number (dropped once repeated ids are found)
    starts: np.ndarray  # int64 first row of each shard (+ the total)
    boilerplate: np.ndarray  # bool: a phrase, shape, position or model rule took it
    template_key: np.ndarray | None  # uint64, 0 = none (dropped once templates are found)
    norm_hash: np.ndarray  # uint64, 0 = no words
    has_keys: np.ndarray  # bool

    def para_ids(self, rows: np.ndarray) -> list[str]:
        names = self.doc_names
        return [f"{names[d]}:{i}" for d, i in zip(self.doc[rows].tolist(),
                                                   self.para_index[rows].tolist())]


def _load(shards: list[ShardResult]) -> tuple[_Rows, dict[str, str]]:
    """Shard by shard, straight into preallocated numpy columns (no whole-run Arrow table)."""
    sizes = [shard.paragraphs for shard in shards]
    starts = np.cumsum([0] + sizes).astype(np.int64)
    n = int(starts[-1])
    r = _Rows(doc=np.empty(n, np.int32), doc_names=[], para_index=np.empty(n, np.int32),
              shard=np.repeat(np.arange(len(shards), dtype=np.int32), sizes), starts=starts,
              boilerplate=np.empty(n, bool), template_key=np.empty(n, np.uint64),
              norm_hash=np.empty(n, np.uint64), has_keys=np.empty(n, bool))
    doc_code: dict[str, int] = {}
    site_of_doc = {}
    for number, shard in enumerate(shards):
        table = pq.read_table(shard.path("paragraphs"), columns=_COLUMNS)
        at = slice(int(starts[number]), int(starts[number + 1]))
        if table.num_rows != at.stop - at.start:
            raise RuntimeError(f"staged shard {shard.directory} has {table.num_rows} paragraphs, "
                               f"its result says {shard.paragraphs}")
        codes = pc.dictionary_encode(table["doc_id"]).combine_chunks()
        to_run = np.array([doc_code.setdefault(name, len(doc_code))
                           for name in codes.dictionary.to_pylist()], dtype=np.int32)
        if len(to_run):
            r.doc[at] = to_run[codes.indices.to_numpy()]
        r.para_index[at] = table["para_index"].to_numpy()
        r.boilerplate[at] = pc.is_valid(table["boilerplate_rule"]).to_numpy(zero_copy_only=False)
        r.template_key[at] = table["template_key"].fill_null(0).to_numpy()
        r.norm_hash[at] = table["norm_hash"].to_numpy()
        r.has_keys[at] = table["has_keys"].to_numpy(zero_copy_only=False)
        del table, codes
        d = pq.read_table(shard.path("documents"), columns=["doc_id", "site"])
        site_of_doc.update(zip(d["doc_id"].to_pylist(), d["site"].to_pylist()))
    r.doc_names = list(doc_code)
    return r, site_of_doc


def cross_document(shards: list[ShardResult], settings: Settings, staging: Staging,
                   run_seq: int, exclude_doc_ids: set[str] = frozenset(),
                   dask_address: str | None = None) -> CrossDocumentResult:
    """`dask_address`: a Dask scheduler; with it, and at least runtime.dask_dedup_min_rows
    paragraphs with band keys, the candidate search among this run's paragraphs runs there
    (tasks/cross_document/on_dask.py)."""
    seconds: dict[str, float] = {}
    clock = [time.perf_counter()]

    def _lap() -> float:
        now = time.perf_counter()
        lap, clock[0] = round(now - clock[0], 3), now
        return lap

    map_large_allocations()
    r, site_of_doc = _load(shards)
    return_freed_memory()  # the Arrow tables _load read
    seconds["load"] = _lap()
    n = len(r.doc)
    bands = settings.dedup.bands

    # A record id repeated in one file is rejected by the reader; when a large file is read in
    # parts, the repeat can sit in a later shard: those rows take no part here, and publish
    # turns their documents into rejects.
    first_shard = np.full(len(r.doc_names), len(shards), dtype=np.int32)
    np.minimum.at(first_shard, r.doc, r.shard)
    repeated = r.shard > first_shard[r.doc]
    del first_shard
    r.shard = None  # not needed any more (rows of shard k: starts[k] to starts[k + 1])

    # 1. Site templates among the lines no phrase rule took.
    site_names: dict[str, int] = {}
    doc_site = np.array([site_names.setdefault(site_of_doc[d], len(site_names))
                         for d in r.doc_names], dtype=np.int64)
    template_keys = r.template_key
    r.template_key = None
    template_keys[r.boilerplate | repeated] = 0
    history_counts = template_index.load_history(Store(settings.clean), dict(site_names))
    site_of_row = doc_site[r.doc]
    counts = template_counts(site_of_row, r.doc, template_keys)
    templates = find_site_templates(site_of_row, r.doc, template_keys, settings.boilerplate,
                                    history_counts, counts)
    template_index.stage_run(staging, counts, list(site_names))
    del template_keys, site_of_row, counts
    seconds["site_templates"] = _lap()

    # 2. Exact copies; boilerplate is never a copy of content.
    norm_hash = r.norm_hash
    norm_hash[r.boilerplate | templates | repeated] = 0
    r.boilerplate = None
    rows, head = exact_groups(norm_hash)
    index_type = np.int32 if n < 2**31 else np.int64
    reps = rows[(head == rows) & r.has_keys[rows]].astype(index_type)
    history = History(Store(settings.clean).root, settings.dedup, exclude_doc_ids)
    # The first row of each exact group, by hash: for exact matches with earlier runs.
    heads = np.unique(head) if history.runs else np.zeros(0, np.int64)
    copies = head != rows  # only the other copies of a group are kept for the end
    rows, head = rows[copies].astype(index_type), head[copies].astype(index_type)
    del copies
    m = len(reps)
    seconds["exact"] = _lap()

    # 3. Band by band: this run's band tables, and candidates with earlier runs.
    work = staging.work_dir
    use_dask = bool(dask_address) and m >= settings.runtime.dask_dedup_min_rows
    tables = BandTables(work, m, MAX_HEADS)
    with_history = []
    for band in range(bands if (m and not use_dask) or history.runs else 0):
        keys = np.empty(m, dtype=np.uint32)  # the band's keys of the representatives
        for number, shard in enumerate(shards):
            lo, hi = np.searchsorted(reps, r.starts[number:number + 2])
            if hi > lo:
                keys[lo:hi] = np.asarray(shard.band_keys()[band])[reps[lo:hi] - r.starts[number]]
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
    dask_codes = None
    if use_dask:
        from tasks.cross_document.on_dask import candidate_pairs_on_dask

        found = candidate_pairs_on_dask(dask_address, shards, reps, bands, MAX_HEADS)
        dask_codes = sorted_unique(found[:, 1].astype(np.int64) * m + found[:, 0])
        del found
    history_pairs = np.unique(np.concatenate(with_history), axis=0) if with_history else \
        np.zeros((0, 2), np.int64)
    del with_history
    head_hashes = norm_hash[heads]
    by_hash = np.argsort(head_hashes, kind="stable")
    exact_ids, exact_hashes = history.exact_matches(head_hashes[by_hash]) \
        if history.runs else (np.zeros(0, np.uint64), np.zeros(0, np.uint64))
    seconds["band_tables"] = _lap()

    # The earlier paragraphs involved come first in the combined numbering, in canonical order.
    involved = np.unique(np.concatenate([history_pairs[:, 0].astype(np.uint64), exact_ids]))
    earlier = history.entries(involved)
    h = earlier.num_rows
    slot = {hid: i for i, hid in enumerate(earlier["history_id"].to_pylist())}
    earlier_sets = sets_of_table(earlier) if h else None
    doc_code = {name: i for i, name in enumerate(r.doc_names)}
    earlier_docs = np.array([doc_code.get(d, -1 - i) for i, d in
                             enumerate(earlier["doc_id"].to_pylist())], dtype=np.int64)
    del doc_code

    # Pairs with earlier runs, as (earlier slot, row of this run), sorted by row: exact matches
    # (the head of each exact group joins the earlier entry) and near candidates.
    head_of = heads[by_hash[np.searchsorted(head_hashes[by_hash], exact_hashes)]] \
        if len(exact_hashes) else np.zeros(0, np.int64)
    exact_pairs = _by_row([(slot[i], x) for i, x in zip(exact_ids.tolist(), head_of.tolist())
                           if i in slot])
    near_history = _by_row([(slot[i], j) for i, j in zip(history_pairs[:, 0].tolist(),
                                                        history_pairs[:, 1].tolist())
                            if i in slot])
    del heads, head_hashes, by_hash, head_of, history_pairs
    eligible = norm_hash != 0  # all the rest needs of the hashes
    r.norm_hash = norm_hash = None

    # The content sets of the representatives, staged for the ranges to read what they need.
    sets = StagedSets(work)
    for number, shard in enumerate(shards):
        lo, hi = np.searchsorted(reps, r.starts[number:number + 2])
        if hi > lo:
            sets.append(pq.read_table(shard.path("paragraphs"), columns=["content", "own_content"])
                        .take(pa.array(reps[lo:hi] - r.starts[number])))
    sets.finish()
    return_freed_memory()  # the shards' content columns it read
    seconds["stage_sets"] = _lap()

    # 4. Range by range of members: candidates, verification, canonicals.
    total = h + n
    index_type = np.int32 if total < 2**31 else np.int64
    reps = reps.astype(index_type)
    status = np.full(total, CANONICAL, dtype=np.int8)
    canonical_of = np.full(total, -1, dtype=index_type)
    sim_of = np.full(total, np.nan, dtype=np.float32)
    n_candidates = n_compared = n_verified = 0
    rep_member = np.zeros(m, dtype=bool)  # final for the ranges done
    ranges = tables.ranges(_RANGE_PAIRS)
    for number, (a0, a1) in enumerate(ranges):
        # The rows of this run the range decides: from its first member to the next range's.
        row_lo = 0 if number == 0 else int(reps[a0])
        row_hi = n if number == len(ranges) - 1 else int(reps[a1])
        if dask_codes is not None:
            lo, hi = np.searchsorted(dask_codes, [a0 * m, a1 * m])
            codes = dask_codes[lo:hi]
        else:
            codes = tables.pairs(a0, a1)
        # (m < 2**31, checked by the band tables: the halves fit int32)
        j_rep = (codes // max(m, 1)).astype(np.int32)
        i_rep = (codes % max(m, 1)).astype(np.int32)
        n_candidates += len(codes)
        del codes
        # A pair whose earlier paragraph is already a duplicate cannot decide anything (no
        # chaining): it is not compared. On near-copy-dense data this is most pairs.
        live = ~rep_member[i_rep]
        i_rep, j_rep = i_rep[live], j_rep[live]
        n_compared += len(i_rep)
        del live
        hist = near_history[slice(*np.searchsorted(near_history[:, 1], [row_lo, row_hi]))]
        exact = exact_pairs[slice(*np.searchsorted(exact_pairs[:, 1], [row_lo, row_hi]))]
        hist_rep = np.searchsorted(reps, hist[:, 1])
        needed = sorted_unique(np.concatenate([i_rep, j_rep, hist_rep]))
        mine = sets.gather(needed)
        a, b = np.searchsorted(needed, i_rep), np.searchsorted(needed, j_rep)
        sims, own_sims = similarities_between(mine, a, mine, b)
        same_doc = r.doc[reps[i_rep]] == r.doc[reps[j_rep]]
        ok = verified(sims, own_sims, same_doc, settings.dedup)
        near_i, near_j, near_s = reps[i_rep[ok]] + h, reps[j_rep[ok]] + h, sims[ok]
        del a, b, sims, own_sims, same_doc, i_rep, j_rep
        if len(hist):
            sims, own_sims = similarities_between(earlier_sets, hist[:, 0], mine,
                                                  np.searchsorted(needed, hist_rep))
            ok_h = verified(sims, own_sims, earlier_docs[hist[:, 0]] == r.doc[hist[:, 1]],
                            settings.dedup)
            hist_s = sims[ok_h]
            hist = hist[ok_h]
        else:
            hist_s = np.zeros(0, np.float32)
        n_candidates += len(hist_rep) + len(exact)
        n_compared += len(hist_rep)
        del mine, needed, ok
        i = np.concatenate([exact[:, 0], hist[:, 0], near_i]).astype(index_type)
        j = np.concatenate([exact[:, 1] + h, hist[:, 1] + h, near_j]).astype(index_type)
        s = np.concatenate([np.ones(len(exact), np.float32), hist_s, near_s])
        del near_i, near_j, near_s
        order = np.lexsort((i, j))
        assign_sorted(i[order], j[order], s[order], status, canonical_of, sim_of)
        n_verified += len(i)
        rep_member[a0:a1] = status[reps[a0:a1] + h] == MEMBER
        del i, j, s, order
        return_freed_memory()  # the range's temporaries, before the next range's
    tables.remove()
    sets.remove()
    del status, tables, sets
    seconds["ranges"] = _lap()

    # The other copies of each exact group (never earlier runs' rows: fixed is all False).
    dup_of, similarity, cluster = resolve_assigned(rows.astype(index_type) + h,
                                                   head.astype(index_type) + h,
                                                   np.zeros(total, dtype=bool), canonical_of,
                                                   sim_of)
    dup_of, similarity, cluster = dup_of[h:], similarity[h:], cluster[h:]
    del rows, head

    # 5. Per shard: the cross table; this run's index.
    earlier_ids = earlier["para_id"].to_pylist()
    index = RunIndexWriter(staging.directory, staging.run_id, run_seq, settings.dedup)
    indexed_parts = []
    for number, shard in enumerate(shards):
        sl = slice(int(r.starts[number]), int(r.starts[number + 1]))
        part = pa.Table.from_pydict(
            {
                "repeated_id": repeated[sl],
                "site_template": templates[sl],
                "dup_of": _names(dup_of[sl], h, earlier_ids, r),
                "dup_cluster": _names(cluster[sl], h, earlier_ids, r),
                "dup_similarity": pa.array(similarity[sl], type=pa.float32(),
                                           mask=np.isnan(similarity[sl])),
            },
            schema=CROSS,
        )
        pq.write_table(part, shard.path("cross"), compression=STAGING_COMPRESSION)
        local = np.flatnonzero(eligible[sl] & (dup_of[sl] < 0))
        indexed = local + sl.start
        indexed_parts.append((shard, local, indexed))
        entries = pq.read_table(shard.path("paragraphs"),
                                columns=["para_id", "doc_id", "norm_hash", "content",
                                         "own_content"]).take(pa.array(local))
        index.add_entries(entries.append_column("order", pa.array(indexed, type=pa.int64())))

    def band_keys_of_entries(band: int) -> tuple[np.ndarray, np.ndarray]:
        entries, keys, first = [], [], 0
        for shard, local, rows_ in indexed_parts:
            with_keys = r.has_keys[rows_]
            entries.append(first + np.flatnonzero(with_keys))
            keys.append(np.asarray(shard.band_keys()[band])[local[with_keys]])
            first += len(rows_)
        if not entries:
            return np.zeros(0, np.int64), np.zeros(0, np.uint32)
        return np.concatenate(entries), np.concatenate(keys)

    index.finish(band_keys_of_entries)
    seconds["tables_and_index"] = _lap()

    members = dup_of >= 0
    return CrossDocumentResult(
        site_template_lines=int(templates.sum()),
        duplicates=int(members.sum()),
        duplicates_of_earlier_runs=int((dup_of[members] < h).sum()),
        clusters=len(np.unique(cluster[cluster >= 0])),
        candidate_pairs=n_candidates,
        compared_pairs=n_compared,
        verified_pairs=n_verified,
        earlier_paragraphs_matched=h,
        indexed_paragraphs=index.count,
        candidate_search="dask" if use_dask else "local",
        seconds=seconds,
    )


def _by_row(pairs: list[tuple[int, int]]) -> np.ndarray:
    """(earlier slot, row) pairs as an (k x 2) int64 array sorted by row, then slot."""
    out = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    return out[np.lexsort((out[:, 0], out[:, 1]))]


def _names(targets: np.ndarray, h: int, earlier_ids: list[str], r: _Rows) -> pa.Array:
    """para_id of each target row (earlier run's rows first in the numbering), null for -1."""
    out: list[str | None] = [None] * len(targets)
    where = np.flatnonzero(targets >= 0)
    if len(where):
        t = targets[where]
        new = t >= h
        names = np.empty(len(t), dtype=object)
        names[~new] = [earlier_ids[i] for i in t[~new].tolist()]
        names[new] = r.para_ids(t[new] - h)
        for i, name in zip(where.tolist(), names.tolist()):
            out[i] = name
    return pa.array(out, type=pa.string())

