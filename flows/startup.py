"""Importing many modules at once: Prefect, its server, the flow's own.

CPython's cyclic garbage collector runs after every few hundred new objects and, as the heap
grows, goes through all of it again and again; importing creates hundreds of thousands of
objects and almost no garbage. Within `collector_paused` it does not run; on leaving, what
exists then (modules, classes, functions, alive as long as the process) is moved out of its
sight for good (gc.freeze), so that the collections after are short too.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
