"""Speed and memory of near-duplicate detection, beside datasketch on the same paragraphs.

    python benchmarks/speed/minhash_speed.py ../shared/eval [--limit 300000] [--datasketch-sample 20000]

Paragraphs: the lines of corpus/web_fulltext.jsonl.gz (real web pages, navigation included),
split as the pipeline splits them. Reported per core: paragraphs divided by the CPU seconds of
this single process (numpy and Arrow run these steps on one thread).
1. text -> band keys: textwash's normalize + signatures + band_keys, against datasketch's
   per-object MinHash and MinHash.bulk over the same content-word sets and hash function
   (on a sample: they are two orders of magnitude slower).
2. band keys -> clusters: the cross_document step of `textwash run` (run_clean_corpus, one
   worker, on the paragraphs as one JSONL record per page, one paragraph per line): wall
   seconds of the step and of its parts from the run manifest (site templates, candidate
   search, verification, canonical assignment, index), against datasketch MinHashLSH insert +
   query on the sample (it only finds candidates: no verification, no clusters). The run's
   peak memory is measured by throughput.py.
3. memory: bytes per paragraph of what the duplicate step works from (band keys, the
   verifier's sets, hashes), most of it staged on disk during the step.
4. the cross-run index: lookup time of a new batch against 1, 2 and 3 earlier runs (band by
   band, as a run does it).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tasks.cross_document import history as dedup_index
from tasks.cross_document.duplicates import MAX_HEADS, sorted_unique
from tasks.settings import DedupSettings, Settings
from tasks.shard.minhash import band_keys, csr_to_list, signatures
from tasks.shard.normalize import STOPWORDS, content_hash32, normalize, words
from tasks.shard.paragraphs import split_text


def load_paragraphs(data_dir: str, limit: int) -> tuple[list[str], np.ndarray]:
    path = Path(data_dir) / "corpus" / "web_fulltext.jsonl.gz"
    if not path.is_file():
        sys.exit(f"corpus not found: {path} (pass the folder that holds corpus/)")
    texts, docs = [], []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for doc, line in enumerate(fh):
            for _, _, para in split_text(json.loads(line)["text"]):
                texts.append(para)
                docs.append(doc)
            if len(texts) >= limit:
                break
    return texts[:limit], np.array(docs[:limit])


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir")
    parser.add_argument("--limit", type=int, default=300_000, help="paragraphs (default 300,000)")
    parser.add_argument("--datasketch-sample", type=int, default=20_000)
    args = parser.parse_args(argv)
    pa.set_cpu_count(1)
    s = DedupSettings()

    texts, docs = load_paragraphs(args.data_dir, args.limit)
    n = len(texts)
    print(f"{n:,} paragraphs, {np.mean([len(t.split()) for t in texts]):.1f} words on average; "
          f"settings: {s.num_perm} permutations, {s.bands} bands x {s.rows} rows, "
          f"verifier min_score {s.min_score}, min_jaccard {s.min_jaccard}")

    # 1. text -> band keys
    def text_to_keys(batch):
        norm = normalize(batch)
        sigs, has = signatures(norm, s.num_perm, s.seed, s.min_words)
        keys = np.zeros((len(batch), s.bands), dtype=np.uint32)
        keys[has] = band_keys(sigs[has], s.bands, s.rows, s.seed)
        return norm, keys, has

    text_to_keys(texts[:1000])  # one-time costs (imports, permutations) are not throughput
    (norm, keys, has), wall, cpu = timed(lambda: text_to_keys(texts))
    print(f"\n1. text -> signature/band keys ({int(has.sum()):,} paragraphs with >= {s.min_words} "
          f"content words get a signature)")
    print(f"   textwash bulk          {n / cpu:>12,.0f} paragraphs/s/core  ({wall:.2f} s wall)")

    sample = min(args.datasketch_sample, n)
    sets = [sorted({w for w in ws if w not in STOPWORDS})
            for ws in words(texts[:sample]).to_pylist()]
    from datasketch import MinHash, MinHashLSH

    def per_object():
        out = []
        for ws in sets:
            m = MinHash(num_perm=s.num_perm, seed=s.seed, hashfunc=content_hash32)
            m.update_batch(ws)
            out.append(m)
        return out

    MinHash(num_perm=s.num_perm, seed=s.seed)  # warm-up
    sketches, _, cpu_obj = timed(per_object)
    _, _, cpu_bulk = timed(lambda: MinHash.bulk(sets, num_perm=s.num_perm, seed=s.seed,
                                                hashfunc=content_hash32))
    print(f"   datasketch MinHash     {sample / cpu_obj:>12,.0f} paragraphs/s/core  "
          f"(per object, {sample:,} paragraphs; words already split)")
    print(f"   datasketch .bulk       {sample / cpu_bulk:>12,.0f} paragraphs/s/core")

    # 2. band keys -> clusters, by the product's own step
    step = _cross_document_of_a_run(texts, docs)
    print(f"\n2. signature -> clusters, the cross_document step of textwash run "
          f"({step['candidate_pairs']:,} candidate pairs, {step['verified_pairs']:,} verified, "
          f"{step['duplicates']:,} duplicates)")
    print(f"   textwash               {n / step['seconds']:>12,.0f} paragraphs/s wall  "
          f"({step['seconds']:.2f} s wall; parts: {step['parts']})")

    def lsh_insert_query():
        lsh = MinHashLSH(threshold=s.min_jaccard, num_perm=s.num_perm)
        for i, m in enumerate(sketches):
            lsh.insert(i, m)
        return sum(len(lsh.query(m)) for m in sketches)

    _, _, cpu_lsh = timed(lsh_insert_query)
    print(f"   datasketch MinHashLSH  {sample / cpu_lsh:>12,.0f} paragraphs/s/core  "
          f"(insert + query, candidates only, {sample:,} paragraphs)")

    # 3. memory
    sets = {"content": (norm.content, norm.offsets), "own": (norm.own, norm.own_offsets),
            "skip pairs": (norm.skips, norm.skip_offsets),
            "numbers": (norm.numbers, norm.number_offsets)}
    set_bytes = {name: values.nbytes + offsets.nbytes for name, (values, offsets) in sets.items()
                 if name != "own" or norm.own is not norm.content}
    held = keys.nbytes + sum(set_bytes.values()) + norm.norm_hash.nbytes + docs.nbytes \
        + has.nbytes + norm.quoted.nbytes
    print(f"\n3. bytes per paragraph of what the duplicate step works from: {held / n:,.0f} "
          f"(band keys {keys.nbytes / n:,.0f}; the verifier's sets "
          + ", ".join(f"{name} {size / n:,.0f}" for name, size in set_bytes.items())
          + "; staged on disk, a range of pairs reads the ones it needs)")

    # 4. the index: a batch of new paragraphs against a growing history
    quarter = n // 4
    print("\n4. cross-run index lookup of a new batch of "
          f"{quarter:,} paragraphs (the last quarter) against earlier runs of {quarter:,} each")
    new = np.arange(3 * quarter, 4 * quarter)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for run in range(3):
            rows = np.arange(run * quarter, (run + 1) * quarter)
            writer = dedup_index.RunIndexWriter(root / "_staging", f"{run:05d}", run + 1, s)
            writer.add_entries(pa.table({
                "para_id": [f"r{run}:{i}" for i in rows],
                "doc_id": [str(docs[i]) for i in rows],
                "norm_hash": pa.array(norm.norm_hash[rows]),
                "content": _csr_rows(norm.content, norm.offsets, rows),
                "own_content": _csr_rows(norm.own, norm.own_offsets, rows),
                "skip_pairs": _csr_rows(norm.skips, norm.skip_offsets, rows),
                "numbers": _csr_rows(norm.numbers, norm.number_offsets, rows),
                "order": pa.array(rows - rows[0]),
            }))
            with_keys = np.flatnonzero(has[rows])
            writer.finish(lambda band, rows=rows, with_keys=with_keys:
                          (with_keys, keys[rows[with_keys], band]))
            for kind in ("entries", "bands", "exact"):
                (root / "_index" / kind).mkdir(parents=True, exist_ok=True)
                (root / "_staging" / "index" / kind / f"{run:05d}.parquet").rename(
                    root / "_index" / kind / f"{run:05d}.parquet")
            (_, matched), wall, cpu = timed(lambda: _lookup(root, s, keys[new][has[new]],
                                                            norm.norm_hash[new]))
            print(f"   {run + 1} earlier run(s): {wall:.2f} s wall, {cpu:.2f} s CPU, "
                  f"{matched:,} earlier paragraphs matched")
    return 0


def _cross_document_of_a_run(texts: list[str], docs: np.ndarray) -> dict:
    """`textwash run` on the paragraphs (one JSONL record per page, a paragraph per line) in a
    temporary folder, one worker; the cross_document step's figures from its manifest."""
    from flows.clean_corpus import run_clean_corpus

    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw"
        raw.mkdir()
        with (raw / "pages.jsonl").open("w", encoding="utf-8") as fh:
            starts = np.flatnonzero(np.concatenate(([True], docs[1:] != docs[:-1])))
            for a, b in zip(starts, [*starts[1:], len(texts)]):
                fh.write(json.dumps({"text": "\n".join(texts[a:b])}) + "\n")
        manifest = run_clean_corpus(Settings.model_validate({
            "raw": str(raw), "clean": str(Path(tmp) / "clean"),
            "runtime": {"workers": 1, "task_runner": "thread"}}))
    counts = manifest["counts"]
    return {"seconds": manifest["seconds"]["cross_document"],
            "parts": {k: round(v, 2) for k, v in manifest["cross_document_seconds"].items()},
            "candidate_pairs": counts["candidate_pairs"], "verified_pairs": counts["verified_pairs"],
            "duplicates": counts["duplicates"]}


def _lookup(root: Path, s: DedupSettings, keys: np.ndarray, norm_hash: np.ndarray):
    """What a run does with the index: per band, the distinct new keys looked up; exact keys;
    the matched entries read."""
    history = dedup_index.History(root, s)
    ids = []
    for band in range(s.bands):
        found, _ = history.band_matches(band, sorted_unique(keys[:, band]), MAX_HEADS)
        ids.append(found)
    exact, _ = history.exact_matches(np.sort(norm_hash[norm_hash != 0]))
    involved = np.unique(np.concatenate([*ids, exact]))
    return involved, history.entries(involved).num_rows


def _csr_rows(values: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> pa.Array:
    sizes = offsets[rows + 1] - offsets[rows]
    starts = np.repeat(offsets[rows] - (np.cumsum(sizes) - sizes), sizes)
    flat = values[starts + np.arange(int(sizes.sum()))]
    return csr_to_list(flat, np.concatenate(([0], np.cumsum(sizes))))


if __name__ == "__main__":
    sys.exit(main())
