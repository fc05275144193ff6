"""Seeds: the same seed gives the same result table, whatever the seed and the thread count.

A tiny synthetic fit (a 30-residue pseudo-protein in its simulated map, 8 rotations), so that
the contract runs in the unit layer; the known-answer fits are in tests/test_search_synthetic.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from difffit import FitConfig, QualityConfig, RefineConfig, SearchConfig, fit
from tests.synthetic import planted_case, protein_like

TINY = FitConfig(
    search=SearchConfig(n_rotations=8, n_positions=2, oversample=2, n_steps=30),
    quality=QualityConfig(resolution=6.0),
    refine=RefineConfig(n_clusters=2, n_steps=10),
)


@pytest.fixture(scope="module")
def tiny_case():
    rng = np.random.default_rng(3)
    st = protein_like(30, rng)
    density, _ = planted_case(st, rng, voxel=2.0)
    return density, st


def table(result) -> tuple[list[dict], dict[str, np.ndarray]]:
    return [c.row() for c in result.clusters], result.fits


def assert_same_table(a, b) -> None:
    rows_a, fits_a = table(a)
    rows_b, fits_b = table(b)
    assert rows_a == rows_b
    assert fits_a.keys() == fits_b.keys()
    for k in fits_a:
        assert np.array_equal(fits_a[k], fits_b[k]), k


@pytest.mark.parametrize("seed", [0, 7, 2**31 - 1])
def test_same_seed_same_table(tiny_case, seed):
    density, st = tiny_case
    a = fit(density, st, seed=seed, config=TINY, device="cpu", threads=1)
    b = fit(density, st, seed=seed, config=TINY, device="cpu", threads=1)
    assert a.seed == b.seed == seed
    assert_same_table(a, b)


@pytest.mark.parametrize("threads", [1, 2])
def test_thread_count_does_not_change_the_table(tiny_case, threads):
    density, st = tiny_case
    ref = fit(density, st, seed=11, config=TINY, device="cpu", threads=1)
    assert_same_table(ref, fit(density, st, seed=11, config=TINY, device="cpu", threads=threads))


@pytest.mark.parametrize(("seed_a", "seed_b"), [(0, 1), (7, 8), (1, 2**31 - 1)])
def test_another_seed_another_search(tiny_case, seed_a, seed_b):
    density, st = tiny_case
    a = fit(density, st, seed=seed_a, config=TINY, device="cpu", threads=1)
    b = fit(density, st, seed=seed_b, config=TINY, device="cpu", threads=1)
    assert not np.array_equal(a.fits["score"], b.fits["score"])


def test_no_seed_records_the_one_drawn(tiny_case):
    """seed=None draws a seed and records it: refitting with it gives the same table."""
    density, st = tiny_case
    a = fit(density, st, seed=None, config=TINY, device="cpu", threads=1)
    assert isinstance(a.seed, int)
    assert_same_table(a, fit(density, st, seed=a.seed, config=TINY, device="cpu", threads=1))


def test_fit_leaves_its_inputs_alone(tiny_case):
    density, st = tiny_case
    data, coords = density.data.copy(), st.coords_xyz.copy()
    fit(density, st, seed=3, config=TINY, device="cpu", threads=1)
    assert np.array_equal(density.data, data)
    assert np.array_equal(st.coords_xyz, coords)
