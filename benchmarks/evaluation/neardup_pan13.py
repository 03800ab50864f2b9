"""Near-duplicate paragraphs on PAN13: textwash beside datasketch used the usual way.

    python benchmarks/neardup_pan13.py ../shared/eval [--threshold 0.3] [--no-baseline]

The task (see pan13_paragraphs.py): every reused passage and its source passage as two
paragraphs, the rest of the source documents cut into distractor passages. textwash runs its
own pipeline functions (normalize -> signatures -> find_duplicates, default settings), then each
predicted pair (paragraph, its canonical) is right when the two are, or were made from, one
stretch of a document. Recall per kind: the reused passage and its source end up in one cluster.
The baseline is what the required packages suggest: datasketch MinHash (128 permutations) of word
5-gram shingles in MinHashLSH at threshold 0.8, every pair the index returns taken as found.

Results are printed for half 0 (used for tuning), half 1 (held out) and both.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pan13_paragraphs import KINDS, Task, build_task, is_right

from tasks.cross_document.duplicates import DedupInput, find_duplicates
from tasks.settings import DedupSettings
from tasks.shard.minhash import band_keys, signatures
from tasks.shard.normalize import normalize


def textwash_pairs(task: Task, settings: DedupSettings) -> tuple[list[tuple[int, int]], np.ndarray, dict]:
    texts = [p.text for p in task.paragraphs]
    start = time.perf_counter()
    norm = normalize(texts)
    sigs, has = signatures(norm, settings.num_perm, settings.seed, settings.min_words)
    keys = band_keys(sigs, settings.bands, settings.rows, settings.seed)
    t_sig = time.perf_counter() - start
    docs = {d: i for i, d in enumerate(sorted({p.doc for p in task.paragraphs}))}
    start = time.perf_counter()
    dups = find_duplicates(DedupInput(
        norm_hash=norm.norm_hash, band_keys=keys, has_keys=has, content=norm.content,
        content_offsets=norm.offsets, own=norm.own, own_offsets=norm.own_offsets,
        quoted=norm.quoted, doc=np.array([docs[p.doc] for p in task.paragraphs])), settings)
    t_dup = time.perf_counter() - start
    pairs = [(int(j), int(i)) for i, j in enumerate(dups.dup_of) if j >= 0]
    return pairs, dups.cluster, {"text_to_signature_s": t_sig, "clustering_s": t_dup,
                                 "candidate_pairs": dups.candidate_pairs,
                                 "verified_pairs": dups.verified_pairs}


def baseline_pairs(task: Task) -> tuple[list[tuple[int, int]], dict]:
    from datasketch import MinHash, MinHashLSH

    from tasks.shard.normalize import words

    start = time.perf_counter()
    lists = words([p.text for p in task.paragraphs]).to_pylist()
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    sketches = []
    for i, toks in enumerate(lists):
        m = MinHash(num_perm=128)
        shingles = {" ".join(toks[k:k + 5]) for k in range(max(len(toks) - 4, 1))}
        m.update_batch([s.encode("utf-8") for s in shingles])
        lsh.insert(i, m)
        sketches.append(m)
    found = set()
    for i, m in enumerate(sketches):
        for j in lsh.query(m):
            if j != i:
                found.add((min(i, j), max(i, j)))
    return sorted(found), {"seconds": time.perf_counter() - start}


def score(task: Task, pairs, same_cluster, half: int | None) -> dict:
    """Precision of the predicted pairs and recall per kind, on one half or both (None)."""
    paragraphs = task.paragraphs
    in_half = (lambda i: paragraphs[i].half == half) if half is not None else (lambda i: True)
    judged = [is_right(paragraphs[i], paragraphs[j]) for i, j in pairs if in_half(min(i, j))]
    found, total = Counter(), Counter()
    for s, t, kind, h in task.true_pairs:
        if half is not None and h != half:
            continue
        total[kind] += 1
        found[kind] += bool(same_cluster(s, t))
    out = {"pairs": len(judged), "precision": (sum(judged) / len(judged)) if judged else float("nan")}
    for kind in KINDS:
        out[kind] = found[kind] / total[kind] if total[kind] else float("nan")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", help="folder that holds pan13/ (e.g. ../shared/eval)")
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args(argv)

    task = build_task(args.data_dir)
    print(f"PAN13 paragraphs: {len(task.paragraphs):,} ({len(task.true_pairs):,} reused passages "
          f"and their sources, the rest distractors); pairs by kind: "
          f"{dict(Counter(k for *_, k, _ in task.true_pairs))}")
    settings = DedupSettings() if args.threshold is None else DedupSettings(threshold=args.threshold)
    pairs, cluster, info = textwash_pairs(task, settings)
    results = {"textwash": (pairs, lambda s, t: cluster[s] >= 0 and cluster[s] == cluster[t])}
    print(f"textwash (threshold {settings.threshold}): {info}")
    if not args.no_baseline:
        base, binfo = baseline_pairs(task)
        found = set(base)
        results["datasketch 5-gram LSH 0.8"] = (base, lambda s, t: (min(s, t), max(s, t)) in found)
        print(f"baseline: {binfo}")

    header = f"{'method':28} {'half':>5} {'pairs':>6} {'precision':>9} " + " ".join(
        f"{k:>17}" for k in KINDS)
    print(header)
    for name, (p, same) in results.items():
        for half in (0, 1, None):
            r = score(task, p, same, half)
            label = "both" if half is None else str(half)
            print(f"{name:28} {label:>5} {r['pairs']:>6} {r['precision']:>9.4f} " + " ".join(
                f"{r[k]:>17.3f}" for k in KINDS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
