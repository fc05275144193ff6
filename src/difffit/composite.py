"""Scenario 2: composite many structures and copies into one map.

Round after round (:func:`composite`): fit every structure that still has copies to place into
the working map (one :func:`difffit.fit` run for all of them), accept the convincing fits that
do not clash with the subunits placed already, zero the density they explain
(:mod:`difffit.density.zero`), and fit the rest into what remains — until every structure has its
number of copies, or nothing convincing is left.

**Confidence bar.** A candidate (a cluster of the round's fit) is accepted when

* ``cam >= min_cam`` — cam is the correlation about the mean between the map and the
  structure's simulated density over the structure's envelope (Pearson's r, in [-1, 1]);
* and, for a further copy of a structure already placed, ``cam >= relative_cam × cam₁``, with
  ``cam₁`` the cam of that structure's first accepted copy (copies of one subunit explain their
  density about equally well; a candidate that explains it much worse than the first copy did is
  not a copy, but a fit into left-over density or into another subunit);
* and it does not clash: fewer than ``max_clash_fraction`` of its heavy atoms lie within
  ``clash_distance`` Å of a heavy atom of a placed subunit (:func:`clash_counts`).

A candidate that passes, but with a cam under ``defer_fraction`` × the best cam accepted in the
round, is deferred to the next round: it is fitted again into the map cleared of the surer
placements, where it competes with less density that is not its own.

The contour level and the resolution are fixed in the first round and kept, so the scores of
all rounds are on one scale. ``docs/composite.md`` shows the numbers on the real maps.

This module is pure compute: it reads and writes no files (the round-by-round outputs and the
resume logic live in :mod:`difffit.io.composite` and the CLI).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import string
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from difffit.config import FitConfig
from difffit.density.map import DensityMap
from difffit.density.prepare import auto_level, remove_islands
from difffit.density.simulate import SIGMA_FACTOR, simulate_on_grid
from difffit.density.zero import DEFAULT_RULE, RULES, ZeroResult, peak_value, zero_density
from difffit.errors import ConfigError
from difffit.fitting.quality import default_resolution
from difffit.geometry import RigidTransform
from difffit.progress import Progress
from difffit.results import ClusterHit, FitResult
from difffit.search import fit
from difffit.seeding import make_seed
from difffit.structure import Structure

log = logging.getLogger(__name__)

__all__ = [
    "MATCH_FACTORS",
    "Candidate",
    "CompositeConfig",
    "CompositeResult",
    "CompositeState",
    "Placement",
    "RoundResult",
    "accept_candidates",
    "assembly_chain_ids",
    "clash_counts",
    "composite",
    "evaluate_candidates",
    "fit_round",
    "matched_resolution",
    "simulate_placed",
    "zero_fit",
    "zero_placements",
]

#: Multiples of the given resolution tried by :func:`matched_resolution`.
MATCH_FACTORS = (1.0, 1.25, 1.5, 1.75, 2.0, 2.5)


def _check_resolution(resolution: float) -> float:
    if (
        not isinstance(resolution, (int, float, np.floating))
        or isinstance(resolution, bool)
        or not np.isfinite(resolution)
        or resolution <= 0
    ):
        raise ConfigError(f"resolution must be a positive number of Å, got {resolution!r}")
    return float(resolution)


def simulate_placed(
    density: DensityMap,
    placed: Sequence[tuple[Structure, RigidTransform]],
    *,
    resolution: float,
) -> DensityMap:
    """Density simulated from structures at their poses, on the grid of ``density``.

    Parameters
    ----------
    density : DensityMap
        Gives the grid.
    placed : sequence of (Structure, RigidTransform)
        Each structure's input coordinates are moved by its transform (x' = R x + t).
    resolution : float, Å

    Returns
    -------
    DensityMap
        Normalised to a maximum of 1 (0 everywhere when no atom is near the box).
    """
    resolution = _check_resolution(resolution)
    if not placed:
        raise ConfigError("nothing placed: give at least one (structure, transform)")
    xyz, weights = _placed_atoms(placed)
    return simulate_on_grid(xyz, weights, resolution, density)


def _placed_atoms(
    placed: Sequence[tuple[Structure, RigidTransform]],
) -> tuple[np.ndarray, np.ndarray]:
    xyz = np.concatenate([tr.apply(st.coords_xyz) for st, tr in placed])
    weights = np.concatenate([st.atomic_numbers.astype(np.float64) for st, _ in placed])
    return xyz, weights


def _crop_around(density: DensityMap, xyz: np.ndarray, pad: float) -> DensityMap | None:
    """The part of ``density`` within ``pad`` Å of the atoms' bounding box (None if outside)."""
    ijk = density.world_to_grid(xyz)
    vs = density.voxel_size_xyz
    lo = np.maximum(np.floor(ijk.min(axis=0) - pad / vs).astype(int), 0)
    hi = np.minimum(
        np.ceil(ijk.max(axis=0) + pad / vs).astype(int), np.array(density.shape_xyz) - 1
    )
    if np.any(hi - lo < 1):
        return None
    data = density.data[lo[2] : hi[2] + 1, lo[1] : hi[1] + 1, lo[0] : hi[0] + 1]
    return DensityMap(data, vs, density.grid_to_world(lo))


