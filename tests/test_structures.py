import dataclasses
import gzip
from pathlib import Path

import gemmi
import numpy as np
import pytest

from difffit.errors import ConfigError, StructureError
from difffit.geometry import RigidTransform, random_quaternions
from difffit.io import read_structure, write_structure
from difffit.split import group_chains, split_chains
from tests.conftest import data_path

PDB = """\
MODEL        1
ATOM      1  N   ALA A   1      11.104   6.134  -6.504  1.00 10.00           N
ATOM      2  CA AALA A   1      11.639   6.071  -5.147  0.60 11.00           C
ATOM      3  CA BALA A   1      12.639   7.071  -5.147  0.40 12.00           C
ATOM      4  C   ALA A   1      13.140   5.987  -5.152  1.00 13.00           C
ATOM      5  O   ALA A   1      13.755   5.519  -6.105  1.00 14.00           O
ATOM      6  H   ALA A   1      10.104   6.134  -6.504  1.00 10.00           H
ATOM      7  N   GLY B   1      21.104   6.134  -6.504  1.00 20.00           N
ATOM      8  CA  GLY B   1      21.639   6.071  -5.147  1.00 21.00           C
ATOM      9  C   GLY B   1      23.140   5.987  -5.152  1.00 22.00           C
ATOM     10  O   GLY B   1      23.755   5.519  -6.105  1.00 23.00           O
HETATM   11  O   HOH B 101      30.000  30.000  30.000  1.00 30.00           O
ENDMDL
MODEL        2
ATOM      1  N   ALA A   1      99.104   6.134  -6.504  1.00 10.00           N
ENDMDL
END
"""


@pytest.fixture
def small_pdb(tmp_path):
    p = tmp_path / "small.pdb"
    p.write_text(PDB)
    return p


def test_read_first_model_altloc_no_h_no_water(small_pdb):
    st = read_structure(small_pdb)
    assert st.chains == ("A", "B")
    assert len(st) == 8  # 4 + 4 heavy atoms; H, water, model 2, altloc B dropped
    ca_a = st.coords_xyz[(st.chain_ids == "A") & (st.atom_names == "CA")]
    assert np.allclose(ca_a, [[11.639, 6.071, -5.147]])  # first altloc kept
    assert st.mask("ca").sum() == 2
    assert st.mask("backbone").sum() == 8
    assert st.name == "small"


def test_select_chains_and_errors(small_pdb):
    st = read_structure(small_pdb, chains=["B"])
    assert st.chains == ("B",) and len(st) == 4
    assert st.name == "small_B"
    with pytest.raises(StructureError, match="no chain C"):
        read_structure(small_pdb, chains=["C"])
    with pytest.raises(ConfigError):
        st.mask("sidechains")


def test_write_preserves_everything_and_applies_transform(small_pdb, tmp_path, rng):
    st = read_structure(small_pdb)
    tr = RigidTransform.from_quat(random_quaternions(1, rng)[0], [5.0, -3.0, 2.0])
    for name in ("out.cif", "out.pdb", "out.cif.gz"):
        path = write_structure(st, tmp_path / name, transform=tr)
        if name.endswith(".gz"):
            with gzip.open(path, "rt") as fh:
                assert "data_" in fh.read(200)
        back = read_structure(path)
        assert np.allclose(back.coords_xyz, tr.apply(st.coords_xyz), atol=1e-3)
        assert back.chains == st.chains
        g = gemmi.read_structure(str(path))
        # hydrogens and waters are kept in the written model, with B-factors
        assert g[0].count_atom_sites() == 10
        bs = sorted(a.b_iso for r in g[0]["B"] for a in r)
        assert bs[-1] == pytest.approx(30.0)


def test_real_multichain_pdb_and_mmcif():
    st = read_structure(data_path("ccpem_emd3488_haemoglobin", "5me2.pdb"))
    assert st.chains == ("A", "B", "C", "D")
    cif = read_structure(data_path("ccpem_emd3488_haemoglobin", "5ni1_updated.cif"))
    assert len(cif.chains) == 4
    big = read_structure(data_path("large_complexes", "pdb4v8r_hex.pdb.gz"))
    assert len(big.chains) == 32 and len(big) > 100000  # hybrid-36 serials


