"""The first stages on the cluster: each shard's rows, the document ids an earlier shard used, and
the site templates, with the rules of the single-process step (tasks/cross_document/rows.py
and templates.py) applied per document and per site instead of over the whole run.

- `load_shard` (per shard): the columns the step needs, as `rows.arrow`; each document to the
  `documents` exchange by its id.
- `resolve_documents` (per partition of ids): a document id read by several shards belongs to
  the first that has its paragraphs (later ones' rows take no part), and its site is the one
  the last shard gave it (as the single-process step's dict of sites, updated shard by shard).
- `send_template_rows` (per shard): the rows that can be template lines to the `sites` exchange
  by site, with one row per document to count the site's documents.
- `find_templates` (per partition of sites): the site-template rule with the earlier runs'
  counts of those sites; the run's counts staged for later runs.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks import reasons
from tasks.cross_document.cluster.exchange import read_arrow, write_arrow
from tasks.cross_document.cluster.job import Job, string_partition
from tasks.cross_document.rows import COLUMNS
from tasks.cross_document.templates import SCHEMA as COUNTS_SCHEMA
from tasks.cross_document.templates import load_history
from tasks.shard.boilerplate import find_site_templates, template_counts
from tasks.store import Layout, Staging

DOCUMENTS = pa.schema([("doc_id", pa.string()), ("shard", pa.int32()), ("site", pa.string()),
                       ("has_rows", pa.bool_())])
FIXES = pa.schema([("doc_id", pa.string()), ("repeated", pa.bool_()), ("site", pa.string())])
SITE_ROWS = pa.schema([("site", pa.string()), ("doc_id", pa.string()), ("key", pa.uint64()),
                       ("row", pa.int64())])
ROW_LIST = pa.schema([("row", pa.int64())])


def load_shard(job: Job, shard: int) -> int:
    """Stage `rows.arrow` of a shard and send its documents by id. Returns its rows."""
    files = job.shard_files(shard)
    table = pq.read_table(files.table("paragraphs"), columns=COLUMNS)
    rule = table["boilerplate_rule"]
    by_model = pc.equal(rule, reasons.CONTENT_MODEL).fill_null(False)
    rows = pa.table({
        "doc_id": table["doc_id"].combine_chunks(),
        "para_index": table["para_index"],
        # The content model's tags take part as members only (tasks/cross_document/rows.py).
        "boilerplate": pc.and_(pc.is_valid(rule), pc.invert(by_model)),
        "may_lead": pc.invert(by_model),
        "template_key": table["template_key"].fill_null(0),
        "norm_hash": table["norm_hash"],
        "has_keys": table["has_keys"],
    })
    folder = job.shard_work(shard)
    folder.mkdir(parents=True, exist_ok=True)
    write_arrow(folder / "rows.arrow", rows)
    documents = pq.read_table(files.table("documents"), columns=["doc_id", "site"])
    with_rows = pc.is_in(documents["doc_id"], value_set=pc.unique(rows["doc_id"]))
    sent = pa.table({"doc_id": documents["doc_id"],
                     "shard": pa.array(np.full(documents.num_rows, shard, np.int32)),
                     "site": documents["site"], "has_rows": with_rows}, schema=DOCUMENTS)
    job.exchange("documents").write(shard, string_partition(sent["doc_id"], job.parts), sent)
    return rows.num_rows


def resolve_documents(job: Job, part: int) -> int:
    """Tell each shard of a document id read by several shards whether its rows take part and
    which site the id has. Returns the ids read again."""
    table = job.exchange("documents").read(part, DOCUMENTS)
    if not table.num_rows:
        return 0
    ids = table["doc_id"].combine_chunks()
    encoded = pc.dictionary_encode(ids)
    code = encoded.indices.to_numpy().astype(np.int64)
    shard = table["shard"].to_numpy().astype(np.int64)
    has_rows = table["has_rows"].to_numpy(zero_copy_only=False)
    groups = len(encoded.dictionary)
    shards_of = np.bincount(code, minlength=groups)
    several = shards_of[code] > 1
    if not several.any():
        return 0
    first_with_rows = np.full(groups, np.iinfo(np.int64).max)
    np.minimum.at(first_with_rows, code[has_rows], shard[has_rows])
    last = np.full(groups, -1)
    np.maximum.at(last, code, shard)
    sites = table["site"].to_pylist()
    site_of = {}
    for c, s, site in zip(code.tolist(), shard.tolist(), sites):
        if s == last[c]:
            site_of[c] = site
    at = np.flatnonzero(several)
    fixes = pa.table({"doc_id": ids.take(pa.array(at)),
                      "repeated": pa.array(shard[at] > first_with_rows[code[at]]),
                      "site": pa.array([site_of[c] for c in code[at].tolist()], pa.string())},
                     schema=FIXES)
    job.exchange("document_fixes", by_shard=True).write(part, shard[at], fixes)
    return int((shard[at] > first_with_rows[code[at]]).sum())


def send_template_rows(job: Job, shard: int) -> None:
    """The shard's rows that can be site template lines (a key, no rule took them, their id not
    read before) to the `sites` exchange, and each of its documents once (key 0), with the
    site of its id. Stages `repeated` in the shard's flags."""
    rows = read_rows(job, shard, ["doc_id", "boilerplate", "template_key"])
    files = job.shard_files(shard)
    documents = pq.read_table(files.table("documents"), columns=["doc_id", "site"])
    fixes = job.exchange("document_fixes", by_shard=True).read(shard, FIXES)
    # Each id's site: a fix (a repeated id's first document's) before the shard's own.
    ids = pa.concat_arrays([fixes["doc_id"].combine_chunks(),
                            documents["doc_id"].combine_chunks()])
    sites = pa.concat_arrays([fixes["site"].combine_chunks().cast(pa.string()),
                              documents["site"].combine_chunks().cast(pa.string())])
    repeated_ids = pa.array([d for d, r in zip(fixes["doc_id"].to_pylist(),
                                               fixes["repeated"].to_pylist()) if r], pa.string())
    repeated = pc.is_in(rows["doc_id"], value_set=repeated_ids).to_numpy(zero_copy_only=False)
    np.save(job.shard_work(shard) / "repeated.npy", repeated)

    keys = rows["template_key"].to_numpy().copy()
    keys[rows["boilerplate"].to_numpy(zero_copy_only=False) | repeated] = 0
    keyed = np.flatnonzero(keys != 0)
    doc_ids = rows["doc_id"].combine_chunks()
    distinct = pc.unique(doc_ids)
    sent_ids = pa.concat_arrays([distinct, doc_ids.take(pa.array(keyed))])
    sent = pa.table({
        "site": sites.take(pc.index_in(sent_ids, value_set=ids)),
        "doc_id": sent_ids,
        "key": pa.array(np.concatenate([np.zeros(len(distinct), np.uint64), keys[keyed]])),
        "row": pa.array(np.concatenate([np.full(len(distinct), -1), keyed + job.first_row(shard)])
                        .astype(np.int64)),
    }, schema=SITE_ROWS)
    job.exchange("sites").write(shard, string_partition(sent["site"], job.parts), sent)


