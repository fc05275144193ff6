"""``difffit fit --flexible`` end to end: open adenylate kinase into a 5 Å map of the closed one.

The map is simulated from closed 1AKE (tests/adk.py reads it with elements from the atom names)
with seeded noise and written to a file; the open 4AKE PDB (written with elements) is fitted by
the CLI with the textbook domains. The refined model is read back from
``models/rank_001_<name>_flexible.cif`` and compared with the closed structure (same frame: no
superposition).
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from difffit.cli import main
from difffit.geometry import rmsd
from difffit.io import read_structure
from difffit.io.flexible import read_flexible
from tests.adk import open_into_closed_5a

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def test_fit_flexible_adk_cli(tmp_path, capsys):
    map_path, model_path, closed, open_ = open_into_closed_5a(tmp_path)
    out = tmp_path / "out"
    rc = main(["fit", str(map_path), str(model_path), "-o", str(out), "--seed", "1",
               "--threads", "1", "-q", "--resolution", "5", "--flexible", "--flexible-top", "1",
               "--domains", "A:1-29+A:60-121+A:160-214,A:122-159,A:30-59"])  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    assert "flexible refinement" in text
    cif = out / "models" / "rank_001_adk_open_flexible.cif"
    refined = read_structure(cif)
    ca = refined.mask("ca")
    assert np.array_equal(refined.residue_numbers[ca], closed.residue_numbers[closed.mask("ca")])
    final = rmsd(refined.coords_xyz[ca], closed.coords_xyz[closed.mask("ca")])
    assert final <= 1.5, final
    man = json.loads((out / "manifest.json").read_text())
    entry = man["flexible"][0]
    assert entry["cam_after"] > entry["cam_before"]
    g0, g1 = entry["geometry_input"], entry["geometry_after"]
    assert g1["peptide_outliers"] <= g0["peptide_outliers"]
    assert g1["ca_ca_outliers"] <= max(g0["ca_ca_outliers"], 0.01 * g1["n_ca_ca"])
    assert g1["clashes"] <= g0["clashes"]
    back = read_flexible(out)
    assert [r["domain"] for r in back["domains"]] == [1, 2, 3]
    with open(out / "flexible_residues.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 214 and max(float(r["shift"]) for r in rows) > 5.0
    print(f"final CA RMSD {final:.3f}")
