"""The Prefect flow `clean_corpus`: raw/ -> clean/.

    plan_run -> process_shard (one task per shard, in parallel) -> cross_document -> publish
    -> the report and inputs as Prefect artifacts

The flow stays thin: every task calls plain functions of the step's folder in `tasks/` (plan/,
shard/, cross_document/, publish/; the manifest is assembled by tasks/publish/manifest.py). A
task handles a whole shard (tens of megabytes of input), never a paragraph: every task run
costs Prefect bookkeeping and, with processes, a hand-off between processes. The shard tasks go
to a task runner chosen when the plan is known (flows/runners.py), so a served or deployed flow
chooses the same way.

No `from __future__ import annotations` here: Prefect validates a deployed run's parameters
against the flow's annotations, and in a served run's process it could not resolve them as
strings (`Clean_CorpusModel` is not fully defined).
"""

import time
from contextlib import ExitStack
from pathlib import Path

import pyarrow.parquet as pq
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import get_run_context
from prefect.states import Failed
from prefect.task_runners import ProcessPoolTaskRunner

from flows.progress import wait_for_shards
from flows.runners import dask_scheduler, describe, make_task_runner
from tasks.cross_document import CrossDocumentResult, cross_document
from tasks.faults import checkpoint
from tasks.plan import RunPlan, plan_run
from tasks.plan.state import commit_state
from tasks.publish import publish_tables
from tasks.publish.compaction import compact
from tasks.publish.manifest import build_manifest, utc_now
from tasks.publish.report import markdown_report, table_rows
from tasks.publish.supersede import rewrite_without, stage_index_exclusions, superseded_doc_ids
from tasks.remote.session import Held, hold_output
from tasks.remote.urls import is_url
from tasks.settings import Settings
from tasks.shard import ShardResult, process_shard
from tasks.store import Staging, Store


class StrictModeError(RuntimeError):
    """--strict and some input records were rejected: nothing was published."""


@task(name="plan_run", cache_policy=NO_CACHE)
def plan_task(settings: Settings) -> RunPlan:
    plan = plan_run(settings)
    get_run_logger().info(
        "planned run %s: %d new inputs (%s bytes) in %d shards, %d unchanged inputs skipped",
        plan.run_id, len(plan.inputs), f"{sum(i.size or 0 for i in plan.inputs):,}",
        len(plan.shards), len(plan.skipped),
    )
    return plan


@task(name="process_shard", cache_policy=NO_CACHE)
def shard_task(plan: RunPlan, shard: int, settings: Settings, staging: str) -> ShardResult:
    done = ShardResult.load(Staging(staging, plan.run_id), shard, plan.shard_keys(shard))
    if done is not None:  # finished before an interruption: this rerun has the same run id
        get_run_logger().info("shard %d/%d: already done before the interruption", shard + 1,
                              len(plan.shards))
        return done
    result = process_shard(plan, shard, settings, staging)
    get_run_logger().info(
        "shard %d/%d: %d documents, %d paragraphs, %d rejects in %.1f s", shard + 1,
        len(plan.shards), result.documents, result.paragraphs, result.rejects,
        sum(result.seconds.values()),
    )
    return result


@task(name="cross_document", cache_policy=NO_CACHE)
def cross_document_task(shards: list[ShardResult], settings: Settings, plan: RunPlan,
                        superseded: dict[str, set[str]],
                        dask_address: str | None) -> CrossDocumentResult:
    excluded = set().union(*superseded.values()) if superseded else set()
    result = cross_document(shards, settings, Store(settings.clean).staging(plan.run_id),
                            plan.sequence, excluded, dask_address)
    get_run_logger().info(
        "site templates: %d lines; duplicates: %d paragraphs (%d of earlier runs' paragraphs) "
        "in %d clusters; %d candidate pairs, %d compared (the others' earlier paragraph was "
        "a duplicate already, or both were in one document), %d verified (%d near copies of a canonical left out: not copies "
        "of another member); %d earlier paragraphs matched the index",
        result.site_template_lines, result.duplicates, result.duplicates_of_earlier_runs,
        result.clusters, result.candidate_pairs, result.compared_pairs, result.verified_pairs,
        result.loose_members, result.earlier_paragraphs_matched,
    )
    return result


