"""textwash flows and command line: what runs, in what order, with which settings."""

import os

# Prefect reads these when it is imported, so they are set before any module here imports it
# (the command line and the Python API alike); a value already in the environment wins.
# Telemetry cannot reach its server from closed networks and only logs errors; a cold temporary
# server can need more than the default 20 s to start on a busy 2-core machine.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
}
for _key, _value in PREFECT_DEFAULTS.items():
    os.environ.setdefault(_key, _value)
