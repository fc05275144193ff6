"""Scenario 1: fit one or several structures into a map — the composed workflow.

``fit`` = prepare the map → starts → batched optimisation → metrics of every fit → clustering →
refinement of the best clusters → one ranked table. Pure compute: files are read and written by
:mod:`difffit.io` and the CLI.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from difffit._version import __version__
from difffit.clustering import cluster_poses
from difffit.config import FitConfig
from difffit.density.map import DensityMap
from difffit.density.prepare import PreparedMap, prepare_map
from difffit.device import resolve_device
from difffit.errors import ConfigError, FitError
from difffit.fitting.optimise import Phase, VolumeSampler, optimise_placements
from difffit.fitting.quality import METRICS, SimulatedProbe, quality_metrics
from difffit.fitting.refine import refine_poses, refinement_map
from difffit.fitting.starts import make_starts
from difffit.geometry import RigidTransform, quat_to_matrix
from difffit.kernels import set_num_threads
from difffit.results import TRANSFORM_COLUMNS, ClusterHit, FitResult, StructureInfo
from difffit.structure import Structure

__all__ = ["Progress", "fit", "make_seed"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Progress:
    """A progress event: ``done`` of ``total`` units of ``stage`` for ``structure``."""

    stage: str
    done: int
    total: int
    structure: str = ""


ProgressCallback = Callable[[Progress], None]


def make_seed(seed: int | None) -> int:
    """The seed to use: ``seed`` itself, or a fresh random one (recorded in the results)."""
    if seed is None:
        return int(np.random.SeedSequence().entropy % (2**31))
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def default_resolution(density: DensityMap) -> float:
    """2 × the largest voxel size (Nyquist): the resolution assumed when none is given."""
    return round(2.0 * float(density.voxel_size_xyz.max()), 3)


#: Envelope points of the simulated map used to score every placement (cluster leaders: all).
PROBE_POINTS_ALL_FITS = 4000

#: The screening of candidate starts samples at most this many CA/P atoms, evenly along the chains.
SCREEN_ATOMS = 150

#: Start positions per structure volume of density footprint in the pool of candidate starts.
POSITIONS_PER_VOLUME = 4.0

#: Protein volume per heavy atom, Å³ (1.35 g/cm³, ~14.7 Da per heavy atom with its hydrogens).
ATOM_VOLUME = 18.0


def _check_fits_in_box(structure: Structure, density: DensityMap) -> None:
    """The map box must at least hold the structure's volume (domains may stick out of it)."""
    need = ATOM_VOLUME * len(structure)
    box = float(np.prod(density.extent_xyz))
    if need > box:
        raise FitError(
            f"{structure.name}: the structure (~{need:.0f} Å³, {len(structure)} heavy atoms) is larger "
            f"than the whole map box ({' x '.join(f'{e:.0f}' for e in density.extent_xyz)} Å = "
            f"{box:.0f} Å³); use a larger map or a smaller structure"
        )


@dataclass(frozen=True, eq=False)
class _Prepared:
    structure: Structure
    index: int
    centre: np.ndarray
    search_xyz: np.ndarray
    coarse_xyz: np.ndarray
    screen_xyz: np.ndarray
    all_xyz: np.ndarray
    probe: SimulatedProbe


def _prepare_structure(
    structure: Structure, index: int, config: FitConfig, resolution: float, voxel: float
) -> _Prepared:
    sel = structure.mask(config.search.selection)
    if not sel.any():
        raise FitError(
            f"{structure.name}: no atoms in selection {config.search.selection!r} "
            "(choose --selection all)"
        )
    centre = structure.centre_xyz
    all_xyz = structure.coords_xyz - centre
    coarse = structure.mask("ca") & sel
    if coarse.sum() < 8:
        coarse = sel
    probe = SimulatedProbe.from_atoms(
        all_xyz,
        structure.atomic_numbers,
        resolution=resolution,
        voxel_size=voxel,
        envelope=config.quality.envelope,
    )
    coarse_xyz = all_xyz[coarse]
    screen_xyz = coarse_xyz[_evenly(len(coarse_xyz), SCREEN_ATOMS)]
    return _Prepared(structure, index, centre, all_xyz[sel], coarse_xyz, screen_xyz, all_xyz, probe)


