"""A synthetic run for the duplicate step at scale: staged shards of band keys and content sets,
no text, written straight into a run's staging as the shard step leaves them (tasks/shard/).

Paragraphs are word sequences over a vocabulary with Zipf-like use (common and rare words, so
the verifier's rarity has something to weigh). What a paragraph is follows from its row number,
so any shard can be made alone (in parallel) and a copy can name its source in another shard:

- sources: fresh sequences (a third of the rows);
- near copies of a source, anywhere in the run, at Jaccard 0.1-0.9 (words replaced in place, so
  word order survives); exact copies; copies inside the source's own document; copies that
  quote their source inside words of their own;
- short lines (no band keys: matched exactly), some repeated; boilerplate rule rows;
- a 10,000-long chain and one component of `giant` paragraphs: sequences that drift one word a
  step, each a copy of its few neighbours only;
- a hot bucket: `hot` paragraphs that share one band key and little else.

Band keys are simulated as MinHash makes them: a copy at Jaccard J keeps each of its source's
band keys with probability J ** rows (the rows of a band), else gets a key of its own; along a
drifting chain each band's key changes at a step with probability 1 - J_step ** rows.
A second run (`--run 2`) is made of new copies of the first run's sources, new sources and
exact copies: it is matched against the first run's index.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

from tasks.settings import DedupSettings
from tasks.shard import ShardResult
from tasks.shard.minhash import csr_to_list, fmix64
from tasks.store import Staging

VOCABULARY = 2_000_000
SEQ_MIN, SEQ_MAX = 12, 40
PARAGRAPHS_PER_DOC = 10
CHAIN = 10_000


@dataclass(frozen=True)
class Corpus:
    rows: int  # paragraphs of the run
    giant: int  # paragraphs of the one large component
    hot: int  # paragraphs of the hot bucket
    seed: int = 7
    run: int = 1  # 2: new paragraphs that copy the first run's
    first_rows: int = 0  # with run 2: the first run's rows (its sources are copied)

    def special(self) -> tuple[int, int, int]:
        """Where the chain, the giant component and the hot bucket start (rows): apart, in
        this order, with ordinary rows between them."""
        gap = self.rows // 50
        chain = gap
        giant = chain + CHAIN + gap
        hot = giant + self.giant + gap
        if hot + self.hot > self.rows:
            raise ValueError(f"a run of {self.rows:,} rows cannot hold a chain of {CHAIN:,}, "
                             f"a component of {self.giant:,} and a hot bucket of {self.hot:,}")
        return chain, giant, hot


def _mix(*values) -> np.ndarray:
    h = np.zeros(np.broadcast(*values).shape, np.uint64)
    for v in values:
        with np.errstate(over="ignore"):
            h = fmix64(h * np.uint64(0x9E3779B97F4A7C15) + np.asarray(v).astype(np.uint64))
    return h


def _uniform(*values) -> np.ndarray:
    return (_mix(*values) >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _words(seed: int, source: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Word ids (Zipf-like: a few common, most rare) of position `position` of sources."""
    u = _uniform(seed, 1, source, position)
    return np.minimum((VOCABULARY * u ** 3).astype(np.int64), VOCABULARY - 1)


def _length(seed: int, source: np.ndarray) -> np.ndarray:
    return SEQ_MIN + (_mix(seed, 2, source) % np.uint64(SEQ_MAX - SEQ_MIN)).astype(np.int64)


def kinds(corpus: Corpus, rows: np.ndarray) -> np.ndarray:
    """What each row is: 0 source, 1 near copy, 2 exact copy, 3 copy in the same document,
    4 quoting copy, 5 short line, 6 boilerplate, 7 chain, 8 giant component, 9 hot bucket."""
    u = _uniform(corpus.seed, 3, corpus.run, rows)
    kind = np.select([u < 0.33, u < 0.58, u < 0.66, u < 0.70, u < 0.74, u < 0.86],
                     [0, 1, 2, 3, 4, 5], 6)
    kind[rows % PARAGRAPHS_PER_DOC == 0] = 0  # what copies inside a document copy
    if corpus.run == 2:
        return kind
    chain, giant, hot = corpus.special()
    kind[(rows >= chain) & (rows < chain + CHAIN)] = 7
    kind[(rows >= giant) & (rows < giant + corpus.giant)] = 8
    kind[(rows >= hot) & (rows < hot + corpus.hot)] = 9
    return kind


