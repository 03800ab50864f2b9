"""Site-template counts of earlier runs, kept in `clean/_index/templates/<run_id>.parquet`.

One row per (site, template key) with the number of the run's documents of that site holding the
line, and one row per site with key 0 and the run's number of documents of the site. A new run
adds up the earlier runs' rows and its own (tasks/shard/boilerplate/__init__.py, `find_site_templates`), so a
line a site repeats on every page is recognised even in a run that brings few of its pages.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.shard.boilerplate import TemplateCounts
from tasks.store import Layout, Staging

SCHEMA = pa.schema([("site", pa.string()), ("key", pa.uint64()), ("docs", pa.int64())])


def load_history(clean: Layout, site_codes: dict[str, int]) -> TemplateCounts:
    """Earlier runs' counts in this run's site codes (sites this run has not seen get new
    codes, which no paragraph of this run carries)."""
    paths = clean.index_files("templates")
    if not paths:
        return TemplateCounts.empty()
    table = pa.concat_tables([pq.read_table(p, schema=SCHEMA) for p in paths])
    codes = np.array([site_codes.setdefault(s, len(site_codes))
                      for s in table["site"].to_pylist()], dtype=np.int64)
    keys = table["key"].to_numpy()
    docs = table["docs"].to_numpy()
    total = keys == 0
    pairs = TemplateCounts(codes[~total], keys[~total], docs[~total], np.zeros(0, np.int64),
                           np.zeros(0, np.int64))
    sites = TemplateCounts(np.zeros(0, np.int64), np.zeros(0, np.uint64), np.zeros(0, np.int64),
                           codes[total], docs[total])
    return pairs + sites  # sums repeated (site, key) pairs and sites over the runs


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

