"""Contract suite for the structure reader and writer over every format (PDB, mmCIF, .gz).

Every variant must give back the same atoms: coordinates (to the formats' 0.001 Å), elements,
atom and residue names, chains, residue numbers and insertion codes; a written model keeps what
the fitting atoms leave out (waters, hydrogens), and a transform moves every atom.
"""

from __future__ import annotations

import dataclasses
import gzip
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as hs

from difffit.errors import StructureError
from difffit.geometry import RigidTransform, random_quaternions
from difffit.io import read_structure, write_structure
from difffit.io.structures import structure_format
from difffit.structure import Structure
from tests.synthetic import protein_like

NAMES = ["m.pdb", "m.ent", "m.cif", "m.mmcif", "m.pdb.gz", "m.cif.gz"]
#: PDB and mmCIF (as gemmi writes them) keep three decimals.
COORD_ATOL = 5.1e-4

_PDB_WITH_EXTRAS = """\
ATOM      1  N   ALA A  10      11.104   6.134  -6.504  1.00 20.00           N
ATOM      2  CA  ALA A  10      11.639   6.071  -5.147  1.00 20.00           C
ATOM      3  H   ALA A  10      10.500   6.800  -6.900  1.00 20.00           H
ATOM      4  C   ALA A  10      13.149   5.993  -5.182  1.00 20.00           C
ATOM      5  N   GLY A  10A     13.737   6.074  -3.985  0.50 30.00           N
ATOM      6  CA  GLY A  10A     15.183   6.015  -3.853  0.50 30.00           C
ATOM      7  N   SER B   1      -1.000   2.000   3.000  1.00 10.00           N
ATOM      8  CA  SER B   1      -2.000   3.500   4.250  1.00 10.00           C
HETATM    9  O   HOH W   1       5.000   5.000   5.000  1.00 40.00           O
END
"""


def same_atoms(a: Structure, b: Structure, *, atol: float = COORD_ATOL) -> None:
    assert len(a) == len(b)
    assert np.allclose(a.coords_xyz, b.coords_xyz, atol=atol, rtol=0)
    for field in (
        "elements",
        "atomic_numbers",
        "atom_names",
        "residue_names",
        "chain_ids",
        "residue_numbers",
        "insertion_codes",
    ):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field


def two_chains(rng: np.random.Generator) -> Structure:
    """An array-built structure (no parsed model) with two chains and an insertion code."""
    st = protein_like(12, rng, name="two")
    n = len(st)
    chains = np.where(np.arange(n) < n // 2, "A", "B")
    icodes = np.where(st.residue_numbers == 3, "A", "")
    numbers = st.residue_numbers.copy()
    numbers[st.residue_numbers == 3] = 2  # residue 2 then 2A
    return dataclasses.replace(
        st, chain_ids=chains, insertion_codes=icodes, residue_numbers=numbers
    )


@pytest.mark.parametrize("name", NAMES)
def test_array_built_structure_round_trip(tmp_path, rng, name):
    st = two_chains(rng)
    assert st.model is None
    path = write_structure(st, tmp_path / name)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    back = read_structure(path)
    same_atoms(st, back)
    assert back.name == "m"
    assert back.source == path


@pytest.mark.parametrize("name", NAMES)
def test_transform_moves_every_atom(tmp_path, rng, name):
    st = protein_like(10, rng)
    tr = RigidTransform.from_quat(random_quaternions(1, rng)[0], rng.normal(size=3) * 30)
    back = read_structure(write_structure(st, tmp_path / name, transform=tr))
    assert np.allclose(back.coords_xyz, tr.apply(st.coords_xyz), atol=COORD_ATOL, rtol=0)


@pytest.mark.parametrize("second", NAMES)
@pytest.mark.parametrize("first", ["in.pdb", "in.cif.gz"])
def test_parsed_model_keeps_waters_hydrogens_and_chains(tmp_path, first, second):
    src = tmp_path / "src.pdb"
    src.write_text(_PDB_WITH_EXTRAS)
    orig = read_structure(src)
    # fitting atoms: no hydrogen, no water; insertion code and both chains kept
    assert len(orig) == 7
    assert orig.chain_ids.tolist() == ["A"] * 5 + ["B"] * 2
    assert orig.insertion_codes.tolist() == ["", "", "", "A", "A", "", ""]
    a = read_structure(write_structure(orig, tmp_path / first))
    b = read_structure(write_structure(a, tmp_path / second))
    same_atoms(orig, a)
    same_atoms(orig, b)
    text = (tmp_path / second).read_bytes()
    if second.endswith(".gz"):
        text = gzip.decompress(text)
    assert b"HOH" in text
    written = [(res.name, atom.element.name) for ch in b.model[0] for res in ch for atom in res]
    assert len(written) == 9  # the written model keeps the water and the hydrogen
    assert ("HOH", "O") in written and ("ALA", "H") in written


@pytest.mark.parametrize("name", ["m.pdb", "m.cif"])
def test_chain_selection(tmp_path, rng, name):
    path = write_structure(two_chains(rng), tmp_path / name)
    b = read_structure(path, chains=["B"])
    assert set(b.chain_ids.tolist()) == {"B"}
    assert b.name.startswith("m")
    named = read_structure(path, chains=["B"], name="only-b")
    assert named.name == "only-b"
    with pytest.raises(StructureError):
        read_structure(path, chains=["Z"])


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.pdb", "pdb"),
        ("a.ENT", "pdb"),
        ("a.pdb.gz", "pdb"),
        ("a.cif", "cif"),
        ("a.mmCIF", "cif"),
        ("a.pdbx", "cif"),
        ("a.cif.gz", "cif"),
    ],
)
def test_structure_format_from_name(name, fmt):
    assert structure_format(name) == fmt


