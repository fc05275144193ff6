"""A hinge on a real map: HCN4 (EMD-0093, 3.4 Å, 6gyn) chain A with its cytoplasmic part
(residues 521-708: C-linker and CNBD) turned 25° about CA 520, fitted from a global search.

The map holds four identical subunits (6gyn's chains are exact copies: CA RMSD 0.0007 Å after
superposition), so the result is compared with the nearest deposited chain.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from difffit.config import FitConfig, QualityConfig
from difffit.fitting.flexible import (
    FlexibleConfig,
    flexible_scores,
    refine_domains,
    refine_residues,
)
from difffit.fitting.multibody import assembly_coords, fit_multibody
from difffit.geometry import rmsd
from difffit.io.maps import read_map
from difffit.io.structures import read_structure
from difffit.kernels import set_num_threads
from tests.conftest import data_path

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

RESOLUTION = 3.4


def _rotation(axis: np.ndarray, angle_deg: float) -> np.ndarray:
    a = axis / np.linalg.norm(axis)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    t = np.radians(angle_deg)
    return np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * k @ k


def test_hcn4_hinge_on_the_real_map():
    set_num_threads(2)
    density = read_map(data_path("mainmastseg_emd0093_hcn4", "MAP_m4A.mrc.gz"))
    full = read_structure(data_path("mainmastseg_emd0093_hcn4", "6gyn.pdb"))
    chains = {}
    for c in "ABCD":
        s = full.select_chains([c])
        chains[c] = s.subset(s.residue_numbers <= 708, name=f"hcn4_{c}")  # protein only
    chain = chains["A"]
    ca = chain.mask("ca")
    labels = np.where(chain.residue_numbers > 520, 1, 0).astype(np.int64)
    pivot = chain.coords_xyz[ca & (chain.residue_numbers == 520)][0]
    rot = _rotation(np.random.default_rng(3).normal(size=3), 25.0)
    bent = chain.coords_xyz.copy()
    bent[labels == 1] = (bent[labels == 1] - pivot) @ rot.T + pivot
    model = dataclasses.replace(chain, coords_xyz=bent, name="hcn4_A_bent")

    def nearest(xyz):
        return min(rmsd(xyz[ca], chains[c].coords_xyz[ca]) for c in "ABCD")

    fit_cfg = FitConfig(quality=QualityConfig(resolution=RESOLUTION))
    mb = fit_multibody(density, model, labels, fit_config=fit_cfg, seed=1, threads=2)
    rigid = mb.whole[0].transform.apply(model.coords_xyz)
    cfg = FlexibleConfig(resolution=RESOLUTION)
    dom = refine_domains(
        density, model, assembly_coords(model, labels, mb.best), labels, config=cfg
    )
    res = refine_residues(density, model, dom.xyz, config=cfg, labels=labels)
    assert nearest(rigid) > 5.0  # the rigid fit cannot undo the hinge
    assert nearest(res.xyz) <= 1.5
    scores = flexible_scores(density, model, rigid, res.xyz, resolution=RESOLUTION)
    assert scores.cam_after > scores.cam_before
    assert scores.geometry_ok(0.99), scores
