"""Clashes between placed structures: heavy atoms of a candidate near a placed subunit's."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["clash_counts"]


def clash_counts(
    candidate_xyz: np.ndarray,
    placed_xyz: Sequence[np.ndarray],
    *,
    distance: float,
) -> np.ndarray:
    """Atoms of a candidate within ``distance`` Å of each placed subunit's atoms.

    Parameters
    ----------
    candidate_xyz : (n, 3) array, Å
    placed_xyz : sequence of (m_i, 3) arrays, Å
    distance : float, Å

    Returns
    -------
    (len(placed_xyz),) int array
        Number of candidate atoms whose nearest atom of subunit ``i`` is within ``distance``
        (an atom near two subunits counts for both).
    """
    cand = np.asarray(candidate_xyz, dtype=np.float64).reshape(-1, 3)
    out = np.zeros(len(placed_xyz), dtype=np.int64)
    if not len(placed_xyz) or not len(cand):
        return out
    tree = cKDTree(cand)
    lo, hi = cand.min(axis=0) - distance, cand.max(axis=0) + distance
    for i, xyz in enumerate(placed_xyz):
        xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
        near_box = np.all((xyz >= lo) & (xyz <= hi), axis=1)
        if not near_box.any():
            continue
        other = cKDTree(xyz[near_box])
        d, _ = other.query(tree.data, k=1, distance_upper_bound=distance)
        out[i] = int(np.isfinite(d).sum())
    return out