def _sources_of(corpus: Corpus, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For copies: the source's run (1 or 2) and row: a row of kind 0 found by walking from a
    random row (of the first run, for most of a second run's copies)."""
    first = corpus.run == 2
    pick = _mix(corpus.seed, 4, corpus.run, rows)
    of_first = np.full(len(rows), first) & (_uniform(corpus.seed, 5, rows) < 0.8)
    span = np.where(of_first, corpus.first_rows, corpus.rows).astype(np.uint64)
    source = (pick % np.maximum(span, np.uint64(1))).astype(np.int64)
    run = np.where(of_first, 1, corpus.run)
    for _ in range(64):  # a source row: kind 0 (a row is one with probability 1/3)
        k = np.where(run == 1, kinds(Corpus(corpus.first_rows or corpus.rows, corpus.giant,
                                            corpus.hot, corpus.seed, 1), source),
                     kinds(corpus, source))
        move = k != 0
        if not move.any():
            break
        source[move] = (source[move] + 1) % span[move].astype(np.int64)
    return run, source


def _drift(seed: int, steps: np.ndarray, length: int = 24) -> np.ndarray:
    """Sequences of a chain that replaces one word a step: element t's words (t in `steps`)."""
    t_max = int(steps.max()) + 1
    position = (_mix(seed, 6, np.arange(t_max)) % np.uint64(length)).astype(np.int64)
    out = np.empty((len(steps), length), np.int64)
    for p in range(length):
        changed = np.flatnonzero(position == p)  # steps that replaced position p
        last = np.searchsorted(changed, steps, side="right") - 1
        word_step = np.where(last >= 0, changed[np.maximum(last, 0)], -1)
        out[:, p] = np.where(last >= 0, _words(seed, np.full(len(steps), 99), word_step),
                             _words(seed, np.full(len(steps), 98), np.full(len(steps), p)))
    return out


def _drift_keys(seed: int, steps: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(len(steps) x bands) keys along a drifting chain of 24-word sequences."""
    keep = (23 / 25) ** rows
    t_max = int(steps.max()) + 1
    out = np.empty((len(steps), bands), np.uint64)
    for band in range(bands):
        changes = np.cumsum(_uniform(seed, 8, band, np.arange(t_max)) > keep)
        out[:, band] = _mix(seed, 9, band, changes[steps])
    return out


def make_shard(corpus: Corpus, settings: DedupSettings, staging: Staging, shard: int,
               first: int, count: int) -> ShardResult:
    """Stage shard `shard`: rows [first, first + count) of the run. Every row's words are one
    row of a padded matrix (-1: no word), so the whole shard is made by array operations."""
    rows = np.arange(first, first + count, dtype=np.int64)
    kind = kinds(corpus, rows)
    doc = rows // PARAGRAPHS_PER_DOC
    ident = corpus.run * (1 << 40) + rows
    width = SEQ_MAX + 8
    words = np.full((count, width), -1, np.int64)
    keys = np.zeros((count, settings.bands), np.uint64)
    bands = np.arange(settings.bands)[None, :]

    # Sources, and every copy's source: its words and band keys.
    src = ident.copy()
    copy_like = np.isin(kind, [1, 2, 3, 4])
    if copy_like.any():
        run, row = _sources_of(corpus, rows[copy_like])
        src[copy_like] = run * (1 << 40) + row
    same_doc = kind == 3  # the source: the first row of the same document (a source)
    src[same_doc] = corpus.run * (1 << 40) + doc[same_doc] * PARAGRAPHS_PER_DOC
    base = np.isin(kind, [0, 1, 2, 3, 4])
    length = np.where(base, _length(corpus.seed, src), 0)
    positions = np.arange(SEQ_MAX)[None, :]
    source_words = _words(corpus.seed, src[:, None], positions)
    words[:, :SEQ_MAX] = np.where(positions < length[:, None], source_words, -1)
    keys[base] = _mix(corpus.seed, 10, src[base][:, None], bands)

    # Near copies: words replaced in place for a Jaccard of 0.1-0.9; band keys kept with
    # probability J ** rows. Quoting copies add words of their own around the quotation.
    near = np.flatnonzero(np.isin(kind, [1, 3, 4]))
    target = 0.1 + 0.8 * _uniform(corpus.seed, 11, ident[near])
    replaced = np.round(length[near] * (1 - target) / (1 + target)).astype(np.int64)
    draw = np.where(positions < length[near][:, None],
                    _uniform(corpus.seed, 12, ident[near][:, None], positions), 2.0)
    rank = np.argsort(np.argsort(draw, axis=1), axis=1)
    swap = rank < replaced[:, None]
    fresh_words = _words(corpus.seed, ident[near][:, None] + (1 << 50), positions)
    words[near, :SEQ_MAX] = np.where(swap, fresh_words, words[near, :SEQ_MAX])
    kept = _uniform(corpus.seed, 13, ident[near][:, None], bands) < \
        (target ** settings.rows)[:, None]
    keys[near] = np.where(kept, keys[near], _mix(corpus.seed, 14, ident[near][:, None], bands))
    quoting = np.flatnonzero(kind == 4)
    own_words = _words(corpus.seed, ident[quoting][:, None] + (1 << 51), np.arange(8)[None, :])
    ends = length[quoting]
    for extra in range(8):
        words[quoting, ends + extra] = own_words[:, extra]
    length[quoting] += 8

    # Short lines (some repeated often) and boilerplate rows: no band keys.
    short = np.flatnonzero(kind == 5)
    line = (_mix(corpus.seed, 15, rows[short]) % np.uint64(50_000)).astype(np.int64)
    words[short, :4] = _words(corpus.seed, -line[:, None] - 1000, np.arange(4)[None, :])
    length[short] = 4
    boiler = np.flatnonzero(kind == 6)
    words[boiler, :3] = _words(corpus.seed, -(rows[boiler] % 20)[:, None] - 10,
                               np.arange(3)[None, :])
    length[boiler] = 3
    # The chain and the giant component drift; the hot bucket shares one band.
    chain, giant, _ = corpus.special() if corpus.run == 1 else (0, 0, 0)
    for special, start, seed in ((7, chain, corpus.seed + 1), (8, giant, corpus.seed + 2)):
        at = np.flatnonzero(kind == special)
        if len(at):
            steps = rows[at] - start
            words[at, :24] = _drift(seed, steps)
            length[at] = 24
            keys[at] = _drift_keys(seed, steps, settings.bands, settings.rows)
    at = np.flatnonzero(kind == 9)
    hot_ident = (corpus.run + 5) * (1 << 40) + rows[at]
    hot_length = _length(corpus.seed, hot_ident)
    words[at, :SEQ_MAX] = np.where(positions < hot_length[:, None],
                                   _words(corpus.seed, hot_ident[:, None], positions), -1)
    length[at] = hot_length
    keys[at] = _mix(corpus.seed, 10, hot_ident[:, None], bands)
    keys[at, 3] = np.uint64(0x5EED)  # one band shared by every row of the hot bucket

    # The sets, as tasks/shard/normalize.py gives them (sorted distinct hashes).
    valid = words >= 0
    hashed = (fmix64(words.astype(np.uint64) + np.uint64(1)) >> np.uint64(32)).astype(np.uint32)
    content = _row_sets(hashed, valid)
    pair_valid = valid[:, 1:] & valid[:, :-1]
    pair_hash = (_mix(hashed[:, :-1], hashed[:, 1:]) >> np.uint64(32)).astype(np.uint32)
    skips = _row_sets(pair_hash, pair_valid)
    sizes = np.diff(content[1])
    has_keys = (sizes >= settings.min_words) & ~np.isin(kind, [5, 6])
    keys[~has_keys] = 0
    weights = _mix(np.arange(width))[None, :]
    with np.errstate(over="ignore"):
        norm = _mix(12345, (hashed.astype(np.uint64) * weights * valid).sum(axis=1,
                                                                          dtype=np.uint64))
    own_mask = np.zeros_like(valid)
    for extra in range(8):
        own_mask[quoting, length[quoting] - 8 + extra] = True
    own = _row_sets(hashed, own_mask)

    doc_ids = np.char.add(f"r{corpus.run}-d", doc.astype(str)).astype(object)
    para_index = (rows % PARAGRAPHS_PER_DOC).astype(np.int32)
    rule = np.where(kind == 6, "comment_form", None).astype(object)
    quoted = np.zeros(count, bool)
    quoted[quoting] = True
    table = pa.table({
        "doc_id": pa.array(doc_ids.tolist(), pa.string()),
        "para_index": pa.array(para_index),
        "para_id": pa.array([f"{d}:{i}" for d, i in zip(doc_ids.tolist(), para_index.tolist())]),
        "boilerplate_rule": pa.array(rule.tolist(), pa.string()),
        "template_key": pa.array(np.zeros(count, np.uint64)),
        "norm_hash": pa.array(norm),
        "has_keys": pa.array(has_keys),
        "content": csr_to_list(*content),
        "own_content": csr_to_list(*own, valid=quoted),
        "skip_pairs": csr_to_list(*skips),
        "numbers": csr_to_list(np.zeros(0, np.uint32), np.zeros(count + 1, np.int64)),
    })
    files = staging.shard(shard)
    files.directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, files.table("paragraphs"))
    np.save(files.band_keys, np.ascontiguousarray(keys.T))
    distinct = list(dict.fromkeys(doc_ids.tolist()))
    pq.write_table(pa.table({"doc_id": pa.array(distinct, pa.string()),
                             "site": pa.array([f"site{xxhash.xxh64_intdigest(d.encode()) % 97}"
                                               for d in distinct], pa.string())}),
                   files.table("documents"))
    result = ShardResult(shard, str(files.directory), len(distinct), count, 0, {})
    files.result.write_text(json.dumps(result.__dict__), encoding="utf-8")
    return result


def _row_sets(values: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a matrix, the sorted distinct values where `valid`, as CSR."""
    big = np.uint64(1) << np.uint64(32)
    padded = np.where(valid, values.astype(np.uint64), big)
    padded.sort(axis=1)
    keep = padded < big
    keep[:, 1:] &= padded[:, 1:] != padded[:, :-1]
    offsets = np.zeros(len(values) + 1, np.int64)
    np.cumsum(keep.sum(axis=1), out=offsets[1:])
    return padded[keep].astype(np.uint32), offsets
