"""Plan a run: which inputs are new, how they are grouped into shards, and the run's id.

An input is processed unless the run that last processed its path saw the same content hash
under the same output settings. When a processed path was processed before (changed content, or
other settings), its earlier rows are superseded: the new run removes them from the visible
tables and names them in its manifest (see tasks/store.py and flows/clean_corpus.py). A file
that cannot be read is retried every run and supersedes nothing.
The run id is derived from the run's sequence number in that folder and a digest of the
settings, the previous run and the inputs, so the same inputs with the same settings give the
same id (and the same rows) in a fresh folder, and a run interrupted by a crash is rerun under
the same id.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

from tasks.read import InputFile, discover_inputs
from tasks.settings import Settings
from tasks.store import Store
from tasks.version import TEXTWASH_VERSION


@dataclass(frozen=True)
class PlannedInput:
    path: str
    source: str
    size: int | None
    kind: str | None
    sha256: str | None  # None when the file cannot be read

    def as_input_file(self) -> InputFile:
        return InputFile(self.path, self.source, self.size, self.kind)


@dataclass(frozen=True)
class RunPlan:
    run_id: str
    sequence: int
    settings_fingerprint: str
    inputs: list[PlannedInput]
    shards: list[list[int]]  # indexes into inputs
    skipped: list[str] = field(default_factory=list)  # sources already processed, unchanged
    supersedes: list[tuple[str, str]] = field(default_factory=list)  # (source, earlier run_id)

    def shard_inputs(self, shard: int) -> list[InputFile]:
        return [self.inputs[i].as_input_file() for i in self.shards[shard]]

    def shard_keys(self, shard: int) -> list[str]:
        """What identifies a shard's work: its inputs and their content hashes."""
        return [f"{self.inputs[i].source} {self.inputs[i].sha256}" for i in self.shards[shard]]

    def to_dict(self) -> dict:
        return asdict(self)


def file_sha256(path: str) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def _shards(inputs: list[PlannedInput], shard_bytes: int) -> list[list[int]]:
    """Consecutive inputs (input order is canonical order) in groups of about shard_bytes."""
    shards: list[list[int]] = []
    current: list[int] = []
    size = 0
    for i, item in enumerate(inputs):
        item_size = item.size or 0
        if current and size + item_size > shard_bytes:
            shards.append(current)
            current, size = [], 0
        current.append(i)
        size += item_size
    if current:
        shards.append(current)
    return shards


def plan_run(settings: Settings) -> RunPlan:
    store = Store(settings.clean)
    history = store.manifests()
    fingerprint = settings.output_fingerprint()
    holders = current_holders(history)
    planned, skipped, supersedes = [], [], []
    for f in discover_inputs(settings.raw):
        sha = file_sha256(f.path) if f.size is not None else None
        held = holders.get(f.source)
        if sha is not None and held is not None and held[1:] == (sha, fingerprint):
            skipped.append(f.source)
            continue
        planned.append(PlannedInput(f.path, f.source, f.size, f.kind, sha))
        if sha is not None and held is not None:
            supersedes.append((f.source, held[0]))

    sequence = (history[-1]["sequence"] + 1) if history else 1
    digest = hashlib.sha256()
    digest.update(f"{TEXTWASH_VERSION}\n{fingerprint}\n".encode())
    digest.update((history[-1]["run_id"] if history else "").encode())
    for item in planned:
        digest.update(f"\n{item.source}\t{item.sha256}".encode("utf-8", "surrogateescape"))
    run_id = f"{sequence:05d}-{digest.hexdigest()[:12]}"
    return RunPlan(run_id, sequence, fingerprint, planned,
                   _shards(planned, settings.runtime.shard_bytes), skipped, supersedes)


def current_holders(history: list[dict]) -> dict[str, tuple[str, str, str]]:
    """source -> (run_id, sha256, settings fingerprint) of the run whose rows for that source
    are the visible ones: the last run that read it (unreadable attempts do not count)."""
    holders: dict[str, tuple[str, str, str]] = {}
    for manifest in history:
        for item in manifest["inputs"]:
            if item.get("sha256"):
                holders[item["source"]] = (manifest["run_id"], item["sha256"],
                                           manifest["settings_fingerprint"])
    return holders