@task(name="publish", cache_policy=NO_CACHE)
def publish_task(plan: RunPlan, shards: list[ShardResult], cross: CrossDocumentResult,
                 settings: Settings, started_at: str, wall: dict[str, float],
                 flow_start: float, flow_run_id: str | None,
                 superseded: dict[str, set[str]]) -> dict:
    store = Store(settings.clean)
    start = time.perf_counter()
    counts = publish_tables(shards, settings, store.staging(plan.run_id))
    now = time.perf_counter()
    manifest = build_manifest(plan, shards, cross, counts, settings, started_at=started_at,
                              flow_run_id=flow_run_id,
                              seconds={**wall, "publish": now - start, "total": now - flow_start})
    checkpoint("publish:staged")
    manifest = store.commit(
        plan.run_id, manifest,
        rewrite=lambda generation: commit_changes(generation, plan, superseded, settings,
                                                  manifest, store))
    logger = get_run_logger()
    for item in manifest["superseded"]:
        logger.info("superseded in run %s (inputs read again): %s documents, %s paragraphs, "
                    "%s rejects of %s", item["run_id"], item["documents"], item["paragraphs"],
                    item["rejects"], ", ".join(item["sources"]))
    if settings.storage.mirrors.get("clean"):
        logger.info("committed run %s to the working copy %s (published to %s next)",
                    plan.run_id, settings.clean, settings.storage.mirrors["clean"])
    else:
        logger.info("published run %s to %s", plan.run_id, settings.clean)
    return manifest


@task(name="push", cache_policy=NO_CACHE)
def push_task(held: Held, run_id: str) -> dict:
    """Publish the run's local commit to the bucket (`clean` is a URL): upload the changed
    files, commit the next generation of its log (tasks/remote/)."""
    start = time.perf_counter()
    pushed = held.publish(run_id)
    pushed["seconds"] = round(time.perf_counter() - start, 3)
    get_run_logger().info(
        "published run %s to %s as generation %d: %d files uploaded (%s bytes), %d replaced "
        "objects deleted, in %.2f s", run_id, held.mirror.bucket.url, pushed["generation"],
        pushed["uploaded"], f"{pushed['uploaded_bytes']:,}", pushed["deleted"],
        pushed["seconds"])
    return pushed


def commit_changes(generation, plan: RunPlan, superseded: dict[str, set[str]],
                   settings: Settings, manifest: dict, store: Store) -> dict:
    """What a commit changes in the next generation besides adding the run: the superseded rows
    out, the planning state with the run folded in, then compaction. Returns what the manifest
    says of them."""
    changes = {"superseded": rewrite_without(generation, plan.supersedes, superseded)}
    commit_state(store, generation, {**manifest, **changes},
                 {**plan.unchanged_stats, **{item.source: item.stat for item in plan.inputs}})
    if settings.compaction.enabled:
        changes["compacted"] = compact(generation, settings.compaction)
    return changes


def _strict_failure(shards: list[ShardResult]) -> StrictModeError | None:
    problems = []
    for shard in shards:
        if shard.rejects:
            problems += pq.read_table(shard.path("rejects")).to_pylist()
    if not problems:
        return None
    listed = "\n".join(f"  {r['source']} position {r['position']}: {r['error']}: {r['detail']}"
                       for r in problems[:20])
    more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
    return StrictModeError(f"{len(problems)} input records were rejected (--strict); nothing "
                           f"was published:\n{listed}{more}")


def deployment_parameters(settings: Settings) -> dict:
    """A deployment's parameters: the folders (absolute, so the UI shows where it reads and
    writes) apart from the other settings, so that a run given other `settings` or `overrides`
    keeps them."""
    return {"raw": _absolute(settings.raw), "clean": _absolute(settings.clean),
            "settings": settings.model_dump(mode="json", exclude={"raw", "clean"})}


def _absolute(location: str) -> str:
    return location if is_url(location) else str(Path(location).resolve())


def resolve_settings(raw: str | None, clean: str | None, settings: Settings | dict | None,
                     overrides: dict | None) -> Settings:
    """The flow's parameters as one Settings: `settings` (whole or partial; defaults fill the
    rest), the folders `raw` and `clean` when given, then `overrides` (nested, e.g.
    {"dedup": {"threshold": 0.3}}) on top."""
    if isinstance(settings, Settings):
        base = settings.model_dump(mode="json")
    else:
        base = dict(settings or {})
    base.update({k: v for k, v in (("raw", raw), ("clean", clean)) if v is not None})
    return Settings.model_validate(base).merged(overrides)


def _name_flow_run(run_id: str) -> None:
    """Put the run id in the flow run's name and tags, so the UI and `prefect flow-run ls`
    lead to the run's manifest. Cosmetic: a failure is logged, never fails the run."""
    context = get_run_context()
    flow_run = getattr(context, "flow_run", None)
    if flow_run is None:
        return
    try:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            client.update_flow_run(flow_run.id, name=f"textwash-{run_id}",
                                   tags=sorted({*flow_run.tags, "textwash", f"run:{run_id}"}))
    except Exception as exc:  # noqa: BLE001
        get_run_logger().warning("could not name the flow run after run %s: %s", run_id, exc)


