"""Reading .npy and .npz files without `ast`.

`np.load` parses a .npy header with `ast.literal_eval`; on CPython 3.11 two threads building
ASTs at once can fail with "SystemError: AST constructor recursion depth mismatch"
(python/cpython#106905). Dask workers run several threads by default, and each loads arrays,
so the step reads the header of the files it wrote itself (`np.save`'s format) with a pattern.
"""

from __future__ import annotations

import re
import struct
import zipfile
from math import prod
from pathlib import Path

import numpy as np

_HEADER = re.compile(r"\{'descr': '([^']+)', 'fortran_order': (True|False), "
                     r"'shape': \(([0-9, ]*)\), \}")


def load(path: str | Path, mmap_mode: str | None = None) -> np.ndarray:
    """The array of a .npy file, read (or, with `mmap_mode`, mapped) as `np.load` does."""
    with open(path, "rb") as file:
        dtype, shape, fortran = _read_header(file, path)
        offset = file.tell()
        order = "F" if fortran else "C"
        count = prod(shape)
        if not count:
            return np.empty(shape, dtype, order=order)
        if mmap_mode:
            return np.memmap(path, dtype, mmap_mode, offset, shape, order=order)
        data = np.fromfile(file, dtype, count)
    if len(data) != count:
        raise ValueError(f"{path}: {len(data)} of {count} values (a truncated file)")
    return data.reshape(shape, order=order)


def load_npz(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of a .npz file (`np.savez`: uncompressed members), by name."""
    out = {}
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            with archive.open(name) as member:
                dtype, shape, fortran = _read_header(member, f"{path}:{name}")
                data = np.frombuffer(bytearray(member.read()), dtype)
            out[name.removesuffix(".npy")] = data.reshape(shape, order="F" if fortran else "C")
    return out


def _read_header(file, where) -> tuple[np.dtype, tuple[int, ...], bool]:
    magic = file.read(8)
    if magic[:6] != b"\x93NUMPY":
        raise ValueError(f"{where}: not a .npy file")
    size = struct.unpack("<H", file.read(2))[0] if magic[6] == 1 else \
        struct.unpack("<I", file.read(4))[0]
    header = file.read(size).decode("latin1").strip()
    match = _HEADER.fullmatch(header)
    if not match:
        raise ValueError(f"{where}: a .npy header this reader does not know: {header!r}")
    descr, fortran, shape = match.groups()
    return (np.dtype(descr), tuple(int(x) for x in shape.split(",") if x.strip()),
            fortran == "True")
