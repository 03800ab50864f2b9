"""Find the inputs under RAW: every file (and every folder that cannot be listed) once, in a
stable order, with what stops it being read. Used by planning (which inputs are new) and by the
readers (tasks/shard/read.py), which turn each problem into a reject row.

`source` is the path relative to the raw folder; bytes of it that are not UTF-8 are written
\\xNN (`display_name`, undone by `source_bytes`).
"""

from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from tasks import reasons

_SURROGATE = re.compile(r"[\ud800-\udfff]")

# Suffix -> reader kind. Checked longest first so ".jsonl.gz" wins over ".gz".
FORMATS = {
    ".jsonl.gz": "jsonl",
    ".json.gz": "jsonl",
    ".jsonl": "jsonl",
    ".parquet": "parquet",
    ".txt": "txt",
}


@dataclass(frozen=True)
class InputFile:
    path: str  # absolute
    source: str  # path relative to the raw folder, POSIX separators: what users see
    size: int | None  # None when the file cannot even be stat'ed
    kind: str | None  # None: unsupported type
    # A part of a large uncompressed JSONL file: bytes [start, end), starting at line index
    # first_position (tasks/plan/__init__.py cuts such files at line ends).
    start: int = 0
    end: int | None = None
    first_position: int = 0
    # (error, detail) when planning found it cannot be read: reading it gives that reject.
    problem: tuple[str, str] | None = None


def input_kind(name: str) -> str | None:
    lowered = name.lower()
    for suffix, kind in FORMATS.items():
        if lowered.endswith(suffix):
            return kind
    return None


def discover_inputs(raw_dir: str | Path) -> list[InputFile]:
    """All inputs under `raw_dir` in a stable order. Hidden files and folders are not inputs.

    Linked folders are followed, except a link back to a folder it is in. What cannot be an
    input (a folder that cannot be listed, a link loop, a dangling link, a FIFO or device, a
    name that clashes once escaped) is still listed, with its `problem`, so that reading it
    gives a reject row and nothing is dropped unseen."""
    root = Path(raw_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"input folder {root} does not exist or is not a folder")
    top = os.path.abspath(root)
    try:
        entries = _list(top)
    except OSError as exc:
        raise PermissionError(
            f"input folder {root} cannot be listed: {exc.strerror or exc}") from exc
    found: list[InputFile] = []
    _walk("", entries, {_identity(os.stat(top))}, found)
    found.sort(key=lambda f: f.source)
    return _without_clashes(found, top)


def _list(folder: str) -> list[os.DirEntry]:
    with os.scandir(folder) as it:
        return sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)


