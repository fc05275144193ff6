"""Point groups: names, operators, symmetry mates and symmetry-equivalent fits.

Conventions (pinned by ``tests/unit/test_symmetry_groups.py``):

* A group is named ``C<n>`` (n >= 1), ``D<n>`` (n >= 2), ``T``, ``O`` or ``I`` (case-insensitive
  on input; :func:`parse_group` gives the canonical :class:`PointGroup`).
* Each group has a **standard frame** in which its axes are:

  - ``Cn``: the n-fold axis along z.
  - ``Dn``: the n-fold axis along z, one two-fold axis along x.
  - ``T``: the three two-fold axes along x, y, z; three-folds along (±1, ±1, ±1).
  - ``O``: the three four-fold axes along x, y, z; three-folds along (±1, ±1, ±1).
  - ``I``: three two-fold axes along x, y, z; five-folds along (0, ±1, ±φ) and its cyclic
    permutations (φ the golden ratio; the "I2" setting of RELION and the EMDB).

* A symmetry in the world is the group, a ``frame`` (3, 3) rotation whose columns are the
  standard x, y, z axes in world coordinates, and a ``centre_xyz`` (Å) where all axes cross.
  An operator is the rigid transform ``x' = F S Fᵀ (x - c) + c`` for each standard rotation
  ``S``; the identity comes first.
* Fits are placements ``x' = R x + t`` of a structure whose own centre is ``c0``: the placed
  centre is ``R c0 + t``. Two fits are symmetry-equivalent when some operator ``g`` takes one onto
  the other within the shift / angle tolerances of :mod:`difffit.clustering` (distance between
  the placed centres, angle of the relative rotation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from difffit.errors import ConfigError
from difffit.geometry import RigidTransform
from difffit.validate import point_group_name

__all__ = [
    "EquivalentFits",
    "PointGroup",
    "axis_angle_matrix",
    "frame_from_axes",
    "group_operators",
    "label_equivalent_fits",
    "parse_group",
    "standard_rotations",
    "symmetry_mates",
]

_PHI = (1.0 + math.sqrt(5.0)) / 2.0


@dataclass(frozen=True)
class PointGroup:
    """A point group: ``kind`` one of ``"C"``, ``"D"``, ``"T"``, ``"O"``, ``"I"``; ``n`` the order
    of the principal axis (``Cn``/``Dn``), 3 for ``T``, 4 for ``O``, 5 for ``I``."""

    kind: str
    n: int

    @property
    def name(self) -> str:
        return f"{self.kind}{self.n}" if self.kind in "CD" else self.kind

    @property
    def order(self) -> int:
        """Number of operators (copies of the asymmetric unit)."""
        if self.kind == "C":
            return self.n
        if self.kind == "D":
            return 2 * self.n
        return {"T": 12, "O": 24, "I": 60}[self.kind]

    @property
    def principal_axis_std(self) -> np.ndarray:
        """Direction of a highest-order axis in the standard frame."""
        if self.kind == "T":
            return np.ones(3) / math.sqrt(3.0)
        if self.kind == "I":
            return np.array([0.0, 1.0, _PHI]) / math.sqrt(1.0 + _PHI**2)
        return np.array([0.0, 0.0, 1.0])

    def __str__(self) -> str:
        return self.name


def parse_group(name: str | PointGroup) -> PointGroup:
    """The group of a name such as ``"C4"``, ``"d7"``, ``"I"``; :class:`ConfigError` otherwise."""
    if isinstance(name, PointGroup):
        return name
    text = point_group_name("point group", name)
    if text in ("T", "O", "I"):
        return PointGroup(text, {"T": 3, "O": 4, "I": 5}[text])
    return PointGroup(text[0], int(text[1:]))


def axis_angle_matrix(axis: np.ndarray, angle_rad: float) -> np.ndarray:
    """Rotation matrix (3, 3) of ``angle_rad`` about ``axis`` (3,) (right-handed)."""
    u = np.asarray(axis, dtype=np.float64)
    u = u / np.linalg.norm(u)
    k = np.array([[0, -u[2], u[1]], [u[2], 0, -u[0]], [-u[1], u[0], 0]])
    return np.eye(3) + math.sin(angle_rad) * k + (1 - math.cos(angle_rad)) * (k @ k)


def _closure(generators: list[np.ndarray], expected: int) -> np.ndarray:
    """All products of ``generators`` (the group they generate), identity first."""
    elems = [np.eye(3)]
    keys = {tuple(np.round(np.eye(3), 6).ravel())}
    frontier = [np.eye(3)]
    while frontier:
        new = []
        for a in frontier:
            for g in generators:
                p = g @ a
                key = tuple(np.round(p, 6).ravel() + 0.0)
                if key not in keys:
                    keys.add(key)
                    elems.append(p)
                    new.append(p)
        frontier = new
    if len(elems) != expected:  # pragma: no cover - a bug in the generators
        raise RuntimeError(f"group closure gave {len(elems)} elements, expected {expected}")
    return np.array(elems)


_CACHE: dict[PointGroup, np.ndarray] = {}


def standard_rotations(group: str | PointGroup) -> np.ndarray:
    """The rotations (order, 3, 3) of ``group`` in its standard frame, identity first.

    ``Cn``: ``Rz(2πk/n)``, k = 0..n-1; ``Dn``: those, then ``Rx(π) Rz(2πk/n)``; ``T``, ``O``,
    ``I``: the closure of their generators, ordered by breadth-first products.
    """
    g = parse_group(group)
    if g in _CACHE:
        return _CACHE[g].copy()
    z = np.array([0.0, 0.0, 1.0])
    if g.kind in "CD":
        rots = [axis_angle_matrix(z, 2 * math.pi * k / g.n) for k in range(g.n)]
        if g.kind == "D":
            rx = axis_angle_matrix(np.array([1.0, 0.0, 0.0]), math.pi)
            rots += [rx @ r for r in rots]
        out = np.array(rots)
    else:
        c3 = axis_angle_matrix(np.ones(3), 2 * math.pi / 3)
        if g.kind == "T":
            gens = [axis_angle_matrix(z, math.pi), c3]
        elif g.kind == "O":
            gens = [axis_angle_matrix(z, math.pi / 2), c3]
        else:
            gens = [axis_angle_matrix(g.principal_axis_std, 2 * math.pi / 5),
                    axis_angle_matrix(z, math.pi)]  # fmt: skip
        out = _closure(gens, g.order)
    out[np.abs(out) < 1e-12] = 0.0
    _CACHE[g] = out
    return out.copy()


def _any_perpendicular(u: np.ndarray) -> np.ndarray:
    a = np.array([1.0, 0.0, 0.0]) if abs(u[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    v = np.cross(u, a)
    return v / np.linalg.norm(v)


def rotation_taking(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A rotation (3, 3) that takes unit vector ``a`` onto unit vector ``b`` (the shortest)."""
    a = np.asarray(a, dtype=np.float64) / np.linalg.norm(a)
    b = np.asarray(b, dtype=np.float64) / np.linalg.norm(b)
    v = np.cross(a, b)
    s, c = np.linalg.norm(v), float(a @ b)
    if s < 1e-12:
        return np.eye(3) if c > 0 else axis_angle_matrix(_any_perpendicular(a), math.pi)
    return axis_angle_matrix(v, math.atan2(s, c))


