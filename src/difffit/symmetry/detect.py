"""Point-group symmetry of a density map: detection and checking, by self-correlation.

The measure (pinned by ``tests/test_symmetry_detect.py``):

* **Working map.** Voxels at or above the contour level (Otsu's automatic level by default,
  :func:`difffit.density.prepare.auto_level`) keep ``value - level``, the rest 0; the box is
  cropped to that footprint, band-passed (Gaussian σ = 0.6 h minus the envelope, Gaussian
  σ = 1.8 h) and resampled on a cubic grid of spacing
  ``h = max(voxel, resolution / 2, footprint extent / 40)`` Å, so that a map of any size is
  searched on about 40 voxels across its footprint.
* **Self-correlation of an operator** ``g`` (``x' = R (x - c) + c``): Pearson's correlation,
  over up to 4000 footprint points ``p`` of the working map (a seeded subsample), between the
  working map at ``p`` and at ``g(p)`` (0 outside the box). 1 for an exact symmetry; a rotation
  that is not one gives much less.
* **Acceptance.** A group holds when the smallest self-correlation of its non-identity operators
  is at least :data:`ACCEPT_CC` and its contrast to a control rotation that is not in the group
  (half the smallest angle of the principal axis, about it), ``(min - control) / (1 -
  control)``, at least :data:`ACCEPT_CONTRAST` (both calibrated on the real maps of
  ``../shared/data``: docs/symmetry.md).

The search: the n-fold rotations (n = 2 .. ``max_order``) about ~2300 axis directions (3°
apart over a hemisphere), about each centre candidate (the centre of mass of the footprint
density and the box centre); the best axes of each order are refined (axis and centre, Nelder-
Mead); the highest order that holds is the principal axis; then ``T``/``O``/``I`` (principal
order 3/4/5) and ``Dn`` are tried by a scan of the frame about the principal axis and a refine.
The largest group that holds is the answer; ``C1`` ("no symmetry") when no axis holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numba import njit, prange
from scipy import ndimage, optimize

from difffit.density.map import DensityMap
from difffit.density.prepare import auto_level
from difffit.errors import ConfigError
from difffit.geometry import RigidTransform
from difffit.symmetry.groups import (
    PointGroup,
    axis_angle_matrix,
    frame_from_axes,
    group_operators,
    parse_group,
    standard_rotations,
)

__all__ = [
    "ACCEPT_CC",
    "ACCEPT_CONTRAST",
    "GroupCheck",
    "OperatorScore",
    "SymmetryResult",
    "check_symmetry",
    "detect_symmetry",
    "operator_correlations",
    "working_map",
]

#: Smallest self-correlation that every operator of an accepted group reaches. Calibrated on the
#: real maps (docs/symmetry.md): true operators of HCN4 (C4) and GroEL (D7) give >= 0.85, the best
#: false axis of the asymmetric maps <= 0.62.
ACCEPT_CC = 0.6
#: Smallest contrast ``(min - control) / (1 - control)`` of an accepted group: true groups of the
#: real maps give >= 0.78, the best false axes <= 0.35 (docs/symmetry.md).
ACCEPT_CONTRAST = 0.6

_FASTMATH = {"nnan", "ninf", "nsz", "arcp", "afn", "contract"}
_N_ACROSS = 40
_MAX_POINTS = 4000
_DIR_SPACING_DEG = 3.0
_ENVELOPE_SIGMA_FACTOR = 3.0  # the envelope: the footprint density blurred 3x more
_PARALLEL_MIN = 64  # rotations per call from which the parallel kernel pays


# ---------------------------------------------------------------------------- kernel
@njit(inline="always", fastmath=_FASTMATH)
def _one_corr(vol, pts, vals, r, cx, cy, cz, tx, ty, tz, mean_a, var_a):  # pragma: no cover
    """Pearson correlation of ``vals`` with ``vol`` sampled at ``R (p - c) + c + t``."""
    nz, ny, nx = vol.shape
    n = pts.shape[0]
    sb = 0.0
    sbb = 0.0
    sab = 0.0
    for a in range(n):
        x = pts[a, 0] - cx
        y = pts[a, 1] - cy
        z = pts[a, 2] - cz
        fi = r[0, 0] * x + r[0, 1] * y + r[0, 2] * z + cx + tx
        fj = r[1, 0] * x + r[1, 1] * y + r[1, 2] * z + cy + ty
        fk = r[2, 0] * x + r[2, 1] * y + r[2, 2] * z + cz + tz
        b = 0.0
        if fi >= 0.0 and fj >= 0.0 and fk >= 0.0 and fi <= nx - 1 and fj <= ny - 1 and fk <= nz - 1:
            i0 = min(int(fi), nx - 2)
            j0 = min(int(fj), ny - 2)
            k0 = min(int(fk), nz - 2)
            u = fi - i0
            v = fj - j0
            w = fk - k0
            c00 = vol[k0, j0, i0] * (1 - u) + vol[k0, j0, i0 + 1] * u
            c01 = vol[k0, j0 + 1, i0] * (1 - u) + vol[k0, j0 + 1, i0 + 1] * u
            c10 = vol[k0 + 1, j0, i0] * (1 - u) + vol[k0 + 1, j0, i0 + 1] * u
            c11 = vol[k0 + 1, j0 + 1, i0] * (1 - u) + vol[k0 + 1, j0 + 1, i0 + 1] * u
            b = (c00 * (1 - v) + c01 * v) * (1 - w) + (c10 * (1 - v) + c11 * v) * w
        sb += b
        sbb += b * b
        sab += vals[a] * b
    mean_b = sb / n
    var_b = sbb - n * mean_b * mean_b
    den = math.sqrt(max(var_a, 0.0) * max(var_b, 0.0))
    return (sab - n * mean_a * mean_b) / den if den > 1e-30 else 0.0


@njit(inline="always")
def _stats(vals):  # pragma: no cover - compiled
    n = vals.shape[0]
    sa = 0.0
    saa = 0.0
    for a in range(n):
        sa += vals[a]
        saa += vals[a] * vals[a]
    mean_a = sa / n
    return mean_a, saa - n * mean_a * mean_a


@njit(cache=True, fastmath=_FASTMATH, parallel=True)
def _nb_self_corr(vol, pts, vals, rot, centre, shift, out):  # pragma: no cover - compiled
    """Self-correlation per rotation ``rot[m]`` about ``centre[m]`` then ``shift[m]`` (grid
    units), in parallel."""
    mean_a, var_a = _stats(vals)
    for m in prange(rot.shape[0]):
        out[m] = _one_corr(vol, pts, vals, rot[m], centre[m, 0], centre[m, 1], centre[m, 2],
                           shift[m, 0], shift[m, 1], shift[m, 2], mean_a, var_a)  # fmt: skip


@njit(cache=True, fastmath=_FASTMATH)
def _nb_self_corr_serial(vol, pts, vals, rot, centre, shift, out):  # pragma: no cover - compiled
    """As :func:`_nb_self_corr`, one thread (small batches: no parallel start-up cost)."""
    mean_a, var_a = _stats(vals)
    for m in range(rot.shape[0]):
        out[m] = _one_corr(vol, pts, vals, rot[m], centre[m, 0], centre[m, 1], centre[m, 2],
                           shift[m, 0], shift[m, 1], shift[m, 2], mean_a, var_a)  # fmt: skip


# ---------------------------------------------------------------------------- working map
@dataclass(frozen=True, eq=False)
class WorkingMap:
    """The map as searched: a blurred, thresholded copy on a cubic grid, and its sample points.

    Attributes
    ----------
    volume : (nz, ny, nx) float32 array
        ``max(value - level, 0)`` blurred and resampled; indexed [z, y, x].
    voxel : float, Å
        Cubic grid spacing.
    origin_xyz : (3,) array, Å
        World position of ``volume[0, 0, 0]``.
    points_ijk : (p, 3) float64 array
        Grid coordinates (i, j, k) of the sample points (footprint voxels).
    values : (p,) float64 array
        ``volume`` at the points.
    level : float
        Contour level used.
    centre_of_mass_xyz, box_centre_xyz : (3,) arrays, Å
        The two centre candidates.
    """

    volume: np.ndarray
    voxel: float
    origin_xyz: np.ndarray
    points_ijk: np.ndarray
    values: np.ndarray
    level: float
    centre_of_mass_xyz: np.ndarray
    box_centre_xyz: np.ndarray

    def to_grid(self, xyz: np.ndarray) -> np.ndarray:
        return (np.asarray(xyz, dtype=np.float64) - self.origin_xyz) / self.voxel

    @property
    def radius(self) -> float:
        """Largest distance (Å) of a sample point from the centre of mass."""
        d = self.points_ijk - self.to_grid(self.centre_of_mass_xyz)
        return float(np.sqrt((d * d).sum(axis=1).max()) * self.voxel)


def working_map(
    density: DensityMap,
    *,
    level: float | None = None,
    resolution: float | None = None,
    max_points: int = _MAX_POINTS,
    voxel: float | None = None,
) -> WorkingMap:
    """The thresholded, band-passed, resampled map that the self-correlations are computed on.

    ``voxel`` (Å) replaces the footprint-extent rule of the grid spacing (it stays at least the
    map's voxel and resolution / 2).
    """
    data = density.data
    if level is None:
        level = auto_level(density)
    level = float(level)
    if not level < float(data.max()):
        raise ConfigError(
            f"level {level:g} is at or above the map maximum {float(data.max()):g}: "
            "nothing is inside the contour (lower --level)"
        )
    if resolution is not None and not (math.isfinite(resolution) and resolution > 0):
        raise ConfigError(f"resolution must be a positive number of Å, got {resolution!r}")
    mask = data >= level
    idx = np.nonzero(mask)
    if len(idx[0]) < 10:
        raise ConfigError(f"fewer than 10 voxels at or above level {level:g}: lower --level")
    vs = density.voxel_size_xyz  # x, y, z
    lo_zyx = np.array([int(i.min()) for i in idx])
    hi_zyx = np.array([int(i.max()) for i in idx])
    extent = float(((hi_zyx - lo_zyx)[::-1] * vs).max())
    h = max(float(vs.min()), extent / _N_ACROSS if voxel is None else voxel,
            (resolution or 0.0) / 2.0)  # fmt: skip
    pad_zyx = np.ceil(3 * h / vs[::-1]).astype(int)
    lo = np.maximum(lo_zyx - pad_zyx, 0)
    hi = np.minimum(hi_zyx + pad_zyx + 1, np.array(data.shape))
    crop = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    g = np.where(mask[crop], data[crop] - level, 0.0).astype(np.float32)
    sigma_zyx = 0.6 * h / vs[::-1]
    blurred = ndimage.gaussian_filter(g, sigma_zyx, mode="constant", truncate=3.0)
    # remove the envelope (difference of Gaussians): an asymmetric complex whose overall shape
    # is nearly symmetric (an ellipsoid, a dumbbell) must not correlate through its shape alone
    blurred = blurred - ndimage.gaussian_filter(
        g, sigma_zyx * _ENVELOPE_SIGMA_FACTOR, mode="constant", truncate=3.0
    )
    origin_crop = density.grid_to_world(lo[::-1].astype(np.float64))
    span_xyz = (np.array(g.shape[::-1]) - 1) * vs
    n_xyz = np.maximum(np.floor(span_xyz / h).astype(int) + 1, 2)
    # working grid points in the crop's fractional (zyx) index space
    axes = [np.arange(n_xyz[a]) * h / vs[a] for a in range(3)]  # x, y, z
    kk, jj, ii = np.meshgrid(axes[2], axes[1], axes[0], indexing="ij")
    coords = np.stack([kk, jj, ii])
    vol = ndimage.map_coordinates(blurred, coords, order=1, mode="constant", cval=0.0)
    inside = ndimage.map_coordinates(mask[crop].astype(np.float32), coords, order=1) >= 0.5
    vol = np.ascontiguousarray(vol, dtype=np.float32)
    k, j, i = np.nonzero(inside)
    pts = np.stack([i, j, k], axis=1).astype(np.float64)
    if len(pts) < 10:  # a very thin footprint: take the brightest working voxels
        order = np.argsort(vol.ravel())[::-1][:200]
        k, j, i = np.unravel_index(order, vol.shape)
        pts = np.stack([i, j, k], axis=1).astype(np.float64)
    if len(pts) > max_points:
        rng = np.random.default_rng(0)
        pts = pts[np.sort(rng.choice(len(pts), max_points, replace=False))]
    vals = vol[pts[:, 2].astype(int), pts[:, 1].astype(int), pts[:, 0].astype(int)]
    weights = g.astype(np.float64)
    total = weights.sum()
    kz, jy, ix = np.indices(g.shape)
    com_idx = np.array([(ix * weights).sum(), (jy * weights).sum(), (kz * weights).sum()]) / total
    com = origin_crop + com_idx * vs
    box_centre = density.grid_to_world((np.array(density.shape_xyz) - 1) / 2.0)
    return WorkingMap(
        volume=vol,
        voxel=h,
        origin_xyz=origin_crop,
        points_ijk=pts,
        values=vals.astype(np.float64),
        level=level,
        centre_of_mass_xyz=com,
        box_centre_xyz=box_centre,
    )


def _corr(
    wm: WorkingMap,
    rots: np.ndarray,
    centres_xyz: np.ndarray,
    *,
    stride: int = 1,
    shifts_xyz: np.ndarray | None = None,
    points: np.ndarray | None = None,
) -> np.ndarray:
    """Self-correlation of ``x -> R (x - c) + c + t`` for rotations (m, 3, 3) about centres
    (m, 3) or (3,) with shifts (m, 3) Å (default 0), on every ``stride``-th sample point (or on
    the sample points of index ``points``)."""
    rots = np.ascontiguousarray(np.asarray(rots, dtype=np.float64).reshape(-1, 3, 3))
    c = np.broadcast_to(wm.to_grid(centres_xyz), (len(rots), 3))
    t = np.zeros((len(rots), 3)) if shifts_xyz is None else np.broadcast_to(
        np.asarray(shifts_xyz, dtype=np.float64) / wm.voxel, (len(rots), 3)
    )  # fmt: skip
    out = np.empty(len(rots))
    kernel = _nb_self_corr if len(rots) >= _PARALLEL_MIN else _nb_self_corr_serial
    sel = slice(None, None, stride) if points is None else points
    pts = np.ascontiguousarray(wm.points_ijk[sel])
    vals = np.ascontiguousarray(wm.values[sel])
    kernel(wm.volume, pts, vals, rots, np.ascontiguousarray(c), np.ascontiguousarray(t), out)
    return out


def _rotations(axes: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Rodrigues: rotations (m, 3, 3) about unit axes (m, 3) by angles (m,) rad."""
    u = axes / np.linalg.norm(axes, axis=1, keepdims=True)
    k = np.zeros((len(u), 3, 3))
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -u[:, 2], u[:, 1], -u[:, 0]
    k[:, 1, 0], k[:, 2, 0], k[:, 2, 1] = u[:, 2], -u[:, 1], u[:, 0]
    s, c = np.sin(angles)[:, None, None], np.cos(angles)[:, None, None]
    return np.eye(3) + s * k + (1 - c) * (k @ k)


def _hemisphere(spacing_deg: float) -> np.ndarray:
    """Unit vectors (n, 3) with z >= 0 about ``spacing_deg`` apart (Fibonacci lattice)."""
    n_sphere = max(int(round(4 * math.pi / math.radians(spacing_deg) ** 2 / 0.866)), 20)
    i = np.arange(n_sphere) + 0.5
    z = 1 - 2 * i / n_sphere
    phi = math.pi * (3 - math.sqrt(5)) * i
    r = np.sqrt(1 - z * z)
    d = np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)
    return d[d[:, 2] >= 0]


