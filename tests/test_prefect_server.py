"""The temporary Prefect server of a run without PREFECT_API_URL: its pre-migrated database
(flows/prefect_database.py), its early start by the command line and its stop when the run ends
early (flows/prefect_server.py)."""

import gzip
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, write

import flows.prefect_server
from flows import prefect_database
from flows.cli import main
from flows.prefect_database import (
    MIGRATE_ON_START,
    TRIGGERS,
    PrefectKey,
    default_database,
    installed_prefect,
    prepare,
    revision_of,
)
from flows.prefect_server import TemporaryServer
from tasks.store import Store


@pytest.fixture(scope="module", autouse=True)
def template_for_installed_prefect(tmp_path_factory):
    """The shipped template when it is for the installed Prefect; else (Prefect was upgraded
    since it was built: a fresh home then migrates as Prefect does) one built here for it, so
    that these tests check the mechanism whatever Prefect pip installed."""
    key = installed_prefect()
    if key.template.is_file():
        yield key.template
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(prefect_database, "TEMPLATES", tmp_path_factory.mktemp("prefect_db"))
        yield prefect_database.build(prefect_database.TEMPLATES)


@pytest.fixture
def home(tmp_path):
    """Prefect's settings with a fresh, empty PREFECT_HOME (the default database in it, also
    where the session's Prefect test harness has configured one of its own)."""
    from prefect.settings import get_current_settings, temporary_settings

    with temporary_settings(updates={"home": str(tmp_path / "home")},
                            restore_defaults=_DATABASE_URL):
        yield get_current_settings()


_DATABASE_URL = {"server.database.connection_url"}


def test_the_head_revision_read_from_the_files_is_alembics():
    import prefect
    from alembic.script import ScriptDirectory
    from prefect.server.database.alembic_commands import alembic_config

    versions = Path(prefect.__file__).parent / "server/database/_migrations/versions/sqlite"
    script = ScriptDirectory.from_config(alembic_config())
    heads = ScriptDirectory(script.dir, version_locations=[str(versions)]).get_heads()
    assert heads == [installed_prefect().head]


def test_a_template_ships_for_the_installed_prefect():
    """Skipped after an upgrade of Prefect until the template is rebuilt (python -m
    flows.prefect_database --build); runs still work, a fresh home migrating as before."""
    key = installed_prefect()
    shipped = sorted(p.name for p in (REPO / "flows" / "prefect_db").glob("*.db.gz"))
    if key.template.name not in shipped:
        pytest.skip(f"no template shipped for Prefect {key.version} ({key.head}): rebuild it "
                    "with python -m flows.prefect_database --build")
    assert shipped == [key.template.name]


def test_the_template_is_copied_into_a_fresh_home_at_the_head_revision(home):
    path = default_database(home)
    assert path == Path(home.home) / "prefect.db" and not path.exists()
    assert prepare(home) == {MIGRATE_ON_START: "false", TRIGGERS: "false"}
    assert revision_of(path) == installed_prefect().head
    assert [p.name for p in path.parent.iterdir()] == ["prefect.db"]  # no partial file left
    with sqlite3.connect(path) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"flow_run", "task_run", "events", "automation", "block_type"} <= tables


def test_an_existing_database_is_never_replaced(home):
    path = Path(home.home) / "prefect.db"
    write(path, b"not a database")
    assert prepare(home) == {}  # its revision cannot be read: Prefect checks it itself
    assert path.read_bytes() == b"not a database"


def test_a_database_at_the_head_is_not_migrated_again_and_one_behind_is(home):
    path = Path(home.home) / "prefect.db"
    prepare(home)
    assert prepare(home) == {MIGRATE_ON_START: "false", TRIGGERS: "false"}
    with sqlite3.connect(path) as db:
        db.execute("UPDATE alembic_version SET version_num = 'an_older_one'")
    assert MIGRATE_ON_START not in prepare(home)


def test_a_database_with_automations_keeps_its_triggers(home):
    path = Path(home.home) / "prefect.db"
    prepare(home)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA foreign_keys = OFF")
        columns = [r for r in db.execute("PRAGMA table_info(automation)")]
        values = {c[1]: ("x" if "CHAR" in c[2] or c[2] in ("JSON", "TEXT") else 0)
                  for c in columns if c[3] and c[4] is None}  # NOT NULL, no default
        db.execute(f"INSERT INTO automation ({', '.join(values)}) VALUES "
                   f"({', '.join('?' * len(values))})", list(values.values()))
    assert prepare(home) == {MIGRATE_ON_START: "false"}


def test_no_template_with_a_configured_database_or_another_prefect(tmp_path, home):
    from prefect.settings import get_current_settings, temporary_settings

    other = tmp_path / "other.db"
    with temporary_settings(updates={"server.database.connection_url":
                                     f"sqlite+aiosqlite:///{other}"}):
        assert default_database(get_current_settings()) is None
        assert prepare(get_current_settings()) == {}
    # The same file as the default, but configured: the user's to manage
    same = f"sqlite+aiosqlite:///{home.home}/prefect.db"
    with temporary_settings(updates={"server.database.connection_url": same}):
        assert prepare(get_current_settings()) == {}
    key = installed_prefect()
    assert prepare(home, PrefectKey("0.0.0", key.head)) == {}
    assert prepare(home, PrefectKey(key.version, "another_head")) == {}
    assert not Path(home.home, "prefect.db").exists()


def test_a_setting_the_user_gave_is_not_overridden(tmp_path):
    from prefect.settings import get_current_settings, temporary_settings

    with temporary_settings(updates={"home": str(tmp_path), "server.database.migrate_on_start":
                                     True, "server.services.triggers.enabled": True},
                            restore_defaults=_DATABASE_URL):
        assert prepare(get_current_settings()) == {}
    assert revision_of(tmp_path / "prefect.db") == installed_prefect().head


