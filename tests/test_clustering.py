import numpy as np

from difffit.clustering import cluster_poses
from difffit.geometry import quat_multiply, random_quaternions


def test_planted_clusters(rng):
    base_q = random_quaternions(3, rng)
    base_c = rng.normal(size=(3, 3)) * 30
    qs, cs, truth = [], [], []
    for k in range(3):
        for _ in range(10 + 5 * k):
            axis = rng.normal(size=3)
            axis /= np.linalg.norm(axis)
            ang = np.radians(rng.uniform(0, 2.0))  # within 2°
            dq = np.concatenate([[np.cos(ang / 2)], np.sin(ang / 2) * axis])
            qs.append(quat_multiply(dq, base_q[k]) * rng.choice([-1, 1]))  # q and -q
            cs.append(base_c[k] + rng.normal(size=3) * 0.3)
            truth.append(k)
    qs, cs, truth = np.array(qs), np.array(cs), np.array(truth)
    order = rng.permutation(len(qs))
    cl = cluster_poses(qs, cs, order, shift_tolerance=3.0, angle_tolerance_deg=6.0)
    assert len(cl.leaders) == 3
    assert sorted(cl.sizes.tolist()) == [10, 15, 20]
    # fits with the same truth share a label
    for k in range(3):
        assert len(set(cl.labels[truth == k])) == 1
    # leaders are the first visited of their cluster
    assert all(order.tolist().index(lead) <= order.tolist().index(i)
               for lead in cl.leaders for i in np.flatnonzero(cl.labels == cl.labels[lead]))  # fmt: skip


def test_tolerances_split_clusters(rng):
    q = np.array([[1.0, 0, 0, 0]] * 2)
    c = np.array([[0.0, 0, 0], [4.0, 0, 0]])
    assert len(cluster_poses(q, c, [0, 1], shift_tolerance=3, angle_tolerance_deg=6).leaders) == 2
    assert len(cluster_poses(q, c, [0, 1], shift_tolerance=5, angle_tolerance_deg=6).leaders) == 1
    ang = np.radians(10)
    q2 = np.array([[1.0, 0, 0, 0], [np.cos(ang / 2), np.sin(ang / 2), 0, 0]])
    c2 = np.zeros((2, 3))
    assert len(cluster_poses(q2, c2, [0, 1], shift_tolerance=3, angle_tolerance_deg=6).leaders) == 2
    assert (
        len(cluster_poses(q2, c2, [0, 1], shift_tolerance=3, angle_tolerance_deg=12).leaders) == 1
    )
