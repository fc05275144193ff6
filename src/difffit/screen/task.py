"""One candidate's fit, as it runs in a worker: a task in, a record out (pure compute, no I/O).

A :class:`FitTask` carries everything a worker needs (the structure's atoms without the parsed
file, the candidate's seed); the map and the options travel once per worker in a
:class:`WorkerContext`. :func:`run_task` never raises for a candidate's own problem: a structure
that cannot be fitted (e.g. larger than the map box) becomes a ``skipped`` record and an
unexpected error a ``failed`` one, so that one bad file cannot stop a screen of thousands.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from difffit.config import FitConfig
from difffit.density.map import DensityMap
from difffit.density.prepare import PreparedMap, prepare_map
from difffit.errors import DiffFitError
from difffit.ranking import cluster_sort_key
from difffit.structure import Structure

__all__ = [
    "STATUSES",
    "CandidateRecord",
    "FitTask",
    "WorkerContext",
    "density_sha256",
    "run_batch",
    "run_task",
    "search_map_for",
]

#: ``done``: fitted; ``skipped``: cannot be fitted (unreadable, larger than the map box);
#: ``filtered``: left out by the size pre-filter; ``failed``: an unexpected error (retried on
#: resume).
STATUSES = ("done", "skipped", "filtered", "failed")

#: Clusters kept per candidate in the database (best first).
N_CLUSTERS_KEPT = 5


def density_sha256(density: DensityMap) -> str:
    """Hex SHA-256 of a map's grid (values, shape, voxel size, origin): the map's identity."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(density.data, dtype=np.float32).tobytes())
    h.update(
        json.dumps(
            [list(density.shape_zyx), density.voxel_size_xyz.tolist(), density.origin_xyz.tolist()]
        ).encode()
    )
    return h.hexdigest()


@dataclass(frozen=True)
class WorkerContext:
    """What every worker needs once: the map, its identity, the fit options, the device."""

    density: DensityMap
    map_sha256: str
    config: FitConfig
    device: str = "cpu"


@dataclass(frozen=True, eq=False)
class FitTask:
    """One candidate to fit.

    ``structure`` is the candidate's heavy atoms without the parsed file (``model=None``), so
    that it is small to send to a process or a cluster worker.
    """

    sha256: str
    name: str
    path: str
    structure: Structure
    seed: int

    @classmethod
    def make(cls, *, sha256: str, name: str, path: str, structure: Structure, seed: int) -> FitTask:
        light = dataclasses.replace(structure, name=name, model=None)
        return cls(sha256=sha256, name=name, path=path, structure=light, seed=seed)


@dataclass(frozen=True)
class CandidateRecord:
    """The outcome of one candidate: what the database stores and the ranking reads.

    Attributes
    ----------
    sha256, name, path : str
        Identity, display name and file of the candidate.
    status : str
        One of :data:`STATUSES`.
    reason : str
        Why a candidate was skipped, filtered or failed ("" when done).
    n_atoms, n_residues : int
        Heavy atoms and residues of the candidate.
    seed : int
        Seed of its fit.
    score : float
        The best cluster's value of the ranking metric (``config.cluster.sort_by``).
    second_score : float
        The same for the candidate's second-best cluster (NaN when it has one cluster).
    hits, correlation, cam, overlap, density, inside : float
        The best cluster's metrics (see :class:`~difffit.results.ClusterHit`).
    n_clusters : int
    transform : tuple of 12 float
        r11…r33, t1…t3 of the best cluster: input coordinates → map, x' = R x + t (Å).
    clusters : tuple of dict
        The best :data:`N_CLUSTERS_KEPT` clusters (metrics and transform).
    fit_s : float
        Wall-clock seconds of the fit.
    cpu_s : float
        CPU seconds of the process during the fit (all its threads): what the fit costs on an
        idle machine, whatever else shared the cores.
    worker : str
        Where it ran (``local``, ``process``, a Dask worker address).
    """

    sha256: str
    name: str
    path: str
    status: str
    reason: str = ""
    n_atoms: int = 0
    n_residues: int = 0
    seed: int = 0
    score: float = math.nan
    second_score: float = math.nan
    hits: int = 0
    correlation: float = math.nan
    cam: float = math.nan
    overlap: float = math.nan
    density: float = math.nan
    inside: float = math.nan
    n_clusters: int = 0
    transform: tuple[float, ...] = ()
    clusters: tuple[dict[str, Any], ...] = field(default=())
    fit_s: float = 0.0
    cpu_s: float = math.nan
    worker: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")


