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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from difffit._version import __version__
from difffit.config import ScreenConfig
from difffit.density.map import DensityMap
from difffit.errors import ConfigError, StructureError
from difffit.progress import Progress
from difffit.screen.confidence import Confidence, NullModel, library_confidence
from difffit.screen.library import LibraryEntry, candidate_seed
from difffit.screen.prefilter import size_check
from difffit.screen.store import FINAL_STATUSES, ScreenStore
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


@dataclass(frozen=True)
class RankedCandidate:
    """A fitted candidate with its rank in the library and its confidence.

    ``norm_score`` is the ranking statistic (``atanh(score) sqrt(atoms)`` for correlations, see
    :mod:`difffit.screen.confidence`); ``z`` its robust z-score, ``p`` its p-value under the
    library's null, ``q`` the Benjamini-Hochberg q-value. ``z``, ``p`` and ``q`` are NaN when
    the library is too small for a null model.
    """

    rank: int
    record: CandidateRecord
    norm_score: float
    z: float
    p: float
    q: float
    significant: bool


@dataclass(frozen=True, eq=False)
class ScreenResult:
    """The outcome of a screen.

    Attributes
    ----------
    ranked : tuple of RankedCandidate
        The fitted candidates, best first (by size-normalised score, then name).
    not_fitted : tuple of CandidateRecord
        Candidates skipped, filtered by the pre-filter, or failed.
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

    ranked: tuple[RankedCandidate, ...]
    not_fitted: tuple[CandidateRecord, ...]
    null: NullModel | None
    config: ScreenConfig
    seed: int
    level: float
    footprint_volume: float
    counts: dict[str, int]
    info: dict[str, Any]

    @property
    def significant(self) -> tuple[RankedCandidate, ...]:
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
    run = {"map_sha256": map_sha, "fit_options": config.fit.to_dict(), "seed": int(seed)}
    run = json.loads(json.dumps(run, sort_keys=True))
    return run, hashlib.sha256(json.dumps(run, sort_keys=True).encode()).hexdigest()


def rank_records(
    records: Sequence[CandidateRecord], *, metric: str, alpha: float
) -> tuple[tuple[RankedCandidate, ...], Confidence]:
    """Rank the fitted records by their size-normalised score (then name) with their confidence.

    The order of ``records`` does not matter: ties are broken by name and file hash.
    """
    done = [r for r in records if r.status == "done"]
    conf = library_confidence(
        np.array([r.score for r in done]), np.array([r.n_atoms for r in done]),
        metric=metric, alpha=alpha,
    )  # fmt: skip
    order = sorted(range(len(done)), key=lambda i: (-conf.u[i], done[i].name, done[i].sha256))
    ranked = tuple(
        RankedCandidate(
            rank=k + 1,
            record=done[i],
            norm_score=float(conf.u[i]),
            z=float(conf.z[i]),
            p=float(conf.p[i]),
            q=float(conf.q[i]),
            significant=bool(conf.significant[i]),
        )
        for k, i in enumerate(order)
    )
    return ranked, conf


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

        previous = store.records(shas)
        finished = {k: r for k, r in previous.items() if r.status in FINAL_STATUSES}
        todo = [e for e in entries if e.sha256 not in finished]
        # biggest files first: the longest fits start early, the last ones are short
        todo.sort(key=lambda e: (-e.path.stat().st_size, e.name))
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
            emit(rec.name)

        emit()
        if done_count:
            log.info("resuming: %d of %d candidates finished by an earlier run", done_count, total)
        t_fit = time.perf_counter()
        tasks = _fit_tasks(todo, seed, config, footprint_volume, box_volume, keep)
        records, executor = _execute(tasks, ctx, scheduler=scheduler, workers=workers,
                                     threads=threads)  # fmt: skip
        for rec in records:
            keep(rec)
        fit_wall = time.perf_counter() - t_fit
        final = store.records(shas)

    return _screen_result(
        entries, final, finished, counts_now, config, seed, prepared, map_sha, run_hash,
        executor=executor, device=device, box_volume=box_volume,
        wall_s=time.perf_counter() - t_start, fit_wall=fit_wall,
    )  # fmt: skip


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
        base: dict[str, Any] = dict(sha256=e.sha256, name=e.name, path=str(e.path), seed=cseed)
        try:
            st = e.read()
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


def _execute(
    tasks: Iterator[FitTask], ctx: WorkerContext, *, scheduler: Any, workers: int,
    threads: int | None,
) -> tuple[Iterable[CandidateRecord], str]:  # fmt: skip
    """Run the fits on Dask, local processes or in this process; (records, executor name)."""
    if scheduler is not None:
        from difffit.screen.executors import run_dask

        return run_dask(tasks, ctx, scheduler=scheduler), (
            f"dask {scheduler if isinstance(scheduler, str) else 'client'}"
        )
    if workers > 1:
        from difffit.screen.executors import run_processes

        records = run_processes(tasks, ctx, workers=workers, threads=threads or 1)
        return records, f"{workers} local processes"
    from difffit.screen.executors import run_local

    return run_local(tasks, ctx, threads=threads), "this process"


def _screen_result(
    entries: Sequence[LibraryEntry],
    final: dict[str, CandidateRecord],
    finished: dict[str, CandidateRecord],
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
) -> ScreenResult:
    """Rank the stored records and gather the run's counts and figures."""
    shas = [e.sha256 for e in entries]
    total = len(entries)
    by_sha = {e.sha256: e for e in entries}
    # names and paths as given in this run (an earlier run may have named a file differently)
    recs = [
        replace(final[e.sha256], name=e.name, path=str(e.path))
        for e in entries
        if e.sha256 in final
    ]
    missing = [by_sha[s].name for s in shas if s not in final]
    if missing:  # cannot happen unless the database was changed under us
        raise ConfigError(f"no result stored for {', '.join(missing[:5])}")
    ranked, conf = rank_records(recs, metric=config.metric, alpha=config.alpha)
    not_fitted = tuple(
        sorted((r for r in recs if r.status != "done"), key=lambda r: (r.status, r.name))
    )
    counts = {"total": total, "resumed": len(finished), "fitted_now": counts_now.get("done", 0)}
    for s in ("done", "skipped", "filtered", "failed"):
        counts[s] = sum(1 for r in recs if r.status == s)
    fitted_now = [r for r in recs if r.status == "done" and r.sha256 not in finished]
    sizes = [r.n_residues for r in recs if r.status == "done"]
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
