"""Clustering of fitted poses by shift and angle (paper §4.3), in NumPy.

Leader clustering: fits are visited best first; a fit joins the first cluster whose leader is
within ``shift_tolerance`` Å (distance between the structure centres) and
``angle_tolerance_deg`` degrees (angle of the relative rotation); otherwise it leads a new
cluster. The leader — the best fit of its cluster — represents it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Clusters", "cluster_poses"]


@dataclass(frozen=True, eq=False)
class Clusters:
    labels: np.ndarray  # (n,) cluster index of every fit, clusters numbered in visiting order
    leaders: np.ndarray  # (c,) fit index of each cluster's leader
    sizes: np.ndarray  # (c,) number of fits in each cluster


def cluster_poses(
    quat_wxyz: np.ndarray,
    centre_xyz: np.ndarray,
    order: np.ndarray,
    *,
    shift_tolerance: float,
    angle_tolerance_deg: float,
) -> Clusters:
    """Cluster poses given as quaternions (n, 4) and structure-centre positions (n, 3).

    ``order`` lists fit indices best first (fits not in it are left unlabelled, label -1).
    """
    q = np.asarray(quat_wxyz, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    c = np.asarray(centre_xyz, dtype=np.float64)
    n = len(q)
    labels = np.full(n, -1, dtype=np.int64)
    cos_half = np.cos(np.radians(angle_tolerance_deg) / 2.0)
    shift2 = shift_tolerance**2
    lead_q = np.empty((0, 4))
    lead_c = np.empty((0, 3))
    leaders: list[int] = []
    for i in np.asarray(order, dtype=np.int64):
        if len(leaders):
            d2 = ((lead_c - c[i]) ** 2).sum(axis=1)
            dot = np.abs(lead_q @ q[i])
            hit = np.flatnonzero((d2 <= shift2) & (dot >= cos_half))
            if len(hit):
                labels[i] = hit[0]
                continue
        labels[i] = len(leaders)
        leaders.append(int(i))
        lead_q = np.vstack([lead_q, q[i]])
        lead_c = np.vstack([lead_c, c[i]])
    sizes = np.bincount(labels[labels >= 0], minlength=len(leaders))
    return Clusters(labels, np.asarray(leaders, dtype=np.int64), sizes)
