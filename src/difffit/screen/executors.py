"""Where the candidates' fits run: this process, local worker processes, or a Dask cluster.

Every executor takes an iterator of :class:`~difffit.screen.task.FitTask` (read lazily, so a
proteome-sized library never sits in memory) and yields a
:class:`~difffit.screen.task.CandidateRecord` per task as each one finishes, in completion
order. Only a bounded window of tasks is in flight at any time (``2 ×`` the parallel slots), so
a run killed at any moment loses at most that window, and memory stays bounded.

The caller (the client) writes the records; workers never touch the database or the output
folder, so a cluster's workers need no shared file system — only difffit installed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from difffit.config import FitConfig
from difffit.errors import ConfigError, DiffFitError
from difffit.screen.task import CandidateRecord, FitTask, WorkerContext, run_batch, run_task

__all__ = ["WorkerPool", "batches", "run_dask", "run_local", "run_processes"]

log = logging.getLogger(__name__)


def batches(tasks: Iterable[FitTask], size: int) -> Iterator[list[FitTask]]:
    """The tasks in lists of ``size`` (the last one shorter), read lazily."""
    batch: list[FitTask] = []
    for task in tasks:
        batch.append(task)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def run_local(
    tasks: Iterable[FitTask], ctx: WorkerContext, *, threads: int | None = None
) -> Iterator[CandidateRecord]:
    """Fit the tasks one after the other in this process (``threads`` CPU threads each)."""
    for task in tasks:
        yield run_task(task, ctx, threads=threads, worker="local")


# ------------------------------------------------------------------ local processes
_CTX: WorkerContext | None = None


_THREADS = 1


def _exit_with_parent(parent_pid: int, period_s: float = 0.5) -> None:
    """Exit this worker as soon as its parent is gone (a parent killed with SIGKILL cannot
    tell its workers; without this they would finish their fit and wait forever)."""
    while True:
        time.sleep(period_s)
        if os.getppid() != parent_pid:
            os._exit(1)


def _init_process(ctx: WorkerContext, threads: int, parent_pid: int) -> None:
    global _CTX, _THREADS
    _CTX, _THREADS = ctx, threads
    # Ctrl-C reaches the whole process group: the parent handles it and ends the workers
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stop a pool at once, abandoning the fits in flight (their candidates are not recorded)."""
    # ProcessPoolExecutor has no public terminate before Python 3.14
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for proc in procs:
        proc.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        proc.join(timeout=5)


def _process_batch(tasks: list[FitTask], config: FitConfig | None) -> list[CandidateRecord]:
    assert _CTX is not None, "worker process not initialised"
    ctx = _CTX if config is None else dataclasses.replace(_CTX, config=config)
    return run_batch(tasks, ctx, threads=_THREADS, worker=f"process {os.getpid()}")


def _futures_wait(pending: set) -> tuple[set, set]:
    done, not_done = wait(pending, return_when=FIRST_COMPLETED)
    return set(done), set(not_done)


def _windowed(
    submit, tasks: Iterable[object], window: int, wait_first=_futures_wait
) -> Iterator[object]:
    """Submit tasks keeping at most ``window`` in flight; yield finished futures."""
    pending: set = set()
    it = iter(tasks)
    exhausted = False
    while True:
        while not exhausted and len(pending) < window:
            try:
                task = next(it)
            except StopIteration:
                exhausted = True
                break
            pending.add(submit(task))
        if not pending:
            return
        done, pending = wait_first(pending)
        yield from done


#: Measured peak memory of a worker process fitting one candidate at the default search
#: (10,000 starts): ~450 MB, of which ~310 MB is the interpreter with torch and numba.
_WORKER_BASE_BYTES = 350 * 2**20
_WORKER_PER_10K_STARTS_BYTES = 200 * 2**20


