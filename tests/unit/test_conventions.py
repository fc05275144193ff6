"""The coordinate conventions, each pinned over its variants (float64 round trips).

* quaternions (w, x, y, z) <-> rotation matrices, in NumPy and in torch, scalar-first and
  scalar-last, any scale and either sign;
* rigid transforms <-> their flat, 3x4 and 4x4 forms, composition and inverse;
* world (x, y, z) Å <-> grid (i, j, k) over anisotropic voxels and any origin, and voxel
  ``data[k, j, i]`` at ``origin + voxel * (i, j, k)``;
* ``grid_sample(align_corners=True)``: -1..1 spans voxel centres 0..n-1, so the scale is
  (n - 1)·voxel, not n·voxel (planted points, every shape and voxel size).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as hs
from scipy.spatial.transform import Rotation

from difffit.density.map import DensityMap
from difffit.fitting.torch_path import quat_to_matrix_torch
from difffit.geometry import (
    RigidTransform,
    angle_between_deg,
    matrix_to_quat,
    quat_multiply,
    quat_to_matrix,
    quat_wxyz_to_xyzw,
    quat_xyzw_to_wxyz,
)

finite = hs.floats(-1.0, 1.0, allow_nan=False)
quats = hs.tuples(finite, finite, finite, finite).filter(lambda q: np.linalg.norm(q) > 1e-3)
scales = hs.floats(1e-3, 1e3)
translations = hs.tuples(*[hs.floats(-1e3, 1e3, allow_nan=False)] * 3)


def unit(q) -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    return q / np.linalg.norm(q)


def same_rotation(a_wxyz, b_wxyz) -> bool:
    """q and -q are the same rotation."""
    a, b = unit(a_wxyz), unit(b_wxyz)
    return bool(np.allclose(a, b, atol=1e-9) or np.allclose(a, -b, atol=1e-9))


# ------------------------------------------------------------------ quaternions
@given(q=quats, scale=scales)
def test_quaternion_matrix_round_trip(q, scale):
    r = quat_to_matrix(np.asarray(q) * scale)  # not normalised on input
    assert np.allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0, abs=1e-12)
    back = matrix_to_quat(r)
    assert back[0] >= 0 and np.linalg.norm(back) == pytest.approx(1.0)
    assert same_rotation(back, q)
    assert np.allclose(quat_to_matrix(-np.asarray(q)), r, atol=1e-12)


@given(q=quats)
def test_quaternion_convention_is_scalar_first_like_scipy(q):
    ours = quat_to_matrix(q)
    theirs = Rotation.from_quat(quat_wxyz_to_xyzw(unit(q))).as_matrix()
    assert np.allclose(ours, theirs, atol=1e-12)
    assert np.allclose(quat_xyzw_to_wxyz(quat_wxyz_to_xyzw(q)), q)


@given(q=quats)
def test_torch_quaternions_match_numpy(q):
    t = quat_to_matrix_torch(torch.tensor(q, dtype=torch.float64))
    assert np.allclose(t.numpy(), quat_to_matrix(q), atol=1e-12)


@given(a=quats, b=quats)
def test_quaternion_product_is_composition_b_first(a, b):
    ab = quat_to_matrix(quat_multiply(unit(a), unit(b)))
    assert np.allclose(ab, quat_to_matrix(a) @ quat_to_matrix(b), atol=1e-12)


@pytest.mark.parametrize(
    ("axis", "angle_deg"),
    [((1, 0, 0), 90), ((0, 1, 0), 90), ((0, 0, 1), 90), ((1, 1, 1), 120), ((0, 0, 1), 180)],
)
def test_right_handed_rotation_about_an_axis(axis, angle_deg):
    """(cos θ/2, sin θ/2 · axis) turns points anticlockwise about the axis (right hand)."""
    u = unit(axis)
    half = np.radians(angle_deg) / 2
    r = quat_to_matrix(np.concatenate([[np.cos(half)], np.sin(half) * u]))
    assert np.allclose(r @ u, u)  # the axis stays put
    assert np.allclose(r, Rotation.from_rotvec(np.radians(angle_deg) * u).as_matrix())
    assert angle_between_deg(r, np.eye(3)) == pytest.approx(angle_deg)


def test_near_180_degree_rotations_keep_full_precision():
    """Shepperd's branch choice: matrices with trace near -1 still round-trip exactly."""
    for axis in np.eye(3).tolist() + [[1, 1, 0], [0, 1, 1], [1, 0, 1]]:
        for angle in (179.999, 180.0):
            r = Rotation.from_rotvec(np.radians(angle) * unit(axis)).as_matrix()
            assert np.allclose(quat_to_matrix(matrix_to_quat(r)), r, atol=1e-12)


def test_batched_shapes_are_kept(rng):
    q = rng.normal(size=(2, 3, 4))
    r = quat_to_matrix(q)
    assert r.shape == (2, 3, 3, 3)
    assert matrix_to_quat(r).shape == (2, 3, 4)


