"""The stages of a fit, each a function from named inputs to a named output.

:func:`difffit.fit` composes them (:mod:`difffit.search`)::

    prepare_search_map                    -> SearchMap          the map, once
    for each structure (fewest atoms first):
        prepare_structure                 -> StructureTargets   atoms and simulated probe
        make_pool                         -> Starts             candidate starts
        optimise                          -> Placements         the search's best poses
        score_placements                  -> Fits               their quality metrics
    Fits.concatenate                      -> Fits               all structures, fit_id order
    for each structure:
        cluster_fits                      -> StructureClusters  leader clustering, exact metrics
        refine_clusters                   -> ClusterRows        best clusters refined, merged
    rank_clusters                         -> Ranking            one table, best first

Frames and units: poses act on a structure's heavy atoms centred on their mean
(:attr:`StructureTargets.centre_xyz`): ``x_map = R(q) (x - centre) + t``, with ``q`` a
quaternion (w, x, y, z) and ``t`` (Å) where the structure's centre lands in the map. Input-frame
transforms (12 numbers r11…r33, t1…t3) map the structure file's coordinates to the map:
``x_map = R x + t``. Order (``sort_by``) is decided by :mod:`difffit.ranking` only.

Pure compute: no files, no I/O modules, no result objects (those are assembled by
:mod:`difffit.search`). Every output is a frozen dataclass whose arrays a later stage reads but
never changes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from difffit.clustering import cluster_poses
from difffit.config import ClusterConfig, FitConfig, RefineConfig, SearchConfig
from difffit.density.map import DensityMap
from difffit.density.prepare import PreparedMap, prepare_map
from difffit.errors import FitError
from difffit.fitting.optimise import Phase, VolumeSampler, optimise_placements
from difffit.fitting.quality import METRICS, SimulatedProbe, default_resolution, quality_metrics
from difffit.fitting.refine import refine_poses, refinement_map
from difffit.fitting.starts import make_starts
from difffit.geometry import matrix_to_quat, quat_to_matrix
from difffit.ranking import rank_order, sort_key
from difffit.structure import ATOM_VOLUME, Structure

log = logging.getLogger(__name__)

#: A map whose voxel values are skewed below this is taken as of inverted contrast (protein
#: dark). The maps of ``../shared/data`` that have a structure to fit have skew 2.3 .. 40 and
#: the I/O test maps 0.88 (EMD-3001) and -0.03 (EMD-3197, 20³ voxels of 11.4 Å, almost all
#: density); the same maps negated have skew -0.88 .. -40.
INVERTED_SKEW = -0.5
#: A footprint larger than this fraction of the box is warned about (the level is too low,
#: the contrast inverted, or the box has no solvent). The fitting maps of ``../shared/data``
#: have 0.1 .. 15 %; EMD-3001 31 %; EMD-3197 (a reader test only) 52 %.
FOOTPRINT_FRACTION = 0.5
#: Atoms closer than this (Å) to their plane make a flat structure (a warning).
FLAT_THICKNESS = 0.5
#: A search of more atom-steps (placements x atoms x steps, summed over the phases) than this
#: is warned about: at the order of 1e8-1e9 atom-steps per second per CPU core, hours.
MAX_ATOM_STEPS = 1e12
#: A search whose largest arrays (placements x atoms x 3 coordinates, float32, with their
#: gradients and the sampled values: 4 such arrays) need more bytes than this is warned about.
MAX_SEARCH_BYTES = 16 * 2**30
#: Atom-steps per second of the search on 2 CPU cores (measured: the DomainFit demo's
#: I7M317_D1 into density2, default search 7.4e7 atom-steps in 2.0 s, --positions 40 2.95e8
#: in 7.2 s; torch 2.13 CPU). The estimate printed before a search divides by it.
CPU_ATOM_STEPS_PER_S = 4e7
#: Bytes per start of the pool: quaternion and centre (7 float64), twice (drawn and moved).
#: The issue's --positions 100000 run (1e8 starts) peaked at 13.5 GB; this gives 11.2 GiB.
POOL_BYTES_PER_START = 2 * 7 * 8
#: A search estimated at more than this on a CPU (s) is warned about ...
WARN_SEARCH_S = 600.0
#: ... or whose arrays need more than this many bytes.
WARN_SEARCH_BYTES = 4 * 2**30
#: A search estimated at more than this (s) is announced (logged) before it starts.
ESTIMATE_LOG_S = 30.0

__all__ = [
    "POSITIONS_PER_VOLUME",
    "PROBE_POINTS_ALL_FITS",
    "SCREEN_ATOMS",
    "ClusterRows",
    "Fits",
    "Placements",
    "Ranking",
    "SearchMap",
    "Starts",
    "StructureClusters",
    "StructureTargets",
    "check_fits_in_box",
    "cluster_fits",
    "input_frame",
    "make_pool",
    "optimise",
    "pool_shape",
    "prepare_search_map",
    "prepare_structure",
    "rank_clusters",
    "refine_clusters",
    "refine_placements",
    "score_placements",
    "structure_order",
]

#: Envelope points of the simulated map used to score every placement (cluster leaders: all).
PROBE_POINTS_ALL_FITS = 4000

#: The screening of candidate starts samples at most this many CA/P atoms, evenly along the chains.
SCREEN_ATOMS = 150

#: Start positions per structure volume of density footprint in the pool of candidate starts.
POSITIONS_PER_VOLUME = 4.0

Metrics = Mapping[str, np.ndarray]


def input_frame(centre_xyz: np.ndarray, rot: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Input-frame transforms (p, 12) r11…t3 of poses ``rot`` (p, 3, 3), ``shift`` (p, 3) Å
    acting on coordinates centred on ``centre_xyz`` (3,): ``x' = R (x - c) + t``."""
    t_in = shift - np.einsum("pij,j->pi", rot, centre_xyz)
    return np.concatenate([rot.reshape(-1, 9), t_in], axis=1)