def frame_from_axes(
    group: str | PointGroup,
    principal_axis: np.ndarray | tuple[float, float, float] = (0.0, 0.0, 1.0),
    secondary_axis: np.ndarray | None = None,
) -> np.ndarray:
    """The frame (3, 3) of ``group`` whose highest-order axis is ``principal_axis``.

    Parameters
    ----------
    principal_axis : (3,) array
        World direction of the n-fold axis (``Cn``/``Dn``), of a three-fold (``T``), a four-fold
        (``O``) or a five-fold (``I``) axis: the standard-frame axis
        :attr:`PointGroup.principal_axis_std` is taken onto it.
    secondary_axis : (3,) array, optional
        Fixes the rotation about the principal axis: for ``Dn`` a two-fold axis (made
        perpendicular to the principal one), for ``T``/``O``/``I`` any direction whose
        component perpendicular to the principal axis is where the standard frame's z axis
        (x for ``O``, whose z is the principal axis) projects. Ignored for ``Cn``.
    """
    g = parse_group(group)
    u = np.asarray(principal_axis, dtype=np.float64)
    u = u / np.linalg.norm(u)
    a0 = g.principal_axis_std
    base = rotation_taking(a0, u)  # any frame with the right principal axis
    if secondary_axis is None or g.kind == "C":
        return base
    v = np.asarray(secondary_axis, dtype=np.float64)
    v = v - (v @ u) * u
    if np.linalg.norm(v) < 1e-9:
        raise ConfigError("the secondary axis must not be parallel to the principal axis")
    v /= np.linalg.norm(v)
    ref = np.array([1.0, 0.0, 0.0]) if g.kind in "DO" else np.array([0.0, 0.0, 1.0])
    w = base @ ref
    w = w - (w @ u) * u
    w /= np.linalg.norm(w)
    ang = math.atan2(float(np.cross(w, v) @ u), float(w @ v))
    return axis_angle_matrix(u, ang) @ base


def group_operators(
    group: str | PointGroup,
    *,
    centre_xyz: np.ndarray | tuple[float, float, float] = (0.0, 0.0, 0.0),
    frame: np.ndarray | None = None,
) -> list[RigidTransform]:
    """The operators of ``group`` about ``centre_xyz`` (Å) in ``frame`` (identity first).

    Each is ``x' = F S Fᵀ (x - c) + c`` for the standard rotations ``S``
    (:func:`standard_rotations`); ``frame`` defaults to the identity (the standard frame, e.g.
    the n-fold axis along z), see :func:`frame_from_axes` to build one from axes.
    """
    f = np.eye(3) if frame is None else np.asarray(frame, dtype=np.float64).reshape(3, 3)
    if not np.allclose(f @ f.T, np.eye(3), atol=1e-6) or np.linalg.det(f) < 0:
        raise ConfigError("the symmetry frame must be a proper rotation matrix")
    c = np.asarray(centre_xyz, dtype=np.float64).reshape(3)
    out = []
    for s in standard_rotations(group):
        r = f @ s @ f.T
        out.append(RigidTransform(r, c - r @ c))
    return out


