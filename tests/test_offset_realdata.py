"""A map with a constant offset ranks and scores as the map itself (haemoglobin, EMD-3488)."""

import numpy as np
import pytest

from difffit.config import FitConfig, QualityConfig
from difffit.io import read_map, read_structure
from difffit.search import fit
from tests.conftest import data_path

pytestmark = pytest.mark.realdata

METRICS = ("density", "overlap", "correlation", "cam", "inside")


def test_offset_map_gives_the_same_top_clusters_and_scores():
    mp = data_path("ccpem_emd3488_haemoglobin", "emd_3488.mrc")
    st = read_structure(data_path("ccpem_emd3488_haemoglobin", "5me2.pdb"), chains=["A"])
    density = read_map(mp)
    offset = density.with_data((density.data.astype(np.float64) + 1e4).astype(np.float32))
    config = FitConfig(quality=QualityConfig(resolution=3.2))
    a = fit(density, [st], config=config, seed=1, threads=1)
    b = fit(offset, [st], config=config, seed=1, threads=1)
    assert abs((b.level - 1e4) - a.level) < 1e-3
    # The two alpha-chain sites of haemoglobin tie (correlation within 2e-5, below the 1e-3
    # precision of float32 values near 1e4): the top two clusters are the same pair of poses.
    top_a, top_b = a.clusters[:2], b.clusters[:2]
    for ca in top_a:
        cb = min(top_b, key=lambda c: np.linalg.norm(np.subtract(c.centre_xyz, ca.centre_xyz)))
        assert np.linalg.norm(np.subtract(cb.centre_xyz, ca.centre_xyz)) < 1.0
        for k in METRICS:
            assert abs(getattr(cb, k) - getattr(ca, k)) < 1e-3, k
    for k in METRICS:  # the best scores are those of the map itself
        assert abs(getattr(top_b[0], k) - getattr(top_a[0], k)) < 1e-3, k
    assert top_a[0].correlation > 0.7
