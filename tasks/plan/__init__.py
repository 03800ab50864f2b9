"""Plan a run: which inputs are new, how they are grouped into shards, and the run's id.

An input is processed unless the run that last processed its path saw the same content hash
under the same output settings. What earlier runs saw comes from one state file, not from every
manifest (tasks/plan/state.py); a file whose size, times and inode are as when it was hashed is
not read again (`quiet_stat`). When a processed path was processed before (changed content, or
other settings), its earlier rows are superseded: the new run removes them from the visible
tables and names them in its manifest (see tasks/store.py and flows/clean_corpus.py). An input
that cannot be read (a file, or a folder that cannot be listed) is looked at again every run:
while it fails for the same reason as at its last attempt it is skipped like an unchanged input
(its reject row stands); when it fails otherwise, it is planned for a new reject row. An
unreadable attempt never supersedes the rows of the input's last good read. Once the input can
be read again (or, for a folder, listed), it is read again whatever its content, and that run
supersedes both the reject rows of its attempts and the rows of its last good read.
The run id is derived from the run's sequence number in that folder and a digest of the
settings, the previous run and the inputs, so the same inputs with the same settings give the
same id (and the same rows) in a fresh folder, and a run interrupted by a crash is rerun under
the same id.
"""

from __future__ import annotations

import hashlib
import os
import stat as stat_module
import time
from dataclasses import asdict, dataclass, field, replace

from tasks.plan.inputs import InputFile, discover_inputs, open_regular, problem_now
from tasks.plan.state import load_state
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

    # Where a large uncompressed JSONL file is cut into parts: (byte offset, line index) of the
    # first line of every part after the first.
    cuts: tuple[tuple[int, int], ...] = ()

    # (error, detail) when it cannot be an input (a folder that cannot be listed, a link loop, a
    # FIFO, ...): its read is that reject row (tasks/shard/read.py).
    problem: tuple[str, str] | None = None

    # (size, mtime_ns, ctime_ns, inode) when it was hashed, if it had been left alone for a
    # while: a later plan that finds the same need not read it to know it unchanged.
    stat: tuple[int, int, int, int] | None = None


@dataclass(frozen=True)
class Part:
    """What one shard reads of one input: the whole file, or lines of a large JSONL file."""

    input: int  # index into RunPlan.inputs
    start: int = 0
    end: int | None = None
    first_position: int = 0

    def size(self, item: PlannedInput) -> int:
        end = self.end if self.end is not None else (item.size or 0)
        return max(end - self.start, 0)


@dataclass(frozen=True)
class RunPlan:
    run_id: str
    sequence: int
    settings_fingerprint: str
    inputs: list[PlannedInput]
    parts: list[Part]
    shards: list[list[int]]  # indexes into parts
    skipped: list[str] = field(default_factory=list)  # sources already processed, unchanged
    supersedes: list[tuple[str, str]] = field(default_factory=list)  # (source, earlier run_id)
    # source -> stat (`quiet_stat`) of the skipped inputs hashed to know them unchanged: the
    # commit records them, so that the next plan need not hash them again
    unchanged_stats: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)

    def shard_inputs(self, shard: int) -> list[InputFile]:
        out = []
        for p in (self.parts[i] for i in self.shards[shard]):
            item = self.inputs[p.input]
            out.append(InputFile(item.path, item.source, item.size, item.kind, p.start, p.end,
                                 p.first_position, item.problem))
        return out

    def shard_keys(self, shard: int) -> list[str]:
        """What identifies a shard's work: its inputs, their content hashes and byte ranges."""
        return [f"{self.inputs[p.input].source} {self.inputs[p.input].sha256} {p.start}-{p.end}"
                for p in (self.parts[i] for i in self.shards[shard])]

    def to_dict(self) -> dict:
        return asdict(self)


QUIET_NS = 2_000_000_000  # a file changed this recently may change again within the same tick


def quiet_stat(path: str) -> tuple[int, int, int, int] | None:
    """(size, mtime_ns, ctime_ns, inode) of a regular file left alone for `QUIET_NS`, else None.
    Equal values later mean the same content, as git and rsync take them to: a write changes
    the times, a replacement the inode, and nobody can set ctime back. A file written within
    the clock's tick of its hashing could change unseen, so it is hashed again next time."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat_module.S_ISREG(st.st_mode) or \
            time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) < QUIET_NS:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


def scan_file(path: str, cut_every: int | None = None) -> tuple[str | None, list[tuple[int, int]]]:
    """SHA-256 of the file and, with `cut_every`, where to cut it into parts of about that many
    bytes at line ends: (byte offset, line index) of each later part's first line. One read."""
    digest = hashlib.sha256()
    cuts: list[tuple[int, int]] = []
    offset = lines = 0
    next_cut = cut_every
    try:
        with open_regular(path) as fh:  # never a FIFO: its open would wait for a writer
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
                while next_cut is not None and next_cut < offset + len(chunk):
                    newline = chunk.find(b"\n", max(next_cut - offset, 0))
                    if newline < 0:
                        break  # the line goes on in the next chunk
                    cut = offset + newline + 1
                    cuts.append((cut, lines + chunk.count(b"\n", 0, newline + 1)))
                    next_cut = cut + cut_every
                lines += chunk.count(b"\n")
                offset += len(chunk)
    except OSError:
        return None, []
    return digest.hexdigest(), [c for c in cuts if c[0] < offset]


