"""Shared fixtures. Tests use small inputs written here (and the repo's own raw/ sample);
they need neither ../shared nor the network."""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
RAW = REPO / "raw"

# Before Prefect is imported anywhere: no telemetry from a closed network, patient start-up.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
# Hugging Face datasets reads local files only, its cache in the test session's own folder.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def prefect_server():
    """One temporary Prefect server (SQLite) for every flow test in the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def s3_server():
    """An S3 server (moto's) on a free local port for the whole session; the AWS variables
    point every client at it, this process's and the subprocesses' the tests start."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    variables = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://{host}:{port}"}
    before = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield variables["AWS_ENDPOINT_URL"]
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.stop()


@pytest.fixture
def bucket(s3_server, request) -> str:
    """A new, empty bucket for one test: its s3:// URL."""
    import hashlib

    import s3fs

    name = "tw-" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:20]
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    if fs.exists(name):
        fs.rm(name, recursive=True)
    fs.mkdir(name)
    return f"s3://{name}"


@pytest.fixture(scope="session")
def seed_texts() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(RAW.glob("*.txt"))}


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def random_pairs(rng, max_rows: int, max_pairs: int):
    """(n, pairs, sims): distinct pairs (i, j), i < j, of n rows with random similarities, for
    checking the canonical choice against a reference."""
    import numpy as np

    n = int(rng.integers(2, max_rows))
    raw = rng.integers(0, n, size=(int(rng.integers(1, max_pairs)), 2))
    raw = raw[raw[:, 0] != raw[:, 1]]
    pairs = np.unique(np.sort(raw, axis=1), axis=0)
    return n, pairs, rng.random(len(pairs)).astype(np.float32)


@contextmanager
def fifo_writer_stand_in(fifos: list[str]):
    """A reader that opens a FIFO waits for a writer: this thread plays the writer (opening
    without blocking, so it never waits itself), so that a test of code that wrongly opens a
    FIFO fails instead of hanging."""
    done = threading.Event()

    def unblock():
        while not done.wait(0.2):
            for fifo in fifos:
                try:
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                except OSError:  # no reader yet (ENXIO) or gone
                    pass

    thread = threading.Thread(target=unblock, daemon=True)
    thread.start()
    try:
        yield fifos
    finally:
        done.set()
        thread.join()


@pytest.fixture
def fifo_unblocker():
    with fifo_writer_stand_in([]) as fifos:
        yield fifos