def symmetry_mates(
    placement: RigidTransform, operators: list[RigidTransform]
) -> list[RigidTransform]:
    """The placements ``g ∘ placement`` for every operator ``g`` (same order as ``operators``)."""
    return [g.compose(placement) for g in operators]


@dataclass(frozen=True, eq=False)
class EquivalentFits:
    """Fits grouped by symmetry equivalence.

    Attributes
    ----------
    labels : (n,) int array
        Class of every fit (numbered in visiting order, best first); -1 for fits not visited.
    operator_index : (n,) int array
        Index of the operator taking the class's leader onto the fit (0 = identity); -1 unvisited.
    leaders : (k,) int array
        Fit index of each class's leader (its best fit).
    copies : (k,) int array
        Distinct copies found in each class: the number of different operators among its fits
        (``<= group order``).
    n_operators : int
        The group order the copies are counted against.
    """

    labels: np.ndarray
    operator_index: np.ndarray
    leaders: np.ndarray
    copies: np.ndarray
    n_operators: int


def label_equivalent_fits(
    rotations: np.ndarray,
    centres_xyz: np.ndarray,
    operators: list[RigidTransform],
    *,
    shift_tolerance: float,
    angle_tolerance_deg: float,
    order: np.ndarray | None = None,
) -> EquivalentFits:
    """Label fits that are the same solution up to a group operator; count copies per class.

    Fits are visited best first (``order``, default 0..n-1, as in
    :func:`difffit.clustering.cluster_poses`); a fit joins the first class whose leader some
    operator ``g`` takes within ``shift_tolerance`` Å of its placed centre
    (``|g(c_leader) - c_fit|``) and ``angle_tolerance_deg`` of its rotation
    (angle of ``R_g R_leader R_fitᵀ``); otherwise it leads a new class.

    Parameters
    ----------
    rotations : (n, 3, 3) array
        Rotation of each fit (``x' = R x + t``).
    centres_xyz : (n, 3) array, Å
        Placed centre of the structure in each fit.
    operators : list of RigidTransform
        The group operators (:func:`group_operators`), identity included.
    """
    rot = np.asarray(rotations, dtype=np.float64).reshape(-1, 3, 3)
    cen = np.asarray(centres_xyz, dtype=np.float64).reshape(-1, 3)
    if len(rot) != len(cen):
        raise ConfigError(f"{len(rot)} rotations but {len(cen)} centres")
    if shift_tolerance < 0 or angle_tolerance_deg < 0:
        raise ConfigError("shift and angle tolerances must be >= 0")
    if not operators:
        raise ConfigError("no symmetry operators given (include the identity)")
    n = len(rot)
    visit = np.arange(n) if order is None else np.asarray(order, dtype=np.int64)
    op_r = np.array([g.rotation for g in operators])  # (m, 3, 3)
    op_t = np.array([g.translation for g in operators])  # (m, 3)
    cos_tol = math.cos(math.radians(angle_tolerance_deg))
    labels = np.full(n, -1, dtype=np.int64)
    op_idx = np.full(n, -1, dtype=np.int64)
    leaders: list[int] = []
    mate_c = np.empty((0, len(operators), 3))  # images of each leader's centre
    mate_r = np.empty((0, len(operators), 3, 3))  # images of each leader's rotation
    for i in visit:
        if leaders:
            d2 = ((mate_c - cen[i]) ** 2).sum(axis=2)  # (k, m)
            # cos of the angle of mate_r @ rot[i].T = (trace - 1) / 2
            tr = np.einsum("kmij,ij->km", mate_r, rot[i])
            hit = (d2 <= shift_tolerance**2) & ((tr - 1.0) / 2.0 >= cos_tol - 1e-12)
            ks, ms = np.nonzero(hit)
            if len(ks):
                j = int(np.lexsort((d2[ks, ms], ks))[0])  # first class, nearest mate
                labels[i], op_idx[i] = ks[j], ms[j]
                continue
        labels[i], op_idx[i] = len(leaders), 0
        leaders.append(int(i))
        mate_c = np.concatenate([mate_c, (cen[i] @ op_r.transpose(0, 2, 1) + op_t)[None]])
        mate_r = np.concatenate([mate_r, (op_r @ rot[i])[None]])
    copies = np.array(
        [len(np.unique(op_idx[labels == k])) for k in range(len(leaders))], dtype=np.int64
    )
    return EquivalentFits(
        labels, op_idx, np.asarray(leaders, dtype=np.int64), copies, len(operators)
    )
