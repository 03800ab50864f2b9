"""tasks/npy.py reads what np.save and np.savez write, without ast (np.load's header parser
fails at random when threads parse at once on CPython 3.11)."""

from __future__ import annotations

import ast

import numpy as np
import pytest

from tasks import npy

ARRAYS = [np.arange(10, dtype=np.uint64), np.zeros(0, np.int64), np.ones((3, 4), np.float32),
          np.asfortranarray(np.arange(12).reshape(3, 4)), np.array([True, False]),
          np.arange(6, dtype=">i4").reshape(2, 3), np.zeros((2, 0), np.uint8)]


@pytest.fixture(autouse=True)
def _no_ast(monkeypatch):
    def refuse(*_):
        raise AssertionError("ast used")

    monkeypatch.setattr(ast, "literal_eval", refuse)


@pytest.mark.parametrize("k", range(len(ARRAYS)))
@pytest.mark.parametrize("mmap_mode", [None, "r"])
def test_load_gives_what_np_save_wrote(tmp_path, k, mmap_mode):
    np.save(tmp_path / "a.npy", ARRAYS[k])
    got = npy.load(tmp_path / "a.npy", mmap_mode=mmap_mode)
    assert got.dtype == ARRAYS[k].dtype and got.shape == ARRAYS[k].shape
    assert np.array_equal(got, ARRAYS[k])


def test_load_npz_gives_each_array_by_name(tmp_path):
    np.savez(tmp_path / "f.npz", a=ARRAYS[0], b=ARRAYS[2], c=ARRAYS[4])
    got = npy.load_npz(tmp_path / "f.npz")
    assert sorted(got) == ["a", "b", "c"]
    assert np.array_equal(got["b"], ARRAYS[2]) and np.array_equal(got["c"], ARRAYS[4])
    got["a"][0] = 7  # writable, as np.load's


def test_a_truncated_or_foreign_file_is_refused_with_its_path(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(100))
    data = (tmp_path / "a.npy").read_bytes()
    (tmp_path / "short.npy").write_bytes(data[:-8])
    with pytest.raises(ValueError, match="short.npy.*truncated"):
        npy.load(tmp_path / "short.npy")
    (tmp_path / "text.npy").write_bytes(b"not an array")
    with pytest.raises(ValueError, match="text.npy: not a .npy file"):
        npy.load(tmp_path / "text.npy")
