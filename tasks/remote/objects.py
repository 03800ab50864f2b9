"""`Bucket`: the few object operations textwash uses, under one URL prefix, through fsspec.

Nothing here renames, links or locks: object stores have none of them. What the commit protocol
needs beyond reads and writes is `create` (write an object only if it does not exist, atomically:
S3's conditional PUT with If-None-Match, a hard link on a local disk) and `replace` (write only
if the object is still the one read: If-Match), which the lease uses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tasks.remote.urls import filesystem, normalized
from tasks.store import create_file_atomic


class ConditionalWriteUnsupported(RuntimeError):
    pass


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    tag: str  # changes whenever the object is written: the ETag, or the mtime on a disk


class Bucket:
    def __init__(self, url: str, options: dict | None = None):
        self.url = normalized(url)
        self.fs, self.root = filesystem(url, options)
        protocol = self.fs.protocol
        self.protocol = protocol[0] if isinstance(protocol, (tuple, list)) else protocol

    def __repr__(self) -> str:
        return f"Bucket({self.url!r})"

    def path(self, rel: str) -> str:
        return f"{self.root}/{rel}" if rel else self.root

    def url_of(self, rel: str) -> str:
        return f"{self.url}/{rel}"

    # -- reading -------------------------------------------------------------------------------
    def list(self, prefix: str = "") -> dict[str, ObjectInfo]:
        """Every object under `prefix` (recursively), by path relative to the bucket's root."""
        top = self.path(prefix)
        self.fs.invalidate_cache(top)  # s3fs caches listings; a run must see the latest
        try:
            found = self.fs.find(top, detail=True)
        except FileNotFoundError:
            return {}
        start = len(self.root.rstrip("/")) + 1
        out = {}
        for path, info in found.items():
            if info.get("type") == "directory" or path.endswith("/"):
                continue
            out[path[start:]] = ObjectInfo(int(info.get("size") or 0), _tag(info))
        return out

    def info(self, rel: str) -> ObjectInfo | None:
        try:
            info = self.fs.info(self.path(rel), refresh=True) if self.protocol == "s3" \
                else self.fs.info(self.path(rel))
        except FileNotFoundError:
            return None
        return ObjectInfo(int(info.get("size") or 0), _tag(info))

    def read(self, rel: str) -> bytes | None:
        """The object's bytes, or None when there is none."""
        try:
            return self.fs.cat_file(self.path(rel))
        except FileNotFoundError:
            return None

    def download(self, rel: str, local: Path) -> None:
        """The object into `local`, which appears whole or not at all."""
        local.parent.mkdir(parents=True, exist_ok=True)
        part = local.with_name(f".{local.name}.part-{os.getpid()}")
        try:
            self.fs.get_file(self.path(rel), str(part))
            os.replace(part, local)
        finally:
            part.unlink(missing_ok=True)

    # -- writing -------------------------------------------------------------------------------
    def write(self, rel: str, data: bytes) -> None:
        self._ensure_parent(rel)
        self.fs.pipe_file(self.path(rel), data)

    def upload(self, local: Path, rel: str) -> None:
        self._ensure_parent(rel)
        self.fs.put_file(str(local), self.path(rel))

    def create(self, rel: str, data: bytes) -> bool:
        """Write the object only if none exists, atomically; False when one does."""
        path = self.path(rel)
        if self.protocol == "s3":
            try:
                self.fs.pipe_file(path, data, mode="create")
            except FileExistsError:
                return False
            return True
        if self.protocol in ("file", "local"):
            return create_file_atomic(Path(path), data)
        raise ConditionalWriteUnsupported(
            f"{self.url}: textwash commits to object storage with an atomic create-if-absent, "
            f"which it knows how to ask of s3:// (and local paths) but not of {self.protocol}://")

    def replace(self, rel: str, data: bytes, expected: ObjectInfo) -> bool:
        """Write the object only if it is still `expected` (same ETag); False when it changed.
        On a local disk (tests, one machine) the check and the write are not one step."""
        path = self.path(rel)
        if self.protocol == "s3":
            try:
                self.fs.pipe_file(path, data, IfMatch=expected.tag)
            except FileNotFoundError:
                return False
            except OSError as exc:
                if "condition" in str(exc).lower():
                    return False
                raise
            return True
        if self.info(rel) != expected:
            return False
        self.write(rel, data)
        return True

    def delete(self, rels) -> None:
        """Remove objects; ones already gone are no error."""
        for rel in rels:
            try:
                self.fs.rm_file(self.path(rel))
            except FileNotFoundError:
                pass

    def _ensure_parent(self, rel: str) -> None:
        if self.protocol in ("file", "local"):
            Path(self.path(rel)).parent.mkdir(parents=True, exist_ok=True)


def _tag(info: dict) -> str:
    for key in ("ETag", "etag", "e_tag"):
        if info.get(key):
            return str(info[key])
    return f"{info.get('mtime') or info.get('LastModified') or info.get('created')}"
