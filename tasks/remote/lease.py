"""The output's single-writer lock on object storage: a lease object, `_lock`.

A run creates `_lock` if absent (the same atomic create the commit uses) and renews it from a
background thread while it holds it; it deletes it at the end. A run that finds `_lock` stops
with RunLockedError, unless the lease is not being renewed any more (its holder died):
- its holder was a run on this machine with this working copy: that run is dead, since this
  process holds the working copy's own lock (tasks/store.py), so the lease is taken at once;
- any other holder: the lease is taken once it has not been renewed for `ttl` seconds, by the
  storage's clock (the object's last-modified time), so machines' clocks do not matter.
Taking a lease replaces the exact object read (If-Match): of two runs that both find it stale,
one wins. Even a lease lost to a paused process (a laptop asleep past `ttl`) cannot corrupt the
output: the commit is a create-if-absent of the next generation (tasks/remote/log.py), which
only one writer can make.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from datetime import UTC, datetime
from typing import Self

from tasks.remote.objects import Bucket
from tasks.store import RunLockedError

LOCK = "_lock"


class LeaseLost(RuntimeError):
    pass


class Lease:
    def __init__(self, bucket: Bucket, working_copy: str, ttl: float):
        self.bucket, self.working_copy, self.ttl = bucket, working_copy, ttl
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost: str | None = None  # why the lease is no longer this run's
        self.renew_error: str | None = None  # the last renewal's failure, if it failed

    def _body(self) -> bytes:
        return json.dumps({"holder": f"{socket.gethostname()} pid {os.getpid()}",
                           "host": socket.gethostname(), "working_copy": self.working_copy,
                           "token": self.token, "ttl": self.ttl,
                           "renewed": datetime.now(UTC).isoformat()}).encode()

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        if not self.bucket.create(LOCK, self._body()):
            self._take_over_if_dead()
        self._thread = threading.Thread(target=self._renew, name="textwash-lease", daemon=True)
        self._thread.start()

    def _take_over_if_dead(self) -> None:
        seen = self.bucket.info(LOCK)
        raw = self.bucket.read(LOCK) if seen is not None else None
        if seen is None or raw is None:  # released meanwhile
            if self.bucket.create(LOCK, self._body()):
                return
            raise RunLockedError(self.bucket.url, "another run took it just now")
        try:
            held = json.loads(raw)
        except json.JSONDecodeError:
            held = {}
        if not _held_by_this_copy(held, self.working_copy):
            age = self._age()
            if age is None or age < held.get("ttl", self.ttl):
                raise RunLockedError(self.bucket.url, held.get("holder", "unknown holder"))
        if not self.bucket.replace(LOCK, self._body(), seen):
            raise RunLockedError(self.bucket.url, "another run took it just now")

    def _age(self) -> float | None:
        """Seconds since the lock object was last written, by the storage's clock: the
        difference between a probe object's time and the lock's."""
        probe = f"_lock.probe-{self.token}"
        self.bucket.write(probe, b"")
        try:
            now = _modified(self.bucket, probe)
            then = _modified(self.bucket, LOCK)
        finally:
            self.bucket.delete([probe])
        return None if now is None or then is None else now - then

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 4):
            try:
                seen = self.bucket.info(LOCK)
                raw = self.bucket.read(LOCK) if seen is not None else None
                if raw is None or json.loads(raw).get("token") != self.token or \
                        not self.bucket.replace(LOCK, self._body(), seen):
                    self.lost = "the lock object was removed or taken by another run"
                    return
                self.renew_error = None
            except Exception as exc:  # noqa: BLE001 - tried again at the next beat: a storage
                # hiccup is no reason to stop a run (the commit itself is safe either way)
                self.renew_error = f"{type(exc).__name__}: {exc}"

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        raw = self.bucket.read(LOCK)
        try:
            ours = raw is not None and json.loads(raw).get("token") == self.token
        except json.JSONDecodeError:
            ours = False
        if ours:
            self.bucket.delete([LOCK])


def lock_holder(bucket: Bucket, working_copy: str, copy_is_locked: bool) -> str | None:
    """Who holds the output's lease, or None: a hint for the CLI, like Store.is_locked. A lease
    left by a dead run of this working copy (`copy_is_locked` is False: no process holds the
    copy's own lock) is no holder: the next run takes it."""
    raw = bucket.read(LOCK)
    if raw is None:
        return None
    try:
        held = json.loads(raw)
    except json.JSONDecodeError:
        return "unknown"
    if _held_by_this_copy(held, working_copy) and not copy_is_locked:
        return None
    return held.get("holder", "unknown")


def _held_by_this_copy(held: dict, working_copy: str) -> bool:
    """The lease names a run of this working copy on this host: while this process holds the
    copy's own lock, that run is dead."""
    return held.get("host") == socket.gethostname() and held.get("working_copy") == working_copy


def _modified(bucket: Bucket, rel: str) -> float | None:
    info = bucket.fs.info(bucket.path(rel))
    value = info.get("LastModified") or info.get("mtime") or info.get("created")
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value) if value is not None else None
