"""The boilerplate tuning protocol (benchmarks/training/train_boilerplate_model.py): held-out
pages are in no fold, a source's pages share a fold, a page is never split, and a page's site is
told from its title. Small made-up data sets: the labelled data is not needed."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from benchmarks.evaluation.boilerplate_eval import HELD_OUT, TUNE, Dataset, l3s_site
from benchmarks.training.train_boilerplate_model import FOLDS, fold_of


def _dataset(name: str, pages: list[tuple[str, str, int]], lines_per_page: int = 3) -> Dataset:
    """pages: (page id, source, half); each page gets lines_per_page rows."""
    docs = [p for p, _, _ in pages for _ in range(lines_per_page)]
    sources = np.array([s for _, s, _ in pages for _ in range(lines_per_page)])
    half = np.array([h for _, _, h in pages for _ in range(lines_per_page)])
    n = len(docs)
    table = pa.table({"doc_id": docs, "para_index": pa.array([0] * n, pa.int32()),
                      "text": ["line"] * n})
    return Dataset(name, table, np.ones(n, bool), half, np.ones(n, bool), np.zeros(n, int),
                   sources)


def test_held_out_rows_are_in_no_fold_and_sources_share_one():
    families = ["cleaneval", "dragnet", "big9", "chaos", "readability", "scrapinghub-aeb",
                "cleanportaleval"]
    pages = [(f"{fam}/{i}", fam, i % 2) for fam in families for i in range(6)]
    ds = _dataset("lines_gold", pages)
    fold = fold_of(ds, "source")
    assert (fold[ds.half == HELD_OUT] == -1).all()
    tuning = ds.half == TUNE
    for fam in families:
        assert len(set(fold[tuning & (ds.source == fam)].tolist())) == 1
    # seven families, seven folds: each family is scored by a model that saw none of it
    assert len(set(fold[tuning].tolist())) == FOLDS


def test_page_folds_keep_a_page_whole_and_spread_pages():
    pages = [(f"page{i}", "one site", TUNE) for i in range(70)]
    ds = _dataset("l3s", pages)
    fold = fold_of(ds, "page")
    docs = np.array(ds.paragraphs["doc_id"].to_pylist())
    for page in set(docs.tolist()):
        assert len(set(fold[docs == page].tolist())) == 1
    assert len(set(fold.tolist())) > 1
    assert len(set(fold_of(ds, "source").tolist())) == 1  # one site: one fold


def test_l3s_site_from_the_title():
    assert l3s_site("Apple updates MacPros | APC Magazine", "d1") == "apc magazine"
    assert l3s_site("`Atonement' Up for British Film Awards - washingtonpost.com", "d2") == \
        "washingtonpost.com"
    assert l3s_site("News | Africa - Reuters.com", "d3") == "reuters.com"
    # no site to tell: the page is its own group
    assert l3s_site("Home", "d4") == "d4"
    assert l3s_site("Polish Parliament Confirms Government of New Prime Minister", "d5") == "d5"
