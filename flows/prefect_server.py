"""The temporary Prefect server of a run that has no Prefect API configured (no PREFECT_API_URL).

Left to itself, Prefect starts such a server for each process that asks for an API: the flow's,
and then each process-pool worker its own (slow to start, each holding its own memory), none of
which ended with a run killed with SIGKILL. Here the run starts one, before the flow, with
Prefect's own command and settings, and points the flow and its workers at it (Prefect's
settings in this process, PREFECT_API_URL in the environment the workers inherit). It ends with
the run: stopped when the run ends, killed by the kernel with the run's process
(flows/lifetime.py).

Its start is most of a short run's time, so it is made short: the command line launches it
before it imports Prefect or plans the run (`early_server`), and waits for it only when the flow
needs the API; its database comes pre-migrated to a fresh PREFECT_HOME, and the server skips the
work a temporary server does not need (flows/prefect_database.py, and block registration: a run
uses no blocks).

    python -m flows.prefect_server PARENT_PID UVICORN_ARGS...    the server's process
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from flows.lifetime import die_with_parent
from flows.startup import collector_paused

_PORT_TAKEN = 3  # uvicorn's exit code when it cannot start, e.g. its port was taken meanwhile
_ATTEMPTS = 3
# Defaults for the server's process (a value in the environment wins): registering Prefect's
# block types, or checking a memo of them, imports every installed Prefect collection.
_SERVER_DEFAULTS = {"PREFECT_SERVER_REGISTER_BLOCKS_ON_START": "false",
                    "PREFECT_SERVER_MEMOIZE_BLOCK_AUTO_REGISTRATION": "false"}


@contextmanager
def prefect_api(server: TemporaryServer | None = None) -> Iterator[None]:
    """Within: the Prefect API of this process and of the processes it starts. The configured
    one; else, where Prefect would start a temporary server (its ephemeral mode, on by
    default), one temporary server of this run's own: `server` if one was launched already
    (`early_server`), which is stopped at once if an API is configured after all."""
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        if server is not None:
            server.stop()
        yield
        return
    server = server or TemporaryServer()
    if server.process is None:
        server.launch()
    _import_what_the_run_imports_later()  # while the server starts
    with server, _api_url(server.api_url):
        yield


def _import_what_the_run_imports_later() -> None:
    """Modules that the run would import on its way, imported now: Prefect imports FastAPI to
    serialize a flow run's parameters, and pyarrow imports pandas (where it is installed) the
    first time it builds a table."""
    with collector_paused():
        import fastapi.encoders  # noqa: F401

        try:
            import pandas  # noqa: F401
        except ImportError:
            pass


@contextmanager
def early_server() -> Iterator[TemporaryServer | None]:
    """For the command line: a temporary server launched now, before this process imports
    Prefect and plans the run, so that its start overlaps them (its process reads Prefect's
    settings as this one would: the same environment and folder); None when an API is
    configured where it can be seen without importing Prefect. `prefect_api(server)` waits for
    it. Stopped on leaving, however the run ends: a run that ends early (nothing new to process)
    stops it at once, while it is still starting."""
    server = None if _api_configured() else TemporaryServer()
    try:
        if server is not None:
            server.launch()
        yield server
    finally:
        if server is not None:
            server.stop()


def _api_configured() -> bool:
    """Whether a Prefect API is configured, as far as can be seen cheaply: Prefect's settings
    once it is imported; before, the environment and the active profile. Only an early guess:
    prefect_api() decides with Prefect's settings."""
    if "prefect.settings" in sys.modules:
        from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

        return bool(PREFECT_API_URL.value()) or not PREFECT_SERVER_EPHEMERAL_ENABLED.value()
    return _api_in_environment_or_profile()


def _api_in_environment_or_profile() -> bool:
    if os.environ.get("PREFECT_API_URL"):
        return True
    home = Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser()
    try:
        profiles = tomllib.loads(Path(os.environ.get("PREFECT_PROFILES_PATH") or
                                      home / "profiles.toml").expanduser().read_text())
    except (OSError, ValueError):
        return False
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active", "ephemeral")
    return bool(profiles.get("profiles", {}).get(active, {}).get("PREFECT_API_URL"))


