import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from difffit.geometry import (
    RigidTransform,
    angle_between_deg,
    kabsch,
    matrix_to_quat,
    quat_multiply,
    quat_to_matrix,
    quat_wxyz_to_xyzw,
    quat_xyzw_to_wxyz,
    random_quaternions,
    uniform_quaternions,
)


def test_quat_matrix_round_trip_float64(rng):
    q = random_quaternions(500, rng)
    r = quat_to_matrix(q)
    assert np.allclose(r @ np.swapaxes(r, -1, -2), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(r), 1.0)
    q2 = matrix_to_quat(r)
    assert np.allclose(np.abs(np.sum(q * q2, axis=1)), 1.0, atol=1e-12)


def test_quat_convention_matches_scipy(rng):
    q = random_quaternions(50, rng)
    ours = quat_to_matrix(q)
    theirs = Rotation.from_quat(quat_wxyz_to_xyzw(q)).as_matrix()
    assert np.allclose(ours, theirs, atol=1e-12)
    assert np.allclose(quat_xyzw_to_wxyz(quat_wxyz_to_xyzw(q)), q)


def test_quat_about_z_rotates_x_to_y():
    half = np.pi / 4
    q = np.array([np.cos(half), 0, 0, np.sin(half)])  # 90° about z
    assert np.allclose(quat_to_matrix(q) @ [1, 0, 0], [0, 1, 0], atol=1e-12)


def test_quat_multiply_is_composition(rng):
    a, b = random_quaternions(2, rng)
    assert np.allclose(quat_to_matrix(quat_multiply(a, b)), quat_to_matrix(a) @ quat_to_matrix(b))


def test_uniform_quaternions_cover_so3():
    q = uniform_quaternions(1000)
    assert np.allclose(np.linalg.norm(q, axis=1), 1)
    # nearest-neighbour angle: no duplicates, no large holes
    r = quat_to_matrix(q)
    dots = np.abs(q @ q.T)
    np.fill_diagonal(dots, 0)
    nn = 2 * np.degrees(np.arccos(np.clip(dots.max(axis=1), -1, 1)))
    assert nn.min() > 3.0
    assert nn.max() < 25.0
    # mean rotation matrix of a uniform set is ~0
    assert np.abs(r.mean(axis=0)).max() < 0.02


def test_random_quaternions_uniform(rng):
    r = quat_to_matrix(random_quaternions(20000, rng))
    assert np.abs(r.mean(axis=0)).max() < 0.02


def test_angle_between():
    r = Rotation.from_rotvec([0, 0, np.radians(30)]).as_matrix()
    assert angle_between_deg(r, np.eye(3)) == pytest.approx(30)


def test_rigid_transform_compose_inverse(rng):
    a = RigidTransform.from_quat(random_quaternions(1, rng)[0], rng.normal(size=3) * 10)
    b = RigidTransform.from_quat(random_quaternions(1, rng)[0], rng.normal(size=3) * 10)
    x = rng.normal(size=(20, 3)) * 10
    assert np.allclose(a.compose(b).apply(x), a.apply(b.apply(x)))
    assert np.allclose(a.inverse().apply(a.apply(x)), x)
    assert np.allclose(
        RigidTransform.from_r_t_flat(a.to_r_t_flat()).to_matrix_4x4(), a.to_matrix_4x4()
    )
    assert np.allclose(RigidTransform.from_matrix_3x4(a.to_matrix_3x4()).apply(x), a.apply(x))
    with pytest.raises(ValueError):
        a.rotation[0, 0] = 2.0  # frozen


def test_kabsch_recovers_transform(rng):
    t = RigidTransform.from_quat(random_quaternions(1, rng)[0], [1.0, -2.0, 3.0])
    x = rng.normal(size=(30, 3)) * 5
    r, tt = kabsch(x, t.apply(x))
    assert np.allclose(r, t.rotation, atol=1e-10)
    assert np.allclose(tt, t.translation, atol=1e-10)
