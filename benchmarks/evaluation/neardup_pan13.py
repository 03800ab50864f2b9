"""Near-duplicate paragraphs on PAN13: `textwash run` beside datasketch used the usual way.

    python benchmarks/evaluation/neardup_pan13.py ../shared/eval [--min-score 0.5]
        [--quotes-need-own-words] [--no-baseline] [--why-missed 0] [--work DIR]

The task (see pan13_paragraphs.py): every reused passage and its source passage as two
paragraphs, the rest of the source documents cut into distractor passages. The passages are
given to textwash as a user gives text: one JSONL record per PAN13 document, one passage per
line (source documents in the first file, suspicious ones in the second, so sources come first),
and `textwash run`'s own flow (run_clean_corpus, default settings but the [dedup] flags
given) cleans them. Scored as a reader reads the output: every two paragraphs that share a
`dup_cluster` are claimed copies, right when the two are, or were made from, one stretch of a
document. Recall per kind: the reused passage and its source end up in one cluster. Passages the run tags as
boilerplate are not deduplicated, as in any run. The baseline is what the required packages
suggest: datasketch MinHash (128 permutations) of word 5-gram shingles in MinHashLSH at
threshold 0.8, every pair the index returns taken as found.

Results are printed for half 0 (used for tuning), half 1 (held out) and both; with
`--why-missed 0`, where the missed copies of the tuning half went.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from dedup_flags import add_dedup_flags, dedup_settings, describe
from pan13_paragraphs import KINDS, Task, build_task, is_right

from tasks.settings import Settings


def write_inputs(task: Task, raw: Path) -> dict[tuple[str, int], int]:
    """One JSONL record per document, one passage per line; returns (document, line) -> the
    passage's index in the task."""
    by_doc: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(task.paragraphs):  # canonical order: sources first, then by offset
        by_doc[p.doc].append(i)
    where = {}
    raw.mkdir(parents=True, exist_ok=True)
    files = {True: raw / "0-sources.jsonl", False: raw / "1-suspicious.jsonl"}
    out = {k: v.open("w", encoding="utf-8") for k, v in files.items()}
    for doc, rows in by_doc.items():
        text = "\n".join(task.paragraphs[i].text for i in rows)
        out[doc.startswith("source")].write(json.dumps({"id": doc, "text": text}) + "\n")
        where.update({(doc, line): i for line, i in enumerate(rows)})
    for fh in out.values():
        fh.close()
    return where


def textwash_clusters(task: Task, dedup: dict, work: Path
                      ) -> tuple[list[tuple[int, int]], dict[int, str], dict[int, str], dict]:
    """Run textwash on the task; the claimed pairs (every two paragraphs of one dup_cluster),
    each passage's cluster and each tagged passage's boilerplate rule, as task indexes."""
    import pyarrow.dataset as ds

    from flows.clean_corpus import run_clean_corpus
    from tasks import schema

    where = write_inputs(task, work / "raw")
    start = time.perf_counter()
    manifest = run_clean_corpus(Settings.model_validate(
        {"raw": str(work / "raw"), "clean": str(work / "clean"), "dedup": dedup}))
    seconds = time.perf_counter() - start
    docs = ds.dataset(work / "clean" / "documents", schema=schema.DOCUMENTS).to_table(
        columns=["doc_id", "input_id"]).to_pylist()
    doc_of = {d["doc_id"]: d["input_id"] for d in docs}
    paras = ds.dataset(work / "clean" / "paragraphs", schema=schema.PARAGRAPHS).to_table(
        columns=["doc_id", "para_index", "text", "dup_cluster", "boilerplate_rule"]).to_pylist()
    cluster_of, rule_of, members = {}, {}, defaultdict(list)
    for p in paras:
        i = where[(doc_of[p["doc_id"]], p["para_index"])]
        if p["boilerplate_rule"] is not None:
            rule_of[i] = p["boilerplate_rule"]
        if p["dup_cluster"] is not None:
            cluster_of[i] = p["dup_cluster"]
            members[p["dup_cluster"]].append(i)
    if len(paras) != len(task.paragraphs):  # one paragraph per passage, or the mapping is off
        sys.exit(f"{len(paras)} paragraphs came back for {len(task.paragraphs)} passages")
    pairs = [pair for rows in members.values() for pair in itertools.combinations(sorted(rows), 2)]
    counts = manifest["counts"]
    return pairs, cluster_of, rule_of, {"seconds": round(seconds, 1), "clusters": len(members),
                                        "paragraphs_in_clusters": len(cluster_of),
                                        "boilerplate_paragraphs": len(rule_of),
                                        "candidate_pairs": counts.get("candidate_pairs"),
                                        "verified_pairs": counts.get("verified_pairs")}


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
        out[f"{kind} found"] = f"{found[kind]}/{total[kind]}"
    return out


