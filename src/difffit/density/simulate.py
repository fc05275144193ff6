"""Density simulated from atoms.

Each heavy atom contributes a 3-D Gaussian of height proportional to its atomic number and
standard deviation ``σ = resolution / (π √2) ≈ 0.225 × resolution`` (the convention of
ChimeraX ``molmap``, so maps are comparable), cut off at 3 σ. The sum is sampled on a grid.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from difffit.density.map import DensityMap
from difffit.errors import ConfigError

__all__ = ["SIGMA_FACTOR", "simulate_map", "simulate_on_grid"]

SIGMA_FACTOR = 1.0 / (math.pi * math.sqrt(2.0))
_CUTOFF_SIGMAS = 3.0


@njit(cache=True)
def _splat(out, ijk, weights, sigma_vox, cutoff_vox):  # pragma: no cover - compiled
    nz, ny, nx = out.shape
    for a in range(ijk.shape[0]):
        ci, cj, ck = ijk[a, 0], ijk[a, 1], ijk[a, 2]
        i_lo = max(int(math.ceil(ci - cutoff_vox[0])), 0)
        i_hi = min(int(math.floor(ci + cutoff_vox[0])), nx - 1)
        j_lo = max(int(math.ceil(cj - cutoff_vox[1])), 0)
        j_hi = min(int(math.floor(cj + cutoff_vox[1])), ny - 1)
        k_lo = max(int(math.ceil(ck - cutoff_vox[2])), 0)
        k_hi = min(int(math.floor(ck + cutoff_vox[2])), nz - 1)
        w = weights[a]
        for k in range(k_lo, k_hi + 1):
            dz = (k - ck) / sigma_vox[2]
            ez = math.exp(-0.5 * dz * dz)
            for j in range(j_lo, j_hi + 1):
                dy = (j - cj) / sigma_vox[1]
                ezy = ez * math.exp(-0.5 * dy * dy)
                for i in range(i_lo, i_hi + 1):
                    dx = (i - ci) / sigma_vox[0]
                    out[k, j, i] += w * ezy * math.exp(-0.5 * dx * dx)


def _check_resolution(resolution: float) -> None:
    if not (isinstance(resolution, (int, float)) and math.isfinite(resolution) and resolution > 0):
        raise ConfigError(f"resolution must be a positive number of Å, got {resolution!r}")


def simulate_on_grid(
    xyz: np.ndarray, weights: np.ndarray, resolution: float, grid: DensityMap
) -> DensityMap:
    """Simulated density of atoms (n, 3) with ``weights`` (n,) on the grid of ``grid``.

    The values are normalised so that the maximum is 1 (0 everywhere when no atom is near).
    """
    _check_resolution(resolution)
    sigma = SIGMA_FACTOR * resolution
    out = np.zeros(grid.shape_zyx, dtype=np.float64)
    ijk = grid.world_to_grid(np.asarray(xyz, dtype=np.float64).reshape(-1, 3))
    sv = sigma / grid.voxel_size_xyz
    _splat(
        out,
        np.ascontiguousarray(ijk),
        np.asarray(weights, dtype=np.float64),
        sv,
        _CUTOFF_SIGMAS * sv,
    )
    mx = out.max()
    if mx > 0:
        out /= mx
    return grid.with_data(out.astype(np.float32))


def simulate_map(
    xyz: np.ndarray,
    weights: np.ndarray,
    resolution: float,
    *,
    voxel_size: float | None = None,
    padding: float | None = None,
) -> DensityMap:
    """Simulated density on a new cubic-voxel grid that encloses the atoms.

    Parameters
    ----------
    voxel_size : float, Å
        Grid spacing; ``resolution / 3`` by default (as ChimeraX molmap).
    padding : float, Å
        Margin around the atoms; 3 σ + 2 voxels by default.
    """
    _check_resolution(resolution)
    vs = float(voxel_size) if voxel_size is not None else resolution / 3.0
    if not (math.isfinite(vs) and vs > 0):
        raise ConfigError(f"voxel size must be a positive number of Å, got {voxel_size!r}")
    sigma = SIGMA_FACTOR * resolution
    pad = padding if padding is not None else _CUTOFF_SIGMAS * sigma + 2 * vs
    xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
    lo = np.floor((xyz.min(axis=0) - pad) / vs) * vs
    hi = xyz.max(axis=0) + pad
    shape_xyz = np.maximum(np.ceil((hi - lo) / vs).astype(int) + 1, 2)
    grid = DensityMap(np.zeros(shape_xyz[::-1], dtype=np.float32), np.full(3, vs), lo)
    return simulate_on_grid(xyz, weights, resolution, grid)
