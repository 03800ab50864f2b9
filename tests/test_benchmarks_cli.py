"""benchmarks/datatrove_baseline.py fails clearly without its inputs or without datatrove.

datatrove is not a textwash dependency, so these tests never import it: a stand-in module that
raises ImportError shadows any installed copy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "datatrove_baseline.py"


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    shadow = tmp_path / "shadow"
    shadow.mkdir(exist_ok=True)
    (shadow / "datatrove.py").write_text("raise ImportError('no datatrove in this test')\n")
    return subprocess.run([sys.executable, str(SCRIPT), *args], check=False, capture_output=True,
                          text=True, env={"PYTHONPATH": str(shadow), "PATH": "/usr/bin:/bin"},
                          timeout=60)


def test_missing_corpus_dir_exit_2(tmp_path):
    r = _run([str(tmp_path / "nope"), str(tmp_path / "work")], tmp_path)
    assert r.returncode == 2
    assert "corpus folder not found" in r.stderr
    assert not (tmp_path / "work").exists()


def test_without_datatrove_exit_2_with_setup(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.jsonl").write_text('{"id": "1", "text": "Hello."}\n')
    r = _run([str(corpus), str(tmp_path / "work"), "--max-mb", "1"], tmp_path)
    assert r.returncode == 2
    assert "datatrove is not importable" in r.stderr
    assert "pip install 'datatrove[processing,io]==0.10.1'" in r.stderr
