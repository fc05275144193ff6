import numpy as np
import pytest

from difffit.density.map import DensityMap
from difffit.density.simulate import SIGMA_FACTOR, simulate_map, simulate_on_grid
from difffit.errors import ConfigError


def test_single_atom_gaussian_width():
    grid = DensityMap(np.zeros((41, 41, 41)), 0.5, [-10, -10, -10])
    sim = simulate_on_grid(np.zeros((1, 3)), np.array([6.0]), 4.0, grid)
    d = sim.data
    assert d.max() == pytest.approx(1.0)
    assert np.unravel_index(np.argmax(d), d.shape) == (20, 20, 20)
    # profile along x follows exp(-x^2 / 2 sigma^2) with sigma = 0.225 * resolution
    sigma = SIGMA_FACTOR * 4.0
    x = np.arange(-4, 5) * 0.5
    assert np.allclose(d[20, 20, 16:25], np.exp(-(x**2) / (2 * sigma**2)), atol=1e-4)


def test_simulate_map_encloses_atoms(rng):
    xyz = rng.normal(size=(50, 3)) * 5 + 100
    sim = simulate_map(xyz, np.full(50, 6.0), 5.0)
    g = sim.world_to_grid(xyz)
    assert np.all(g >= 0) and np.all(g <= np.array(sim.shape_xyz) - 1)
    assert np.allclose(sim.voxel_size_xyz, 5.0 / 3)
    with pytest.raises(ConfigError):
        simulate_map(xyz, np.ones(50), -1.0)


def _analytic(grid: DensityMap, xyz: np.ndarray, weights: np.ndarray, resolution: float):
    """The documented sum of Gaussians (σ = 0.225 × resolution, cut off at 3 σ per axis)."""
    sigma = SIGMA_FACTOR * resolution
    k, j, i = np.meshgrid(*[np.arange(n) for n in grid.shape_zyx], indexing="ij")
    centres = grid.grid_to_world(np.stack([i, j, k], axis=-1))  # (nz, ny, nx, 3)
    out = np.zeros(grid.shape_zyx)
    for p, w in zip(xyz, weights, strict=True):
        d = centres - p
        inside = np.all(np.abs(d) <= 3 * sigma, axis=-1)
        out += np.where(inside, w * np.exp(-(d**2).sum(axis=-1) / (2 * sigma**2)), 0.0)
    return out / out.max()


@pytest.mark.parametrize("voxel", [(1.0, 1.0, 1.0), (0.6, 1.0, 1.7), (1.9, 0.8, 1.2)])
@pytest.mark.parametrize("resolution", [3.0, 6.0])
def test_gaussians_are_isotropic_in_world_units_on_any_grid(rng, voxel, resolution):
    """Off-grid atoms on an anisotropic grid: the values are the world-space Gaussians."""
    grid = DensityMap(np.zeros((14, 16, 18)), voxel, (-4.0, 2.5, 10.0))
    middle = grid.grid_to_world((np.array(grid.shape_xyz) - 1) / 2)
    xyz = middle + rng.uniform(-2.0, 2.0, size=(3, 3))
    weights = np.array([6.0, 7.0, 8.0])
    sim = simulate_on_grid(xyz, weights, resolution, grid)
    assert sim.same_grid(grid)
    assert np.allclose(sim.data, _analytic(grid, xyz, weights, resolution), atol=2e-6)


@pytest.mark.parametrize("shift", [(0.0, 0.0, 0.0), (10.0, -3.5, 0.25), (-1e3, 2e3, 5e2)])
def test_moving_atoms_and_grid_together_changes_nothing(rng, shift):
    grid = DensityMap(np.zeros((10, 11, 12)), (0.9, 1.1, 1.3), (0.0, 0.0, 0.0))
    xyz = grid.grid_to_world(rng.uniform(3, 7, size=(5, 3)))
    w = rng.uniform(5, 9, size=5)
    a = simulate_on_grid(xyz, w, 4.0, grid)
    moved = DensityMap(grid.data, grid.voxel_size_xyz, grid.origin_xyz + shift)
    b = simulate_on_grid(xyz + shift, w, 4.0, moved)
    assert np.allclose(a.data, b.data, atol=1e-5)
