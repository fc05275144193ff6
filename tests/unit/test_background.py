"""Scores relative to the map's background: a constant offset changes neither the automatic
level (beyond the offset) nor a score."""

import numpy as np

from difffit.density.map import DensityMap
from difffit.density.prepare import auto_level, background_value, prepare_map
from difffit.fitting.quality import SimulatedProbe, quality_metrics


def _masked_map(rng):
    d = np.zeros((32, 32, 32), dtype=np.float32)
    d[8:24, 8:24, 8:24] = rng.normal(scale=0.05, size=(16, 16, 16))
    d[12:20, 12:20, 12:20] += 1.0
    return DensityMap(d, 1.5, origin_xyz=(3.0, -2.0, 1.0))


def test_background_is_the_median_and_zero_for_a_masked_map(rng):
    m = _masked_map(rng)
    assert background_value(m) == 0.0
    off = m.with_data(m.data + np.float32(1e4))
    assert background_value(off) == 1e4
    assert prepare_map(off).background == 1e4


def test_automatic_level_of_an_offset_map(rng):
    """numpy's histogram of float32 values near 1e4 failed with 'Too many bins'."""
    m = _masked_map(rng)
    off = m.with_data(m.data + np.float32(1e4))
    assert abs((auto_level(off) - 1e4) - auto_level(m)) < 2e-3


def test_scores_do_not_change_with_an_offset(rng):
    m = _masked_map(rng)
    off = m.with_data(m.data + np.float32(1e4))
    xyz = rng.normal(scale=4.0, size=(40, 3))
    z = np.full(40, 6)
    probe = SimulatedProbe.from_atoms(xyz, z, resolution=5.0, voxel_size=1.5, envelope=0.1)
    rot = np.repeat(np.eye(3)[None], 3, axis=0)
    # in the box, half out of it, and beyond it: beyond, points take the background
    shift = np.array([[27.0, 22.0, 25.0], [3.0, 22.0, 25.0], [-40.0, 0.0, 0.0]])
    a = quality_metrics(m, 0.5, xyz, probe, rot, shift)
    b = quality_metrics(off, 1e4 + 0.5, xyz, probe, rot, shift, background=1e4)
    for k in a:
        np.testing.assert_allclose(b[k], a[k], atol=1e-3, err_msg=k)
    assert a["density"][0] > 0.3  # the test is not vacuous
