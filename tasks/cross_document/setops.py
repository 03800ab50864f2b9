"""Intersections of sorted sets, pair by pair, in bulk: what the duplicate verifier spends its
time on (every candidate pair's content words, skip pairs, own words and numbers).

The loop is compiled (tasks/cross_document/_setops.c, built by `pip install` with the system's C
compiler): a merge of two sorted rows per pair, with no temporaries. This module checks the
arguments, so a wrong row number is an error here, not a read out of bounds there.
"""

from __future__ import annotations

import numpy as np

from tasks.cross_document import _setops

CSR = tuple[np.ndarray, np.ndarray]  # (sorted distinct uint32 values per row, int64 offsets)


def intersections(a: CSR, a_rows: np.ndarray, b: CSR, b_rows: np.ndarray,
                  a_weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """|A ∩ B| of set a_rows[k] of CSR `a` and set b_rows[k] of CSR `b`, and with `a_weights`
    (one row of weights per element of a's values) the summed weights of the shared elements
    (pairs x weight columns), added in a's order."""
    a_values, a_offsets, a_rows = _checked(a, a_rows, "a")
    b_values, b_offsets, b_rows = _checked(b, b_rows, "b")
    if len(a_rows) != len(b_rows):
        raise ValueError(f"{len(a_rows)} rows of a for {len(b_rows)} rows of b")
    inter = np.empty(len(a_rows), dtype=np.int64)
    if a_weights is None:
        _setops.counts(a_values, a_offsets, a_rows, b_values, b_offsets, b_rows, inter)
        return inter, None
    a_weights = np.ascontiguousarray(a_weights, dtype=np.float64)
    if a_weights.ndim != 2 or len(a_weights) != len(a_values):
        raise ValueError(f"weights of shape {a_weights.shape} for {len(a_values)} values of a")
    weighted = np.empty((len(a_rows), a_weights.shape[1]), dtype=np.float64)
    _setops.weighted(a_values, a_offsets, a_rows, b_values, b_offsets, b_rows, a_weights,
                     a_weights.shape[1], inter, weighted)
    return inter, weighted


def jaccard_between(a: CSR, a_rows: np.ndarray, b: CSR, b_rows: np.ndarray) -> np.ndarray:
    """Jaccard of set a_rows[k] of CSR `a` and set b_rows[k] of CSR `b` (0 for two empty sets)."""
    inter, _ = intersections(a, a_rows, b, b_rows)
    union = np.diff(a[1])[a_rows] + np.diff(b[1])[b_rows] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0).astype(np.float32)


def _checked(sets: CSR, rows: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    values = np.ascontiguousarray(sets[0], dtype=np.uint32)
    offsets = np.ascontiguousarray(sets[1], dtype=np.int64)
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    if len(offsets) == 0 or offsets[0] != 0 or offsets[-1] != len(values) \
            or (np.diff(offsets) < 0).any():
        raise ValueError(f"offsets of {name} do not span its {len(values)} values in order")
    if len(rows) and (rows.min() < 0 or rows.max() >= len(offsets) - 1):
        raise ValueError(f"rows of {name} out of range: {len(offsets) - 1} sets")
    return values, offsets, rows
