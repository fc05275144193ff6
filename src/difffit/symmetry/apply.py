"""The symmetry a fit or a composite run works with: resolved once from ``--symmetry``.

:func:`resolve_symmetry` turns the option (``none``, ``auto`` or a group) into a
:class:`MapSymmetry` (group, frame, centre, operators) or None:

* ``auto``: :func:`~difffit.symmetry.detect_symmetry`; a map without symmetry gives None;
* a group: :func:`~difffit.symmetry.check_symmetry`; a map that clearly does not have it is a
  :class:`~difffit.errors.ConfigError` naming the worst operator's self-correlation.

:func:`mate_clash_fractions` measures how much a placement overlaps its own symmetry mates (a
pose on an axis overlaps them: no assembly can be built from it). Pure compute: no files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from difffit.clashes import clash_counts
from difffit.density.map import DensityMap
from difffit.errors import ConfigError
from difffit.geometry import RigidTransform
from difffit.symmetry.groups import PointGroup, group_operators, parse_group

if TYPE_CHECKING:
    from difffit.results import ClusterHit

__all__ = [
    "MAX_MATE_CLASH",
    "MapSymmetry",
    "SymmetricClusters",
    "check_copies_for_symmetry",
    "mate_clash_fractions",
    "resolve_symmetry",
    "symmetric_clusters",
]


@dataclass(frozen=True, eq=False)
class MapSymmetry:
    """A point group placed in the map: ``x' = F S Fᵀ (x - c) + c`` for its standard rotations.

    Attributes
    ----------
    group : PointGroup
    frame : (3, 3) array
        Columns: the standard x, y, z axes in world coordinates.
    centre_xyz : (3,) array, Å
    min_correlation : float
        Self-correlation of the worst operator (the evidence).
    source : str
        ``"auto"`` (detected) or ``"given"`` (the user's group, checked).
    """

    group: PointGroup
    frame: np.ndarray
    centre_xyz: np.ndarray
    min_correlation: float
    source: str

    @property
    def order(self) -> int:
        return self.group.order

    @property
    def operators(self) -> list[RigidTransform]:
        """The operators (identity first), :func:`~difffit.symmetry.group_operators`."""
        return group_operators(self.group, centre_xyz=self.centre_xyz, frame=self.frame)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready): group, copies, centre, frame and every operator (3 × 4)."""
        return {
            "group": self.group.name,
            "copies": self.order,
            "source": self.source,
            "min_correlation": round(float(self.min_correlation), 4),
            "centre_xyz": [float(v) for v in self.centre_xyz],
            "frame": [[float(v) for v in row] for row in self.frame],
            "operators": [g.to_matrix_3x4().tolist() for g in self.operators],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MapSymmetry:
        try:
            return cls(
                group=parse_group(d["group"]),
                frame=np.asarray(d["frame"], dtype=np.float64).reshape(3, 3),
                centre_xyz=np.asarray(d["centre_xyz"], dtype=np.float64).reshape(3),
                min_correlation=float(d.get("min_correlation", math.nan)),
                source=str(d.get("source", "given")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"symmetry record unreadable: {exc}") from None

    def describe(self) -> str:
        c = ", ".join(f"{v:.1f}" for v in self.centre_xyz)
        how = "detected" if self.source == "auto" else "given, checked"
        return (
            f"{self.group.name} ({self.order} copies; {how}), centre ({c}) Å, worst operator "
            f"self-correlation {self.min_correlation:.3f}"
        )


def resolve_symmetry(
    density: DensityMap,
    spec: str,
    *,
    level: float | None = None,
    resolution: float | None = None,
) -> MapSymmetry | None:
    """The symmetry ``spec`` (``"none"``, ``"auto"`` or a group name) of ``density``.

    Returns None for ``"none"``, for ``"auto"`` on a map without symmetry and for ``C1``.

    Raises
    ------
    ConfigError
        A group that the map clearly does not have (its worst operator's self-correlation
        under the threshold of :mod:`difffit.symmetry.detect`), or an unknown group name.
    """
    from difffit.symmetry.detect import check_symmetry, detect_symmetry

    spec = str(spec).strip()
    if spec.lower() == "none":
        return None
    if spec.lower() == "auto":
        found = detect_symmetry(density, level=level, resolution=resolution)
        if found.best is None:
            return None
        b = found.best
        return MapSymmetry(b.group, b.frame, b.centre_xyz, b.min_correlation, "auto")
    g = parse_group(spec)
    if g.order == 1:
        return None
    chk = check_symmetry(density, g, level=level, resolution=resolution)
    if not chk.holds:
        worst = min(chk.operators, key=lambda o: o.correlation)
        raise ConfigError(
            f"--symmetry {g.name}: the map does not have {g.name}: its worst operator "
            f"({worst.angle_deg:.0f}° about ({', '.join(f'{v:.2f}' for v in worst.axis_xyz)})) "
            f"self-correlates {chk.min_correlation:.3f} (a group holds at >= {chk.threshold:.2f} "
            f"and contrast >= 0.6 over the control's {chk.control_correlation:.3f}; contrast "
            f"{chk.contrast:.2f}); see difffit symmetry MAP",
            option="symmetry",
        )
    return MapSymmetry(g, chk.frame, chk.centre_xyz, chk.min_correlation, "given")


def check_copies_for_symmetry(
    copies: Mapping[str, int | None], group: PointGroup | str
) -> dict[str, int]:
    """The copies of each structure under ``group``: the group's order when not given; a given
    count must be 0 or a multiple of the order (whole orbits of mates), ConfigError otherwise."""
    g = parse_group(group)
    out: dict[str, int] = {}
    for name, c in copies.items():
        if c is None:
            out[name] = g.order
        elif c % g.order:
            raise ConfigError(
                f"--copies {name}={c} contradicts --symmetry {g.name}: {g.name} places copies in "
                f"sets of {g.order} (give a multiple of {g.order}, e.g. {g.order})",
                option="copies",
            )
        else:
            out[name] = int(c)
    return out


def mate_clash_fractions(
    atoms_xyz: np.ndarray,
    placements: list[RigidTransform],
    operators: list[RigidTransform],
    *,
    distance: float = 2.0,
) -> np.ndarray:
    """Fraction of the placed atoms within ``distance`` Å of an atom of one of its own mates.

    Parameters
    ----------
    atoms_xyz : (n, 3) array, Å
        The structure's heavy atoms (input frame).
    placements : list of RigidTransform
        Placements ``x' = R x + t``.
    operators : list of RigidTransform
        The group's operators, identity first (it is skipped).

    Returns
    -------
    (len(placements),) float array
        The largest fraction over the mates (0 = no overlap; near 1 = on an axis).
    """
    atoms = np.asarray(atoms_xyz, dtype=np.float64).reshape(-1, 3)
    c0 = atoms.mean(axis=0)
    reach = 2.0 * float(np.linalg.norm(atoms - c0, axis=1).max()) + distance
    out = np.zeros(len(placements))
    for i, p in enumerate(placements):
        c = p.apply(c0[None])[0]
        # only mates whose centre is within two radii (+ distance) can touch the placement
        near = [g for g in operators[1:] if np.linalg.norm(g.apply(c[None])[0] - c) <= reach]
        if near:
            xyz = p.apply(atoms)
            counts = clash_counts(xyz, [g.compose(p).apply(atoms) for g in near],
                                  distance=distance)  # fmt: skip
            out[i] = float(counts.max()) / len(xyz)
    return out


#: A placement with more than this fraction of its atoms within 2 Å of one of its own mates
#: cannot be part of a symmetric assembly: ``fit --symmetry`` ranks it after those that can
#: (the default ``composite --max-clash``).
MAX_MATE_CLASH = 0.05
#: Distance (Å) of two heavy atoms that clash (the default ``composite --clash-distance``).
MATE_CLASH_DISTANCE = 2.0


@dataclass(frozen=True, eq=False)
class SymmetricClusters:
    """The clusters of a fit under a symmetry: one row per distinct solution.

    Attributes
    ----------
    clusters : tuple of ClusterHit
        The class leaders, ranked anew (1 = best): those that do not overlap their own mates
        (``mate_clash <= MAX_MATE_CLASH``) first, each group in the old order; ``copies`` and
        ``mate_clash`` filled in.
    new_rank : dict of int -> int
        Old rank of every cluster -> the new rank of its class.
    """

    clusters: tuple[ClusterHit, ...]
    new_rank: dict[int, int]


def symmetric_clusters(
    clusters: Sequence[ClusterHit],
    coords_xyz: Mapping[str, np.ndarray],
    symmetry: MapSymmetry,
    *,
    shift_tolerance: float,
    angle_tolerance_deg: float,
) -> SymmetricClusters:
    """Score ranked clusters with their symmetry mates and merge symmetry-equivalent ones.

    Each cluster's placement is measured against its own mates (:func:`mate_clash_fractions`):
    one that overlaps them (a pose on a symmetry axis) cannot be part of a symmetric assembly
    and is ranked after every cluster that can. Clusters that some operator takes onto an
    earlier one (:func:`~difffit.symmetry.label_equivalent_fits`, the clustering tolerances)
    are the same solution: the earlier (better) one stays, with ``copies`` = the distinct
    operators among its class (at most the group order).

    Parameters
    ----------
    clusters : sequence of ClusterHit
        Best first (ranks 1..n).
    coords_xyz : mapping structure name -> (n, 3) array
        Heavy atoms of each structure, input frame.
    """
    import dataclasses

    from difffit.symmetry.groups import label_equivalent_fits

    ops = symmetry.operators
    hits = list(clusters)
    clash = np.array([
        mate_clash_fractions(coords_xyz[h.structure], [h.transform], ops,
                             distance=MATE_CLASH_DISTANCE)[0]
        for h in hits
    ])  # fmt: skip
    allowed = clash <= MAX_MATE_CLASH
    visit = [i for i in range(len(hits)) if allowed[i]] + [
        i for i in range(len(hits)) if not allowed[i]
    ]
    leaders: list[int] = []
    class_of = np.zeros(len(hits), dtype=np.int64)
    copies: dict[int, int] = {}
    for name in dict.fromkeys(h.structure for h in hits):
        idx = [i for i in visit if hits[i].structure == name]
        centre = np.asarray(coords_xyz[name], dtype=np.float64).mean(axis=0)
        rot = np.array([hits[i].transform.rotation for i in idx])
        cen = np.array([hits[i].transform.apply(centre[None])[0] for i in idx])
        eq = label_equivalent_fits(rot, cen, ops, shift_tolerance=shift_tolerance,
                                   angle_tolerance_deg=angle_tolerance_deg)  # fmt: skip
        for k, lead in enumerate(eq.leaders):
            leaders.append(idx[int(lead)])
            copies[idx[int(lead)]] = int(eq.copies[k])
        for j, i in enumerate(idx):
            class_of[i] = idx[int(eq.leaders[eq.labels[j]])]
    order = [i for i in visit if i in copies]  # leaders, allowed first, each in the old order
    rank_of = {lead: r + 1 for r, lead in enumerate(order)}
    out = tuple(
        dataclasses.replace(hits[i], rank=rank_of[i], copies=copies[i], mate_clash=float(clash[i]))
        for i in order
    )
    new_rank = {hits[i].rank: rank_of[int(class_of[i])] for i in range(len(hits))}
    return SymmetricClusters(out, new_rank)
