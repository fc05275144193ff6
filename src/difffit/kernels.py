"""Trilinear sampling kernels: the hot loops of difffit.

Fused Numba kernels (CPU, parallel over placements): for each placement ``p`` and atom ``a``
the point ``R_p @ x_a + t_p`` is mapped to grid coordinates, the 8 corners of its cell are read
once, and the value and its spatial gradient are accumulated. The same contracts are implemented
with torch operations in :mod:`difffit.fitting.torch_path` (the CUDA path); the tests check
that both agree. This module never imports torch.

Grid coordinates follow :mod:`difffit.density.map`: fractional ``(i, j, k)`` along (x, y, z);
``volume[k, j, i]``. A point is inside when ``0 <= i <= nx - 1`` (likewise j, k): corners are
voxel centres (this is ``grid_sample(align_corners=True)``). Points outside take the value
``outside`` and a zero gradient.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from numba import njit, prange

__all__ = [
    "atom_stats",
    "corr_stats",
    "nearest_points",
    "sample_points",
    "score_and_grad",
    "set_num_threads",
    "threads",
]


def set_num_threads(n: int | None) -> int:
    """Threads for the CPU kernels (and torch); ``None`` = all cores. Returns the count used."""
    import numba

    if not n:
        try:
            n = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            n = os.cpu_count() or 1
    n = int(n)
    n = max(1, min(n, int(numba.config.NUMBA_NUM_THREADS)))  # type: ignore[attr-defined]
    numba.set_num_threads(n)
    if "torch" in sys.modules:  # only when the torch path is in use; never import it here
        sys.modules["torch"].set_num_threads(n)
    return n


@contextmanager
def threads(n: int | None) -> Iterator[int]:
    """Run a block with ``n`` threads (:func:`set_num_threads`); yields the count used.

    On exit — also on an error — Numba's thread count, and torch's when torch was imported
    before the block, are set back to what they were, so a library call does not change the
    threads of the whole process.
    """
    import numba

    before = numba.get_num_threads()
    torch = sys.modules.get("torch")
    before_torch = torch.get_num_threads() if torch is not None else None
    try:
        yield set_num_threads(n)
    finally:
        numba.set_num_threads(before)
        if torch is not None and before_torch is not None:
            torch.set_num_threads(before_torch)


# ---------------------------------------------------------------------------- numba kernels
#: LLVM fast-math flags of the kernels: no NaN/inf, no signed zeros, reciprocal and approximate
#: functions and FMA contraction allowed — but no reassociation, which LLVM applies
#: differently when a kernel is compiled afresh and when it is loaded from numba's cache
#: (measured: results differed in the 4th digit between a first and a later process with
#: ``fastmath=True``). Without it a seed gives bit-identical results in every process.
_FASTMATH = {"nnan", "ninf", "nsz", "arcp", "afn", "contract"}


@njit(inline="always", fastmath=_FASTMATH)
def _inside(fi, fj, fk, nx, ny, nz):  # pragma: no cover - compiled
    """Is the grid point within the box of voxel centres (corners of the interpolation)?"""
    return fi >= 0.0 and fj >= 0.0 and fk >= 0.0 and fi <= nx - 1 and fj <= ny - 1 and fk <= nz - 1


@njit(inline="always", fastmath=_FASTMATH)
def _cell(vol, fi, fj, fk):  # pragma: no cover - compiled
    """Lower corner (i0, j0, k0) of the interpolation cell of an inside grid point, and the
    fractional offsets (dx, dy, dz) in it; the last plane's points use the cell below."""
    nz, ny, nx = vol.shape
    i0 = min(int(fi), nx - 2)
    j0 = min(int(fj), ny - 2)
    k0 = min(int(fk), nz - 2)
    return i0, j0, k0, fi - i0, fj - j0, fk - k0


