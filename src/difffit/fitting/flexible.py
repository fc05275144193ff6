"""Flexible refinement of a placed model against a map: rigid domains, then rigid residues.

Pure compute (no I/O). The model moves as a set of rigid bodies; each body ``b`` has a
translation ``τ_b`` (Å) and a rotation vector ``ω_b = u_b / g_b`` (rad, ``g_b`` the body's radius
of gyration, so that ``u_b`` is in Å like ``τ_b`` and one learning rate suits bodies of any size)
about its centroid ``c_b``: ``x' = R(ω_b) (x - c_b) + c_b + τ_b``. Two stages:

1. **Domains** (:func:`refine_domains`): one body per domain label (atoms labelled -1 move as
   one body per residue), against the map smoothed by each of ``config.domain_smooth`` in turn
   (a wide capture range first). Hinge restraints: flat-bottomed harmonic terms keep every
   linker between two domains bridgeable (its end CA atoms at most ``3.8 Å × steps +
   hinge_tolerance`` apart, ``hinge_residues`` at each boundary counted as linker, as in
   :mod:`difffit.fitting.multibody`); atoms of different bodies are kept apart by the clash term,
   at a tenth of its weight (:data:`SMOOTH_PASS_CLASH`) in the smoothed passes: on the way,
   domains may have to pass through each other. Measured: HCN4 chain A with its cytoplasmic part
   turned 15° (``benchmarks/flexible.py``) starts with inter-domain clashes; with the full clash
   weight in the smoothed pass the domains were pushed apart (CA RMSD 5.9 -> 6.2 Å after it),
   with a tenth 5.9 -> 2.1 Å; with none, adenylate kinase's NMP domain slid into the CORE's
   density (final CA RMSD 3.2 Å instead of 1.4 Å).
2. **Residues** (:func:`refine_residues`): one body per residue (side chains stay intact).
   Restraints: CA(i)–CA(i+1) and peptide C(i)–N(i+1) bonds to their ideal range (the input's
   value, clipped to 3.65–3.95 Å and 1.25–1.41 Å), a local elastic network over CA pairs within
   ``elastic_cutoff`` Å of the stage's start (pairs across two domains left out), weighted by
   ``min(pLDDT_i, pLDDT_j) / 100`` when confidences are given, and a clash penalty
   ``relu(clash_margin - d)²`` on heavy-atom pairs of non-bonded residues.

Each stage works on the map cropped to the model's box plus a margin (:data:`CROP_MARGIN`,
3 σ of the widest smoothing and twice the resolution). The map term is the mean density at the atoms, weighted by atomic number and divided by its value
at the start of the stage (so it starts near 1 whatever the map's units); the restraint terms
are sums over pairs divided by the number of residues. The sampler is difffit's trilinear
kernel (:func:`difffit.fitting.torch_path.score_and_grad`: the Numba kernel on the CPU, torch
gathers on CUDA) asked for one single-atom placement per atom; the restraints and the rigid-body
parametrisation use torch autograd. Adam, learning rates constant then cosine decay.

**Stopping rule.** Every ``check_every`` steps the model's correlation about the mean with the
*unsmoothed* map at the map's resolution is measured (``cam`` of
:func:`difffit.fitting.quality.quality_metrics`: a map simulated from the current atoms at
``config.resolution``, compared with the map over its envelope). A stage stops when ``cam`` has
not risen by ``min_gain`` for ``patience`` checks in a row, and returns the model with the best
``cam`` seen — not the last one. The map term alone keeps rising as atoms crowd into the
strongest density (noise included); ``cam`` at the map's resolution stops rising once the model
explains the map as well as it can at that resolution (docs/flexible.md shows the numbers).
The residue stage returns the best-``cam`` model among those whose geometry is admissible (at
least :data:`GEOMETRY_OK_FRACTION` of the input's CA–CA and C–N bonds in range, or as many as
the input had, and no more clashes than the input); the stage's start when none is.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from difffit import validate
from difffit.config import BaseConfig
from difffit.density.map import DensityMap
from difffit.errors import ConfigError
from difffit.fitting.quality import SimulatedProbe, quality_metrics
from difffit.fitting.refine import refinement_map
from difffit.fitting.restraints import (
    GeometryReport,
    Topology,
    elastic_pairs,
    geometry_report,
    linkers,
    residue_labels,
)
from difffit.fitting.torch_path import score_and_grad
from difffit.geometry import RigidTransform, kabsch, rmsd
from difffit.structure import Structure

__all__ = [
    "FlexibleConfig",
    "FlexibleScores",
    "StageResult",
    "cam_at_resolution",
    "flexible_scores",
    "refine_domains",
    "refine_residues",
]

#: Ideal ranges the bonds are restrained to (the input's length, clipped), Å.
CA_CA_TARGET = (3.65, 3.95)
PEPTIDE_TARGET = (1.25, 1.41)
#: Factor on the clash weight in the smoothed passes of the domain stage.
SMOOTH_PASS_CLASH = 0.1
#: Fraction of the input's CA–CA and C–N bonds a refined model keeps in range (or as many as
#: the input had): the residue stage returns only such models.
GEOMETRY_OK_FRACTION = 0.99
#: Envelope of the simulated map over which ``cam`` is computed (as fit's quality metrics).
CAM_ENVELOPE = 0.1


@dataclass(frozen=True, kw_only=True)
class FlexibleConfig(BaseConfig):
    """Options of the flexible refinement (see the module doc).

    Attributes
    ----------
    resolution : float
        The map's resolution (Å): the stopping rule's ``cam`` is computed there.
    domain_steps, residue_steps : int
        Most Adam steps per smoothing pass of the domain stage, and of the residue stage.
    domain_smooth : tuple of float
        Gaussian σ (Å) of the map sampled by each pass of the domain stage, in order.
    residue_smooth : float
        σ (Å) of the map sampled by the residue stage.
    domain_lr, residue_lr : float
        Adam learning rates (Å per step) of the body translations and ``u`` (see module doc).
    map_weight : float
        Weight of the map term.
    bond_weight, hinge_weight, elastic_weight, clash_weight : float
        Weights (per Å²) of the restraint terms.
    hinge_residues : int
        Residues at each end of a domain run next to a linker counted as linker by the hinge
        restraints (domain boundaries are approximate).
    hinge_tolerance : float
        Slack (Å) on a linker's longest span (3.8 Å per CA–CA step) before the hinge term acts.
    elastic_cutoff : float
        CA pairs closer than this (Å) at the start of the residue stage form the network.
    clash_margin : float
        Heavy atoms of non-bonded residues are pushed apart below this distance (Å).
    check_every, patience : int
        The stopping rule: ``cam`` every ``check_every`` steps; stop after ``patience`` checks
        without a gain of ``min_gain``.
    min_gain : float
    """

    resolution: float
    domain_steps: int = 150
    residue_steps: int = 600
    domain_smooth: tuple[float, ...] = (3.0, 0.0)
    residue_smooth: float = 0.0
    domain_lr: float = 0.1
    residue_lr: float = 0.05
    map_weight: float = 1.0
    bond_weight: float = 50.0
    hinge_weight: float = 5.0
    elastic_weight: float = 0.25
    clash_weight: float = 10.0
    hinge_residues: int = 2
    hinge_tolerance: float = 1.0
    elastic_cutoff: float = 9.0
    clash_margin: float = 2.6
    check_every: int = 10
    patience: int = 5
    min_gain: float = 1e-4

    def _check(self) -> None:
        validate.positive("resolution", self.resolution)
        validate.integer("domain_steps", self.domain_steps, minimum=0)
        validate.integer("residue_steps", self.residue_steps, minimum=0)
        sm = tuple(float(s) for s in self.domain_smooth)
        if not sm or any(not math.isfinite(s) or s < 0 for s in sm):
            raise ConfigError(f"domain_smooth must be one or more σ >= 0 (Å), got {sm!r}")
        object.__setattr__(self, "domain_smooth", sm)
        validate.positive("residue_smooth", self.residue_smooth, allow_zero=True)
        for name in ("domain_lr", "residue_lr", "map_weight", "elastic_cutoff", "clash_margin"):
            validate.positive(name, getattr(self, name))
        for name in ("bond_weight", "hinge_weight", "elastic_weight", "clash_weight"):
            validate.positive(name, getattr(self, name), allow_zero=True)
        validate.positive("hinge_tolerance", self.hinge_tolerance, allow_zero=True)
        validate.integer("hinge_residues", self.hinge_residues, minimum=0)
        validate.integer("check_every", self.check_every, minimum=1)
        validate.integer("patience", self.patience, minimum=1)
        validate.positive("min_gain", self.min_gain, allow_zero=True)


@dataclass(frozen=True, eq=False)
class StageResult:
    """The outcome of one refinement stage.

    Attributes
    ----------
    xyz : (n_atoms, 3) float64 array, Å
        The model with the best ``cam`` seen (the stopping rule's choice).
    transforms : tuple of RigidTransform
        Per domain (domain stage; label order 0 .. k-1): the rigid motion of its atoms from the
        stage's start to ``xyz`` (Kabsch on the domain's atoms). Empty for the residue stage.
    steps : (m,) int array
        Step of every check (cumulative over the passes).
    cam : (m,) float array
        ``cam`` at the map's resolution at every check.
    best_step : int
        Step of the returned model.
    n_steps : int
        Steps taken.
    info : dict
        Counts of the stage's terms (domain stage: ``n_bodies``, ``n_hinges``; residue stage:
        ``n_elastic``, ``n_bonds``).
    """

    xyz: np.ndarray
    transforms: tuple[RigidTransform, ...]
    steps: np.ndarray
    cam: np.ndarray
    best_step: int
    n_steps: int
    info: dict = field(default_factory=dict)

    @property
    def best_cam(self) -> float:
        return float(self.cam.max()) if len(self.cam) else float("nan")


#: Called as ``callback(stage, step, xyz)`` at every check (stage "domains" or "residues").
Callback = Callable[[str, int, np.ndarray], None]


def cam_at_resolution(
    density: DensityMap, atomic_numbers: np.ndarray, xyz: np.ndarray, resolution: float
) -> float:
    """Correlation about the mean of atoms ``xyz`` (n, 3) with ``density`` at ``resolution``.

    The ``cam`` of :func:`~difffit.fitting.quality.quality_metrics`, with the map simulated
    from these very coordinates.
    """
    return _fit_metrics(density, atomic_numbers, xyz, resolution)["cam"]


def _fit_metrics(
    density: DensityMap, atomic_numbers: np.ndarray, xyz: np.ndarray, resolution: float
) -> dict[str, float]:
    xyz = np.asarray(xyz, dtype=np.float64)
    centre = xyz.mean(axis=0)
    voxel = float(density.voxel_size_xyz.min())
    probe = SimulatedProbe.from_atoms(
        xyz - centre,
        np.asarray(atomic_numbers),
        resolution=resolution,
        voxel_size=voxel,
        envelope=CAM_ENVELOPE,
    )
    m = quality_metrics(density, 0.0, xyz - centre, probe, np.eye(3)[None], centre[None])
    return {k: float(v[0]) for k, v in m.items()}


@dataclass(frozen=True)
class FlexibleScores:
    """Honest figures of a flexible result against the rigid one it started from.

    Attributes
    ----------
    ca_rmsd_moved : float
        CA RMSD (Å) of the refined model from the rigid one (no superposition).
    correlation_before, correlation_after, cam_before, cam_after : float
        Fit to the map at its resolution (:func:`~difffit.fitting.quality.quality_metrics`,
        the simulated map of each model's own coordinates).
    geometry_input, geometry_rigid, geometry_after : GeometryReport
        Bond outliers and clashes of the input coordinates, the rigid model and the result.
    """

    ca_rmsd_moved: float
    correlation_before: float
    correlation_after: float
    cam_before: float
    cam_after: float
    geometry_input: GeometryReport
    geometry_rigid: GeometryReport
    geometry_after: GeometryReport

    def geometry_ok(self, min_fraction: float = 0.99) -> bool:
        """At least ``min_fraction`` of the input's CA–CA and C–N bonds in range, and no more
        clashes than the input had."""
        g, g0 = self.geometry_after, self.geometry_input
        return (
            g.ca_ca_ok_fraction >= min(min_fraction, g0.ca_ca_ok_fraction)
            and g.peptide_ok_fraction >= min(min_fraction, g0.peptide_ok_fraction)
            and g.clashes <= g0.clashes
        )


def flexible_scores(
    density: DensityMap,
    structure: Structure,
    rigid_xyz: np.ndarray,
    refined_xyz: np.ndarray,
    *,
    resolution: float,
) -> FlexibleScores:
    """:class:`FlexibleScores` of ``refined_xyz`` against ``rigid_xyz`` (both (n_atoms, 3))."""
    rigid_xyz, _ = _check_inputs(structure, rigid_xyz, None)
    refined_xyz, _ = _check_inputs(structure, refined_xyz, None)
    topo = Topology.from_structure(structure)
    ca = structure.mask("ca")
    before = _fit_metrics(density, structure.atomic_numbers, rigid_xyz, resolution)
    after = _fit_metrics(density, structure.atomic_numbers, refined_xyz, resolution)
    return FlexibleScores(
        ca_rmsd_moved=rmsd(rigid_xyz[ca], refined_xyz[ca]),
        correlation_before=before["correlation"],
        correlation_after=after["correlation"],
        cam_before=before["cam"],
        cam_after=after["cam"],
        geometry_input=geometry_report(topo, structure.coords_xyz),
        geometry_rigid=geometry_report(topo, rigid_xyz),
        geometry_after=geometry_report(topo, refined_xyz),
    )


# ------------------------------------------------------------------------ torch building blocks
class _AtomValues(torch.autograd.Function):
    """Trilinear map values at atom positions (n, 3) -> (n,), with the kernel's gradients."""

    @staticmethod
    def forward(ctx, pos, volume, origin, inv_vs, zero_atom, eye):
        val, g_t, _ = score_and_grad(
            volume, zero_atom, eye, pos.detach().to(volume.dtype), origin, inv_vs, 0.0
        )
        ctx.save_for_backward(g_t.to(pos.dtype))
        return val.to(pos.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        (g_t,) = ctx.saved_tensors
        return grad_out[:, None] * g_t, None, None, None, None, None


class _MapTerm:
    """The map sampled at atoms, on one device: ``values(pos)`` is differentiable."""

    def __init__(self, density: DensityMap, n_atoms: int, device: torch.device):
        self.volume = torch.tensor(np.ascontiguousarray(density.data), device=device)
        dt = self.volume.dtype
        self.origin = torch.tensor(density.origin_xyz, dtype=dt, device=device)
        self.inv_vs = torch.tensor(1.0 / density.voxel_size_xyz, dtype=dt, device=device)
        self.zero_atom = torch.zeros((1, 3), dtype=dt, device=device)
        self.eye = torch.eye(3, dtype=dt, device=device).repeat(n_atoms, 1, 1).contiguous()

    def values(self, pos: torch.Tensor) -> torch.Tensor:
        return _AtomValues.apply(
            pos, self.volume, self.origin, self.inv_vs, self.zero_atom, self.eye
        )


def _rotvec_to_matrix(w: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (b, 3, 3) of rotation vectors (b, 3) (rad), smooth at zero."""
    theta2 = (w * w).sum(dim=1, keepdim=True)
    theta = torch.sqrt(theta2 + 1e-12)
    # sin(θ)/θ and (1 - cos θ)/θ² with their series near 0
    small = theta2 < 1e-6
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / (theta2 + 1e-30))
    zero = torch.zeros_like(w[:, 0])
    k = torch.stack(
        [zero, -w[:, 2], w[:, 1], w[:, 2], zero, -w[:, 0], -w[:, 1], w[:, 0], zero], dim=1
    ).reshape(-1, 3, 3)
    eye = torch.eye(3, dtype=w.dtype, device=w.device).expand_as(k)
    return eye + a[:, :, None] * k + b[:, :, None] * (k @ k)


class _Bodies:
    """Rigid bodies over atoms: positions from per-body (τ, u) parameters."""

    def __init__(self, xyz0: np.ndarray, body: np.ndarray, device: torch.device):
        self.body = torch.as_tensor(body, dtype=torch.long, device=device)
        n_b = int(body.max()) + 1
        counts = np.bincount(body, minlength=n_b).astype(np.float64)
        cen = np.zeros((n_b, 3))
        np.add.at(cen, body, xyz0)
        cen /= counts[:, None]
        d2 = ((xyz0 - cen[body]) ** 2).sum(axis=1)
        rg = np.sqrt(np.bincount(body, weights=d2, minlength=n_b) / counts)
        self.rel = torch.tensor(xyz0 - cen[body], device=device)
        self.centre = torch.tensor(cen, device=device)
        self.inv_rg = torch.tensor(1.0 / np.maximum(rg, 1.0), device=device)
        self.tau = torch.zeros((n_b, 3), dtype=torch.float64, device=device, requires_grad=True)
        self.u = torch.zeros((n_b, 3), dtype=torch.float64, device=device, requires_grad=True)

    def positions(self) -> torch.Tensor:
        rot = _rotvec_to_matrix(self.u * self.inv_rg[:, None])
        moved = torch.einsum("aij,aj->ai", rot[self.body], self.rel)
        return moved + (self.centre + self.tau)[self.body]


def _dist(pos: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    d = pos[pairs[:, 0]] - pos[pairs[:, 1]]
    return torch.sqrt((d * d).sum(dim=1) + 1e-12)


def _lr_factor(step: int, n_steps: int) -> float:
    """Constant for 60 % of the steps, then cosine decay to 0.1 (as the rigid optimiser)."""
    start = int(0.6 * n_steps)
    if step < start or n_steps <= start:
        return 1.0
    f = (step - start) / max(n_steps - start, 1)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * f))


def _atom_weights(structure: Structure) -> np.ndarray:
    z = structure.atomic_numbers.astype(np.float64)
    return z / z.mean()


@dataclass
class _Run:
    """Bookkeeping of the stopping rule over one stage."""

    density: DensityMap
    structure: Structure
    config: FlexibleConfig
    stage: str
    callback: Callback | None
    steps: list = field(default_factory=list)
    cams: list = field(default_factory=list)
    best_cam: float = -np.inf
    best_xyz: np.ndarray | None = None
    best_step: int = 0
    #: A model may be returned only when this says its geometry is admissible (None: any).
    admissible: Callable[[np.ndarray], bool] | None = None

    def check(self, step: int, xyz: np.ndarray) -> float:
        cam = cam_at_resolution(
            self.density, self.structure.atomic_numbers, xyz, self.config.resolution
        )
        self.steps.append(step)
        self.cams.append(cam)
        if self.callback is not None:
            self.callback(self.stage, step, xyz)
        if cam > self.best_cam and (self.admissible is None or self.admissible(xyz)):
            self.best_cam, self.best_xyz, self.best_step = cam, xyz.copy(), step
        return cam


def _optimise(
    run: _Run,
    bodies: _Bodies,
    loss_fn: Callable[[torch.Tensor, int], torch.Tensor],
    *,
    n_steps: int,
    lr: float,
    step0: int,
    refresh: Callable[[np.ndarray], None],
    stop: bool = True,
) -> int:
    """Adam on the bodies' parameters with the stopping rule (when ``stop``); returns the
    steps taken."""
    cfg = run.config
    opt = torch.optim.Adam([bodies.tau, bodies.u], lr=lr)
    since_gain = 0
    ref = run.best_cam
    step = 0
    for step in range(n_steps + 1):
        if step % cfg.check_every == 0 or step == n_steps:
            with torch.no_grad():
                xyz = bodies.positions().cpu().numpy()
            cam = run.check(step0 + step, xyz)
            refresh(xyz)
            if cam > ref + cfg.min_gain:
                ref = cam
                since_gain = 0
            elif step > 0 and stop:
                since_gain += 1
                if since_gain >= cfg.patience:
                    break
        if step == n_steps:
            break
        for g in opt.param_groups:
            g["lr"] = lr * _lr_factor(step, n_steps)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(bodies.positions(), step)
        loss.backward()
        opt.step()
    return step


def _prepare_map_term(density: DensityMap, sigma: float, n_atoms: int, device) -> _MapTerm:
    return _MapTerm(refinement_map(density, sigma), n_atoms, device)


def _map_loss(term: _MapTerm, pos: torch.Tensor, w: torch.Tensor, scale: float) -> torch.Tensor:
    return -(term.values(pos) * w).mean() / scale


def _map_scale(term: _MapTerm, pos: torch.Tensor, w: torch.Tensor) -> float:
    """Mean weighted density at the start (the map term's unit); the map's max when <= 0."""
    with torch.no_grad():
        v = float((term.values(pos) * w).mean())
    if v > 0:
        return v
    return float(term.volume.max()) or 1.0


#: Margin (Å) kept around the model when the map is cropped for a stage, beyond 3 σ of the
#: widest smoothing and 2 × the resolution.
CROP_MARGIN = 10.0


def _crop(density: DensityMap, xyz: np.ndarray, margin: float) -> DensityMap:
    """The part of ``density`` within ``margin`` Å of the atoms' bounding box (same grid)."""
    lo = np.floor(density.world_to_grid(xyz.min(axis=0) - margin)).astype(int)
    hi = np.ceil(density.world_to_grid(xyz.max(axis=0) + margin)).astype(int)
    shape = np.array(density.shape_xyz)
    lo = np.clip(lo, 0, shape - 2)
    hi = np.clip(hi, lo + 1, shape - 1)
    data = density.data[lo[2] : hi[2] + 1, lo[1] : hi[1] + 1, lo[0] : hi[0] + 1]
    return DensityMap(data, density.voxel_size_xyz, density.grid_to_world(lo))


def _check_inputs(structure: Structure, xyz: np.ndarray, labels: np.ndarray | None):
    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.shape != (len(structure), 3):
        raise ConfigError(
            f"{structure.name}: coordinates of shape {xyz.shape} for {len(structure)} atoms"
        )
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (len(structure),) or not np.issubdtype(labels.dtype, np.integer):
            raise ConfigError(
                f"{structure.name}: domain labels must be {len(structure)} integers (one per "
                f"atom, -1 = no domain), got {labels.dtype} of shape {labels.shape}"
            )
    return xyz, labels


def _hinges(
    topo: Topology, labels: np.ndarray, body: np.ndarray, config: FlexibleConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Atom pairs (h, 2) held together in the domain stage, and their longest spans (h,) Å.

    The linkers between domain runs (:func:`~difffit.fitting.restraints.linkers`, with
    ``hinge_residues`` at each boundary counted as linker) must span at most
    ``3.8 Å × steps + hinge_tolerance``; CA–CA pairs of two bodies of which one is unlabelled
    at most ``3.8 + hinge_tolerance``.
    """
    res_lab = residue_labels(topo, labels)
    links = linkers(topo, res_lab, hinge_residues=config.hinge_residues)
    pairs = [(ln.end_atom, ln.start_atom) for ln in links]
    spans = [ln.max_span(config.hinge_tolerance) for ln in links]
    ca = topo.ca_pairs
    free = (labels[ca[:, 0]] < 0) | (labels[ca[:, 1]] < 0)
    cross = body[ca[:, 0]] != body[ca[:, 1]]
    for i, j in ca[free & cross]:
        pairs.append((int(i), int(j)))
        spans.append(3.8 + config.hinge_tolerance)
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2), np.asarray(spans, dtype=np.float64)


# ------------------------------------------------------------------------------------ stages
def refine_domains(
    density: DensityMap,
    structure: Structure,
    xyz: np.ndarray,
    labels: np.ndarray,
    *,
    config: FlexibleConfig,
    device: str = "cpu",
    callback: Callback | None = None,
) -> StageResult:
    """Rigid-body refinement of the domains of a placed model, with hinge restraints.

    Parameters
    ----------
    density
        The map (unprepared).
    structure
        The model's atoms (names, residues, elements); its own coordinates define the bonds.
    xyz : (n_atoms, 3) array, Å
        The placed model (e.g. a rigid fit or a multi-body assembly), in map coordinates.
    labels : (n_atoms,) int array
        Domain of every atom (0 .. k-1; -1 = no domain: such residues move one by one).
    config
        :class:`FlexibleConfig`.
    device
        Torch device of the restraint arithmetic ("cpu" or "cuda[:N]").
    callback
        Called as ``callback("domains", step, xyz)`` at every check.
    """
    xyz, labels = _check_inputs(structure, xyz, labels)
    density = _crop(
        density, xyz, CROP_MARGIN + 3 * max(config.domain_smooth) + 2 * config.resolution
    )
    dev = torch.device(device)
    topo = Topology.from_structure(structure)
    k = int(labels.max()) + 1 if (labels >= 0).any() else 0
    body = np.where(labels >= 0, labels, k + topo.residue_of_atom).astype(np.int64)
    _, body = np.unique(body, return_inverse=True)
    bodies = _Bodies(xyz, body, dev)
    w = torch.tensor(_atom_weights(structure), device=dev)
    n_res = float(topo.n_residues)
    hinge_pairs, hinge_max = _hinges(topo, labels, body, config)
    hinge = torch.as_tensor(hinge_pairs, device=dev)
    hinge_max_t = torch.tensor(hinge_max, device=dev)
    clash = {"pairs": torch.empty((0, 2), dtype=torch.long, device=dev)}

    def refresh(cur: np.ndarray) -> None:
        p = topo.close_pairs(cur, config.clash_margin + 2.0)
        p = p[body[p[:, 0]] != body[p[:, 1]]]
        clash["pairs"] = torch.as_tensor(p, device=dev)

    run = _Run(density, structure, config, "domains", callback)
    step0 = 0
    for i_pass, sigma in enumerate(config.domain_smooth):
        last = i_pass == len(config.domain_smooth) - 1
        term = _prepare_map_term(density, sigma, len(xyz), dev)
        scale = _map_scale(term, bodies.positions(), w)

        def loss_fn(pos, _step, term=term, scale=scale, last=last):
            loss = config.map_weight * _map_loss(term, pos, w, scale)
            if len(hinge):
                excess = torch.relu(_dist(pos, hinge) - hinge_max_t)
                loss = loss + config.hinge_weight * (excess**2).sum() / n_res
            cp = clash["pairs"]
            if len(cp):
                loss = (
                    loss
                    + config.clash_weight
                    * (1.0 if last else SMOOTH_PASS_CLASH)
                    * (torch.relu(config.clash_margin - _dist(pos, cp)) ** 2).sum()
                    / n_res
                )
            return loss

        step0 += _optimise(
            run, bodies, loss_fn, n_steps=config.domain_steps, lr=config.domain_lr,
            step0=step0, refresh=refresh, stop=last,
        )  # fmt: skip
        if not last:
            # the smoothed passes run to the end; the sharp pass starts from their last model
            # and the stopping rule picks among the models of that pass
            with torch.no_grad():
                cur = bodies.positions().cpu().numpy()
            bodies = _Bodies(cur, body, dev)
            run.best_cam = -np.inf
    best = run.best_xyz if run.best_xyz is not None else xyz
    transforms = []
    for d in range(k):
        sel = labels == d
        if sel.sum() >= 3:
            r, t = kabsch(xyz[sel], best[sel])
        else:
            r, t = np.eye(3), (best[sel] - xyz[sel]).mean(axis=0) if sel.any() else np.zeros(3)
        transforms.append(RigidTransform(r, t))
    return StageResult(
        xyz=best,
        transforms=tuple(transforms),
        steps=np.asarray(run.steps),
        cam=np.asarray(run.cams),
        best_step=run.best_step,
        n_steps=step0,
        info={"n_bodies": int(body.max()) + 1, "n_hinges": int(len(hinge))},
    )


def refine_residues(
    density: DensityMap,
    structure: Structure,
    xyz: np.ndarray,
    *,
    config: FlexibleConfig,
    labels: np.ndarray | None = None,
    confidence: np.ndarray | None = None,
    device: str = "cpu",
    callback: Callback | None = None,
) -> StageResult:
    """Refinement with every residue a rigid body, under geometry restraints.

    Parameters
    ----------
    density, structure, xyz, config, device, callback
        As :func:`refine_domains` (callback stage ``"residues"``).
    labels : (n_atoms,) int array, optional
        Domain labels: elastic-network pairs across two domains are left out.
    confidence : (n_atoms,) array, optional
        Per-atom confidence (pLDDT, 0-100, e.g. an AlphaFold model's B-factors); the residue's
        value is its CA's. Elastic pairs are weighted ``min(p_i, p_j) / 100``. None = all 100.
    """
    xyz, labels = _check_inputs(structure, xyz, labels)
    density = _crop(density, xyz, CROP_MARGIN + 3 * config.residue_smooth + 2 * config.resolution)
    dev = torch.device(device)
    topo = Topology.from_structure(structure)
    bodies = _Bodies(xyz, topo.residue_of_atom, dev)
    w = torch.tensor(_atom_weights(structure), device=dev)
    n_res = float(topo.n_residues)
    ref_xyz = structure.coords_xyz  # bonds: the input's lengths, clipped to the ideal range
    ca, pep = topo.ca_pairs, topo.peptide_pairs
    ca0 = np.clip(np.linalg.norm(ref_xyz[ca[:, 0]] - ref_xyz[ca[:, 1]], axis=1), *CA_CA_TARGET)
    pep0 = np.clip(np.linalg.norm(ref_xyz[pep[:, 0]] - ref_xyz[pep[:, 1]], axis=1), *PEPTIDE_TARGET)
    bonds = torch.as_tensor(np.concatenate([ca, pep]), device=dev)
    bonds0 = torch.tensor(np.concatenate([ca0, pep0]), device=dev)
    res_lab = residue_labels(topo, labels) if labels is not None else None
    el = elastic_pairs(topo, xyz, cutoff=config.elastic_cutoff, residue_labels_=res_lab)
    el0 = torch.tensor(np.linalg.norm(xyz[el[:, 0]] - xyz[el[:, 1]], axis=1), device=dev)
    if confidence is not None:
        conf = np.asarray(confidence, dtype=np.float64)
        if conf.shape != (len(structure),):
            raise ConfigError(
                f"{structure.name}: confidence must be one value per atom ({len(structure)}), "
                f"got shape {conf.shape}"
            )
        el_w = np.minimum(conf[el[:, 0]], conf[el[:, 1]]) / 100.0
    else:
        el_w = np.ones(len(el))
    el_w_t = torch.tensor(np.clip(el_w, 0.0, 1.0), device=dev)
    el_t = torch.as_tensor(el, device=dev)
    clash = {"pairs": torch.empty((0, 2), dtype=torch.long, device=dev)}

    def refresh(cur: np.ndarray) -> None:
        clash["pairs"] = torch.as_tensor(
            topo.close_pairs(cur, config.clash_margin + 1.0), device=dev
        )

    term = _prepare_map_term(density, config.residue_smooth, len(xyz), dev)
    scale = _map_scale(term, bodies.positions(), w)

    def loss_fn(pos, _step):
        loss = config.map_weight * _map_loss(term, pos, w, scale)
        if len(bonds):
            loss = loss + config.bond_weight * ((_dist(pos, bonds) - bonds0) ** 2).sum() / n_res
        if len(el_t):
            de = _dist(pos, el_t) - el0
            loss = loss + config.elastic_weight * (el_w_t * de**2).sum() / n_res
        cp = clash["pairs"]
        if len(cp):
            loss = (
                loss
                + config.clash_weight
                * (torch.relu(config.clash_margin - _dist(pos, cp)) ** 2).sum()
                / n_res
            )
        return loss

    # the model returned keeps the input's geometry (the bar, as
    # FlexibleScores.geometry_ok): Adam's first steps move every residue by about the learning
    # rate whatever its gradient, and on a model that already fits (7PBL RuvB at its own site,
    # 6 Å) the best-cam check was such a transient, with 19 of 312 C–N bonds out of range
    g_in = geometry_report(topo, structure.coords_xyz)

    def admissible(cur: np.ndarray) -> bool:
        g = geometry_report(topo, cur)
        return (
            g.ca_ca_ok_fraction >= min(GEOMETRY_OK_FRACTION, g_in.ca_ca_ok_fraction)
            and g.peptide_ok_fraction >= min(GEOMETRY_OK_FRACTION, g_in.peptide_ok_fraction)
            and g.clashes <= g_in.clashes
        )

    run = _Run(density, structure, config, "residues", callback, admissible=admissible)
    n = _optimise(
        run, bodies, loss_fn, n_steps=config.residue_steps, lr=config.residue_lr, step0=0,
        refresh=refresh,
    )  # fmt: skip
    return StageResult(
        xyz=run.best_xyz if run.best_xyz is not None else xyz,
        transforms=(),
        steps=np.asarray(run.steps),
        cam=np.asarray(run.cams),
        best_step=run.best_step,
        n_steps=n,
        info={"n_elastic": int(len(el)), "n_bonds": int(len(bonds))},
    )
