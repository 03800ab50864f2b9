"""The output folder (`clean/`) and the rules that keep it consistent.

What readers see:

    clean/
      documents/<run_id>/part-00000.parquet   one folder per run and table, a part per shard
      paragraphs/<run_id>/part-00000.parquet  (merged into <first>-<last>-runs/ folders as runs
      rejects/<run_id>/part-00000.parquet      accumulate: tasks/publish/compaction.py)
      _runs/<run_id>.json                      run manifests (merged: <first>-<last>-runs.jsonl)
      _index/                                  what later runs match against
                                               (tasks/cross_document/history.py)

Each of these five is a symbolic link into `.current`, itself a link to one complete generation
in `.generations/<n>/`. A run builds the next generation beside the current one (hard links to
every file of the current generation, plus its own files and manifest) and then switches
`.current` to it with one atomic rename. Readers therefore see every run completely or not at
all: a run killed at any moment leaves the current generation untouched, and the next run
removes the half-built one. The replaced generation is removed when the next run starts, so a
reader that listed its files inside a generation (through the real path of `.current`) just
before a switch can still open them; paths listed through the visible links resolve into the
current generation, where a folder compaction merged away is gone. Files are rewritten into
the new generation only, never in place: where a changed input supersedes earlier rows
(tasks/publish/supersede.py) and where compaction merges small files
(tasks/publish/compaction.py); `rearrange` does the latter without a run (`textwash compact`).

Also here:
      _staging/<run_id>/   work in progress (`Staging`); a rerun of the same run id (same
                           inputs, settings and history) picks up the shards that finished
                           before a crash
      _lock                held by the run that is writing

Every path of the folder is spelled here and nowhere else: `Layout` names what readers see
(under `clean/`, and the same names inside a generation), `Staging` a run's work in progress,
`ShardFiles` one staged shard.

Folders are named by the bare run id, not `run_id=...`: pandas and pyarrow refuse a hive
partition key that is also a column of the files ("Unable to merge: Field run_id has
incompatible types"). The folder must be on a POSIX file system (local disk or a mount): the
commit relies on atomic rename, hard links and symbolic links.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from tasks.faults import checkpoint

TABLE_NAMES = ("documents", "paragraphs", "rejects")
INDEX_KINDS = ("entries", "bands", "exact", "superseded", "templates")
VISIBLE = (*TABLE_NAMES, "_runs", "_index")


class RunLockedError(RuntimeError):
    """Another run holds the output folder's lock."""

    def __init__(self, root: Path, holder: str):
        super().__init__(f"another textwash run is writing to {root} ({holder}); wait for it to "
                         "finish, or use another output folder")
        self.root, self.holder = root, holder

    def __reduce__(self):  # raised inside a Prefect flow, it may be pickled
        return type(self), (self.root, self.holder)


class LayoutError(RuntimeError):
    pass


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary name in the same folder, fsync, then rename over `path`."""
    os.replace(_synced_temp(path, data), path)


def create_file_atomic(path: Path, data: bytes) -> bool:
    """Write `path` only if it does not exist, whole or not at all: the temporary file is
    linked to `path`, which fails if it exists, so of two writers one wins. False: it
    existed."""
    tmp = _synced_temp(path, data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    return True


def _synced_temp(path: Path, data: bytes) -> Path:
    """`data` in a temporary file beside `path`, on disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return tmp


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def part_name(shard: int) -> str:
    """The file a shard's rows of one table are published in."""
    return f"part-{shard:05d}.parquet"


COMPACTED_SUFFIX = "-runs"


def compacted_name(first: int, last: int) -> str:
    """The name of what compaction merged from runs `first`..`last` (sequence numbers): a table's
    folder, an index file's stem, a manifest log's stem (tasks/publish/compaction.py). It sorts
    among run ids by its first run, so readers that list files in name order read rows in run
    order."""
    return f"{first:05d}-{last:05d}{COMPACTED_SUFFIX}"


def sequence_range(name: str) -> tuple[int, int] | None:
    """The run sequences a folder or file stem holds: a run id (`00017-<hash>`) one run, a
    compacted name (`00001-00016-runs`) every run from the first to the last; None for a name
    that is neither (a folder some other tool left there)."""
    head, _, rest = name.partition("-")
    if not head.isdigit() or not rest:
        return None
    if rest.endswith(COMPACTED_SUFFIX):
        last = rest[:-len(COMPACTED_SUFFIX)]
        return (int(head), int(last)) if last.isdigit() else None
    return int(head), int(head)


