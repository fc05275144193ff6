"""Rotations and rigid transforms.

Conventions (pinned by ``tests/unit/test_geometry.py``):

* World coordinates are (x, y, z) in Å. Points are column vectors and a rigid transform acts as
  ``x' = R @ x + t``.
* Quaternions are ``quat_wxyz = (w, x, y, z)``, real part first, and need not be normalised on
  input: :func:`quat_to_matrix` normalises. ``q`` and ``-q`` are the same rotation.
* Conversions to other conventions (scalar-last quaternions, ChimeraX 3x4 matrices) live in named
  functions here and nowhere else.

All functions work on NumPy arrays with any leading batch shape (``(..., 4)``, ``(..., 3, 3)``);
the torch versions used on CUDA live in :mod:`difffit.fitting.torch_path`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "RigidTransform",
    "angle_between_deg",
    "kabsch",
    "matrix_to_quat",
    "quat_multiply",
    "quat_to_matrix",
    "quat_wxyz_to_xyzw",
    "quat_xyzw_to_wxyz",
    "random_quaternions",
    "rmsd",
    "uniform_quaternions",
]


def quat_to_matrix(quat_wxyz: ArrayLike) -> np.ndarray:
    """Rotation matrices of quaternions.

    Parameters
    ----------
    quat_wxyz : (..., 4) array
        Quaternions (w, x, y, z); normalised here.

    Returns
    -------
    (..., 3, 3) array
        ``R`` such that ``R @ v`` rotates the column vector ``v``.
    """
    q = np.asarray(quat_wxyz, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    r = np.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
            2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
            2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
        ],
        axis=-1,
    )  # fmt: skip
    return r.reshape(q.shape[:-1] + (3, 3))


def matrix_to_quat(matrix: ArrayLike) -> np.ndarray:
    """Quaternions (w, x, y, z) with w >= 0 of rotation matrices (..., 3, 3).

    Uses the numerically stable branch choice (largest diagonal term) of Shepperd's method.
    """
    m = np.asarray(matrix, dtype=np.float64)
    batch = m.shape[:-2]
    m = m.reshape(-1, 3, 3)
    out = np.empty((m.shape[0], 4))
    tr = np.trace(m, axis1=1, axis2=2)
    diag = np.stack([tr, m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]], axis=1)
    case = np.argmax(diag, axis=1)
    for i in range(m.shape[0]):
        a = m[i]
        c = case[i]
        if c == 0:
            s = np.sqrt(1.0 + tr[i]) * 2
            out[i] = (
                0.25 * s,
                (a[2, 1] - a[1, 2]) / s,
                (a[0, 2] - a[2, 0]) / s,
                (a[1, 0] - a[0, 1]) / s,
            )
        elif c == 1:
            s = np.sqrt(1.0 + a[0, 0] - a[1, 1] - a[2, 2]) * 2
            out[i] = (
                (a[2, 1] - a[1, 2]) / s,
                0.25 * s,
                (a[0, 1] + a[1, 0]) / s,
                (a[0, 2] + a[2, 0]) / s,
            )
        elif c == 2:
            s = np.sqrt(1.0 + a[1, 1] - a[0, 0] - a[2, 2]) * 2
            out[i] = (
                (a[0, 2] - a[2, 0]) / s,
                (a[0, 1] + a[1, 0]) / s,
                0.25 * s,
                (a[1, 2] + a[2, 1]) / s,
            )
        else:
            s = np.sqrt(1.0 + a[2, 2] - a[0, 0] - a[1, 1]) * 2
            out[i] = (
                (a[1, 0] - a[0, 1]) / s,
                (a[0, 2] + a[2, 0]) / s,
                (a[1, 2] + a[2, 1]) / s,
                0.25 * s,
            )
    out *= np.where(out[:, :1] < 0, -1.0, 1.0)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out.reshape(batch + (4,))


def quat_multiply(a_wxyz: ArrayLike, b_wxyz: ArrayLike) -> np.ndarray:
    """Hamilton product ``a * b`` (rotation ``b`` first, then ``a``)."""
    a = np.asarray(a_wxyz, dtype=np.float64)
    b = np.asarray(b_wxyz, dtype=np.float64)
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def quat_wxyz_to_xyzw(quat_wxyz: ArrayLike) -> np.ndarray:
    """Scalar-last order (SciPy ``Rotation.from_quat``) from scalar-first."""
    return np.roll(np.asarray(quat_wxyz), -1, axis=-1)


def quat_xyzw_to_wxyz(quat_xyzw: ArrayLike) -> np.ndarray:
    """Scalar-first order from scalar-last (SciPy ``Rotation.as_quat``)."""
    return np.roll(np.asarray(quat_xyzw), 1, axis=-1)


def angle_between_deg(r_a: np.ndarray, r_b: np.ndarray) -> np.ndarray:
    """Angle in degrees of the rotation ``r_a @ r_b.T`` between rotation matrices (..., 3, 3)."""
    rel = np.einsum("...ij,...kj->...ik", r_a, r_b)
    cos = (np.trace(rel, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def uniform_quaternions(n: int) -> np.ndarray:
    """``n`` rotations spread uniformly over SO(3), deterministic (super-Fibonacci spirals).

    Alexa, "Super-Fibonacci Spirals: Fast, Low-Discrepancy Sampling of SO(3)", CVPR 2022.

    Returns
    -------
    (n, 4) array of unit quaternions (w, x, y, z) with w >= 0.
    """
    if n < 1:
        raise ValueError("n must be >= 1")
    phi = np.sqrt(2.0)
    psi = 1.533751168755204288118041
    i = np.arange(n, dtype=np.float64)
    s = i + 0.5
    r = np.sqrt(s / n)
    big_r = np.sqrt(1.0 - s / n)
    alpha = 2.0 * np.pi * s / phi
    beta = 2.0 * np.pi * s / psi
    q = np.stack(
        [r * np.sin(alpha), r * np.cos(alpha), big_r * np.sin(beta), big_r * np.cos(beta)], axis=1
    )
    # (x, y, z, w)-agnostic: any fixed ordering of the 4 coordinates of a uniform S^3 sample is
    # uniform; we read them as (w, x, y, z) and flip to the w >= 0 hemisphere.
    q *= np.where(q[:, :1] < 0, -1.0, 1.0)
    return q


def random_quaternions(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` uniformly random unit quaternions (w, x, y, z), w >= 0 (Shoemake's method)."""
    u1, u2, u3 = rng.random((3, n))
    q = np.stack(
        [
            np.sqrt(u1) * np.cos(2 * np.pi * u3),
            np.sqrt(1 - u1) * np.sin(2 * np.pi * u2),
            np.sqrt(1 - u1) * np.cos(2 * np.pi * u2),
            np.sqrt(u1) * np.sin(2 * np.pi * u3),
        ],
        axis=1,
    )
    q *= np.where(q[:, :1] < 0, -1.0, 1.0)
    return q