def _evenly(n: int, k: int) -> np.ndarray:
    """Indices of at most ``k`` of ``n`` items, evenly spaced (all when n <= k)."""
    if n <= k:
        return np.arange(n)
    return np.linspace(0, n - 1, k).round().astype(np.int64)


# ------------------------------------------------------------------ 1. map preparation
@dataclass(frozen=True, eq=False)
class SearchMap:
    """The map in every form the later stages sample.

    Attributes
    ----------
    prepared : PreparedMap
        Level, footprint and the search target (:func:`difffit.density.prepare.prepare_map`).
    sampler : VolumeSampler
        The search target on the compute device; ``outside`` = the preparation's negative value.
    refine_map : DensityMap
        The map as read, smoothed by ``config.refine.smooth_sigma`` Å: what refinement samples.
    footprint_xyz : (m, 3) float64 array, Å
        Centres of the footprint voxels: where starts are drawn.
    resolution : float
        Å, of the maps simulated from the structures (given, or :func:`default_resolution`).
    voxel : float
        Å, grid spacing of the simulated maps (the map's smallest voxel edge).
    """

    prepared: PreparedMap
    sampler: VolumeSampler
    refine_map: DensityMap
    footprint_xyz: np.ndarray
    resolution: float
    voxel: float

    @property
    def source(self) -> DensityMap:
        """The map as read: metrics are measured in it."""
        return self.prepared.source

    @property
    def background(self) -> float:
        """The map's background: metrics are relative to it (``PreparedMap.background``)."""
        return self.prepared.background

    @property
    def level(self) -> float:
        """Contour level (map units)."""
        return self.prepared.level

    @property
    def device(self) -> str:
        return self.sampler.device


