"""Sanity checks before the search: warnings that say what to do, errors for structures with
no orientation to fit."""

import dataclasses
import logging

import numpy as np
import pytest

from difffit.config import FitConfig, QualityConfig
from difffit.density.map import DensityMap
from difffit.density.prepare import prepare_map
from difffit.errors import FitError
from difffit.fitting.pipeline import check_structure_shape, map_warnings, prepare_search_map
from tests.synthetic import protein_like


def _map(rng, voxel=1.5):
    d = rng.normal(scale=0.02, size=(32, 32, 32)).astype(np.float32)
    d[12:20, 12:20, 12:20] += 1.0
    return DensityMap(d, voxel)


def _warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_a_normal_map_gives_no_warning(rng, caplog):
    with caplog.at_level(logging.WARNING, logger="difffit"):
        prepare_search_map(_map(rng), FitConfig())
    assert _warnings(caplog) == []


def test_inverted_contrast_warns(rng, caplog):
    m = _map(rng)
    inv = m.with_data(-m.data)
    with caplog.at_level(logging.WARNING, logger="difffit"):
        prepare_search_map(inv, FitConfig())
    w = _warnings(caplog)
    assert any("inverted" in x and "negate the map" in x for x in w), w
    assert any("% of the map box" in x and "--level" in x for x in w), w  # and its footprint


def test_resolution_finer_than_the_voxels_allow(rng):
    w = map_warnings(prepare_map(_map(rng, voxel=2.0)), 3.0)
    assert len(w) == 1 and "--resolution 3 Å is finer" in w[0] and "--resolution 4" in w[0]
    assert map_warnings(prepare_map(_map(rng, voxel=2.0)), 4.0) == []
    cfg = FitConfig(quality=QualityConfig(resolution=3.0))
    assert prepare_search_map(_map(rng, voxel=2.0), cfg).resolution == 3.0


def test_structures_without_an_orientation(rng, caplog):
    st = protein_like(10, rng, name="toy")
    two = st.subset(np.arange(len(st)) < 2)
    with pytest.raises(FitError, match="2 heavy atoms; at least 3"):
        check_structure_shape(two)
    point = dataclasses.replace(st, coords_xyz=st.coords_xyz * 0.01 + 5.0)
    with pytest.raises(FitError, match=r"within 0\.[0-9]+ Å of one point"):
        check_structure_shape(point)
    flat_xyz = st.coords_xyz.copy()
    flat_xyz[:, 2] = 7.0
    with caplog.at_level(logging.WARNING, logger="difffit"):
        check_structure_shape(st)
        assert _warnings(caplog) == []
        check_structure_shape(dataclasses.replace(st, coords_xyz=flat_xyz))
    assert any("lie in a plane" in x for x in _warnings(caplog))


def test_the_cli_shows_the_warnings(rng, tmp_path, capsys):
    from difffit.cli import main
    from difffit.io import write_map, write_structure

    st = protein_like(30, rng, name="toy")
    m = _map(rng, voxel=2.0)
    mp = write_map(m.with_data(-m.data), tmp_path / "inv.mrc")
    sp = write_structure(st, tmp_path / "toy.pdb")
    main(["fit", str(mp), str(sp), "--out", str(tmp_path / "o"), "--rotations", "8",
          "--positions", "2", "--resolution", "3", "--threads", "1", "-q"])  # fmt: skip
    err = capsys.readouterr().err
    assert "difffit: the map's voxel values are skewed" in err
    assert "difffit: --resolution 3 Å is finer" in err


def test_search_cost_warnings(caplog):
    from difffit.fitting.optimise import Phase
    from difffit.fitting.pipeline import search_cost_warnings

    xyz = np.zeros((5000, 3))
    small = [Phase(xyz[:50], 10), Phase(xyz[:200], 40, n_keep=100), Phase(xyz, 60, n_keep=20)]
    assert search_cost_warnings("toy", 1000, small) == []
    # 1e6 starts x 5000 atoms x 300 steps = 1.5e12 atom-steps; 1e6 x 5000 x 48 B = 224 GiB
    big = [Phase(xyz, 300)]
    with caplog.at_level(logging.WARNING, logger="difffit"):
        w = search_cost_warnings("big", 1_000_000, big)
    assert len(w) == 2 and "1.5e+12 atom-steps" in w[0] and "224 GiB" in w[1]
    assert "fewer --rotations" in w[0] and len(_warnings(caplog)) == 2


def test_search_estimate_before_a_long_search(caplog):
    """A search of minutes (not hours) is estimated and warned about on a CPU (issue #14:
    --positions 100000 started a 78-minute run without a word); on a GPU it is only logged."""
    from difffit.fitting.optimise import Phase
    from difffit.fitting.pipeline import CPU_ATOM_STEPS_PER_S, search_cost_warnings

    xyz = np.zeros((1700, 3))
    # a 1,700-atom domain: 5e6 starts screened with 30 atoms, 1e6 coarse, 1e5 fine
    phases = [Phase(xyz[:30], 30), Phase(xyz[:200], 60, n_keep=1_000_000),
              Phase(xyz, 50, n_keep=100_000)]  # fmt: skip
    with caplog.at_level(logging.INFO, logger="difffit"):
        (w,) = search_cost_warnings("dom", 5_000_000, phases)
    steps = 5e6 * 30 * 30 + 1e6 * 200 * 60 + 1e5 * 1700 * 50
    assert f"{steps:.2g} atom-steps" in w and "a long run" in w
    assert f"about {steps / CPU_ATOM_STEPS_PER_S / 60:.0f} min on 2 CPU cores" in w
    assert "start pool about 0.5 GiB" in w  # 5e6 x 112 B
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="difffit"):
        assert search_cost_warnings("dom", 5_000_000, phases, device="cuda:0") == []
    assert any("dom: search of 5,000,000 starts" in r.getMessage() for r in caplog.records)
    caplog.clear()
    # the default search is only a debug line
    with caplog.at_level(logging.INFO, logger="difffit"):
        assert search_cost_warnings("dom", 10_000, phases) == []
    assert not caplog.records
