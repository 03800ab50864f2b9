"""The local working copy of `raw` when `raw` is a URL: every object under the prefix as a file
at the same relative path (so `source`, and with it every doc_id, is what a local copy of the
bucket would give), downloaded when new or changed (by size and ETag). An unchanged object's
file is left alone, so planning's stat check skips it without reading it.

    <working copy>/.objects.json   path -> [size, tag] of each object downloaded

Hidden names (a part starting with ".") are not inputs, locally or here, and are not fetched.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from tasks.remote.objects import Bucket
from tasks.store import write_bytes_atomic

STATE = ".objects.json"
INCOMING = ".incoming"


class RawFetchError(RuntimeError):
    pass


def sync_raw(bucket: Bucket, folder: Path) -> dict:
    """Bring `folder` up to the objects under `bucket`. Returns counts."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        listing = {rel: info for rel, info in bucket.list().items()
                   if not any(part.startswith(".") for part in rel.split("/"))}
    except OSError as exc:
        raise RawFetchError(f"input {bucket.url} cannot be listed: {exc}") from exc
    if not listing and not bucket.fs.exists(_container(bucket)):
        raise RawFetchError(f"input {bucket.url}: "
                            + ("the bucket does not exist" if bucket.protocol == "s3" else
                               "no such folder"))
    try:
        known = json.loads((folder / STATE).read_text())
    except FileNotFoundError:
        known = {}
    wanted = [rel for rel, info in listing.items()
              if known.get(rel) != [info.size, info.tag] or not (folder / rel).is_file()]
    incoming = folder / INCOMING
    shutil.rmtree(incoming, ignore_errors=True)
    if wanted:
        for rel in wanted:
            (incoming / rel).parent.mkdir(parents=True, exist_ok=True)
        try:
            bucket.fs.get([bucket.path(rel) for rel in wanted],
                          [str(incoming / rel) for rel in wanted])
        except OSError as exc:
            raise RawFetchError(f"downloading the new inputs of {bucket.url} failed ({exc}); "
                                "nothing was processed: run again") from exc
        for rel in wanted:
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(incoming / rel, folder / rel)
            known[rel] = [listing[rel].size, listing[rel].tag]
    shutil.rmtree(incoming, ignore_errors=True)
    gone = sorted(set(known) - set(listing))
    for rel in gone:
        (folder / rel).unlink(missing_ok=True)
        del known[rel]
    write_bytes_atomic(folder / STATE, json.dumps(known, sort_keys=True).encode())
    return {"objects": len(listing), "downloaded": len(wanted), "removed": len(gone)}


def _container(bucket: Bucket) -> str:
    """What must exist for an empty listing to mean "no inputs yet": the bucket (an S3 prefix
    without objects is no error), or the folder."""
    return bucket.root.split("/", 1)[0] if bucket.protocol == "s3" else bucket.root
