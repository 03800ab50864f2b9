"""Benchmark scripts fail clearly without their inputs: datatrove_baseline.py (also without
datatrove, which is not a textwash dependency: these tests never import it, a stand-in module
that raises ImportError shadows any installed copy), and hot_paths.py, which also runs on the
sample in raw/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "speed" / "datatrove_baseline.py"


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


HOT_PATHS = SCRIPT.parent / "hot_paths.py"


def test_hot_paths_measures_one_shard_of_the_sample(tmp_path):
    raw = Path(__file__).resolve().parent.parent / "raw"
    r = subprocess.run([sys.executable, str(HOT_PATHS), str(raw)], check=False,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "shard 1 of 1: 3 documents" in r.stdout
    assert "bare lid.176 predict loop" in r.stdout


def test_hot_paths_missing_dir_exit_2(tmp_path):
    r = subprocess.run([sys.executable, str(HOT_PATHS), str(tmp_path / "nope")], check=False,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "not found" in r.stderr


def test_same_story_benchmark_says_when_data_is_missing(tmp_path):
    r = _evaluation_script("neardup_msrp.py", str(tmp_path / "nope"))
    assert r.returncode != 0
    assert "evaluation data not found" in r.stderr and "paraphrase" in r.stderr


EVALUATION = SCRIPT.parent.parent / "evaluation"


def _evaluation_script(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(EVALUATION / name), *args], check=False,
                          capture_output=True, text=True, timeout=120)


def test_sample_duplicates_says_when_there_is_no_output(tmp_path):
    r = _evaluation_script("sample_duplicates.py", str(tmp_path))
    assert r.returncode == 1
    assert "no paragraphs table" in r.stderr


def test_boilerplate_run_eval_says_when_data_is_missing(tmp_path):
    r = _evaluation_script("boilerplate_run_eval.py", str(tmp_path))
    assert r.returncode == 2
    assert "evaluation data not found" in r.stderr


def test_cross_document_step_says_when_no_shards_are_staged(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.txt").write_text("A paragraph of text.\n")
    script = SCRIPT.parent / "cross_document_step.py"
    r = subprocess.run([sys.executable, str(script), str(raw), str(tmp_path / "clean")],
                       check=False, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert "no staged shards" in r.stderr and "TEXTWASH_CRASH_AT=flow:shards" in r.stderr


def test_table_commits_measures_textwash_commits_on_a_server_it_starts(tmp_path):
    r = subprocess.run([sys.executable, "-m", "benchmarks.speed.table_commits", "--commits", "50",
                        "--only", "textwash"], check=False, capture_output=True, text=True,
                       timeout=300, cwd=SCRIPT.parents[2])
    assert r.returncode == 0, r.stderr[-2000:]
    assert "textwash commits 50: first 50" in r.stdout
    assert "101 objects under its prefix" in r.stdout  # 50 parts, 50 log entries, the hint
    assert "delta" not in r.stdout


def test_scheduled_runs_on_s3_end_with_a_fresh_copy_like_the_runs_own(tmp_path):
    import json

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": str(i), "text": f"Story {i}.\n\nA paragraph "
                                          f"about council meeting number {i} and its votes."})
                              + "\n" for i in range(8)))
    r = subprocess.run([sys.executable, "-m", "benchmarks.speed.scheduled_runs", str(corpus),
                        "--runs", "2", "--docs-per-run", "4", "--s3", "--work",
                        str(tmp_path / "work")], check=False, capture_output=True, text=True,
                       timeout=600, cwd=SCRIPT.parents[2])
    assert r.returncode == 0, r.stderr[-3000:]
    assert "the same tables, manifests and index as the run's own copy" in r.stdout
    assert "rows a reader sees: documents 8," in r.stdout


def test_cluster_benchmark_resumes_only_a_work_folder_that_is_there(tmp_path):
    r = subprocess.run([sys.executable, "-m", "benchmarks.speed.cluster_dedup", "--paragraphs",
                        "1000", "--work", str(tmp_path / "nope"), "--resume"],
                       check=False, capture_output=True, text=True, timeout=120,
                       cwd=SCRIPT.parent.parent.parent)
    assert r.returncode == 2
    assert "there is no work folder" in r.stderr and not (tmp_path / "nope").exists()
