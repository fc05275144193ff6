"""Zeroing of placed structures: the density that structures at their poses explain.

:func:`zero_fit` (one structure) and :func:`zero_placements` (several at once) simulate the
placed structures on the map's grid, at the resolution that best matches the map around them
(:func:`matched_resolution`), and apply :func:`difffit.density.zero.zero_density`. Pure compute.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from difffit import validate
from difffit.density.map import DensityMap
from difffit.density.simulate import SIGMA_FACTOR, simulate_on_grid
from difffit.density.zero import DEFAULT_RULE, ZeroResult, peak_value, zero_density
from difffit.errors import ConfigError
from difffit.geometry import RigidTransform
from difffit.structure import Structure

__all__ = ["MATCH_FACTORS", "matched_resolution", "simulate_placed", "zero_fit", "zero_placements"]

#: Multiples of the given resolution tried by :func:`matched_resolution`.
MATCH_FACTORS = (1.0, 1.25, 1.5, 1.75, 2.0, 2.5)


def simulate_placed(
    density: DensityMap,
    placed: Sequence[tuple[Structure, RigidTransform]],
    *,
    resolution: float,
) -> DensityMap:
    """Density simulated from structures at their poses, on the grid of ``density``.

    Parameters
    ----------
    density : DensityMap
        Gives the grid.
    placed : sequence of (Structure, RigidTransform)
        Each structure's input coordinates are moved by its transform (x' = R x + t).
    resolution : float, Å

    Returns
    -------
    DensityMap
        Normalised to a maximum of 1 (0 everywhere when no atom is near the box).
    """
    resolution = validate.positive("resolution", resolution)
    if not placed:
        raise ConfigError("nothing placed: give at least one (structure, transform)")
    xyz, weights = _placed_atoms(placed)
    return simulate_on_grid(xyz, weights, resolution, density)


def _placed_atoms(
    placed: Sequence[tuple[Structure, RigidTransform]],
) -> tuple[np.ndarray, np.ndarray]:
    xyz = np.concatenate([tr.apply(st.coords_xyz) for st, tr in placed])
    weights = np.concatenate([st.atomic_numbers.astype(np.float64) for st, _ in placed])
    return xyz, weights


def _crop_around(density: DensityMap, xyz: np.ndarray, pad: float) -> DensityMap | None:
    """The part of ``density`` within ``pad`` Å of the atoms' bounding box (None if outside)."""
    ijk = density.world_to_grid(xyz)
    vs = density.voxel_size_xyz
    lo = np.maximum(np.floor(ijk.min(axis=0) - pad / vs).astype(int), 0)
    hi = np.minimum(
        np.ceil(ijk.max(axis=0) + pad / vs).astype(int), np.array(density.shape_xyz) - 1
    )
    if np.any(hi - lo < 1):
        return None
    data = density.data[lo[2] : hi[2] + 1, lo[1] : hi[1] + 1, lo[0] : hi[0] + 1]
    return DensityMap(data, vs, density.grid_to_world(lo))


def matched_resolution(
    density: DensityMap,
    placed: Sequence[tuple[Structure, RigidTransform]],
    *,
    resolution: float,
    factors: Sequence[float] = MATCH_FACTORS,
) -> float:
    """The resolution at which the placed structures' simulated density best matches the map.

    Maps are often blurrier than their nominal resolution (B-factors, flexible surface). Of
    ``resolution × factors``, the one whose simulated map has the highest Pearson correlation
    with the map over the structure's envelope at the given resolution (simulated values >=
    0.1 of the peak, i.e. close to the placed atoms, where neighbours contribute little) is
    returned, so that the zeroing rules compare map values with a prediction of the same
    blur.

    Returns
    -------
    float, Å
        ``resolution`` itself when the structures are outside the map or nothing correlates.
    """
    resolution = validate.positive("resolution", resolution)
    xyz, weights = _placed_atoms(placed)
    pad = 3.0 * SIGMA_FACTOR * resolution * max(factors) + 2.0 * float(density.voxel_size_xyz.max())
    box = _crop_around(density, xyz, pad)
    if box is None:
        return resolution
    base = simulate_on_grid(xyz, weights, resolution, box).data
    ref = peak_value(base)
    if ref <= 0:
        return resolution
    region = base >= 0.1 * ref
    if region.sum() < 10:
        return resolution
    m = box.data[region].astype(np.float64)
    if m.std() == 0:
        return resolution
    best, best_r = resolution, -np.inf
    for f in factors:
        res_f = resolution * float(f)
        s = base if f == 1.0 else simulate_on_grid(xyz, weights, res_f, box).data
        sv = s[region].astype(np.float64)
        if sv.std() == 0:
            continue
        r = float(np.corrcoef(sv, m)[0, 1])
        if r > best_r:
            best, best_r = res_f, r
    return float(best)