def _pool_shape(scfg, footprint_volume: float, structure_volume: float) -> tuple[int, int]:
    """Rotations × positions of the pool of candidate starts.

    The pool holds ``oversample × n_placements`` starts. With ``oversample = 1`` it is the
    placements themselves (``n_rotations × n_positions``). Otherwise, when the density footprint
    is much larger than the structure (a subunit in a big complex), the pool spreads more
    positions — about ``POSITIONS_PER_VOLUME`` per structure volume of footprint, between
    ``n_positions`` and ``oversample × n_positions`` — and fewer rotations per position, so
    that every part of the density gets starts nearby.
    """
    if scfg.oversample <= 1:
        return scfg.n_rotations, scfg.n_positions
    want = int(math.ceil(POSITIONS_PER_VOLUME * footprint_volume / max(structure_volume, 1.0)))
    n_pos = int(min(max(scfg.n_positions, want), scfg.oversample * scfg.n_positions))
    n_rot = int(math.ceil(scfg.n_starts / n_pos))
    return n_rot, n_pos


def _evenly(n: int, k: int) -> np.ndarray:
    """Indices of at most ``k`` of ``n`` items, evenly spaced (all when n <= k)."""
    if n <= k:
        return np.arange(n)
    return np.linspace(0, n - 1, k).round().astype(np.int64)