@flow(name="clean_corpus")
def clean_corpus(raw: str | None = None, clean: str | None = None,
                 settings: Settings | dict | None = None, overrides: dict | None = None):
    """Clean, tag and deduplicate the new inputs in `raw` into `clean`. `settings` (whole or
    partial) and then `overrides` (nested values put on top) set the rest; `raw` and `clean`
    win over the settings' folders; either may be a URL (s3://bucket/prefix: tasks/remote/).
    Returns the run manifest (with `object_storage`, what bringing the working copies up to
    date and the push cost, when `clean` is a URL), or a short note when there was nothing new
    to process; a --strict run with rejects ends Failed (StrictModeError)."""
    settings = resolve_settings(raw, clean, settings, overrides)
    runtime = settings.runtime
    logger = get_run_logger()
    started_at = utc_now()
    flow_start = time.perf_counter()
    # On URLs: the bucket's lease, and local working copies that `held.settings` names.
    with hold_output(settings, logger.info) as held:
        settings = held.settings
        store = Store(settings.clean)
        checkpoint("flow:locked")
        store.ensure_layout()
        plan = plan_task.with_options(retries=runtime.retries)(settings)
        # Leftovers of an interrupted run are removed, except the staged shards of this very
        # run (same inputs, settings and history: same id), which it picks up.
        for leftover in store.recover(keep_staging=plan.run_id):
            logger.warning("removed leftovers of an interrupted run: %s", leftover)
        if not plan.inputs:
            logger.info("nothing new to process in %s: %d inputs unchanged since earlier runs",
                        settings.raw, len(plan.skipped))
            return {"run_id": None, "skipped_inputs": plan.skipped}
        _name_flow_run(plan.run_id)
        staging = store.staging(plan.run_id)
        staging.directory.mkdir(parents=True, exist_ok=True)
        wall: dict[str, float] = {"plan": time.perf_counter() - flow_start}
        start = time.perf_counter()
        runner = make_task_runner(settings.runtime, len(plan.shards))
        logger.info("%d shards on %s", len(plan.shards), describe(runner))
        with ExitStack() as pool:
            pool.enter_context(runner)
            # Prefect can interrupt a task only on a process's main thread: a process-pool
            # worker's. In threads (and Dask's) it would only warn, once per shard.
            on_main_thread = isinstance(runner, ProcessPoolTaskRunner)
            shard_run = shard_task.with_options(
                retries=runtime.retries,
                timeout_seconds=runtime.shard_timeout_seconds if on_main_thread else None)
            futures = [runner.submit(shard_run, {"plan": plan, "shard": shard,
                                                  "settings": settings,
                                                  "staging": str(staging.directory)})
                       for shard in range(len(plan.shards))]
            shards = wait_for_shards(futures, plan, staging.directory)
            wall["shards"] = time.perf_counter() - start
            checkpoint("flow:shards")
            if runtime.strict and (failure := _strict_failure(shards)) is not None:
                # A failed state with a short message: the list is said once, by the caller.
                return Failed(message=str(failure).split(":\n")[0], data=failure)
            superseded = superseded_doc_ids(store, plan.supersedes)
            stage_index_exclusions(staging, superseded)
            dask_address = dask_scheduler(runner)
            if dask_address is None:
                pool.close()  # the shard workers (idle, models loaded) are not needed any more
            start = time.perf_counter()
            cross = cross_document_task.with_options(
                timeout_seconds=runtime.step_timeout_seconds)(shards, settings, plan, superseded,
                                                              dask_address)
            wall["cross_document"] = time.perf_counter() - start
        checkpoint("flow:cross_document")
        context = get_run_context()
        flow_run_id = str(context.flow_run.id) if getattr(context, "flow_run", None) else None
        manifest = publish_task.with_options(
            timeout_seconds=runtime.step_timeout_seconds)(plan, shards, cross, settings,
                                                          started_at, wall, flow_start,
                                                          flow_run_id, superseded)
        if held.mirror is not None:
            pushed = push_task(held, plan.run_id)
            # Not in the committed manifest (it was uploaded by this push): the caller's copy.
            manifest = {**manifest, "object_storage": {**held.seconds, "push": pushed}}
    create_markdown_artifact(key="textwash-run-report", markdown=markdown_report(manifest),
                             description=f"textwash run {plan.run_id}")
    create_table_artifact(key="textwash-run-inputs", table=table_rows(manifest),
                          description=f"inputs of textwash run {plan.run_id}")
    return manifest


def run_clean_corpus(settings: Settings, server=None) -> dict:
    """Run the flow in this process (the CLI's `textwash run`), on the configured Prefect API,
    else on one temporary server of this run's own that its process workers use too and that
    ends with the run, even one killed with SIGKILL (flows/prefect_server.py): `server`, a
    TemporaryServer launched already (the CLI's early_server), or one started here."""
    from flows.prefect_server import prefect_api

    with prefect_api(server):
        return clean_corpus(settings=settings)