def zero_placements(
    density: DensityMap,
    placed: Sequence[tuple[Structure, RigidTransform]],
    *,
    resolution: float,
    rule: str = DEFAULT_RULE,
    match_resolution: bool = True,
    **options: Any,
) -> ZeroResult:
    """Zero the density explained by several placed structures at once.

    Parameters
    ----------
    density : DensityMap
    placed : sequence of (Structure, RigidTransform)
    resolution : float, Å
    rule : str
        See :data:`difffit.density.zero.RULES`.
    match_resolution : bool
        Simulate at :func:`matched_resolution` (the blur that best matches the map around the
        structures) instead of ``resolution``.
    **options
        Go to :func:`~difffit.density.zero.zero_density` (``envelope``, ``core``,
        ``dominance``, ``erode_voxels``, ``fill``, ``scale``).

    Returns
    -------
    ZeroResult
        ``options`` also records ``resolution`` (given) and ``simulated_resolution`` (used).
    """
    resolution = validate.positive("resolution", resolution)
    if not isinstance(match_resolution, bool):
        raise ConfigError(f"match_resolution must be True or False, got {match_resolution!r}")
    if not placed:
        raise ConfigError("nothing placed: give at least one (structure, transform)")
    sim_res = (
        matched_resolution(density, placed, resolution=resolution)
        if match_resolution
        else resolution
    )
    sim = simulate_placed(density, placed, resolution=sim_res)
    res = zero_density(density, sim, rule=rule, **options)
    opts = {**res.options, "resolution": resolution, "simulated_resolution": sim_res}
    return dataclasses.replace(res, options=opts)


def zero_fit(
    density: DensityMap,
    structure: Structure,
    transform: RigidTransform,
    *,
    resolution: float,
    rule: str = DEFAULT_RULE,
    match_resolution: bool = True,
    **options: Any,
) -> ZeroResult:
    """Zero the density explained by one structure placed at ``transform``.

    Simulates the placed structure on the map's grid (at the resolution that best matches the
    map around it, see :func:`matched_resolution`, unless ``match_resolution=False``) and
    applies :func:`~difffit.density.zero.zero_density` with ``rule`` and ``options``. The input map is
    untouched; ``result.map`` is the new map and ``result.removed`` what was taken away.

    Parameters
    ----------
    density : DensityMap
    structure : Structure
        In its input frame.
    transform : RigidTransform
        Input coordinates -> map (``ClusterHit.transform``, or a row of ``clusters.csv``).
    resolution : float, Å
        Resolution of the simulated density (the map's resolution).
    rule : str
        See :data:`difffit.density.zero.RULES`.
    match_resolution : bool
    **options
        As :func:`zero_placements`.

    Example
    -------
    >>> hit = result.best()                                    # doctest: +SKIP
    >>> z = zero_fit(density, chain_a, hit.transform, resolution=3.2)  # doctest: +SKIP
    >>> z.map, z.n_voxels_zeroed, z.removed                    # doctest: +SKIP
    """
    if not isinstance(structure, Structure):
        raise ConfigError("structure must be a difffit Structure")
    if not isinstance(transform, RigidTransform):
        raise ConfigError("transform must be a difffit RigidTransform")
    return zero_placements(
        density, [(structure, transform)], resolution=resolution, rule=rule,
        match_resolution=match_resolution, **options,
    )  # fmt: skip
