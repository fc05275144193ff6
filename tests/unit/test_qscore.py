"""Q-score from its definition: known answers on simulated maps, and a brute-force reference."""

from __future__ import annotations

import numpy as np
import pytest

from difffit.density.map import DensityMap
from difffit.errors import ConfigError
from difffit.fitting.qscore import q_scores, shell_points, unit_sphere
from tests.qscore_reference import brute_force_q


def _gaussian_map(xyz, sigma, voxel=0.25, pad=4.0, noise=0.0, seed=0):
    lo = xyz.min(axis=0) - pad
    n = np.ceil((xyz.max(axis=0) + pad - lo) / voxel).astype(int) + 1
    gx, gy, gz = (lo[i] + voxel * np.arange(n[i]) for i in range(3))
    z, y, x = np.meshgrid(gz, gy, gx, indexing="ij")
    data = np.zeros(z.shape)
    for p in xyz:
        data += np.exp(-((x - p[0]) ** 2 + (y - p[1]) ** 2 + (z - p[2]) ** 2) / (2 * sigma**2))
    if noise:
        data += noise * np.random.default_rng(seed).standard_normal(data.shape)
    return DensityMap(data.astype(np.float32), (voxel,) * 3, tuple(lo))


def test_unit_sphere_is_on_the_sphere_and_spread():
    s = unit_sphere()
    assert s.shape == (128, 3)
    assert np.allclose(np.linalg.norm(s, axis=1), 1.0)
    assert np.allclose(s.mean(axis=0), 0.0, atol=0.02)


def test_isolated_atom_shaped_peaks_score_one():
    xyz = np.array([[0.0, 0.0, 0.0], [6.0, 0.0, 0.0], [0.0, 6.0, 1.0]])
    q = q_scores(_gaussian_map(xyz, 0.6), xyz)
    assert np.all(q.atom > 0.99)


def test_wider_peaks_and_noise_score_lower_and_shifted_model_scores_about_zero():
    xyz = np.array([[0.0, 0.0, 0.0], [6.0, 0.0, 0.0], [0.0, 6.0, 1.0]])
    sharp = q_scores(_gaussian_map(xyz, 0.6, noise=0.05), xyz).mean
    blurred = q_scores(_gaussian_map(xyz, 1.5, noise=0.05), xyz).mean
    assert 0.9 < sharp < 1.0
    assert blurred < sharp - 0.05
    off = q_scores(_gaussian_map(xyz, 0.6), xyz + np.array([2.5, 0.0, 0.0])).mean
    assert off < 0.1


def test_shell_points_are_closest_to_their_own_atom():
    xyz = np.array([[0.0, 0.0, 0.0], [1.5, 0.0, 0.0], [0.0, 1.5, 0.0]])
    radii = np.arange(0.0, 2.05, 0.1)
    pts, count = shell_points(xyz, radii=radii, points_per_shell=8)
    assert np.all(count[:, 0] == 8) and np.all(count <= 8)
    for a in range(3):
        for s in range(len(radii)):
            p = pts[a, s, : count[a, s]]
            d = np.linalg.norm(p[:, None, :] - xyz[None], axis=2)
            assert np.allclose(d[:, a], radii[s])
            assert np.all(d[:, a] <= d.min(axis=1) + 1e-9)
            assert np.all(np.isnan(pts[a, s, count[a, s] :]))


def test_matches_brute_force_reference_on_a_noisy_molecule_like_map(rng):
    xyz = rng.uniform(0, 8, size=(25, 3))
    xyz = xyz[
        np.all(np.linalg.norm(xyz[:, None] - xyz[None], axis=2) + np.eye(25) * 9 > 1.2, axis=1)
    ]
    density = _gaussian_map(xyz, 0.9, voxel=0.4, noise=0.1, seed=3)
    fast = q_scores(density, xyz).atom
    slow = brute_force_q(density, xyz)
    assert np.nanmax(np.abs(fast - slow)) < 1e-3


def test_residue_means_follow_first_appearance():
    xyz = np.array([[0.0, 0.0, 0.0], [6.0, 0.0, 0.0], [0.0, 6.0, 1.0], [6.0, 6.0, 0.0]])
    q = q_scores(_gaussian_map(xyz, 0.6), xyz, residue_index=np.array([7, 7, 3, 9]))
    assert q.residue.shape == (3,)
    assert list(q.residue_index) == [0, 0, 1, 2]
    assert q.residue[0] == pytest.approx(q.atom[:2].mean())


@pytest.mark.parametrize(
    "kwargs",
    [{"sigma": 0.0}, {"sigma": float("nan")}, {"step": -0.1}, {"points_per_shell": 0},
     {"max_radius": float("inf")}],
)  # fmt: skip
def test_bad_parameters_are_config_errors(kwargs):
    xyz = np.zeros((1, 3))
    with pytest.raises(ConfigError):
        q_scores(_gaussian_map(xyz, 0.6), xyz, **kwargs)


def test_bad_coordinates_are_config_errors():
    d = _gaussian_map(np.zeros((1, 3)), 0.6)
    with pytest.raises(ConfigError, match="empty"):
        q_scores(d, np.zeros((0, 3)))
    with pytest.raises(ConfigError, match="finite"):
        q_scores(d, np.array([[np.nan, 0, 0]]))
    with pytest.raises(ConfigError, match="residue_index"):
        q_scores(d, np.zeros((2, 3)) + [[0, 0, 0], [5, 0, 0]], residue_index=np.zeros(3))
