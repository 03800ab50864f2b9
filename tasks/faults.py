"""Fault injection for the crash tests, off unless an environment variable names a checkpoint:
- `TEXTWASH_CRASH_AT=<name>`: the process kills itself there (SIGKILL, as `kill -9` would);
- `TEXTWASH_STALL_AT=<name>:<seconds>`: it sleeps there (to hold the output lock in a test).
Unset, a checkpoint costs two dictionary lookups."""

import os
import signal
import time


def checkpoint(name: str) -> None:
    if os.environ.get("TEXTWASH_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
    stall = os.environ.get("TEXTWASH_STALL_AT", "")
    if stall.rpartition(":")[0] == name:
        time.sleep(float(stall.rpartition(":")[2]))
