"""Damaged or careless structure files end in one clear StructureError, or a warning that says
what was dropped (issue #13); each case here was fitted silently or crashed before."""

from __future__ import annotations

import gzip
import logging
import math
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from difffit.errors import StructureError
from difffit.io.structures import read_structure

ATOMS = [
    ("N", "ALA", "A", 1, 11.104, 6.134, -6.504, "N"),
    ("CA", "ALA", "A", 1, 11.639, 6.071, -5.147, "C"),
    ("C", "ALA", "A", 1, 13.140, 5.872, -5.210, "C"),
    ("O", "ALA", "A", 1, 13.775, 6.449, -6.090, "O"),
    ("N", "GLY", "A", 2, 13.700, 5.098, -4.279, "N"),
    ("CA", "GLY", "A", 2, 15.136, 4.859, -4.233, "C"),
]


def _pdb_line(i, name, res, chain, num, x, y, z, el, xyz_text=None, altloc=" "):
    coords = xyz_text if xyz_text is not None else f"{x:8.3f}{y:8.3f}{z:8.3f}"
    return (f"ATOM  {i:5d} {name:<4}{altloc}{res:>3} {chain}{num:4d}    {coords}  1.00 20.00"
            f"          {el:>2}\n")  # fmt: skip


def _pdb(path, replace=None, extra=""):
    lines = []
    for i, a in enumerate(ATOMS, 1):
        text = replace if (replace is not None and i == 2) else None
        lines.append(_pdb_line(i, *a, xyz_text=text))
    path.write_text("".join(lines) + extra + "END\n")
    return path


def _cif(path, value="11.639"):
    rows = []
    for i, (name, res, chain, num, x, y, z, el) in enumerate(ATOMS, 1):
        xs = value if i == 2 else f"{x:.3f}"
        rows.append(f"ATOM {i} {el} {name} . {res} {chain} 1 {num} ? {xs} {y:.3f} {z:.3f} 1.0 20.0 "
                    f"{num} {res} {chain} {name} 1")  # fmt: skip
    path.write_text(
        "data_test\nloop_\n_atom_site.group_PDB\n_atom_site.id\n_atom_site.type_symbol\n"
        "_atom_site.label_atom_id\n_atom_site.label_alt_id\n_atom_site.label_comp_id\n"
        "_atom_site.label_asym_id\n_atom_site.label_entity_id\n_atom_site.label_seq_id\n"
        "_atom_site.pdbx_PDB_ins_code\n_atom_site.Cartn_x\n_atom_site.Cartn_y\n"
        "_atom_site.Cartn_z\n_atom_site.occupancy\n_atom_site.B_iso_or_equiv\n"
        "_atom_site.auth_seq_id\n_atom_site.auth_comp_id\n_atom_site.auth_asym_id\n"
        "_atom_site.auth_atom_id\n_atom_site.pdbx_PDB_model_num\n" + "\n".join(rows) + "\n"
    )
    return path


def _error(path) -> str:
    with pytest.raises(StructureError) as exc:
        read_structure(path)
    msg = str(exc.value)
    assert "\n" not in msg and str(path) in msg
    return msg


def test_good_files_read(tmp_path):
    assert len(read_structure(_pdb(tmp_path / "ok.pdb"))) == 6
    assert len(read_structure(_cif(tmp_path / "ok.cif"))) == 6


@pytest.mark.parametrize(
    "text",
    ["abcdefgh  6.071  -5.147", "          6.071  -5.147", "   1,234   6.071  -5.147",
     "     nan   6.071  -5.147", "     inf   6.071  -5.147", "  11.639   6.071     -  "],
)  # fmt: skip
def test_garbage_pdb_coordinates(tmp_path, text):
    text = text.ljust(24)[:24]
    assert "is not a number" in _error(_pdb(tmp_path / "g.pdb", replace=text))


@pytest.mark.parametrize("value", ["?", ".", "abc", "1e400", "nan"])
def test_garbage_cif_coordinates(tmp_path, value):
    assert "not a finite number" in _error(_cif(tmp_path / "g.cif", value))


def test_far_away_coordinates(tmp_path):
    assert "beyond" in _error(_cif(tmp_path / "far.cif", "1e300"))
    assert "beyond" in _error(_cif(tmp_path / "far2.cif", "99999999"))


