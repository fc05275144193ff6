"""Helical symmetry of a filament map: rise and twist, by self-correlation.

A helical operator is the screw ``x' = R(u, twist) (x - c) + c + rise · u`` about the filament
axis ``u`` through ``c``. Its self-correlation is measured as for the point groups
(:mod:`difffit.symmetry.detect`: the band-passed working map, Pearson's correlation), on the
sample points whose axial position leaves room for the largest rise searched, so that no point
is moved out of the filament.

The search: the axis is the footprint's longest principal axis through its centre of mass; the
rise is scanned from 4 working voxels to a third of the filament length in half-voxel steps and
the twist over (-180°, 180°] in 2° steps; the **smallest** rise whose best twist holds (the
subunit rise, not its multiples: a 2-start helix also correlates at twice the rise) is refined
with the axis and centre (Nelder-Mead). A hint (``rise``, ``twist``) skips the scan. It holds on
the thresholds of the point groups (:data:`~difffit.symmetry.detect.ACCEPT_CC`, and the contrast
to a control screw of the same rise with the twist turned by 180°).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from difffit.density.map import DensityMap
from difffit.errors import ConfigError
from difffit.geometry import RigidTransform
from difffit.symmetry.detect import (
    ACCEPT_CC,
    ACCEPT_CONTRAST,
    WorkingMap,
    _corr,
    _rotations,
    working_map,
)
from difffit.symmetry.groups import axis_angle_matrix

__all__ = ["HelicalResult", "detect_helical", "helical_operator"]


def helical_operator(
    axis_xyz: np.ndarray, centre_xyz: np.ndarray, rise: float, twist_deg: float, k: int = 1
) -> RigidTransform:
    """The screw ``k`` subunits along: ``R(u, k·twist) (x - c) + c + k·rise·u``."""
    u = np.asarray(axis_xyz, dtype=np.float64)
    u = u / np.linalg.norm(u)
    c = np.asarray(centre_xyz, dtype=np.float64)
    r = axis_angle_matrix(u, math.radians(k * twist_deg))
    return RigidTransform(r, c - r @ c + k * rise * u)


@dataclass(frozen=True)
class HelicalResult:
    """A helical symmetry tested on a map.

    Attributes
    ----------
    rise : float, Å
    twist_deg : float, degrees in (-180, 180]
    axis_xyz, centre_xyz : (3,) arrays
        Filament axis (unit; pointing so that the rise is positive) and a point on it (Å).
    correlation : float
        Self-correlation of the screw by one subunit.
    control_correlation : float
        Of the screw with the same rise and the twist turned by 180°.
    threshold : float
    """

    rise: float
    twist_deg: float
    axis_xyz: np.ndarray
    centre_xyz: np.ndarray
    correlation: float
    control_correlation: float
    threshold: float

    @property
    def contrast(self) -> float:
        ctrl = min(self.control_correlation, 0.999)
        return (self.correlation - ctrl) / (1.0 - ctrl)

    @property
    def holds(self) -> bool:
        return self.correlation >= self.threshold and self.contrast >= ACCEPT_CONTRAST

    @property
    def subunits_per_turn(self) -> float:
        return 360.0 / abs(self.twist_deg) if self.twist_deg else math.inf

    def operator(self, k: int = 1) -> RigidTransform:
        return helical_operator(self.axis_xyz, self.centre_xyz, self.rise, self.twist_deg, k)

    def to_dict(self) -> dict:
        return {
            "type": "helical",
            "holds": bool(self.holds),
            "rise_A": round(self.rise, 3),
            "twist_deg": round(self.twist_deg, 3),
            "axis_xyz": [round(float(v), 5) for v in self.axis_xyz],
            "centre_xyz": [round(float(v), 3) for v in self.centre_xyz],
            "correlation": round(self.correlation, 4),
            "control_correlation": round(self.control_correlation, 4),
            "contrast": round(self.contrast, 4),
            "threshold": self.threshold,
        }


def _axis_and_extent(wm: WorkingMap) -> tuple[np.ndarray, np.ndarray, float, float]:
    pts = wm.points_ijk * wm.voxel + wm.origin_xyz
    c = wm.centre_of_mass_xyz
    d = pts - c
    wt = np.clip(
        wm.values, 0.0, None
    )  # density-weighted: noise specks above the level count little
    w, v = np.linalg.eigh((d * wt[:, None]).T @ d)
    u = v[:, int(np.argmax(w))]
    u = u if u[np.argmax(np.abs(u))] > 0 else -u
    s = d @ u
    return u, c, float(s.min()), float(s.max())


def _screws(u: np.ndarray, rises: np.ndarray, twists_rad: np.ndarray):
    rots = _rotations(np.broadcast_to(u, (len(twists_rad), 3)).copy(), twists_rad)
    return rots, rises[:, None] * u[None, :]


def detect_helical(
    density: DensityMap,
    *,
    level: float | None = None,
    resolution: float | None = None,
    rise: float | None = None,
    twist_deg: float | None = None,
    max_rise: float | None = None,
    threshold: float = ACCEPT_CC,
) -> HelicalResult:
    """Rise and twist of a filament map (see the module docstring); a hint skips the scan.

    Parameters
    ----------
    rise, twist_deg : float, optional
        A starting guess (both or neither), refined.
    max_rise : float, Å, optional
        Largest rise scanned; a third of the filament length by default.
    """
    if (rise is None) != (twist_deg is None):
        raise ConfigError("give both the rise and the twist of the helical hint, or neither")
    if rise is not None and not rise > 0:
        raise ConfigError(f"the helical rise must be > 0 Å, got {rise}")
    coarse = working_map(density, level=level, resolution=resolution)
    u, c, _, _ = _axis_and_extent(coarse)
    # the grid follows the filament's cross-section (~30 voxels across), not its length
    for _ in range(2):  # the axis of the coarse map, then of the finer one
        d = coarse.points_ijk * coarse.voxel + coarse.origin_xyz - c
        wt = np.clip(coarse.values, 0.0, None)
        perp2 = ((d - np.outer(d @ u, u)) ** 2).sum(axis=1)
        r_perp = 2.0 * math.sqrt(float((perp2 * wt).sum() / max(wt.sum(), 1e-30)))
        coarse = working_map(density, level=coarse.level, resolution=resolution,
                             voxel=max(2 * r_perp / 30, coarse.voxel / 4))  # fmt: skip
        u, c, _, _ = _axis_and_extent(coarse)
    wm = coarse
    u, c, s_lo, s_hi = _axis_and_extent(wm)
    length = s_hi - s_lo
    r_max = float(max_rise) if max_rise else length / 3.0
    if rise is not None:
        r_max = max(r_max, 1.5 * rise)
    if r_max >= 0.8 * length:
        raise ConfigError(
            f"the filament is {length:.0f} Å long: too short for a rise of {r_max:.0f} Å"
        )
    pts = wm.points_ijk * wm.voxel + wm.origin_xyz
    s = (pts - c) @ u
    keep = np.flatnonzero(s <= s_hi - r_max)  # room for every rise: no point leaves the filament
    if len(keep) < 50:
        raise ConfigError("too few density points along the filament for a helical search")

    def corr(rises, twists_rad, axis, centre, points=keep):
        rots, shifts = _screws(axis, np.asarray(rises, float), np.asarray(twists_rad, float))
        return _corr(wm, rots, centre, shifts_xyz=shifts, points=points)

    if rise is None:
        rises = np.arange(4 * wm.voxel, r_max + 1e-9, wm.voxel / 2)
        twists = np.radians(np.arange(-178.0, 180.1, 2.0))
        rr, tt = np.meshgrid(rises, twists, indexing="ij")
        cc = corr(rr.ravel(), tt.ravel(), u, c, keep[:: max(1, len(keep) // 2000)])
        cc = cc.reshape(rr.shape)
        best_per_rise = cc.max(axis=1)
        # local maxima along the rise, smallest rise first (the subunit rise before its multiples)
        peaks = [
            i
            for i in range(len(rises))
            if best_per_rise[i] >= threshold - 0.25
            and (i == 0 or best_per_rise[i] >= best_per_rise[i - 1])
            and (i + 1 == len(rises) or best_per_rise[i] > best_per_rise[i + 1])
        ][:4]
        if not peaks:
            peaks = [int(np.argmax(best_per_rise))]
        starts = [(float(rises[i]), float(tt[i, int(np.argmax(cc[i]))])) for i in peaks]
    else:
        starts = [(float(rise), math.radians(float(twist_deg or 0.0)))]
    best: HelicalResult | None = None
    for rise0, tw0 in starts:
        res = _refine_screw(wm, u, c, rise0, tw0, keep, threshold)
        if res.holds:
            return _subunit(wm, res, keep, threshold)
        if best is None or res.correlation > best.correlation:
            best = res
    assert best is not None
    return best


def _subunit(wm: WorkingMap, res: HelicalResult, keep, threshold: float) -> HelicalResult:
    """The smallest screw of which ``res`` is a multiple: half the rise with half the twist (or
    half plus 180°) is tried, twice, and kept when it holds (a 2-start helix -> its 1-start)."""
    for _ in range(2):
        if res.rise / 2 < 2 * wm.voxel:
            break
        half = [
            _refine_screw(wm, res.axis_xyz, res.centre_xyz, res.rise / 2,
                          math.radians(res.twist_deg / 2 + extra), keep, threshold)
            for extra in (0.0, 180.0)
        ]  # fmt: skip
        ok = [h for h in half if h.holds]
        if not ok:
            break
        res = max(ok, key=lambda h: h.correlation)
    return res


def _refine_screw(wm, u, c, rise0, tw0, keep, threshold) -> HelicalResult:
    """Rise, twist, axis and centre refined from a start (Nelder-Mead, 6 parameters)."""

    def corr(rises, twists_rad, axis, centre):
        rots, shifts = _screws(axis, np.asarray(rises, float), np.asarray(twists_rad, float))
        return _corr(wm, rots, centre, shifts_xyz=shifts, points=keep)

    e1 = np.cross(u, [1.0, 0, 0] if abs(u[0]) < 0.9 else [0, 1.0, 0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(u, e1)

    def build(x):
        axis = u + x[2] * e1 + x[3] * e2
        axis /= np.linalg.norm(axis)
        return rise0 + x[0], tw0 + x[1], axis, c + (x[4] * e1 + x[5] * e2) * wm.voxel

    def cost(x):
        r, t, axis, centre = build(x)
        return -float(corr([r], [t], axis, centre)[0])

    simplex = np.vstack([np.zeros(6), np.diag([wm.voxel / 2, math.radians(2.0), 0.02, 0.02,
                                               0.5, 0.5])])  # fmt: skip
    res = optimize.minimize(cost, np.zeros(6), method="Nelder-Mead",
                            options={"initial_simplex": simplex, "xatol": 1e-4, "fatol": 1e-5,
                                     "maxfev": 800})  # fmt: skip
    r, t, axis, centre = build(res.x)
    if -res.fun < -cost(np.zeros(6)):
        r, t, axis, centre = build(np.zeros(6))
    val = float(corr([r], [t], axis, centre)[0])
    ctrl = float(corr([r], [t + math.pi], axis, centre)[0])
    tw = (math.degrees(t) + 180.0) % 360.0 - 180.0
    if tw == -180.0:
        tw = 180.0
    return HelicalResult(float(r), tw, axis, centre, val, ctrl, threshold)
