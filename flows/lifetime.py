"""Processes that end with the process that started them: the process-pool workers and the
temporary Prefect server of a run. A run killed with SIGKILL cannot stop them itself, and each
would live on (a worker holding its models, the server its database) with nothing to do.

Kept free of heavy imports: a process calls `die_with_parent` first thing, before it imports
Prefect or loads a model."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent_pid: int, poll_seconds: float = 1.0) -> None:
    """End this process as soon as `parent_pid`, the process that started it, ends, however it
    ends. To be called in this process itself. On Linux the kernel kills it (PR_SET_PDEATHSIG);
    elsewhere a thread polls its parent's pid. A parent that ended before the call (the process
    was still starting) ends it at once: the pid is the one the parent gave, not os.getppid()
    read now, which is already some other process then.

    Linux sends the signal when the *thread* that started this process ends: the caller must
    know that thread lives as long as the parent needs this process."""
    if not _kernel_kills_with_parent():
        _poll_parent(parent_pid, poll_seconds)
    if os.getppid() != parent_pid:  # ended before the kernel was asked: nothing will tell us
        os._exit(1)


def _kernel_kills_with_parent() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, ctypes.c_ulong(int(signal.SIGKILL)),
                          ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)) == 0
    except (OSError, AttributeError):  # no libc prctl (another C library): poll instead
        return False


def _poll_parent(parent_pid: int, poll_seconds: float) -> None:
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_seconds)
        os._exit(1)

    threading.Thread(target=watch, name="textwash-exit-with-parent", daemon=True).start()