def _input_frame(centre: np.ndarray, rot: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """12 numbers r11…t3 per pose of the input file's coordinates (x' = R (x - c) + t)."""
    t_in = shift - np.einsum("pij,j->pi", rot, centre)
    return np.concatenate([rot.reshape(-1, 9), t_in], axis=1)


def fit(
    density: DensityMap | PreparedMap,
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
        The map (prepared here with ``config.prep``), or a map prepared already.
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
        CPU threads (default: all cores).
    progress
        Called with :class:`Progress` events.

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
    n_threads = set_num_threads(threads)
    if isinstance(structures, Structure):
        structures = [structures]
    structures = list(structures)
    if not structures:
        raise ConfigError("no structures to fit")
    names = [s.name for s in structures]
    if len(set(names)) != len(names):
        raise ConfigError(f"structure names must be unique, got {names}")

    def emit(stage: str, done: int, total: int, name: str = "") -> None:
        if progress is not None:
            progress(Progress(stage, done, total, name))

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if isinstance(density, PreparedMap):
        prepared = density
    else:
        prepared = prepare_map(density, config.prep)
    raw = prepared.source
    timings["prepare_map"] = time.perf_counter() - t0
    resolution = config.quality.resolution or default_resolution(raw)
    emit("prepare", 1, 1)

    rng = np.random.default_rng(seed)
    sampler = VolumeSampler.from_map(
        prepared.target, outside=prepared.config.negative_value, device=dev
    )
    refine_map = refinement_map(raw, config.refine.smooth_sigma)
    footprint_xyz = raw.voxel_centres_xyz(prepared.footprint)
    voxel = float(raw.voxel_size_xyz.min())

    # structures in order of atom count (small first), each its own batch of placements
    order = sorted(range(len(structures)), key=lambda i: len(structures[i]))
    fit_cols: dict[str, list[np.ndarray]] = {c: [] for c in ("structure_index", "rotation_index",
        "position_index", "score", *METRICS, "quat", "centre")}  # fmt: skip
    prepped: dict[int, _Prepared] = {}
    n_steps = config.search.n_steps
    n_coarse = int(round(config.search.coarse_fraction * n_steps))
    timings["search"] = 0.0
    timings["metrics"] = 0.0
    n_samples = 0
    for rank_i, si in enumerate(order):
        st = structures[si]
        _check_fits_in_box(st, raw)
        t0 = time.perf_counter()
        sp = _prepare_structure(st, si, config, resolution, voxel)
        prepped[si] = sp
        scfg = config.search
        pool_rot, pool_pos = _pool_shape(scfg, prepared.footprint_volume, ATOM_VOLUME * len(st))
        q0, c0 = make_starts(footprint_xyz, n_rotations=pool_rot, n_positions=pool_pos, rng=rng)
        coarse_t, screen_t, fine_t = sp.coarse_xyz, sp.screen_xyz, sp.search_xyz
        n_pl = scfg.n_placements
        n_fine = max(1, int(math.ceil(scfg.keep_fraction * n_pl)))
        phases = [
            Phase(screen_t, scfg.screen_steps if scfg.oversample > 1 else 0),
            Phase(coarse_t, n_coarse, n_keep=n_pl),
            Phase(fine_t, n_steps - n_coarse, n_keep=n_fine),
        ]

        def step_progress(done: int, total: int, _name: str = st.name) -> None:
            emit("search", done, total, _name)

        res = optimise_placements(
            sampler,
            phases,
            q0,
            c0,
            lr_shift=scfg.lr_shift,
            lr_rotation=scfg.lr_rotation,
            progress=step_progress,
        )
        # the placements: the starts that survived the screening, in start order
        kept = np.flatnonzero(res.last_phase >= 1)
        if len(kept) == 0:
            kept = np.arange(len(q0))
        res_q, res_t, res_s = res.quat_wxyz[kept], res.shift[kept], res.score[kept]
        n_samples += res.n_evaluations
        timings["search"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        rot = quat_to_matrix(res_q)
        # every placement is scored on a subsample of the envelope (ranking only); the cluster
        # representatives get the exact figures below
        m = quality_metrics(
            raw, prepared.level, sp.all_xyz, sp.probe.subsample(PROBE_POINTS_ALL_FITS), rot, res_t
        )
        timings["metrics"] += time.perf_counter() - t0
        n = len(kept)
        fit_cols["structure_index"].append(np.full(n, si))
        fit_cols["rotation_index"].append(kept // pool_pos)
        fit_cols["position_index"].append(kept % pool_pos)
        fit_cols["score"].append(res_s)
        for k in METRICS:
            fit_cols[k].append(m[k])
        fit_cols["quat"].append(res_q)
        fit_cols["centre"].append(res_t)
        emit("structures", rank_i + 1, len(order), st.name)

    cols = {k: np.concatenate(v) for k, v in fit_cols.items()}
    n_fits = len(cols["score"])
    sort_by = config.cluster.sort_by
    key = cols["score"] if sort_by in ("hits", "score") else cols[sort_by]

    # ------------------------------------- clustering, refinement of the best, merging
    t_cluster = 0.0
    t_refine = 0.0
    cluster_rank = np.zeros(n_fits, dtype=np.int64)
    hits: list[dict] = []
    for si in order:
        sp = prepped[si]
        t0 = time.perf_counter()
        idx = np.flatnonzero(cols["structure_index"] == si)
        ordr = idx[np.argsort(-key[idx], kind="stable")]
        cl = cluster_poses(
            cols["quat"], cols["centre"], ordr,
            shift_tolerance=config.cluster.shift_tolerance,
            angle_tolerance_deg=config.cluster.angle_tolerance_deg,
        )  # fmt: skip
        members = [idx[cl.labels[idx] == c] for c in range(len(cl.leaders))]
        q = cols["quat"][cl.leaders].copy()
        t = cols["centre"][cl.leaders].copy()
        m = {k: cols[k][cl.leaders].copy() for k in METRICS}
        exact = quality_metrics(raw, prepared.level, sp.all_xyz, sp.probe, quat_to_matrix(q), t)
        for k in METRICS:
            m[k] = exact[k]
        sizes = cl.sizes.astype(float)
        if sort_by == "hits":
            ckey = sizes
        elif sort_by == "score":
            ckey = key[cl.leaders].copy()
        else:
            ckey = m[sort_by].copy()
        c_order = np.argsort(-ckey, kind="stable")
        t_cluster += time.perf_counter() - t0

        t0 = time.perf_counter()
        refined = np.zeros(len(q), dtype=bool)
        moved = np.zeros(len(q))
        n_ref = min(config.refine.n_clusters, len(q))
        if n_ref:
            top = c_order[:n_ref]
            rq, rt, _ = refine_poses(
                refine_map, sp.all_xyz, q[top], t[top], n_steps=config.refine.n_steps, device=dev
            )
            moved[top] = np.linalg.norm(rt - t[top], axis=1)
            q[top], t[top] = rq, rt
            refined[top] = True
            rm = quality_metrics(raw, prepared.level, sp.all_xyz, sp.probe, quat_to_matrix(rq), rt)
            for k in METRICS:
                m[k][top] = rm[k]
            if sort_by not in ("hits", "score"):
                ckey[top] = rm[sort_by]
            # clusters whose refined poses coincide are merged; the better one represents them
            c_order = np.argsort(-ckey, kind="stable")
            merged = cluster_poses(
                q, t, c_order,
                shift_tolerance=config.cluster.shift_tolerance,
                angle_tolerance_deg=config.cluster.angle_tolerance_deg,
            )  # fmt: skip
            groups = [np.flatnonzero(merged.labels == g) for g in range(len(merged.leaders))]
        else:
            groups = [np.array([c]) for c in c_order]
            merged = None
        t_refine += time.perf_counter() - t0
        leaders_ = merged.leaders if merged is not None else np.array([g[0] for g in groups])
        flat = _input_frame(sp.centre, quat_to_matrix(q), t)
        for lead, grp in zip(leaders_, groups, strict=True):
            fit_ids = np.concatenate([members[j] for j in grp])
            hits.append(
                {
                    "structure_index": si,
                    "fit": int(cl.leaders[lead]),
                    "hits": len(fit_ids),
                    "members": fit_ids,
                    "refined": bool(refined[lead]),
                    "metrics": {k: float(m[k][lead]) for k in METRICS},
                    "score": float(cols["score"][cl.leaders[lead]]),
                    "flat": flat[lead],
                    "moved": float(moved[lead]),
                }
            )
    timings["cluster"] = t_cluster
    timings["refine"] = t_refine

    def hit_key(h: dict) -> float:
        if sort_by == "hits":
            return float(h["hits"])
        if sort_by == "score":
            return h["score"]
        return h["metrics"][sort_by]

    hits.sort(key=lambda h: -hit_key(h))
    for r, h in enumerate(hits):
        cluster_rank[h["members"]] = r + 1

    clusters = tuple(
        ClusterHit(
            rank=r + 1,
            structure=structures[h["structure_index"]].name,
            structure_index=h["structure_index"],
            hits=h["hits"],
            density=h["metrics"]["density"],
            overlap=h["metrics"]["overlap"],
            correlation=h["metrics"]["correlation"],
            cam=h["metrics"]["cam"],
            inside=h["metrics"]["inside"],
            transform=RigidTransform.from_r_t_flat(h["flat"]),
            refined=h["refined"],
            fit_id=h["fit"],
            extra={"refine_shift": h["moved"]},
        )
        for r, h in enumerate(hits)
    )

    # ------------------------------------------------------------- the table of all fits
    flat_all = np.zeros((n_fits, 12))
    for si in order:
        idx = np.flatnonzero(cols["structure_index"] == si)
        flat_all[idx] = _input_frame(
            prepped[si].centre, quat_to_matrix(cols["quat"][idx]), cols["centre"][idx]
        )
    fits: dict[str, np.ndarray] = {
        "fit_id": np.arange(n_fits),
        "structure": np.array([structures[i].name for i in cols["structure_index"]], dtype=object),
        "rotation_index": cols["rotation_index"],
        "position_index": cols["position_index"],
        "score": cols["score"],
        **{k: cols[k] for k in METRICS},
        "cluster_rank": cluster_rank,
    }
    for j, c in enumerate(TRANSFORM_COLUMNS):
        fits[c] = flat_all[:, j]

    timings["total"] = time.perf_counter() - t_start
    infos = tuple(
        StructureInfo(
            name=s.name,
            source=str(s.source) if s.source else None,
            n_atoms=len(s),
            n_residues=s.n_residues,
            centre_xyz=tuple(float(v) for v in s.centre_xyz),
            chains=s.chains,
        )
        for s in structures
    )
    info = {
        "difffit_version": __version__,
        "device": str(dev),
        "threads": n_threads,
        "map": {
            "shape_zyx": list(raw.shape_zyx),
            "voxel_size_xyz": raw.voxel_size_xyz.tolist(),
            "origin_xyz": raw.origin_xyz.tolist(),
            **raw.stats(),
        },
        "preparation": prepared.summary(),
        "resolution_rule": "given" if config.quality.resolution else "2 x largest voxel size",
        "n_placements": n_fits,
        "samples": n_samples,
        "samples_per_second": n_samples / max(timings["search"], 1e-9),
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
    }
    log.debug("fit finished in %.2f s", timings["total"])
    if not math.isfinite(float(np.nanmax(cols["score"]))):
        raise FitError("the search produced no finite score (map or structure degenerate)")
    return FitResult(
        clusters=clusters,
        fits=fits,
        structures=infos,
        level=prepared.level,
        resolution=float(resolution),
        seed=seed,
        config=config,
        info=info,
    )
