"""``difffit screen --flexible``: full-length candidates are split into domains and each domain
is screened as a candidate ``<name>_D<k>`` (as DomainFit does).

Open adenylate kinase (4AKE, three domains) and two synthetic decoys are screened against a 5 Å
map of closed 1AKE: rigidly the open chain does not fit the closed map; its domains do, and one
of them ranks first.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

from difffit.cli import main
from difffit.density.simulate import simulate_map
from difffit.io import read_structure, write_map, write_structure
from tests.adk import read_adk
from tests.conftest import data_path
from tests.screen_cases import FAST_ARGS
from tests.synthetic import protein_like

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def test_screen_flexible_splits_candidates_into_domains(tmp_path, capsys):
    closed = read_adk(data_path("mdanalysis_adk", "adk_closed.pdb"), "closed")
    open_ = read_adk(data_path("mdanalysis_adk", "adk_open.pdb"), "open")
    sim = simulate_map(closed.coords_xyz, closed.atomic_numbers.astype(np.float64), 5.0,
                       voxel_size=5.0 / 3, padding=10.0)  # fmt: skip
    map_path = write_map(sim, tmp_path / "closed_5A.mrc")
    lib = tmp_path / "library"
    lib.mkdir()
    write_structure(open_, lib / "adk_open.pdb")
    rng = np.random.default_rng(4)
    write_structure(protein_like(40, rng, name="small"), lib / "small.pdb")
    out = tmp_path / "screen"
    argv = ["screen", str(map_path), str(lib), "--out", str(out), "--seed", "3", "-q",
            "--threads", "1", "--flexible", *FAST_ARGS]  # fmt: skip
    assert main(argv) == 0
    capsys.readouterr()
    with (out / "candidates.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    names = {r["structure"] for r in rows}
    domains = sorted(n for n in names if n.startswith("adk_open_D"))
    assert len(domains) >= 2 and "adk_open" not in names, names
    assert "small" in names  # too short to split: screened whole
    ranked = sorted((r for r in rows if r["rank"]), key=lambda r: int(r["rank"]))
    assert ranked[0]["structure"].startswith("adk_open_D"), ranked[0]
    # every domain file holds only its residues, with the input's numbering
    n_res = 0
    for name in domains:
        st = read_structure(out / "domains" / f"{name}.cif")
        assert set(st.residue_numbers) <= set(open_.residue_numbers)
        n_res += len(set(st.residue_numbers))
    assert n_res <= len(set(open_.residue_numbers))
    # the same command again resumes: nothing fitted anew
    assert main(argv) == 0
    assert "0 now" in capsys.readouterr().out