def test_bad_structure_files(tmp_path):
    with pytest.raises(StructureError, match="no such file"):
        read_structure(tmp_path / "nothere.pdb")
    empty = tmp_path / "empty.pdb"
    empty.write_text("REMARK nothing\nEND\n")
    with pytest.raises(StructureError):
        read_structure(empty)
    water = tmp_path / "water.pdb"
    water.write_text(
        "HETATM    1  O   HOH A   1       0.000   0.000   0.000  1.00 10.00           O\nEND\n"
    )
    with pytest.raises(StructureError, match="no heavy atoms"):
        read_structure(water)
    bad = tmp_path / "bad.cif"
    bad.write_text("this is not cif")
    with pytest.raises(StructureError, match="cannot parse"):
        read_structure(bad)
    (tmp_path / "x.txt").write_text("ATOM")
    with pytest.raises(StructureError, match="not a structure file name"):
        read_structure(tmp_path / "x.txt")


def test_split_groups_identical_chains():
    st = read_structure(data_path("ccpem_emd3488_haemoglobin", "5me2.pdb"))
    groups = group_chains(st)
    assert [g.chains for g in groups] == [("A", "C"), ("B", "D")]
    assert groups[0].name == "5me2_A"
    parts = split_chains(st)
    assert [p.chains for p in parts] == [("A",), ("B",), ("C",), ("D",)]
    assert sum(len(p) for p in parts) == len(st)
    assert "X" not in groups[0].sequence  # the haem is not part of the sequence


# A CHARMM-style file: no element column, atom names that a name-only guess reads as Hg, Cd, Ca
NO_ELEMENTS = """\
ATOM      1 N    LYS A   1      11.104   6.134  -6.504  1.00 10.00      PROT
ATOM      2 HN   LYS A   1      10.104   6.134  -6.504  1.00  0.00      PROT
ATOM      3 CA   LYS A   1      11.639   6.071  -5.147  1.00 11.00      PROT
ATOM      4 CB   LYS A   1      11.139   7.071  -4.147  1.00 12.00      PROT
ATOM      5 CG   LYS A   1      11.639   8.071  -3.147  1.00 12.50      PROT
ATOM      6 HG1  LYS A   1      12.639   8.071  -3.147  1.00  0.00      PROT
ATOM      7 CD   LYS A   1      11.139   9.071  -2.147  1.00 13.00      PROT
ATOM      8 HD1  LYS A   1      10.139   9.071  -2.147  1.00  0.00      PROT
ATOM      9 C    LYS A   1      13.140   5.987  -5.152  1.00 13.00      PROT
ATOM     10 O    LYS A   1      13.755   5.519  -6.105  1.00 14.00      PROT
HETATM   11 CA   CA  A 101      20.000  20.000  20.000  1.00 30.00      PROT
HETATM   12 ZN    ZN A 102      25.000  20.000  20.000  1.00 31.00          ZN
HETATM   13 CL1  LIG A 103      27.000  20.000  20.000  1.00 32.00
END
"""


def test_elements_from_names_with_the_residue_in_mind(tmp_path):
    p = tmp_path / "charmm.pdb"
    p.write_text(NO_ELEMENTS)
    st = read_structure(p)
    got = dict(zip(st.residue_keys(), st.elements, strict=True))
    assert list(st.atom_names[:7]) == ["N", "CA", "CB", "CG", "CD", "C", "O"]  # H dropped
    assert set(st.elements[:7]) == {"N", "C", "O"}  # no Hg, Cd or Ca in the lysine
    assert got[("A", 101, "", "CA")] == "CA"  # the calcium ion stays calcium
    assert got[("A", 102, "", "ZN")] == "ZN"  # from its element column
    assert got[("A", 103, "", "CL1")] == "CL"  # a ligand's chlorine
    assert st.atomic_numbers[st.atom_names == "CD"][0] == 6
    # the written model carries the corrected elements (hydrogens kept there)
    out = write_structure(st, tmp_path / "out.pdb")
    g = gemmi.read_structure(str(out))
    elements = [a.element.name for r in g[0]["A"] for a in r]
    assert elements.count("H") == 3 and "Hg" not in elements and "Cd" not in elements


def test_guess_element_rules():
    from difffit.io.structures import guess_element

    cases = {
        ("HG1", "LYS"): "H", ("1HG1", "VAL"): "H", ("CD1", "LEU"): "C", ("CA", "ALA"): "C",
        ("CA", "HSD"): "C", ("SE", "MSE"): "Se", ("OP1", "DA"): "O", ("CA", "CA"): "Ca",
        ("ZN", "ZN"): "Zn", ("NA", "NA"): "Na", ("CL", "CL"): "Cl", ("SOD", "SOD"): "Na",
        ("FE", "HEM"): "Fe", ("NA", "HEM"): "N", ("C1", "NAG"): "C", ("MG", "CLA"): "Mg",
    }  # fmt: skip
    for (name, res), el in cases.items():
        assert guess_element(name, res) == el, (name, res)