# ------------------------------------------------------------------ rigid transforms
@given(q=quats, t=translations, q2=quats, t2=translations)
def test_rigid_transform_forms_and_algebra(q, t, q2, t2):
    a = RigidTransform.from_quat(q, t)
    b = RigidTransform.from_quat(q2, t2)
    for back in (
        RigidTransform.from_r_t_flat(a.to_r_t_flat()),
        RigidTransform.from_matrix_3x4(a.to_matrix_3x4()),
        RigidTransform.from_matrix_3x4(a.to_matrix_4x4()[:3]),
    ):
        assert np.array_equal(back.rotation, a.rotation)
        assert np.array_equal(back.translation, a.translation)
    flat = a.to_r_t_flat()
    assert np.array_equal(flat[:9], a.rotation.reshape(9))  # r11 r12 r13 r21 ... row-major
    p = np.array([[1.0, -2.0, 3.0], [0.0, 0.0, 0.0]])
    assert np.allclose(a.apply(p), p @ a.rotation.T + a.translation)
    assert np.allclose(a.compose(b).apply(p), a.apply(b.apply(p)), atol=1e-9)
    assert np.allclose(a.inverse().apply(a.apply(p)), p, atol=1e-9)
    h = np.c_[p, np.ones(2)] @ a.to_matrix_4x4().T
    assert np.allclose(h[:, :3], a.apply(p))


# ------------------------------------------------------------------ world <-> grid
voxels = hs.tuples(*[hs.floats(0.1, 10.0)] * 3)
origin_values = hs.tuples(*[hs.floats(-1e4, 1e4, allow_nan=False)] * 3)


@given(voxel=voxels, origin=origin_values, ijk=hs.tuples(*[hs.floats(-50, 50)] * 3))
def test_world_grid_round_trip(voxel, origin, ijk):
    m = DensityMap(np.zeros((2, 3, 4)), voxel, origin)
    w = m.grid_to_world(np.array([ijk]))
    assert np.allclose(w, np.array(origin) + np.array(voxel) * ijk, rtol=1e-12, atol=1e-9)
    assert np.allclose(m.world_to_grid(w), [ijk], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("shape_zyx", [(2, 2, 2), (3, 4, 5), (5, 4, 3), (2, 7, 3)])
@pytest.mark.parametrize("voxel", [(1.0, 1.0, 1.0), (0.5, 1.5, 2.5), (3.0, 0.7, 1.1)])
def test_voxel_kji_sits_at_origin_plus_voxel_times_ijk(rng, shape_zyx, voxel):
    data = rng.normal(size=shape_zyx).astype(np.float32)
    m = DensityMap(data, voxel, (-3.0, 5.0, 0.25))
    assert m.shape_xyz == shape_zyx[::-1]
    assert np.allclose(m.extent_xyz, (np.array(shape_zyx[::-1]) - 1) * voxel)
    k, j, i = (rng.integers(0, n) for n in shape_zyx)
    p = m.origin_xyz + m.voxel_size_xyz * [i, j, k]
    assert m.sample(p[None])[0] == pytest.approx(float(data[k, j, i]), abs=1e-6)
    mask = np.zeros(shape_zyx, dtype=bool)
    mask[k, j, i] = True
    assert np.allclose(m.voxel_centres_xyz(mask), p[None])


# ------------------------------------------------------------------ grid_sample scale
def grid_sample_at(m: DensityMap, xyz: np.ndarray, scale_xyz: np.ndarray) -> np.ndarray:
    """torch ``grid_sample(align_corners=True)`` at world points normalised with ``scale``."""
    norm = 2 * (xyz - m.origin_xyz) / scale_xyz - 1
    grid = torch.tensor(norm, dtype=torch.float64).view(1, 1, 1, -1, 3)
    vol = torch.tensor(m.data, dtype=torch.float64)[None, None]
    out = torch.nn.functional.grid_sample(vol, grid, mode="bilinear", align_corners=True)
    return out.flatten().numpy()


@pytest.mark.parametrize("shape_zyx", [(3, 4, 5), (6, 6, 6), (2, 9, 4)])
@pytest.mark.parametrize("voxel", [(1.0, 1.0, 1.0), (0.8, 1.3, 2.1)])
def test_grid_sample_align_corners_scale_is_n_minus_1_voxels(rng, shape_zyx, voxel):
    m = DensityMap(rng.normal(size=shape_zyx), voxel, (11.0, -7.0, 2.5))
    n_xyz = np.array(m.shape_xyz)
    right = (n_xyz - 1) * m.voxel_size_xyz
    wrong = n_xyz * m.voxel_size_xyz
    # planted points: every voxel centre, and points in between
    k, j, i = np.meshgrid(*[np.arange(n) for n in shape_zyx], indexing="ij")
    centres = m.grid_to_world(np.stack([i.ravel(), j.ravel(), k.ravel()], axis=1))
    assert np.allclose(grid_sample_at(m, centres, right), m.data.ravel(), atol=1e-6)
    assert not np.allclose(grid_sample_at(m, centres, wrong), m.data.ravel(), atol=1e-3)
    between = m.grid_to_world(rng.uniform(0, 1, size=(40, 3)) * (n_xyz - 1))
    assert np.allclose(grid_sample_at(m, between, right), m.sample(between), atol=1e-5)