def matched_resolution(
    density: DensityMap,
    placed: Sequence[tuple[Structure, RigidTransform]],
    *,
    resolution: float,
    factors: Sequence[float] = MATCH_FACTORS,
) -> float:
    """The resolution at which the placed structures' simulated density best matches the map.

    Maps are often blurrier than their nominal resolution (B-factors, flexible surface). Of
    ``resolution × factors``, the one whose simulated map has the highest Pearson correlation
    with the map over the structure's envelope at the given resolution (simulated values >=
    0.1 of the peak, i.e. close to the placed atoms, where neighbours contribute little) is
    returned, so that the zeroing rules compare map values with a prediction of the same
    blur.

    Returns
    -------
    float, Å
        ``resolution`` itself when the structures are outside the map or nothing correlates.
    """
    resolution = _check_resolution(resolution)
    xyz, weights = _placed_atoms(placed)
    pad = 3.0 * SIGMA_FACTOR * resolution * max(factors) + 2.0 * float(density.voxel_size_xyz.max())
    box = _crop_around(density, xyz, pad)
    if box is None:
        return resolution
    base = simulate_on_grid(xyz, weights, resolution, box).data
    ref = peak_value(base)
    if ref <= 0:
        return resolution
    region = base >= 0.1 * ref
    if region.sum() < 10:
        return resolution
    m = box.data[region].astype(np.float64)
    if m.std() == 0:
        return resolution
    best, best_r = resolution, -np.inf
    for f in factors:
        res_f = resolution * float(f)
        s = base if f == 1.0 else simulate_on_grid(xyz, weights, res_f, box).data
        sv = s[region].astype(np.float64)
        if sv.std() == 0:
            continue
        r = float(np.corrcoef(sv, m)[0, 1])
        if r > best_r:
            best, best_r = res_f, r
    return float(best)


def zero_placements(
    density: DensityMap,
    placed: Sequence[tuple[Structure, RigidTransform]],
    *,
    resolution: float,
    rule: str = DEFAULT_RULE,
    match_resolution: bool = True,
    **options: float,
) -> ZeroResult:
    """Zero the density explained by several placed structures at once.

    Parameters
    ----------
    density : DensityMap
    placed : sequence of (Structure, RigidTransform)
    resolution : float, Å
    rule : str
        See :data:`difffit.density.zero.RULES`.
    match_resolution : bool
        Simulate at :func:`matched_resolution` (the blur that best matches the map around the
        structures) instead of ``resolution``.
    **options
        Go to :func:`~difffit.density.zero.zero_density` (``envelope``, ``core``,
        ``dominance``, ``erode_voxels``, ``fill``, ``scale``).

    Returns
    -------
    ZeroResult
        ``options`` also records ``resolution`` (given) and ``simulated_resolution`` (used).
    """
    resolution = _check_resolution(resolution)
    if not isinstance(match_resolution, bool):
        raise ConfigError(f"match_resolution must be True or False, got {match_resolution!r}")
    if not placed:
        raise ConfigError("nothing placed: give at least one (structure, transform)")
    sim_res = (
        matched_resolution(density, placed, resolution=resolution)
        if match_resolution
        else resolution
    )
    sim = simulate_placed(density, placed, resolution=sim_res)
    res = zero_density(density, sim, rule=rule, **options)
    opts = {**res.options, "resolution": resolution, "simulated_resolution": sim_res}
    return dataclasses.replace(res, options=opts)


