"""Schedules: the deployment that `textwash serve` registers, against a Prefect server this test
starts itself, run once; and the work-pool deployment in prefect.yaml.

The served test needs a free local port for the server: where none can be bound it is skipped
(and says so). It takes ~40 s (server start-up, serve start-up, one run)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from conftest import RAW, REPO

from flows.clean_corpus import resolve_settings


def test_prefect_yaml_declares_the_flow_with_valid_parameters():
    from prefect.flows import load_flow_from_entrypoint

    config = yaml.safe_load((REPO / "prefect.yaml").read_text())
    (deployment,) = config["deployments"]
    flow = load_flow_from_entrypoint(str(REPO / deployment["entrypoint"]))
    assert flow.name == "clean_corpus"
    params = deployment["parameters"]
    settings = resolve_settings(params["raw"], params["clean"], params["settings"], None)
    assert (settings.raw, settings.clean) == ("raw", "clean")
    assert deployment["schedules"][0]["cron"] == "0 * * * *"
    assert deployment["work_pool"]["name"]
    # `textwash serve` registers clean_corpus/textwash: the pool's deployment must not be it
    from flows.cli import _parser

    served = _parser().parse_args(["serve"]).name
    assert deployment["name"] != served


def _free_port() -> int:
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    except OSError as exc:
        pytest.skip(f"no free local port for a Prefect server: {exc}")


def _start(args, env, log: Path) -> subprocess.Popen:
    return subprocess.Popen(args, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.server
def test_serve_registers_a_scheduled_deployment_and_runs_it(tmp_path):
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home"), "PREFECT_API_URL": api,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false",
           "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    server = _start([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                     "--port", str(port)], env, tmp_path / "server.log")
    serving = None
    try:
        deadline = time.time() + 180
        while True:
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            assert time.time() < deadline, "the Prefect server did not start"
            time.sleep(1)

        clean = tmp_path / "clean"
        # a schedule that does not come due while the test runs: only the run it triggers
        cron = f"0 {(time.gmtime().tm_hour + 12) % 24} * * *"
        serving = _start([sys.executable, "-m", "flows.cli", "serve", str(RAW), str(clean),
                          "--cron", cron, "--name", "textwash"], env,
                         tmp_path / "serve.log")
        with httpx.Client(base_url=api, timeout=10) as client:
            while True:
                found = client.post("/deployments/filter", json={}).json()
                if found:
                    break
                assert serving.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
                assert time.time() < deadline + 120, "the deployment was not registered"
                time.sleep(1)
        (deployment,) = found
        assert deployment["name"] == "textwash"
        assert deployment["schedules"][0]["schedule"]["cron"] == cron
        params = deployment["parameters"]
        assert (params["raw"], params["clean"]) == (str(RAW), str(clean))

        # What a data engineer types to run it now with one value of their own: only that
        # value changes (the folders and every other setting stay the deployment's).
        trigger = subprocess.run(
            [sys.executable, "-m", "prefect", "deployment", "run", "clean_corpus/textwash",
             "--param", 'overrides={"policy": {"max_mt_score": 0.9}}',
             "--watch", "--watch-timeout", "300"],
            env=env, capture_output=True, text=True, timeout=400, check=False)
        assert trigger.returncode == 0, trigger.stdout[-3000:] + trigger.stderr[-3000:]
        assert "Completed" in trigger.stdout + trigger.stderr
        manifests = list((clean / "_runs").glob("*.json"))
        assert len(manifests) == 1
        manifest = json.loads(manifests[0].read_text())
        assert manifest["settings"]["policy"]["max_mt_score"] == 0.9
        assert manifest["raw"] == str(RAW)
        # the flow run is named after the textwash run and tagged with it
        with httpx.Client(base_url=api, timeout=10) as client:
            (run,) = [r for r in client.post("/flow_runs/filter", json={}).json()
                      if r["state_type"] == "COMPLETED"]  # the others: scheduled by the cron
        assert run["name"] == f"textwash-{manifest['run_id']}"
        assert f"run:{manifest['run_id']}" in run["tags"]
    finally:
        if serving is not None:
            _stop(serving)
        _stop(server)
