"""What planning needs to know of every earlier run, kept as one file so that a plan does not
reread every run's manifest: `clean/_index/inputs.json`.

It is the manifests folded in run order (`InputsState.apply`): per input path the run whose rows
are the visible ones (with the content hash and settings it was read with, and the file's size,
times and inode then, so that an unchanged file need not be read to be hashed), the unreadable
attempts whose reject rows still stand, and the problem of its last unreadable attempt; and the
last run's sequence and id. Each commit writes it into the generation it builds, beside the
manifest it adds, so the two never disagree (tasks/store.py). A folder written before this file
existed has it built from its manifests on the first plan.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from tasks.store import Layout, Store, by_sequence, sequence_range, write_bytes_atomic

STATE_FORMAT = 1


@dataclass
class InputsState:
    # source -> (run_id, sha256, settings fingerprint) of the run whose rows for it are visible:
    # the last run that read it (unreadable attempts do not count)
    holders: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    # source -> the runs that could not read it and whose reject row for it no later run has
    # superseded yet, oldest first
    attempts: dict[str, list[str]] = field(default_factory=dict)
    # source -> (error, detail) of the last run that could not read it
    problems: dict[str, tuple[str, str]] = field(default_factory=dict)
    # source -> (size, mtime_ns, ctime_ns, inode) of the holder's file when it was hashed, for
    # files that had been left alone (tasks/plan/__init__.py, `quiet_stat`)
    stats: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    last_sequence: int = 0
    last_run_id: str = ""

    def apply(self, manifest: dict, stats: dict | None = None) -> None:
        """Fold one more run's manifest in (runs in order); `stats`: source -> the file's stat
        when the run hashed it, for the inputs it read and those it found unchanged by their
        hash (not in the manifest: a stat says where a file lies, not what it holds)."""
        for item in manifest.get("superseded", []):
            for source in item["sources"]:
                runs = self.attempts.get(source)
                if runs and item["run_id"] in runs:
                    runs.remove(item["run_id"])
                    if not runs:
                        del self.attempts[source]
        for item in manifest["inputs"]:
            source = item["source"]
            if item.get("sha256"):
                self.holders[source] = (manifest["run_id"], item["sha256"],
                                        manifest["settings_fingerprint"])
                self.problems.pop(source, None)
                if stats and stats.get(source):
                    self.stats[source] = tuple(stats[source])
                else:
                    self.stats.pop(source, None)
            else:
                self.attempts.setdefault(source, []).append(manifest["run_id"])
                if item.get("problem"):
                    self.problems[source] = tuple(item["problem"])
        read = {item["source"] for item in manifest["inputs"]}
        for source, stat in (stats or {}).items():
            if source not in read and stat and source in self.holders:
                self.stats[source] = tuple(stat)
        self.last_sequence, self.last_run_id = manifest["sequence"], manifest["run_id"]

    @classmethod
    def of_manifests(cls, manifests: list[dict]) -> InputsState:
        state = cls()
        for manifest in manifests:
            state.apply(manifest)
        return state

    def to_json(self) -> bytes:
        return json.dumps({"format": STATE_FORMAT, "last_sequence": self.last_sequence,
                           "last_run_id": self.last_run_id, "holders": self.holders,
                           "attempts": self.attempts, "problems": self.problems,
                          "stats": self.stats},
                          sort_keys=True, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> InputsState:
        raw = json.loads(data)
        return cls({k: tuple(v) for k, v in raw["holders"].items()}, raw["attempts"],
                   {k: tuple(v) for k, v in raw["problems"].items()},
                   {k: tuple(v) for k, v in raw.get("stats", {}).items()},
                   raw["last_sequence"], raw["last_run_id"])


def state_path(layout: Layout):
    return layout.index_dir / "inputs.json"


def load_state(store: Store) -> InputsState:
    """The state of `store`'s current generation; from the manifests where it has no file, or
    one that does not end with the last manifest (written by a commit that did not keep it)."""
    path = state_path(store)
    if path.is_file():
        try:
            state = InputsState.from_json(path.read_bytes())
        except (OSError, ValueError, KeyError) as exc:
            raise RuntimeError(f"{path} is unreadable ({exc}): move it away and the next run "
                               "rebuilds it from the run manifests") from exc
        if state.last_sequence == _last_manifest_sequence(store):
            return state
    return InputsState.of_manifests(store.manifests())


def _last_manifest_sequence(store: Store) -> int:
    """The sequence of the last run with a manifest, from the manifests' file names."""
    if not store.runs_dir.is_dir():
        return 0
    names = by_sequence([*store.runs_dir.glob("*.json"), *store.manifest_logs()])
    return sequence_range(names[-1].name.split(".")[0])[1] if names else 0


def commit_state(current: Store, generation: Layout, manifest: dict, stats: dict) -> None:
    """Write into `generation` the current state with `manifest` (the run being committed)
    and the stats of the files it hashed folded in."""
    state = load_state(current)
    state.apply(manifest, stats)
    # a new file in place of the link to the current generation's: that one stays as it was
    write_bytes_atomic(state_path(generation), state.to_json())
