"""Which `raw` / `clean` values are URLs, and the file system behind one (fsspec)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def is_url(location: str) -> bool:
    """`s3://bucket/prefix`, `file:///path`, `memory://x`...: anything with a scheme. A
    Windows drive letter is not a scheme."""
    scheme, sep, _ = location.partition("://")
    return bool(sep) and len(scheme) > 1 and scheme.replace("+", "").isalnum()


def normalized(url: str) -> str:
    return url.rstrip("/")


def same_place(a: str, b: str) -> bool:
    """Whether two `raw` / `clean` values name one folder or prefix (or one inside the other
    is still allowed: only the same place is refused)."""
    if is_url(a) or is_url(b):
        return normalized(a) == normalized(b)
    return Path(a).resolve() == Path(b).resolve()


def filesystem(url: str, options: dict | None = None):
    """(fsspec file system, path inside it) for `url`; a clear error when the file system's
    package is missing (s3fs for s3://)."""
    import fsspec.core

    try:
        return fsspec.core.url_to_fs(normalized(url), **(options or {}))
    except ImportError as exc:
        raise ValueError(f"{url}: the file system for this URL is not installed ({exc}); for "
                         "s3:// install textwash with s3fs (pip install s3fs)") from exc
    except ValueError as exc:
        raise ValueError(f"{url}: not a URL textwash can open: {exc}") from exc


def cache_folder(url: str, cache_dir: str | None) -> Path:
    """The local working copy of one URL: one folder per URL under the cache directory."""
    base = Path(cache_dir or os.environ.get("TEXTWASH_CACHE")
                or Path.home() / ".cache" / "textwash")
    digest = hashlib.sha256(normalized(url).encode("utf-8")).hexdigest()[:16]
    tail = normalized(url).rsplit("/", 1)[-1] or "root"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in tail)[:40]
    return (base / f"{safe}-{digest}").absolute()