def by_sequence(paths) -> list:
    """Files or folders named by run id or compacted range, in run order; other names left
    out."""
    named = [(sequence_range(Path(p).name.split(".")[0]), p) for p in paths]
    return [p for key, p in sorted((k, p) for k, p in named if k is not None)]


class Layout:
    """The names readers see under `root`: `clean/` itself, or one generation of it (which
    holds the same names)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    @property
    def runs_dir(self) -> Path:
        return self.root / "_runs"

    @property
    def index_dir(self) -> Path:
        return self.root / "_index"

    @property
    def index_meta(self) -> Path:
        """How the duplicate index was built (tasks/cross_document/history.py)."""
        return self.index_dir / "meta.json"

    def table_dir(self, table: str, run_id: str) -> Path:
        return self.root / table / run_id

    def parts(self, table: str, run_id: str) -> list[Path]:
        """A run's part files of one table, in shard order (its own folder: see `run_parts`
        for a run whose folder may have been compacted)."""
        return sorted(self.table_dir(table, run_id).glob("*.parquet"))

    def table_folders(self, table: str) -> list[Path]:
        """The folders of one table, runs' and compacted ones, in run order."""
        folder = self.root / table
        return by_sequence(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    def run_parts(self, table: str, run_id: str) -> tuple[list[Path], bool]:
        """The part files that hold a run's rows of one table, and whether they hold other
        runs' rows too (a compacted folder: filter on the `run_id` column)."""
        own = self.table_dir(table, run_id)
        if own.is_dir():
            return self.parts(table, run_id), False
        sequence = sequence_range(run_id)[0]
        for folder in self.table_folders(table):
            first, last = sequence_range(folder.name)
            if first <= sequence <= last and folder.name.endswith(COMPACTED_SUFFIX):
                return sorted(folder.glob("*.parquet")), True
        return [], False

    def manifest_path(self, run_id: str) -> Path:
        return self.runs_dir / f"{run_id}.json"

    def index_file(self, kind: str, run_id: str) -> Path:
        """A run's file of one kind of the index (INDEX_KINDS)."""
        return self.index_dir / kind / f"{run_id}.parquet"

    def index_files(self, kind: str) -> list[Path]:
        """The committed files of one kind of the index (a run's, or several runs' merged by
        compaction), in run order."""
        folder = self.index_dir / kind
        if not folder.is_dir():
            return []
        return by_sequence([*folder.glob("*.parquet"), *folder.glob("*.arrow")])

    def manifest_logs(self) -> list[Path]:
        """Compacted manifests: `_runs/<first>-<last>-runs.jsonl`, one manifest per line."""
        return by_sequence(self.runs_dir.glob(f"*{COMPACTED_SUFFIX}.jsonl")) \
            if self.runs_dir.is_dir() else []


class ShardFiles:
    """One staged shard, `shard-NNNNN/`: its tables as Parquet (`paragraphs`, `documents`,
    `rejects`, and `cross`, which the run-wide step adds), its band keys and its result. It is
    written under `building` and renamed when complete."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def table(self, name: str) -> Path:
        return self.directory / f"{name}.parquet"

    @property
    def band_keys(self) -> Path:
        return self.directory / "band_keys.npy"

    @property
    def result(self) -> Path:
        return self.directory / "result.json"

    @property
    def building(self) -> Path:
        return self.directory.with_name(self.directory.name + ".building")


class Staging:
    """One run's work in progress, `_staging/<run_id>/`: what the commit moves into the next
    generation, and the work files of the steps before it.

        shard-NNNNN/                   a staged shard (`ShardFiles`)
        shard-NNNNN.progress.json      how far a running shard is (tasks/shard/progress.py)
        dedup/                         the run-wide step's work files (band tables, sets)
        out/<table>/part-NNNNN.parquet the published tables, moved into place by the commit
        index/<kind>/<run_id>.parquet  this run's index files, and index/meta.json
    """

    def __init__(self, directory: str | Path, run_id: str | None = None):
        self.directory = Path(directory)
        self.run_id = run_id or self.directory.name  # the folder is named after its run

    def shard(self, shard: int) -> ShardFiles:
        return ShardFiles(self.directory / f"shard-{shard:05d}")

    def shard_progress(self, shard: int) -> Path:
        return self.directory / f"shard-{shard:05d}.progress.json"

    @property
    def work_dir(self) -> Path:
        return self.directory / "dedup"

    @property
    def tables_dir(self) -> Path:
        return self.directory / "out"

    def table_dir(self, table: str) -> Path:
        return self.tables_dir / table

    def part_file(self, table: str, shard: int) -> Path:
        return self.table_dir(table) / part_name(shard)

    @property
    def index_dir(self) -> Path:
        return self.directory / "index"

    @property
    def index_meta(self) -> Path:
        return self.index_dir / "meta.json"

    def index_file(self, kind: str, suffix: str = ".parquet") -> Path:
        """One of this run's index files: Parquet, or (`suffix` .arrow or .npy) the memory-
        mapped form that the duplicate step on a cluster writes (tasks/cross_document/
        history.py has both)."""
        return self.index_dir / kind / f"{self.run_id}{suffix}"

    def index_files(self, kind: str) -> list[Path]:
        folder = self.index_dir / kind
        return sorted(p for suffix in (".parquet", ".arrow", ".npy")
                      for p in folder.glob(f"*{suffix}")) if folder.is_dir() else []


class Store(Layout):
    def __init__(self, root: str | Path):
        super().__init__(Path(root).absolute())  # staged files are read by workers elsewhere too

    # -- paths -------------------------------------------------------------------------------
    @property
    def generations(self) -> Path:
        return self.root / ".generations"

    @property
    def staging_root(self) -> Path:
        return self.root / "_staging"

    @property
    def lock_path(self) -> Path:
        return self.root / "_lock"

    def staging_dir(self, run_id: str) -> Path:
        return self.staging_root / run_id

    def staging(self, run_id: str) -> Staging:
        return Staging(self.staging_dir(run_id), run_id)

    def current_generation(self) -> Path | None:
        link = self.root / ".current"
        if not link.is_symlink():
            return None
        return self.root / os.readlink(link)

    # -- layout --------------------------------------------------------------------------------
    def ensure_layout(self) -> None:
        """Create the visible links and an empty first generation, once."""
        self.root.mkdir(parents=True, exist_ok=True)
        if self.current_generation() is None:
            for name in VISIBLE:
                path = self.root / name
                if path.exists() and not path.is_symlink():
                    raise LayoutError(
                        f"{path} is a real folder: {self.root} was written by another tool or "
                        "an older textwash; use a new output folder")
            first = self.generations / "0"
            for name in VISIBLE:
                (first / name).mkdir(parents=True, exist_ok=True)
            self._switch_to(first)
        for name in VISIBLE:
            link = self.root / name
            if not link.is_symlink():
                link.symlink_to(Path(".current") / name)

    def _switch_to(self, generation: Path) -> None:
        tmp = self.root / f".current.tmp-{os.getpid()}"
        if tmp.is_symlink():
            tmp.unlink()
        tmp.symlink_to(generation.relative_to(self.root))
        os.replace(tmp, self.root / ".current")
        _fsync_dir(self.root)

    # -- concurrency ---------------------------------------------------------------------------
    @contextmanager
    def lock(self):
        """Exclusive right to write to this folder; a second run stops with a clear message."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+") as fh:  # closing the file releases the lock
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                fh.seek(0)
                raise RunLockedError(self.root, fh.read().strip() or "unknown") from None
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()}\n")
            fh.flush()
            yield

    # -- history -------------------------------------------------------------------------------
    def manifests(self) -> list[dict]:
        """Committed runs, oldest first."""
        if not self.runs_dir.is_dir():
            return []
        runs = []
        for path in [*self.runs_dir.glob("*.json"), *self.manifest_logs()]:
            try:
                text = path.read_text(encoding="utf-8")
                runs += [json.loads(line) for line in text.splitlines() if line] \
                    if path.suffix == ".jsonl" else [json.loads(text)]
            except (OSError, json.JSONDecodeError) as exc:
                raise RuntimeError(f"run manifest {path} is unreadable: {exc}") from exc
        return sorted(runs, key=lambda m: m["sequence"])

    def recover(self, keep_staging: str | None = None) -> list[str]:
        """Clean the folder before a run. The generation the last commit replaced (kept for
        readers that listed it just before the switch) goes quietly. What an interrupted run
        left behind (generations that never became current, staging of other run ids) goes
        too and is returned, so that the run can say so."""
        interrupted = []
        current = self.current_generation()
        current_number = _generation_number(current) if current is not None else None
        if self.generations.is_dir():
            for gen in sorted(self.generations.iterdir()):
                if current is not None and gen.resolve() == current.resolve():
                    continue
                number = _generation_number(gen)
                replaced = (current_number is not None and number is not None
                            and number < current_number)
                shutil.rmtree(gen, ignore_errors=True)
                if not replaced:
                    interrupted.append(str(gen))
        if self.staging_root.is_dir():
            for leftover in sorted(self.staging_root.iterdir()):
                if leftover.name != keep_staging:
                    shutil.rmtree(leftover, ignore_errors=True)
                    interrupted.append(str(leftover))
        for tmp in self.root.glob(".current.tmp-*"):
            tmp.unlink()
        return interrupted

    def is_locked(self) -> str | None:
        """Who holds the folder's lock ("pid N"), or None when no run is writing. Only a hint
        (the lock can be taken right after): runs still take `lock()`. Looking leaves the
        lock file as it was."""
        if not self.lock_path.is_file():
            return None
        with open(self.lock_path) as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                return fh.read().strip() or "unknown"
            return None

    # -- commit --------------------------------------------------------------------------------
    def commit(self, run_id: str, manifest: dict,
               rewrite: Callable[[Layout], dict] | None = None) -> dict:
        """Make the staged run visible: build the next generation (links to the current one's
        files, this run's tables and index files, `rewrite` applied to it, the manifest with
        what `rewrite` returned merged in) and switch to it atomically. Returns the manifest,
        whose `seconds` gain `commit` (building the generation, `rewrite` included)."""
        started = time.perf_counter()
        staged = self.staging(run_id)
        written = {}

        def fill(built: Layout) -> None:
            for table in TABLE_NAMES:
                os.rename(staged.table_dir(table), built.table_dir(table, run_id))
            for kind in INDEX_KINDS:
                for src in staged.index_files(kind):
                    dst = built.index_dir / kind / src.name
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    os.rename(src, dst)
            if staged.index_meta.is_file():
                os.replace(staged.index_meta, built.index_meta)
            final = {**manifest, **(rewrite(built) if rewrite is not None else {})}
            if isinstance(final.get("seconds"), dict):
                final["seconds"] = {**final["seconds"],
                                    "commit": round(time.perf_counter() - started, 3)}
            checkpoint("commit:tables")
            write_bytes_atomic(built.manifest_path(run_id),
                               json.dumps(final, indent=2, sort_keys=True).encode("utf-8"))
            written.update(final)

        self._next_generation(fill)
        shutil.rmtree(staged.directory, ignore_errors=True)
        return written

    def rearrange(self, change: Callable[[Layout], object]):
        """A new generation with the same rows, `change` applied to its files (compaction:
        `textwash compact`), switched to atomically like a run's commit. Returns what `change`
        returned."""
        out = []
        self._next_generation(lambda built: out.append(change(built)))
        return out[0]

    def _next_generation(self, fill: Callable[[Layout], None]) -> None:
        """Build the next generation from links to the current one's files, `fill` it, and
        switch to it."""
        self.ensure_layout()
        current = self.current_generation()
        number = max((int(p.name) for p in self.generations.iterdir() if p.name.isdigit()),
                     default=0) + 1
        building = self.generations / f"{number}.building"
        shutil.rmtree(building, ignore_errors=True)
        _link_tree(current, building)
        checkpoint("commit:linked")
        fill(Layout(building))
        final = self.generations / str(number)
        os.rename(building, final)
        _fsync_dir(self.generations)
        checkpoint("commit:built")
        self._switch_to(final)
        checkpoint("commit:switched")
        # The generation just replaced stays until the next run starts (`recover`): a reader
        # that listed its files before the switch can still open them. Older ones go now.
        keep = {final.resolve(), current.resolve() if current is not None else None}
        for gen in self.generations.iterdir():
            if gen.resolve() not in keep and not gen.name.endswith(".building"):
                shutil.rmtree(gen, ignore_errors=True)


def _generation_number(path: Path) -> int | None:
    return int(path.name) if path.name.isdigit() else None


def _link_tree(src: Path | None, dst: Path) -> None:
    """Recreate `src`'s folders under `dst` with hard links to its files."""
    dst.mkdir(parents=True)
    for name in VISIBLE:
        (dst / name).mkdir(exist_ok=True)
    if src is None:
        return
    for dirpath, dirnames, filenames in os.walk(src):
        rel = Path(dirpath).relative_to(src)
        for d in dirnames:
            (dst / rel / d).mkdir(exist_ok=True)
        for f in filenames:
            os.link(Path(dirpath) / f, dst / rel / f)
