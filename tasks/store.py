"""The layout of the output folder (`clean/`) and the rules that keep it consistent.

    clean/
      documents/<run_id>/part-00000.parquet   one folder per run and table
      paragraphs/<run_id>/part-00000.parquet
      rejects/<run_id>/part-00000.parquet
      _runs/<run_id>.json                      the run manifest: written last, it commits the run
      _index/                                  what later runs need to match against this one
                                               (tasks/dedup_index.py): per-run files
      _staging/<run_id>/                       work in progress (readers never look here)
      _lock                                    held by the run that is writing

A run becomes visible by renaming its finished folders into the tables (one atomic rename per
table) and its index files into `_index/`, then writing its manifest. A folder or index file
without a manifest is a run that crashed between those renames; the next run removes it before
it starts, together with any staging leftovers.
Folders are named by the bare run id, not `run_id=...`: pandas and pyarrow refuse a hive
partition key that is also a column of the files ("Unable to merge: Field run_id has
incompatible types").
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

TABLE_NAMES = ("documents", "paragraphs", "rejects")
INDEX_KINDS = ("entries", "bands", "exact")


class RunLockedError(RuntimeError):
    pass


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary name in the same folder, fsync, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Store:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    # -- paths -------------------------------------------------------------------------------
    @property
    def runs_dir(self) -> Path:
        return self.root / "_runs"

    def staging_dir(self, run_id: str) -> Path:
        return self.root / "_staging" / run_id

    def table_dir(self, table: str, run_id: str) -> Path:
        return self.root / table / run_id

    def manifest_path(self, run_id: str) -> Path:
        return self.runs_dir / f"{run_id}.json"

    # -- concurrency ---------------------------------------------------------------------------
    @contextmanager
    def lock(self):
        """Exclusive right to write to this folder; a second run stops with a clear message."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "_lock", "a+") as fh:  # closing the file releases the lock
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                fh.seek(0)
                holder = fh.read().strip() or "unknown"
                raise RunLockedError(
                    f"another textwash run is writing to {self.root} ({holder}); wait for it to "
                    "finish, or use another output folder"
                ) from None
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
        for path in self.runs_dir.glob("*.json"):
            try:
                runs.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, json.JSONDecodeError) as exc:
                raise RuntimeError(f"run manifest {path} is unreadable: {exc}") from exc
        return sorted(runs, key=lambda m: m["sequence"])

    def recover(self) -> list[str]:
        """Remove what a crashed run left behind. Returns what was removed (for the log)."""
        removed = []
        staging = self.root / "_staging"
        if staging.is_dir():
            for leftover in sorted(staging.iterdir()):
                shutil.rmtree(leftover, ignore_errors=True)
                removed.append(str(leftover))
        committed = {p.stem for p in self.runs_dir.glob("*.json")} if self.runs_dir.is_dir() else set()
        for table in TABLE_NAMES:
            tdir = self.root / table
            if not tdir.is_dir():
                continue
            for run_dir in sorted(tdir.iterdir()):
                if run_dir.is_dir() and run_dir.name not in committed:
                    shutil.rmtree(run_dir)
                    removed.append(str(run_dir))
        for kind in INDEX_KINDS:
            for path in sorted((self.root / "_index" / kind).glob("*.parquet")):
                if path.stem not in committed:
                    path.unlink()
                    removed.append(str(path))
        return removed

    # -- commit --------------------------------------------------------------------------------
    def commit(self, run_id: str, manifest: dict) -> None:
        """Move the staged tables into place, then write the manifest that makes them a run."""
        out = self.staging_dir(run_id) / "out"
        for table in TABLE_NAMES:
            src = out / table
            dst = self.table_dir(table, run_id)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.rename(src, dst)
            _fsync_dir(dst.parent)
        index = self.staging_dir(run_id) / "index"
        if index.is_dir():
            for kind in INDEX_KINDS:
                for src in (index / kind).glob("*.parquet"):
                    dst = self.root / "_index" / kind / src.name
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    os.rename(src, dst)
                    _fsync_dir(dst.parent)
            meta = index / "meta.json"
            if meta.is_file():
                os.replace(meta, self.root / "_index" / "meta.json")
        write_bytes_atomic(self.manifest_path(run_id),
                           json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8"))
        _fsync_dir(self.runs_dir)
        shutil.rmtree(self.staging_dir(run_id), ignore_errors=True)