MIN_SHARD_BYTES = 8_000_000  # below this, a second process costs more than it saves


def _parts(inputs: list[PlannedInput]) -> list[Part]:
    parts = []
    for i, item in enumerate(inputs):
        starts = [(0, 0), *item.cuts]
        for k, (start, first) in enumerate(starts):
            end = starts[k + 1][0] if k + 1 < len(starts) else None
            parts.append(Part(i, start, end, first))
    return parts


def _shards(inputs: list[PlannedInput], parts: list[Part], shard_bytes: int) -> list[list[int]]:
    """Consecutive parts (input order is canonical order) in groups of about shard_bytes."""
    shards: list[list[int]] = []
    current: list[int] = []
    size = 0
    for i, part in enumerate(parts):
        part_size = part.size(inputs[part.input])
        if current and size + part_size > shard_bytes:
            shards.append(current)
            current, size = [], 0
        current.append(i)
        size += part_size
    if current:
        shards.append(current)
    return shards


def plan_run(settings: Settings) -> RunPlan:
    store = Store(settings.clean)
    state = load_state(store)
    fingerprint = settings.output_fingerprint()
    holders, attempts, last_problems = state.holders, state.attempts, state.problems
    unlisted = [folder for folder in attempts if folder.endswith("/")]
    planned, skipped, supersedes = [], [], []
    unchanged_stats: dict[str, tuple[int, int, int, int]] = {}
    shard_bytes = settings.runtime.shard_bytes
    found = discover_inputs(settings.raw)
    for f in found:
        held = holders.get(f.source)
        retried = f.source in attempts or any(f.source.startswith(d) for d in unlisted)
        stat = quiet_stat(f.path) if f.problem is None else None
        if stat is not None and held is not None and state.stats.get(f.source) == stat \
                and held[2] == fingerprint and not retried:
            skipped.append(f.source)  # its size, times and inode as when it was hashed
            continue
        # Large uncompressed JSONL files are cut into parts at line ends so that one file can
        # keep several workers busy (compressed files cannot be entered in the middle).
        splittable = f.kind == "jsonl" and not f.path.lower().endswith(".gz") and \
            f.size is not None and f.size > shard_bytes
        sha, cuts = scan_file(f.path, shard_bytes if splittable else None) \
            if f.problem is None else (None, [])
        problem = f.problem or (problem_now(f) if sha is None else None)
        if sha is None and problem is not None and f.source in attempts and \
                last_problems.get(f.source) == problem:
            skipped.append(f.source)  # unreadable as at its last attempt: its reject row stands
            continue
        supersedes += [(f.source, run_id) for run_id in attempts.get(f.source, [])]
        # Read again once readable after failed attempts (`retried`), so that this run
        # replaces their rows.
        if sha is not None and held is not None and held[1:] == (sha, fingerprint) \
                and not retried:
            skipped.append(f.source)
            if stat is not None:
                unchanged_stats[f.source] = stat
            continue
        planned.append(PlannedInput(f.path, f.source, f.size, f.kind, sha, tuple(cuts), problem,
                                    stat if sha is not None else None))
        if sha is not None and held is not None:
            supersedes.append((f.source, held[0]))
    supersedes += _listed_folders(attempts, [f.source for f in found])

    # A run smaller than `workers` full shards is cut into `workers` shards (of at least
    # MIN_SHARD_BYTES), so that a 15 MB run keeps both cores busy too. The files that must be
    # cut finer are read again for their cut points: they are small, as the whole run is.
    total = sum(item.size or 0 for item in planned)
    even = max(MIN_SHARD_BYTES, -(-total // settings.runtime.workers))
    if even < shard_bytes:
        shard_bytes = even
        for k, item in enumerate(planned):
            if item.kind == "jsonl" and not item.path.lower().endswith(".gz") and \
                    (item.size or 0) > shard_bytes:
                sha, cuts = scan_file(item.path, shard_bytes)
                if sha == item.sha256:  # else the file changed under us: keep the first plan
                    planned[k] = replace(item, cuts=tuple(cuts))

    sequence = state.last_sequence + 1
    digest = hashlib.sha256()
    digest.update(f"{TEXTWASH_VERSION}\n{fingerprint}\n".encode())
    digest.update(state.last_run_id.encode())
    for item in planned:
        digest.update(f"\n{item.source}\t{item.sha256}".encode("utf-8", "surrogateescape"))
    run_id = f"{sequence:05d}-{digest.hexdigest()[:12]}"
    parts = _parts(planned)
    return RunPlan(run_id, sequence, fingerprint, planned, parts,
                   _shards(planned, parts, shard_bytes), skipped, supersedes, unchanged_stats)


def _listed_folders(attempts: dict[str, list[str]], sources: list[str]) -> list[tuple[str, str]]:
    """(folder, run) for the unlisted folders of earlier attempts whose files are inputs now."""
    folders = [folder for folder in attempts if folder.endswith("/")]
    return [(folder, run_id) for folder in sorted(folders)
            if any(source.startswith(folder) for source in sources)
            for run_id in attempts[folder]]