def zero_fit(
    density: DensityMap,
    structure: Structure,
    transform: RigidTransform,
    *,
    resolution: float,
    rule: str = DEFAULT_RULE,
    match_resolution: bool = True,
    **options: float,
) -> ZeroResult:
    """Zero the density explained by one structure placed at ``transform``.

    Simulates the placed structure on the map's grid (at the resolution that best matches the
    map around it, see :func:`matched_resolution`, unless ``match_resolution=False``) and
    applies :func:`~difffit.density.zero.zero_density` with ``rule`` and ``options``. The input map is
    untouched; ``result.map`` is the new map and ``result.removed`` what was taken away.

    Parameters
    ----------
    density : DensityMap
    structure : Structure
        In its input frame.
    transform : RigidTransform
        Input coordinates -> map (``ClusterHit.transform``, or a row of ``clusters.csv``).
    resolution : float, Å
        Resolution of the simulated density (the map's resolution).
    rule : str
        See :data:`difffit.density.zero.RULES`.
    match_resolution : bool
    **options
        As :func:`zero_placements`.

    Example
    -------
    >>> hit = result.best()                                    # doctest: +SKIP
    >>> z = zero_fit(density, chain_a, hit.transform, resolution=3.2)  # doctest: +SKIP
    >>> z.map, z.n_voxels_zeroed, z.removed                    # doctest: +SKIP
    """
    if not isinstance(structure, Structure):
        raise ConfigError("structure must be a difffit Structure")
    if not isinstance(transform, RigidTransform):
        raise ConfigError("transform must be a difffit RigidTransform")
    return zero_placements(
        density, [(structure, transform)], resolution=resolution, rule=rule,
        match_resolution=match_resolution, **options,
    )  # fmt: skip


# ============================================================================ the workflow
@dataclass(frozen=True, kw_only=True)
class CompositeConfig:
    """Options of :func:`composite` (lengths in Å).

    Attributes
    ----------
    fit : FitConfig
        Options of every round's fit. A contour level left automatic is set in the first round
        (Otsu threshold of the original map) and kept; so is the resolution.
    rule : str
        Zeroing rule (:data:`difffit.density.zero.RULES`).
    match_resolution : bool
        Zero with the density simulated at the matched resolution (:func:`matched_resolution`).
    min_cam : float
        Smallest cam (correlation about the mean) of an accepted candidate.
    relative_cam : float
        A further copy of a structure needs ``cam >= relative_cam × cam`` of its first copy.
    clash_distance : float
        Heavy atoms closer than this (Å) to a placed subunit's heavy atoms clash.
    max_clash_fraction : float
        A candidate with more than this fraction of its heavy atoms clashing is rejected.
    defer_fraction : float
        A candidate that passes, but with a cam under this fraction of the best cam accepted in
        its round, waits for the next round (fitted again into the map cleared of the surer
        placements); 0 = accept every candidate that passes.
    max_rounds : int
        Stop after this many rounds.
    max_per_round : int
        Accept at most this many placements per round (0 = every candidate that passes).
    candidates_per_structure : int
        Clusters of each structure examined per round, best first.
    """

    fit: FitConfig = field(default_factory=FitConfig)
    rule: str = DEFAULT_RULE
    match_resolution: bool = True
    min_cam: float = 0.3
    relative_cam: float = 0.6
    clash_distance: float = 2.0
    max_clash_fraction: float = 0.05
    defer_fraction: float = 0.8
    max_rounds: int = 20
    max_per_round: int = 0
    candidates_per_structure: int = 10

    def __post_init__(self) -> None:
        if not isinstance(self.fit, FitConfig):
            raise ConfigError("CompositeConfig.fit must be a FitConfig")
        if self.rule not in RULES:
            raise ConfigError(f"rule must be one of {', '.join(RULES)}, got {self.rule!r}")
        if not isinstance(self.match_resolution, bool):
            raise ConfigError("match_resolution must be True or False")
        for name, lo, hi in (("min_cam", -1.0, 1.0), ("relative_cam", 0.0, 1.0),
                             ("max_clash_fraction", 0.0, 1.0), ("defer_fraction", 0.0, 1.0)):  # fmt: skip
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not (lo <= v <= hi):
                raise ConfigError(f"{name} must be a number in [{lo:g}, {hi:g}], got {v!r}")
        v = self.clash_distance
        if (
            not isinstance(v, (int, float))
            or isinstance(v, bool)
            or not (math.isfinite(v) and v > 0)
        ):
            raise ConfigError(f"clash_distance must be a positive number of Å, got {v!r}")
        for name, lo in (("max_rounds", 1), ("max_per_round", 0), ("candidates_per_structure", 1)):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise ConfigError(f"{name} must be an integer >= {lo}, got {v!r}")

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "fit"}
        d["fit"] = self.fit.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CompositeConfig:
        d = dict(d)
        fit_cfg = FitConfig.from_dict(d.pop("fit", {}))
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"unknown CompositeConfig options: {', '.join(sorted(unknown))}")
        return cls(fit=fit_cfg, **d)