# ---------------------------------------------------------------------------- results
@dataclass(frozen=True)
class OperatorScore:
    """One operator of a group and its self-correlation.

    ``order`` and ``axis_xyz``: the rotation is ``2π k / order`` about ``axis_xyz`` (unit) through
    the centre, ``angle_deg`` its angle in (0, 180].
    """

    transform: RigidTransform
    axis_xyz: tuple[float, float, float]
    angle_deg: float
    correlation: float


@dataclass(frozen=True)
class GroupCheck:
    """A group tested on the map: its frame, centre, operator scores and the verdict."""

    group: PointGroup
    frame: np.ndarray
    centre_xyz: np.ndarray
    operators: tuple[OperatorScore, ...]  # the non-identity operators
    control_correlation: float
    control_description: str
    threshold: float

    @property
    def min_correlation(self) -> float:
        return min((o.correlation for o in self.operators), default=1.0)

    @property
    def mean_correlation(self) -> float:
        return float(np.mean([o.correlation for o in self.operators])) if self.operators else 1.0

    @property
    def contrast(self) -> float:
        """``(min - control) / (1 - control)``: where the worst operator lies between the
        control rotation's correlation (0) and a perfect match (1)."""
        ctrl = min(self.control_correlation, 0.999)
        return (self.min_correlation - ctrl) / (1.0 - ctrl)

    @property
    def holds(self) -> bool:
        return self.min_correlation >= self.threshold and self.contrast >= ACCEPT_CONTRAST

    @property
    def axes(self) -> list[tuple[int, np.ndarray]]:
        """The distinct symmetry axes ``(order, unit direction)``, highest order first."""
        return group_axes(self.group, self.frame)

    def to_dict(self) -> dict:
        """Plain data (JSON-ready): group, copies, verdict, centre, frame, axes, operators."""
        return {
            "group": self.group.name,
            "copies": self.group.order,
            "holds": bool(self.holds),
            "threshold": self.threshold,
            "min_correlation": round(self.min_correlation, 4),
            "contrast": round(self.contrast, 4),
            "mean_correlation": round(self.mean_correlation, 4),
            "centre_xyz": [round(float(v), 3) for v in self.centre_xyz],
            "frame": [[round(float(v), 6) for v in row] for row in self.frame],
            "axes": [
                {"order": o, "direction_xyz": [round(float(v), 5) for v in u]} for o, u in self.axes
            ],
            "operators": [
                {
                    "axis_xyz": [round(v, 5) for v in o.axis_xyz],
                    "angle_deg": round(o.angle_deg, 3),
                    "correlation": round(o.correlation, 4),
                    "matrix_3x4": [
                        [round(float(v), 6) for v in row] for row in o.transform.to_matrix_3x4()
                    ],
                }
                for o in self.operators
            ],
            "control": {
                "rotation": self.control_description,
                "correlation": round(self.control_correlation, 4),
            },
        }


