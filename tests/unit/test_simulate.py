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
