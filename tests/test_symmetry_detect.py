"""Symmetry detection: synthetic assemblies of known group, frame and centre; real maps; CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from difffit import read_map
from difffit.cli import main
from difffit.errors import ConfigError
from difffit.symmetry import (
    ACCEPT_CC,
    check_symmetry,
    detect_symmetry,
    group_operators,
    operator_correlations,
)
from difffit.symmetry.detect import group_axes
from tests.conftest import data_path
from tests.symmetric import asymmetric_case, symmetric_case


def axis_errors_deg(true_group: str, true_frame: np.ndarray, found) -> list[float]:
    """For every true axis, the angle to the nearest found axis of the same order."""
    det = found.axes
    out = []
    for order, u in group_axes(true_group, true_frame):
        same = [v for o, v in det if o == order]
        assert same, f"no {order}-fold axis found"
        out.append(min(float(np.degrees(np.arccos(min(1.0, abs(u @ v))))) for v in same))
    return out


# seeds fixed: 10 Å maps on 3.5 Å voxels with noise (SD 0.05 of the maximum)
@pytest.mark.parametrize(
    ("group", "seed"),
    [("C3", 1), ("C7", 1), ("C12", 1), ("D2", 1), ("D5", 1), ("T", 1), ("O", 1), ("I", 1)],
)
def test_synthetic_groups_found_with_axes_within_1_degree(group, seed):
    density, frame, centre = symmetric_case(group, np.random.default_rng(seed))
    res = detect_symmetry(density)
    assert res.group.name == group
    assert res.copies == res.group.order
    errs = axis_errors_deg(group, frame, res.best)
    assert max(errs) < 1.0, errs
    d = res.best.centre_xyz - centre
    if group.startswith("C"):  # the centre is free along the axis
        d = d - (d @ frame[:, 2]) * frame[:, 2]
    assert np.linalg.norm(d) < 1.5
    assert res.best.min_correlation >= ACCEPT_CC
    assert res.best.control_correlation < res.best.min_correlation


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_asymmetric_complex_has_no_symmetry(seed):
    res = detect_symmetry(asymmetric_case(np.random.default_rng(seed)))
    assert res.group.name == "C1" and not res.has_symmetry and res.best is None
    assert res.candidates  # the best rejected axis is reported
    assert not res.candidates[0].holds


def test_check_a_given_group_and_operator_correlations():
    density, frame, centre = symmetric_case("D5", np.random.default_rng(1))
    ok = check_symmetry(density, "D5")
    assert ok.holds and ok.min_correlation > 0.9
    bad = check_symmetry(density, "O")
    assert not bad.holds and bad.min_correlation < 0.5
    # the true operators correlate; a wrong frame does not
    ops = group_operators("D5", centre_xyz=centre, frame=frame)[1:]
    assert operator_correlations(density, ops).min() > 0.9
    wrong = group_operators("D5", centre_xyz=centre, frame=frame[:, [1, 2, 0]])[1:]
    assert operator_correlations(density, wrong).min() < 0.5
    with pytest.raises(ConfigError, match="unknown point group"):
        check_symmetry(density, "D1")


def test_bad_options():
    density, _, _ = symmetric_case("C3", np.random.default_rng(1))
    with pytest.raises(ConfigError, match="level"):
        detect_symmetry(density, level=1e6)
    with pytest.raises(ConfigError, match="max_order"):
        detect_symmetry(density, max_order=1)
    with pytest.raises(ConfigError, match="resolution"):
        detect_symmetry(density, resolution=-1.0)


# ---------------------------------------------------------------------------- real maps
@pytest.mark.realdata
@pytest.mark.parametrize(
    ("parts", "group"),
    [
        (("mainmastseg_emd0093_hcn4", "MAP_m4A.mrc.gz"), "C4"),
        (("powerfit_emd1997_groel", "1997.map"), "D7"),
        (("ccpem_emd3488_haemoglobin", "emd_3488.mrc"), "C2"),
        (("difffit_domainfit_demo", "density2.mrc"), "C1"),
        (("ccpem_emd21457_spike_ntd", "emd_21457_seg.mrc"), "C1"),
    ],
)
def test_real_maps(parts, group):
    res = detect_symmetry(read_map(data_path(*parts)))
    assert res.group.name == group
    if group == "C2":  # haemoglobin: alpha2beta2, the pseudo two-folds (alpha ~ beta) fail
        d2 = next(c for c in res.candidates if c.group.name == "D2")
        assert not d2.holds and d2.min_correlation < 0.4
    if group == "C4":  # HCN4: the four-fold along the map's z, through the box centre in x, y
        assert abs(res.best.axes[0][1][2]) > 0.9999
        assert np.allclose(res.best.centre_xyz[:2], 147.4, atol=0.5)


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize("name", ["2513A", "5778", "5925", "6374", "6555"])
def test_riken_single_chains_have_no_symmetry(name):
    path = data_path("riken_segmented_chains", "mrc_converted", f"{name}.mrc")
    assert detect_symmetry(read_map(path)).group.name == "C1"


@pytest.mark.realdata
def test_groel_is_not_d6_and_hcn4_check():
    groel = read_map(data_path("powerfit_emd1997_groel", "1997.map"))
    chk = check_symmetry(groel, "D6")
    assert not chk.holds and chk.min_correlation < 0.5


# ---------------------------------------------------------------------------- CLI
def test_cli_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["symmetry", "--help"])
    assert exc.value.code == 0
    assert "--group" in capsys.readouterr().out


def test_cli_end_to_end(tmp_path, capsys):
    from difffit.io import write_map

    density, _, _ = symmetric_case("D5", np.random.default_rng(1))
    path = write_map(density, tmp_path / "d5.mrc")
    assert main(["symmetry", str(path)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("symmetry: D5 (10 copies), 5-fold axis (")
    assert main(["symmetry", str(path), "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    doc = json.loads("\n".join(lines[:-1]))
    assert doc["group"] == "D5" and doc["copies"] == 10 and len(doc["best"]["operators"]) == 9
    assert lines[-1].startswith("symmetry: D5")
    assert main(["symmetry", str(path), "--group", "O"]) == 1
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("symmetry: the map does not have O: worst operator self-correlation")
    assert main(["symmetry", str(path), "--group", "Q7"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown point group 'Q7'" in err[0]


def test_cli_no_symmetry(tmp_path, capsys):
    from difffit.io import write_map

    path = tmp_path / "c1.mrc"
    write_map(asymmetric_case(np.random.default_rng(0)), path)
    assert main(["symmetry", str(path)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("symmetry: none (C1, 1 copy)")


# ---------------------------------------------------------------------------- helical
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_synthetic_helix_rise_twist_and_axis(seed):
    from difffit.symmetry.helical import detect_helical

    density, axis = symmetric_helix(seed)
    hel = detect_helical(density)
    assert hel.holds
    assert abs(hel.rise - 22.0) < 0.5  # the subunit rise, not the 2-start 44 Å
    assert abs(hel.twist_deg - -150.0) < 1.5
    assert np.degrees(np.arccos(min(1.0, abs(float(axis @ hel.axis_xyz))))) < 1.0
    # the screw by one subunit, as an operator, correlates like the result says
    assert operator_correlations(density, [hel.operator()])[0] > 0.5
    # a hint near the answer gives the same
    hinted = detect_helical(density, rise=23.0, twist_deg=-148.0)
    assert abs(hinted.rise - 22.0) < 0.5 and abs(hinted.twist_deg - -150.0) < 1.5
    with pytest.raises(ConfigError, match="both"):
        detect_helical(density, rise=22.0)


def symmetric_helix(seed):
    from tests.symmetric import helical_case

    return helical_case(np.random.default_rng(seed))


@pytest.mark.realdata
def test_actin_filament_is_helical(capsys):
    path = data_path("tempy_actin_emd5168", "emd_5168.map")
    assert main(["symmetry", str(path)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert any(line.startswith("  C") or line.startswith("  D") for line in out)  # tried first
    last = out[-1]
    assert last.startswith("symmetry: helical, rise ")
    rise = float(last.split("rise ")[1].split(" Å")[0])
    twist = float(last.split("twist ")[1].split("°")[0])
    assert abs(rise - 27.5) < 0.7 and abs(twist - -166.6) < 1.0
    # an asymmetric map is not helical either
    assert main(["symmetry", str(data_path("difffit_domainfit_demo", "density2.mrc"))]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("symmetry: none (C1, 1 copy)") and "helical: best rise" in last