def test_a_copy_that_loses_the_race_leaves_the_other_file(home, monkeypatch):
    path = Path(home.home) / "prefect.db"
    real_link = os.link

    def another_process_first(source, target):
        Path(target).write_bytes(b"made meanwhile")
        real_link(source, target)

    monkeypatch.setattr(prefect_database.os, "link", another_process_first)
    assert not prefect_database.copy_template(installed_prefect(), path)
    assert path.read_bytes() == b"made meanwhile"
    assert [p.name for p in path.parent.iterdir()] == ["prefect.db"]


def test_the_template_is_a_sqlite_database_of_prefects_migrations():
    key = installed_prefect()
    with gzip.open(key.template) as packed:
        assert packed.read(16) == b"SQLite format 3\x00"


@pytest.mark.server
def test_a_run_in_a_fresh_home_uses_the_template_and_the_flow_runs(tmp_path):
    """`textwash run` with no server configured and a fresh PREFECT_HOME: its temporary server
    starts on the copied database, the flow runs on it, and the database is at the head."""
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "home")}
    env.pop("PREFECT_API_URL", None)
    write(tmp_path / "raw" / "a.txt", "A short document, one paragraph of plain text.\n")
    done = subprocess.run([sys.executable, "-m", "flows.cli", "run", str(tmp_path / "raw"),
                           str(tmp_path / "clean")], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Temporary Prefect server for this run" in done.stderr
    assert "Stopping temporary Prefect server" in done.stderr
    path = tmp_path / "home" / "prefect.db"
    assert revision_of(path) == installed_prefect().head
    with sqlite3.connect(path) as db:
        states = db.execute("SELECT state_type FROM flow_run").fetchall()
        tasks = db.execute("SELECT count(*) FROM task_run").fetchone()[0]
    assert states == [("COMPLETED",)] and tasks >= 4


@pytest.mark.server
def test_a_port_taken_meanwhile_is_retried_on_another(tmp_path, monkeypatch):
    """The port chosen is taken before the server binds it: the server is started again on
    another and answers."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    ports = [taken.getsockname()[1]]
    real_free_port = flows.prefect_server._free_port
    monkeypatch.setattr(flows.prefect_server, "_free_port",
                        lambda: ports.pop() if ports else real_free_port())
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))
    try:
        with TemporaryServer() as server:
            import httpx

            assert server.port != taken.getsockname()[1]
            assert httpx.get(f"{server.api_url}/health", timeout=30).status_code == 200
            process = server.process
        assert process.poll() is not None
    finally:
        taken.close()


class LaunchSpy:
    """Records the servers the command line launches, to look at them after the run."""

    def __init__(self, monkeypatch):
        self.servers = []
        real_launch = TemporaryServer.launch

        def launch(server):
            real_launch(server)
            self.servers.append((server, server.process))

        monkeypatch.setattr(TemporaryServer, "launch", launch)
        # As without a Prefect API configured (the session's test server may be running)
        monkeypatch.setattr(flows.prefect_server, "_api_configured", lambda: False)


def test_nothing_new_stops_the_early_server_at_once(tmp_path, monkeypatch, capsys):
    """The server is launched before planning, then stopped as soon as the plan says that there
    is nothing new to process: its process has ended when the command returns."""
    spy = LaunchSpy(monkeypatch)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))
    (tmp_path / "raw").mkdir()
    start = time.monotonic()
    assert main(["run", str(tmp_path / "raw"), str(tmp_path / "clean")]) == 0
    assert time.monotonic() - start < 30  # not a server's start
    assert "nothing new to process" in capsys.readouterr().out
    assert len(spy.servers) == 1
    server, process = spy.servers[0]
    assert process.poll() is not None and server.process is None


def test_no_server_is_launched_for_invalid_settings_or_a_locked_output(tmp_path, monkeypatch):
    spy = LaunchSpy(monkeypatch)
    write(tmp_path / "raw" / "a.txt", "text\n")
    assert main(["run", str(tmp_path / "raw"), str(tmp_path / "c"), "--workers", "0"]) == 2
    with Store(tmp_path / "clean").lock():
        assert main(["run", str(tmp_path / "raw"), str(tmp_path / "clean")]) == 4
    assert main(["run", str(tmp_path / "missing"), str(tmp_path / "c")]) == 2
    assert spy.servers == []


def test_no_early_server_when_the_environment_or_the_profile_names_an_api(tmp_path, monkeypatch):
    configured = flows.prefect_server._api_in_environment_or_profile
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    monkeypatch.delenv("PREFECT_PROFILE", raising=False)
    monkeypatch.delenv("PREFECT_PROFILES_PATH", raising=False)
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    assert configured()
    monkeypatch.delenv("PREFECT_API_URL")
    assert not configured()
    write(tmp_path / "profiles.toml", 'active = "local"\n[profiles.local]\n'
          'PREFECT_API_URL = "http://127.0.0.1:4200/api"\n[profiles.ephemeral]\n')
    assert configured()
    monkeypatch.setenv("PREFECT_PROFILE", "ephemeral")
    assert not configured()


def test_an_early_server_is_stopped_when_prefect_names_an_api_after_all(tmp_path, monkeypatch):
    """A server launched on the early guess is not used, and stopped, when Prefect's settings
    name an API (e.g. in a .env file the guess does not read)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))
    server = TemporaryServer()
    server.launch()
    process = server.process
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}), \
            flows.prefect_server.prefect_api(server):
        assert process.poll() is not None
        assert PREFECT_API_URL.value() == "http://127.0.0.1:9/api"