@dataclass(frozen=True)
class SymmetryResult:
    """What :func:`detect_symmetry` found.

    Attributes
    ----------
    group : PointGroup
        The largest group that holds; ``C1`` when none does ("no symmetry").
    best : GroupCheck or None
        Its check (``None`` for C1).
    candidates : tuple of GroupCheck
        Every group tested in the final stage (held or not), largest first: shows e.g. the
        pseudo-symmetry that just fails.
    level : float
    working_voxel : float, Å
    centre_candidates_xyz : dict of str to (3,) array
    """

    group: PointGroup
    best: GroupCheck | None
    candidates: tuple[GroupCheck, ...]
    level: float
    working_voxel: float
    centre_candidates_xyz: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def copies(self) -> int:
        return self.group.order

    @property
    def has_symmetry(self) -> bool:
        return self.group.order > 1

    def to_dict(self) -> dict:
        """Plain data (JSON-ready) of the whole detection."""
        return {
            "group": self.group.name,
            "copies": self.copies,
            "has_symmetry": self.has_symmetry,
            "level": round(self.level, 6),
            "working_voxel_A": round(self.working_voxel, 4),
            "threshold": self.best.threshold
            if self.best
            else (self.candidates[0].threshold if self.candidates else None),
            "centre_candidates_xyz": {
                k: [round(float(v), 3) for v in c] for k, c in self.centre_candidates_xyz.items()
            },
            "best": self.best.to_dict() if self.best else None,
            "candidates": [c.to_dict() for c in self.candidates],
        }


