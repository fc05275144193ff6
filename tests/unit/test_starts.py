"""Start positions (difffit.fitting.starts.spread_positions)."""

from __future__ import annotations

import numpy as np

from difffit.fitting.starts import spread_positions


def _grid(lo, hi, step=1.5):
    ax = np.arange(lo, hi, step)
    return np.stack(np.meshgrid(ax, ax, ax, indexing="ij"), axis=-1).reshape(-1, 3)


def test_positions_are_distinct_footprint_points_one_per_blob():
    blobs = [_grid(0, 9) + off for off in ([0, 0, 0], [40, 0, 0], [0, 40, 0], [0, 0, 40])]
    pts = np.concatenate(blobs)
    for seed in range(5):
        pos = spread_positions(pts, 4, rng=np.random.default_rng(seed))
        assert len({tuple(p) for p in pos}) == 4
        assert all((np.abs(pts - p).sum(axis=1) == 0).any() for p in pos)
        # k-means over four separate blobs: a position in each, near its middle
        which = sorted(int(np.argmin([np.linalg.norm(p - b.mean(0)) for b in blobs])) for p in pos)
        assert which == [0, 1, 2, 3]
        assert max(min(np.linalg.norm(p - b.mean(0)) for b in blobs) for p in pos) < 3.0


def test_seeded_and_subsampled_for_large_footprints():
    pts = _grid(0, 60, 1.0)  # 216,000 points: centres placed on a random 20,000
    a = spread_positions(pts, 10, rng=np.random.default_rng(3))
    b = spread_positions(pts, 10, rng=np.random.default_rng(3))
    assert np.array_equal(a, b) and len({tuple(p) for p in a}) == 10
    # evenly spread: no two positions close together
    d = np.linalg.norm(a[:, None] - a[None], axis=-1) + np.eye(10) * 1e9
    assert d.min() > 10.0


def test_fewer_points_than_positions_repeats_them():
    pts = _grid(0, 3)  # 8 points
    pos = spread_positions(pts, 12, rng=np.random.default_rng(0))
    assert len(pos) == 12 and len({tuple(p) for p in pos}) == 8
