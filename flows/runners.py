"""Where the shard tasks run: chosen once the number of shards is known.

- thread: a bounded thread pool in the flow's process (no start-up cost; one core in practice,
  the stages being mostly Python);
- process: a process pool (each worker imports textwash and loads the models once, ~3 s, then
  runs shards on its own core);
- dask: prefect-dask's DaskTaskRunner, on `runtime.dask_address` (an existing Dask scheduler,
  e.g. tcp://scheduler:8786) or a LocalCluster of `workers` processes;
- auto: threads for a single shard, processes for more.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time

from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

from tasks.settings import RuntimeSettings

_watching = threading.Lock()
_watched: set[int] = set()


def exit_with_parent(poll_seconds: float = 1.0) -> None:
    """In a process-pool worker: exit as soon as the process that started it is gone. A flow
    process killed with SIGKILL does not shut its pool down, and an idle worker would otherwise
    live on with its models loaded (~250 MB each). A no-op in the flow's own process; one
    watcher thread per worker."""
    if multiprocessing.parent_process() is None:
        return
    with _watching:
        if os.getpid() in _watched:
            return
        _watched.add(os.getpid())
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os._exit(1)

    threading.Thread(target=watch, name="textwash-exit-with-parent", daemon=True).start()


def make_task_runner(runtime: RuntimeSettings, n_shards: int):
    kind = runtime.task_runner
    if kind == "auto":
        kind = "thread" if n_shards <= 1 or runtime.workers == 1 else "process"
    if kind == "process":
        return ProcessPoolTaskRunner(max_workers=min(runtime.workers, max(n_shards, 1)))
    if kind == "dask":
        try:
            from prefect_dask import DaskTaskRunner
        except ImportError as exc:
            raise RuntimeError("task_runner 'dask' needs prefect-dask: pip install "
                               "'textwash[dask]'") from exc
        if runtime.dask_address:
            return DaskTaskRunner(address=runtime.dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": runtime.workers,
                                              "threads_per_worker": 1, "processes": True,
                                              "dashboard_address": None})
    return ThreadPoolTaskRunner(max_workers=runtime.workers)


def describe(runner) -> str:
    name = type(runner).__name__
    address = getattr(runner, "address", None)
    return f"{name} ({address})" if address else name


def dask_scheduler(runner) -> str | None:
    """The scheduler address of a running DaskTaskRunner (its cluster also serves the
    duplicate candidate search), else None."""
    if type(runner).__name__ != "DaskTaskRunner":
        return None
    return runner.client.scheduler.address