def one_line(text: object) -> str:
    """A message on one line (parsers' multi-line errors joined), for tables and logs."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _plain(v: Any) -> Any:
    if isinstance(v, (np.floating, float)):
        return float(v)
    if isinstance(v, (np.integer, int)):
        return int(v)
    return v


_PREPARED: dict[tuple[str, str], PreparedMap] = {}
_PREPARED_LOCK = threading.Lock()


def prepared_for(ctx: WorkerContext) -> PreparedMap:
    """The prepared map of a context, computed once per process."""
    key = (ctx.map_sha256, json.dumps(ctx.config.prep.to_dict(), sort_keys=True))
    with _PREPARED_LOCK:
        if key not in _PREPARED:
            _PREPARED.clear()
            _PREPARED[key] = prepare_map(ctx.density, ctx.config.prep)
        return _PREPARED[key]


_SEARCH_MAPS: dict[tuple[str, str, str], Any] = {}


def search_map_for(ctx: WorkerContext) -> Any:
    """The map in every form a fit samples (:class:`~difffit.fitting.pipeline.SearchMap`),
    derived once per process and context (the map's tensors are not rebuilt per candidate)."""
    from difffit.device import resolve_device
    from difffit.fitting.pipeline import prepare_search_map

    cfg = ctx.config
    parts = {k: cfg.to_dict()[k] for k in ("prep", "quality", "refine")}
    key = (ctx.map_sha256, json.dumps(parts, sort_keys=True), ctx.device)
    with _PREPARED_LOCK:
        hit = _SEARCH_MAPS.get(key)
    if hit is not None:
        return hit
    prepared = prepared_for(ctx)
    smap = prepare_search_map(prepared, cfg, device=resolve_device(ctx.device))
    with _PREPARED_LOCK:
        if len(_SEARCH_MAPS) >= 4:  # a cheap and a full context per run; never a growing cache
            _SEARCH_MAPS.clear()
        _SEARCH_MAPS[key] = smap
    return smap


def run_batch(
    tasks: list[FitTask], ctx: WorkerContext, *, threads: int | None = None, worker: str = "local"
) -> list[CandidateRecord]:
    """Fit several (small) candidates in one call: one round trip to a worker for all."""
    return [run_task(t, ctx, threads=threads, worker=worker) for t in tasks]


def run_task(
    task: FitTask, ctx: WorkerContext, *, threads: int | None = None, worker: str = "local"
) -> CandidateRecord:
    """Fit one candidate; a record whatever happens (``done``, ``skipped`` or ``failed``)."""
    from difffit.search import fit

    st = task.structure
    base: dict[str, Any] = dict(
        sha256=task.sha256,
        name=task.name,
        path=task.path,
        n_atoms=len(st),
        n_residues=st.n_residues,
        seed=task.seed,
        worker=worker,
    )
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        result = fit(
            search_map_for(ctx),
            st,
            config=ctx.config,
            device=ctx.device,
            seed=task.seed,
            threads=threads,
        )
    except DiffFitError as exc:
        return CandidateRecord(
            status="skipped",
            reason=one_line(exc),
            fit_s=time.perf_counter() - t0,
            cpu_s=time.process_time() - c0,
            **base,
        )
    except Exception as exc:  # a bug or a resource problem: recorded, retried on resume
        return CandidateRecord(
            status="failed",
            reason=one_line(f"{type(exc).__name__}: {exc}"),
            fit_s=time.perf_counter() - t0,
            cpu_s=time.process_time() - c0,
            **base,
        )
    sort_by = ctx.config.cluster.sort_by

    def key(c) -> float:
        return cluster_sort_key(c, sort_by, score=float(result.fits["score"][c.fit_id]))

    cl = result.clusters
    best = cl[0]
    kept = tuple(
        {**{k: _plain(v) for k, v in c.row().items() if k != "structure"}, "score": key(c)}
        for c in cl[:N_CLUSTERS_KEPT]
    )
    return CandidateRecord(
        status="done",
        score=key(best),
        second_score=key(cl[1]) if len(cl) > 1 else math.nan,
        hits=best.hits,
        correlation=best.correlation,
        cam=best.cam,
        overlap=best.overlap,
        density=best.density,
        inside=best.inside,
        n_clusters=len(cl),
        transform=tuple(float(v) for v in best.transform.to_r_t_flat()),
        clusters=kept,
        fit_s=time.perf_counter() - t0,
        cpu_s=time.process_time() - c0,
        **base,
    )