def test_invalid_elements_are_guessed_with_a_warning_or_refused(tmp_path, caplog):
    p = tmp_path / "xx.pdb"
    p.write_text("".join(_pdb_line(i, *a[:-1], "Xx") for i, a in enumerate(ATOMS, 1)) + "END\n")
    with caplog.at_level(logging.WARNING, logger="difffit"):
        st = read_structure(p)
    assert list(st.elements) == [a[-1] for a in ATOMS]
    assert "element column that is no element" in caplog.text
    # nothing to guess from: unknown atom names in an unknown residue
    p.write_text("".join(_pdb_line(i, f"Q{i}", "UNL", "A", 1, *a[4:7], "Xx")
                         for i, a in enumerate(ATOMS, 1)) + "END\n")  # fmt: skip
    assert "no atom has a known element" in _error(p)
    lines = [_pdb_line(i, *a) for i, a in enumerate(ATOMS, 1)]
    lines[1] = _pdb_line(2, "Q1", "UNL", "A", 3, *ATOMS[1][4:7], "Xx")
    p.write_text("".join(lines) + "END\n")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="difffit"):
        assert len(read_structure(p)) == 6
    assert "unknown element" in caplog.text


def test_reused_chain_ids_are_reported(tmp_path, caplog):
    copy = "".join(_pdb_line(i + 10, *a) for i, a in enumerate(ATOMS, 1))
    p = _pdb(tmp_path / "reuse.pdb", extra="TER\n" + copy)
    with caplog.at_level(logging.WARNING, logger="difffit"):
        read_structure(p)
    assert "same chain ID and number" in caplog.text


def test_altlocs_are_reported_not_warned(tmp_path, caplog):
    lines = [_pdb_line(i, *a) for i, a in enumerate(ATOMS, 1)]
    lines[1] = _pdb_line(2, *ATOMS[1], altloc="A") + _pdb_line(3, *ATOMS[1], altloc="B")
    p = tmp_path / "alt.pdb"
    p.write_text("".join(lines) + "END\n")
    with caplog.at_level(logging.INFO, logger="difffit"):
        assert len(read_structure(p)) == 6
    assert "alternative conformations removed" in caplog.text
    assert "same chain ID" not in caplog.text


def test_fifo_and_corrupt_gzip(tmp_path):
    fifo = tmp_path / "pipe.pdb"
    os.mkfifo(fifo)
    assert "not a regular file" in _error(fifo)
    z = bytearray(gzip.compress(_pdb(tmp_path / "z.pdb").read_bytes() * 20))
    z[len(z) // 2 : len(z) // 2 + 30] = b"\xff" * 30
    gz = tmp_path / "z.pdb.gz"
    gz.write_bytes(bytes(z))
    msg = _error(gz)
    assert "damaged" in msg or "cannot parse" in msg


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=hs.text(alphabet="0123456789.-+eE ,abnifx?*", min_size=8, max_size=8))
def test_any_pdb_coordinate_text_reads_as_its_number_or_is_refused(tmp_path, text):
    """Columns 31-38 of any text: a StructureError, or the number the text says, never 0 or a
    part of the text."""
    p = _pdb(tmp_path / "h.pdb", replace=text + "   6.071  -5.147")
    try:
        value = float(text)
    except ValueError:
        value = None
    try:
        st = read_structure(p)
    except StructureError as exc:
        assert "\n" not in str(exc) and str(p) in str(exc)
        return
    assert value is not None and math.isfinite(value), text
    assert st.coords_xyz[1, 0] == pytest.approx(value, abs=1e-3)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(x=hs.floats(min_value=-999.0, max_value=9999.0, allow_nan=False))
def test_any_finite_written_coordinate_reads_back(tmp_path, x):
    for fmt in ("pdb", "cif"):
        p = (_pdb(tmp_path / "v.pdb", replace=f"{x:8.3f}   6.071  -5.147") if fmt == "pdb"
             else _cif(tmp_path / "v.cif", f"{x:.3f}"))  # fmt: skip
        assert read_structure(p).coords_xyz[1, 0] == pytest.approx(round(x, 3), abs=1.5e-3)