@njit(inline="always", fastmath=_FASTMATH)
def _trilinear(vol, fi, fj, fk):  # pragma: no cover - compiled
    """Trilinear value of ``vol`` [z, y, x] at an inside grid point (fi, fj, fk)."""
    i0, j0, k0, dx, dy, dz = _cell(vol, fi, fj, fk)
    c00 = vol[k0, j0, i0] + dx * (vol[k0, j0, i0 + 1] - vol[k0, j0, i0])
    c01 = vol[k0, j0 + 1, i0] + dx * (vol[k0, j0 + 1, i0 + 1] - vol[k0, j0 + 1, i0])
    c10 = vol[k0 + 1, j0, i0] + dx * (vol[k0 + 1, j0, i0 + 1] - vol[k0 + 1, j0, i0])
    c11 = vol[k0 + 1, j0 + 1, i0] + dx * (vol[k0 + 1, j0 + 1, i0 + 1] - vol[k0 + 1, j0 + 1, i0])
    c0 = c00 + dy * (c01 - c00)
    c1 = c10 + dy * (c11 - c10)
    return c0 + dz * (c1 - c0)


@njit(inline="always", fastmath=_FASTMATH)
def _trilinear_grad(vol, fi, fj, fk):  # pragma: no cover - compiled
    """Trilinear value and its derivatives along i, j, k at an inside grid point.

    The 8 corners of the cell are read once for all four numbers.
    """
    i0, j0, k0, dx, dy, dz = _cell(vol, fi, fj, fk)
    v000 = vol[k0, j0, i0]
    v001 = vol[k0, j0, i0 + 1]
    v010 = vol[k0, j0 + 1, i0]
    v011 = vol[k0, j0 + 1, i0 + 1]
    v100 = vol[k0 + 1, j0, i0]
    v101 = vol[k0 + 1, j0, i0 + 1]
    v110 = vol[k0 + 1, j0 + 1, i0]
    v111 = vol[k0 + 1, j0 + 1, i0 + 1]
    e00 = v001 - v000
    e01 = v011 - v010
    e10 = v101 - v100
    e11 = v111 - v110
    c00 = v000 + dx * e00
    c01 = v010 + dx * e01
    c10 = v100 + dx * e10
    c11 = v110 + dx * e11
    c0 = c00 + dy * (c01 - c00)
    c1 = c10 + dy * (c11 - c10)
    ex0 = e00 + dy * (e01 - e00)
    ex1 = e10 + dy * (e11 - e10)
    di = ex0 + dz * (ex1 - ex0)
    dj = (c01 - c00) + dz * ((c11 - c10) - (c01 - c00))
    dk = c1 - c0
    return c0 + dz * dk, di, dj, dk


@njit(inline="always", fastmath=_FASTMATH)
def _grid_affine(r, tx, ty, tz, origin, inv_vs, ab):  # pragma: no cover - compiled
    """Fill ``ab`` (12,) with A (row-major) and b: grid point = A x + b = (R x + t - origin) / voxel."""
    for i in range(3):
        for j in range(3):
            ab[3 * i + j] = r[i, j] * inv_vs[i]
    ab[9] = (tx - origin[0]) * inv_vs[0]
    ab[10] = (ty - origin[1]) * inv_vs[1]
    ab[11] = (tz - origin[2]) * inv_vs[2]


@njit(inline="always", fastmath=_FASTMATH)
def _mean_value_and_grads(vol, xyz, ab, inv_vs, outside, g):  # pragma: no cover - compiled
    """Mean value of ``vol`` at A x + b over the atoms, and its gradients.

    Writes into ``g`` (12,): d value / d t (3 values, world units) then d value / d R (9 values,
    row-major: mean of g_world xᵀ); returns the mean value. Atoms beyond the box count as
    ``outside``, with no gradient. (Accumulators are scalars so that they stay in registers.)
    """
    nz, ny, nx = vol.shape
    n_at = xyz.shape[0]
    a00, a01, a02, a10, a11, a12 = ab[0], ab[1], ab[2], ab[3], ab[4], ab[5]
    a20, a21, a22, b0, b1, b2 = ab[6], ab[7], ab[8], ab[9], ab[10], ab[11]
    sx, sy, sz = inv_vs[0], inv_vs[1], inv_vs[2]
    acc = 0.0
    gx = gy = gz = 0.0
    m00 = m01 = m02 = m10 = m11 = m12 = m20 = m21 = m22 = 0.0
    for a in range(n_at):
        x = xyz[a, 0]
        y = xyz[a, 1]
        z = xyz[a, 2]
        fi = a00 * x + a01 * y + a02 * z + b0
        fj = a10 * x + a11 * y + a12 * z + b1
        fk = a20 * x + a21 * y + a22 * z + b2
        if not _inside(fi, fj, fk, nx, ny, nz):
            acc += outside
            continue
        v, di, dj, dk = _trilinear_grad(vol, fi, fj, fk)
        acc += v
        wx = di * sx
        wy = dj * sy
        wz = dk * sz
        gx += wx
        gy += wy
        gz += wz
        m00 += wx * x
        m01 += wx * y
        m02 += wx * z
        m10 += wy * x
        m11 += wy * y
        m12 += wy * z
        m20 += wz * x
        m21 += wz * y
        m22 += wz * z
    inv_n = 1.0 / n_at
    g[0] = gx * inv_n
    g[1] = gy * inv_n
    g[2] = gz * inv_n
    g[3] = m00 * inv_n
    g[4] = m01 * inv_n
    g[5] = m02 * inv_n
    g[6] = m10 * inv_n
    g[7] = m11 * inv_n
    g[8] = m12 * inv_n
    g[9] = m20 * inv_n
    g[10] = m21 * inv_n
    g[11] = m22 * inv_n
    return acc * inv_n


