"""Is a found pose correct? Pose differences and the verdict against a set of reference poses.

Poses are 3×4 arrays ``[R | t]`` that map the benchmark's input model coordinates into the map
frame, ``x' = R x + t`` (Å). A case may have several equally correct reference poses (copies of
the same chain in a symmetric or helical assembly); a pose is judged against the nearest one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from difffit.geometry import kabsch

__all__ = ["ANGLE_TOLERANCE_DEG", "SHIFT_TOLERANCE", "Verdict", "apply", "judge", "pose_difference"]

#: The issue's criterion: within 3 Å and 6° of the deposited or reference pose.
SHIFT_TOLERANCE = 3.0
ANGLE_TOLERANCE_DEG = 6.0


def as_pose(m: np.ndarray | Sequence[float]) -> np.ndarray:
    """A (3, 4) float64 pose from a 3×4 array, 12 row-major numbers or a 4×4 matrix."""
    a = np.asarray(m, dtype=np.float64)
    if a.shape == (12,):
        a = a.reshape(3, 4)
    elif a.shape == (4, 4):
        a = a[:3]
    if a.shape != (3, 4):
        raise ValueError(f"a pose needs 3x4, 12 or 4x4 numbers, got shape {a.shape}")
    return a


def apply(pose: np.ndarray, xyz: np.ndarray) -> np.ndarray:
    """``R x + t`` for (n, 3) points."""
    p = as_pose(pose)
    return np.asarray(xyz, dtype=np.float64) @ p[:, :3].T + p[:, 3]


def compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The pose ``a ∘ b`` (apply ``b`` first)."""
    a, b = as_pose(a), as_pose(b)
    return np.concatenate([a[:, :3] @ b[:, :3], (a[:, :3] @ b[:, 3] + a[:, 3])[:, None]], axis=1)


def invert(a: np.ndarray) -> np.ndarray:
    a = as_pose(a)
    r = a[:, :3].T
    return np.concatenate([r, (-r @ a[:, 3])[:, None]], axis=1)


def rotation_angle_deg(r: np.ndarray) -> float:
    """Angle (degrees) of a rotation matrix."""
    c = (np.trace(r) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def pose_difference(a: np.ndarray, b: np.ndarray, xyz: np.ndarray) -> tuple[float, float, float]:
    """How far pose ``a`` is from pose ``b`` for the points ``xyz`` (e.g. CA atoms).

    Returns
    -------
    shift : float, Å — distance between the centroids of ``xyz`` placed by ``a`` and by ``b``
    angle : float, degrees — rotation angle of ``R_a R_bᵀ``
    rmsd : float, Å — RMSD between the two placed copies of ``xyz`` (no superposition)
    """
    pa, pb = apply(a, xyz), apply(b, xyz)
    shift = float(np.linalg.norm(pa.mean(axis=0) - pb.mean(axis=0)))
    angle = rotation_angle_deg(as_pose(a)[:, :3] @ as_pose(b)[:, :3].T)
    rmsd = float(np.sqrt(np.mean(np.sum((pa - pb) ** 2, axis=1))))
    return shift, angle, rmsd


@dataclass(frozen=True)
class Verdict:
    """A pose judged against the nearest reference pose (by CA RMSD)."""

    correct: bool
    shift: float  # Å
    angle_deg: float
    rmsd: float  # Å, CA RMSD to the nearest reference pose
    reference: str  # label of that reference pose

    def short(self) -> str:
        return "y" if self.correct else "n"


def judge(
    pose: np.ndarray,
    references: Sequence[tuple[str, np.ndarray]],
    xyz: np.ndarray,
    *,
    shift_tolerance: float = SHIFT_TOLERANCE,
    angle_tolerance_deg: float = ANGLE_TOLERANCE_DEG,
) -> Verdict:
    """Judge ``pose`` against ``references`` ((label, pose) pairs): correct when within
    ``shift_tolerance`` Å and ``angle_tolerance_deg`` degrees of at least one of them.

    The verdict reports the nearest reference: a correct one if any, else the one with the
    smallest CA RMSD.
    """
    if not references:
        raise ValueError("no reference poses to judge against")
    best: Verdict | None = None
    for label, ref in references:
        s, a, r = pose_difference(pose, ref, xyz)
        v = Verdict(s <= shift_tolerance and a <= angle_tolerance_deg, s, a, r, label)
        if best is None or (v.correct, -v.rmsd) > (best.correct, -best.rmsd):
            best = v
    assert best is not None
    return best


def superpose(mobile: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The pose (3, 4) that best maps ``mobile`` (n, 3) onto ``target`` (n, 3) (Kabsch)."""
    r, t = kabsch(mobile, target)
    return np.concatenate([r, t[:, None]], axis=1)
