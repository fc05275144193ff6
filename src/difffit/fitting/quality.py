"""Fit-quality metrics of placed structures in a map.

For a structure at pose ``(R, t)`` (acting on its centred heavy atoms):

* ``density`` — mean map value at the atom centres (ChimeraX fitmap's "average map value");
* ``inside`` — fraction of atoms at or above the contour level;
* against a map simulated from the structure at the resolution (:mod:`difffit.density.simulate`),
  taken at the simulated grid points ``s_j`` at or above ``envelope × max`` and compared with the
  map values ``m_j`` at the same (transformed) points — as ChimeraX fitmap does in map mode:

  - ``overlap`` — mean of ``s_j m_j``;
  - ``correlation`` — ``Σ s m / (|s| |m|)`` (about zero);
  - ``cam`` — correlation about the mean (Pearson's r).

Map values are taken relative to the map's background ``b`` (``background``; the median voxel
value, :func:`difffit.density.prepare.background_value`): ``m = map - b``, and points beyond
the box take the background (``m = 0``). So ``density``, ``overlap`` and ``correlation`` do not
change when a constant is added to the map (``cam`` and ``inside`` never do), and for a map
whose background is 0 (those of ``../shared/data``) they are the plain values. The simulation's
resolution, when none is given, is :func:`default_resolution` of the map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from difffit.density.map import DensityMap
from difffit.density.simulate import simulate_map
from difffit.kernels import corr_stats

__all__ = ["METRICS", "SimulatedProbe", "default_resolution", "quality_metrics"]

METRICS = ("density", "overlap", "correlation", "cam", "inside")


def default_resolution(density: DensityMap) -> float:
    """2 × the largest voxel size (Nyquist): the resolution (Å) assumed when none is given."""
    return round(2.0 * float(density.voxel_size_xyz.max()), 3)


@dataclass(frozen=True, eq=False)
class SimulatedProbe:
    """The envelope points of a structure's simulated map, in the structure's centred frame."""

    xyz: np.ndarray  # (m, 3) Å
    values: np.ndarray  # (m,)
    resolution: float

    @classmethod
    def from_atoms(
        cls,
        xyz_centred: np.ndarray,
        atomic_numbers: np.ndarray,
        *,
        resolution: float,
        voxel_size: float,
        envelope: float,
    ) -> SimulatedProbe:
        sim = simulate_map(
            xyz_centred, atomic_numbers.astype(np.float64), resolution, voxel_size=voxel_size
        )
        mask = sim.data >= envelope * float(sim.data.max())
        return cls(sim.voxel_centres_xyz(mask), sim.data[mask].astype(np.float64), resolution)

    def subsample(self, max_points: int) -> SimulatedProbe:
        """At most ``max_points`` of the points, evenly spaced in their (grid) order."""
        n = len(self.values)
        if n <= max_points:
            return self
        idx = np.linspace(0, n - 1, max_points).round().astype(np.int64)
        return SimulatedProbe(self.xyz[idx], self.values[idx], self.resolution)


def quality_metrics(
    density: DensityMap,
    level: float,
    atoms_xyz: np.ndarray,
    probe: SimulatedProbe,
    rot: np.ndarray,
    shift: np.ndarray,
    *,
    background: float = 0.0,
) -> dict[str, np.ndarray]:
    """Metrics (see module doc) for placements ``rot`` (P, 3, 3), ``shift`` (P, 3), relative
    to the map's ``background`` (map units)."""
    rot = np.asarray(rot, dtype=np.float64).reshape(-1, 3, 3)
    shift = np.asarray(shift, dtype=np.float64).reshape(-1, 3)
    vol, org, vs = density.data, density.origin_xyz, density.voxel_size_xyz
    if background != 0.0:
        vol = (vol.astype(np.float64) - background).astype(np.float32)
        level = level - background
    a = corr_stats(vol, atoms_xyz, np.zeros(len(atoms_xyz)), rot, shift, org, vs, level)
    n_at = float(len(atoms_xyz))
    s = corr_stats(vol, probe.xyz, probe.values, rot, shift, org, vs, level)
    n = float(len(probe.values))
    sum_s = float(probe.values.sum())
    sum_ss = float((probe.values**2).sum())
    sum_m, sum_mm, sum_sm = s[:, 0], s[:, 1], s[:, 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = sum_sm / np.sqrt(sum_ss * sum_mm)
        cov = sum_sm - sum_s * sum_m / n
        var_s = sum_ss - sum_s**2 / n
        var_m = sum_mm - sum_m**2 / n
        cam = cov / np.sqrt(var_s * var_m)
    # a placement with no density under it has no defined correlation: report 0, not NaN
    corr = np.where(np.isfinite(corr), corr, 0.0)
    cam = np.where(np.isfinite(cam), cam, 0.0)
    return {
        "density": a[:, 0] / n_at,
        "overlap": sum_sm / n,
        "correlation": corr,
        "cam": cam,
        "inside": a[:, 3] / n_at,
    }