@pytest.mark.parametrize("name", ["a.mrc", "a.txt", "a.gz", "pdb"])
def test_not_a_structure_name(tmp_path, name):
    with pytest.raises(StructureError, match="not a structure file name"):
        structure_format(name)
    (tmp_path / name).write_text("x")
    with pytest.raises(StructureError, match="not a structure file name"):
        read_structure(tmp_path / name)


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("e.pdb", "", "no models|no heavy atoms|cannot parse"),
        ("w.pdb", _PDB_WITH_EXTRAS.splitlines()[8] + "\nEND\n", "no heavy atoms"),
        ("e.cif", "data_x\n_cell.length_a 10\n", "no models|no heavy atoms|cannot parse"),
        ("g.cif", "this is not a cif file at all\n", "cannot parse"),
    ],
)
def test_unusable_files_are_structure_errors(tmp_path, name, content, match):
    (tmp_path / name).write_text(content)
    with pytest.raises(StructureError, match=match):
        read_structure(tmp_path / name)


# ------------------------------------------------------------------ properties
coords = hs.floats(-999.0, 9999.0, allow_nan=False).map(lambda v: round(v, 3))


@given(
    xyz=hs.lists(hs.tuples(coords, coords, coords), min_size=1, max_size=6),
    chain=hs.sampled_from(["A", "B", "z", "1"]),
    first_residue=hs.integers(-999, 9990),
    icode=hs.sampled_from(["", "A", "Z"]),
    suffix=hs.sampled_from([".pdb", ".cif"]),
)
def test_any_coordinates_survive_write_then_read(xyz, chain, first_residue, icode, suffix):
    n = len(xyz)
    st = Structure(
        name="p",
        coords_xyz=np.array(xyz, dtype=np.float64),
        elements=np.array(["C"] * n),
        atomic_numbers=np.array([6] * n),
        atom_names=np.array(["CA"] * n),
        residue_names=np.array(["GLY"] * n),
        chain_ids=np.array([chain] * n),
        residue_numbers=np.arange(first_residue, first_residue + n),
        insertion_codes=np.array([icode] * n),
    )
    with tempfile.TemporaryDirectory() as tmp:
        back = read_structure(write_structure(st, Path(tmp) / f"p{suffix}"))
    same_atoms(st, back)


@given(
    hs.lists(
        hs.text(alphabet=" \t\r-+.eE0123456789xn", max_size=8)
        | hs.from_regex(r"\s*[-+]?\d{1,4}\.\d{0,3}\s*", fullmatch=True),
        min_size=1,
        max_size=6,
    )
)
def test_a_column_of_coordinates_is_checked_as_each_field_is(fields):
    from difffit.io.structures import _NUMBER, _NUMBERS

    fields = [f for f in fields if "\n" not in f]
    each = all(_NUMBER.match(f) for f in fields)
    assert bool(_NUMBERS.fullmatch("".join(f + "\n" for f in fields))) == each
