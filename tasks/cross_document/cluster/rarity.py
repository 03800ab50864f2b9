"""The run's word rarity on the cluster (the verifier's evidence, tasks/cross_document/verifier.py
`WordRarity`): how many representatives hold each content word, counted per partition of
words, and looked up by the verification tasks for the words of their pairs only.

- `send_words` (per shard): the representatives' content words, by word;
- `count_words` (per partition): the sorted vocabulary and its counts, `rarity/p<part>.npy`;
- `rarity_of`: a `WordRarity` for the given words, read from those files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tasks import npy
from tasks.cross_document.cluster.exact import representatives
from tasks.cross_document.cluster.exchange import partition_of
from tasks.cross_document.cluster.job import Job
from tasks.cross_document.verifier import WordRarity
from tasks.shard.minhash import content_csr, fmix64

WORDS = pa.schema([("word", pa.uint32())])


def word_partition(words: np.ndarray, parts: int) -> np.ndarray:
    return partition_of(fmix64(np.asarray(words).astype(np.uint64)), parts)


def send_words(job: Job, shard: int) -> None:
    reps = representatives(job, shard)
    if not len(reps):
        return
    content = pq.read_table(job.shard_files(shard).table("paragraphs"), columns=["content"])
    values, _ = content_csr(content["content"].take(pa.array(reps - job.first_row(shard))))
    job.exchange("words").write(shard, word_partition(values, job.parts),
                                pa.table({"word": values}, schema=WORDS))


def count_words(job: Job, part: int) -> None:
    words = job.exchange("words").read(part, WORDS)["word"].to_numpy()
    vocabulary, df = np.unique(words, return_counts=True)
    _save(job, part, vocabulary, df.astype(np.int64))


def rarity_of(job: Job, words: np.ndarray, representatives_counted: int) -> WordRarity:
    """The run's rarity of `words` (any order, repeats allowed): a WordRarity that knows them
    (and answers 0 for any other word, as for a word the run never saw)."""
    words = np.unique(np.asarray(words, dtype=np.uint32))
    df = np.zeros(len(words), dtype=np.int64)
    part_of = word_partition(words, job.parts)
    for part in np.unique(part_of).tolist():
        at = np.flatnonzero(part_of == part)
        vocabulary, counts = _load(job, part)
        if not len(vocabulary):
            continue
        where = np.minimum(np.searchsorted(vocabulary, words[at]), len(vocabulary) - 1)
        df[at] = np.where(vocabulary[where] == words[at], counts[where], 0)
    return WordRarity(words, df, representatives_counted)


def _path(job: Job, part: int) -> Path:
    return Path(job.work) / "rarity" / f"p{part:05d}.npy"


def _save(job: Job, part: int, vocabulary: np.ndarray, df: np.ndarray) -> None:
    path = _path(job, part)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp.npy")
    np.save(temporary, np.concatenate([vocabulary.astype(np.int64), df]))
    temporary.replace(path)


def _load(job: Job, part: int) -> tuple[np.ndarray, np.ndarray]:
    path = _path(job, part)
    if not path.is_file():
        return np.zeros(0, np.uint32), np.zeros(0, np.int64)
    both = npy.load(path, mmap_mode="r")
    n = len(both) // 2
    return np.asarray(both[:n]).astype(np.uint32), np.asarray(both[n:])
