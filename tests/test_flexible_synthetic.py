"""Known-answer tests of the flexible refinement on synthetic chains (a few seconds each)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from difffit.density.simulate import simulate_map
from difffit.fitting.flexible import (
    FlexibleConfig,
    flexible_scores,
    refine_domains,
    refine_residues,
)
from difffit.geometry import random_quaternions
from tests.synthetic import protein_like


def _perturbed(seed: int):
    rng = np.random.default_rng(seed)
    st = protein_like(30, rng)
    m = simulate_map(st.coords_xyz, st.atomic_numbers.astype(float), 4.0, voxel_size=1.0)
    axis = random_quaternions(1, rng)[0][1:]
    axis /= np.linalg.norm(axis)
    ang = np.radians(4.0)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rot = np.eye(3) + np.sin(ang) * k + (1 - np.cos(ang)) * k @ k
    c = st.centre_xyz
    start = (st.coords_xyz - c) @ rot.T + c + np.array([1.0, -0.5, 0.0])
    return st, m, start


def _ca_rmsd(st, a, b):
    ca = st.mask("ca")
    return float(np.sqrt(((a[ca] - b[ca]) ** 2).sum(axis=1).mean()))


def test_domain_refinement_recovers_a_rigid_shift():
    st, m, start = _perturbed(5)
    labels = np.zeros(len(st), dtype=np.int64)
    res = refine_domains(m, st, start, labels, config=FlexibleConfig(resolution=4.0))
    assert _ca_rmsd(st, start, st.coords_xyz) > 1.0
    assert _ca_rmsd(st, res.xyz, st.coords_xyz) < 0.3
    moved = res.transforms[0].apply(start)
    np.testing.assert_allclose(moved, res.xyz, atol=1e-6)


def test_residue_refinement_improves_fit_and_keeps_geometry():
    st, m, start = _perturbed(6)
    cfg = FlexibleConfig(resolution=4.0, residue_steps=150)
    res = refine_residues(m, st, start, config=cfg)
    assert _ca_rmsd(st, res.xyz, st.coords_xyz) < _ca_rmsd(st, start, st.coords_xyz)
    scores = flexible_scores(m, st, start, res.xyz, resolution=4.0)
    assert scores.cam_after > scores.cam_before
    assert scores.geometry_after.ca_ca_outliers <= scores.geometry_input.ca_ca_outliers
    assert scores.geometry_after.clashes <= scores.geometry_input.clashes
    assert res.best_step == res.steps[np.argmax(res.cam)]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_refinement_on_cuda_matches_cpu():
    st, m, start = _perturbed(5)
    labels = np.zeros(len(st), dtype=np.int64)
    cfg = FlexibleConfig(resolution=4.0, residue_steps=60)
    cpu = refine_domains(m, st, start, labels, config=cfg)
    gpu = refine_domains(m, st, start, labels, config=cfg, device="cuda")
    assert _ca_rmsd(st, gpu.xyz, cpu.xyz) < 0.05
    res = refine_residues(m, st, gpu.xyz, config=cfg, device="cuda")
    assert _ca_rmsd(st, res.xyz, st.coords_xyz) < _ca_rmsd(st, start, st.coords_xyz)
