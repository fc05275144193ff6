"""Zeroing rules (difffit.density.zero) and zero_fit (difffit.composite) on synthetic and real maps."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from difffit import DensityMap, RigidTransform, Structure, simulate_on_grid
from difffit.composite import matched_resolution, zero_fit, zero_placements
from difffit.density.zero import RULES, ZeroResult, peak_value, restore_density, zero_density
from difffit.errors import ConfigError
from tests.conftest import data_path


def blob_structure(centre, n, rng, *, radius=6.0, name="blob", chain="A") -> Structure:
    """``n`` carbon atoms spread in a ball, as a Structure built from arrays."""
    d = rng.normal(size=(n, 3))
    d *= (radius * rng.random(n) ** (1 / 3) / np.linalg.norm(d, axis=1))[:, None]
    xyz = np.asarray(centre) + d
    return Structure(
        name=name,
        coords_xyz=xyz,
        elements=np.array(["C"] * n),
        atomic_numbers=np.full(n, 6),
        atom_names=np.array(["CA"] * n),
        residue_names=np.array(["ALA"] * n),
        chain_ids=np.array([chain] * n),
        residue_numbers=np.arange(n),
        insertion_codes=np.array([""] * n),
    )


@pytest.fixture
def two_blobs(rng):
    """A map of two touching blobs A (x < 0) and B (x > 0), simulated at 4 Å."""
    a = blob_structure((-5.5, 0, 0), 120, rng, name="a")
    b = blob_structure((5.5, 0, 0), 120, rng, name="b", chain="B")
    grid = DensityMap(np.zeros((30, 30, 50), np.float32), 1.0, (-25.0, -15.0, -15.0))
    both = np.concatenate([a.coords_xyz, b.coords_xyz])
    m = simulate_on_grid(both, np.full(len(both), 6.0), 4.0, grid)
    return m, a, b


def _owner_masks(m: DensityMap, a: Structure, b: Structure, level: float):
    """Voxels above ``level`` nearest to an atom of a (own) / of b (neighbour)."""
    above = m.data >= level
    xyz = m.voxel_centres_xyz(above)
    both = np.concatenate([a.coords_xyz, b.coords_xyz])
    _, idx = cKDTree(both).query(xyz)
    own = np.zeros(m.shape_zyx, bool)
    nb = np.zeros(m.shape_zyx, bool)
    own[above] = idx < len(a)
    nb[above] = idx >= len(a)
    return own, nb


@pytest.mark.parametrize("rule", RULES)
def test_rules_remove_own_density_and_leave_input_untouched(two_blobs, rule):
    m, a, b = two_blobs
    before = m.data.copy()
    sim = simulate_on_grid(a.coords_xyz, a.atomic_numbers, 4.0, m)
    z = zero_density(m, sim, rule=rule)
    assert isinstance(z, ZeroResult) and z.rule == rule
    np.testing.assert_array_equal(m.data, before)  # input untouched
    assert z.map is not m and z.map.same_grid(m)
    # bookkeeping: mask = changed voxels, removed = input - output >= 0, undo restores
    changed = z.map.data != m.data
    np.testing.assert_array_equal(changed, z.mask)
    assert z.n_voxels_zeroed == int(changed.sum()) > 0
    assert np.all(z.removed.data >= 0)
    np.testing.assert_allclose(restore_density(z.map, z.removed).data, m.data, atol=1e-6)
    assert z.density_removed == pytest.approx(float(z.removed.data.sum(dtype=np.float64)), rel=1e-5)
    # the density at A's atoms drops; at B's atoms far from A it stays
    far_b = b.coords_xyz[b.coords_xyz[:, 0] > 8]
    assert z.map.sample(a.coords_xyz).mean() < 0.6 * m.sample(a.coords_xyz).mean()
    np.testing.assert_allclose(z.map.sample(far_b), m.sample(far_b), rtol=1e-6)


def test_dominant_spares_the_neighbour_where_plain_does_not(two_blobs):
    m, a, b = two_blobs
    level = 0.1
    own, nb = _owner_masks(m, a, b, level)
    # the zeroing sees a blurrier prediction than the map, as on real maps: envelopes reach B
    sim = simulate_on_grid(a.coords_xyz, a.atomic_numbers, 6.0, m)
    plain = zero_density(m, sim, rule="plain")
    dom = zero_density(m, sim, rule="dominant")
    lost = {
        k: int((nb & (z.map.data < level)).sum()) for k, z in (("plain", plain), ("dominant", dom))
    }
    left = {
        k: (own & (z.map.data >= level)).sum() / own.sum()
        for k, z in (("plain", plain), ("dominant", dom))
    }
    assert lost["plain"] > 50  # plain zeroing eats into the neighbour
    assert lost["dominant"] < 0.25 * lost["plain"]
    assert left["dominant"] < 0.10  # and still removes (nearly) all of A
    assert dom.n_voxels_spared > 0


def test_dominant_with_exact_prediction_zeroes_the_whole_envelope(rng):
    a = blob_structure((0, 0, 0), 80, rng)
    grid = DensityMap(np.zeros((24, 24, 24), np.float32), 1.0, (-12.0, -12.0, -12.0))
    m = simulate_on_grid(a.coords_xyz, a.atomic_numbers, 4.0, grid)
    m = m.with_data(m.data * 3.0)  # other units than the simulation
    sim = simulate_on_grid(a.coords_xyz, a.atomic_numbers, 4.0, grid)
    z = zero_density(m, sim, rule="dominant")
    assert z.scale == pytest.approx(3.0 * peak_value(sim.data), rel=1e-4)
    env = sim.data / peak_value(sim.data) >= 0.05
    np.testing.assert_array_equal(z.mask, env & (m.data > 0))
    # subtract with the exact scale removes everything in the envelope
    zs = zero_density(m, sim, rule="subtract")
    assert np.abs(zs.map.data[env]).max() < 1e-4


def test_shrunk_zeroes_less_than_plain(two_blobs):
    m, a, _ = two_blobs
    sim = simulate_on_grid(a.coords_xyz, a.atomic_numbers, 4.0, m)
    plain = zero_density(m, sim, rule="plain")
    n = [zero_density(m, sim, rule="shrunk", erode_voxels=e).n_voxels_zeroed for e in (0, 1, 2)]
    assert n[0] == plain.n_voxels_zeroed
    assert n[0] > n[1] > n[2]


def test_fill_and_voxels_below_fill(two_blobs):
    m, a, _ = two_blobs
    m = m.with_data(m.data - 0.05)  # a negative background
    sim = simulate_on_grid(a.coords_xyz, a.atomic_numbers, 4.0, m)
    z = zero_density(m, sim, rule="plain", fill=-0.02)
    assert np.all(z.map.data[z.mask] == np.float32(-0.02))
    low = m.data <= -0.02
    np.testing.assert_array_equal(z.map.data[low], m.data[low])  # never raised


def test_nothing_placed_on_the_grid_changes_nothing(two_blobs):
    m, _, _ = two_blobs
    z = zero_density(m, m.with_data(np.zeros(m.shape_zyx)))
    assert z.n_voxels_zeroed == 0 and z.n_voxels_envelope == 0
    np.testing.assert_array_equal(z.map.data, m.data)


def test_bad_options_raise_config_error(two_blobs):
    m, a, _ = two_blobs
    sim = simulate_on_grid(a.coords_xyz, a.atomic_numbers, 4.0, m)
    with pytest.raises(ConfigError, match="rule"):
        zero_density(m, sim, rule="everything")
    for kw, word in (({"envelope": 0.0}, "envelope"), ({"envelope": 1.5}, "envelope"),
                     ({"dominance": -1}, "dominance"), ({"erode_voxels": -1}, "erode_voxels"),
                     ({"core": 0.01}, "core"), ({"scale": 0}, "scale"),
                     ({"fill": float("nan")}, "fill")):  # fmt: skip
        with pytest.raises(ConfigError, match=word):
            zero_density(m, sim, **kw)
    other = DensityMap(np.zeros((10, 10, 10)), 1.0)
    with pytest.raises(ConfigError, match="simulate_on_grid"):
        zero_density(m, other)
    with pytest.raises(ConfigError, match="another grid"):
        restore_density(m, other)


# ---------------------------------------------------------------------------- zero_fit
def test_zero_fit_at_a_planted_pose(rng):
    """A structure moved by a transform: zero_fit with that transform removes its density."""
    a = blob_structure((0, 0, 0), 100, rng)
    pose = RigidTransform.from_quat(np.array([0.9, 0.1, -0.3, 0.2]), np.array([3.0, -2.0, 1.5]))
    grid = DensityMap(np.zeros((32, 32, 32), np.float32), 1.0, (-13.0, -16.0, -14.0))
    placed_xyz = pose.apply(a.coords_xyz)
    m = simulate_on_grid(placed_xyz, a.atomic_numbers, 4.0, grid)
    z = zero_fit(m, a, pose, resolution=4.0)
    assert z.options["resolution"] == 4.0 and z.options["simulated_resolution"] == pytest.approx(
        4.0
    )
    assert float(m.sample(placed_xyz).mean()) > 0.3
    assert np.abs(z.map.sample(placed_xyz)).max() < 1e-6
    # the identity pose misses it: most of the density stays
    miss = zero_fit(m, a, RigidTransform.identity(), resolution=4.0, match_resolution=False)
    assert float(miss.map.sample(placed_xyz).mean()) > 0.3 * float(m.sample(placed_xyz).mean())
    with pytest.raises(ConfigError, match="resolution"):
        zero_fit(m, a, pose, resolution=0)
    with pytest.raises(ConfigError, match="RigidTransform"):
        zero_fit(m, a, np.eye(4), resolution=4.0)
    with pytest.raises(ConfigError, match="nothing placed"):
        zero_placements(m, [], resolution=4.0)


def test_matched_resolution_finds_a_planted_blur(rng):
    a = blob_structure((0, 0, 0), 150, rng, radius=9.0)
    grid = DensityMap(np.zeros((40, 40, 40), np.float32), 1.0, (-20.0, -20.0, -20.0))
    m = simulate_on_grid(a.coords_xyz, a.atomic_numbers, 6.0, grid)  # blurrier than said
    ident = RigidTransform.identity()
    assert matched_resolution(m, [(a, ident)], resolution=4.0) == pytest.approx(6.0)
    assert matched_resolution(m, [(a, ident)], resolution=6.0) == pytest.approx(6.0)
    # atoms outside the box: the given resolution
    far = RigidTransform(np.eye(3), np.array([500.0, 0, 0]))
    assert matched_resolution(m, [(a, far)], resolution=4.0) == 4.0


# ---------------------------------------------------------------------------- real map
@pytest.mark.realdata
def test_zero_fit_haemoglobin_chain_a_spares_neighbours():
    """EMD-3488: zero chain A at its deposited pose; its density goes, chains B-D stay."""
    from difffit import read_map, read_structure
    from difffit.density.prepare import auto_level

    folder = "ccpem_emd3488_haemoglobin"
    m = read_map(data_path(folder, "emd_3488.mrc"))
    st = read_structure(data_path(folder, "5me2.pdb"))
    chain_a = st.select_chains(["A"])
    level = auto_level(m)
    above = m.data >= level
    _, idx = cKDTree(st.coords_xyz).query(m.voxel_centres_xyz(above), distance_upper_bound=3.0)
    near = idx < len(st)
    is_a = np.zeros(len(idx), bool)
    is_a[near] = st.chain_ids[idx[near]] == "A"
    is_nb = near & ~is_a
    before = m.data.copy()
    results = {}
    for rule in ("dominant", "plain"):
        z = zero_fit(m, chain_a, RigidTransform.identity(), resolution=3.2, rule=rule)
        left = z.map.data[above] >= level
        results[rule] = (float((is_a & left).sum() / is_a.sum()), int((is_nb & ~left).sum()))
    np.testing.assert_array_equal(m.data, before)
    own_left, nb_lost = results["dominant"]
    assert own_left < 0.10, results  # measured 0.06
    assert nb_lost <= 5, results  # measured 0 of 12,700 neighbour voxels
    assert results["dominant"][1] <= results["plain"][1]
