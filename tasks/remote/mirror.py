"""The local working copy of `clean` when `clean` is a URL.

The copy is an ordinary output folder (tasks/store.py) that the run works in; the bucket holds
the same files under the commit log (tasks/remote/log.py). Before a run, `pull` makes the
copy's current generation the log's newest one, downloading only files the copy lacks; after
the run's local commit, `push` uploads the files that changed and commits the next generation.

    <working copy>/.remote/state.json   which generation of the log the copy is, with each
                                        file's key and local identity (inode, size, mtime)
    <working copy>/.remote/intent.json  a push under way: what it is committing, so a killed
                                        push is finished or undone by the next run

A push uploads only files whose local identity changed: a run's new parts, files that
superseding or compaction rewrote (the generations are hard links, so an untouched file keeps
its inode). A file's key is its path, except that a path the newest generation already uses
gets a new key (`part-00000.g0000000012.parquet`): no committed object is ever overwritten, so
readers of the newest generation are never disturbed by a run under way, and a killed push
leaves only unreferenced objects, which the next run deletes. Objects the new generation no
longer uses (merged or rewritten away) are deleted right after the commit.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from tasks.faults import checkpoint
from tasks.remote import log
from tasks.remote.lease import LOCK
from tasks.remote.log import Generation, LogError
from tasks.remote.objects import Bucket
from tasks.store import VISIBLE, Layout, Store, write_bytes_atomic

STATE_DIR = ".remote"


class Mirror:
    def __init__(self, bucket: Bucket, store: Store, say: Callable[[str], None] = print):
        self.bucket, self.store, self.say = bucket, store, say

    @property
    def state_path(self) -> Path:
        return self.store.root / STATE_DIR / "state.json"

    @property
    def intent_path(self) -> Path:
        return self.store.root / STATE_DIR / "intent.json"

    # -- pull ----------------------------------------------------------------------------------
    def pull(self) -> dict:
        """Make the copy the log's newest generation (the caller holds the lease). A local
        commit that a killed run made but did not push is pushed first when the copy still sits
        on the newest generation; else it is dropped (the run did not happen). Returns
        counts."""
        self.store.ensure_layout()
        remote = log.latest(self.bucket)
        state = self._finish_interrupted_push(remote)
        current = self.store.current_generation().name
        if state is not None and state["generation"] == remote.number:
            if current == state["local_generation"]:
                return {"generation": remote.number, "downloaded": 0}
            self.say(f"publishing run {self._newest_run()} to {self.bucket.url}: a run that "
                     "stopped before publishing it had committed it locally")
            pushed = self.push()
            return {"generation": pushed["generation"], "downloaded": 0, "pushed": pushed}
        return self._adopt(remote, state)

    def _newest_run(self) -> str | None:
        runs = self.store.manifests()
        return runs[-1]["run_id"] if runs else None

    def _adopt(self, remote: Generation, state: dict | None) -> dict:
        """A new local generation that is `remote`: files the copy has (same key, untouched
        since) linked, the others downloaded."""
        known = (state or {}).get("files", {})
        fetched = []

        def change(built: Layout) -> None:
            root = built.root
            files, _ = _walk(root)
            for rel, sig in files.items():
                entry, had = remote.files.get(rel), known.get(rel)
                if entry is None or had is None or had["sig"] != sig or \
                        (had["key"], had["since"]) != (entry["key"], entry["since"]):
                    (root / rel).unlink()
            missing = [(entry["key"], root / rel) for rel, entry in remote.files.items()
                       if not (root / rel).exists()]
            for _, local in missing:
                local.parent.mkdir(parents=True, exist_ok=True)
            if missing:
                self.bucket.fs.get([self.bucket.path(key) for key, _ in missing],
                                   [str(local) for _, local in missing])
            fetched.extend(missing)
            _prune_dirs(root, set(remote.dirs))
            for rel in remote.dirs:
                (root / rel).mkdir(parents=True, exist_ok=True)

        self.store.rearrange(change)
        self._record(remote)
        if fetched or state is None or state["generation"] != remote.number:
            self.say(f"working copy of {self.bucket.url} at generation {remote.number} "
                     f"({len(fetched)} files downloaded)")
        return {"generation": remote.number, "downloaded": len(fetched)}

    def _record(self, remote: Generation) -> None:
        current = self.store.current_generation()
        files, _ = _walk(current)
        state = {"url": self.bucket.url, "generation": remote.number,
                 "local_generation": current.name,
                 "files": {rel: {**entry, "sig": files[rel]}
                           for rel, entry in remote.files.items()}}
        write_bytes_atomic(self.state_path, json.dumps(state).encode())

    def _state(self) -> dict | None:
        try:
            state = json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return None
        return state if state.get("url") == self.bucket.url else None

    def _finish_interrupted_push(self, remote: Generation) -> dict | None:
        """The state after a push that a kill interrupted: committed (the log has its
        generation) -> it becomes the state and what it replaced is deleted; not committed ->
        its uploads are deleted."""
        state = self._state()
        try:
            intent = json.loads(self.intent_path.read_text())
        except FileNotFoundError:
            return state
        files = {rel: {k: v for k, v in e.items() if k != "sig"}
                 for rel, e in intent["files"].items()}
        if remote.number == intent["generation"] and remote.files == files:
            write_bytes_atomic(self.state_path, json.dumps(
                {k: v for k, v in intent.items() if k not in ("drop", "uploaded")}).encode())
            self.bucket.delete(intent["drop"])
            state = self._state()
        else:
            self.bucket.delete(set(intent["uploaded"]) - remote.keys())
        self.intent_path.unlink()
        return state

    # -- push ----------------------------------------------------------------------------------
    def push(self, run_id: str | None = None) -> dict:
        """Commit the copy's current generation as the log's next one. The caller holds the
        lease and pulled before its local commit. Returns counts."""
        base = log.latest(self.bucket)
        state = self._state() or {"generation": 0, "files": {}}
        if state["generation"] != base.number:
            raise LogError(f"{self.bucket.url} moved to generation {base.number} while this "
                           f"run worked on generation {state['generation']} (its lock was "
                           "taken over): this run's output was not published; run again")
        current = self.store.current_generation()
        files, dirs = _walk(current)
        number = base.number + 1
        entries, uploads = {}, []
        for rel, sig in files.items():
            old = state["files"].get(rel)
            if old is not None and old["sig"] == sig:
                entries[rel] = old
                continue
            key = rel if rel not in base.files else _versioned(rel, number)
            entries[rel] = {"key": key, "size": sig[1], "since": number, "sig": sig}
            uploads.append((rel, key))
        generation = Generation(number, {rel: {k: v for k, v in e.items() if k != "sig"}
                                         for rel, e in entries.items()}, dirs,
                                run_id or self._newest_run())
        drop = sorted(base.keys() - generation.keys())
        write_bytes_atomic(self.intent_path, json.dumps({
            "url": self.bucket.url, "generation": number, "local_generation": current.name,
            "files": entries, "drop": drop, "uploaded": [key for _, key in uploads]}).encode())
        if uploads:
            self.bucket.fs.put([str(current / rel) for rel, _ in uploads],
                               [self.bucket.path(key) for _, key in uploads])
        checkpoint("push:uploaded")
        log.commit(self.bucket, generation)
        checkpoint("push:committed")
        write_bytes_atomic(self.state_path, json.dumps({
            "url": self.bucket.url, "generation": number, "local_generation": current.name,
            "files": entries}).encode())
        self.intent_path.unlink()
        self.bucket.delete(drop)
        return {"generation": number, "uploaded": len(uploads),
                "uploaded_bytes": sum(files[rel][1] for rel, _ in uploads),
                "deleted": len(drop), "files": len(files)}


    def sweep(self) -> list[str]:
        """Delete objects under the prefix that the newest generation does not list (the log
        and the lease aside): uploads of a killed push whose working copy was lost since. Only
        while holding the lease (no push is under way). Lists the whole prefix: for `textwash
        compact`, not for every run."""
        keep = log.latest(self.bucket).keys()
        stray = sorted(rel for rel in self.bucket.list()
                       if rel not in keep and not rel.startswith(log.LOG + "/")
                       and not rel.startswith(LOCK))
        self.bucket.delete(stray)
        return stray


def _walk(root: Path) -> tuple[dict[str, list[int]], list[str]]:
    """The files of a generation (relative path -> [inode, size, mtime_ns]) and its empty
    folders, under the names readers see."""
    files, empty = {}, []
    for name in VISIBLE:
        top = root / name
        for dirpath, dirnames, filenames in os.walk(top):
            rel_dir = Path(dirpath).relative_to(root).as_posix()
            if not dirnames and not filenames and dirpath != str(top):
                empty.append(rel_dir)
            for f in filenames:
                st = os.stat(Path(dirpath) / f)
                files[f"{rel_dir}/{f}"] = [st.st_ino, st.st_size, st.st_mtime_ns]
    return files, sorted(empty)


def _prune_dirs(root: Path, keep: set[str]) -> None:
    """Remove folders left empty, except the visible top folders and those in `keep`."""
    for name in VISIBLE:
        for dirpath, _, _ in sorted(os.walk(root / name), reverse=True):
            path = Path(dirpath)
            rel = path.relative_to(root).as_posix()
            if rel not in VISIBLE and rel not in keep and not any(path.iterdir()):
                path.rmdir()


def _versioned(rel: str, generation: int) -> str:
    """A new key for a rewritten file: the same folder and suffix, so globs still match."""
    path = PurePosixPath(rel)
    return str(path.with_name(f"{path.stem}.g{generation:010d}{path.suffix}"))
