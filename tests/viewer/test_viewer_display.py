"""What the viewer shows: display-sized maps, point clouds (pure functions, known answers)."""

from __future__ import annotations

import gemmi
import numpy as np
import pytest

from difffit.density.map import DensityMap
from difffit.geometry import RigidTransform, random_quaternions
from difffit.viewer.display import (
    crop_threshold,
    crop_to_density,
    display_factor,
    downsample_for_display,
    fit_centres_xyz,
    n_voxels_above,
    points_mmcif,
)


def test_display_factor():
    assert display_factor((100, 100, 100), 128) == 1
    assert display_factor((128, 10, 10), 128) == 1
    assert display_factor((129, 10, 10), 128) == 2
    assert display_factor((10, 220, 10), 128) == 2
    assert display_factor((10, 10, 400), 128) == 4
    with pytest.raises(ValueError):
        display_factor((10, 10, 10), 1)


def test_small_map_is_left_alone():
    m = DensityMap(np.zeros((5, 6, 7), np.float32), 1.5, (1, 2, 3))
    out, f = downsample_for_display(m, 8)
    assert f == 1 and out is m


def test_block_mean_values_and_placement():
    """Each display voxel is the mean of its block and sits at the block's centre (world)."""
    rng = np.random.default_rng(3)
    data = rng.normal(size=(9, 8, 7)).astype(np.float32)  # z, y, x; 9 and 7 not multiples of 2
    vs = np.array([1.1, 1.2, 1.3])
    origin = np.array([5.0, -3.0, 2.0])
    m = DensityMap(data, vs, origin)
    out, f = downsample_for_display(m, 4)
    assert f == 3
    assert out.shape_zyx == (3, 3, 3)
    assert np.allclose(out.voxel_size_xyz, vs * 3)
    # full block [0:3, 0:3, 0:3] and the partial last block along y ([6:8]) and x ([6:7])
    assert out.data[0, 0, 0] == pytest.approx(data[0:3, 0:3, 0:3].mean(), abs=1e-6)
    assert out.data[2, 2, 2] == pytest.approx(data[6:9, 6:8, 6:7].mean(), abs=1e-6)
    # voxel [0,0,0] of the display map is at the centre of the first block, in world units
    assert np.allclose(out.origin_xyz, origin + 1.0 * vs)


def test_planted_blob_stays_in_place():
    """A Gaussian blob planted at a world point is found at the same point after downsampling,
    and a level keeps its meaning (the blob stays above it)."""
    shape = (150, 140, 130)
    vs = np.array([1.0, 1.1, 0.9])
    origin = np.array([-20.0, 7.5, 3.0])
    p = np.array([40.3, 80.2, 71.9])  # world x, y, z
    z, y, x = np.indices(shape)
    wx, wy, wz = origin[0] + x * vs[0], origin[1] + y * vs[1], origin[2] + z * vs[2]
    blob = np.exp(-((wx - p[0]) ** 2 + (wy - p[1]) ** 2 + (wz - p[2]) ** 2) / (2 * 4.0**2))
    m = DensityMap(blob.astype(np.float32), vs, origin)
    out, f = downsample_for_display(m, 64)
    assert f == 3 and max(out.shape_zyx) <= 64
    w = out.data.astype(np.float64)
    zz, yy, xx = np.indices(out.shape_zyx)
    centroid_grid = np.array([(xx * w).sum(), (yy * w).sum(), (zz * w).sum()]) / w.sum()
    centroid = out.origin_xyz + centroid_grid * out.voxel_size_xyz
    assert np.allclose(centroid, p, atol=0.05)
    assert n_voxels_above(out, 0.5) > 0
    assert n_voxels_above(m, 0.5) == int((blob > 0.5).sum())


def test_fit_centres():
    rng = np.random.default_rng(5)
    c = np.array([3.0, -2.0, 7.0])
    qs = random_quaternions(4, rng)
    ts = rng.normal(size=(4, 3)) * 10
    flat = np.array(
        [RigidTransform.from_quat(q, t).to_r_t_flat() for q, t in zip(qs, ts, strict=True)]
    )
    got = fit_centres_xyz(flat, c)
    want = np.array(
        [RigidTransform.from_quat(q, t).apply(c[None])[0] for q, t in zip(qs, ts, strict=True)]
    )
    assert np.allclose(got, want)


