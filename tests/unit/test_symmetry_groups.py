"""Point groups: names, operators, frames, mates and the labelling of equivalent fits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from difffit.errors import ConfigError
from difffit.geometry import RigidTransform, angle_between_deg, quat_to_matrix, random_quaternions
from difffit.symmetry import (
    PointGroup,
    frame_from_axes,
    group_operators,
    label_equivalent_fits,
    parse_group,
    standard_rotations,
    symmetry_mates,
)
from difffit.symmetry.detect import group_axes

ORDERS = {"C1": 1, "C4": 4, "C12": 12, "D2": 4, "D7": 14, "T": 12, "O": 24, "I": 60}


@pytest.mark.parametrize(("name", "order"), ORDERS.items())
def test_orders_and_closure(name, order):
    rots = standard_rotations(name)
    assert len(rots) == order == parse_group(name).order
    assert np.allclose(rots[0], np.eye(3))
    assert np.allclose(np.einsum("nij,nkj->nik", rots, rots), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(rots), 1.0)
    keys = {tuple(np.round(r, 6).ravel() + 0.0) for r in rots}
    assert len(keys) == order  # distinct
    for a in rots:  # closed under products
        for b in rots[:: max(1, order // 12)]:
            assert tuple(np.round(a @ b, 6).ravel() + 0.0) in keys


def test_axes_of_the_groups():
    def counts(name):
        out: dict[int, int] = {}
        for o, _ in group_axes(name, np.eye(3)):
            out[o] = out.get(o, 0) + 1
        return out

    assert counts("C6") == {6: 1}
    assert counts("D7") == {7: 1, 2: 7}
    assert counts("T") == {3: 4, 2: 3}
    assert counts("O") == {4: 3, 3: 4, 2: 6}
    assert counts("I") == {5: 6, 3: 10, 2: 15}
    # the standard frames: D's two-fold on x, I's two-folds on x, y, z
    d = dict((tuple(np.round(u, 6)), o) for o, u in group_axes("D5", np.eye(3)))
    assert d[(1.0, 0.0, 0.0)] == 2 and d[(0.0, 0.0, 1.0)] == 5
    i_axes = {tuple(np.round(u, 6)): o for o, u in group_axes("I", np.eye(3))}
    assert i_axes[(0.0, 0.0, 1.0)] == 2


@pytest.mark.parametrize("bad", ["C0", "D1", "X3", "C", "D", "4", "Q", "C4.5", "", "C101"])
def test_bad_group_names(bad):
    with pytest.raises(ConfigError, match="unknown point group"):
        parse_group(bad)


def test_names_are_canonical():
    assert parse_group(" d7 ") == PointGroup("D", 7)
    assert parse_group("i").name == "I" and str(parse_group("c3")) == "C3"


def test_operators_fix_the_centre_and_follow_the_frame(rng):
    frame = quat_to_matrix(random_quaternions(1, rng)[0])
    c = np.array([10.0, -3.0, 7.5])
    ops = group_operators("D3", centre_xyz=c, frame=frame)
    assert len(ops) == 6
    for g in ops:
        assert np.allclose(g.apply(c[None])[0], c)
    # the three-fold is the frame's z column: it fixes points on the axis
    on_axis = c + 5.0 * frame[:, 2]
    assert np.allclose(ops[1].apply(on_axis[None])[0], on_axis)
    assert math.isclose(angle_between_deg(ops[1].rotation, np.eye(3)), 120.0, abs_tol=1e-9)


def test_frame_from_axes(rng):
    u = rng.normal(size=3)
    u /= np.linalg.norm(u)
    v = np.cross(u, rng.normal(size=3))
    for name in ("C5", "D4", "T", "O", "I"):
        f = frame_from_axes(name, u, v)
        assert np.allclose(f @ f.T, np.eye(3)) and np.isclose(np.linalg.det(f), 1)
        assert np.allclose(f @ parse_group(name).principal_axis_std, u)
    f = frame_from_axes("D4", u, v)  # the two-fold goes where asked
    assert np.allclose(f[:, 0], v / np.linalg.norm(v))
    with pytest.raises(ConfigError):
        frame_from_axes("D2", u, 3 * u)
    with pytest.raises(ConfigError, match="proper rotation"):
        group_operators("C2", frame=-np.eye(3))


def test_mates_and_equivalent_fits(rng):
    ops = group_operators("C4", centre_xyz=np.array([5.0, 5.0, 5.0]))
    place = RigidTransform(quat_to_matrix(random_quaternions(1, rng)[0]), np.array([20.0, 5, 5]))
    mates = symmetry_mates(place, ops)
    assert len(mates) == 4 and np.allclose(mates[0].to_matrix_3x4(), place.to_matrix_3x4())
    c0 = np.array([1.0, 2.0, 3.0])  # the structure's own centre
    # fits: the 4 mates slightly perturbed, a duplicate of mate 2, and an unrelated fit
    rots, cens = [], []
    for k, m in enumerate(mates + [mates[2]]):
        small = quat_to_matrix(np.array([1.0, *(rng.normal(size=3) * 0.01)]))
        rots.append(small @ m.rotation)
        cens.append(m.apply(c0[None])[0] + rng.normal(size=3) * 0.3 * (k > 0))
    rots.append(quat_to_matrix(random_quaternions(1, rng)[0]))
    cens.append(np.array([-40.0, 0.0, 0.0]))
    eq = label_equivalent_fits(
        np.array(rots), np.array(cens), ops, shift_tolerance=2.0, angle_tolerance_deg=6.0
    )
    assert eq.labels.tolist() == [0, 0, 0, 0, 0, 1]
    assert eq.operator_index[:5].tolist() == [0, 1, 2, 3, 2]
    assert eq.copies.tolist() == [4, 1] and eq.n_operators == 4
    assert eq.leaders.tolist() == [0, 5]
    # with the identity alone (no symmetry) every distinct placement is its own class
    eq1 = label_equivalent_fits(
        np.array(rots), np.array(cens), ops[:1], shift_tolerance=2.0, angle_tolerance_deg=6.0
    )
    assert eq1.labels.tolist() == [0, 1, 2, 3, 2, 4]
    # visiting order: the best fit leads
    eq2 = label_equivalent_fits(np.array(rots), np.array(cens), ops, shift_tolerance=2.0,
                                angle_tolerance_deg=6.0, order=np.array([3, 0, 1, 2, 4, 5]))  # fmt: skip
    assert eq2.leaders.tolist() == [3, 5] and eq2.operator_index[3] == 0
    with pytest.raises(ConfigError):
        label_equivalent_fits(np.array(rots), np.array(cens)[:2], ops, shift_tolerance=1,
                              angle_tolerance_deg=1)  # fmt: skip
