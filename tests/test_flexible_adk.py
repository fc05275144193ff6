"""Flexible fitting of adenylate kinase: one conformation into a map simulated from the other.

Closed 1AKE and open 4AKE (../shared/data/mdanalysis_adk) are 6.9 Å CA RMSD apart. A map is
simulated from one (5 or 10 Å, seeded Gaussian noise); the other is fitted into it from a global
search (no pre-placement): multi-body assembly of the CORE/LID/NMP fits, rigid domains with
hinge restraints, then rigid residues. The target coordinates are the map's own frame, so the
CA RMSD needs no superposition.
"""

from __future__ import annotations

import numpy as np
import pytest

from difffit.config import FitConfig, QualityConfig
from difffit.density.simulate import simulate_map
from difffit.fitting.flexible import (
    FlexibleConfig,
    flexible_scores,
    refine_domains,
    refine_residues,
)
from difffit.fitting.multibody import assembly_coords, fit_multibody
from difffit.geometry import rmsd
from difffit.kernels import set_num_threads
from tests.adk import adk_labels, read_adk
from tests.conftest import data_path

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

NOISE = 0.05  # Gaussian noise, σ as a fraction of the map's maximum


def _case(target_name: str, model_name: str, resolution: float):
    target = read_adk(data_path("mdanalysis_adk", f"adk_{target_name}.pdb"), target_name)
    model = read_adk(data_path("mdanalysis_adk", f"adk_{model_name}.pdb"), model_name)
    rng = np.random.default_rng(7)
    sim = simulate_map(
        target.coords_xyz,
        target.atomic_numbers.astype(np.float64),
        resolution,
        voxel_size=resolution / 3,
        padding=10.0,
    )
    noisy = sim.data + rng.normal(scale=NOISE, size=sim.data.shape).astype(np.float32)
    return sim.with_data(noisy), target, model


def _flexible_fit(target_name: str, model_name: str, resolution: float):
    set_num_threads(1)
    density, target, model = _case(target_name, model_name, resolution)
    labels = adk_labels(model)
    fit_cfg = FitConfig(quality=QualityConfig(resolution=resolution))
    mb = fit_multibody(density, model, labels, fit_config=fit_cfg, seed=1, threads=1)
    rigid = mb.whole[0].transform.apply(model.coords_xyz)
    start = assembly_coords(model, labels, mb.best)
    cfg = FlexibleConfig(resolution=resolution)
    dom = refine_domains(density, model, start, labels, config=cfg)
    res = refine_residues(density, model, dom.xyz, config=cfg, labels=labels)
    ca = model.mask("ca")
    truth = target.coords_xyz[ca]
    figures = {
        "rigid": rmsd(rigid[ca], truth),
        "assembly": rmsd(start[ca], truth),
        "domains": rmsd(dom.xyz[ca], truth),
        "final": rmsd(res.xyz[ca], truth),
    }
    scores = flexible_scores(density, model, rigid, res.xyz, resolution=resolution)
    return figures, scores


@pytest.mark.parametrize(
    ("target", "model", "resolution", "limit"),
    [
        ("closed", "open", 5.0, 1.5),
        ("closed", "open", 10.0, 2.5),
        ("open", "closed", 5.0, 1.5),
        ("open", "closed", 10.0, 2.5),
    ],
)
def test_adk_flexible_fit(target, model, resolution, limit):
    figures, scores = _flexible_fit(target, model, resolution)
    assert figures["rigid"] > 6.0  # the rigid fit cannot move the domains
    assert figures["final"] <= limit, figures
    assert scores.cam_after > scores.cam_before
    assert scores.geometry_ok(0.99), scores
