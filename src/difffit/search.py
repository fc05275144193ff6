"""Scenario 1: fit one or several structures into a map — the composed workflow.

``fit`` = prepare the map → starts → batched optimisation → metrics of every fit → clustering →
refinement of the best clusters → one ranked table. The stages, and the named values they hand
on, are in :mod:`difffit.fitting.pipeline`; this module composes them and assembles the
:class:`~difffit.results.FitResult`. Pure compute: files are read and written by
:mod:`difffit.io` and the CLI.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from difffit._version import __version__
from difffit.config import FitConfig
from difffit.density.map import DensityMap
from difffit.density.prepare import PreparedMap
from difffit.device import resolve_device
from difffit.errors import ConfigError, FitError
from difffit.fitting.pipeline import (
    Fits,
    Ranking,
    SearchMap,
    StructureTargets,
    cluster_fits,
    input_frame,
    make_pool,
    optimise,
    prepare_search_map,
    prepare_structure,
    rank_clusters,
    refine_clusters,
    score_placements,
    structure_order,
)
from difffit.fitting.quality import METRICS
from difffit.geometry import RigidTransform, quat_to_matrix
from difffit.kernels import threads as kernel_threads
from difffit.progress import ProgressCallback, emit
from difffit.results import TRANSFORM_COLUMNS, ClusterHit, FitResult, StructureInfo
from difffit.seeding import make_seed
from difffit.structure import Structure
from difffit.verdict import annotate_clusters

__all__ = ["fit"]

log = logging.getLogger(__name__)


class _Stopwatch:
    """Seconds spent per stage, summed over the calls (``timings_s`` of the manifest)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        self.seconds.setdefault(stage, 0.0)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - t0


def fit(
    density: DensityMap | PreparedMap | SearchMap,
    structures: Structure | Sequence[Structure],
    *,
    config: FitConfig | None = None,
    device: str = "auto",
    seed: int | None = None,
    threads: int | None = None,
    progress: ProgressCallback | None = None,
) -> FitResult:
    """Fit structures into a density map: global search, clustering, refinement.

    Parameters
    ----------
    density
        The map (prepared here with ``config.prep``), or a map prepared already (a
        :class:`~difffit.fitting.pipeline.SearchMap` made with the same ``config`` by
        :func:`~difffit.fitting.pipeline.prepare_search_map`: a screen derives it once per
        worker process for all its candidates).
    structures
        One structure or several; each is searched with the same options and all clusters are
        ranked in one table.
    config
        All options (:class:`~difffit.config.FitConfig`).
    device
        ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda[:N]"``.
    seed
        Seed of every random choice; the same seed gives the same table. None = a fresh seed,
        recorded in the result.
    threads
        CPU threads (default: all cores), for this call only: the process's thread counts are
        restored on return.
    progress
        Called with :class:`~difffit.progress.Progress` events.

    Returns
    -------
    FitResult
    """
    t_start = time.perf_counter()
    config = config or FitConfig()
    if not isinstance(config, FitConfig):
        raise ConfigError("config must be a FitConfig")
    dev = resolve_device(device)
    seed = make_seed(seed)
    with kernel_threads(threads) as n_threads:
        structures = _check_structures(structures)
        watch = _Stopwatch()
        symmetry = None
        if config.symmetry.enabled:  # first: a group the map does not have stops here
            from difffit.symmetry.apply import resolve_symmetry

            with watch("symmetry"):
                symmetry = resolve_symmetry(
                    density.source if isinstance(density, (PreparedMap, SearchMap)) else density,
                    config.symmetry.group, level=config.prep.level,
                    resolution=config.quality.resolution,
                )  # fmt: skip
        with watch("prepare_map"):
            smap = (
                density
                if isinstance(density, SearchMap)
                else prepare_search_map(density, config, device=dev)
            )
        emit(progress, "prepare", 1, 1)

        rng = np.random.default_rng(seed)
        order = structure_order(structures)
        targets: dict[int, StructureTargets] = {}
        parts, n_samples = [], 0
        for done, si in enumerate(order):
            name = structures[si].name
            with watch("search"):
                tg = targets[si] = prepare_structure(structures[si], si, smap, config)
                starts = make_pool(tg, smap, config.search, rng)
                steps = _search_events(progress, name)
                placements = optimise(smap, tg, starts, config.search, progress=steps)
            n_samples += placements.n_evaluations
            with watch("metrics"):
                parts.append(score_placements(smap, tg, placements))
            emit(progress, "structures", done + 1, len(order), name)
        fits = Fits.concatenate(parts)

        rows = []
        for si in order:
            with watch("cluster"):
                clusters = cluster_fits(smap, targets[si], fits, config.cluster)
            with watch("refine"):
                refined = refine_clusters(
                    smap, targets[si], clusters, refine=config.refine, cluster=config.cluster
                )
            rows.append(refined)
        ranking = rank_clusters(rows, len(fits), config.cluster.sort_by)

        centres = {s.name: s.centre_xyz for s in structures}
        hits = annotate_clusters(_cluster_hits(ranking, structures), centres)
        table = _fits_table(fits, ranking, targets, structures)
        sym_info = None
        if symmetry is not None:
            from difffit.symmetry.apply import symmetric_clusters

            with watch("symmetry"):
                sc = symmetric_clusters(
                    hits, {s.name: s.coords_xyz for s in structures}, symmetry,
                    shift_tolerance=config.cluster.shift_tolerance,
                    angle_tolerance_deg=config.cluster.angle_tolerance_deg,
                )  # fmt: skip
            n_before = len(hits)
            hits = annotate_clusters(sc.clusters, centres)
            table["cluster_rank"] = np.array(
                [sc.new_rank.get(int(r), int(r)) for r in table["cluster_rank"]], dtype=np.int64
            )
            sym_info = {**symmetry.to_dict(), "clusters_before": n_before,
                        "clusters_after": len(hits)}  # fmt: skip
        elif config.symmetry.enabled:
            sym_info = {"group": "C1", "copies": 1, "source": config.symmetry.group,
                        "operators": []}  # fmt: skip

    timings = {**watch.seconds, "total": time.perf_counter() - t_start}
    log.debug("fit finished in %.2f s", timings["total"])
    if not math.isfinite(float(np.nanmax(fits.score))):
        raise FitError("the search produced no finite score (map or structure degenerate)")
    info = _run_info(smap, config, dev, n_threads, len(fits), n_samples, timings)
    if sym_info is not None:
        info["symmetry"] = sym_info
    return FitResult(
        clusters=hits,
        fits=table,
        structures=tuple(_structure_info(s) for s in structures),
        level=smap.level,
        resolution=float(smap.resolution),
        seed=seed,
        config=config,
        info=info,
    )


