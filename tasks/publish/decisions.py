"""The keep policy over a shard's columns: each paragraph's drop reason, each document's
columns (kept text, counts, language, drop reason), column by column rather than row by row.

Paragraph drop reasons, first match wins: boilerplate, duplicate, machine_translation (the
document's mt_score is above policy.max_mt_score), language (not in policy.keep_languages).
A document's own reason (`document_drop_reasons`): machine_translation when the policy drops
it whole; else, when none of its paragraphs is kept, the paragraph reason that removed most of
its characters (a tie goes to the reason tried first); no_content only for a document without
paragraphs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks import reasons as reasons_
from tasks.settings import PolicySettings
from tasks.shard.language import document_languages

PARAGRAPH_SEPARATOR = "\n\n"
PARAGRAPH_REASONS = reasons_.PARAGRAPH_DROP_REASONS  # in the order they are tried
_KEPT = -1  # reason code of a kept paragraph


def as_strings(codes: np.ndarray, names: tuple[str, ...] | list[str]) -> pa.Array:
    """A string column from codes into `names`; a negative code is null."""
    valid = codes >= 0
    return pa.DictionaryArray.from_arrays(
        pa.array(np.where(valid, codes, 0).astype(np.int32), mask=~valid),
        pa.array(list(names), pa.string())).cast(pa.string()) if len(names) else \
        pa.nulls(len(codes), pa.string())


def _mask(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=bool)


def paragraph_reasons(rules: pa.Array, dup_of: pa.Array, doc_mt: np.ndarray, langs: pa.Array,
                      policy: PolicySettings) -> np.ndarray:
    """Each paragraph's drop reason as a code into PARAGRAPH_REASONS, _KEPT (-1) when kept."""
    allowed = policy.keep_languages
    tests = [
        _mask(rules.is_valid()) & policy.drop_boilerplate,
        _mask(dup_of.is_valid()) & policy.drop_duplicates,
        (doc_mt > policy.max_mt_score) if policy.max_mt_score is not None
        else np.zeros(len(doc_mt), bool),
        ~_mask(pc.fill_null(pc.is_in(langs, value_set=pa.array(allowed, pa.string())), False))
        if allowed else np.zeros(len(doc_mt), bool),
    ]
    codes = np.full(len(doc_mt), _KEPT, dtype=np.int64)
    for code in reversed(range(len(tests))):  # the first reason that applies wins
        codes[tests[code]] = code
    return codes


@dataclass
class DocumentColumns:
    """Per document of the shard's documents table, in its order."""

    lang: pa.Array
    lang_score: np.ndarray  # float64
    text: pa.Array
    n_paragraphs: np.ndarray
    n_kept: np.ndarray
    n_boilerplate: np.ndarray
    n_duplicate: np.ndarray
    keep: np.ndarray
    drop_reason: pa.Array


def document_columns(doc: np.ndarray, n_docs: int, texts: pa.Array, lengths: np.ndarray,
                     langs: pa.Array, scores: np.ndarray, is_rule: np.ndarray,
                     is_dup: np.ndarray, reasons: np.ndarray, mt_dropped: np.ndarray
                     ) -> DocumentColumns:
    """`doc`: each paragraph's document number (rows of a document in their order); the
    document's language is taken from its kept paragraphs, from those no rule took when none is
    kept, from all when every one was boilerplate."""
    kept = reasons == _KEPT

    def count(rows) -> np.ndarray:  # paragraphs per document among `rows`
        return np.bincount(doc[rows], minlength=n_docs)

    n_paragraphs, n_kept = count(slice(None)), count(kept)
    n_boilerplate, n_duplicate = count(is_rule), count(is_dup)
    basis = np.where((n_kept > 0)[doc], kept, np.where((count(~is_rule) > 0)[doc], ~is_rule,
                                                         True))
    lang, lang_score = document_languages(doc, n_docs, langs, lengths, basis, scores)
    order = np.flatnonzero(kept)[np.argsort(doc[kept], kind="stable")]
    joined = pc.binary_join(pa.ListArray.from_arrays(
        pa.array(np.concatenate(([0], np.cumsum(n_kept))).astype(np.int32)),
        texts.take(pa.array(order))), PARAGRAPH_SEPARATOR)
    return DocumentColumns(lang, lang_score, joined, n_paragraphs, n_kept, n_boilerplate,
                           n_duplicate, (n_kept > 0) & ~mt_dropped,
                           document_drop_reasons(doc, n_docs, reasons, lengths, mt_dropped))


def document_drop_reasons(doc: np.ndarray, n_docs: int, reasons: np.ndarray,
                          lengths: np.ndarray, mt_dropped: np.ndarray) -> pa.Array:
    """Each document's drop reason (null = kept): see the module's docstring."""
    n_reasons = len(PARAGRAPH_REASONS)
    dropped = np.flatnonzero(reasons != _KEPT)
    cell = doc[dropped] * n_reasons + reasons[dropped]
    removed = np.bincount(cell, weights=lengths[dropped].astype(np.float64),
                          minlength=n_docs * n_reasons).reshape(n_docs, n_reasons)
    present = np.bincount(cell, minlength=n_docs * n_reasons).reshape(n_docs, n_reasons) > 0
    most = np.where(present, removed, -1.0).argmax(axis=1)  # ties: the reason tried first
    n_paragraphs = np.bincount(doc, minlength=n_docs)
    any_kept = np.bincount(doc[reasons == _KEPT], minlength=n_docs) > 0
    names = (*PARAGRAPH_REASONS, reasons_.NO_CONTENT)
    code = np.where(any_kept, -1, most)
    code = np.where(n_paragraphs == 0, n_reasons, code)
    code = np.where(mt_dropped, PARAGRAPH_REASONS.index(reasons_.MACHINE_TRANSLATION), code)
    return as_strings(code, names)