def why_missed(task: Task, cluster_of: dict[int, str], rule_of: dict[int, str], dedup: dict,
               half: int) -> None:
    """Where the copies of one half that the run did not put in one cluster went, by kind: the
    pair is scored again with the product's own functions (the shard stage's sets, the
    verifier, its rules). The word rarity is counted over all passages with a signature, as
    the run counts it over its paragraphs (not exactly: the run counts one row per exact group)."""
    import numpy as np
    import pyarrow as pa

    from tasks.cross_document.duplicates import take_rows
    from tasks.cross_document.staged_sets import sets_of_table
    from tasks.cross_document.verifier import WordRarity, are_copies, load_verifier, pair_features
    from tasks.shard.minhash import minhash

    settings = Settings.model_validate({"dedup": dedup}).dedup
    sets = sets_of_table(minhash(pa.table({"text": [p.text for p in task.paragraphs]}), settings))
    sizes = sets.sizes("content")
    with_sets = np.flatnonzero(sizes >= settings.min_words)
    rarity = WordRarity.of(take_rows(*sets.csr["content"], with_sets)[0], len(with_sets))
    print(f"\nwhy copies of half {half} were missed (pairs not in one cluster):")
    for kind in KINDS:
        pairs = [(s, t) for s, t, k, h in task.true_pairs if k == kind and h == half]
        a, b = (np.array(side, np.int64) for side in zip(*pairs))
        features, smaller = pair_features(sets, a, sets, b, rarity)
        score = load_verifier().score(features, smaller)
        ok = are_copies(score, features, np.zeros(len(a), bool), settings)
        jaccard = features[:, 0]
        reasons = Counter()
        for k, (s, t) in enumerate(pairs):
            if s in cluster_of and cluster_of.get(t) == cluster_of[s]:
                continue
            if s in rule_of or t in rule_of:
                reasons[f"tagged {rule_of.get(s) or rule_of.get(t)}"] += 1
            elif min(sizes[s], sizes[t]) < settings.min_words:
                reasons["fewer than min_words content words"] += 1
            elif jaccard[k] < settings.min_jaccard:
                reasons["below min_jaccard"] += 1
            elif score[k] < settings.min_score:
                reasons["score below min_score"] += 1
            elif not ok[k]:
                reasons["turned down by a rule (numbers, quotations)"] += 1
            elif s in cluster_of or t in cluster_of:
                reasons["a copy, but one of them is in another cluster"] += 1
            else:
                reasons["a copy, never a candidate"] += 1
        print(f"  {kind:17} {sum(reasons.values()):4d} of {len(pairs):4d} missed: "
              f"{dict(reasons.most_common())}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", help="folder that holds pan13/ (e.g. ../shared/eval)")
    add_dedup_flags(parser)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--why-missed", type=int, choices=(0, 1), default=None, metavar="HALF",
                        help="say where the missed copies of this half went (0: the tuning half)")
    parser.add_argument("--work", type=Path, default=None,
                        help="folder for the run's raw/ and clean/ (default: a temporary one)")
    args = parser.parse_args(argv)

    task = build_task(args.data_dir)
    print(f"PAN13 paragraphs: {len(task.paragraphs):,} ({len(task.true_pairs):,} reused passages "
          f"and their sources, the rest distractors); pairs by kind: "
          f"{dict(Counter(k for *_, k, _ in task.true_pairs))}")
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        if (work / "clean").exists():
            sys.exit(f"{work / 'clean'} exists: give an empty --work folder")
        dedup = dedup_settings(args)
        pairs, cluster_of, rule_of, info = textwash_clusters(task, dedup, work)
    same = (lambda s, t: s in cluster_of and cluster_of.get(t) == cluster_of[s])
    results = {"textwash run": (pairs, same)}
    print(f"textwash run ({describe(dedup)}): {info}")
    if not args.no_baseline:
        base, binfo = baseline_pairs(task)
        found = set(base)
        results["datasketch 5-gram LSH 0.8"] = (base, lambda s, t: (min(s, t), max(s, t)) in found)
        print(f"baseline: {binfo}")

    header = f"{'method':28} {'half':>5} {'pairs':>6} {'precision':>9} " + " ".join(
        f"{k:>21}" for k in KINDS)
    print(header)
    for name, (p, same) in results.items():
        for half in (0, 1, None):
            r = score(task, p, same, half)
            label = "both" if half is None else str(half)
            print(f"{name:28} {label:>5} {r['pairs']:>6} {r['precision']:>9.4f} " + " ".join(
                f"{r[k]:>7.4f} ({r[k + ' found']:>8})".rjust(21) for k in KINDS))
    if args.why_missed is not None:
        why_missed(task, cluster_of, rule_of, dedup, args.why_missed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