def _search_events(progress: ProgressCallback | None, name: str) -> Callable[[int, int], None]:
    """The optimiser's ``(done, total)`` reports as ``Progress("search", done, total, name)``."""

    def report(done: int, total: int) -> None:
        emit(progress, "search", done, total, name)

    return report


def _check_structures(structures: Structure | Sequence[Structure]) -> list[Structure]:
    """``structures`` as a non-empty list of uniquely named structures."""
    if isinstance(structures, Structure):
        structures = [structures]
    structures = list(structures)
    if not structures:
        raise ConfigError("no structures to fit")
    names = [s.name for s in structures]
    if len(set(names)) != len(names):
        raise ConfigError(f"structure names must be unique, got {names}")
    return structures


def _cluster_hits(ranking: Ranking, structures: Sequence[Structure]) -> tuple[ClusterHit, ...]:
    """The ranked clusters as result objects (rank 1 first)."""
    rows = ranking.clusters
    return tuple(
        ClusterHit(
            rank=r + 1,
            structure=structures[int(rows.structure_index[r])].name,
            structure_index=int(rows.structure_index[r]),
            hits=int(rows.hits[r]),
            density=float(rows.metrics["density"][r]),
            overlap=float(rows.metrics["overlap"][r]),
            correlation=float(rows.metrics["correlation"][r]),
            cam=float(rows.metrics["cam"][r]),
            inside=float(rows.metrics["inside"][r]),
            transform=RigidTransform.from_r_t_flat(rows.transform[r]),
            refined=bool(rows.refined[r]),
            fit_id=int(rows.fit_id[r]),
            extra={"refine_shift": float(rows.refine_shift[r])},
        )
        for r in range(len(rows))
    )


def _fits_table(
    fits: Fits,
    ranking: Ranking,
    targets: dict[int, StructureTargets],
    structures: Sequence[Structure],
) -> dict[str, np.ndarray]:
    """The table of every fit (``FIT_COLUMNS`` of :mod:`difffit.results`)."""
    flat = np.zeros((len(fits), 12))
    for si, tg in targets.items():
        idx = np.flatnonzero(fits.structure_index == si)
        flat[idx] = input_frame(
            tg.centre_xyz, quat_to_matrix(fits.quat_wxyz[idx]), fits.centre_xyz[idx]
        )
    table: dict[str, np.ndarray] = {
        "fit_id": np.arange(len(fits)),
        "structure": np.array([structures[i].name for i in fits.structure_index], dtype=object),
        "rotation_index": fits.rotation_index,
        "position_index": fits.position_index,
        "score": fits.score,
        **{k: fits.metrics[k] for k in METRICS},
        "cluster_rank": ranking.cluster_rank,
    }
    for j, c in enumerate(TRANSFORM_COLUMNS):
        table[c] = flat[:, j]
    return table


def _structure_info(s: Structure) -> StructureInfo:
    x, y, z = (float(v) for v in s.centre_xyz)
    return StructureInfo(
        name=s.name,
        source=str(s.source) if s.source else None,
        n_atoms=len(s),
        n_residues=s.n_residues,
        centre_xyz=(x, y, z),
        chains=s.chains,
        selection=s.selection,
    )


def _run_info(
    smap: SearchMap,
    config: FitConfig,
    device: str,
    n_threads: int,
    n_fits: int,
    n_samples: int,
    timings: dict[str, float],
) -> dict:
    """The run's record for the manifest: version, device, map, preparation, timings."""
    raw = smap.source
    return {
        "difffit_version": __version__,
        "device": str(device),
        "threads": n_threads,
        "map": {
            "shape_zyx": list(raw.shape_zyx),
            "voxel_size_xyz": raw.voxel_size_xyz.tolist(),
            "origin_xyz": raw.origin_xyz.tolist(),
            **raw.stats(),
        },
        "preparation": smap.prepared.summary(),
        "resolution_rule": "given" if config.quality.resolution else "2 x largest voxel size",
        "n_placements": n_fits,
        "samples": n_samples,
        "samples_per_second": n_samples / max(timings["search"], 1e-9),
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
    }
