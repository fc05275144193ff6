"""``--symmetry`` on real maps: HCN4 (C4) and GroEL (D7) in one symmetric round; GroEL's fit
table as one row with 14 copies (figures in docs/symmetry.md, benchmarks/symmetry_composite.py)."""

from __future__ import annotations

import numpy as np
import pytest

from difffit import FitConfig, QualityConfig, fit, read_map, read_structure
from difffit.composite import CompositeConfig, composite
from difffit.config import SymmetryConfig
from tests.conftest import data_path
from tests.test_composite_realdata import assert_no_clashes, match_to_deposited

pytestmark = pytest.mark.realdata


def _config(resolution: float) -> FitConfig:
    return FitConfig(quality=QualityConfig(resolution=resolution),
                     symmetry=SymmetryConfig(group="auto"))  # fmt: skip


@pytest.mark.slow
def test_hcn4_one_symmetric_round_builds_the_tetramer():
    """One copy of chain A and its three C4 mates in round 1. Over the protein chains' CA atoms
    the copies are 0.04-0.05 Å from the deposited chains (benchmarks/symmetry_composite.py);
    over every trace atom (lipid P atoms too, which sit differently in each chain, as
    test_composite_realdata measures) the rigid floor of chain A on B/C/D is 1.70/1.70/1.26 Å
    and the copies are within 0.01 Å of it."""
    folder = "mainmastseg_emd0093_hcn4"
    density = read_map(data_path(folder, "MAP_m4A.mrc.gz"))
    model = read_structure(data_path(folder, "6gyn.pdb"))
    subunits = {"6gyn_A": model.select_chains(["A"])}
    res = composite(density, list(subunits.values()), seed=1,
                    config=CompositeConfig(fit=_config(3.4)))  # fmt: skip
    assert res.state.symmetry is not None and res.state.symmetry.group.name == "C4"
    assert len(res.rounds) == 1 and len(res.placements) == 4
    matches = match_to_deposited(model, subunits, res.placements)
    assert sorted(c for c, _, _ in matches) == ["A", "B", "C", "D"]
    assert all(r <= fl + 0.05 and r <= 1.75 for _, r, fl in matches), matches
    assert_no_clashes(subunits, res.placements)


def test_groel_fourteen_copies_in_one_round_related_by_d7():
    folder = "powerfit_emd1997_groel"
    density = read_map(data_path(folder, "1997.map"))
    chain_a = read_structure(data_path(folder, "1oel.pdb"), chains=["A"])
    res = composite(density, [chain_a], seed=1, config=CompositeConfig(fit=_config(7.0)))
    sym = res.state.symmetry
    assert sym is not None and sym.group.name == "D7"
    pl = res.placements
    assert len(res.rounds) == 1 and len(pl) == 14
    cams = np.array([p.cam for p in pl])
    assert cams.min() >= 0.95 * cams.max()  # measured 0.995
    assert max(p.clash_fraction for p in pl[1:]) <= 0.001  # measured <= 3 of 3847 atoms
    ca = chain_a.coords_xyz[chain_a.mask("ca")]
    images = [g.compose(pl[0].transform).apply(ca) for g in sym.operators]
    for p in pl:  # each copy is an image of the first under a D7 operator (measured <= 0.27 Å)
        x = p.transform.apply(ca)
        assert min(float(np.sqrt(((x - im) ** 2).sum(1).mean())) for im in images) < 1.0


def test_groel_fit_table_one_row_with_fourteen_copies():
    folder = "powerfit_emd1997_groel"
    density = read_map(data_path(folder, "1997.map"))
    chain_a = read_structure(data_path(folder, "1oel.pdb"), chains=["A"])
    r = fit(density, chain_a, config=_config(7.0), seed=1)
    top = r.clusters[0]
    assert top.copies == 14 and top.mate_clash <= 0.05
    assert sum(c.cam >= 0.95 * top.cam for c in r.clusters) == 1  # without symmetry: 14 rows
    assert r.info["symmetry"]["group"] == "D7"
