"""Unit tests of the flexible-fitting pieces: restraints, rigid-body maths, assembly, options."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from difffit.density.simulate import simulate_map
from difffit.errors import ConfigError
from difffit.fitting.flexible import (
    FlexibleConfig,
    _MapTerm,
    _rotvec_to_matrix,
)
from difffit.fitting.multibody import Candidate, MultiBodyConfig, assemble
from difffit.fitting.restraints import (
    Topology,
    elastic_pairs,
    geometry_report,
    linkers,
    residue_labels,
    segments,
)
from difffit.geometry import RigidTransform
from tests.synthetic import protein_like


@pytest.fixture
def chain():
    return protein_like(40, np.random.default_rng(3))


def test_topology_bonds_and_breaks(chain):
    topo = Topology.from_structure(chain)
    assert topo.n_residues == 40
    # every consecutive pair has its CA-CA bond; the synthetic C-N distances are not bonds
    assert len(topo.ca_pairs) == 39
    xyz = chain.coords_xyz.copy()
    xyz[chain.residue_numbers > 20] += 10.0  # a chain break in the input
    broken = Topology.from_structure(dataclasses.replace(chain, coords_xyz=xyz))
    assert len(broken.ca_pairs) == 38
    assert broken.next_residue[19] == -1


def test_geometry_report_counts_outliers_and_clashes(chain):
    topo = Topology.from_structure(chain)
    base = geometry_report(topo, chain.coords_xyz)
    xyz = chain.coords_xyz.copy()
    moved = chain.residue_numbers == 10
    ca9, ca10 = (topo.ca_index[8], topo.ca_index[9])
    u = xyz[ca10] - xyz[ca9]
    xyz[moved] += 0.6 * u / np.linalg.norm(u)  # CA9-CA10 becomes 4.4 Å
    rep = geometry_report(topo, xyz)
    assert rep.ca_ca_outliers >= base.ca_ca_outliers + 1
    # a clash: residue 30's atoms on top of residue 5's
    xyz = chain.coords_xyz.copy()
    a5 = np.flatnonzero(chain.residue_numbers == 5)
    a30 = np.flatnonzero(chain.residue_numbers == 30)
    xyz[a30] = xyz[a5] + 0.5
    assert geometry_report(topo, xyz).clashes > base.clashes


def test_segments_linkers_and_elastic(chain):
    topo = Topology.from_structure(chain)
    labels = np.where(chain.residue_numbers <= 15, 0, np.where(chain.residue_numbers <= 18, -1, 1))
    res_lab = residue_labels(topo, labels)
    assert segments(topo, res_lab) == [(0, 0, 14), (1, 18, 39)]
    (ln,) = linkers(topo, res_lab)
    assert ln.n_between == 3 and ln.max_span(1.0) == pytest.approx(3.8 * 4 + 1.0)
    (ln2,) = linkers(topo, res_lab, hinge_residues=2)
    assert ln2.n_between == 7
    el = elastic_pairs(topo, chain.coords_xyz, cutoff=9.0, residue_labels_=res_lab)
    ri = topo.residue_of_atom[el]
    li, lj = res_lab[ri[:, 0]], res_lab[ri[:, 1]]
    assert len(el) and not np.any((li >= 0) & (lj >= 0) & (li != lj))
    assert np.all(np.abs(ri[:, 0] - ri[:, 1]) > 1)


def test_rotvec_matrix_is_a_rotation_and_differentiable():
    w = torch.tensor([[0.0, 0.0, 0.0], [0.3, -0.2, 0.5], [1e-5, 0.0, 2e-5]], dtype=torch.float64)
    r = _rotvec_to_matrix(w)
    eye = torch.eye(3, dtype=torch.float64)
    assert torch.allclose(r @ r.transpose(1, 2), eye.expand_as(r), atol=1e-12)
    # about z by 90 degrees
    rz = _rotvec_to_matrix(torch.tensor([[0.0, 0.0, np.pi / 2]], dtype=torch.float64))[0]
    assert torch.allclose(rz @ torch.tensor([1.0, 0, 0], dtype=torch.float64),
                          torch.tensor([0.0, 1, 0], dtype=torch.float64), atol=1e-12)  # fmt: skip
    w = torch.tensor([[0.3, -0.2, 0.5], [0.0, 0.0, 0.0]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(_rotvec_to_matrix, (w,))


def test_map_term_gradient_matches_finite_differences(chain):
    m = simulate_map(chain.coords_xyz, chain.atomic_numbers.astype(float), 5.0, voxel_size=1.0)
    term = _MapTerm(m, len(chain), torch.device("cpu"))
    pos = torch.tensor(chain.coords_xyz + 0.3, requires_grad=True)
    term.values(pos).sum().backward()
    g = pos.grad.numpy()
    h = 1e-2
    frac = m.world_to_grid(chain.coords_xyz + 0.3) % 1.0
    inner = np.all((frac > 0.02) & (frac < 0.98), axis=1)  # +- h stays in one trilinear cell
    assert inner.sum() > 100
    for axis in range(3):
        d = np.zeros(3)
        d[axis] = h
        fd = (m.sample(chain.coords_xyz + 0.3 + d) - m.sample(chain.coords_xyz + 0.3 - d)) / (2 * h)
        np.testing.assert_allclose(g[inner, axis], fd[inner], atol=2e-3)


def test_config_rejects_bad_values():
    with pytest.raises(ConfigError):
        FlexibleConfig(resolution=-1.0)
    with pytest.raises(ConfigError):
        FlexibleConfig(resolution=5.0, domain_smooth=())
    with pytest.raises(ConfigError):
        FlexibleConfig(resolution=5.0, patience=0)
    with pytest.raises(ConfigError):
        MultiBodyConfig(metric="hits")


def test_assemble_prefers_the_bridgeable_placement(chain):
    """Domain 1's best-scoring candidate is far from domain 0: the linker rules it out."""
    labels = np.where(chain.residue_numbers <= 20, 0, 1).astype(np.int64)
    ident = RigidTransform.identity()
    far = RigidTransform(np.eye(3), np.array([25.0, 0.0, 0.0]))
    whole = Candidate(ident, 0.0, 1)
    cands = [[Candidate(ident, 0.5, 1)], [Candidate(far, 0.9, 1), Candidate(ident, 0.4, 2)]]
    a = assemble(chain, labels, whole, 1, cands, config=MultiBodyConfig(hinge_residues=0))
    assert a is not None and a.sources == (1, 2)
    assert a.linker_spans[0] < 3.8 + 3.0
    # with the far one alone no assembly is consistent
    a = assemble(chain, labels, whole, 1, [cands[0], cands[1][:1]],
                 config=MultiBodyConfig(hinge_residues=0, max_shift=50.0))  # fmt: skip
    assert a is None


def test_assemble_rejects_clashing_domains(chain):
    labels = np.where(chain.residue_numbers <= 20, 0, 1).astype(np.int64)
    xyz = chain.coords_xyz
    c0, c1 = xyz[labels == 0].mean(axis=0), xyz[labels == 1].mean(axis=0)
    # domain 1 moved onto domain 0 (its centre on domain 0's), scored best
    onto = RigidTransform(np.eye(3), c0 - c1)
    ident = RigidTransform.identity()
    cands = [[Candidate(ident, 0.5, 1)], [Candidate(onto, 0.9, 1), Candidate(ident, 0.4, 2)]]
    cfg = MultiBodyConfig(hinge_residues=0, linker_tolerance=100.0)
    a = assemble(chain, labels, Candidate(ident, 0.0, 1), 1, cands, config=cfg)
    assert a is not None and a.sources == (1, 2)
