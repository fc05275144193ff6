import gzip

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