def map_skew(density: DensityMap) -> float:
    """The skewness of the voxel values (of at most 2²¹ voxels, evenly strided)."""
    d = density.data.ravel()
    d = d[:: max(1, -(-d.size // (1 << 21)))].astype(np.float64)
    sd = float(d.std())
    return float(((d - d.mean()) ** 3).mean() / sd**3) if sd > 0 else 0.0


def map_warnings(prepared: PreparedMap, resolution: float) -> list[str]:
    """What looks wrong with a map before the search (each line says what to do); also logged
    as warnings (logger ``difffit.fitting.pipeline``)."""
    out = []
    raw = prepared.source
    skew = map_skew(raw)
    if skew < INVERTED_SKEW:
        out.append(
            f"the map's voxel values are skewed towards low values (skew {skew:.2f}): its contrast "
            "looks inverted (protein dark); negate the map if so (cryo-EM maps have positive skew)"
        )
    frac = float(prepared.footprint.mean())
    if frac > FOOTPRINT_FRACTION:
        out.append(
            f"the density at level {prepared.level:.4g} covers {100 * frac:.0f} % of the map box: "
            "the level is too low, the contrast inverted or the box has no solvent; give a "
            "higher --level"
        )
    nyquist = 2.0 * float(raw.voxel_size_xyz.max())
    if resolution < nyquist - 1e-3:  # default_resolution rounds to 0.001 Å
        out.append(
            f"--resolution {resolution:g} Å is finer than the voxel size allows (2 x "
            f"{nyquist / 2:.3g} Å = {nyquist:.3g} Å); give --resolution {nyquist:.3g} or coarser"
        )
    for w in out:
        log.warning("%s", w)
    return out


def search_cost(n_starts: int, phases: Sequence[Phase]) -> tuple[float, float]:
    """(atom-steps, peak bytes) of a search: placements x atoms x steps summed over the phases,
    and its largest arrays (see :data:`MAX_SEARCH_BYTES`)."""
    n, atom_steps, peak = n_starts, 0.0, 0.0
    for ph in phases:  # a phase keeps the best n_keep placements of the one before
        n = min(n, ph.n_keep) if ph.n_keep else n
        if ph.n_steps > 0:
            atom_steps += float(n) * len(ph.xyz) * ph.n_steps
            peak = max(peak, 4.0 * 3 * 4 * float(n) * len(ph.xyz))
    return atom_steps, peak


def search_cost_warnings(
    name: str, n_starts: int, phases: Sequence[Phase], *, device: str = "cpu"
) -> list[str]:
    """Estimate a search's time and memory before it starts: logged when it is long
    (:data:`ESTIMATE_LOG_S`), warned about (and returned) when it would take long on a CPU
    (:data:`WARN_SEARCH_S`), far too long (:data:`MAX_ATOM_STEPS`) or need much memory
    (:data:`WARN_SEARCH_BYTES`, :data:`MAX_SEARCH_BYTES`)."""
    atom_steps, peak = search_cost(n_starts, phases)
    est_s = atom_steps / CPU_ATOM_STEPS_PER_S
    on_cpu = not str(device).startswith("cuda")
    pool = POOL_BYTES_PER_START * n_starts
    line = (f"{name}: search of {n_starts:,} starts, {atom_steps:.2g} atom-steps, start pool "
            f"about {pool / 2**30:.1f} GiB" + (f", about {_duration(est_s)} on 2 CPU cores"
                                               if on_cpu else ""))  # fmt: skip
    out = []
    if atom_steps > MAX_ATOM_STEPS:
        out.append(
            f"{name}: the search is {atom_steps:.2g} atom-steps (placements x atoms x steps), "
            "hours on a CPU; use fewer --rotations / --positions / --steps, --selection ca, or a GPU"
        )
    elif on_cpu and est_s > WARN_SEARCH_S:
        out.append(f"{line}: a long run; fewer --rotations / --positions, --selection ca or a "
                   "GPU make it shorter")  # fmt: skip
    if peak > MAX_SEARCH_BYTES:
        out.append(
            f"{name}: the search's arrays need about {peak / 2**30:.0f} GiB; use fewer "
            "--rotations / --positions or --oversample, or --selection ca"
        )
    elif pool > WARN_SEARCH_BYTES and not out:
        out.append(f"{line}: check that this machine has the memory")
    if not out and (est_s > ESTIMATE_LOG_S or not on_cpu):
        log.info("%s", line)
    else:
        log.debug("%s", line)
    for w in out:
        log.warning("%s", w)
    return out


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def check_structure_shape(structure: Structure) -> None:
    """Refuse a structure with fewer than 3 atoms or all atoms within 1 Å of a point (no
    orientation to search); warn about a flat one (its mirror poses tie)."""
    n = len(structure)
    if n < 3:
        raise FitError(
            f"{structure.name}: {n} heavy atom{'s' if n != 1 else ''}; at least 3 are needed to "
            "fit an orientation (check the file or the --chains selection)"
        )
    xyz = structure.coords_xyz - structure.centre_xyz
    spread = float(np.sqrt((xyz**2).sum(axis=1)).max())
    if spread < 1.0:
        raise FitError(
            f"{structure.name}: all {n} atoms lie within {spread:.2f} Å of one point; the "
            "coordinates look collapsed (check the file)"
        )
    thickness = float(np.linalg.svd(xyz, compute_uv=False)[-1] / math.sqrt(n))
    if thickness < FLAT_THICKNESS:
        log.warning(
            "%s: the atoms lie in a plane (rms distance %.2f Å from it): poses and their mirror "
            "images through the plane fit alike; check the structure file",
            structure.name, thickness,
        )  # fmt: skip


def prepare_search_map(
    density: DensityMap | PreparedMap, config: FitConfig, *, device: str = "cpu"
) -> SearchMap:
    """Stage 1: prepare ``density`` with ``config.prep`` (unless prepared already) and derive
    the search sampler on ``device``, the refinement map and the footprint points.

    A map prepared here is checked first (:func:`map_warnings`, logged); a
    :class:`PreparedMap` (the screen prepares once for every candidate) is not checked again."""
    prepared = density if isinstance(density, PreparedMap) else prepare_map(density, config.prep)
    raw = prepared.source
    resolution = config.quality.resolution or default_resolution(raw)
    if not isinstance(density, PreparedMap):
        map_warnings(prepared, resolution)
    return SearchMap(
        prepared=prepared,
        sampler=VolumeSampler.from_map(
            prepared.target, outside=prepared.config.negative_value, device=device
        ),
        # relative to the background: beyond the box refinement sees the background, and an
        # offset map scales the step sizes as the map itself (refine_poses scales by max |v|)
        refine_map=refinement_map(
            raw if prepared.background == 0.0 else raw.with_data(raw.data - prepared.background),
            config.refine.smooth_sigma,
        ),
        footprint_xyz=raw.voxel_centres_xyz(prepared.footprint),
        resolution=resolution,
        voxel=float(raw.voxel_size_xyz.min()),
    )


# ---------------------------------------------------------------- 2. structure and starts
def structure_order(structures: Sequence[Structure]) -> list[int]:
    """Indices of ``structures`` in the order they are searched: fewest atoms first (stable)."""
    return sorted(range(len(structures)), key=lambda i: len(structures[i]))


def check_fits_in_box(structure: Structure, density: DensityMap) -> None:
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
class StructureTargets:
    """A structure's atoms as the stages sample them, centred on their mean (Å).

    Attributes
    ----------
    structure : Structure
    index : int
        Its position in the list given to :func:`difffit.fit`.
    centre_xyz : (3,) float64 array, Å
        Mean of the heavy atoms in the input frame (the origin of the centred frame).
    search_xyz : (n_sel, 3) array, Å
        The atoms of ``config.search.selection``: the final search phase.
    coarse_xyz : (n_coarse, 3) array, Å
        Their CA/P atoms (the whole selection when fewer than 8): the coarse phase.
    screen_xyz : (<= SCREEN_ATOMS, 3) array, Å
        At most :data:`SCREEN_ATOMS` of ``coarse_xyz``, evenly along the chains: the screening.
    all_xyz : (n, 3) array, Å
        Every heavy atom: metrics and refinement.
    probe : SimulatedProbe
        Envelope points of the map simulated from ``all_xyz`` (correlation metrics).
    """

    structure: Structure
    index: int
    centre_xyz: np.ndarray
    search_xyz: np.ndarray
    coarse_xyz: np.ndarray
    screen_xyz: np.ndarray
    all_xyz: np.ndarray
    probe: SimulatedProbe


def prepare_structure(
    structure: Structure, index: int, search_map: SearchMap, config: FitConfig
) -> StructureTargets:
    """Stage 2a: check that ``structure`` fits in the map box, centre its atoms, select the
    atoms of each search phase (``config.search.selection``) and simulate its probe
    (``config.quality.envelope``, at ``search_map.resolution``)."""
    check_structure_shape(structure)
    check_fits_in_box(structure, search_map.source)
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
        resolution=search_map.resolution,
        voxel_size=search_map.voxel,
        envelope=config.quality.envelope,
    )
    coarse_xyz = all_xyz[coarse]
    screen_xyz = coarse_xyz[_evenly(len(coarse_xyz), SCREEN_ATOMS)]
    return StructureTargets(
        structure, index, centre, all_xyz[sel], coarse_xyz, screen_xyz, all_xyz, probe
    )


def pool_shape(
    search: SearchConfig, footprint_volume: float, structure_volume: float
) -> tuple[int, int]:
    """Rotations × positions of the pool of candidate starts.

    The pool holds ``oversample × n_placements`` starts. With ``oversample = 1`` it is the
    placements themselves (``n_rotations × n_positions``). Otherwise, when the density footprint
    is much larger than the structure (a subunit in a big complex), the pool spreads more
    positions — about ``POSITIONS_PER_VOLUME`` per structure volume of footprint, between
    ``n_positions`` and ``oversample × n_positions`` — and fewer rotations per position, so
    that every part of the density gets starts nearby. Volumes in Å³.
    """
    if search.oversample <= 1:
        return search.n_rotations, search.n_positions
    want = int(math.ceil(POSITIONS_PER_VOLUME * footprint_volume / max(structure_volume, 1.0)))
    n_pos = int(min(max(search.n_positions, want), search.oversample * search.n_positions))
    n_rot = int(math.ceil(search.n_starts / n_pos))
    return n_rot, n_pos


@dataclass(frozen=True, eq=False)
class Starts:
    """The pool of candidate starts of one structure.

    Attributes
    ----------
    quat_wxyz : (n, 4) float64 array
    centre_xyz : (n, 3) float64 array, Å
        Where the structure's centre starts (footprint voxel centres).
    n_rotations, n_positions : int
        ``n = n_rotations × n_positions``; start ``p`` uses rotation ``p // n_positions`` and
        position ``p % n_positions``.
    """

    quat_wxyz: np.ndarray
    centre_xyz: np.ndarray
    n_rotations: int
    n_positions: int


def make_pool(
    targets: StructureTargets,
    search_map: SearchMap,
    search: SearchConfig,
    rng: np.random.Generator,
) -> Starts:
    """Stage 2b: the candidate starts of a structure (:func:`pool_shape`,
    :func:`~difffit.fitting.starts.make_starts`), drawn from ``rng``."""
    n_rot, n_pos = pool_shape(
        search, search_map.prepared.footprint_volume, ATOM_VOLUME * len(targets.structure)
    )
    # the estimate comes before the pool: drawing 1e8 starts alone takes minutes
    search_cost_warnings(targets.structure.name, n_rot * n_pos, search_phases(targets, search),
                         device=search_map.device)  # fmt: skip
    q0, c0 = make_starts(search_map.footprint_xyz, n_rotations=n_rot, n_positions=n_pos, rng=rng)
    return Starts(q0, c0, n_rot, n_pos)


# ------------------------------------------------------------------------ 3. optimisation
@dataclass(frozen=True, eq=False)
class Placements:
    """The search's best poses of one structure: the starts that survived the screening.

    Attributes
    ----------
    structure_index : int
    start_index : (n,) int64 array
        Index of each placement's start in :class:`Starts`, increasing.
    rotation_index, position_index : (n,) int64 arrays
        Its start's rotation and position (see :class:`Starts`).
    quat_wxyz : (n, 4) float64 array
    centre_xyz : (n, 3) float64 array, Å
    score : (n,) float64 array
        Best search score (mean prepared-map value at the final phase's atoms).
    n_evaluations : int
        Placement × atom samples taken by the search.
    """

    structure_index: int
    start_index: np.ndarray
    rotation_index: np.ndarray
    position_index: np.ndarray
    quat_wxyz: np.ndarray
    centre_xyz: np.ndarray
    score: np.ndarray
    n_evaluations: int


def search_phases(targets: StructureTargets, search: SearchConfig) -> list[Phase]:
    """The three phases of :func:`optimise` (atoms, steps, placements kept)."""
    n_steps = search.n_steps
    n_coarse = int(round(search.coarse_fraction * n_steps))
    n_pl = search.n_placements
    n_fine = max(1, int(math.ceil(search.keep_fraction * n_pl)))
    return [
        Phase(targets.screen_xyz, search.screen_steps if search.oversample > 1 else 0),
        Phase(targets.coarse_xyz, n_coarse, n_keep=n_pl),
        Phase(targets.search_xyz, n_steps - n_coarse, n_keep=n_fine),
    ]


def optimise(
    search_map: SearchMap,
    targets: StructureTargets,
    starts: Starts,
    search: SearchConfig,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> Placements:
    """Stage 3: the batched search from ``starts`` in three phases — screening of the pool with
    ``screen_xyz`` (when ``oversample > 1``), then the best ``n_placements`` with ``coarse_xyz``,
    then the best ``keep_fraction`` of them with ``search_xyz``.
    ``progress(done, total)`` counts placement-steps."""
    phases = search_phases(targets, search)
    res = optimise_placements(
        search_map.sampler,
        phases,
        starts.quat_wxyz,
        starts.centre_xyz,
        lr_shift=search.lr_shift,
        lr_rotation=search.lr_rotation,
        progress=progress,
    )
    # the placements: the starts that survived the screening, in start order
    kept = np.flatnonzero(res.last_phase >= 1)
    if len(kept) == 0:
        kept = np.arange(len(starts.quat_wxyz))
    return Placements(
        structure_index=targets.index,
        start_index=kept,
        rotation_index=kept // starts.n_positions,
        position_index=kept % starts.n_positions,
        quat_wxyz=res.quat_wxyz[kept],
        centre_xyz=res.shift[kept],
        score=res.score[kept],
        n_evaluations=res.n_evaluations,
    )


# ------------------------------------------------------------------------------ 4. scoring
@dataclass(frozen=True, eq=False)
class Fits:
    """Placements with their quality metrics; row ``i`` is fit ``i`` (the ``fit_id``).

    Attributes
    ----------
    structure_index, rotation_index, position_index : (n,) int64 arrays
    quat_wxyz : (n, 4) float64 array
    centre_xyz : (n, 3) float64 array, Å
    score : (n,) float64 array
        Search score (see :class:`Placements`).
    metrics : mapping of name -> (n,) float64 array
        :data:`~difffit.fitting.quality.METRICS`, measured with at most
        :data:`PROBE_POINTS_ALL_FITS` probe points (for ranking; leaders get exact figures).
    """

    structure_index: np.ndarray
    rotation_index: np.ndarray
    position_index: np.ndarray
    quat_wxyz: np.ndarray
    centre_xyz: np.ndarray
    score: np.ndarray
    metrics: Metrics

    def __len__(self) -> int:
        return len(self.score)

    @classmethod
    def concatenate(cls, parts: Sequence[Fits]) -> Fits:
        """The rows of ``parts``, one after the other."""

        def cat(name: str) -> np.ndarray:
            return np.concatenate([getattr(p, name) for p in parts])

        return cls(
            structure_index=cat("structure_index"),
            rotation_index=cat("rotation_index"),
            position_index=cat("position_index"),
            quat_wxyz=cat("quat_wxyz"),
            centre_xyz=cat("centre_xyz"),
            score=cat("score"),
            metrics={k: np.concatenate([p.metrics[k] for p in parts]) for k in METRICS},
        )


def score_placements(
    search_map: SearchMap, targets: StructureTargets, placements: Placements
) -> Fits:
    """Stage 4: the quality metrics of every placement in the map as read, on a subsample of
    the probe (:data:`PROBE_POINTS_ALL_FITS` points; enough to rank, cheap for thousands)."""
    probe = targets.probe.subsample(PROBE_POINTS_ALL_FITS)
    rot = quat_to_matrix(placements.quat_wxyz)
    m = quality_metrics(
        search_map.source, search_map.level, targets.all_xyz, probe, rot, placements.centre_xyz,
        background=search_map.background,
    )  # fmt: skip
    return Fits(
        structure_index=np.full(len(placements.score), placements.structure_index),
        rotation_index=placements.rotation_index,
        position_index=placements.position_index,
        quat_wxyz=placements.quat_wxyz,
        centre_xyz=placements.centre_xyz,
        score=placements.score,
        metrics={k: m[k] for k in METRICS},
    )


# --------------------------------------------------------------------------- 5. clustering
@dataclass(frozen=True, eq=False)
class StructureClusters:
    """The clusters of one structure's fits, numbered in visiting order (best leader first).

    Attributes
    ----------
    structure_index : int
    leaders : (c,) int64 array
        Fit id of each cluster's leader (its best fit by ``sort_by``).
    members : tuple of c (k_j,) int64 arrays
        Fit ids of each cluster's fits, increasing.
    sizes : (c,) int64 array
        Fits per cluster.
    quat_wxyz : (c, 4) float64 array
    centre_xyz : (c, 3) float64 array, Å
        The leaders' poses.
    score : (c,) float64 array
        The leaders' search scores.
    metrics : mapping of name -> (c,) float64 array
        The leaders' metrics with the whole probe (exact).
    """

    structure_index: int
    leaders: np.ndarray
    members: tuple[np.ndarray, ...]
    sizes: np.ndarray
    quat_wxyz: np.ndarray
    centre_xyz: np.ndarray
    score: np.ndarray
    metrics: Metrics

    def __len__(self) -> int:
        return len(self.leaders)


def cluster_fits(
    search_map: SearchMap, targets: StructureTargets, fits: Fits, cluster: ClusterConfig
) -> StructureClusters:
    """Stage 5: leader clustering (:func:`~difffit.clustering.cluster_poses`) of the fits of
    ``targets``' structure, visited best first by ``cluster.sort_by``; the leaders' exact
    metrics. With ``cluster.max_clusters``, only the first that many clusters are kept (and
    measured)."""
    idx = np.flatnonzero(fits.structure_index == targets.index)
    metrics = {k: v[idx] for k, v in fits.metrics.items()}
    key = sort_key(cluster.sort_by, score=fits.score[idx], metrics=metrics)
    cl = cluster_poses(
        fits.quat_wxyz, fits.centre_xyz, idx[rank_order(key)],
        shift_tolerance=cluster.shift_tolerance,
        angle_tolerance_deg=cluster.angle_tolerance_deg,
    )  # fmt: skip
    n_kept = len(cl.leaders) if cluster.max_clusters == 0 else cluster.max_clusters
    leaders, sizes = cl.leaders[:n_kept], cl.sizes[:n_kept]
    members = tuple(idx[cl.labels[idx] == c] for c in range(len(leaders)))
    q = fits.quat_wxyz[leaders].copy()
    t = fits.centre_xyz[leaders].copy()
    exact = quality_metrics(
        search_map.source, search_map.level, targets.all_xyz, targets.probe, quat_to_matrix(q), t,
        background=search_map.background,
    )  # fmt: skip
    return StructureClusters(
        structure_index=targets.index,
        leaders=leaders,
        members=members,
        sizes=sizes,
        quat_wxyz=q,
        centre_xyz=t,
        score=fits.score[leaders],
        metrics={k: exact[k] for k in METRICS},
    )


# --------------------------------------------------------------------------- 6. refinement
@dataclass(frozen=True, eq=False)
class ClusterRows:
    """Final clusters, one row each (``h`` rows).

    Attributes
    ----------
    structure_index : (h,) int64 array
    fit_id : (h,) int64 array
        The representative's leader fit.
    hits : (h,) int64 array
        Fits in the cluster (merged clusters add up).
    members : tuple of h (hits_i,) int64 arrays
        Their fit ids.
    score : (h,) float64 array
        Search score of ``fit_id``.
    metrics : mapping of name -> (h,) float64 array
        Exact metrics of the representative pose (after refinement when refined).
    transform : (h, 12) float64 array
        The representative pose in the input frame, r11…r33, t1…t3 (x' = R x + t, Å).
    refined : (h,) bool array
    refine_shift : (h,) float64 array, Å
        How far refinement moved the structure's centre (0 when not refined).
    """

    structure_index: np.ndarray
    fit_id: np.ndarray
    hits: np.ndarray
    members: tuple[np.ndarray, ...]
    score: np.ndarray
    metrics: Metrics
    transform: np.ndarray
    refined: np.ndarray
    refine_shift: np.ndarray

    def __len__(self) -> int:
        return len(self.fit_id)

    def sort_key(self, sort_by: str) -> np.ndarray:
        """:func:`difffit.ranking.sort_key` of every row, (h,)."""
        return sort_key(sort_by, hits=self.hits, score=self.score, metrics=self.metrics)

    def take(self, rows: np.ndarray) -> ClusterRows:
        """The rows ``rows`` (indices), in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        return ClusterRows(
            structure_index=self.structure_index[rows],
            fit_id=self.fit_id[rows],
            hits=self.hits[rows],
            members=tuple(self.members[i] for i in rows),
            score=self.score[rows],
            metrics={k: v[rows] for k, v in self.metrics.items()},
            transform=self.transform[rows],
            refined=self.refined[rows],
            refine_shift=self.refine_shift[rows],
        )

    @classmethod
    def concatenate(cls, parts: Sequence[ClusterRows]) -> ClusterRows:
        """The rows of ``parts``, one after the other."""

        def cat(name: str) -> np.ndarray:
            return np.concatenate([getattr(p, name) for p in parts])

        return cls(
            structure_index=cat("structure_index"),
            fit_id=cat("fit_id"),
            hits=cat("hits"),
            members=tuple(m for p in parts for m in p.members),
            score=cat("score"),
            metrics={k: np.concatenate([p.metrics[k] for p in parts]) for k in METRICS},
            transform=np.concatenate([p.transform for p in parts]).reshape(-1, 12),
            refined=cat("refined"),
            refine_shift=cat("refine_shift"),
        )


def refine_clusters(
    search_map: SearchMap,
    targets: StructureTargets,
    clusters: StructureClusters,
    *,
    refine: RefineConfig,
    cluster: ClusterConfig,
) -> ClusterRows:
    """Stage 6: refine the best ``refine.n_clusters`` clusters (by ``cluster.sort_by``) in
    ``search_map.refine_map`` and re-measure them; clusters whose refined poses coincide (within
    the clustering tolerances) merge, the better representing them. Rows in the order of the
    merged clusters (best first within the structure)."""
    sort_by = cluster.sort_by
    q, t = clusters.quat_wxyz.copy(), clusters.centre_xyz.copy()
    m = {k: v.copy() for k, v in clusters.metrics.items()}
    n = len(clusters)

    def order() -> np.ndarray:
        return rank_order(sort_key(sort_by, hits=clusters.sizes, score=clusters.score, metrics=m))

    refined = np.zeros(n, dtype=bool)
    moved = np.zeros(n)
    n_ref = min(refine.n_clusters, n)
    if n_ref:
        top = order()[:n_ref]
        rq, rt, _ = refine_poses(
            search_map.refine_map, targets.all_xyz, q[top], t[top], n_steps=refine.n_steps,
            device=search_map.device,
        )  # fmt: skip
        moved[top] = np.linalg.norm(rt - t[top], axis=1)
        q[top], t[top] = rq, rt
        refined[top] = True
        rm = quality_metrics(
            search_map.source, search_map.level, targets.all_xyz, targets.probe,
            quat_to_matrix(rq), rt, background=search_map.background,
        )  # fmt: skip
        for k in METRICS:
            m[k][top] = rm[k]
        merged = cluster_poses(
            q, t, order(),
            shift_tolerance=cluster.shift_tolerance,
            angle_tolerance_deg=cluster.angle_tolerance_deg,
        )  # fmt: skip
        reps = merged.leaders
        groups = [np.flatnonzero(merged.labels == g) for g in range(len(reps))]
    else:
        reps = order()
        groups = [np.array([c]) for c in reps]
    flat = input_frame(targets.centre_xyz, quat_to_matrix(q), t)
    members = tuple(np.concatenate([clusters.members[j] for j in grp]) for grp in groups)
    return ClusterRows(
        structure_index=np.full(len(reps), clusters.structure_index, dtype=np.int64),
        fit_id=clusters.leaders[reps],
        hits=np.array([len(f) for f in members], dtype=np.int64),
        members=members,
        score=clusters.score[reps],
        metrics={k: m[k][reps] for k in METRICS},
        transform=flat[reps],
        refined=refined[reps],
        refine_shift=moved[reps],
    )


def refine_placements(
    search_map: SearchMap,
    targets: StructureTargets,
    transforms: np.ndarray,
    *,
    n_steps: int,
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Stage 6 for given placements (e.g. symmetry mates of a cluster): refine them locally as
    :func:`refine_clusters` refines cluster representatives, and measure them.

    Parameters
    ----------
    transforms : (k, 12) float64 array
        Placements in the input frame, r11…r33, t1…t3 (x' = R x + t, Å).
    n_steps : int
        Refinement steps (0 = measure only).

    Returns
    -------
    transforms : (k, 12) array
        The refined placements.
    metrics : mapping of name -> (k,) array
        Their exact metrics (:data:`~difffit.fitting.quality.METRICS`).
    moved : (k,) array, Å
        How far refinement moved each structure's centre.
    """
    flat = np.asarray(transforms, dtype=np.float64).reshape(-1, 12)
    rot = flat[:, :9].reshape(-1, 3, 3)
    t = np.einsum("pij,j->pi", rot, targets.centre_xyz) + flat[:, 9:]  # placed centres
    q = matrix_to_quat(rot)
    rq, rt = q, t
    if n_steps and len(flat):
        rq, rt, _ = refine_poses(
            search_map.refine_map, targets.all_xyz, q, t, n_steps=n_steps,
            device=search_map.device,
        )  # fmt: skip
    rr = quat_to_matrix(rq)
    m = quality_metrics(
        search_map.source, search_map.level, targets.all_xyz, targets.probe, rr, rt,
        background=search_map.background,
    )  # fmt: skip
    return (
        input_frame(targets.centre_xyz, rr, rt),
        {k: m[k] for k in METRICS},
        np.linalg.norm(rt - t, axis=1),
    )


# ------------------------------------------------------------------------------ 7. ranking
@dataclass(frozen=True, eq=False)
class Ranking:
    """The final clusters of all structures, best first.

    Attributes
    ----------
    clusters : ClusterRows
        Row ``r`` has rank ``r + 1``.
    cluster_rank : (n_fits,) int64 array
        Rank of the cluster of every fit (1 = best).
    """

    clusters: ClusterRows
    cluster_rank: np.ndarray


def rank_clusters(parts: Sequence[ClusterRows], n_fits: int, sort_by: str) -> Ranking:
    """Stage 7: the rows of ``parts`` in one table ordered by ``sort_by`` (ties keep the order
    of ``parts``), and the rank of each of the ``n_fits`` fits' cluster."""
    rows = ClusterRows.concatenate(parts)
    ranked = rows.take(rank_order(rows.sort_key(sort_by)))
    cluster_rank = np.zeros(n_fits, dtype=np.int64)
    for r, fit_ids in enumerate(ranked.members):
        cluster_rank[fit_ids] = r + 1
    return Ranking(ranked, cluster_rank)