# ---------------------------------------------------------------------------- checks
def group_axes(group: str | PointGroup, frame: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Distinct rotation axes ``(order, unit direction in world)`` of ``group`` in ``frame``."""
    g = parse_group(group)
    out: list[tuple[int, np.ndarray]] = []
    for s in standard_rotations(g)[1:]:
        ang = math.acos(max(-1.0, min(1.0, (np.trace(s) - 1) / 2)))
        w = np.array([s[2, 1] - s[1, 2], s[0, 2] - s[2, 0], s[1, 0] - s[0, 1]])
        if np.linalg.norm(w) < 1e-6:  # 180°: axis from (S + I) / 2
            m = (s + np.eye(3)) / 2
            w = m[np.argmax(np.linalg.norm(m, axis=0))]
        u = w / np.linalg.norm(w)
        order = int(round(2 * math.pi / ang))
        u = frame @ u
        for k, (o, v) in enumerate(out):
            if abs(float(u @ v)) > 1 - 1e-6:
                if order > o:
                    out[k] = (order, v)
                break
        else:
            out.append((order, u if u[np.argmax(np.abs(u))] > 0 else -u))
    out.sort(key=lambda t: -t[0])
    return out


def _rotation_axis_angle(r: np.ndarray) -> tuple[np.ndarray, float]:
    ang = math.acos(max(-1.0, min(1.0, (np.trace(r) - 1) / 2)))
    w = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
    if np.linalg.norm(w) < 1e-6:
        m = (r + np.eye(3)) / 2
        w = m[:, np.argmax(np.linalg.norm(m, axis=0))]
    return w / np.linalg.norm(w), math.degrees(ang)


def _control(group: PointGroup, frame: np.ndarray) -> tuple[np.ndarray, str]:
    """A rotation not in ``group``: half the smallest angle of its principal axis, about it."""
    n = group.n if group.kind != "T" else 3
    axis = frame @ group.principal_axis_std
    ang = 180.0 / n
    return axis_angle_matrix(axis, math.radians(ang)), f"{ang:g}° about the principal axis"


def _check(
    wm: WorkingMap, group: PointGroup, frame: np.ndarray, centre: np.ndarray, threshold: float
) -> GroupCheck:
    ops = group_operators(group, centre_xyz=centre, frame=frame)[1:]
    ctrl, ctrl_text = _control(group, frame)
    rots = np.array([o.rotation for o in ops] + [ctrl])
    cc = _corr(wm, rots, centre)
    scores = []
    for o, v in zip(ops, cc[:-1], strict=True):
        ax, ang = _rotation_axis_angle(o.rotation)
        axis3 = (float(ax[0]), float(ax[1]), float(ax[2]))
        scores.append(OperatorScore(o, axis3, ang, float(v)))
    return GroupCheck(group, frame, np.asarray(centre, dtype=np.float64), tuple(scores),
                      float(cc[-1]), ctrl_text, threshold)  # fmt: skip


def operator_correlations(
    density: DensityMap | WorkingMap,
    operators: list[RigidTransform],
    *,
    level: float | None = None,
    resolution: float | None = None,
) -> np.ndarray:
    """Self-correlation (n,) of each operator ``x' = R x + t`` on ``density``'s working map."""
    wm = density if isinstance(density, WorkingMap) else working_map(
        density, level=level, resolution=resolution
    )  # fmt: skip
    if not operators:
        return np.empty(0)
    rots = np.array([o.rotation for o in operators])
    shifts = np.array([o.translation for o in operators])
    return _corr(wm, rots, np.zeros(3), shifts_xyz=shifts)  # x' = R (x - 0) + 0 + t


def _refine(
    wm: WorkingMap, group: PointGroup, frame: np.ndarray, centre: np.ndarray, *, step_deg: float
) -> tuple[np.ndarray, np.ndarray]:
    """Frame and centre maximising the mean self-correlation of the group's operators.

    Nelder-Mead over a small rotation of the frame (in its own axes) and a shift of the centre;
    for ``Cn`` the rotation about the axis and the shift along it change nothing and are left
    out (4 parameters instead of 6). Groups of more than 12 operators are refined on the first
    12 (the generators and their first products).
    """
    std = standard_rotations(group)[1:13]
    cyclic = group.kind == "C"
    step_a = math.radians(step_deg)

    def build(x):
        w = np.array([x[0], x[1], 0.0 if cyclic else x[2]])
        d = np.array(
            [x[-3 if not cyclic else -2], x[-2 if not cyclic else -1], 0.0 if cyclic else x[-1]]
        )
        f = frame @ axis_angle_matrix(w, float(np.linalg.norm(w))) if np.any(w) else frame
        return f, centre + frame @ d * wm.voxel

    def cost(x):
        f, c = build(x)
        rots = np.einsum("ij,mjk,lk->mil", f, std, f)
        return -float(_corr(wm, rots, c).mean())

    dim = 4 if cyclic else 6
    n_ang = dim // 2
    simplex = np.vstack([np.zeros(dim), np.diag([step_a] * n_ang + [0.5] * n_ang)])
    res = optimize.minimize(
        cost,
        np.zeros(dim),
        method="Nelder-Mead",
        options={"initial_simplex": simplex, "xatol": 1e-3, "fatol": 1e-4, "maxfev": 100 * dim},
    )
    return build(res.x)


def _scan_about_axis(
    wm: WorkingMap, group: PointGroup, axis: np.ndarray, centre: np.ndarray, step_deg: float = 1.0
) -> np.ndarray:
    """The frame of ``group`` with principal ``axis`` whose rotation about it scores best."""
    base = frame_from_axes(group, axis)
    period = 2 * math.pi / group.n if group.kind != "D" else math.pi / group.n
    psis = np.arange(0.0, period, math.radians(step_deg))
    std = standard_rotations(group)[1:]
    frames = np.array([axis_angle_matrix(axis, p) @ base for p in psis])
    rots = np.einsum("pij,mjk,plk->pmil", frames, std, frames).reshape(-1, 3, 3)
    cc = _corr(wm, rots, centre).reshape(len(psis), len(std))
    return frames[int(np.argmax(cc.mean(axis=1)))]


def _check_after_refine(wm, group, frame, centre, threshold, step_deg=1.5):
    f, c = _refine(wm, group, frame, centre, step_deg=step_deg)
    chk = _check(wm, group, f, c, threshold)
    chk0 = _check(wm, group, frame, centre, threshold)
    return chk if chk.mean_correlation >= chk0.mean_correlation else chk0


def _polish(
    density: DensityMap, chk: GroupCheck, *, level: float, resolution: float | None
) -> GroupCheck:
    """``chk`` refined once more on up to 4x more sample points (the axes to a fraction of a
    degree); kept only if the operators correlate at least as well."""
    fine = working_map(density, level=level, resolution=resolution, max_points=4 * _MAX_POINTS)
    f, c = _refine(fine, chk.group, chk.frame, chk.centre_xyz, step_deg=0.5)
    out = _check(fine, chk.group, f, c, chk.threshold)
    before = _check(fine, chk.group, chk.frame, chk.centre_xyz, chk.threshold)
    return out if out.mean_correlation >= before.mean_correlation else before


def _axis_peaks(
    wm: WorkingMap, centre: np.ndarray, orders: range, dirs: np.ndarray, n_peaks: int
) -> list[tuple[int, np.ndarray, float]]:
    """Best axis directions per order (non-maximum suppression over 10°)."""
    out: list[tuple[int, np.ndarray, float]] = []
    all_axes = np.repeat(dirs, len(orders), axis=0)
    all_angles = np.tile(np.array([2 * math.pi / n for n in orders]), len(dirs))
    stride = max(1, len(wm.points_ijk) // (_MAX_POINTS // 2))
    cc = _corr(wm, _rotations(all_axes, all_angles), centre, stride=stride)
    cc = cc.reshape(len(dirs), len(orders))
    cos_sep = math.cos(math.radians(10.0))
    for col, n in enumerate(orders):
        ranked = np.argsort(cc[:, col])[::-1]
        kept: list[int] = []
        for i in ranked:
            if all(abs(float(dirs[i] @ dirs[j])) < cos_sep for j in kept):
                kept.append(int(i))
                if len(kept) == n_peaks:
                    break
        out.extend((n, dirs[i], float(cc[i, col])) for i in kept)
    return out


def detect_symmetry(
    density: DensityMap,
    *,
    level: float | None = None,
    resolution: float | None = None,
    max_order: int = 12,
    threshold: float = ACCEPT_CC,
) -> SymmetryResult:
    """Detect the point group of ``density`` (see the module docstring for the method).

    Parameters
    ----------
    level : float, optional
        Contour level (map units); Otsu's automatic level by default.
    resolution : float, Å, optional
        Map resolution: the working grid is at least resolution / 2.
    max_order : int
        Highest n of the n-fold axes searched (2 .. 60).
    threshold : float
        Smallest self-correlation of every operator of an accepted group.
    """
    if not 2 <= int(max_order) <= 60:
        raise ConfigError(f"max_order must be within 2 .. 60, got {max_order}")
    if not 0 < threshold < 1:
        raise ConfigError(f"threshold must be within (0, 1), got {threshold}")
    wm = working_map(density, level=level, resolution=resolution)
    orders = range(2, int(max_order) + 1)
    dirs = _hemisphere(_DIR_SPACING_DEG)
    centres = {"centre of mass": wm.centre_of_mass_xyz, "box centre": wm.box_centre_xyz}
    starts = [wm.centre_of_mass_xyz]
    if np.linalg.norm(wm.box_centre_xyz - wm.centre_of_mass_xyz) > wm.voxel:
        starts.append(wm.box_centre_xyz)
    # 1. axis candidates: peaks of the n-fold self-correlation over directions; on each axis the
    #    highest order whose unrefined operators all reach the floor is refined
    axes: list[GroupCheck] = []
    floor = threshold - 0.25
    for c0 in starts:
        peaks = _axis_peaks(wm, c0, orders, dirs, n_peaks=3)
        tried: list[np.ndarray] = []
        for _, u, _ in sorted(peaks, key=lambda p: -p[2]):
            if any(abs(float(u @ t)) > math.cos(math.radians(10.0)) for t in tried):
                continue
            tried.append(u)
            same = [p for p in peaks if abs(float(p[1] @ u)) > math.cos(math.radians(10.0))]
            for n, v, cc in sorted(same, key=lambda p: -p[0]):
                if cc < floor:
                    continue
                g = PointGroup("C", n)
                chk0 = _check(wm, g, frame_from_axes(g, v), c0, threshold)
                if chk0.min_correlation < floor:
                    continue
                chk = _check_after_refine(wm, g, chk0.frame, c0, threshold)
                axes.append(chk)
                if chk.holds:
                    break
            if len(tried) >= 4:
                break
        if not axes:  # nothing near the floor: refine the two best axes, to report them
            rough = [_check(wm, PointGroup("C", n), frame_from_axes(PointGroup("C", n), u), c0,
                            threshold) for n, u, _ in peaks]  # fmt: skip
            for chk0 in sorted(rough, key=lambda k: -k.min_correlation)[:2]:
                axes.append(_check_after_refine(wm, chk0.group, chk0.frame, c0, threshold))
        if any(a.holds for a in axes):
            break
    held = [a for a in axes if a.holds]
    checks: list[GroupCheck] = []
    if held:
        principal = max(held, key=lambda a: (a.group.n, a.mean_correlation))
        n = principal.group.n
        u = principal.frame[:, 2]
        c = principal.centre_xyz
        checks.append(principal)
        bigger = [PointGroup("D", n)]
        if n in (3, 4, 5):
            bigger.insert(0, PointGroup({3: "T", 4: "O", 5: "I"}[n], n))
        for g in bigger:
            f0 = _scan_about_axis(wm, g, u, c)
            checks.append(_check_after_refine(wm, g, f0, c, threshold, step_deg=1.0))
    else:
        checks.append(max(axes, key=lambda a: a.min_correlation))
    accepted = [k for k in checks if k.holds]
    checks.sort(key=lambda k: -k.group.order)
    if accepted:
        best = max(accepted, key=lambda k: (k.group.order, k.mean_correlation))
        best = _polish(density, best, level=wm.level, resolution=resolution)
        group = best.group
    else:
        best, group = None, PointGroup("C", 1)
    return SymmetryResult(
        group=group,
        best=best,
        candidates=tuple(checks),
        level=wm.level,
        working_voxel=wm.voxel,
        centre_candidates_xyz=centres,
    )


def check_symmetry(
    density: DensityMap,
    group: str | PointGroup,
    *,
    level: float | None = None,
    resolution: float | None = None,
    threshold: float = ACCEPT_CC,
) -> GroupCheck:
    """Does ``density`` have the user-given ``group``? The best placement of it and its scores.

    The group's frame is searched as in :func:`detect_symmetry` (the best principal axis, then
    the rotation about it) and refined; ``GroupCheck.holds`` is the verdict and
    ``min_correlation`` the evidence (e.g. "the map clearly does not have D7: the worst operator
    correlates 0.21").
    """
    g = parse_group(group)
    wm = working_map(density, level=level, resolution=resolution)
    c0 = wm.centre_of_mass_xyz
    if g.order == 1:
        return GroupCheck(g, np.eye(3), c0, (), 0.0, "none (C1)", threshold)
    dirs = _hemisphere(_DIR_SPACING_DEG)
    best: GroupCheck | None = None
    starts = [c0]
    if np.linalg.norm(wm.box_centre_xyz - c0) > wm.voxel:
        starts.append(wm.box_centre_xyz)
    for c in starts:
        if g.kind in "CD":
            peaks = _axis_peaks(wm, c, range(g.n, g.n + 1), dirs, n_peaks=3)
        else:  # the principal axes of T/O/I are 3/4/5-folds
            peaks = _axis_peaks(wm, c, range(g.n, g.n + 1), dirs, n_peaks=3)
        for _, u, _ in peaks:
            f0 = _scan_about_axis(wm, g, u, c) if g.kind != "C" else frame_from_axes(g, u)
            chk = _check_after_refine(wm, g, f0, c, threshold, step_deg=1.0)
            if best is None or chk.mean_correlation > best.mean_correlation:
                best = chk
    assert best is not None
    return _polish(density, best, level=wm.level, resolution=resolution)