def available_memory_bytes() -> int | None:
    """Memory the system can still give (``MemAvailable`` on Linux), None when unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def worker_memory_bytes(ctx: WorkerContext) -> int:
    """Estimated peak memory of one worker process (grows with the number of starts)."""
    starts = ctx.config.search.n_starts
    return int(_WORKER_BASE_BYTES + _WORKER_PER_10K_STARTS_BYTES * starts / 10_000)


def plan_workers(requested: int, ctx: WorkerContext, available: int | None = None) -> int:
    """``requested`` worker processes, fewer when the memory available cannot hold them all."""
    available = available_memory_bytes() if available is None else available
    if available is None:
        return requested
    fit = max(1, int(available // worker_memory_bytes(ctx)))
    if fit < requested:
        log.warning(
            "%d workers would need ~%.1f GB; %.1f GB is available: using %d",
            requested, requested * worker_memory_bytes(ctx) / 2**30, available / 2**30, fit,
        )  # fmt: skip
        return fit
    return requested


class WorkerPool:
    """``workers`` local processes, started once and kept warm for every stage of a screen.

    Each process receives the map once (its :class:`WorkerContext`), imports difffit, compiles
    the kernels and prepares the map once; a stage with other fit options (the hierarchical
    screen's cheap and full searches) sends only its :class:`~difffit.config.FitConfig` with
    each batch. Processes are started with ``spawn`` (safe with torch and OpenMP threads).
    Fewer processes are started when the available memory cannot hold ``workers`` of them
    (:func:`plan_workers`, logged).
    """

    def __init__(self, ctx: WorkerContext, *, workers: int, threads: int = 1) -> None:
        if workers < 1:
            raise ConfigError(f"--workers must be >= 1, got {workers}")
        self.workers = plan_workers(workers, ctx)
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_process,
            initargs=(ctx, int(threads), os.getpid()),
        )
        self._broken = False

    def run(
        self, tasks: Iterable[FitTask], config: FitConfig | None = None, *, batch: int = 1
    ) -> Iterator[CandidateRecord]:
        """Fit the tasks (with ``config``, default the context's), ``batch`` per round trip."""
        pool = self._pool
        finished = False
        try:
            work = batches(tasks, batch)
            submit = lambda b: pool.submit(_process_batch, b, config)  # noqa: E731
            for fut in _windowed(submit, work, 2 * self.workers):
                try:
                    yield from fut.result()  # type: ignore[attr-defined]
                except BrokenProcessPool:
                    raise DiffFitError(
                        "a worker process died (killed, or out of memory?); the finished "
                        "candidates are saved: run the same command again to resume, perhaps with "
                        "fewer --workers"
                    ) from None
            finished = True
        finally:
            if not finished:  # interrupted, or an error: do not wait for the fits in flight
                self._broken = True
                _terminate(pool)

    def close(self) -> None:
        if not self._broken:
            self._pool.shutdown(wait=True)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            self._broken = True
            _terminate(self._pool)
        self.close()


def run_processes(
    tasks: Iterable[FitTask],
    ctx: WorkerContext,
    *,
    workers: int,
    threads: int = 1,
    batch: int = 1,
) -> Iterator[CandidateRecord]:
    """Fit the tasks in ``workers`` local processes, ``threads`` CPU threads each (default 1,
    so that N workers keep N cores busy without oversubscribing them), ``batch`` tasks per
    round trip (:class:`WorkerPool`)."""
    with WorkerPool(ctx, workers=workers, threads=threads) as pool:
        yield from pool.run(tasks, batch=batch)


# -------------------------------------------------------------------------- Dask
_DASK_LOCK = threading.Lock()
#: How long to try to reach a Dask scheduler.
CONNECT_TIMEOUT = "30s"


def _dask_task(tasks: list[FitTask], ctx: WorkerContext) -> list[CandidateRecord]:
    """Runs on a Dask worker: one fit at a time per worker process, with all its threads."""
    try:
        from distributed import get_worker

        w = get_worker()
        threads, where = int(w.state.nthreads), f"dask {w.address}"
    except (ImportError, ValueError, AttributeError):
        threads, where = 1, "dask"
    # numba's parallel kernels and torch's thread pool are process-wide: fits in one worker
    # process run one at a time, each with the worker's threads.
    with _DASK_LOCK:
        return run_batch(tasks, ctx, threads=threads, worker=where)


def dask_client(scheduler):
    """A ``distributed.Client`` for an address (or the Client given)."""
    try:
        import distributed
    except ImportError:
        raise ConfigError(
            "--scheduler needs Dask: pip install 'difffit[dask]' (dask and distributed) here and on "
            "every worker"
        ) from None
    if isinstance(scheduler, distributed.Client):
        return scheduler, False
    try:
        return distributed.Client(scheduler, timeout=CONNECT_TIMEOUT), True
    except (OSError, TimeoutError) as exc:
        raise ConfigError(
            f"--scheduler {scheduler}: cannot connect to a Dask scheduler ({exc})"
        ) from None


def run_dask(
    tasks: Iterable[FitTask],
    ctx: WorkerContext,
    *,
    scheduler,
    batch: int = 1,
    scattered: dict[str, object] | None = None,
) -> Iterator[CandidateRecord]:
    """Fit the tasks on a Dask distributed cluster (address ``tcp://host:port`` or a Client).

    The map and options are sent to every worker once (``scattered``: a cache of the contexts
    already sent, by their options, kept by a caller that runs several stages on one Client);
    tasks carry the atoms, not file paths, so the workers need no access to the library's files.
    """
    client, owned = dask_client(scheduler)
    import distributed

    try:
        slots = sum(client.nthreads().values())
        if slots == 0:
            raise ConfigError(f"--scheduler {scheduler}: the cluster has no workers")
        key = json.dumps(ctx.config.to_dict(), sort_keys=True)
        if scattered is not None and key in scattered:
            ctx_f = scattered[key]
        else:
            ctx_f = client.scatter(ctx, broadcast=True, hash=False)
            if scattered is not None:
                scattered[key] = ctx_f

        def submit(tasks: list[FitTask]):
            # retries: a task whose worker died (killed, lost) is run again on another one
            return client.submit(_dask_task, tasks, ctx_f, pure=False, retries=3)

        def wait_first(pending: set) -> tuple[set, set]:
            res = distributed.wait(list(pending), return_when="FIRST_COMPLETED")
            return set(res.done), set(res.not_done)

        for fut in _windowed(submit, batches(tasks, batch), 2 * slots, wait_first):
            yield from fut.result()  # type: ignore[attr-defined]
    finally:
        if owned:
            client.close()