def kabsch(mobile_xyz: ArrayLike, target_xyz: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Rotation ``R`` and translation ``t`` minimising ``|R @ mobile + t - target|`` (both (n, 3))."""
    a = np.asarray(mobile_xyz, dtype=np.float64)
    b = np.asarray(target_xyz, dtype=np.float64)
    ca, cb = a.mean(axis=0), b.mean(axis=0)
    h = (a - ca).T @ (b - cb)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    r = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return r, cb - r @ ca


def rmsd(a_xyz: ArrayLike, b_xyz: ArrayLike) -> float:
    """Root-mean-square deviation (Å) between two (n, 3) coordinate sets, no superposition."""
    d = np.asarray(a_xyz, dtype=np.float64) - np.asarray(b_xyz, dtype=np.float64)
    return float(np.sqrt((d * d).sum(axis=1).mean()))


@dataclass(frozen=True)
class RigidTransform:
    """A rigid transform ``x' = rotation @ x + translation`` (Å).

    Attributes
    ----------
    rotation : (3, 3) float64 array
    translation : (3,) float64 array, Å
    """

    rotation: np.ndarray
    translation: np.ndarray

    def __post_init__(self) -> None:
        r = np.array(self.rotation, dtype=np.float64).reshape(3, 3)
        t = np.array(self.translation, dtype=np.float64).reshape(3)
        r.setflags(write=False)
        t.setflags(write=False)
        object.__setattr__(self, "rotation", r)
        object.__setattr__(self, "translation", t)

    @classmethod
    def identity(cls) -> RigidTransform:
        return cls(np.eye(3), np.zeros(3))

    @classmethod
    def from_quat(cls, quat_wxyz: ArrayLike, translation: ArrayLike) -> RigidTransform:
        return cls(quat_to_matrix(quat_wxyz), np.asarray(translation, dtype=np.float64))

    @classmethod
    def from_matrix_3x4(cls, m: ArrayLike) -> RigidTransform:
        """From a 3x4 ``[R | t]`` matrix (ChimeraX ``Place.matrix`` layout)."""
        m = np.asarray(m, dtype=np.float64).reshape(3, 4)
        return cls(m[:, :3], m[:, 3])

    @classmethod
    def from_r_t_flat(cls, values: ArrayLike) -> RigidTransform:
        """From the 12 numbers ``r11 r12 r13 r21 r22 r23 r31 r32 r33 t1 t2 t3``."""
        v = np.asarray(values, dtype=np.float64).reshape(12)
        return cls(v[:9].reshape(3, 3), v[9:])

    def to_matrix_3x4(self) -> np.ndarray:
        return np.concatenate([self.rotation, self.translation[:, None]], axis=1)

    def to_matrix_4x4(self) -> np.ndarray:
        m = np.eye(4)
        m[:3, :3] = self.rotation
        m[:3, 3] = self.translation
        return m

    def to_r_t_flat(self) -> np.ndarray:
        """The 12 numbers ``r11 … r33 t1 t2 t3`` (row-major rotation, then translation)."""
        return np.concatenate([self.rotation.reshape(9), self.translation])

    @property
    def quat_wxyz(self) -> np.ndarray:
        return matrix_to_quat(self.rotation)

    def apply(self, xyz: ArrayLike) -> np.ndarray:
        """Transform points (n, 3) -> (n, 3)."""
        return np.asarray(xyz, dtype=np.float64) @ self.rotation.T + self.translation

    def compose(self, other: RigidTransform) -> RigidTransform:
        """``self ∘ other``: apply ``other`` first, then ``self``."""
        return RigidTransform(
            self.rotation @ other.rotation, self.rotation @ other.translation + self.translation
        )

    def inverse(self) -> RigidTransform:
        rt = self.rotation.T
        return RigidTransform(rt, -rt @ self.translation)
