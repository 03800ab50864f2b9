"""The SQLite database of a run's temporary Prefect server (flows/prefect_server.py).

Most of a temporary server's start in a fresh PREFECT_HOME goes to Prefect creating its database:
each of its SQLite migrations, one after another. An empty database migrated by Prefect's own
code for the installed Prefect ships gzipped in this package (flows/prefect_db/, named by the
Prefect version and the migrations' head revision) and is copied into a fresh home: only where
Prefect's default database file would be created (no database configured) and only for the
Prefect it was built with. A database already at the head revision needs no migration check at
start, and one without automations no automation triggers: the server is told so.

    python -m flows.prefect_database           what a temporary server started here would get
    python -m flows.prefect_database --build   rebuild the template for the installed Prefect
                                               (after upgrading Prefect)

Stdlib only until `build`: the server's process calls `prepare` before it imports the server.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
from contextlib import closing
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import NamedTuple

TEMPLATES = Path(__file__).resolve().parent / "prefect_db"
MIGRATE_ON_START = "PREFECT_SERVER_DATABASE_MIGRATE_ON_START"
TRIGGERS = "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED"

_REVISION = re.compile(r"^revision\b[^=\n]*=\s*['\"](\w+)['\"]", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision\b[^=\n]*=(.*)$", re.MULTILINE)


class PrefectKey(NamedTuple):
    """What a template is valid for: the Prefect version and its SQLite migrations' head."""
    version: str
    head: str

    @property
    def template(self) -> Path:
        return TEMPLATES / f"prefect-{self.version}-{self.head}.db.gz"


def installed_prefect() -> PrefectKey | None:
    """The installed Prefect's version and SQLite head revision, read from its files without
    importing it (alembic would load every migration module); None if they cannot be read."""
    try:
        spec = importlib.util.find_spec("prefect")
        prefect_version = version("prefect")
    except (ImportError, PackageNotFoundError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    versions = Path(spec.submodule_search_locations[0]) / "server" / "database" / \
        "_migrations" / "versions" / "sqlite"
    head = head_revision(versions)
    return PrefectKey(prefect_version, head) if head else None


def head_revision(versions: Path) -> str | None:
    """The one revision of the migration files in `versions` that no other revises; None when
    there is not exactly one (alembic's "head" would be ambiguous too)."""
    revisions, revised = set(), set()
    try:
        files = list(versions.glob("*.py"))
        for path in files:
            text = path.read_text(encoding="utf-8")
            if (found := _REVISION.search(text)) is None:
                continue
            revisions.add(found.group(1))
            if (down := _DOWN_REVISION.search(text)) is not None:
                revised.update(re.findall(r"['\"](\w+)['\"]", down.group(1)))
    except OSError:
        return None
    heads = revisions - revised
    return heads.pop() if len(heads) == 1 else None


def default_database(settings) -> Path | None:
    """Prefect's default database file in PREFECT_HOME, when `settings` (Prefect's) use it;
    None when a database is configured (a URL, a driver or a name), even one that names the
    same file: a configured database is the user's to manage."""
    database = settings.server.database
    if {"connection_url", "driver", "name"} & database.model_fields_set:
        return None
    url = database.connection_url.get_secret_value() if database.connection_url else None
    if url != f"sqlite+aiosqlite:///{settings.home}/prefect.db":
        return None
    return Path(settings.home) / "prefect.db"


def revision_of(path: Path) -> str | None:
    """The alembic revision a SQLite database file is at; None if it cannot be read."""
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                                     timeout=5)) as db:
            rows = db.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.Error:
        return None
    return rows[0][0] if len(rows) == 1 else None


def has_automations(path: Path) -> bool:
    """Whether the database holds automations (True when it cannot tell)."""
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                                     timeout=5)) as db:
            return db.execute("SELECT 1 FROM automation LIMIT 1").fetchone() is not None
    except sqlite3.Error:
        return True


def copy_template(key: PrefectKey, path: Path) -> bool:
    """The template for `key` unpacked to `path`, if there is one and `path` does not exist:
    written next to it, then linked to its name, which never replaces a file another process
    made meanwhile. True if it was copied."""
    if not key.template.is_file() or path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    # A run that ends at once stops its server with SIGTERM: not in the middle of this.
    masks = hasattr(signal, "pthread_sigmask")
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM}) if masks else None
    try:
        with gzip.open(key.template, "rb") as source, open(partial, "wb") as target:
            shutil.copyfileobj(source, target, 1 << 20)
            target.flush()
            os.fsync(target.fileno())
        try:
            os.link(partial, path)
        except FileExistsError:
            return False
        return True
    finally:
        partial.unlink(missing_ok=True)
        if masks:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def prepare(settings, key: PrefectKey | None = None) -> dict[str, str]:
    """Before a temporary server starts, with Prefect's `settings` for it: copies the template
    into a fresh home, and returns the settings (environment variables) that spare the server
    work on this database. Nothing for a configured database, or a Prefect the head revision of
    which cannot be read; a setting the user gave is never overridden."""
    path = default_database(settings)
    key = key or installed_prefect()
    if path is None or key is None:
        return {}
    copy_template(key, path)
    updates = {}
    server = settings.server
    if "migrate_on_start" not in server.database.model_fields_set and \
            revision_of(path) == key.head:
        updates[MIGRATE_ON_START] = "false"
    if "enabled" not in server.services.triggers.model_fields_set and path.exists() and \
            not has_automations(path):
        updates[TRIGGERS] = "false"
    return updates


def build(out: Path = TEMPLATES) -> Path:
    """Builds the template for the installed Prefect: Prefect's own migrations (what its server
    runs at start) on an empty database in a new PREFECT_HOME, in a process that sees none of
    this environment's Prefect settings; then the file compacted and gzipped into `out`, and
    the templates of other versions removed. Returns the template's path."""
    key = installed_prefect()
    if key is None:
        raise RuntimeError("the installed Prefect's migrations cannot be read")
    with tempfile.TemporaryDirectory(prefix="textwash-prefect-db-") as work:
        home = Path(work) / "home"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        code = ("import asyncio\n"
                "from prefect.server.database import provide_database_interface\n"
                "asyncio.run(provide_database_interface().create_db())\n")
        subprocess.run([sys.executable, "-c", code], cwd=work, check=True,
                       env={**env, "PREFECT_HOME": str(home)})
        built = home / "prefect.db"
        if revision_of(built) != key.head:
            raise RuntimeError(f"the migrated database is at {revision_of(built)}, not at the "
                               f"head revision {key.head}")
        compact = Path(work) / "compact.db"
        with closing(sqlite3.connect(built)) as db:
            db.execute("VACUUM INTO ?", (str(compact),))
        out.mkdir(parents=True, exist_ok=True)
        target = out / key.template.name
        with open(compact, "rb") as source, open(target, "wb") as raw, \
                gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed:
            shutil.copyfileobj(source, packed)
    for old in out.glob("prefect-*.db.gz"):
        if old != target:
            old.unlink()
    return target


def main(argv: list[str]) -> int:
    if argv == ["--build"]:
        print(build())
        return 0
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    from prefect.settings import get_current_settings

    key = installed_prefect()
    print(f"installed Prefect: {key}")
    print(f"template: {key.template if key and key.template.is_file() else 'none for it'}")
    settings = get_current_settings()
    print(f"default database file: {default_database(settings) or 'no (one is configured)'}")
    path = default_database(settings)
    if path is not None and path.exists():
        print(f"  at revision {revision_of(path)}; automations: {has_automations(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