@contextmanager
def _api_url(url: str) -> Iterator[None]:
    """Points at `url`, the temporary server, this process's settings (this thread's, and the
    global ones that Prefect's own threads read) and the environment its process workers
    inherit when spawned."""
    from prefect.context import refresh_global_settings_context
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    updates = {PREFECT_API_URL: url}
    # A flow run's heartbeats let a server tell a crashed run by their absence; this server
    # ends with the run and can tell nothing. Their thread, stopped as the flow ends, finishes
    # its sleep first (a second at most).
    if "heartbeat_frequency" not in get_current_settings().flows.model_fields_set:
        updates["flows.heartbeat_frequency"] = None
    before = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = url
    refresh_global_settings_context()
    try:
        with temporary_settings(updates=updates):
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
    `with` block, and never longer than the thread and process that started it. `launch` starts
    its process and returns; `start` (or entering the block) also waits until it answers."""

    def __init__(self) -> None:
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self.ready = False
        self._launched_at = 0.0
        self._attempts = 0

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def launch(self) -> None:
        """Starts the server's process on a free port, without waiting for it; needs no
        Prefect in this process."""
        self.port = _free_port()
        self._attempts += 1
        self._launched_at = time.monotonic()
        self.process = subprocess.Popen(self._command(), env=self._environment())

    def start(self) -> None:
        """Launched (unless it was) and answering; a port taken meanwhile is retried on
        another."""
        from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS

        if self.ready:
            return
        if self.process is None:
            self.launch()
        deadline = self._launched_at + PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()
        while (code := self._wait_until_healthy(deadline)) is not None:
            self.process = None
            if code != _PORT_TAKEN or self._attempts >= _ATTEMPTS:
                raise RuntimeError(
                    f"the temporary Prefect server did not start (exit code {code}; its error "
                    "is above). Or start one and point at it: prefect server start; export "
                    "PREFECT_API_URL=http://127.0.0.1:4200/api")
            self.launch()
        self.ready = True
        _logger().info("Temporary Prefect server for this run on %s (answering %.1f s after "
                       "its start)", self.api_url, time.monotonic() - self._launched_at)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.ready:  # else never announced, and Prefect may not be imported: say nothing
            _logger().info("Stopping temporary Prefect server on %s", self.api_url)
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
        self.ready = False

    def _command(self) -> list[str]:
        """Prefect's own command for its temporary server (SubprocessASGIServer), through this
        module, which makes the server's process die with this one first."""
        prefect = importlib.util.find_spec("prefect")  # where it is, without importing it
        return [sys.executable, "-m", "flows.prefect_server", str(os.getpid()),
                "--app-dir", str(Path(prefect.submodule_search_locations[0]).parent),
                "--factory", "prefect.server.api.server:create_app",
                "--host", "127.0.0.1", "--port", str(self.port),
                "--log-level", "error", "--lifespan", "on"]

    def _environment(self) -> dict[str, str]:
        """This process's environment, and its Prefect settings when Prefect is imported (a
        caller may have changed them in-process; before, the server reads the same ones)."""
        here = str(Path(__file__).resolve().parent.parent)  # the `flows` this process runs
        path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)
        settings = {}
        if "prefect.settings" in sys.modules:
            from prefect.settings import get_current_settings

            settings = get_current_settings().to_environment_variables(exclude_unset=True)
        return {**_SERVER_DEFAULTS, **os.environ,
                "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
                "PREFECT__SERVER_FINAL": "1", **settings,
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
    """In the server's process: end with the run's process, prepare the database, then be
    `python -m uvicorn ARGS`."""
    die_with_parent(int(argv[0]))
    with collector_paused():
        _prepare_database()
        import prefect.server.api.server  # noqa: F401 - what uvicorn's --factory imports next
    from uvicorn.main import main

    main(args=argv[1:], prog_name="uvicorn")


def _prepare_database() -> None:
    """The template database into a fresh home, and the settings that spare the server work
    on its database (flows/prefect_database.py), before the server reads its settings. Never
    stops the server from starting: on any error Prefect does as it would have."""
    from prefect.context import refresh_global_settings_context
    from prefect.settings import get_current_settings

    from flows.prefect_database import prepare

    try:
        updates = prepare(get_current_settings())
    except Exception as exc:  # noqa: BLE001 - an optimisation only
        print(f"textwash: the Prefect database was not prepared ({type(exc).__name__}: {exc}); "
              "Prefect checks and migrates it itself", file=sys.stderr)
        return
    if updates:
        os.environ.update(updates)
        refresh_global_settings_context()


if __name__ == "__main__":
    _serve(sys.argv[1:])