@dataclass(frozen=True)
class Placement:
    """One accepted copy of a structure.

    ``transform`` maps the structure's input coordinates into the map (x' = R x + t, Å), as
    in ``clusters.csv``. ``chains`` are the chain IDs of this copy in the assembly, one per
    chain of the structure (``source_chains``).
    """

    structure: str
    copy: int
    round: int
    rank: int
    hits: int
    correlation: float
    cam: float
    overlap: float
    density: float
    inside: float
    relative_cam: float
    clash_atoms: int
    clash_fraction: float
    transform: RigidTransform
    source_chains: tuple[str, ...]
    chains: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.structure}#{self.copy}"


@dataclass(frozen=True)
class Candidate:
    """A cluster of a round's fit and what the confidence bar and the clash check made of it.

    ``decision`` is ``"accept"``, ``"below bar"``, ``"clash"``, ``"copies placed"`` (the
    structure has all its copies), ``"deferred"`` (passes, but much less sure than the round's
    best: fitted again next round) or ``"round full"`` (``max_per_round`` reached).
    """

    round: int
    hit: ClusterHit
    relative_cam: float
    clash_atoms: int
    clash_fraction: float
    clash_with: str
    decision: str
    reason: str

    @property
    def structure(self) -> str:
        return self.hit.structure

    @property
    def rank(self) -> int:
        return self.hit.rank


@dataclass(frozen=True, eq=False)
class CompositeState:
    """Where a composite run stands after ``rounds_done`` complete rounds.

    Attributes
    ----------
    rounds_done : int
    working : DensityMap
        The map with the density of every placement zeroed.
    placements : tuple of Placement
        In order of acceptance.
    level, resolution : float
        Contour level and resolution (Å), fixed in the first round.
    finished : bool
    stop_reason : str
    """

    rounds_done: int
    working: DensityMap
    placements: tuple[Placement, ...]
    level: float
    resolution: float
    finished: bool = False
    stop_reason: str = ""

    def copies_placed(self, structure: str) -> int:
        return sum(1 for p in self.placements if p.structure == structure)

    def reference_cam(self, structure: str) -> float | None:
        """The cam of the structure's first accepted copy (None before)."""
        for p in self.placements:
            if p.structure == structure:
                return p.cam
        return None


@dataclass(frozen=True, eq=False)
class RoundResult:
    """One round: the fit into the working map, the verdict on each candidate, the zeroing."""

    index: int
    fit: FitResult | None  #: None for a round whose placements were chosen without a fit here
    candidates: tuple[Candidate, ...]
    accepted: tuple[Placement, ...]
    zero: ZeroResult | None
    state: CompositeState
    seconds: float


@dataclass(frozen=True, eq=False)
class CompositeResult:
    """The outcome of :func:`composite`: the final state and the rounds run by this call."""

    state: CompositeState
    rounds: tuple[RoundResult, ...]

    @property
    def placements(self) -> tuple[Placement, ...]:
        return self.state.placements

    @property
    def stop_reason(self) -> str:
        return self.state.stop_reason


CHAIN_ID_ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits


def _chain_id(i: int) -> str:
    k = len(CHAIN_ID_ALPHABET)
    if i < k:
        return CHAIN_ID_ALPHABET[i]
    j = i - k
    return CHAIN_ID_ALPHABET[(j // k) % k] + CHAIN_ID_ALPHABET[j % k]


def assembly_chain_ids(
    source: Sequence[str],
    used: set[str] | Sequence[str] = (),
    *,
    reserved: set[str] | Sequence[str] = (),
) -> list[str]:
    """Chain IDs for a new copy of chains ``source`` that are not in ``used``.

    A source chain keeps its own ID when it is free; otherwise it takes the first ID of A..Z,
    a..z, 0..9, then two characters (AA, AB, ...) that is neither used nor ``reserved`` (the
    source IDs of other structures, kept free for their first copies).
    """
    taken = set(used)
    avoid = taken | set(reserved)
    out = []
    i = 0
    for c in source:
        if c and c not in taken:
            new = c
        else:
            while _chain_id(i) in avoid or _chain_id(i) in taken:
                i += 1
            new = _chain_id(i)
        taken.add(new)
        out.append(new)
    return out


def clash_counts(
    candidate_xyz: np.ndarray,
    placed_xyz: Sequence[np.ndarray],
    *,
    distance: float,
) -> np.ndarray:
    """Atoms of a candidate within ``distance`` Å of each placed subunit's atoms.

    Parameters
    ----------
    candidate_xyz : (n, 3) array, Å
    placed_xyz : sequence of (m_i, 3) arrays, Å
    distance : float, Å

    Returns
    -------
    (len(placed_xyz),) int array
        Number of candidate atoms whose nearest atom of subunit ``i`` is within ``distance``
        (an atom near two subunits counts for both).
    """
    cand = np.asarray(candidate_xyz, dtype=np.float64).reshape(-1, 3)
    out = np.zeros(len(placed_xyz), dtype=np.int64)
    if not len(placed_xyz) or not len(cand):
        return out
    tree = cKDTree(cand)
    lo, hi = cand.min(axis=0) - distance, cand.max(axis=0) + distance
    for i, xyz in enumerate(placed_xyz):
        xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
        near_box = np.all((xyz >= lo) & (xyz <= hi), axis=1)
        if not near_box.any():
            continue
        other = cKDTree(xyz[near_box])
        d, _ = other.query(tree.data, k=1, distance_upper_bound=distance)
        out[i] = int(np.isfinite(d).sum())
    return out


def _check_copies(
    structures: Sequence[Structure], copies: Mapping[str, int | None] | None
) -> dict[str, int | None]:
    names = [s.name for s in structures]
    if len(set(names)) != len(names):
        raise ConfigError(f"structure names must be unique, got {names}")
    copies = dict(copies or {})
    unknown = set(copies) - set(names)
    if unknown:
        raise ConfigError(
            f"copies given for {', '.join(sorted(unknown))}, which is not among the structures "
            f"({', '.join(names)})"
        )
    out: dict[str, int | None] = {}
    for n in names:
        c = copies.get(n)
        if c is not None and (not isinstance(c, (int, np.integer)) or isinstance(c, bool) or c < 0):
            raise ConfigError(f"copies of {n} must be an integer >= 0, got {c!r}")
        out[n] = None if c is None else int(c)
    return out


def _copies_left(state: CompositeState, copies: Mapping[str, int | None], name: str) -> float:
    c = copies[name]
    return math.inf if c is None else c - state.copies_placed(name)


def round_seed(seed: int, round_index: int) -> int:
    """The seed of round ``round_index`` (1-based) of a run seeded with ``seed``."""
    return int(np.random.SeedSequence([seed, round_index]).generate_state(1)[0] % (2**31))


def initial_state(density: DensityMap, config: CompositeConfig) -> CompositeState:
    """Round 0: the original map; the level and resolution every round will use."""
    level = config.fit.prep.level
    if level is None:
        level = auto_level(density)
    resolution = config.fit.quality.resolution or default_resolution(density)
    return CompositeState(0, density, (), float(level), float(resolution))


def _round_config(config: CompositeConfig, state: CompositeState) -> FitConfig:
    f = config.fit
    return f.replace(
        prep=f.prep.replace(level=state.level),
        quality=f.quality.replace(resolution=state.resolution),
    )


def density_left(state: CompositeState, config: CompositeConfig) -> int:
    """Voxels of the working map at or above the level, small islands removed (as the fit sees)."""
    mask = state.working.data >= state.level
    if not mask.any():
        return 0
    kept, _, _ = remove_islands(mask, config.fit.prep.min_island_voxels)
    return int(kept.sum())


def fit_round(
    state: CompositeState,
    structures: Sequence[Structure],
    *,
    config: CompositeConfig,
    seed: int,
    device: str = "auto",
    threads: int | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> FitResult:
    """Fit ``structures`` into the working map of ``state`` (round ``state.rounds_done + 1``)."""
    if not structures:
        raise ConfigError("no structures to fit in this round")
    return fit(
        state.working, list(structures), config=_round_config(config, state), device=device,
        seed=round_seed(seed, state.rounds_done + 1), threads=threads, progress=progress,
    )  # fmt: skip


def evaluate_candidates(
    result: FitResult,
    structures: Sequence[Structure],
    state: CompositeState,
    *,
    copies: Mapping[str, int | None] | None = None,
    config: CompositeConfig | None = None,
) -> tuple[Candidate, ...]:
    """Apply the confidence bar, the clash check and the deferral to a round's clusters.

    Clusters are visited in the table's order (best first). Each accepted candidate counts as
    placed for the ones after it (clashes, copies, the reference cam of its structure). A
    candidate that passes but whose cam is under ``config.defer_fraction`` × the best cam
    accepted in the round is deferred: it is fitted again next round, into the map cleared of
    the surer placements (unless the round would otherwise accept nothing).

    Returns
    -------
    tuple of Candidate
        The first ``config.candidates_per_structure`` clusters of each structure, with the
        decision of each.
    """
    config = config or CompositeConfig()
    copies = _check_copies(structures, copies)
    first = _evaluate(result, structures, state, copies, config, defer_below=-math.inf)
    accepted = [c.hit.cam for c in first if c.decision == "accept"]
    if not accepted or config.defer_fraction <= 0:
        return first
    best = max(accepted)
    second = _evaluate(result, structures, state, copies, config,
                       defer_below=config.defer_fraction * best, best=best)  # fmt: skip
    if any(c.decision == "accept" for c in second):
        return second
    return first


def _evaluate(
    result: FitResult,
    structures: Sequence[Structure],
    state: CompositeState,
    copies: dict[str, int | None],
    config: CompositeConfig,
    *,
    defer_below: float,
    best: float = math.nan,
) -> tuple[Candidate, ...]:
    by_name = {s.name: s for s in structures}
    round_index = state.rounds_done + 1
    placed_xyz = [by_name[p.structure].coords_xyz if p.structure in by_name else None
                  for p in state.placements]  # fmt: skip
    placed_xyz = [
        p.transform.apply(x)
        for p, x in zip(state.placements, placed_xyz, strict=True)
        if x is not None
    ]
    placed_labels = [p.label for p in state.placements if p.structure in by_name]
    refs = {n: state.reference_cam(n) for n in by_name}
    left = {n: _copies_left(state, copies, n) for n in by_name}
    seen: dict[str, int] = dict.fromkeys(by_name, 0)
    n_placed = {n: state.copies_placed(n) for n in by_name}
    n_accepted = 0
    out = []
    for hit in result.clusters:
        name = hit.structure
        if name not in by_name:
            raise ConfigError(f"the fit result has a structure {name!r} that was not given")
        if seen[name] >= config.candidates_per_structure:
            continue
        seen[name] += 1
        xyz = hit.transform.apply(by_name[name].coords_xyz)
        counts = clash_counts(xyz, placed_xyz, distance=config.clash_distance)
        n_clash = int(counts.max()) if len(counts) else 0
        frac = n_clash / len(xyz)
        clash_with = ";".join(f"{placed_labels[i]}:{counts[i]}" for i in np.flatnonzero(counts))
        ref = refs[name]
        rel = hit.cam / ref if ref else math.nan
        if left[name] <= 0:
            decision, reason = "copies placed", f"all {copies[name]} copies of {name} are placed"
        elif hit.cam < config.min_cam:
            decision, reason = "below bar", f"cam {hit.cam:.3f} < min_cam {config.min_cam:g}"
        elif ref is not None and hit.cam < config.relative_cam * ref:
            decision, reason = (
                "below bar",
                (
                    f"cam {hit.cam:.3f} < relative_cam {config.relative_cam:g} x {ref:.3f} "
                    f"(cam of the first copy of {name})"
                ),
            )
        elif frac > config.max_clash_fraction:
            decision, reason = (
                "clash",
                (
                    f"{n_clash} of {len(xyz)} atoms ({frac:.1%}) within {config.clash_distance:g} Å "
                    f"of placed atoms ({clash_with}); more than max_clash_fraction {config.max_clash_fraction:g}"
                ),
            )
        elif hit.cam < defer_below:
            decision, reason = (
                "deferred",
                (
                    f"cam {hit.cam:.3f} < defer_fraction {config.defer_fraction:g} x {best:.3f} (the "
                    "best accepted this round): fitted again after the surer placements are zeroed"
                ),
            )
        elif config.max_per_round and n_accepted >= config.max_per_round:
            decision, reason = "round full", f"max_per_round {config.max_per_round} reached"
        else:
            decision = "accept"
            reason = f"cam {hit.cam:.3f}" + (
                f" = {rel:.2f} x first copy" if ref else " (first copy)"
            )
            if n_clash:
                reason += f"; {n_clash} atoms within {config.clash_distance:g} Å of {clash_with}"
            n_accepted += 1
            left[name] -= 1
            if ref is None:
                refs[name] = hit.cam
            placed_xyz.append(xyz)
            n_placed[name] += 1
            placed_labels.append(f"{name}#{n_placed[name]}")
        out.append(
            Candidate(
                round_index, hit, float(rel), n_clash, float(frac), clash_with, decision, reason
            )
        )
    return tuple(out)


def _zero_fill(level: float) -> float:
    """Zeroed voxels get 0, or a value just below the level when the level is not positive."""
    return 0.0 if level > 0 else level - max(1.0, abs(level))


def accept_candidates(
    state: CompositeState,
    chosen: Sequence[Candidate | ClusterHit],
    structures: Sequence[Structure],
    *,
    config: CompositeConfig | None = None,
    result: FitResult | None = None,
    candidates: Sequence[Candidate] = (),
    started: float | None = None,
) -> RoundResult:
    """Place ``chosen`` (accepted candidates, or cluster hits chosen by a user) and zero them.

    This completes round ``state.rounds_done + 1``: the returned round's ``state`` has the new
    placements (with assembly chain IDs) and the zeroed working map. Accepting nothing is
    allowed (the round then leaves the map as it was).
    """
    config = config or CompositeConfig()
    by_name = {s.name: s for s in structures}
    round_index = state.rounds_done + 1
    placements = list(state.placements)
    used = {c for p in placements for c in p.chains}
    new: list[Placement] = []
    for item in chosen:
        cand = item if isinstance(item, Candidate) else None
        hit = item.hit if isinstance(item, Candidate) else item
        if hit.structure not in by_name:
            raise ConfigError(f"no structure {hit.structure!r} among {', '.join(by_name)}")
        st = by_name[hit.structure]
        ref = next((p.cam for p in placements if p.structure == hit.structure), None)
        src = st.chains
        reserved = {c for s in structures for c in s.chains} - set(src)
        ids = tuple(assembly_chain_ids(src, used, reserved=reserved))
        used.update(ids)
        copy_no = sum(1 for p in placements if p.structure == hit.structure) + 1
        pl = Placement(
            structure=hit.structure, copy=copy_no, round=round_index, rank=hit.rank, hits=hit.hits,
            correlation=float(hit.correlation), cam=float(hit.cam), overlap=float(hit.overlap),
            density=float(hit.density), inside=float(hit.inside),
            relative_cam=float(hit.cam / ref) if ref else 1.0,
            clash_atoms=cand.clash_atoms if cand else -1,
            clash_fraction=cand.clash_fraction if cand else math.nan,
            transform=hit.transform, source_chains=tuple(src), chains=ids,
        )  # fmt: skip
        placements.append(pl)
        new.append(pl)
    zero = None
    working = state.working
    if new:
        zero = zero_placements(
            state.working, [(by_name[p.structure], p.transform) for p in new],
            resolution=state.resolution, rule=config.rule,
            match_resolution=config.match_resolution, fill=_zero_fill(state.level),
        )  # fmt: skip
        working = zero.map
    new_state = CompositeState(
        round_index, working, tuple(placements), state.level, state.resolution
    )
    seconds = time.perf_counter() - started if started is not None else math.nan
    return RoundResult(round_index, result, tuple(candidates), tuple(new), zero, new_state, seconds)


def _stoichiometry_met(
    state: CompositeState, structures: Sequence[Structure], copies: Mapping[str, int | None]
) -> str:
    names = [s.name for s in structures]
    if all(_copies_left(state, copies, n) <= 0 for n in names):
        counts = ", ".join(f"{n} {state.copies_placed(n)}" for n in names)
        return f"stoichiometry met ({counts})"
    return ""


def _stop_reason(
    rnd: RoundResult,
    structures: Sequence[Structure],
    copies: Mapping[str, int | None],
    config: CompositeConfig,
) -> str:
    state = rnd.state
    met = _stoichiometry_met(state, structures, copies)
    if met:
        return met
    if not rnd.accepted:
        best = [c for c in rnd.candidates if c.decision in ("below bar", "clash")]
        if not best:
            return "nothing convincing left: the fit found no candidate"
        c = best[0]
        return (
            f"nothing convincing left: the best candidate of round {rnd.index}, {c.structure} "
            f"(rank {c.rank}, correlation {c.hit.correlation:.3f}, cam {c.hit.cam:.3f}), was "
            f"rejected ({c.decision}: {c.reason})"
        )
    if state.rounds_done >= config.max_rounds:
        return f"max_rounds {config.max_rounds} reached"
    return ""


def composite(
    density: DensityMap,
    structures: Sequence[Structure],
    *,
    copies: Mapping[str, int | None] | None = None,
    config: CompositeConfig | None = None,
    seed: int | None = None,
    device: str = "auto",
    threads: int | None = None,
    state: CompositeState | None = None,
    on_round: Callable[[RoundResult], None] | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> CompositeResult:
    """Composite structures into a map, round by round, until done.

    Parameters
    ----------
    density : DensityMap
        The original map (ignored when ``state`` is given, except for its grid).
    structures : sequence of Structure
        The subunits, with unique names.
    copies : mapping name -> int or None
        Copies of each structure to place; None or absent = as many as pass the bar.
    config : CompositeConfig
    seed : int or None
        Seed of the run; round ``k`` uses :func:`round_seed` (seed, k).
    device, threads
        As :func:`difffit.fit`.
    state : CompositeState or None
        Resume from this state (rounds already done); None = start.
    on_round : callable
        Called with each :class:`RoundResult` as soon as the round is complete (to write it).
    progress : callable
        :class:`~difffit.search.Progress` events of the fits (stage ``"round"`` between rounds).

    Returns
    -------
    CompositeResult
    """
    config = config or CompositeConfig()
    if not isinstance(config, CompositeConfig):
        raise ConfigError("config must be a CompositeConfig")
    structures = list(structures)
    if not structures:
        raise ConfigError("no structures to composite")
    copies = _check_copies(structures, copies)
    seed = make_seed(seed)
    if state is None:
        state = initial_state(density, config)
    elif not state.working.same_grid(density):
        raise ConfigError("the state to resume from is on another grid than the map")
    rounds: list[RoundResult] = []
    while not state.finished:
        todo = [s for s in structures if _copies_left(state, copies, s.name) > 0]
        if not todo:
            reason = _stoichiometry_met(state, structures, copies)
            state = dataclasses.replace(state, finished=True, stop_reason=reason)
            break
        if state.rounds_done >= config.max_rounds:
            state = dataclasses.replace(
                state, finished=True, stop_reason=f"max_rounds {config.max_rounds} reached"
            )
            break
        left = density_left(state, config)
        if left == 0:
            reason = (
                f"nothing left: no density above the contour level {state.level:.4g} in the working "
                f"map after round {state.rounds_done} (islands under "
                f"{config.fit.prep.min_island_voxels} voxels ignored)"
            )
            state = dataclasses.replace(state, finished=True, stop_reason=reason)
            break
        t0 = time.perf_counter()
        if progress is not None:
            progress(Progress("round", state.rounds_done, config.max_rounds))
        result = fit_round(state, todo, config=config, seed=seed, device=device, threads=threads,
                           progress=progress)  # fmt: skip
        cands = evaluate_candidates(result, structures, state, copies=copies, config=config)
        chosen = [c for c in cands if c.decision == "accept"]
        rnd = accept_candidates(state, chosen, structures, config=config, result=result,
                                candidates=cands, started=t0)  # fmt: skip
        reason = _stop_reason(rnd, structures, copies, config)
        state = dataclasses.replace(rnd.state, finished=bool(reason), stop_reason=reason)
        rnd = dataclasses.replace(rnd, state=state)
        log.debug("round %d: %d placed (%s) in %.1f s%s", rnd.index, len(rnd.accepted),
                 ", ".join(p.label for p in rnd.accepted) or "-", rnd.seconds,
                 f"; stop: {reason}" if reason else "")  # fmt: skip
        rounds.append(rnd)
        if on_round is not None:
            on_round(rnd)
    return CompositeResult(state, tuple(rounds))