@njit(cache=True, fastmath=_FASTMATH, parallel=True)
def _nb_sample_points(vol, ijk, outside, out):  # pragma: no cover - compiled
    nz, ny, nx = vol.shape
    for a in prange(ijk.shape[0]):
        fi = ijk[a, 0]
        fj = ijk[a, 1]
        fk = ijk[a, 2]
        out[a] = _trilinear(vol, fi, fj, fk) if _inside(fi, fj, fk, nx, ny, nz) else outside


@njit(cache=True)  # no fastmath: exact distances, the same choice on every CPU
def _nb_nearest(points, queries, out):  # pragma: no cover - compiled
    for i in range(queries.shape[0]):
        x, y, z = queries[i, 0], queries[i, 1], queries[i, 2]
        best, k_best = np.inf, 0
        for k in range(points.shape[0]):
            d = (points[k, 0] - x) ** 2 + (points[k, 1] - y) ** 2 + (points[k, 2] - z) ** 2
            if d < best:
                best, k_best = d, k
        out[i] = k_best


@njit(cache=True, fastmath=_FASTMATH, parallel=True)
def _nb_score_grad(
    vol, xyz, rot, shift, origin, inv_vs, outside, val, g_t, g_r
):  # pragma: no cover
    for p in prange(rot.shape[0]):
        ab = np.empty(12)
        _grid_affine(rot[p], shift[p, 0], shift[p, 1], shift[p, 2], origin, inv_vs, ab)
        g = np.empty(12)
        val[p] = _mean_value_and_grads(vol, xyz, ab, inv_vs, outside, g)
        for i in range(3):
            g_t[p, i] = g[i]
            for j in range(3):
                g_r[p, i, j] = g[3 + 3 * i + j]


@njit(cache=True, fastmath=_FASTMATH, parallel=True)
def _nb_corr_stats(vol, xyz, weights, rot, shift, origin, inv_vs, level, out):  # pragma: no cover
    """Per placement: sum t, sum t^2, sum w t, count(t >= level), count inside box."""
    nz, ny, nx = vol.shape
    for p in prange(rot.shape[0]):
        ab = np.empty(12)
        _grid_affine(rot[p], shift[p, 0], shift[p, 1], shift[p, 2], origin, inv_vs, ab)
        s_t = 0.0
        s_tt = 0.0
        s_wt = 0.0
        n_in = 0.0
        n_box = 0.0
        for a in range(xyz.shape[0]):
            x = xyz[a, 0]
            y = xyz[a, 1]
            z = xyz[a, 2]
            fi = ab[0] * x + ab[1] * y + ab[2] * z + ab[9]
            fj = ab[3] * x + ab[4] * y + ab[5] * z + ab[10]
            fk = ab[6] * x + ab[7] * y + ab[8] * z + ab[11]
            if not _inside(fi, fj, fk, nx, ny, nz):
                continue
            t = _trilinear(vol, fi, fj, fk)
            s_t += t
            s_tt += t * t
            s_wt += weights[a] * t
            n_box += 1.0
            if t >= level:
                n_in += 1.0
        out[p, 0] = s_t
        out[p, 1] = s_tt
        out[p, 2] = s_wt
        out[p, 3] = n_in
        out[p, 4] = n_box


