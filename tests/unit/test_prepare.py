import numpy as np
import pytest

from difffit.config import PrepConfig
from difffit.density.map import DensityMap
from difffit.density.prepare import auto_level, prepare_map, remove_islands
from difffit.errors import ConfigError


def _blob_map(rng):
    d = rng.normal(scale=0.05, size=(30, 30, 30))
    d[10:20, 10:20, 10:20] += 1.0  # a block of density
    d[2, 2, 2] = 1.2  # a one-voxel island of noise
    return DensityMap(d, 1.0)


def test_auto_level_separates_two_classes(rng):
    m = _blob_map(rng)
    lvl = auto_level(m)
    assert 0.2 < lvl < 0.8


def test_islands_are_really_removed(rng):
    m = _blob_map(rng)
    p = prepare_map(m, PrepConfig(level=0.5, min_island_voxels=5))
    assert not p.footprint[2, 2, 2]
    assert p.footprint[15, 15, 15]
    assert p.n_islands_removed >= 1
    keep = prepare_map(m, PrepConfig(level=0.5, min_island_voxels=0))
    assert keep.footprint[2, 2, 2]
    mask = np.zeros((5, 5, 5), bool)
    mask[0, 0, 0] = True
    mask[2:5, 2:5, 2:5] = True
    out, n, nv = remove_islands(mask, 2)
    assert n == 1 and nv == 1 and out.sum() == 27


def test_normalised_and_target(rng):
    m = _blob_map(rng)
    p = prepare_map(m, PrepConfig(level=0.5))
    n = p.normalised.data
    assert n.min() == 0.0 and n.max() <= 1.0
    assert np.all(n[~p.footprint] == 0)

    def target_at(prep, mask):  # the target as the search sees it, at voxel centres of the map
        return prep.target.sample(m.voxel_centres_xyz(mask), outside=prep.config.negative_value)

    far = np.zeros(m.shape_zyx, bool)
    far[0, 29, 29] = True
    centre = np.zeros(m.shape_zyx, bool)
    centre[15, 15, 15] = True
    assert target_at(p, far)[0] == pytest.approx(-0.5)  # far from density: negative value
    assert target_at(p, centre)[0] > 0.3
    assert m.data[15, 15, 15] != n[15, 15, 15]  # input untouched, new arrays
    # weights: only the sharp copy -> target is copy 0 (negative outside the footprint)
    sharp = prepare_map(m, PrepConfig(level=0.5, n_smooth=2, smooth_weights=(1.0, 0.0, 0.0)))
    assert np.allclose(target_at(sharp, ~sharp.footprint), -0.5)
    smooth = prepare_map(m, PrepConfig(level=0.5, n_smooth=2, smooth_weights=(0.0, 0.0, 1.0)))
    # smoothing spreads the support beyond the footprint
    assert (target_at(smooth, np.ones(m.shape_zyx, bool)) > 0).sum() > sharp.footprint.sum()


def test_crop_changes_no_value(rng):
    """The cropped target equals the uncropped construction everywhere the search can sample."""
    from difffit.density.prepare import smoothed_copies

    m = _blob_map(rng)
    cfg = PrepConfig(level=0.5, n_smooth=3)
    p = prepare_map(m, cfg)
    full = sum(smoothed_copies(p.normalised.data, cfg)) / 4.0
    pts = m.voxel_centres_xyz(np.ones(m.shape_zyx, bool))
    assert p.target.shape_zyx[0] < m.shape_zyx[0]  # cropped to the footprint's reach
    assert np.allclose(p.target.sample(pts, outside=-0.5), full.ravel(), atol=1e-6)


def test_level_errors(rng):
    m = _blob_map(rng)
    with pytest.raises(ConfigError, match="maximum"):
        prepare_map(m, PrepConfig(level=10.0))
    with pytest.raises(ConfigError, match="n_smooth \\+ 1"):
        PrepConfig(n_smooth=2, smooth_weights=(1.0, 1.0))
    with pytest.raises(ConfigError, match="odd"):
        PrepConfig(smooth_kernel_size=4)
    with pytest.raises(ConfigError):
        PrepConfig(negative_value=0.5)
    with pytest.raises(ConfigError, match="constant"):
        auto_level(DensityMap(np.ones((4, 4, 4)), 1.0))


@pytest.mark.parametrize("where", ["middle", "corner"])
@pytest.mark.parametrize(
    ("n_smooth", "kernel", "weights"),
    [(0, 5, None), (1, 3, None), (2, 5, (1.0, 0.0, 3.0)), (3, 7, None)],
)
@pytest.mark.parametrize("voxel", [(1.0, 1.0, 1.0), (0.7, 1.3, 2.0)])
def test_crop_changes_no_value_for_any_smoothing_or_grid(
    rng, where, n_smooth, kernel, weights, voxel
):
    """Cropped target = uncropped construction at every voxel, with the block in the middle or
    touching the box's edge, for any smoothing, weights and (anisotropic) voxel size."""
    from difffit.density.prepare import smoothed_copies

    d = rng.normal(scale=0.05, size=(24, 22, 20))
    block = (slice(8, 14), slice(7, 13), slice(6, 12)) if where == "middle" else (slice(0, 6),) * 3
    d[block] += 1.0
    m = DensityMap(d, voxel, (-20.0, 3.0, 7.5))
    cfg = PrepConfig(
        level=0.5, n_smooth=n_smooth, smooth_kernel_size=kernel, smooth_weights=weights
    )
    p = prepare_map(m, cfg)
    w = np.asarray(cfg.weights)
    full = sum(wk * c for wk, c in zip(w, smoothed_copies(p.normalised.data, cfg), strict=True))
    full = full / w.sum()
    pts = m.voxel_centres_xyz(np.ones(m.shape_zyx, bool))
    assert np.allclose(p.target.voxel_size_xyz, m.voxel_size_xyz)
    assert np.allclose(p.target.sample(pts, outside=cfg.negative_value), full.ravel(), atol=1e-6)