def _identity(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _walk(prefix: str, entries: list[os.DirEntry], ancestors: set[tuple[int, int]],
          found: list[InputFile]) -> None:
    """Add the inputs among `entries` (of the folder `prefix`) and in their folders to `found`.
    `ancestors` are the folders `entries` are in: a link to one of them is not followed."""
    for entry in entries:
        source = display_name(prefix + entry.name)
        try:
            st = entry.stat()  # follows links
        except OSError as exc:
            found.append(InputFile(entry.path, source, None, input_kind(source),
                                   problem=(reasons.UNREADABLE, _why_unreadable(entry.path, exc))))
            continue
        if stat.S_ISREG(st.st_mode):
            found.append(InputFile(entry.path, source, st.st_size, input_kind(source)))
        elif not stat.S_ISDIR(st.st_mode):
            found.append(InputFile(entry.path, source, None, input_kind(source),
                                   problem=(reasons.NOT_A_FILE, _not_a_file(st))))
        elif _identity(st) in ancestors:
            target = _link_target(entry.path)
            what = f"a link to {target!r}, a folder" if target is not None else \
                "the same folder as one"  # a bind mount
            found.append(_folder_problem(entry.path, source,
                                         f"{what} it is in: following it would loop"))
        else:
            try:
                inner = _list(entry.path)
            except OSError as exc:
                found.append(_folder_problem(entry.path, source, (
                    f"the folder cannot be listed: {type(exc).__name__}: "
                    f"{exc.strerror or exc}")))
                continue
            _walk(prefix + entry.name + "/", inner, ancestors | {_identity(st)}, found)


def _folder_problem(path: str, source: str, detail: str) -> InputFile:
    """A folder textwash does not enter is one input (source ending in "/"), read as a reject."""
    return InputFile(path, source + "/", None, None, problem=(reasons.UNREADABLE, detail))


def _not_a_file(st: os.stat_result) -> str:
    what = ("a folder" if stat.S_ISDIR(st.st_mode) else
            "a named pipe (FIFO)" if stat.S_ISFIFO(st.st_mode) else
            "a socket" if stat.S_ISSOCK(st.st_mode) else
            "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else
            "a special file")
    # Opening a FIFO waits for a writer, and a device may never end: never opened.
    return f"{what}, not a regular file: not read"


_CLASH = ("the file name is not UTF-8 and, with its bytes shown as \\xNN, is the name of another "
          "input: rename one of them")


def _without_clashes(found: list[InputFile], top: str) -> list[InputFile]:
    """Two inputs with one source would share doc_ids. That happens only when a name that is not
    UTF-8, once escaped, spells a name that exists: the escaped one becomes a reject."""
    by_source: dict[str, int] = {}
    for f in found:
        by_source[f.source] = by_source.get(f.source, 0) + 1
    if all(n == 1 for n in by_source.values()):
        return found
    out = []
    for f in found:
        if by_source[f.source] > 1 and _SURROGATE.search(f.path[len(top):]):
            f = replace(f, size=None, problem=(reasons.NAME_CLASH, _CLASH))
        out.append(f)
    return out


def display_name(name: str) -> str:
    """A path as textwash shows it (`source`): bytes that are not UTF-8 (which Python's file
    functions give as lone surrogates) become the four characters \\xNN. `source_bytes` undoes
    it. Valid names are unchanged, so their doc_ids are too."""
    return printable(name)


def source_bytes(source: str) -> bytes:
    """The bytes of the file name `source` stands for: the inverse of `display_name`."""
    return re.sub(rb"\\x([89a-f][0-9a-f])", lambda m: bytes.fromhex(m[1].decode()),
                  source.encode("utf-8"))


def printable(text: str) -> str:
    """`text` that Arrow, Parquet and JSON can store: each lone surrogate as \\xNN for an
    undecodable byte (U+DC80-U+DCFF, from surrogateescape), else as \\uNNNN."""
    if not _SURROGATE.search(text):
        return text
    return _SURROGATE.sub(lambda m: f"\\x{ord(m[0]) - 0xDC00:02x}"
                          if 0xDC80 <= ord(m[0]) <= 0xDCFF else f"\\u{ord(m[0]):04x}", text)


def problem_now(f: InputFile) -> tuple[str, str] | None:
    """What stops `f` being read now: it may have changed since the run was planned."""
    try:
        with open_regular(f.path):
            return None
    except NotARegularFile as exc:
        return reasons.NOT_A_FILE, exc.detail
    except OSError as exc:
        return reasons.UNREADABLE, _why_unreadable(f.path, exc)


class NotARegularFile(OSError):
    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


def open_regular(path: str) -> BinaryIO:
    """`path` opened for reading if it is a regular file, else NotARegularFile. Opened without
    blocking, then checked: a plain open of a FIFO waits for a writer, maybe forever."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotARegularFile(_not_a_file(st))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _why_unreadable(path: str, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "a loop of symbolic links (too many levels of symbolic links)"
    target = _link_target(path) if exc.errno == errno.ENOENT else None
    if target is not None:
        return f"a symbolic link to {target!r}, which does not exist"
    return f"{type(exc).__name__}: {exc.strerror or exc}"


def _link_target(path: str) -> str | None:
    """Where the symbolic link `path` points, or None (not a link, or gone)."""
    try:
        return os.readlink(path)
    except OSError:
        return None
