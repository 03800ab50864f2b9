"""The stages that need the whole run at once: site templates, then duplicates.

Works from the staged shards with memory that grows slowly with the run: per paragraph it holds
a few numbers (document, position, exact-copy hash, flags, about 40 bytes), and the LSH band
keys are read one band at a time (each shard stages them band-major, `band_keys.npy`). What
grows with the duplicates is the pairs: 8 bytes per candidate pair, 12 per verified pair, and
the sort that chooses canonicals (data where every paragraph has many near copies makes many
pairs: BENCHMARKS.md, "Throughput"). Steps:
1. site templates among the lines no phrase rule took (this run's and earlier runs' counts);
2. exact copies by hash; the first paragraph of each normalised text represents it;
3. band by band: candidate pairs among the representatives (sorting the band's keys) and with
   earlier runs' indexed paragraphs (binary search in the index's sorted keys of that band);
   exact matches with earlier runs by hash;
4. verification: content-word sets are read only for paragraphs that are in a candidate pair;
5. canonicals (no chaining, earliest first, earlier runs' paragraphs never members);
6. per shard, a table aligned row for row with its paragraphs: `repeated_id`,
   `site_template`, `dup_of`, `dup_cluster`, `dup_similarity`; and this run's index files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks import template_index
from tasks.boilerplate import find_site_templates, template_counts
from tasks.dedup import (
    MAX_HEADS,
    exact_groups,
    merge_sorted_unique,
    pair_similarities,
    pairs_in_groups,
    resolve,
    sorted_unique,
    verified,
)
from tasks.dedup_index import History, RunIndexWriter
from tasks.minhash import content_csr
from tasks.settings import Settings
from tasks.shard import STAGING_COMPRESSION, ShardResult, return_freed_memory

CROSS = pa.schema(
    [
        ("repeated_id", pa.bool_()),  # the document's id was used by a record of an earlier shard
        ("site_template", pa.bool_()),
        ("dup_of", pa.string()),
        ("dup_cluster", pa.string()),
        ("dup_similarity", pa.float32()),
    ]
)
_VERIFY_CHUNK = 1_000_000  # candidate pairs verified at a time (~75 MB of temporaries)
_COLUMNS = ["doc_id", "para_index", "boilerplate_rule", "template_key", "norm_hash", "has_keys"]


@dataclass
class CrossDocumentResult:
    site_template_lines: int
    duplicates: int
    duplicates_of_earlier_runs: int
    clusters: int
    candidate_pairs: int
    verified_pairs: int
    earlier_paragraphs_matched: int
    indexed_paragraphs: int
    candidate_search: str  # "local" or "dask"


@dataclass
class _Rows:
    """Per paragraph of the run, in canonical order: what the cross-document steps need."""

    doc: np.ndarray  # int64 document code
    doc_names: list[str]
    para_index: np.ndarray  # int32
    shard: np.ndarray  # int64 shard number
    local: np.ndarray  # int64 row inside its shard
    boilerplate: np.ndarray  # bool: a phrase, shape, position or model rule took it
    template_key: np.ndarray  # uint64, 0 = none
    norm_hash: np.ndarray  # uint64, 0 = no words
    has_keys: np.ndarray  # bool

    def para_ids(self, rows: np.ndarray) -> list[str]:
        names = self.doc_names
        return [f"{names[d]}:{i}" for d, i in zip(self.doc[rows].tolist(),
                                                   self.para_index[rows].tolist())]


def _load(shards: list[ShardResult]) -> tuple[_Rows, dict[str, str]]:
    tables, site_of_doc = [], {}
    for shard in shards:
        tables.append(pq.read_table(shard.path("paragraphs"), columns=_COLUMNS))
        d = pq.read_table(shard.path("documents"), columns=["doc_id", "site"])
        site_of_doc.update(zip(d["doc_id"].to_pylist(), d["site"].to_pylist()))
    table = pa.concat_tables(tables)
    codes = pc.dictionary_encode(table["doc_id"]).combine_chunks()
    sizes = [shard.paragraphs for shard in shards]
    starts = np.cumsum([0] + sizes)[:-1]
    shard = np.repeat(np.arange(len(shards)), sizes)
    rows = _Rows(
        doc=codes.indices.to_numpy().astype(np.int64),
        doc_names=codes.dictionary.to_pylist(),
        para_index=table["para_index"].to_numpy(),
        shard=shard,
        local=np.arange(table.num_rows) - starts[shard] if table.num_rows else shard,
        boilerplate=pc.is_valid(table["boilerplate_rule"]).to_numpy(zero_copy_only=False),
        template_key=table["template_key"].fill_null(0).to_numpy().astype(np.uint64),
        norm_hash=table["norm_hash"].to_numpy().copy(),
        has_keys=table["has_keys"].to_numpy(zero_copy_only=False).copy(),
    )
    return rows, site_of_doc


def cross_document(shards: list[ShardResult], settings: Settings, run_id: str, run_seq: int,
                   staging: Path, exclude_doc_ids: set[str] = frozenset(),
                   dask_address: str | None = None) -> CrossDocumentResult:
    """`dask_address`: a Dask scheduler; with it, and at least runtime.dask_dedup_min_rows
    paragraphs with band keys, the candidate search among this run's paragraphs runs there
    (tasks/dedup_dask.py)."""
    r, site_of_doc = _load(shards)
    return_freed_memory()  # the Arrow tables _load read whole
    n = len(r.doc)
    bands = settings.dedup.bands

    # A record id repeated in one file is rejected by the reader; when a large file is read in
    # parts, the repeat can sit in a later shard: those rows take no part here, and publish
    # turns their documents into rejects.
    first_shard = np.full(len(r.doc_names), len(shards), dtype=np.int64)
    np.minimum.at(first_shard, r.doc, r.shard)
    repeated = r.shard > first_shard[r.doc]

    # 1. Site templates among the lines no phrase rule took.
    site_names: dict[str, int] = {}
    doc_site = np.array([site_names.setdefault(site_of_doc[d], len(site_names))
                         for d in r.doc_names], dtype=np.int64)
    template_keys = r.template_key
    template_keys[r.boilerplate | repeated] = 0
    history_counts = template_index.load_history(Path(settings.clean), dict(site_names))
    templates = find_site_templates(doc_site[r.doc], r.doc, template_keys, settings.boilerplate,
                                    history_counts)
    template_index.stage_run(staging, run_id, template_counts(doc_site[r.doc], r.doc,
                                                              template_keys), list(site_names))

    # 2. Exact copies; boilerplate is never a copy of content.
    norm_hash = r.norm_hash
    norm_hash[r.boilerplate | templates | repeated] = 0
    rows, head = exact_groups(norm_hash)
    reps = rows[(head == rows) & r.has_keys[rows]]

    # 3. Candidates, band by band, within the run and with earlier runs.
    history = History(Path(settings.clean), settings.dedup, exclude_doc_ids)
    use_dask = bool(dask_address) and len(reps) >= settings.runtime.dask_dedup_min_rows
    codes, with_history = np.zeros(0, np.int64), []  # codes: i * len(reps) + j, sorted, distinct
    for band in range(bands):
        keys = np.concatenate([shard.band_keys()[band] for shard in shards])[reps] \
            if n else np.zeros(0, np.uint32)
        packed = np.sort((keys.astype(np.uint64) << np.uint64(32)) |
                         np.arange(len(reps), dtype=np.uint64))
        sorted_keys = (packed >> np.uint64(32)).astype(np.uint32)
        positions = (packed & np.uint64(0xFFFFFFFF)).astype(np.int64)
        if not use_dask:
            # Merged after every band: a pair shows up in many bands, and holding several
            # bands' pairs at once was the peak of the run on near-duplicate-heavy data.
            codes = merge_sorted_unique(codes, sorted_unique(
                pairs_in_groups(sorted_keys, positions, len(reps), MAX_HEADS)))
        if history.runs and len(reps):
            ids, hkeys = history.band_matches(band, sorted_unique(sorted_keys), MAX_HEADS)
            lo = np.searchsorted(sorted_keys, hkeys, side="left")
            hi = np.searchsorted(sorted_keys, hkeys, side="right")
            counts = hi - lo
            with_history.append(np.stack([np.repeat(ids.astype(np.int64), counts),
                                          reps[positions[_ranges(lo, counts)]]], axis=1))
    if use_dask:
        from tasks.dedup_dask import candidate_pairs_on_dask

        found = candidate_pairs_on_dask(dask_address, shards, reps, bands, MAX_HEADS)
        codes = sorted_unique(found[:, 0].astype(np.int64) * len(reps) + found[:, 1])
    history_pairs = np.unique(np.concatenate(with_history), axis=0) if with_history else \
        np.zeros((0, 2), np.int64)
    heads = np.unique(head)
    exact_ids, exact_hashes = history.exact_matches(np.sort(norm_hash[heads])) \
        if history.runs else (np.zeros(0, np.uint64), np.zeros(0, np.uint64))

    # The earlier paragraphs involved come first in the combined numbering, in canonical order.
    involved = np.unique(np.concatenate([history_pairs[:, 0].astype(np.uint64), exact_ids]))
    earlier = history.entries(involved)
    h = earlier.num_rows
    slot = {hid: i for i, hid in enumerate(earlier["history_id"].to_pylist())}

    # Exact matches with earlier runs: the head of each exact group joins the earlier entry.
    head_of_hash = dict(zip(norm_hash[heads].tolist(), heads.tolist()))
    exact_pairs = [(slot[i], h + head_of_hash[x]) for i, x in
                   zip(exact_ids.tolist(), exact_hashes.tolist()) if i in slot]
    near_history = [(slot[i], h + j) for i, j in zip(history_pairs[:, 0].tolist(),
                                                     history_pairs[:, 1].tolist()) if i in slot]
    near_history = np.array(near_history, dtype=np.int64).reshape(-1, 2)

    # 4. Verification on the content sets of the paragraphs in candidate pairs only, a chunk of
    # candidates at a time; only the verified pairs are kept.
    m = len(reps)
    in_pair = np.zeros(m, dtype=bool)
    for lo in range(0, len(codes), _VERIFY_CHUNK):
        chunk = codes[lo:lo + _VERIFY_CHUNK]
        in_pair[chunk // m] = True
        in_pair[chunk % m] = True
    needed = np.union1d(reps[in_pair], near_history[:, 1] - h).astype(np.int64)
    sets = _content_sets(shards, r, needed, earlier)
    return_freed_memory()  # the shards' whole content columns it read
    doc_of = np.concatenate([sets.earlier_docs, r.doc[needed]])
    small = np.int32 if h + n < 2**31 else np.int64

    def verify(candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        compact = np.searchsorted(sets.rows, candidates)
        sims, own_sims = pair_similarities(compact, sets.content, sets.offsets, sets.own,
                                           sets.own_offsets, sets.quoted)
        ok = verified(sims, own_sims, doc_of[compact[:, 0]] == doc_of[compact[:, 1]],
                      settings.dedup)
        return candidates[ok].astype(small), sims[ok]

    kept = [(np.array(exact_pairs, dtype=small).reshape(-1, 2),
             np.ones(len(exact_pairs), np.float32)), verify(near_history)]
    for lo in range(0, len(codes), _VERIFY_CHUNK):
        chunk = codes[lo:lo + _VERIFY_CHUNK]
        kept.append(verify(np.stack([reps[chunk // m], reps[chunk % m]], axis=1) + h))
    pairs = np.concatenate([p for p, _ in kept])
    pair_sims = np.concatenate([s for _, s in kept])
    n_candidates = len(codes) + len(near_history) + len(exact_pairs)
    del kept, codes

    # 5. Canonicals over the combined numbering (earlier runs' rows first, never members).
    fixed = np.zeros(h + n, dtype=bool)
    fixed[:h] = True
    dup_of, similarity, cluster = resolve(h + n, rows + h, head + h, pairs, pair_sims, fixed)
    dup_of, similarity, cluster = dup_of[h:], similarity[h:], cluster[h:]

    # 6. Per shard: the cross table; this run's index.
    earlier_ids = earlier["para_id"].to_pylist()
    index = RunIndexWriter(staging, run_id, run_seq, settings.dedup)
    indexed_parts = []
    for number, shard in enumerate(shards):
        sl = np.flatnonzero(r.shard == number)
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
        indexed = sl[(norm_hash[sl] != 0) & (dup_of[sl] < 0)]
        indexed_parts.append((shard, r.local[indexed], indexed))
        entries = pq.read_table(shard.path("paragraphs"),
                                columns=["para_id", "doc_id", "norm_hash", "content",
                                         "own_content"]).take(pa.array(r.local[indexed]))
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

    members = dup_of >= 0
    return CrossDocumentResult(
        site_template_lines=int(templates.sum()),
        duplicates=int(members.sum()),
        duplicates_of_earlier_runs=int((dup_of[members] < h).sum()),
        clusters=len(np.unique(cluster[cluster >= 0])),
        candidate_pairs=n_candidates,
        verified_pairs=len(pairs),
        earlier_paragraphs_matched=h,
        indexed_paragraphs=index.count,
        candidate_search="dask" if use_dask else "local",
    )


def _ranges(lo: np.ndarray, counts: np.ndarray) -> np.ndarray:
    total = int(counts.sum())
    return np.repeat(lo, counts) + (np.arange(total) - np.repeat(np.cumsum(counts) - counts,
                                                                  counts))


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


@dataclass
class _Sets:
    rows: np.ndarray  # combined row numbers these sets belong to (sorted)
    content: np.ndarray
    offsets: np.ndarray
    own: np.ndarray
    own_offsets: np.ndarray
    quoted: np.ndarray
    earlier_docs: np.ndarray  # document codes of the earlier runs' rows


def _content_sets(shards: list[ShardResult], r: _Rows, needed: np.ndarray,
                  earlier: pa.Table) -> _Sets:
    """Content sets of the earlier runs' rows and of this run's `needed` rows (sorted), compact
    and in combined numbering order."""
    h = earlier.num_rows
    tables = [pa.table({"content": earlier["content"], "own_content": earlier["own_content"]})] \
        if h else []
    for number, shard in enumerate(shards):
        mine = needed[r.shard[needed] == number]
        if len(mine):
            tables.append(pq.read_table(shard.path("paragraphs"),
                                        columns=["content", "own_content"])
                          .take(pa.array(r.local[mine])))
    if tables:
        table = pa.concat_tables([t.cast(tables[-1].schema) for t in tables])
        content, offsets = content_csr(table["content"])
        own, own_offsets = content_csr(table["own_content"], fallback=table["content"])
        quoted = table["own_content"].is_valid().to_numpy(zero_copy_only=False)
    else:
        content = own = np.zeros(0, np.uint32)
        offsets = own_offsets = np.zeros(1, np.int64)
        quoted = np.zeros(0, bool)
    doc_code = {name: i for i, name in enumerate(r.doc_names)}
    earlier_docs = np.array([doc_code.get(d, -1 - i) for i, d in
                             enumerate(earlier["doc_id"].to_pylist())], dtype=np.int64)
    return _Sets(np.concatenate([np.arange(h), needed + h]), content, offsets, own, own_offsets,
                 quoted, earlier_docs)
