"""Flexible refinement of a composite copy (``composite --flexible``), before its density is zeroed.

:func:`refine_copy` takes one rigid placement of a structure in the working map of a round and
refines it with the machinery of ``fit --flexible`` (:func:`difffit.flexfit.refine_pose`): the
structure's domains (:func:`difffit.domains.split_domains`, automatic) are assembled around the
rigid pose from local searches (no global search per domain: in a map of many copies every
domain fits every site, and the rigid pose already says which site this copy is in), then
refined as rigid domains and as rigid residues against the working map. The result is a
:class:`~difffit.composite.types.RefinedCopy`: per residue the rigid motion from the input
coordinates, so that the refined model keeps the input's atoms, chains and residue numbers.

Structures that cannot be refined this way stay rigid (:func:`refine_copy` returns None):
those without a protein CA trace long enough to split into domains (nucleic-acid strands, short
peptides, see :data:`MIN_CA`). Pure compute: no files.
"""

from __future__ import annotations

import numpy as np

from difffit.composite.types import RefinedCopy, residue_index
from difffit.config import DomainConfig
from difffit.density.map import DensityMap
from difffit.domains import split_domains
from difffit.errors import StructureError
from difffit.fitting.flexible import FlexibleConfig
from difffit.fitting.multibody import Candidate, MultiBodyConfig, placement_metric
from difffit.geometry import RigidTransform
from difffit.structure import Structure

__all__ = ["MIN_CA", "can_refine", "refine_copy"]

#: Fewest CA atoms of a structure refined flexibly (two domains of the smallest size).
MIN_CA = 2 * DomainConfig().min_domain_residues


def can_refine(structure: Structure) -> bool:
    """Whether :func:`refine_copy` refines ``structure`` (enough CA atoms to split)."""
    return int(structure.mask("ca").sum()) >= MIN_CA


def _kabsch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(3, 4) rigid motion taking points ``a`` onto ``b`` (least squares; translation only for
    fewer than 3 points)."""
    ca, cb = a.mean(0), b.mean(0)
    out = np.zeros((3, 4))
    if len(a) < 3:
        out[:, :3] = np.eye(3)
        out[:, 3] = cb - ca
        return out
    h = (a - ca).T @ (b - cb)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    r = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    out[:, :3] = r
    out[:, 3] = cb - r @ ca
    return out


def refine_copy(
    working: DensityMap,
    structure: Structure,
    transform: RigidTransform,
    *,
    level: float,
    resolution: float,
    seed: int,
    device: str = "auto",
) -> RefinedCopy | None:
    """Refine the copy of ``structure`` placed by ``transform`` flexibly in ``working``.

    Parameters
    ----------
    working : DensityMap
        The round's working map (earlier placements zeroed).
    structure : Structure
        The structure (input frame).
    transform : RigidTransform
        Its rigid placement (a cluster of the round's fit).
    level, resolution : float
        The run's contour level and resolution (Å).
    seed : int
        Seeds the local searches of the domains (the same seed gives the same model).
    device : str
        As :func:`difffit.fit`.

    Returns
    -------
    RefinedCopy or None
        None when the structure cannot be refined (:func:`can_refine`; a structure too short
        to split into domains).
    """
    from difffit.flexfit import refine_pose

    if not can_refine(structure):
        return None
    try:
        split = split_domains(structure)
    except StructureError:
        return None
    multibody = MultiBodyConfig()
    flexible = FlexibleConfig(resolution=float(resolution))
    score = placement_metric(working, level, structure, [transform], float(resolution),
                             multibody.metric)  # fmt: skip
    whole = Candidate(transform, float(score[0]), 0)
    fit = refine_pose(working, level, structure, split, whole, multibody=multibody,
                      flexible=flexible, rng=np.random.default_rng(seed), device=device)  # fmt: skip
    keys, inv = residue_index(structure)
    x0 = structure.coords_xyz
    motions = np.empty((len(keys), 3, 4))
    shifts = np.empty(len(keys))
    ca = structure.mask("ca")
    d = np.linalg.norm(fit.xyz - fit.rigid_xyz, axis=1)
    for r in range(len(keys)):
        m = inv == r
        motions[r] = _kabsch(x0[m], fit.xyz[m])
        mc = m & ca
        shifts[r] = d[mc].mean() if mc.any() else d[m].mean()
    s = fit.scores
    return RefinedCopy(
        residues=keys, motions=motions, shifts=shifts,
        domains=tuple(dm.ranges for dm in split.domains),
        cam_before=float(s.cam_before), cam_after=float(s.cam_after),
        correlation_before=float(s.correlation_before),
        correlation_after=float(s.correlation_after),
        ca_rmsd_moved=float(s.ca_rmsd_moved),
        geometry_input=s.geometry_input, geometry_after=s.geometry_after,
    )  # fmt: skip
