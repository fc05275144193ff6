"""Domain splitting on synthetic structures: PAE blocks, pLDDT filter, specs, labels, errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from difffit.domains import (
    DomainConfig,
    DomainMethod,
    Segment,
    detect_alphafold,
    domain_labels,
    domain_structure,
    parse_domain_spec,
    residue_table,
    split_domains,
)
from difffit.errors import ConfigError, StructureError
from difffit.structure import Structure
from tests.synthetic import protein_like


def _join(parts: list[Structure], *, name: str = "two_blobs", b=None) -> Structure:
    """One chain A made of the parts, residues renumbered 1..n in order."""
    offset = 0
    nums = []
    for p in parts:
        nums.append(p.residue_numbers + offset)
        offset += int(p.residue_numbers.max())
    cat = {
        f: np.concatenate([getattr(p, f) for p in parts])
        for f in ("coords_xyz", "elements", "atomic_numbers", "atom_names", "residue_names",
                  "chain_ids", "insertion_codes")
    }  # fmt: skip
    n_res = offset
    b_atoms = None
    if b is not None:
        res = np.concatenate(nums)
        b_atoms = np.asarray(b, dtype=float)[res - 1]
    assert b is None or len(b) == n_res
    return Structure(name=name, residue_numbers=np.concatenate(nums), b_factors=b_atoms, **cat)


def _blobs(rng, sizes=(50, 50), gap=30.0, **kw) -> Structure:
    parts = []
    for k, n in enumerate(sizes):
        p = protein_like(n, rng)
        shift = np.array([gap * k, 0.0, 0.0]) - p.centre_xyz
        parts.append(dataclasses.replace(p, coords_xyz=p.coords_xyz + shift))
    return _join(parts, **kw)


def _block_pae(sizes, low=2.0, high=25.0, rng=None):
    m = sum(sizes)
    pae = np.full((m, m), high)
    start = 0
    for n in sizes:
        pae[start : start + n, start : start + n] = low
        start += n
    if rng is not None:
        pae += rng.uniform(0.0, 1.5, size=pae.shape)
    np.fill_diagonal(pae, 0.0)
    return pae


def test_pae_blocks_give_the_blocks(rng):
    st = _blobs(rng, sizes=(40, 30, 50))
    split = split_domains(st, pae=_block_pae((40, 30, 50), rng=rng))
    assert split.method is DomainMethod.PAE
    assert [d.ranges for d in split.domains] == ["A:1-40", "A:41-70", "A:71-120"]
    expected = np.repeat([0, 1, 2], [40, 30, 50])
    assert np.array_equal(split.residue_labels, expected)
    assert split.labels.dtype == np.int64 and len(split.labels) == len(st)
    assert np.array_equal(split.labels, expected[st.residue_numbers - 1])


def test_pae_small_community_gets_minus_one(rng):
    # a 10-residue tail confident about nothing: below the minimum size, in no domain
    st = _blobs(rng, sizes=(40, 40, 10))
    pae = _block_pae((40, 40, 10))
    pae[80:, :] = pae[:, 80:] = 28.0
    np.fill_diagonal(pae, 0.0)
    split = split_domains(st, pae=pae)
    assert split.n_domains == 2
    assert (split.residue_labels[80:] == -1).all() and (split.residue_labels[:80] >= 0).all()


def test_pae_size_must_match(rng):
    st = _blobs(rng)
    with pytest.raises(StructureError, match=r"PAE matrix is 90×90 but two_blobs has 100"):
        split_domains(st, pae=_block_pae((45, 45)))


def test_contacts_split_two_blobs_and_plddt_filter(rng):
    b = np.full(100, 92.0)
    b[45:55] = 40.0  # the linker is low confidence
    st = _blobs(rng, name="AF-P00000-F1-model_v4", b=b)
    af = detect_alphafold(st)
    assert af.is_alphafold and "AF-P00000-F1" in af.reason
    split = split_domains(st)
    assert split.method is DomainMethod.CONTACTS
    assert split.plddt_filtered == 10
    assert (split.residue_labels[45:55] == -1).all()
    assert split.n_domains == 2
    assert np.array_equal(split.residue_labels[:45], np.zeros(45))
    assert np.array_equal(split.residue_labels[55:], np.ones(45))
    assert split.domains[0].mean_plddt == pytest.approx(92.0)
    # --no-plddt keeps every residue
    kept = split_domains(st, config=DomainConfig(use_plddt=False))
    assert kept.plddt_filtered == 0 and kept.n_unassigned == 0


def test_detect_alphafold_needs_plddt_like_b(rng):
    st = _blobs(rng)
    assert not detect_alphafold(st).is_alphafold  # no B column at all
    varying = dataclasses.replace(
        st, name="AF-P00000-F1", b_factors=rng.uniform(10, 60, size=len(st))
    )
    info = detect_alphafold(varying)  # per-atom pLDDT (AlphaFold 3) with a name hint
    assert info.is_alphafold and "vary within residues" in info.reason
    crystal = dataclasses.replace(varying, name="1abc")
    info = detect_alphafold(crystal)
    assert not info.is_alphafold and "vary within residues" in info.reason
    colabfold = dataclasses.replace(st, name="x_unrelaxed_rank_001_alphafold2_ptm_model_1")
    colabfold = dataclasses.replace(colabfold, b_factors=np.repeat(rng.uniform(30, 95, 100), 5))
    assert detect_alphafold(colabfold).is_alphafold
    assert not detect_alphafold(dataclasses.replace(st, name="chain_A")).is_alphafold
    per_res = np.repeat(rng.uniform(60, 95, size=100), 5)  # 5 atoms per residue, no hint
    info = detect_alphafold(dataclasses.replace(st, b_factors=per_res))
    assert info.is_alphafold and "no name or title hint" in info.reason
    flat = dataclasses.replace(st, name="AF-P00000-F1", b_factors=np.full(len(st), 20.0))
    info = detect_alphafold(flat)
    assert not info.is_alphafold and "but all B values equal" in info.reason


def test_too_short_to_split(rng):
    st = protein_like(30, rng, name="short")
    with pytest.raises(StructureError, match="short: too short to split into domains"):
        split_domains(st)
    low = dataclasses.replace(st, name="AF-Q1-F1", b_factors=np.full(len(st), 30.0))
    low = dataclasses.replace(low, b_factors=low.b_factors + np.repeat(np.arange(30), 5) * 0.1)
    with pytest.raises(StructureError, match="0 residues with pLDDT >= 70"):
        split_domains(low, config=DomainConfig(min_domain_residues=5))


def test_manual_domains_and_labels(rng):
    st = _blobs(rng)
    split = split_domains(st, domains="A:1-20+A:51-60,A:21-50")
    assert split.method is DomainMethod.MANUAL
    assert [d.ranges for d in split.domains] == ["A:1-20+A:51-60", "A:21-50"]
    lab = domain_labels(st, "A:1-20+A:51-60,A:21-50")
    assert np.array_equal(lab, split.labels)
    per_res = lab[::5]
    assert (per_res[:20] == 0).all() and (per_res[20:50] == 1).all()
    assert (per_res[50:60] == 0).all() and (per_res[60:] == -1).all()
    assert np.array_equal(domain_labels(st, [[Segment("A", 61, 100)]])[::5][60:], np.zeros(40))
    # the chain may be left out for a one-chain structure
    assert np.array_equal(domain_labels(st, "1-20+51-60,21-50"), lab)
    part = domain_structure(st, split, 1)
    assert len(part) == 30 * 5 and part.name == "two_blobs_domain1"
    rest = domain_structure(st, split, -1)
    assert rest.n_residues == 40


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("A:1-150", r"'A:1-150' is outside chain A of two_blobs \(residues 1-100\)"),
        ("B:1-10", "no chain 'B'"),
        ("A:10-5", "ends before it starts"),
        ("A:1-10,A:5-20", r"residue A:5 is in two domains \(0 and 1"),
        ("A:one-two", "cannot read 'A:one-two'"),
        ("  ", "empty"),
    ],
)
def test_bad_specs(rng, spec, match):
    st = _blobs(rng)
    with pytest.raises(ConfigError, match=match):
        split_domains(st, domains=spec)


def test_spec_needs_chain_with_two_chains(rng):
    st = _blobs(rng)
    two = dataclasses.replace(st, chain_ids=np.where(st.residue_numbers > 50, "B", "A"))
    with pytest.raises(ConfigError, match="needs a chain"):
        parse_domain_spec("1-20", two)
    assert parse_domain_spec("A:1-20+B:51-60", two) == [[Segment("A", 1, 20), Segment("B", 51, 60)]]


def test_options_checked_and_exclusive(rng):
    with pytest.raises(ConfigError, match="pae_cutoff"):
        DomainConfig(pae_cutoff=0)
    with pytest.raises(ConfigError, match="plddt_cutoff"):
        DomainConfig(plddt_cutoff=170)
    st = _blobs(rng)
    with pytest.raises(ConfigError, match="not both"):
        split_domains(st, pae=_block_pae((50, 50)), domains="A:1-50")
    with pytest.raises(ConfigError, match="no B column"):
        split_domains(st, config=DomainConfig(use_plddt=True))


def test_ligand_follows_nearest_domain(rng):
    st = _blobs(rng)
    table = residue_table(st)
    near = table.trace_xyz[70] + np.array([0.0, 0.0, 3.0])
    far = st.centre_xyz + np.array([0.0, 80.0, 0.0])
    lig = Structure(
        name="lig", coords_xyz=np.array([near, far]), elements=np.array(["ZN", "FE"]),
        atomic_numbers=np.array([30, 26]), atom_names=np.array(["ZN", "FE"]),
        residue_names=np.array(["ZN", "FE"]), chain_ids=np.array(["A", "A"]),
        residue_numbers=np.array([201, 202]), insertion_codes=np.array(["", ""]),
    )  # fmt: skip
    both = _join([st, lig], name="with_ions")
    split = split_domains(both, pae=_block_pae((50, 50)))
    assert list(split.residue_labels[-2:]) == [1, -1]


def test_write_domains_tables_and_files(rng, tmp_path):
    from difffit.io import read_structure
    from difffit.io.domains import write_domains

    st = _blobs(rng)
    split = split_domains(st, domains="A:21-50,A:1-20+A:51-60")
    files = write_domains(st, split, tmp_path / "out", fmt="pdb")
    assert [f.name for f in files] == [
        "two_blobs_domain0.pdb", "two_blobs_domain1.pdb", "two_blobs_unassigned.pdb"
    ]  # fmt: skip
    rows = (tmp_path / "out" / "domains.csv").read_text().splitlines()
    assert rows == [
        "domain,chains,ranges,residues,mean_plddt,file",
        "0,A,A:21-50,30,,two_blobs_domain0.pdb",
        "1,A,A:1-20+A:51-60,30,,two_blobs_domain1.pdb",
        "-1,A,A:61-100,40,,two_blobs_unassigned.pdb",
    ]
    assert [read_structure(f).n_residues for f in files] == [30, 30, 40]
    res = (tmp_path / "out" / "residues.csv").read_text().splitlines()
    assert res[0] == "chain,residue,icode,name,domain,plddt" and res[21].startswith("A,21,,")
    assert res[21].split(",")[4] == "0" and len(res) == 101
    with pytest.raises(ConfigError, match="not a folder"):
        write_domains(st, split, files[0])


AF_CIF = """\
data_AF-P12345-F1-model_v4
_struct.title 'Computed model'
loop_
_software.pdbx_ordinal
_software.name
1 AlphaFold
loop_
_atom_site.group_PDB
_atom_site.id
_atom_site.type_symbol
_atom_site.label_atom_id
_atom_site.label_alt_id
_atom_site.label_comp_id
_atom_site.label_asym_id
_atom_site.label_entity_id
_atom_site.label_seq_id
_atom_site.pdbx_PDB_ins_code
_atom_site.Cartn_x
_atom_site.Cartn_y
_atom_site.Cartn_z
_atom_site.occupancy
_atom_site.B_iso_or_equiv
_atom_site.auth_seq_id
_atom_site.auth_asym_id
_atom_site.pdbx_PDB_model_num
ATOM 1 N N . MET A 1 1 ? 1.0 2.0 3.0 1.00 45.5 1 A 1
ATOM 2 C CA . MET A 1 1 ? 2.0 2.0 3.0 1.00 45.5 1 A 1
ATOM 3 N N . GLY A 1 2 ? 4.0 2.0 3.0 1.00 88.1 2 A 1
ATOM 4 C CA . GLY A 1 2 ? 5.0 2.0 3.0 1.00 88.1 2 A 1
"""


def test_detect_alphafold_from_mmcif_software_record(tmp_path):
    from difffit.io import read_structure

    path = tmp_path / "model.cif"  # neither the file name nor the title says AlphaFold
    path.write_text(AF_CIF)
    info = detect_alphafold(read_structure(path))
    assert info.is_alphafold and info.reason.startswith("file name AF-P12345-F1")
    path.write_text(AF_CIF.replace("data_AF-P12345-F1-model_v4", "data_model"))
    info = detect_alphafold(read_structure(path))
    assert info.is_alphafold and info.reason.startswith("software: AlphaFold")


def test_ranges_split_at_numbering_gaps(rng):
    st = _blobs(rng)
    gap = dataclasses.replace(
        st,
        residue_numbers=np.where(
            st.residue_numbers > 50, st.residue_numbers + 10, st.residue_numbers
        ),
    )
    split = split_domains(gap, domains="A:1-110")
    assert split.domains[0].ranges == "A:1-50+A:61-110" and split.domains[0].n_residues == 100