def test_b_factors_read_and_subset(small_pdb):
    st = read_structure(small_pdb)
    assert st.b_factors is not None and st.b_factors.dtype == np.float64
    assert list(st.b_factors[:4]) == pytest.approx([10.0, 11.0, 13.0, 14.0])  # altloc A kept
    sub = st.subset(st.chain_ids == "B")
    assert list(sub.b_factors) == pytest.approx([20.0, 21.0, 22.0, 23.0])
    with pytest.raises(ValueError, match="b_factors has 2 entries for 8 atoms"):
        dataclasses.replace(st, b_factors=np.zeros(2))


@pytest.mark.realdata
def test_adk_open_and_closed_read_right():
    """The CHARMM-style ADK pair: no element column, hydrogens in, names like HG1/CD1/CA."""
    sts = [read_structure(data_path("mdanalysis_adk", f"adk_{s}.pdb")) for s in ("open", "closed")]
    for st in sts:
        assert len(st) == 1656 and st.n_residues == 214  # 4AKE/1AKE heavy atoms, 3341 with H
        counts = dict(zip(*np.unique(st.elements, return_counts=True), strict=True))
        assert counts == {"C": 1040, "N": 289, "O": 320, "S": 7}  # no Hg, Cd, Ca, H
        assert st.mask("ca").sum() == 214
        assert st.b_factors[0] > 0
    a, b = sts
    for f in ("atom_names", "residue_names", "residue_numbers", "elements", "chain_ids"):
        assert np.array_equal(getattr(a, f), getattr(b, f)), f
    assert not np.allclose(a.coords_xyz, b.coords_xyz)


# ----------------------------------------------------------------- the fast record scan
def _pdb_line(serial, name, res, chain, num, xyz, element="C", record="ATOM  "):
    x, y, z = xyz
    return (f"{record}{serial:5d} {name:<4} {res:>3} {chain}{num:4d}    "
            f"{x:8.3f}{y:8.3f}{z:8.3f}  1.00 20.00          {element:>2}")  # fmt: skip


def _texts():
    atoms = [_pdb_line(i + 1, n, "ALA", "A", 1 + i // 3, (i * 1.5, -2.0, 1e2 + i), e)
             for i, (n, e) in enumerate([("N", "N"), ("CA", "C"), ("C", "C")] * 3)]  # fmt: skip
    no_el = [a[:76] for a in atoms]
    some = atoms[:4] + no_el[4:]
    model2 = ["MODEL        1", *atoms, "ENDMDL", "MODEL        2", "ATOM  garbage", "ENDMDL"]
    touching = [a[:30] + "-123.456-789.012 999.999" + a[54:] for a in atoms]
    return {
        "plain": "\n".join(["HEADER    TEST", *atoms, "END"]),
        "crlf-translated": "\n".join(atoms) + "\n",
        "no-element": "\n".join(no_el),
        "some-elements": "\n".join(some),
        "two-models": "\n".join(model2),
        "touching-fields": "\n".join(touching),
        "exponent": "\n".join(a[:30] + "   1e+02" + a[38:] for a in atoms),
        "hetatm": "\n".join(_pdb_line(1, "ZN", "ZN", "B", 5, (1, 2, 3), "ZN", "HETATM")),
    }


@pytest.mark.parametrize("name", list(_texts()))
def test_fast_scan_agrees_with_the_line_by_line_scan(name):
    from difffit.io.structures import _scan_pdb_lines, _scan_pdb_records_fast

    text = _texts()[name]
    fast = _scan_pdb_records_fast(text)
    assert fast is not None, "a clean file must not need the slow pass"
    assert fast == _scan_pdb_lines(Path("x.pdb"), text)


@pytest.mark.parametrize(
    "bad",
    ["   nan  ", "  1e999 ", " 1_000.0", "  abc   ", "        ", "inf     "],
)
def test_fast_scan_leaves_every_bad_coordinate_to_the_line_by_line_scan(bad):
    from difffit.errors import StructureError
    from difffit.io.structures import _scan_pdb_records, _scan_pdb_records_fast

    atoms = [_pdb_line(i + 1, "CA", "GLY", "A", i + 1, (1.0, 2.0, 3.0)) for i in range(4)]
    atoms[2] = atoms[2][:38] + bad + atoms[2][46:]
    text = "\n".join(atoms)
    assert _scan_pdb_records_fast(text) is None
    with pytest.raises(StructureError, match="line 3: y coordinate"):
        _scan_pdb_records(Path("x.pdb"), text)
