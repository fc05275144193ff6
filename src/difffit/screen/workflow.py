"""Scenario 3: which structure of a library is the unknown density? — the composed workflow.

``screen`` = identify the run (map, options, seed) → skip the candidates the database has
finished → read each remaining candidate lazily, check its size → fit it (here, in local
processes or on a Dask cluster) with a seed derived from its bytes → store its record at once →
rank the library by each candidate's best cluster and say how far each stands out
(:mod:`difffit.screen.confidence`).

Resumed, parallel and distributed runs give the same ranking as one uninterrupted run: a
candidate's fit depends only on the map, the options, the run's seed and its own bytes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from difffit._version import __version__
from difffit.config import ScreenConfig
from difffit.density.map import DensityMap
from difffit.errors import ConfigError, StructureError
from difffit.progress import Progress
from difffit.screen.confidence import (
    NullModel,
    confidence_of_statistic,
    library_confidence,
    normalised_scores,
)
from difffit.screen.library import LibraryEntry, candidate_seed, read_entry
from difffit.screen.prefilter import size_check
from difffit.screen.ranked import RankedCandidate, RankedCandidates, StoredRecords
from difffit.screen.store import FINAL_STATUSES, ScreenStore, Summary
from difffit.screen.task import (
    CandidateRecord,
    FitTask,
    WorkerContext,
    density_sha256,
    one_line,
    prepared_for,
)
from difffit.seeding import make_seed

__all__ = ["RankedCandidate", "ScreenConfig", "ScreenResult", "screen"]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True, eq=False)
class ScreenResult:
    """The outcome of a screen.

    Attributes
    ----------
    ranked : sequence of RankedCandidate
        The fitted candidates, best first (by size-normalised score, then name). A screen's
        result keeps the ranking's numbers in memory and reads each candidate's record from
        its database when asked for (:class:`~difffit.screen.ranked.RankedCandidates`): the
        output folder must stay where it is while the result is used.
    not_fitted : sequence of CandidateRecord
        Candidates skipped, filtered by the pre-filter, or failed (read the same way).
    null : NullModel or None
    config : ScreenConfig
    seed : int
    level : float
        Contour level of the prepared map.
    footprint_volume : float
        Volume (Å³) of the density at that level.
    counts : dict of str -> int
        ``total``, ``resumed`` (finished by an earlier run), ``fitted_now`` and one per status.
    info : dict
        Map identity, timings (``wall_s``, ``fit_s`` per candidate), throughput, executor.
    """

    ranked: Sequence[RankedCandidate]
    not_fitted: Sequence[CandidateRecord]
    null: NullModel | None
    config: ScreenConfig
    seed: int
    level: float
    footprint_volume: float
    counts: dict[str, int]
    info: dict[str, Any]

    @property
    def significant(self) -> tuple[RankedCandidate, ...]:
        if isinstance(self.ranked, RankedCandidates):  # read only the significant records
            return self.ranked.take(np.flatnonzero(self.ranked.significant).tolist())
        return tuple(c for c in self.ranked if c.significant)

    def summary_table(self, n: int = 10) -> str:
        """A short text table of the best ``n`` candidates."""
        metric = self.config.metric
        head = (
            f"{'rank':>4}  {'candidate':<28} {'res':>5} {metric:>7} {'2nd':>6} {'norm':>6} "
            f"{'z':>6} {'q':>9}  call"
        )
        lines = [head, "-" * len(head)]
        for c in self.ranked[:n]:
            r = c.record
            name = r.name if len(r.name) <= 28 else r.name[:25] + "..."
            q = "n/a" if math.isnan(c.q) else f"{c.q:.2e}"
            z = "n/a" if math.isnan(c.z) else f"{c.z:.1f}"
            call = "HIT" if c.significant else ""
            lines.append(
                f"{c.rank:>4}  {name:<28} {r.n_residues:>5} {r.score:7.3f} "
                f"{r.second_score:6.3f} {c.norm_score:6.2f} {z:>6} {q:>9}  {call}"
            )
        return "\n".join(lines)


def _run_identity(map_sha: str, config: ScreenConfig, seed: int) -> tuple[dict[str, Any], str]:
    run: dict[str, Any] = {
        "map_sha256": map_sha, "fit_options": config.fit.to_dict(), "seed": int(seed)
    }  # fmt: skip
    if config.hierarchical:  # a plain screen's identity is the one it always had
        from difffit.screen.hierarchy import cheap_fit_config

        run["hierarchy"] = {
            "cheap_fit_options": cheap_fit_config(config.fit).to_dict(),
            "full_top": config.full_top,
            "calibration": config.calibration,
            "margin": config.margin,
        }
    run = json.loads(json.dumps(run, sort_keys=True))
    return run, hashlib.sha256(json.dumps(run, sort_keys=True).encode()).hexdigest()


def screen(
    density: DensityMap,
    library: Sequence[LibraryEntry],
    *,
    out: str | os.PathLike[str],
    config: ScreenConfig | None = None,
    seed: int | None = None,
    device: str = "auto",
    workers: int = 1,
    scheduler: Any = None,
    threads: int | None = None,
    progress: ProgressCallback | None = None,
) -> ScreenResult:
    """Fit every candidate of a library into a density and rank the library.

    Parameters
    ----------
    density
        The unknown density.
    library
        The candidates (:func:`difffit.screen.find_library`).
    out
        Folder of the results database ``screen.sqlite``; a folder holding a screen of the same
        map, options and seed is resumed (its finished candidates are not fitted again).
    config
        :class:`ScreenConfig`.
    seed
        The run's seed (each candidate's seed derives from it and the candidate's bytes). None:
        the seed stored in ``out`` when resuming, else a fresh one.
    device
        ``"auto"``, ``"cpu"`` or ``"cuda[:N]"`` (on a Dask cluster: on each worker).
    workers
        Local processes fitting in parallel (one CPU thread each); 1 = fit in this process.
    scheduler
        Address of a Dask distributed scheduler (or a ``distributed.Client``): fit there.
    threads
        CPU threads per fit: in this process (default all cores) or per local worker process
        (default 1). Not used with ``scheduler`` (each Dask worker uses its own threads).
    progress
        Called with ``Progress("candidates", done, total, name)`` as candidates finish.

    Returns
    -------
    ScreenResult
    """
    t_start = time.perf_counter()
    config, entries = _check_screen_args(config, library, workers, scheduler, threads)
    shas = [e.sha256 for e in entries]
    map_sha = density_sha256(density)
    with ScreenStore(out) as store:
        stored = store.stored_run()
        if seed is None:
            seed = int(stored["seed"]) if stored is not None else make_seed(None)
        seed = make_seed(seed)
        run, run_hash = _run_identity(map_sha, config, seed)
        store.begin_run(run, run_hash)

        ctx = WorkerContext(density=density, map_sha256=map_sha, config=config.fit, device=device)
        prepared = prepared_for(ctx)
        footprint_volume = prepared.footprint_volume
        box_volume = float(np.prod(density.extent_xyz))

        previous = store.summaries(shas)
        finished = {k: r for k, r in previous.items() if r.status in FINAL_STATUSES}
        del previous
        todo = [e for e in entries if e.sha256 not in finished]
        todo.sort(key=_largest_first)
        total = len(entries)
        done_count = len(finished)
        counts_now: dict[str, int] = {}

        def emit(name: str = "") -> None:
            if progress is not None:
                progress(Progress("candidates", done_count, total, name))

        def keep(rec: CandidateRecord) -> None:
            nonlocal done_count
            store.record(rec)
            done_count += 1
            counts_now[rec.status] = counts_now.get(rec.status, 0) + 1
            if rec.status == "failed":
                log.warning(
                    "%s: failed (%s); it will be retried when the screen is resumed",
                    rec.name,
                    rec.reason,
                )
            if not config.hierarchical:  # the hierarchical screen reports its own stages
                emit(rec.name)

        t_fit = time.perf_counter()
        with _Runner(ctx, scheduler=scheduler, workers=workers, threads=threads) as runner:
            if not config.hierarchical:
                emit()
                if done_count:
                    log.info("resuming: %d of %d candidates finished by an earlier run",
                             done_count, total)  # fmt: skip
                tasks = _fit_tasks(todo, seed, config, footprint_volume, box_volume, keep)
                for rec in runner.run(tasks):
                    keep(rec)
                hier = None
            else:
                hier = _hierarchical(
                    store, entries, finished, seed, config, footprint_volume, box_volume,
                    keep, runner, progress,
                )  # fmt: skip
        fit_wall = time.perf_counter() - t_fit
        final = store.summaries(shas)
        if hier is not None:  # the cheap stage's record where there is no full one
            final.update(store.summaries(hier.cheap_only, table="cheap"))

    return _screen_result(
        out, entries, final, finished, counts_now, config, seed, prepared, map_sha, run_hash,
        executor=runner.name, device=device, box_volume=box_volume,
        wall_s=time.perf_counter() - t_start, fit_wall=fit_wall, hier=hier,
    )  # fmt: skip


class _Runner:
    """Where a screen's fits run, set up once for all its stages: this process, a pool of
    warm local processes, or a Dask cluster."""

    def __init__(
        self, ctx: WorkerContext, *, scheduler: Any, workers: int, threads: int | None
    ) -> None:
        self.ctx, self.scheduler, self.threads = ctx, scheduler, threads
        self.pool: Any = None
        self._owned_client = False
        self._scattered: dict[str, object] = {}
        if scheduler is not None:
            from difffit.screen.executors import dask_client

            self.name = f"dask {scheduler if isinstance(scheduler, str) else 'client'}"
            # one connection and one copy of each stage's context on the workers for the run
            self.scheduler, self._owned_client = dask_client(scheduler)
        elif workers > 1:
            from difffit.screen.executors import WorkerPool

            self.pool = WorkerPool(ctx, workers=workers, threads=threads or 1)
            self.name = f"{workers} local processes"
        else:
            self.name = "this process"

    def run(
        self, tasks: Iterator[FitTask], config: Any = None, *, batch: int = 1
    ) -> Iterator[CandidateRecord]:
        """The records of ``tasks`` fitted with ``config`` (default the context's options)."""
        ctx = self.ctx if config is None else replace(self.ctx, config=config)
        if self.scheduler is not None:
            from difffit.screen.executors import run_dask

            return run_dask(
                tasks, ctx, scheduler=self.scheduler, batch=batch, scattered=self._scattered
            )
        if self.pool is not None:
            return self.pool.run(tasks, config, batch=batch)
        from difffit.screen.executors import run_local

        return run_local(tasks, ctx, threads=self.threads)

    def __enter__(self) -> _Runner:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.pool is not None:
            self.pool.__exit__(*exc)
        if self._owned_client:
            self._scattered.clear()
            self.scheduler.close()


#: Cheap fits sent to a worker process per round trip (a cheap fit takes ~0.1 s).
CHEAP_BATCH = 4
#: At most this many rounds of promotion to the full search (each round calibrates again).
MAX_ROUNDS = 20


@dataclass(frozen=True)
class HierarchyOutcome:
    """What the hierarchical screen decided: the statistic of every fitted candidate (full or
    predicted), the candidates left with their cheap result, and the figures of the stages."""

    statistic: dict[str, float]
    cheap_only: frozenset[str]
    info: dict[str, Any]
    #: Candidates whose final result comes from this run.
    fitted_now: frozenset[str] = frozenset()


def _hierarchical(
    store: ScreenStore,
    entries: Sequence[LibraryEntry],
    finished: Mapping[str, Summary],
    seed: int,
    config: ScreenConfig,
    footprint_volume: float,
    box_volume: float,
    keep: Callable[[CandidateRecord], None],
    runner: _Runner,
    progress: ProgressCallback | None,
) -> HierarchyOutcome:
    """The cheap stage for every candidate, then the full search for those that could still be
    significant (:mod:`difffit.screen.hierarchy`); every record is stored as it finishes."""
    from difffit.screen.hierarchy import calibration_sample, cheap_fit_config, next_full

    metric, total = config.metric, len(entries)
    cheap_cfg = cheap_fit_config(config.fit)
    shas = [e.sha256 for e in entries]
    cheap = {k: r for k, r in store.summaries(shas, table="cheap").items() if r.status == "done"}
    cheap_now: set[str] = set()
    full_now: set[str] = set()
    t0 = time.perf_counter()

    # ---- stage 1: the cheap search of every candidate not finished (or refused) before
    n_cheap_before = sum(
        1 for e in entries
        if e.sha256 in cheap or (e.sha256 in finished and finished[e.sha256].status != "done")
    )  # fmt: skip
    state = {"done": n_cheap_before}

    def emit(stage: str, done: int, n: int, name: str = "") -> None:
        if progress is not None:
            progress(Progress(stage, done, n, name))

    def keep_cheap(rec: CandidateRecord) -> None:
        if rec.status == "done":
            store.record(rec, table="cheap")
            cheap[rec.sha256] = Summary.of(rec)
            cheap_now.add(rec.sha256)
            state["done"] += 1
            emit("candidates", state["done"], total, rec.name)
        else:  # refused or failed in the cheap stage: its final record (failed: retried)
            keep(rec)
            state["done"] += 1

    def keep_refused(rec: CandidateRecord) -> None:
        keep(rec)
        state["done"] += 1

    emit("candidates", state["done"], total)
    # every candidate not refused before needs a cheap result (a fully searched one too: it
    # calibrates the cheap stage)
    todo = [
        e for e in entries
        if e.sha256 not in cheap and (e.sha256 not in finished or finished[e.sha256].status == "done")
    ]  # fmt: skip
    todo.sort(key=_largest_first)
    tasks = _fit_tasks(todo, seed, config, footprint_volume, box_volume, keep_refused)
    for rec in runner.run(tasks, cheap_cfg, batch=CHEAP_BATCH):
        keep_cheap(rec)
    cheap_wall = time.perf_counter() - t0

    # ---- stage 2: the full search where it could matter, calibrated round by round
    main = store.summaries(shas)
    refused = {k for k, r in main.items() if r.status != "done"}
    u_cheap = _statistics({k: r for k, r in cheap.items() if k not in refused}, metric)
    full = {k: r for k, r in main.items() if r.status == "done"}
    by_sha = {e.sha256: e for e in entries}
    ranked_cheap = sorted(u_cheap, key=lambda k: (-u_cheap[k], by_sha[k].name))
    top = ranked_cheap[: config.full_top]
    random_sample = set(calibration_sample(ranked_cheap[config.full_top :], config.calibration,
                                           seed))  # fmt: skip
    want = set(top) | random_sample
    t1 = time.perf_counter()
    rounds, plan, n_fitted_full = 0, None, 0
    while True:
        run_now = sorted((by_sha[k] for k in want if k not in full), key=_largest_first)
        if run_now:
            rounds += 1
            log.info("hierarchical screen, round %d: the full search for %d candidates",
                     rounds, len(run_now))  # fmt: skip
            n_want = len(want)
            done_full = len(want & set(full))
            emit("full", done_full, n_want)
            tasks = _fit_tasks(run_now, seed, config, footprint_volume, box_volume, keep)
            for rec in runner.run(tasks):
                keep(rec)
                if rec.status == "done":
                    full[rec.sha256] = Summary.of(rec)
                    full_now.add(rec.sha256)
                    n_fitted_full += 1
                else:  # cannot be fitted fully: out of the ranking (retried when failed)
                    u_cheap.pop(rec.sha256, None)
                done_full += 1
                emit("full", done_full, n_want, rec.name)
        u_full = _statistics({k: r for k, r in full.items() if k in u_cheap}, metric)
        plan = next_full(u_cheap, u_full, random_sample=random_sample & set(u_full),
                         metric=metric, alpha=config.alpha, margin=config.margin,
                         top=config.full_top)  # fmt: skip
        if not plan.more or rounds >= MAX_ROUNDS:
            break
        want |= set(plan.more)
    # candidates fully searched in an earlier run with other choices stay fully searched
    statistic = {**plan.statistic, **{k: u_full[k] for k in u_full}}
    cheap_only = frozenset(k for k in u_cheap if k not in u_full)
    info = {
        "cheap_search": cheap_cfg.search.to_dict(),
        "cheap_refine": cheap_cfg.refine.to_dict(),
        "candidates": len(u_cheap),
        "full": len(u_full),
        "cheap_only": len(cheap_only),
        "full_top": len(top),
        "calibration_sample": len(random_sample),
        "promoted": len(u_full) - len(set(u_full) & (set(top) | random_sample)),
        "rounds": rounds,
        "calibration": asdict(plan.calibration),
        "u_significant_at_least": plan.u_sig,
        "least_gap": plan.gap,
        "cheap_wall_s": round(cheap_wall, 3),
        "full_wall_s": round(time.perf_counter() - t1, 3),
        "full_fitted_now": n_fitted_full,
        # candidates whose final result comes from this run (the cheap-only ones: their cheap fit)
        "fitted_now": len(full_now | (cheap_only & cheap_now)),
    }
    if rounds >= MAX_ROUNDS and plan.more:
        log.warning("hierarchical screen: %d candidates could still be significant after %d "
                    "rounds; they keep their cheap result", len(plan.more), rounds)  # fmt: skip
    now = frozenset(full_now | (cheap_only & cheap_now))
    return HierarchyOutcome(statistic=statistic, cheap_only=cheap_only, info=info, fitted_now=now)


def _statistics(records: Mapping[str, Summary], metric: str) -> dict[str, float]:
    """The ranking statistic of each record (by SHA-256)."""
    keys = list(records)
    u = normalised_scores(
        np.array([records[k].score for k in keys]), np.array([records[k].n_atoms for k in keys]),
        metric,
    )  # fmt: skip
    return {k: float(v) for k, v in zip(keys, u, strict=True)}


def _check_screen_args(
    config: ScreenConfig | None,
    library: Sequence[LibraryEntry],
    workers: int,
    scheduler: Any,
    threads: int | None,
) -> tuple[ScreenConfig, list[LibraryEntry]]:
    """The options of :func:`screen`, checked; the library as a list of distinct files."""
    config = config or ScreenConfig()
    if not isinstance(config, ScreenConfig):
        raise ConfigError("config must be a ScreenConfig")
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ConfigError(f"workers must be an integer >= 1, got {workers!r}")
    if scheduler is not None and workers > 1:
        raise ConfigError("give either --workers (local processes) or --scheduler (Dask), not both")
    if scheduler is not None and threads is not None:
        raise ConfigError(
            "--threads does not apply to a Dask cluster (start the workers with --nthreads)"
        )
    entries = list(library)
    if not entries:
        raise ConfigError("the library is empty")
    shas = [e.sha256 for e in entries]
    if len(set(shas)) != len(shas):
        raise ConfigError("the library lists the same file content twice (use find_library)")
    return config, entries


def _largest_first(entry: LibraryEntry) -> tuple[int, str]:
    """Sort key of the fits of a stage: biggest files first, so that the longest fits start
    early and the stage's tail is short."""
    return (-entry.nbytes, entry.name)


def _fit_tasks(
    todo: Sequence[LibraryEntry],
    seed: int,
    config: ScreenConfig,
    footprint_volume: float,
    box_volume: float,
    keep: Callable[[CandidateRecord], None],
) -> Iterator[FitTask]:
    """The fits to run, read lazily; unreadable or ill-sized candidates are recorded (``keep``)
    instead of yielded."""
    for e in todo:
        cseed = candidate_seed(seed, e.sha256)
        base: dict[str, Any] = dict(sha256=e.sha256, name=e.name, path=e.location, seed=cseed)
        try:
            st = read_entry(e)
        except StructureError as exc:
            keep(CandidateRecord(status="skipped", reason=one_line(exc), **base))
            continue
        check = size_check(
            len(st),
            footprint_volume=footprint_volume,
            box_volume=box_volume,
            max_volume_ratio=config.max_volume_ratio if config.prefilter else None,
        )
        if check.status != "ok":
            keep(CandidateRecord(status=check.status, reason=check.reason, n_atoms=len(st),
                                 n_residues=st.n_residues, **base))  # fmt: skip
            continue
        yield FitTask.make(structure=st, **base)


def _screen_result(
    out: str | os.PathLike[str],
    entries: Sequence[LibraryEntry],
    final: Mapping[str, Summary],
    finished: Mapping[str, Summary],
    counts_now: dict[str, int],
    config: ScreenConfig,
    seed: int,
    prepared: Any,
    map_sha: str,
    run_hash: str,
    *,
    executor: str,
    device: str,
    box_volume: float,
    wall_s: float,
    fit_wall: float,
    hier: HierarchyOutcome | None = None,
) -> ScreenResult:
    """Rank the stored records (from their summaries: the records stay in the database) and
    gather the run's counts and figures."""
    total = len(entries)
    missing = [e.name for e in entries if e.sha256 not in final]
    if missing:  # cannot happen unless the database was changed under us
        raise ConfigError(f"no result stored for {', '.join(missing[:5])}")
    cheap_only = hier.cheap_only if hier is not None else frozenset()
    done = [e for e in entries if final[e.sha256].status == "done"]
    if hier is None:
        conf = library_confidence(
            np.array([final[e.sha256].score for e in done], dtype=np.float64),
            np.array([final[e.sha256].n_atoms for e in done]),
            metric=config.metric, alpha=config.alpha,
        )  # fmt: skip
    else:
        u = np.array([hier.statistic[e.sha256] for e in done], dtype=np.float64)
        conf = confidence_of_statistic(u, metric=config.metric, alpha=config.alpha)
    # best first, ties by name and file hash (the library's order does not matter)
    order = sorted(range(len(done)), key=lambda i: (-conf.u[i], done[i].name, done[i].sha256))
    ranked_entries = [done[i] for i in order]
    ranked = RankedCandidates(
        out,
        [e.sha256 for e in ranked_entries],
        np.array([e.sha256 in cheap_only for e in ranked_entries], dtype=bool),
        [e.name for e in ranked_entries],
        [e.location for e in ranked_entries],
        u=conf.u[order], z=conf.z[order], p=conf.p[order], q=conf.q[order],
        significant=conf.significant[order],
    )  # fmt: skip
    rest = sorted(
        (e for e in entries if final[e.sha256].status != "done"),
        key=lambda e: (final[e.sha256].status, e.name),
    )
    not_fitted = StoredRecords(
        out, [e.sha256 for e in rest], np.zeros(len(rest), dtype=bool),
        [e.name for e in rest], [e.location for e in rest],
    )  # fmt: skip
    statuses = [final[e.sha256].status for e in entries]
    counts = {"total": total, "resumed": len(finished), "fitted_now": counts_now.get("done", 0)}
    for st in ("done", "skipped", "filtered", "failed"):
        counts[st] = statuses.count(st)
    if hier is None:
        fitted_now = [final[e.sha256] for e in done if e.sha256 not in finished]
    else:  # a candidate is fitted now when its final stage ran in this run
        fitted_now = [final[e.sha256] for e in done if e.sha256 in hier.fitted_now]
        counts["fitted_now"] = len(fitted_now)
        counts["resumed"] = (
            counts["done"]
            + counts["skipped"]
            - counts["fitted_now"]
            - sum(counts_now.get(k, 0) for k in ("skipped",))
        )
    sizes = [final[e.sha256].n_residues for e in done]
    info = {
        "difffit_version": __version__,
        "map_sha256": map_sha,
        "run_hash": run_hash,
        "executor": executor,
        "device": device,
        "level": prepared.level,
        "level_rule": prepared.level_rule,
        "box_volume_A3": round(box_volume, 1),
        "wall_s": round(wall_s, 3),
        "fit_wall_s": round(fit_wall, 3),
        "candidates_per_minute": (60.0 * len(fitted_now) / fit_wall)
        if fitted_now and fit_wall > 0
        else None,
        "median_fit_s": float(np.median([r.fit_s for r in fitted_now])) if fitted_now else None,
        "median_cpu_s": float(np.median([r.cpu_s for r in fitted_now])) if fitted_now else None,
        "median_residues": float(np.median(sizes)) if sizes else None,
    }
    selections = {e.sha256: e.selection for e in entries if e.selection}
    if selections:  # what report writers read the fitted models with
        info["selections"] = selections
    if hier is not None:
        info["hierarchy"] = hier.info
    return ScreenResult(
        ranked=ranked,
        not_fitted=not_fitted,
        null=conf.null,
        config=config,
        seed=seed,
        level=prepared.level,
        footprint_volume=prepared.footprint_volume,
        counts=counts,
        info=info,
    )
