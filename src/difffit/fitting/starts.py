"""Starting placements: rotations spread over SO(3) × positions drawn from the footprint."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from difffit.geometry import quat_multiply, random_quaternions, uniform_quaternions
from difffit.kernels import nearest_points

__all__ = ["make_starts", "spread_positions"]


def spread_positions(
    points_xyz: np.ndarray, n: int, *, rng: np.random.Generator, n_iter: int = 10
) -> np.ndarray:
    """``n`` of the points, spread evenly: k-means centres snapped to the nearest point.

    k-means++ seeding (random, from ``rng``) and ``n_iter`` Lloyd iterations over the points
    give centres that tile the footprint evenly and sit inside it (random draws leave gaps and
    clumps; farthest-point sampling picks the rim first). Each centre is moved to its nearest
    footprint point. Points are repeated only when there are fewer than ``n``.
    """
    pts = np.asarray(points_xyz, dtype=np.float64)
    m = len(pts)
    if m == 0:
        raise ValueError("no points to draw positions from")
    if m <= n:
        idx = np.concatenate([rng.permutation(m), rng.choice(m, size=n - m, replace=True)])
        return pts[idx]
    if m > 20000:  # a random subset is enough to place the centres
        pts_fit = pts[rng.choice(m, size=20000, replace=False)]
    else:
        pts_fit = pts
    centres = [pts_fit[int(rng.integers(len(pts_fit)))]]
    d2 = ((pts_fit - centres[0]) ** 2).sum(axis=1)
    for _ in range(n - 1):
        p = d2 / d2.sum() if d2.sum() > 0 else None
        c = pts_fit[int(rng.choice(len(pts_fit), p=p))]
        centres.append(c)
        d2 = np.minimum(d2, ((pts_fit - c) ** 2).sum(axis=1))
    cen = np.array(centres)
    for _ in range(n_iter):
        lab = _nearest(cen, pts_fit)
        count = np.bincount(lab, minlength=n)
        full = count > 0
        for j in range(3):
            cen[full, j] = np.bincount(lab, weights=pts_fit[:, j], minlength=n)[full] / count[full]
    return pts[_nearest(pts, cen)]


def _nearest(points: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Index into ``points`` of the nearest point to each of ``queries``."""
    if len(points) > 64 and len(queries) > 64:  # a tree pays off only when both are many
        return cKDTree(points).query(queries)[1]
    return nearest_points(points, queries)


def make_starts(
    footprint_xyz: np.ndarray,
    *,
    n_rotations: int,
    n_positions: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Starting quaternions and structure-centre positions.

    Rotations are a super-Fibonacci set (uniform over SO(3)) turned by one random rotation drawn
    from ``rng`` (so another seed gives another, equally uniform, set); positions are distinct
    footprint voxel centres spread over the footprint (:func:`spread_positions`). Every rotation
    is paired with every position.

    Parameters
    ----------
    footprint_xyz : (m, 3) array, Å
        Centres of the footprint voxels.

    Returns
    -------
    quat_wxyz : (n_rotations * n_positions, 4)
    centre_xyz : (n_rotations * n_positions, 3), Å
        Placement ``p`` uses rotation ``p // n_positions`` and position ``p % n_positions``.
    """
    base = uniform_quaternions(n_rotations)
    turn = random_quaternions(1, rng)[0]
    quats = quat_multiply(turn[None, :], base)
    quats *= np.where(quats[:, :1] < 0, -1.0, 1.0)
    positions = spread_positions(footprint_xyz, n_positions, rng=rng)
    q = np.repeat(quats, n_positions, axis=0)
    c = np.tile(positions, (n_rotations, 1))
    return q, c
