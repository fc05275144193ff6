"""Multi-body fitting: fit the whole structure and each domain, then assemble consistent models.

Pure compute (no I/O). :func:`fit_multibody` runs difffit's global search (:func:`difffit.fit`)
on the whole structure and on every domain (the atoms of one label), then, for each of the
best placements of the whole structure, :func:`assemble` chooses one placement per domain:

* **candidates** of a domain: its own search's best clusters whose domain centre lies within
  ``max_shift`` Å of where the whole placement puts it, local searches around the whole
  placement (``n_local_starts``: a small domain's global search can miss it among decoys), and
  the whole placement itself (the domain left where the rigid fit put it);
* **bridgeable**: for every linker between consecutive runs of two domains (see
  :func:`~difffit.fitting.restraints.linkers`), the CA–CA distance across it is at most
  ``3.8 Å × (residues between + 1) + linker_tolerance``, the ``hinge_residues`` next to each
  boundary counted as linker;
* **no clash**: two domains may have at most ``max_clash_fraction`` of the smaller one's CA atoms
  within ``clash_distance`` Å of the other's;
* **best total**: the sum over domains of (domain heavy atoms × (the placement's ``metric`` −
  ``shift_penalty`` × its centre's shift from the whole placement)), exhaustively over the candidates (depth-first, pruned by the constraints and by an upper bound).

Domain labels are per-atom integers ``(n_atoms,)``: 0 .. k-1, -1 = no domain (such atoms follow
the whole placement in the assembled model).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from difffit import validate
from difffit.config import BaseConfig, FitConfig
from difffit.density.map import DensityMap
from difffit.errors import ConfigError, FitError
from difffit.fitting.quality import SimulatedProbe, quality_metrics
from difffit.fitting.restraints import Topology, linkers, residue_labels
from difffit.geometry import RigidTransform
from difffit.structure import Structure

__all__ = [
    "Assembly",
    "Candidate",
    "MultiBodyConfig",
    "MultiBodyResult",
    "assemble",
    "assembly_coords",
    "fit_multibody",
]

_METRICS = ("cam", "correlation", "overlap", "density")


@dataclass(frozen=True, kw_only=True)
class MultiBodyConfig(BaseConfig):
    """Options of the assembly (see the module doc).

    Attributes
    ----------
    n_whole : int
        Placements of the whole structure (best clusters) to assemble a model for.
    n_candidates : int
        Best clusters of each domain's search considered.
    max_shift : float
        Most a domain's centre may move (Å) from where the whole placement puts it.
    linker_tolerance : float
        Slack (Å) on the longest span of a linker (3.8 Å per CA–CA step).
    hinge_residues : int
        Residues at each end of a domain run next to a linker that count as linker (domain
        boundaries are approximate; measured on adenylate kinase, the CORE's last residues
        before the LID sit 3-6 Å from where the open structure has them).
    clash_distance : float
        CA atoms of two domains closer than this (Å) clash.
    max_clash_fraction : float
        Clashing CA atoms allowed, as a fraction of the smaller domain's CA atoms.
    metric : str
        The placement score summed over domains: "cam", "correlation", "overlap" or "density".
    shift_penalty : float
        Subtracted from a domain's metric per Å its centre moves from the whole placement: of
        equally good choices the one closest to the whole placement wins. (In HCN4's tetramer
        every domain fits equally well into four subunits, and without it a transmembrane part
        of one subunit was joined to the cytoplasmic part of its neighbour: the linker allows
        it.) 0.002 per Å: a 10 Å move costs 0.02 of cam.
    n_local_starts, local_angle_deg, local_shift, local_steps : int, float, float, int
        Local searches of each domain around the whole placement (``local_candidates``):
        starts turned by up to ``local_angle_deg`` and shifted by up to ``local_shift`` Å,
        refined for ``local_steps`` steps; 0 starts = none. They add candidates that a small
        domain's global search misses among its decoys.
    """

    n_whole: int = 3
    n_candidates: int = 50
    max_shift: float = 30.0
    linker_tolerance: float = 3.0
    hinge_residues: int = 2
    clash_distance: float = 3.0
    max_clash_fraction: float = 0.1
    metric: str = "cam"
    shift_penalty: float = 0.002
    n_local_starts: int = 30
    local_angle_deg: float = 45.0
    local_shift: float = 5.0
    local_steps: int = 100

    def _check(self) -> None:
        validate.integer("n_whole", self.n_whole, minimum=1)
        validate.integer("n_candidates", self.n_candidates, minimum=0)
        validate.positive("max_shift", self.max_shift)
        validate.positive("linker_tolerance", self.linker_tolerance, allow_zero=True)
        validate.integer("hinge_residues", self.hinge_residues, minimum=0)
        validate.positive("clash_distance", self.clash_distance)
        validate.positive("max_clash_fraction", self.max_clash_fraction, allow_zero=True)
        validate.positive("shift_penalty", self.shift_penalty, allow_zero=True)
        validate.integer("n_local_starts", self.n_local_starts, minimum=0)
        validate.positive("local_angle_deg", self.local_angle_deg, allow_zero=True)
        validate.positive("local_shift", self.local_shift, allow_zero=True)
        validate.integer("local_steps", self.local_steps, minimum=1)
        if self.metric not in _METRICS:
            raise ConfigError(f"metric {self.metric!r} is not one of {', '.join(_METRICS)}")


@dataclass(frozen=True)
class Candidate:
    """One placement of one domain: ``transform`` maps the input coordinates into the map.

    ``source`` is the rank of the domain's cluster it comes from (1-based), or 0 for the
    placement of the whole structure.
    """

    transform: RigidTransform
    score: float
    source: int


@dataclass(frozen=True)
class Assembly:
    """A consistent multi-body model for one placement of the whole structure.

    Attributes
    ----------
    whole_rank : int
        Rank (1-based) of the whole structure's cluster it is built on.
    whole_transform : RigidTransform
    transforms : tuple of RigidTransform
        Per domain (label order): input coordinates -> map.
    sources : tuple of int
        Per domain: the cluster rank of its placement, 0 = left at the whole placement.
    domain_scores : tuple of float
        Per domain: the placement's metric.
    score : float
        Σ (domain heavy atoms × (metric - shift_penalty × centre shift)) / Σ domain heavy atoms:
        what the assembly maximises.
    linker_spans : tuple of float
        CA–CA distance (Å) across every linker, in chain order.
    """

    whole_rank: int
    whole_transform: RigidTransform
    transforms: tuple[RigidTransform, ...]
    sources: tuple[int, ...]
    domain_scores: tuple[float, ...]
    score: float
    linker_spans: tuple[float, ...] = field(default=())


@dataclass(frozen=True, eq=False)
class MultiBodyResult:
    """What :func:`fit_multibody` found: one assembly per whole placement, best first."""

    assemblies: tuple[Assembly, ...]
    candidates: tuple[tuple[Candidate, ...], ...]  # per domain, from its own search
    whole: tuple[Candidate, ...]

    @property
    def best(self) -> Assembly:
        return self.assemblies[0]


def _domain_ids(labels: np.ndarray, n_atoms: int) -> int:
    labels = np.asarray(labels)
    if labels.shape != (n_atoms,) or not np.issubdtype(labels.dtype, np.integer):
        raise ConfigError(
            f"domain labels must be {n_atoms} integers (one per atom, -1 = no domain), got "
            f"{labels.dtype} of shape {labels.shape}"
        )
    k = int(labels.max()) + 1 if (labels >= 0).any() else 0
    if k == 0:
        raise ConfigError("no domains: every atom is labelled -1")
    for d in range(k):
        if not (labels == d).any():
            raise ConfigError(f"domain {d} has no atoms (labels must be 0 .. k-1)")
    return k


def assembly_coords(structure: Structure, labels: np.ndarray, assembly: Assembly) -> np.ndarray:
    """Coordinates (n_atoms, 3) of an assembled model: every domain by its own transform,
    unlabelled atoms by the whole placement."""
    labels = np.asarray(labels)
    xyz = assembly.whole_transform.apply(structure.coords_xyz)
    for d, tr in enumerate(assembly.transforms):
        sel = labels == d
        xyz[sel] = tr.apply(structure.coords_xyz[sel])
    return xyz


def assemble(
    structure: Structure,
    labels: np.ndarray,
    whole: Candidate,
    whole_rank: int,
    candidates: list[list[Candidate]] | tuple[tuple[Candidate, ...], ...],
    *,
    config: MultiBodyConfig | None = None,
) -> Assembly | None:
    """The best consistent choice of one candidate per domain (module doc), or None.

    Parameters
    ----------
    structure, labels
        The structure and its per-atom domain labels.
    whole
        A placement of the whole structure (its ``score`` is unused): it sets where each
        domain's candidates may be (``max_shift``). The domain "left at the whole placement" is
        a candidate only when the caller passes it in ``candidates`` (``source = 0``).
    whole_rank
        Recorded in the assembly.
    candidates
        Per domain, its candidate placements (including any ``source = 0`` one).
    """
    config = config or MultiBodyConfig()
    k = _domain_ids(labels, len(structure))
    if len(candidates) != k:
        raise ConfigError(f"{len(candidates)} candidate lists for {k} domains")
    labels = np.asarray(labels)
    topo = Topology.from_structure(structure)
    links = linkers(topo, residue_labels(topo, labels), hinge_residues=config.hinge_residues)
    ca_mask = structure.mask("ca")
    xyz0 = structure.coords_xyz
    n_atoms_d = np.array([(labels == d).sum() for d in range(k)], dtype=np.float64)
    # candidates within max_shift of the whole placement's domain centre
    cands: list[list[Candidate]] = []
    shifts: list[np.ndarray] = []
    for d in range(k):
        sel = labels == d
        c_whole = whole.transform.apply(xyz0[sel].mean(axis=0)[None])[0]
        keep, moved = [], []
        for c in candidates[d]:
            dist = float(
                np.linalg.norm(c.transform.apply(xyz0[sel].mean(axis=0)[None])[0] - c_whole)
            )
            if dist <= config.max_shift:
                keep.append(c)
                moved.append(dist)
        if not keep:
            return None
        cands.append(keep)
        shifts.append(np.asarray(moved))
    # per domain and candidate: placed CA atoms (clash) and linker end points
    ca_d = [np.flatnonzero(ca_mask & (labels == d)) for d in range(k)]
    placed = [[c.transform.apply(xyz0[ca_d[d]]) for c in cands[d]] for d in range(k)]
    trees = [[cKDTree(p) for p in placed[d]] for d in range(k)]

    def end_point(d: int, ci: int, atom: int) -> np.ndarray:
        return cands[d][ci].transform.apply(xyz0[atom][None])[0]

    # pairwise compatibility (a < b): linker spans and clashes
    ok: dict[tuple[int, int], np.ndarray] = {}
    for a in range(k):
        for b in range(a + 1, k):
            m = np.ones((len(cands[a]), len(cands[b])), dtype=bool)
            for ln in links:
                if {ln.domain_a, ln.domain_b} != {a, b}:
                    continue
                span = ln.max_span(config.linker_tolerance)
                da, db = (a, b) if ln.domain_a == a else (b, a)
                pa = np.array([end_point(da, i, ln.end_atom) for i in range(len(cands[da]))])
                pb = np.array([end_point(db, j, ln.start_atom) for j in range(len(cands[db]))])
                dist = np.linalg.norm(pa[:, None] - pb[None], axis=2)
                m &= (dist <= span) if da == a else (dist <= span).T
            n_allow = config.max_clash_fraction * min(len(ca_d[a]), len(ca_d[b]))
            for i in range(len(cands[a])):
                for j in np.flatnonzero(m[i]):
                    close = trees[b][j].query_ball_point(placed[a][i], config.clash_distance)
                    if sum(1 for c in close if c) > n_allow:
                        m[i, j] = False
            ok[(a, b)] = m
    scores = [
        (np.array([c.score for c in cands[d]]) - config.shift_penalty * shifts[d]) * n_atoms_d[d]
        for d in range(k)
    ]
    order = [np.argsort(-s, kind="stable") for s in scores]
    # upper bound of what domains d .. k-1 can add
    bound = np.array([sum(s.max() for s in scores[d:]) for d in range(k)] + [0.0])
    best: dict = {"score": -np.inf, "choice": None}
    choice: list[int] = []

    def dfs(d: int, total: float) -> None:
        if total + bound[d] <= best["score"]:
            return
        if d == k:
            best["score"], best["choice"] = total, list(choice)
            return
        for ci in order[d]:
            if all(ok[(a, d)][choice[a], ci] for a in range(d)):
                choice.append(int(ci))
                dfs(d + 1, total + scores[d][ci])
                choice.pop()

    dfs(0, 0.0)
    if best["choice"] is None:
        return None
    sel = [cands[d][ci] for d, ci in enumerate(best["choice"])]
    spans = []
    for ln in links:
        pa = sel[ln.domain_a].transform.apply(xyz0[ln.end_atom][None])[0]
        pb = sel[ln.domain_b].transform.apply(xyz0[ln.start_atom][None])[0]
        spans.append(float(np.linalg.norm(pa - pb)))
    return Assembly(
        whole_rank=whole_rank,
        whole_transform=whole.transform,
        transforms=tuple(c.transform for c in sel),
        sources=tuple(c.source for c in sel),
        domain_scores=tuple(float(c.score) for c in sel),
        score=float(best["score"] / n_atoms_d.sum()),
        linker_spans=tuple(spans),
    )


def placement_metric(
    density: DensityMap,
    level: float,
    structure: Structure,
    transforms: list[RigidTransform],
    resolution: float,
    metric: str,
) -> np.ndarray:
    """``metric`` of ``structure`` at each transform (input coordinates -> map)."""
    centre = structure.centre_xyz
    xyz = structure.coords_xyz - centre
    probe = SimulatedProbe.from_atoms(
        xyz,
        structure.atomic_numbers,
        resolution=resolution,
        voxel_size=float(density.voxel_size_xyz.min()),
        envelope=0.1,
    )
    rot = np.array([t.rotation for t in transforms])
    shift = np.array([t.apply(centre[None])[0] for t in transforms])
    return quality_metrics(density, level, xyz, probe, rot, shift)[metric]


def local_candidates(
    density: DensityMap,
    level: float,
    domain: Structure,
    whole: RigidTransform,
    resolution: float,
    config: MultiBodyConfig,
    rng: np.random.Generator,
) -> list[Candidate]:
    """Local searches of a domain around where the whole placement puts it.

    ``n_local_starts`` starts: the whole placement turned about the domain's centre by a random
    rotation of at most ``local_angle_deg`` and shifted by up to ``local_shift`` Å, each refined
    (:func:`difffit.fitting.refine.refine_poses`, map smoothed by ``resolution / 4``) and scored
    with ``metric``. ``source`` = -1, -2, ...
    """
    if config.n_local_starts == 0:
        return []
    from difffit.fitting.refine import refine_poses, refinement_map
    from difffit.geometry import matrix_to_quat, quat_to_matrix

    centre = domain.centre_xyz
    xyz = domain.coords_xyz - centre
    n = config.n_local_starts
    axes = rng.normal(size=(n, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = np.radians(config.local_angle_deg) * rng.uniform(0, 1, size=n) ** (1 / 3)
    angles[0] = 0.0
    quat_p = np.concatenate([np.cos(angles / 2)[:, None], np.sin(angles / 2)[:, None] * axes], 1)
    rot = np.einsum("pij,jk->pik", quat_to_matrix(quat_p), whole.rotation)
    shift = whole.apply(centre[None])[0] + rng.uniform(-1, 1, size=(n, 3)) * config.local_shift
    shift[0] = whole.apply(centre[None])[0]
    smooth = refinement_map(density, resolution / 4)
    q, t, _ = refine_poses(
        smooth, xyz, matrix_to_quat(rot), shift, n_steps=config.local_steps, device="cpu"
    )
    r = quat_to_matrix(q)
    transforms = [RigidTransform(r[i], t[i] - r[i] @ centre) for i in range(n)]
    scores = placement_metric(density, level, domain, transforms, resolution, config.metric)
    return [
        Candidate(tr, float(sc), -(i + 1))
        for i, (tr, sc) in enumerate(zip(transforms, scores, strict=True))
    ]


def fit_multibody(
    density: DensityMap,
    structure: Structure,
    labels: np.ndarray,
    *,
    fit_config: FitConfig | None = None,
    config: MultiBodyConfig | None = None,
    device: str = "auto",
    seed: int | None = None,
    threads: int | None = None,
) -> MultiBodyResult:
    """Global search of the whole structure and of each domain, then :func:`assemble`.

    Parameters
    ----------
    density
        The map.
    structure
        The whole structure.
    labels : (n_atoms,) int array
        Domain of every atom (0 .. k-1, -1 = none).
    fit_config
        Options of every search (:class:`~difffit.config.FitConfig`); its resolution is the
        one of the assembly's metric.
    config
        :class:`MultiBodyConfig`.
    device, seed, threads
        As :func:`difffit.fit` (each domain's search gets ``seed + 1 + domain``).

    Raises
    ------
    FitError
        When no placement of the whole structure gives a consistent assembly.
    """
    from difffit.fitting.quality import default_resolution
    from difffit.search import fit
    from difffit.seeding import make_seed

    config = config or MultiBodyConfig()
    fit_config = fit_config or FitConfig()
    k = _domain_ids(labels, len(structure))
    labels = np.asarray(labels)
    seed = make_seed(seed)
    whole_res = fit(
        density, structure, config=fit_config, device=device, seed=seed, threads=threads
    )
    resolution = whole_res.resolution
    level = whole_res.level
    if fit_config.quality.resolution is None:
        resolution = default_resolution(density)
    domains = [structure.subset(labels == d, name=f"{structure.name}_domain{d}") for d in range(k)]
    own: list[tuple[Candidate, ...]] = []
    for d, dom in enumerate(domains):
        res = fit(
            density, dom, config=fit_config, device=device, seed=seed + 1 + d, threads=threads
        )
        hits = res.clusters[: config.n_candidates]
        own.append(
            tuple(Candidate(h.transform, float(getattr(h, config.metric)), h.rank) for h in hits)
        )
    wholes = [
        Candidate(h.transform, float(getattr(h, config.metric)), h.rank)
        for h in whole_res.clusters[: config.n_whole]
    ]
    rng = np.random.default_rng(seed)
    assemblies = []
    for w in wholes:
        per_domain = []
        for d, dom in enumerate(domains):
            s0 = placement_metric(density, level, dom, [w.transform], resolution, config.metric)
            local = local_candidates(density, level, dom, w.transform, resolution, config, rng)
            per_domain.append([Candidate(w.transform, float(s0[0]), 0), *local, *own[d]])
        a = assemble(structure, labels, w, w.source, per_domain, config=config)
        if a is not None:
            assemblies.append(a)
    if not assemblies:
        raise FitError(
            f"{structure.name}: no placement of the whole structure gives a consistent "
            "assembly of its domains (raise max_shift or linker_tolerance, or n_candidates)"
        )
    assemblies.sort(key=lambda a: -a.score)
    return MultiBodyResult(tuple(assemblies), tuple(own), tuple(wholes))
