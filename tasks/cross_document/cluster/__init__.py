"""The run-wide step on a Dask cluster: every phase of tasks/cross_document/ as tasks on the
workers, per shard or per partition of a hash, handing rows to each other through files
(exchange.py). The flow's process holds the task handles and counts, nothing per paragraph.
The rows it writes are those of the single-process step (tests/test_cluster.py checks it).

The stages, in order (each staged, so a killed run resumes after the last finished one):

 1. rows and documents: each shard's rows; ids read by several shards   documents.py
 2. site templates, per partition of sites, with earlier runs' counts     documents.py
 3. exact copies, per partition of hashes; representatives per shard     exact.py
 4. candidate pairs, per partition of band keys, bands in rounds, each
    round's merged in the shard of their later row; their earlier runs'
    candidates by lookups in the index                                    bands.py
 5. the run's word rarity, per partition of words                         rarity.py
 6. verification in the shard of a pair's later row, the sets of both
    read from the shards' staged sets; every candidate verified           verify.py
 7. connected components of the verified pairs (star rounds)              components.py
 8. the canonical rule per component; clusters tightened                  decide.py
 9. exact copies follow their heads; `cross` tables; the run's index      output.py
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

from tasks.cross_document.cluster import bands, components, decide, documents, exact, output, verify
from tasks.cross_document.cluster import rarity as word_rarity
from tasks.cross_document.cluster.exchange import Stage, bytes_under
from tasks.cross_document.cluster.job import Job
from tasks.faults import checkpoint
from tasks.settings import Settings
from tasks.shard import ShardResult, map_large_allocations, return_freed_memory
from tasks.store import Staging, Store

ROWS_PER_PART = 1_000_000  # a partition's share of a band round: about 140 MB (8 bands)
MAX_ROUNDS = 200


def cross_document_on_cluster(shards: list[ShardResult], settings: Settings, staging: Staging,
                              run_seq: int, address: str, parts: int | None = None):
    """The run-wide step on the Dask scheduler at `address` (superseded documents: staged by
    the flow in `staging`), with `parts` partitions per exchange (by default one per
    ROWS_PER_PART rows, at least 4). Returns a CrossDocumentResult."""
    from distributed import Client

    from tasks.cross_document import CrossDocumentResult

    starts = [0]
    for shard in shards:
        starts.append(starts[-1] + shard.paragraphs)
    job = Job(work=str(staging.directory / "cluster"), shards=tuple(s.directory for s in shards),
              starts=tuple(starts),
              parts=parts or max(4, math.ceil(starts[-1] / ROWS_PER_PART)),
              settings=settings, clean=str(Store(settings.clean).root),
              staging=str(staging.directory), run_id=staging.run_id, run_seq=run_seq)
    Path(job.work).mkdir(parents=True, exist_ok=True)
    with_history = bool(exact.open_history(job).runs)
    all_shards, all_parts = range(len(shards)), range(job.parts)
    with Client(address) as client:
        run = _Runner(client, job)
        run("rows", documents.load_shard, all_shards)
        run("documents", documents.resolve_documents, all_parts, frees=["documents"])
        run("site_rows", documents.send_template_rows, all_shards, frees=["document_fixes"])
        templates = sum(run("templates", documents.find_templates, all_parts, frees=["sites"]))
        run("template_counts", lambda j, _: documents.stage_template_counts(j), [0],
            frees=["template_counts"])
        run("hashes", exact.send_hashes, all_shards, frees=["template_rows"])
        run("exact", exact.group_copies, all_parts, with_history, frees=["hashes"])
        reps = sum(run("representatives", exact.stage_representatives, all_shards,
                       frees=["reps"]))
        for first, end in bands.rounds(settings.dedup.bands):
            run(f"bands-{first:03d}-send", bands.send_band_keys, all_shards, first, end)
            run(f"bands-{first:03d}-pair", bands.pair_keys, all_parts, first, with_history,
                frees=[f"bands-{first:03d}"])
            run(f"bands-{first:03d}-merge", bands.merge_pairs, all_shards, first,
                frees=[f"pairs-{first:03d}"])
        run("words", word_rarity.send_words, all_shards)
        run("rarity", word_rarity.count_words, all_parts, frees=["words"])
        run("sets", verify.stage_sets, all_shards)
        verified = run("verify", verify.verify_candidates, all_shards, reps,
                       frees=["earlier_pairs", "shard-*/candidates.npy"])
        earlier = sum(run("earlier", verify.count_earlier, all_parts, frees=["earlier_ids"]))
        rounds = _components(run, job)
        run("labels", components.label_nodes, all_parts, rounds, frees=[f"cc-{rounds:03d}"])
        run("by_component", decide.edges_by_component, all_parts, frees=["edges", "labels"])
        run("decide", decide.decide, all_parts, frees=["by_component", "decide_ranges"])
        run("tighten_judge", _judge_members, all_shards, reps,
            frees=["tighten", "rarity", "shard-*/sets.arrow", "shard-*/documents.npy"])
        settled = run("settle", decide.settle, all_parts, frees=["judged", "decided"])
        exact_clusters = sum(run("follow_heads", output.follow_heads, all_shards, frees=["copies"]))
        written = run("cross", output.write_cross, all_shards,
                      frees=["decisions", "copy_decisions", "canonicals"])
        counts = run("index_entries", lambda j, _: output.write_index_entries(j), [0])[0]
        run("index_bands", output.write_index_band, range(settings.dedup.bands), counts)
        indexed = sum(c[0] for c in counts)
    return CrossDocumentResult(
        site_template_lines=templates,
        duplicates=sum(w[0] for w in written),
        duplicates_of_earlier_runs=sum(w[1] for w in written),
        clusters=sum(s[1] for s in settled) + exact_clusters,
        candidate_pairs=sum(v[0] for v in verified),
        compared_pairs=sum(v[1] for v in verified),
        verified_pairs=sum(v[2] for v in verified),
        loose_members=sum(s[0] for s in settled),
        earlier_paragraphs_matched=earlier,
        indexed_paragraphs=indexed,
        candidate_search="cluster",
        seconds=run.seconds,
        written_bytes=run.written,
    )


def _judge_members(job: Job, shard: int, reps: int) -> int:
    pairs, _, passed = verify.judge(job, shard, reps, members="tighten")
    if len(passed):
        decide.send_judged(job, shard, pairs, passed)
    return len(passed)


def _components(run: _Runner, job: Job) -> int:
    """Large-star and small-star rounds until a pair of them changes nothing. Returns the
    number of the exchange that holds the final stars."""
    parts = range(job.parts)
    before = _total(run("edges", components.send_edges, parts, "edges"))
    number = 0
    while True:
        run(f"cc-{number:03d}-large", components.star_round, parts, number, True, False,
            frees=[f"cc-{number:03d}"])
        after = _total(run(f"cc-{number + 1:03d}-small", components.star_round, parts,
                           number + 1, False, True, frees=[f"cc-{number + 1:03d}"]))
        number += 2
        if after == before:
            return number
        if number > MAX_ROUNDS:
            raise RuntimeError(f"connected components: no convergence after {MAX_ROUNDS} rounds")
        before = after


def _total(results) -> tuple[int, int, int]:
    mask = (1 << 64) - 1
    return (sum(r[0] for r in results), sum(r[1] for r in results) & mask,
            sum(r[2] for r in results) & mask)


class _Runner:
    """Runs a stage's tasks on the cluster, one per item, unless the stage is done already
    (then its staged summary is its result). Keeps each stage's wall seconds and the bytes it
    wrote to the step's folder."""

    def __init__(self, client, job: Job):
        self.client, self.job = client, job
        self.seconds: dict[str, float] = {}
        self.written: dict[str, int] = {}
        self._bytes = bytes_under(Path(job.work))
        # A task of its own that every task depends on: sent to each worker once (the job
        # names every shard), and computed again if it is lost. Scattered data is not: Dask
        # keeps one copy between stages, and a restart of its worker cancelled the tasks.
        self._job = client.submit(_the_job, job, pure=False)

    def __call__(self, name: str, fn, items, *args, frees: list[str] = ()):
        """`frees`: what the stage is the last to read (exchanges, or globs of files under
        the step's folder), removed once it is done: a large run's exchanges would not all
        fit on a disk at once."""
        stage = Stage(Path(self.job.work) / "_stages", name)
        if stage.done:
            self._remove(frees)  # (a run killed between the marker and the removal)
            return json.loads(stage.summary())
        start = time.perf_counter()
        items = list(items)
        futures = self.client.map(_task, [fn] * len(items), [self._job] * len(items), items,
                                  *[[a] * len(items) for a in args], pure=False)
        results = [_plain(r) for r in self.client.gather(futures)]
        stage.finish(json.dumps(results))
        after = bytes_under(Path(self.job.work))  # (stages add files; only `frees` removes)
        self.written[name] = max(0, after - self._bytes)
        self._remove(frees)
        self._bytes = bytes_under(Path(self.job.work))
        self.seconds[name] = round(time.perf_counter() - start, 3)
        checkpoint(f"cluster:{name}")
        return results

    def _remove(self, patterns: list[str]) -> None:
        for pattern in patterns:
            for path in Path(self.job.work).glob(pattern):
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)


def _the_job(job: Job) -> Job:
    return job


def _task(fn, job: Job, item: int, *args):
    """One task on a worker: its memory handed back to the system when it ends. A worker runs
    task after task, and the memory allocators would keep each one's peak (Dask's nanny counts
    it, and restarts a worker over its limit)."""
    map_large_allocations()
    try:
        return fn(job, item, *args)
    finally:
        return_freed_memory()


def _plain(value):
    """A task's result as JSON can keep it (tuples as lists, numpy numbers as int)."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return None if value is None else int(value)
