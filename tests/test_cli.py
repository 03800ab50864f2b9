import json

import pytest
from conftest import RAW, write

from flows.cli import main


def test_invalid_settings_exit_2(tmp_path, capsys):
    assert main(["run", str(RAW), str(tmp_path / "c"), "--dedup-threshold", "1.5"]) == 2
    assert "invalid settings" in capsys.readouterr().err
    assert main(["serve", "--cron", "0 * * * *", str(RAW), str(tmp_path / "c"),
                 "--dedup-threshold", "1.5"]) == 2
    assert "invalid settings" in capsys.readouterr().err


def test_missing_input_folder_exit_2(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope"), str(tmp_path / "c")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_report_without_runs_exit_2(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2


@pytest.mark.flow
def test_run_prints_summary_then_report(prefect_server, tmp_path, capsys):
    clean = tmp_path / "clean"
    assert main(["run", str(RAW), str(clean)]) == 0
    out = capsys.readouterr().out
    for label in ("documents", "paragraphs", "rejects", "boilerplate", "duplicates",
                  "MT-flagged", "languages", "seconds"):
        assert label in out
    assert main(["report", str(clean), "--markdown"]) == 0
    assert "## Boilerplate rules" in capsys.readouterr().out
    assert main(["run", str(RAW), str(clean)]) == 0
    assert "nothing new to process" in capsys.readouterr().out


@pytest.mark.flow
def test_strict_exit_3_and_config_file(prefect_server, tmp_path, capsys):
    write(tmp_path / "raw" / "a.jsonl", '{"text": "fine"}\n{oops\n')
    config = write(tmp_path / "t.toml", "[runtime]\nstrict = true\n")
    assert main(["run", str(tmp_path / "raw"), str(tmp_path / "c"), "--config", str(config)]) == 3
    assert "malformed_json" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "raw"), str(tmp_path / "c2"), "--json"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["counts"]["rejects"] == 1
