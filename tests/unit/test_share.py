"""Shareable outputs: relative ChimeraX scripts and fitted models without a crystal cell."""

from __future__ import annotations

import numpy as np

from difffit.geometry import RigidTransform
from difffit.io.results import write_chimerax_script
from difffit.io.structures import read_structure, write_structure
from difffit.structure import Structure


def test_chimerax_script_paths_are_relative(tmp_path):
    folder = tmp_path / "fit"
    (folder / "models").mkdir(parents=True)
    outside = tmp_path / "maps" / "emd.mrc"
    cxc = write_chimerax_script(
        folder / "open_in_chimerax.cxc", outside, 0.5,
        [(folder / "models" / "rank_001_a.cif", "rank 1: a")], title="t",
    )  # fmt: skip
    text = cxc.read_text()
    assert 'open "../maps/emd.mrc"' in text
    assert f"# map from {outside.resolve()} (outside this folder)" in text
    assert 'open "models/rank_001_a.cif"' in text
    assert str(tmp_path) not in text.replace(f"# map from {outside.resolve()}", "")


def test_written_model_has_no_crystal_cell(tmp_path):
    pdb = tmp_path / "x.pdb"
    pdb.write_text(
        "CRYST1  162.000  199.000  180.000  90.00  90.00  90.00 C 2 2 21     56\n"
        "ATOM      1  CA  ALA A   1      10.000  11.000  12.000  1.00 20.00           C\n"
        "ATOM      2  CA  GLY A   2      13.800  11.000  12.000  1.00 20.00           C\n"
        "END\n"
    )
    st = read_structure(pdb)
    assert isinstance(st, Structure)
    move = RigidTransform(np.eye(3), np.array([1.0, 2.0, 3.0]))
    out_pdb = write_structure(st, tmp_path / "m.pdb", transform=move).read_text()
    out_cif = write_structure(st, tmp_path / "m.cif", transform=move).read_text()
    assert "C 2 2 21" not in out_pdb and "162.000" not in out_pdb
    assert "C 2 2 21" not in out_cif and "162" not in out_cif.split("_cell.length_b")[0]


def test_a_structure_written_in_place_keeps_its_crystal_frame(tmp_path):
    # difffit split writes chains in the input frame: their cell still means something
    src = tmp_path / "x.pdb"
    src.write_text(
        "CRYST1   60.000   70.000   80.000  90.00  90.00  90.00 C 2 2 21\n"
        "ATOM      1  CA  ALA A   1      11.639   6.071  -5.147  1.00 20.00           C\n"
        "ATOM      2  CA  GLY A   2      15.136   4.859  -4.233  1.00 20.00           C\n"
        "ATOM      3  CA  SER A   3      17.000   7.000  -3.000  1.00 20.00           C\n"
        "END\n"
    )
    st = read_structure(src)
    assert "C 2 2 21" in write_structure(st, tmp_path / "same.pdb").read_text()
