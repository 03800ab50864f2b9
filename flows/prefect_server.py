"""The temporary Prefect server of a run that has no Prefect API configured (no PREFECT_API_URL).

Left to itself, Prefect starts such a server for each process that asks for an API: the flow's,
and then each process-pool worker its own (slow to start, each holding its own memory), none of
which ended with a run killed with SIGKILL. Here the run starts one, before the flow, with
Prefect's own command and settings, and points the flow and its workers at it (Prefect's
settings in this process, PREFECT_API_URL in the environment the workers inherit). It ends with
the run: stopped when the run ends, killed by the kernel with the run's process
(flows/lifetime.py).

    python -m flows.prefect_server PARENT_PID UVICORN_ARGS...    the server's process
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from flows.lifetime import die_with_parent

_PORT_TAKEN = 3  # uvicorn's exit code when it cannot start, e.g. its port was taken meanwhile
_ATTEMPTS = 3


@contextmanager
def prefect_api() -> Iterator[None]:
    """Within: the Prefect API of this process and of the processes it starts. The configured
    one; else, where Prefect would start a temporary server (its ephemeral mode, on by
    default), one temporary server of this run's own."""
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        yield
        return
    with TemporaryServer() as server, _api_url(server.api_url):
        yield


@contextmanager
def _api_url(url: str) -> Iterator[None]:
    """Points at `url` this process's settings (this thread's, and the global ones that Prefect's
    own threads read) and the environment its process workers inherit when spawned."""
    from prefect.context import refresh_global_settings_context
    from prefect.settings import PREFECT_API_URL, temporary_settings

    before = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = url
    refresh_global_settings_context()
    try:
        with temporary_settings(updates={PREFECT_API_URL: url}):
            try:
                yield
            finally:
                _send_what_is_queued()
    finally:
        if before is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = before
        refresh_global_settings_context()


def _send_what_is_queued() -> None:
    """Logs and events still queued in this process go to the server before it stops: Prefect
    would otherwise send them at exit, to a closed port, retrying for a minute or more."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=30, at_exit=False)
    EventsWorker.drain_all(timeout=30, at_exit=False)


class TemporaryServer:
    """A Prefect server (SQLite in PREFECT_HOME, no UI) on a free local port, for as long as the
    `with` block, and never longer than the thread and process that started it."""

    def __init__(self) -> None:
        self.port: int | None = None
        self.process: subprocess.Popen | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS

        timeout = PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()
        deadline = time.monotonic() + timeout
        for _ in range(_ATTEMPTS):
            self.port = _free_port()
            _logger().info("Starting temporary Prefect server for this run on %s",
                           self.api_url)
            self.process = subprocess.Popen(self._command(), env=self._environment())
            code = self._wait_until_healthy(deadline)
            if code is None:
                return
            self.process = None
            if code != _PORT_TAKEN:
                break
        raise RuntimeError(f"the temporary Prefect server did not start (exit code {code}; "
                           "its error is above). Or start one and point at it: prefect server "
                           "start; export PREFECT_API_URL=http://127.0.0.1:4200/api")

    def stop(self) -> None:
        if self.process is None:
            return
        _logger().info("Stopping temporary Prefect server on %s", self.api_url)
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def _command(self) -> list[str]:
        """Prefect's own command for its temporary server (SubprocessASGIServer), through this
        module, which makes the server's process die with this one first."""
        import prefect

        return [sys.executable, "-m", "flows.prefect_server", str(os.getpid()),
                "--app-dir", str(prefect.__module_path__.parent),
                "--factory", "prefect.server.api.server:create_app",
                "--host", "127.0.0.1", "--port", str(self.port),
                "--log-level", "error", "--lifespan", "on"]

    def _environment(self) -> dict[str, str]:
        from prefect.settings import get_current_settings

        here = str(Path(__file__).resolve().parent.parent)  # the `flows` this process runs
        path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)
        return {**os.environ,
                "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
                "PREFECT__SERVER_FINAL": "1",
                **get_current_settings().to_environment_variables(exclude_unset=True),
                # `-m flows...` finds this `flows`, not one in the folder the run started in
                "PYTHONSAFEPATH": "1", "PYTHONPATH": path}

    def _wait_until_healthy(self, deadline: float) -> int | None:
        """None once the server answers; its exit code if it ended first."""
        import httpx

        with httpx.Client(timeout=5) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    return self.process.returncode
                try:
                    if client.get(f"{self.api_url}/health").status_code == 200:
                        return None
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("the temporary Prefect server did not answer within "
                           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS; raise it, or start "
                           "a server and point at it: prefect server start; export "
                           "PREFECT_API_URL=http://127.0.0.1:4200/api")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _logger():
    from prefect.logging import get_logger

    return get_logger("textwash")


def _serve(argv: list[str]) -> None:
    """In the server's process: end with the run's process, then be `python -m uvicorn ARGS`."""
    die_with_parent(int(argv[0]))
    from uvicorn.main import main

    main(args=argv[1:], prog_name="uvicorn")


if __name__ == "__main__":
    _serve(sys.argv[1:])
