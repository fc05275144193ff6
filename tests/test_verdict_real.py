"""The verdict on real data (issue #14): the two true DomainFit domains into density2 are
convincing, the decoy I7LV70_D1 is not; haemoglobin's two copies of chain A are both
convincing and the table tells them apart by centre."""

from __future__ import annotations

import pytest

from difffit.cli import main
from difffit.io.results import load_results
from tests.conftest import data_path

pytestmark = pytest.mark.realdata


@pytest.mark.parametrize(
    ("name", "expected"),
    [("I7MLV6_D3", "convincing"), ("I7M317_D1", "convincing"), ("I7LV70_D1", "no convincing fit")],
)
def test_domainfit_demo_verdicts(name, expected, tmp_path, capsys):
    d = data_path("difffit_domainfit_demo")
    out = tmp_path / name
    argv = ["fit", str(d / "density2.mrc"), str(d / "subunits_cif" / f"{name}.pdb"),
            "--resolution", "4", "--seed", "1", "--threads", "2", "-q", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    r = load_results(out)
    top = r.clusters[0]
    assert top.verdict == expected
    if expected == "convincing":
        assert top.z > 3 and top.cam > 0.25
    else:
        assert all(c.verdict != "convincing" for c in r.clusters)
    # the printed table hides the clusters below the bar and says so
    assert expected in printed.splitlines()[2]
    assert "more clusters" in printed


def test_two_equal_copies_are_told_apart_by_centre(tmp_path):
    d = data_path("ccpem_emd3488_haemoglobin")
    out = tmp_path / "hb"
    argv = ["fit", str(d / "emd_3488.mrc"), str(d / "5me2.pdb"), "--chains", "A",
            "--resolution", "3.2", "--seed", "1", "--threads", "2", "-q", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    c1, c2 = load_results(out).clusters[:2]
    assert c1.verdict == c2.verdict == "convincing"
    assert c1.distance_to_rank1 == 0 and c1.angle_to_rank1 < 1e-3
    assert c2.distance_to_rank1 > 20 and c2.angle_to_rank1 > 90