def test_points_mmcif_reads_back():
    xyz = np.array([[1.0, 2.0, 3.0], [4.5, -5.0, 6.25], [0.0, 0.0, 0.0]])
    vals = np.array([0.2, 0.6, np.nan])
    text, lo, hi = points_mmcif(
        xyz, vals, group=np.array(["A", "B", "B"]), ids=np.array([10, 11, 12])
    )
    assert (lo, hi) == (0.2, 0.6)
    st = gemmi.make_structure_from_block(gemmi.cif.read_string(text).sole_block())
    atoms = [(ch.name, r.seqid.num, a) for ch in st[0] for r in ch for a in r]
    assert [(c, n) for c, n, _ in atoms] == [("A", 10), ("B", 11), ("B", 12)]
    got = np.array([a.pos.tolist() for _, _, a in atoms])
    assert np.allclose(got, xyz, atol=1e-3)
    assert [round(a.b_iso, 2) for _, _, a in atoms] == [0.0, 100.0, 0.0]
    with pytest.raises(ValueError):
        points_mmcif(xyz, vals[:2])


def test_points_colour_scale_from_a_percentile():
    """With a low percentile, outliers below it share the lowest colour; the rest spread."""
    vals = np.concatenate([[-100.0], np.linspace(0.0, 1.0, 99)])
    xyz = np.zeros((100, 3))
    text, lo, hi = points_mmcif(xyz, vals, low_percentile=5.0)
    assert lo == pytest.approx(np.percentile(vals, 5.0)) and hi == 1.0
    st = gemmi.make_structure_from_block(gemmi.cif.read_string(text).sole_block())
    b = np.array([a.b_iso for ch in st[0] for r in ch for a in r])
    assert b[0] == 0.0 and b[-1] == 100.0
    assert np.allclose(b[1:], np.clip((vals[1:] - lo) / (hi - lo), 0, 1) * 100, atol=0.01)
    with pytest.raises(ValueError):
        points_mmcif(xyz, vals, low_percentile=101)


def test_crop_to_density_keeps_world_positions():
    """A blob in a big empty box: the crop keeps the blob (+ margin) where it was."""
    shape = (60, 50, 40)  # z, y, x
    vs = np.array([1.5, 1.2, 1.0])
    origin = np.array([3.0, -4.0, 10.0])
    data = np.zeros(shape, np.float32)
    data[30:35, 20:24, 10:13] = 1.0  # z 30..34, y 20..23, x 10..12
    data[32, 21, 11] = 5.0
    m = DensityMap(data, vs, origin)
    out = crop_to_density(m, 0.5, margin=3.0)
    # margin 3 Å = 2 voxels in x (1.5 Å), 3 in y (1.2 Å), 3 in z (1.0 Å)
    assert out.shape_zyx == (5 + 6, 4 + 6, 3 + 4)
    assert np.allclose(out.origin_xyz, origin + np.array([10 - 2, 20 - 3, 30 - 3]) * vs)
    # the peak is at the same world position
    k = np.unravel_index(np.argmax(out.data), out.shape_zyx)
    assert np.allclose(
        out.grid_to_world(np.array([k[::-1]])), m.grid_to_world(np.array([[11, 21, 32]]))
    )
    assert out.data.sum() == pytest.approx(data.sum())
    # clipped at the map's edges, unchanged when nothing can go, untouched when nothing is above
    edge = np.zeros(shape, np.float32)
    edge[0, 0, 0] = edge[-1, -1, -1] = 1.0
    assert crop_to_density(DensityMap(edge, vs, origin), 0.5) is not None
    assert crop_to_density(DensityMap(edge, vs, origin), 0.5).shape_zyx == shape
    assert crop_to_density(m, 10.0) is m


def test_crop_threshold():
    rng = np.random.default_rng(2)
    data = rng.normal(0.0, 1.0, size=(20, 20, 20)).astype(np.float32)
    m = DensityMap(data, 1.0)
    assert crop_threshold(m, 10.0) == pytest.approx(data.mean() + data.std(), rel=1e-5)
    assert crop_threshold(m, 1.0) == pytest.approx(0.5)