def find_templates(job: Job, part: int) -> int:
    """The site templates of the partition's sites; their rows to their shards; this run's
    counts of those sites staged. Returns the template rows."""
    table = job.exchange("sites").read(part, SITE_ROWS)
    if not table.num_rows:
        return 0
    site_codes = pc.dictionary_encode(table["site"].combine_chunks())
    sites = site_codes.indices.to_numpy().astype(np.int64)
    docs = pc.dictionary_encode(table["doc_id"].combine_chunks()).indices.to_numpy() \
        .astype(np.int64)
    keys = table["key"].to_numpy()
    names = site_codes.dictionary.to_pylist()
    counts = template_counts(sites, docs, keys)
    earlier = load_history(Layout(job.clean), {name: i for i, name in enumerate(names)})
    templates = find_site_templates(sites, docs, keys, job.settings.boilerplate, earlier, counts)
    name_array = np.array(names, dtype=object)
    staged = pa.table({
        "site": pa.array(np.concatenate([name_array[counts.sites],
                                         name_array[counts.site_codes]]).tolist(), pa.string()),
        "key": pa.array(np.concatenate([counts.keys, np.zeros(len(counts.site_codes),
                                                              np.uint64)])),
        "docs": pa.array(np.concatenate([counts.docs, counts.site_docs]), pa.int64()),
    }, schema=COUNTS_SCHEMA)
    write_arrow(job.exchange("template_counts").directory / f"{part:05d}.arrow", staged)
    rows = table["row"].to_numpy()[templates]
    job.exchange("template_rows", by_shard=True).write(
        part, job.shard_of(rows), pa.table({"row": rows}, schema=ROW_LIST))
    return len(rows)


def stage_template_counts(job: Job) -> None:
    """This run's template counts, one file sorted by site as the single-process step stages
    it (tasks/cross_document/templates.py, `stage_run`): later runs read their sites' rows."""
    folder = job.exchange("template_counts").directory
    parts = sorted(folder.glob("*.arrow")) if folder.is_dir() else []
    tables = [read_arrow(p) for p in parts]
    table = pa.concat_tables(tables) if tables else COUNTS_SCHEMA.empty_table()
    path = Staging(job.staging, job.run_id).index_file("templates")
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.sort_by([("site", "ascending"), ("key", "ascending")]), path,
                   compression="zstd")


def read_rows(job: Job, shard: int, columns: list[str] | None = None) -> pa.Table:
    """A shard's `rows.arrow` (memory-mapped)."""
    table = read_arrow(job.shard_work(shard) / "rows.arrow")
    return table.select(columns) if columns else table
