"""Phase 2 of the run-wide step: site templates, the lines a site repeats on many of its pages,
among the lines no per-shard rule took; and the counts they are found from, kept per run in
`clean/_index/templates/<run_id>.parquet` (compaction adds runs' counts up into one file:
`merge_counts`).

One row per (site, template key) with the number of the run's documents of that site holding the
line, and one row per site with key 0 and the run's number of documents of the site. A new run
adds up the earlier runs' rows and its own (tasks/shard/boilerplate/__init__.py,
`find_site_templates`), so a line a site repeats on every page is recognised even in a run that
brings few of its pages. It reads the earlier counts of its own sites only.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.cross_document.rows import RunRows
from tasks.settings import BoilerplateSettings
from tasks.shard.boilerplate import TemplateCounts, find_site_templates, template_counts
from tasks.store import Layout, Staging

SCHEMA = pa.schema([("site", pa.string()), ("key", pa.uint64()), ("docs", pa.int64())])
_ROW_GROUP = 65_536  # rows per row group of a merged file: a lookup skips other sites' groups


def site_templates(rows: RunRows, site_of_doc: dict[str, str], repeated: np.ndarray,
                   settings: BoilerplateSettings, clean: Layout, staging: Staging) -> np.ndarray:
    """Per row: a site template line. Counted with the earlier runs' counts in `clean`; this
    run's counts are staged. Lines a rule took and rows of repeated ids take no part. Drops
    `rows.template_key`."""
    site_names: dict[str, int] = {}
    doc_site = np.array([site_names.setdefault(site_of_doc[d], len(site_names))
                         for d in rows.doc_names], dtype=np.int64)
    keys = rows.template_key
    rows.template_key = None
    keys[rows.boilerplate | repeated] = 0
    earlier = load_history(clean, dict(site_names))
    site_of_row = doc_site[rows.doc]
    counts = template_counts(site_of_row, rows.doc, keys)
    templates = find_site_templates(site_of_row, rows.doc, keys, settings, earlier, counts)
    stage_run(staging, counts, list(site_names))
    return templates


def load_history(clean: Layout, site_codes: dict[str, int]) -> TemplateCounts:
    """Earlier runs' counts of this run's sites, in this run's site codes (`site_codes`: name ->
    code, codes 0..n-1). Only their rows are read (the files are sorted by site: row groups of
    other sites are skipped)."""
    paths = clean.index_files("templates")
    if not paths or not site_codes:
        return TemplateCounts.empty()
    sites = pa.array(sorted(site_codes), type=pa.string())
    table = pa.concat_tables([pq.read_table(p, schema=SCHEMA, filters=pc.field("site").isin(sites))
                              for p in paths])
    # Every site read is one of `site_codes` (the filter), whose codes are their order.
    codes = pc.index_in(table["site"], value_set=sites_in_code_order(site_codes)) \
        .to_numpy(zero_copy_only=False).astype(np.int64)
    keys = table["key"].to_numpy()
    docs = table["docs"].to_numpy()
    total = keys == 0
    pairs = TemplateCounts(codes[~total], keys[~total], docs[~total], np.zeros(0, np.int64),
                           np.zeros(0, np.int64))
    sites = TemplateCounts(np.zeros(0, np.int64), np.zeros(0, np.uint64), np.zeros(0, np.int64),
                           codes[total], docs[total])
    return pairs + sites  # sums repeated (site, key) pairs and sites over the runs


def sites_in_code_order(site_codes: dict[str, int]) -> pa.Array:
    names = [""] * len(site_codes)
    for name, code in site_codes.items():
        names[code] = name
    return pa.array(names, type=pa.string())


def stage_run(staging: Staging, counts: TemplateCounts, site_names: list[str]) -> None:
    names = np.array(site_names, dtype=object)
    table = pa.table({
        "site": pa.array(np.concatenate([names[counts.sites], names[counts.site_codes]]).tolist(),
                         type=pa.string()),
        "key": pa.array(np.concatenate([counts.keys, np.zeros(len(counts.site_codes),
                                                               np.uint64)]), type=pa.uint64()),
        "docs": pa.array(np.concatenate([counts.docs, counts.site_docs]), type=pa.int64()),
    }, schema=SCHEMA)
    path = staging.index_file("templates")
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.sort_by([("site", "ascending"), ("key", "ascending")]), path,
                   compression="zstd")



def merge_counts(layout: Layout, names: list[str], merged: str) -> None:
    """Merge runs' count files (compaction, tasks/publish/compaction.py): counts of the same
    (site, key) added up, as `load_history` adds them."""
    table = pa.concat_tables([pq.read_table(layout.index_file("templates", name), schema=SCHEMA)
                              for name in names])
    summed = table.group_by(["site", "key"]).aggregate([("docs", "sum")])
    summed = pa.table({"site": summed["site"], "key": summed["key"], "docs": summed["docs_sum"]},
                      schema=SCHEMA)
    pq.write_table(summed.sort_by([("site", "ascending"), ("key", "ascending")]),
                   layout.index_file("templates", merged), compression="zstd",
                   row_group_size=_ROW_GROUP)
    for name in names:
        layout.index_file("templates", name).unlink()
