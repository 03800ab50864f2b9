"""Where the shard tasks run: chosen once the number of shards is known.

- thread: a bounded thread pool in the flow's process (no start-up cost; one core in practice,
  the stages being mostly Python);
- process: a process pool (each worker imports textwash and loads the models once, ~3 s, then
  runs shards on its own core; it ends with the flow's process, even one killed with SIGKILL, and
  talks to the flow's Prefect API, never a temporary server of its own: flows/prefect_server.py);
- dask: prefect-dask's DaskTaskRunner, on `runtime.dask_address` (an existing Dask scheduler,
  e.g. tcp://scheduler:8786) or a LocalCluster of `workers` processes;
- auto: threads for a single shard, processes for more.
"""

from __future__ import annotations

import multiprocessing

from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

from flows.lifetime import die_with_parent
from tasks.settings import RuntimeSettings

_armed = False  # this process's parent watch (a worker's, set by the pool's initializer)


def exit_with_parent() -> None:
    """In a process-pool worker: end as soon as the flow's process, which started it, is gone. A
    flow process killed with SIGKILL does not shut its pool down, and a worker would otherwise
    live on with its models loaded. The pool's initializer: armed as the worker
    starts, before any task reaches it. A no-op in the flow's own process, and once armed."""
    global _armed
    parent = multiprocessing.parent_process()
    if parent is None or _armed:
        return
    _armed = True
    die_with_parent(parent.pid)


class ProcessPool(ProcessPoolTaskRunner):
    """Prefect's process pool, its workers tied to the flow's process (exit_with_parent, as each
    starts) and talking to the flow's Prefect API. Prefect starts the workers from the runner's
    own threads (those that hand it tasks), which end only after the pool has shut its workers
    down: Linux's kill with the parent thread (flows/lifetime.py) never comes mid-run."""

    def __init__(self, max_workers: int | None = None, api_url: str | None = None):
        super().__init__(max_workers=max_workers, initializer=exit_with_parent)
        self._api_url = api_url

    def duplicate(self) -> ProcessPool:
        return type(self)(max_workers=self._max_workers, api_url=self._api_url)

    def submit(self, task, parameters, wait_for=None, dependencies=None):
        if self._api_url is None:
            return super().submit(task, parameters, wait_for, dependencies)
        from prefect.settings import PREFECT_API_URL, temporary_settings

        # The task's settings go with it to the worker: with this URL it uses the flow's API
        with temporary_settings(updates={PREFECT_API_URL: self._api_url}):
            return super().submit(task, parameters, wait_for, dependencies)


def _flow_api_url() -> str | None:
    """The API of the running flow when none is configured: the temporary server Prefect
    started for the flow's process (a flow called directly, not through run_clean_corpus).
    A worker would otherwise start one of its own. None when one is configured."""
    from prefect.context import FlowRunContext
    from prefect.settings import PREFECT_API_URL

    context = FlowRunContext.get()
    if PREFECT_API_URL.value() or context is None or context.client is None:
        return None
    return str(context.client.api_url)


def make_task_runner(runtime: RuntimeSettings, n_shards: int):
    kind = runtime.task_runner
    if kind == "auto":
        kind = "thread" if n_shards <= 1 or runtime.workers == 1 else "process"
    if kind == "process":
        return ProcessPool(max_workers=min(runtime.workers, max(n_shards, 1)),
                           api_url=_flow_api_url())
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
    """Prefect's name for the runner (ProcessPool says ProcessPoolTaskRunner), its address."""
    name = next(c.__name__ for c in type(runner).__mro__ if c.__module__.startswith("prefect"))
    address = getattr(runner, "address", None)
    return f"{name} ({address})" if address else name


def dask_scheduler(runner) -> str | None:
    """The scheduler address of a running DaskTaskRunner (its cluster also serves the
    duplicate candidate search), else None."""
    if type(runner).__name__ != "DaskTaskRunner":
        return None
    return runner.client.scheduler.address
