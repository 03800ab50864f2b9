import json
import os
import subprocess
import sys

import pytest
from conftest import RAW, REPO, write

from flows.cli import main
from tasks.store import Store

# A Prefect API nobody listens on: a command that reached Prefect would fail, not exit 0/2/4.
NO_PREFECT = {**os.environ, "PREFECT_API_URL": "http://127.0.0.1:9/api"}


def cli(*args, env=NO_PREFECT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows.cli", *map(str, args)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300, check=False)


def test_invalid_settings_exit_2(tmp_path, capsys):
    assert main(["run", str(RAW), str(tmp_path / "c"), "--dedup-min-score", "1.5"]) == 2
    assert "invalid settings" in capsys.readouterr().err
    assert main(["serve", "--cron", "0 * * * *", str(RAW), str(tmp_path / "c"),
                 "--dedup-min-score", "1.5"]) == 2
    assert "invalid settings" in capsys.readouterr().err


def test_missing_input_folder_exit_2(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope"), str(tmp_path / "c")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    (["--keep-languages", "english"], "not language codes"),
    (["--keep-languages", "eng"], "is ever tagged eng"),
])
def test_settings_that_would_keep_nothing_exit_2(tmp_path, capsys, flags, message):
    assert main(["run", str(RAW), str(tmp_path / "c"), *flags]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-1", "lots"])
def test_shard_size_must_be_a_positive_number(tmp_path, capsys, value):
    with pytest.raises(SystemExit) as exited:
        main(["run", str(RAW), str(tmp_path / "c"), "--shard-mb", value])
    assert exited.value.code == 2
    assert "--shard-mb" in capsys.readouterr().err


def test_bad_cron_exit_2_without_traceback(tmp_path):
    done = cli("serve", "--cron", "not a cron", RAW, tmp_path / "c")
    assert done.returncode == 2
    assert "not a cron schedule" in done.stderr and "Traceback" not in done.stderr


def test_version_and_exit_codes_in_help(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("textwash 0.")
    for args in (["--help"], ["run", "--help"]):
        with pytest.raises(SystemExit):
            main(args)
        out = capsys.readouterr().out
        assert "exit codes:" in out and "another textwash run" in out


def test_a_second_run_is_refused_at_once_before_prefect_starts(tmp_path):
    clean = tmp_path / "clean"
    with Store(clean).lock():
        done = cli("run", RAW, clean)
    assert done.returncode == 4, done.stderr
    assert f"pid {os.getpid()}" in done.stderr


def test_input_folder_that_cannot_be_listed_exit_2(tmp_path, capsys, monkeypatch):
    import flows.cli

    def refuse(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(flows.cli.os, "scandir", refuse)  # root can list anything: pretend
    assert main(["run", str(RAW), str(tmp_path / "c")]) == 2
    assert "cannot be listed: Permission denied" in capsys.readouterr().err


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
    # Said before Prefect starts: no Prefect API is reachable for this one.
    done = cli("run", RAW, clean)
    assert done.returncode == 0, done.stderr
    assert "nothing new to process: 3 inputs" in done.stdout


@pytest.mark.flow
def test_strict_exit_3_and_config_file(prefect_server, tmp_path, capsys):
    write(tmp_path / "raw" / "a.jsonl", '{"text": "fine"}\n{oops\n')
    config = write(tmp_path / "t.toml", "[runtime]\nstrict = true\n")
    assert main(["run", str(tmp_path / "raw"), str(tmp_path / "c"), "--config", str(config)]) == 3
    assert "malformed_json" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "raw"), str(tmp_path / "c2"), "--json"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["counts"]["rejects"] == 1


def test_the_python_api_turns_telemetry_off_unless_told_otherwise():
    code = ("import flows.clean_corpus; from prefect.settings import get_current_settings; "
            "print(get_current_settings().server.analytics_enabled)")
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_SERVER_ANALYTICS_ENABLED"}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.stdout.strip() == "False", done.stderr
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "true"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.stdout.strip() == "True", done.stderr


def test_files_lists_a_tables_committed_files_in_run_order(tmp_path, capsys):
    assert main(["files", str(tmp_path / "nope")]) == 2
    assert "is not a textwash output folder" in capsys.readouterr().err
    store = Store(tmp_path / "clean")
    store.ensure_layout()
    for run in ("00002-bbbbbbbbbbbb", "00001-aaaaaaaaaaaa"):
        staged = store.staging(run)
        for table in ("documents", "paragraphs", "rejects"):
            staged.table_dir(table).mkdir(parents=True, exist_ok=True)
        write(staged.part_file("documents", 0), b"not read by the listing")
        store.commit(run, {"run_id": run, "sequence": int(run[:5])})
    assert main(["files", str(tmp_path / "clean")]) == 0
    listed = capsys.readouterr().out.split()
    current = os.path.realpath(tmp_path / "clean" / ".current")
    assert listed == [f"{current}/documents/00001-aaaaaaaaaaaa/part-00000.parquet",
                      f"{current}/documents/00002-bbbbbbbbbbbb/part-00000.parquet"]
    assert main(["files", str(tmp_path / "clean"), "--table", "rejects"]) == 0
    assert capsys.readouterr().out == ""
