"""Local refinement of a few poses against the unprepared map.

The search optimises a thresholded, smoothed copy of the map, good for reaching the right basin
but blurred; refinement moves each pose to the nearest maximum of the mean density at the atom
centres in the map itself (optionally lightly smoothed) — the criterion of ChimeraX ``fitmap``
in atoms mode — with small Adam steps decaying to zero.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from difffit.density.map import DensityMap
from difffit.fitting.optimise import Phase, VolumeSampler, optimise_placements

__all__ = ["refine_poses", "refinement_map"]


def refinement_map(density: DensityMap, smooth_sigma: float) -> DensityMap:
    """The map refinement samples: the input map, Gaussian-smoothed by ``smooth_sigma`` Å."""
    if smooth_sigma <= 0:
        return density
    sig = smooth_sigma / density.voxel_size_xyz[::-1]
    return density.with_data(ndimage.gaussian_filter(density.data, sig, mode="nearest"))


def refine_poses(
    density: DensityMap,
    atoms_xyz: np.ndarray,
    quat_wxyz: np.ndarray,
    shift: np.ndarray,
    *,
    n_steps: int,
    device: str,
    lr_shift: float = 0.1,
    lr_rotation: float = 0.002,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Refine poses (quaternions (k, 4), shifts (k, 3)) of centred atoms; returns (q, t, score)."""
    if len(quat_wxyz) == 0:
        return np.empty((0, 4)), np.empty((0, 3)), np.empty(0)
    scale = float(np.abs(density.data).max()) or 1.0
    norm = density.with_data(density.data / scale)
    sampler = VolumeSampler.from_map(norm, outside=0.0, device=device)
    res = optimise_placements(
        sampler,
        [Phase(np.asarray(atoms_xyz), n_steps)],
        quat_wxyz,
        shift,
        lr_shift=lr_shift,
        lr_rotation=lr_rotation,
    )
    return res.quat_wxyz, res.shift, res.score * scale
