"""The commit log of `clean` on object storage.

    _log/0000000001.json   generation 1: every file of it ({path: key, size, since}), its
    _log/0000000002.json   empty folders, the run it added
    _log/_latest           a hint: the newest generation's number (written after each commit)

Only the newest KEEP entries are kept (each commit deletes the one that falls out), so the log
stays a bounded number of objects however many runs there are.

A generation's file list is complete, so a reader needs one object, not a replay. Committing
generation n is creating `_log/<n>.json` if it does not exist: an atomic create-if-absent, so
of two writers that built on generation n-1 exactly one commits and the other learns it. The
data files are uploaded before, under keys no committed generation uses, so a run is visible
whole or not at all. The hint only saves listing `_log/`: the reader checks that no later
generation exists, so a stale hint (a writer killed between the commit and the hint) costs one
more request, never a wrong answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from tasks.remote.objects import Bucket

LOG = "_log"
HINT = f"{LOG}/_latest"
FORMAT = 1
KEEP = 100  # generations whose log entries are kept (audit); older ones are deleted


class LogError(RuntimeError):
    pass


def log_name(number: int) -> str:
    return f"{LOG}/{number:010d}.json"


@dataclass
class Generation:
    number: int
    files: dict[str, dict] = field(default_factory=dict)  # path -> {"key", "size", "since"}
    dirs: list[str] = field(default_factory=list)  # empty folders (objects stores have none)
    run_id: str | None = None

    def to_json(self) -> bytes:
        return json.dumps({"format": FORMAT, "generation": self.number, "run_id": self.run_id,
                           "files": self.files, "dirs": self.dirs},
                          sort_keys=True, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes, where: str) -> Generation:
        try:
            raw = json.loads(data)
        except json.JSONDecodeError as exc:
            raise LogError(f"{where} is not valid JSON: {exc}") from exc
        if raw.get("format") != FORMAT:
            raise LogError(f"{where} has log format {raw.get('format')}; this textwash reads "
                           f"format {FORMAT}: upgrade textwash")
        return cls(raw["generation"], raw["files"], raw.get("dirs", []), raw.get("run_id"))

    def keys(self) -> set[str]:
        return {entry["key"] for entry in self.files.values()}


def latest(bucket: Bucket) -> Generation:
    """The newest committed generation (generation 0, empty, before the first commit)."""
    number = _hinted(bucket)
    while bucket.info(log_name(number + 1)) is not None:
        number += 1
    if number == 0:
        return Generation(0)
    data = bucket.read(log_name(number))
    if data is None:
        raise LogError(f"{bucket.url_of(log_name(number))} is missing: the commit log was "
                       "edited by hand")
    return Generation.from_json(data, bucket.url_of(log_name(number)))


def _hinted(bucket: Bucket) -> int:
    data = bucket.read(HINT)
    if data is not None:
        try:
            return int(json.loads(data)["generation"])
        except (ValueError, KeyError, TypeError):
            pass
    numbers = [int(name[len(LOG) + 1:-5]) for name in bucket.list(LOG)
               if name.endswith(".json") and name[len(LOG) + 1:-5].isdigit()]
    return max(numbers, default=0)


def commit(bucket: Bucket, generation: Generation) -> None:
    """Make `generation` the newest, if no other writer made that number first."""
    if not bucket.create(log_name(generation.number), generation.to_json()):
        raise LogError(
            f"another writer committed generation {generation.number} of {bucket.url} first "
            "(its lock was taken over while this run held it): this run's output was not "
            "published; run again")
    bucket.write(HINT, json.dumps({"generation": generation.number}).encode())
    if generation.number > KEEP:
        bucket.delete([log_name(generation.number - KEEP)])