# ---------------------------------------------------------------------------- public contracts
def sample_points(volume: np.ndarray, ijk: np.ndarray, outside: float = 0.0) -> np.ndarray:
    """Trilinear values of ``volume`` [z, y, x] at fractional grid points ``ijk`` (n, 3)."""
    vol = np.ascontiguousarray(volume)
    pts = np.ascontiguousarray(ijk, dtype=vol.dtype)
    out = np.empty(len(pts), dtype=vol.dtype)
    _nb_sample_points(vol, pts, vol.dtype.type(outside), out)
    return out


def nearest_points(points: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Index into ``points`` (m, 3) of the nearest one to each of ``queries`` (n, 3); the
    first of equally near points. Exhaustive (m × n distances): for few points or few queries
    (a k-d tree is the better choice when both are many)."""
    pts = np.ascontiguousarray(points, dtype=np.float64).reshape(-1, 3)
    qs = np.ascontiguousarray(queries, dtype=np.float64).reshape(-1, 3)
    if len(pts) == 0:
        raise ValueError("no points to choose the nearest from")
    out = np.empty(len(qs), dtype=np.int64)
    _nb_nearest(pts, qs, out)
    return out


def score_and_grad(
    volume: np.ndarray,
    xyz: np.ndarray,
    rot: np.ndarray,
    shift: np.ndarray,
    origin_xyz: np.ndarray,
    inv_voxel_xyz: np.ndarray,
    outside: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean volume value at transformed atoms, and its gradients, for every placement (CPU).

    Parameters
    ----------
    volume : (nz, ny, nx) array
    xyz : (n_atoms, 3) array, Å — atom positions in the structure's (centred) frame
    rot : (n_placements, 3, 3) array
    shift : (n_placements, 3) array, Å
    origin_xyz, inv_voxel_xyz : (3,) arrays — map origin (Å) and 1 / voxel size (1/Å)
    outside : float — value of points beyond the box (zero gradient there)

    Returns
    -------
    value : (n_placements,) — mean over atoms of ``volume(R x + t)``
    grad_shift : (n_placements, 3) — d value / d t
    grad_rot : (n_placements, 3, 3) — d value / d R (= mean of g xᵀ)
    """
    vol = np.ascontiguousarray(volume)
    dt = vol.dtype
    n_pl = len(rot)
    val = np.empty(n_pl, dtype=dt)
    g_t = np.empty((n_pl, 3), dtype=dt)
    g_r = np.empty((n_pl, 3, 3), dtype=dt)
    _nb_score_grad(
        vol,
        np.ascontiguousarray(xyz, dtype=dt),
        np.ascontiguousarray(rot, dtype=dt),
        np.ascontiguousarray(shift, dtype=dt),
        np.asarray(origin_xyz, dtype=dt),
        np.asarray(inv_voxel_xyz, dtype=dt),
        float(outside),
        val,
        g_t,
        g_r,
    )
    return val, g_t, g_r


def corr_stats(
    volume: np.ndarray,
    xyz: np.ndarray,
    weights: np.ndarray,
    rot: np.ndarray,
    shift: np.ndarray,
    origin_xyz: np.ndarray,
    voxel_xyz: np.ndarray,
    level: float,
) -> np.ndarray:
    """Sums for correlation metrics over transformed points, one row per placement.

    Returns an (n_placements, 5) float64 array: Σt, Σt², Σw·t, #(t ≥ level), #(inside the box),
    with ``t`` the volume sampled at ``R x + t`` (points beyond the box are skipped).
    """
    out = np.empty((len(rot), 5), dtype=np.float64)
    if len(rot) == 0:
        return out
    _nb_corr_stats(
        np.ascontiguousarray(volume, dtype=np.float32),
        np.ascontiguousarray(xyz, dtype=np.float64),
        np.ascontiguousarray(weights, dtype=np.float64),
        np.ascontiguousarray(rot, dtype=np.float64),
        np.ascontiguousarray(shift, dtype=np.float64),
        np.asarray(origin_xyz, dtype=np.float64),
        1.0 / np.asarray(voxel_xyz, dtype=np.float64),
        float(level),
        out,
    )
    return out


def atom_stats(volume, xyz, rot, shift, origin_xyz, voxel_xyz, level):
    """Mean value at the atoms and the fraction at or above ``level``, per placement.

    Atoms beyond the box count as value 0 and as outside the contour.
    """
    s = corr_stats(volume, xyz, np.zeros(len(xyz)), rot, shift, origin_xyz, voxel_xyz, level)
    n = float(len(xyz))
    return s[:, 0] / n, s[:, 3] / n


# ---------------------------------------------------------------------------- fused optimiser
@njit(inline="always")
def _store_pose(best_q, best_t, p, qw, qx, qy, qz, tx, ty, tz):  # pragma: no cover - compiled
    """Write pose ``p`` (quaternion, shift) into the output rows."""
    best_q[p, 0] = qw
    best_q[p, 1] = qx
    best_q[p, 2] = qy
    best_q[p, 3] = qz
    best_t[p, 0] = tx
    best_t[p, 1] = ty
    best_t[p, 2] = tz


@njit(cache=True, fastmath=_FASTMATH, parallel=True)
def _nb_optimise(  # pragma: no cover - compiled
    vol, xyz, quat, shift, origin, inv_vs, outside, n_steps, lr_shift, lr_rot,
    decay_start, decay_floor, best_q, best_t, best_s,
):  # fmt: skip
    """Adam on every placement for ``n_steps`` steps, all inside one parallel loop.

    The same algorithm as the torch path (:func:`difffit.fitting.optimise.optimise_placements`):
    value = mean trilinear sample at R(q) x + t; gradient ascent with Adam (β = 0.9, 0.999,
    ε = 1e-8, torch's bias correction); learning rates constant until step ``decay_start``,
    then cosine decay to ``decay_floor``; the best pose seen (evaluated before each step and
    after the last) is returned in best_q, best_t, best_s.
    """
    n_pl = quat.shape[0]
    b1 = 0.9
    b2 = 0.999
    eps = 1e-8
    for p in prange(n_pl):
        r = np.empty((3, 3))
        ab = np.empty(12)
        g = np.empty(12)
        qw = quat[p, 0]
        qx = quat[p, 1]
        qy = quat[p, 2]
        qz = quat[p, 3]
        tx = shift[p, 0]
        ty = shift[p, 1]
        tz = shift[p, 2]
        m_t = np.zeros(3)
        v_t = np.zeros(3)
        m_q = np.zeros(4)
        v_q = np.zeros(4)
        best = -1e30
        _store_pose(best_q, best_t, p, qw, qx, qy, qz, tx, ty, tz)
        for step in range(n_steps + 1):
            nrm = np.sqrt(qw * qw + qx * qx + qy * qy + qz * qz)
            w = qw / nrm
            x = qx / nrm
            y = qy / nrm
            z = qz / nrm
            r[0, 0] = 1 - 2 * (y * y + z * z)
            r[0, 1] = 2 * (x * y - z * w)
            r[0, 2] = 2 * (x * z + y * w)
            r[1, 0] = 2 * (x * y + z * w)
            r[1, 1] = 1 - 2 * (x * x + z * z)
            r[1, 2] = 2 * (y * z - x * w)
            r[2, 0] = 2 * (x * z - y * w)
            r[2, 1] = 2 * (y * z + x * w)
            r[2, 2] = 1 - 2 * (x * x + y * y)
            _grid_affine(r, tx, ty, tz, origin, inv_vs, ab)
            val = _mean_value_and_grads(vol, xyz, ab, inv_vs, outside, g)
            if val > best:
                best = val
                _store_pose(best_q, best_t, p, qw, qx, qy, qz, tx, ty, tz)
            if step == n_steps:
                break
            # d value / d q-hat from G = d value / d R, then projected for the normalisation
            g00 = g[3]
            g01 = g[4]
            g02 = g[5]
            g10 = g[6]
            g11 = g[7]
            g12 = g[8]
            g20 = g[9]
            g21 = g[10]
            g22 = g[11]
            dw = 2 * (-z * g01 + y * g02 + z * g10 - x * g12 - y * g20 + x * g21)
            dxq = 2 * (
                y * g01
                + z * g02
                + y * g10
                - 2 * x * g11
                - w * g12
                + z * g20
                + w * g21
                - 2 * x * g22
            )
            dyq = 2 * (
                -2 * y * g00
                + x * g01
                + w * g02
                + x * g10
                + z * g12
                - w * g20
                + z * g21
                - 2 * y * g22
            )
            dzq = 2 * (
                -2 * z * g00
                - w * g01
                + x * g02
                + w * g10
                - 2 * z * g11
                + y * g12
                + x * g20
                + y * g21
            )
            dot = w * dw + x * dxq + y * dyq + z * dzq
            gq0 = (dw - w * dot) / nrm
            gq1 = (dxq - x * dot) / nrm
            gq2 = (dyq - y * dot) / nrm
            gq3 = (dzq - z * dot) / nrm
            # learning-rate schedule
            f = 1.0
            if step >= decay_start and n_steps > decay_start:
                u = (step - decay_start) / max(n_steps - decay_start, 1)
                f = decay_floor + (1.0 - decay_floor) * 0.5 * (1.0 + np.cos(np.pi * u))
            k = step + 1
            bc1 = 1.0 - b1**k
            bc2 = 1.0 - b2**k
            # Adam on the loss = -value (gradient = -d value)
            grads_t = (-g[0], -g[1], -g[2])
            for i in range(3):
                gi = grads_t[i]
                m_t[i] = b1 * m_t[i] + (1 - b1) * gi
                v_t[i] = b2 * v_t[i] + (1 - b2) * gi * gi
            st = lr_shift * f / bc1
            den2 = np.sqrt(bc2)
            tx -= st * m_t[0] / (np.sqrt(v_t[0]) / den2 + eps)
            ty -= st * m_t[1] / (np.sqrt(v_t[1]) / den2 + eps)
            tz -= st * m_t[2] / (np.sqrt(v_t[2]) / den2 + eps)
            grads_q = (-gq0, -gq1, -gq2, -gq3)
            for i in range(4):
                gi = grads_q[i]
                m_q[i] = b1 * m_q[i] + (1 - b1) * gi
                v_q[i] = b2 * v_q[i] + (1 - b2) * gi * gi
            sq = lr_rot * f / bc1
            qw -= sq * m_q[0] / (np.sqrt(v_q[0]) / den2 + eps)
            qx -= sq * m_q[1] / (np.sqrt(v_q[1]) / den2 + eps)
            qy -= sq * m_q[2] / (np.sqrt(v_q[2]) / den2 + eps)
            qz -= sq * m_q[3] / (np.sqrt(v_q[3]) / den2 + eps)
        best_s[p] = best


def optimise_fused(
    volume: np.ndarray,
    xyz: np.ndarray,
    quat_wxyz: np.ndarray,
    shift: np.ndarray,
    origin_xyz: np.ndarray,
    inv_voxel_xyz: np.ndarray,
    outside: float,
    *,
    n_steps: int,
    lr_shift: float,
    lr_rotation: float,
    decay_start: int,
    decay_floor: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run :func:`_nb_optimise` (CPU): returns the best (quaternions, shifts, scores) seen."""
    dt = volume.dtype
    n = len(quat_wxyz)
    bq = np.empty((n, 4), dtype=np.float64)
    bt = np.empty((n, 3), dtype=np.float64)
    bs = np.empty(n, dtype=np.float64)
    if n == 0:
        return bq, bt, bs
    _nb_optimise(
        np.ascontiguousarray(volume),
        np.ascontiguousarray(xyz, dtype=dt),
        np.ascontiguousarray(quat_wxyz, dtype=np.float64),
        np.ascontiguousarray(shift, dtype=np.float64),
        np.asarray(origin_xyz, dtype=np.float64),
        np.asarray(inv_voxel_xyz, dtype=np.float64),
        float(outside),
        int(n_steps),
        float(lr_shift),
        float(lr_rotation),
        int(decay_start),
        float(decay_floor),
        bq,
        bt,
        bs,
    )
    return bq, bt, bs
