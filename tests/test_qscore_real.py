"""Q-score on real data: the deposited 5ME2 in EMD-3488, the fitted haemoglobin chain, and the
agreement with the brute-force reference on real atoms."""

from __future__ import annotations

import numpy as np
import pytest

import difffit
from difffit.fitting.qscore import q_scores
from tests.conftest import data_path
from tests.qscore_reference import brute_force_q

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def haemoglobin():
    m = difffit.read_map(data_path("ccpem_emd3488_haemoglobin", "emd_3488.mrc"))
    s = difffit.read_structure(data_path("ccpem_emd3488_haemoglobin", "5me2.pdb"))
    return m, s


def test_deposited_model_and_its_brute_force_reference(haemoglobin):
    m, s = haemoglobin
    q = q_scores(m, s.coords_xyz)
    # 3.2 Å map: Pintilie's expected Q at 3.2 Å is ~0.55; the deposited model scores 0.58
    assert 0.5 < q.mean < 0.65
    pick = np.linspace(0, len(s) - 1, 60).round().astype(int)
    ref = brute_force_q(m, s.coords_xyz, atoms=pick)
    assert np.nanmax(np.abs(q.atom[pick] - ref)) <= 0.01


def test_fitted_chain_scores_like_the_deposited_one(haemoglobin):
    m, s = haemoglobin
    chain_a = s.select_chains(["A"])
    cfg = difffit.FitConfig(quality=difffit.QualityConfig(resolution=3.2))
    best = difffit.fit(m, chain_a, config=cfg, seed=1, threads=2).best()
    fitted = q_scores(m, best.transform.apply(chain_a.coords_xyz)).mean
    deposited = q_scores(m, chain_a.coords_xyz).mean
    assert abs(fitted - deposited) < 0.05
    assert fitted > 0.5
