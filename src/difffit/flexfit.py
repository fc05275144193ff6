"""Flexible fitting as a workflow: rigid fit clusters -> domains -> multi-body -> refinement.

:func:`fit_flexible` takes the result of :func:`difffit.fit` and, for the best ``n_top``
clusters of one structure, builds the structure's domains (:func:`difffit.domains.split_domains`:
by hand, from a PAE matrix, or automatically), assembles them around the cluster's rigid pose
(:func:`difffit.fitting.multibody.assemble`: the domain's own global-search clusters, local
searches around the rigid pose, or the rigid pose itself), then refines the domains and the
residues (:mod:`difffit.fitting.flexible`). No file I/O: :mod:`difffit.io.flexible` writes the
outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from difffit.config import FitConfig, FlexFitConfig
from difffit.density.map import DensityMap
from difffit.domains import DomainSplit, split_domains
from difffit.fitting.flexible import (
    FlexibleConfig,
    FlexibleScores,
    flexible_scores,
    refine_domains,
    refine_residues,
)
from difffit.fitting.multibody import (
    Candidate,
    MultiBodyConfig,
    assemble,
    assembly_coords,
    local_candidates,
    placement_metric,
)
from difffit.geometry import RigidTransform
from difffit.results import FitResult
from difffit.structure import Structure

__all__ = ["FlexFitConfig", "FlexibleFit", "fit_flexible", "refine_pose", "residue_shifts"]


@dataclass(frozen=True, eq=False)
class FlexibleFit:
    """One cluster refined flexibly.

    Attributes
    ----------
    rank : int
        The rigid cluster's rank.
    structure : str
    split : DomainSplit
        The domains used.
    domain_transforms : tuple of RigidTransform
        Per domain: input coordinates -> the refined domain (Kabsch of the domain's atoms).
    rigid_xyz, xyz : (n_atoms, 3) float64, Å
        The rigid pose and the refined model (heavy atoms, the structure's order).
    scores : FlexibleScores
    info : dict
        Assembly score and sources, stage steps and cams.
    """

    rank: int
    structure: str
    split: DomainSplit
    domain_transforms: tuple[RigidTransform, ...]
    rigid_xyz: np.ndarray
    xyz: np.ndarray
    scores: FlexibleScores
    info: dict = field(default_factory=dict)


def _kabsch(a: np.ndarray, b: np.ndarray) -> RigidTransform:
    """The rigid motion taking points ``a`` (n, 3) onto ``b`` (n, 3) (least squares)."""
    ca, cb = a.mean(0), b.mean(0)
    if len(a) < 3:
        return RigidTransform(np.eye(3), cb - ca)
    h = (a - ca).T @ (b - cb)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    r = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return RigidTransform(r, cb - r @ ca)


def residue_shifts(structure: Structure, rigid_xyz: np.ndarray, xyz: np.ndarray) -> np.ndarray:
    """Per-atom shift (Å) of each residue's CA (its atoms' mean when it has none) from the rigid
    pose to the refined model, ``(n_atoms,)``: the same value for every atom of a residue."""
    key = np.array(
        [f"{c}|{n}|{i}" for c, n, i in zip(structure.chain_ids, structure.residue_numbers,
                                            structure.insertion_codes, strict=True)]
    )  # fmt: skip
    _, inv = np.unique(key, return_inverse=True)
    ca = structure.mask("ca")
    out = np.zeros(len(structure))
    d = np.linalg.norm(xyz - rigid_xyz, axis=1)
    for r in range(inv.max() + 1):
        m = inv == r
        mc = m & ca
        out[m] = d[mc].mean() if mc.any() else d[m].mean()
    return out


def refine_pose(
    density: DensityMap,
    level: float,
    structure: Structure,
    split: DomainSplit,
    whole: Candidate,
    *,
    own: Sequence[Sequence[Candidate]] | None = None,
    multibody: MultiBodyConfig,
    flexible: FlexibleConfig,
    rng: np.random.Generator,
    device: str = "auto",
) -> FlexibleFit:
    """Refine one rigid placement flexibly: domains assembled around it, then refined.

    Parameters
    ----------
    density, level
        The map and its contour level (the local searches' footprint).
    structure, split
        The structure (input frame) and its domains.
    whole
        The rigid placement (its transform, score, and its cluster rank as ``source``).
    own
        Per domain, candidates from the domain's own global search (none: the rigid pose and
        local searches around it only, as compositing does).
    multibody, flexible
        Options of the assembly and of the refinement (``flexible.resolution``: the map's).
    rng
        Draws the local searches' starts.
    """
    resolution = float(flexible.resolution)
    labels = np.asarray(split.labels)
    k = split.n_domains
    doms = [structure.subset(labels == d, name=f"{structure.name}_domain{d}") for d in range(k)]
    confidence = structure.b_factors if split.alphafold.plddt_like else None
    dev = "cpu" if device == "auto" else device
    per_domain = []
    for d, dom in enumerate(doms):
        s0 = placement_metric(density, level, dom, [whole.transform], resolution,
                              multibody.metric)  # fmt: skip
        local = local_candidates(density, level, dom, whole.transform, resolution,
                                 multibody, rng)  # fmt: skip
        extra = list(own[d]) if own is not None else []
        per_domain.append([Candidate(whole.transform, float(s0[0]), 0), *local, *extra])
    a = assemble(structure, labels, whole, whole.source, per_domain, config=multibody)
    rigid_xyz = whole.transform.apply(structure.coords_xyz)
    start = rigid_xyz if a is None else assembly_coords(structure, labels, a)
    dom_stage = refine_domains(density, structure, start, labels, config=flexible, device=dev)
    res_stage = refine_residues(density, structure, dom_stage.xyz, config=flexible,
                                labels=labels, confidence=confidence, device=dev)  # fmt: skip
    xyz = res_stage.xyz
    transforms = tuple(
        _kabsch(structure.coords_xyz[labels == d], xyz[labels == d]) for d in range(k)
    )
    scores = flexible_scores(density, structure, rigid_xyz, xyz, resolution=resolution)
    info = {
        "assembled": a is not None,
        "assembly_score": None if a is None else float(a.score),
        "assembly_sources": None if a is None else list(a.sources),
        "domain_steps": int(dom_stage.n_steps),
        "residue_steps": int(res_stage.n_steps),
    }
    return FlexibleFit(
        whole.source, structure.name, split, transforms, rigid_xyz, xyz, scores, info
    )


def fit_flexible(
    density: DensityMap,
    structure: Structure,
    rigid: FitResult,
    *,
    config: FlexFitConfig | None = None,
    domains: str | None = None,
    pae: np.ndarray | None = None,
    multibody: MultiBodyConfig | None = None,
    flexible: FlexibleConfig | None = None,
    device: str = "auto",
    seed: int | None = None,
    threads: int | None = None,
) -> list[FlexibleFit]:
    """Refine the best ``config.n_top`` clusters of ``structure`` in ``rigid`` flexibly.

    Parameters
    ----------
    density
        The map the rigid fit used.
    structure
        The fitted structure (input frame).
    rigid
        :func:`difffit.fit`'s result; its clusters of ``structure`` (best first) are the starts.
    domains, pae
        Domains by hand (``"A:1-150,A:151-397"``) or a PAE matrix; automatic otherwise
        (:func:`difffit.domains.split_domains`).
    multibody, flexible
        Options of the assembly and of the refinement (resolution: the rigid fit's).
    device, seed, threads
        As :func:`difffit.fit`; each domain's global search gets ``seed + 1 + domain``.

    Returns
    -------
    list of FlexibleFit
        One per refined cluster, in rank order (clusters whose domains cannot be assembled
        consistently are refined from the rigid pose for every domain).
    """
    from difffit.search import fit

    config = config or FlexFitConfig()
    multibody = multibody or MultiBodyConfig()
    resolution = float(rigid.resolution)
    flexible = flexible or FlexibleConfig(resolution=resolution)
    seed = rigid.seed if seed is None else seed
    hits = rigid.for_structure(structure.name)[: config.n_top]
    if not hits:
        return []
    split = split_domains(structure, pae=pae, domains=domains)
    labels = np.asarray(split.labels)
    k = split.n_domains
    fit_config = rigid.config if isinstance(rigid.config, FitConfig) else FitConfig()
    doms = [structure.subset(labels == d, name=f"{structure.name}_domain{d}") for d in range(k)]
    own: list[list[Candidate]] = []
    for d, dom in enumerate(doms):
        res = fit(density, dom, config=fit_config, device=device, seed=seed + 1 + d,
                  threads=threads)  # fmt: skip
        own.append(
            [
                Candidate(h.transform, float(getattr(h, multibody.metric)), h.rank)
                for h in res.clusters[: multibody.n_candidates]
            ]
        )
    rng = np.random.default_rng(seed)
    out = []
    for hit in hits:
        whole = Candidate(hit.transform, float(getattr(hit, multibody.metric)), hit.rank)
        out.append(
            refine_pose(density, rigid.level, structure, split, whole, own=own,
                        multibody=multibody, flexible=flexible, rng=rng, device=device)
        )  # fmt: skip
    return out
