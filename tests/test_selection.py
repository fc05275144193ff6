"""Residue selections for AlphaFold models (issue #14): ``FILE:CHAINS``, ``FILE:A:1-150,B`` and
``--min-plddt`` in fit, composite and screen alike; and the real case of a low-confidence tail."""

from __future__ import annotations

import csv
import json

import gemmi
import numpy as np
import pytest

from difffit.cli import main
from difffit.errors import ConfigError, StructureError
from difffit.io import read_structure, write_map, write_structure
from difffit.results import read_clusters_csv, read_manifest
from difffit.selection import (
    Selection,
    parse_selection_text,
    read_selected,
    select,
    selection_text,
    split_selection,
)
from tests.synthetic import planted_case, protein_like

FAST = ["--rotations", "30", "--positions", "4", "--oversample", "4", "--resolution", "5", "-q"]


def _with_plddt(path, low_from: int, *, low: float = 30.0, high: float = 90.0, chain_b=False):
    """Rewrite a PDB file with pLDDT-like B values: residues >= ``low_from`` get ``low``; with
    ``chain_b`` a copy of chain A is added as chain B (shifted 40 Å)."""
    st = gemmi.read_structure(str(path))
    for res in st[0][0]:
        for a in res:
            a.b_iso = low if res.seqid.num >= low_from else high
    if chain_b:
        ch = st[0][0].clone()
        ch.name = "B"
        for res in ch:
            for a in res:
                a.pos = gemmi.Position(a.pos.x + 40.0, a.pos.y, a.pos.z)
        st[0].add_chain(ch)
    st.setup_entities()
    st.write_pdb(str(path))
    return path


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """A 60-residue structure whose residues 31-60 are 'low confidence' (B 30) and a map of
    residues 1-30 only, at a planted pose."""
    d = tmp_path_factory.mktemp("sel")
    rng = np.random.default_rng(5)
    st = protein_like(60, rng, name="af")
    core = st.subset(st.residue_numbers <= 30)
    density, pose = planted_case(core, rng, resolution=5.0)
    mp = write_map(density, d / "core.mrc")
    sp = _with_plddt(write_structure(st, d / "af.pdb"), 31, chain_b=True)
    return d, mp, sp, pose


# ------------------------------------------------------------------ the text forms
@pytest.mark.parametrize(
    ("text", "chains"),
    [
        ("A", (("A", ()),)),
        ("A,B", (("A", ()), ("B", ()))),
        ("A:1-150", (("A", ((1, 150),)),)),
        ("A:1-150,B", (("A", ((1, 150),)), ("B", ()))),
        ("A:1-150,A:200-260", (("A", ((1, 150), (200, 260))),)),
        ("A:-5-40", (("A", ((-5, 40),)),)),
        ("A:42", (("A", ((42, 42),)),)),
        ("A:1-10,A", (("A", ()),)),  # the whole chain wins
    ],
)
def test_selection_parse(text, chains):
    sel = Selection.parse(text)
    assert sel.chains == chains
    assert Selection.parse(str(sel)) == sel


@pytest.mark.parametrize("text", ["", "A:", "A:x-3", "A:10-5", "A B", "A:1-2-3"])
def test_selection_parse_rejects(text):
    with pytest.raises(ConfigError):
        Selection.parse(text)


def test_split_selection(tmp_path):
    f = tmp_path / "m.pdb"
    f.write_text("")
    assert split_selection(str(f)) == (str(f), None)
    assert split_selection(f"{f}:A:1-150,B") == (str(f), Selection.parse("A:1-150,B"))
    assert split_selection(f"{f}:A,C") == (str(f), Selection.parse("A,C"))
    assert split_selection("missing.pdb:A:3-9") == ("missing.pdb", Selection.parse("A:3-9"))
    assert split_selection("pdb:5me2") == ("pdb:5me2", None)
    assert split_selection("uniprot:P69905,P68871") == ("uniprot:P69905,P68871", None)
    assert split_selection("pdb:5me2:A:1-150,B") == ("pdb:5me2", Selection.parse("A:1-150,B"))
    assert split_selection("afdb:Q99J21:A") == ("afdb:Q99J21", Selection.parse("A"))
    with pytest.raises(ConfigError):
        split_selection(f"{f}:A:9-1")


def test_selection_text_round_trip():
    sel = Selection.parse("A:1-150,B")
    assert selection_text(Selection.parse("A,B"), None) is None  # chains are recorded as chains
    for s, floor in [(sel, None), (sel, 70.0), (None, 50.5)]:
        assert parse_selection_text(selection_text(s, floor)) == (s, floor)


# ------------------------------------------------------------------ applied to a structure
def test_ranges_and_plddt_floor(case):
    _, _, sp, _ = case
    st = read_structure(sp)
    assert st.chains == ("A", "B") and st.n_residues == 120
    picked = select(st, Selection.parse("A:11-20,A:41-45,B")).structure
    assert picked.name == "af_A11-20+41-45_B"
    assert picked.n_residues == 10 + 5 + 60
    assert sorted(set(picked.residue_numbers[picked.chain_ids == "A"])) == [
        *range(11, 21), *range(41, 46)
    ]  # fmt: skip
    # the written model holds the selected residues only
    assert sum(len(ch) for ch in picked.model[0]) == 75
    assert picked.selection == "A:11-20,A:41-45,B"

    floored = select(st, None, min_plddt=70)
    assert (floored.n_dropped_plddt, floored.n_residues_before) == (60, 120)
    assert floored.structure.n_residues == 60
    assert set(floored.structure.residue_numbers) == set(range(1, 31))
    # the residues a pLDDT floor drops stay in the written model (moved with the rest)
    assert sum(len(ch) for ch in floored.structure.model[0]) == 120
    assert select(st, None, min_plddt=20).n_dropped_plddt == 0
    with pytest.raises(StructureError, match="below 95"):
        select(st, None, min_plddt=95)
    with pytest.raises(StructureError, match="no residue in 200-300"):
        select(st, Selection.parse("A:200-300"))
    with pytest.raises(StructureError, match="no chain C"):
        select(st, Selection.parse("C"))
    again = read_selected(sp, selection="A:11-20,A:41-45,B;plddt>=70.0", name="x")
    assert again.name == "x" and again.n_residues == 10 + 30  # A 11-20 and B 1-30 are confident


# ------------------------------------------------------------------ the commands
def test_fit_min_plddt_and_ranges(case, tmp_path, capsys):
    d, mp, sp, pose = case
    out = tmp_path / "plddt"
    assert main(["fit", str(mp), f"{sp}:A", "--min-plddt", "70", "--out", str(out),
                 "--seed", "2", "--models", "1", *FAST]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "30 of 60 residues have pLDDT (B column) below 70" in err
    man = read_manifest(out)
    (entry,) = man["structures"]
    assert entry["residues"] == 30 and entry["selection"] == ";plddt>=70.0"
    top = read_clusters_csv(out / "clusters.csv")[0]
    core = read_structure(sp, chains=["A"]).subset(
        read_structure(sp, chains=["A"]).residue_numbers <= 30
    )
    from difffit.geometry import RigidTransform

    fitted = RigidTransform.from_r_t_flat([top[f"r{i}{j}"] for i in (1, 2, 3) for j in (1, 2, 3)]
                                          + [top["t1"], top["t2"], top["t3"]])  # fmt: skip
    err_a = np.linalg.norm(fitted.apply(core.coords_xyz) - pose.apply(core.coords_xyz), axis=1)
    assert np.sqrt((err_a**2).mean()) < 1.0
    model = gemmi.read_structure(str(out / man["models"][0]["cif"]))
    assert sum(len(ch) for ch in model[0]) == 60  # chain A whole, tail moved with the rest

    out2 = tmp_path / "range"
    assert main(["fit", str(mp), f"{sp}:A:1-30", "--out", str(out2), "--seed", "2",
                 "--models", "1", *FAST]) == 0  # fmt: skip
    man2 = read_manifest(out2)
    assert man2["structures"][0]["name"] == "af_A1-30"
    assert man2["structures"][0]["selection"] == "A:1-30"
    model2 = gemmi.read_structure(str(out2 / man2["models"][0]["cif"]))
    assert [len(ch) for ch in model2[0]] == [30]


def test_bad_selection_is_a_one_line_error(case, tmp_path, capsys):
    d, mp, sp, _ = case
    for argv, msg in [
        ([f"{sp}:A:500-600"], "no residue in 500-600"),
        ([str(sp), "--min-plddt", "120"], "--min-plddt"),
        ([f"{sp}:A:9-1"], "ends before it starts"),
    ]:
        assert main(["fit", str(mp), *argv, "--out", str(tmp_path / "x"), *FAST]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and msg in err[0], err


def test_screen_library_selection(case, tmp_path):
    from difffit.screen.library import find_library

    d, _, sp, _ = case
    plain, _ = find_library([str(sp)])
    both, n_dup = find_library([str(sp), f"{sp}:A:1-30"])
    assert n_dup == 0 and [e.name for e in both] == ["af", "af_A1-30"]
    assert both[0].sha256 == plain[0].sha256 and both[1].sha256 != plain[0].sha256
    assert both[1].selection == "A:1-30" and both[1].read().n_residues == 30
    floored, _ = find_library([str(d)], min_plddt=70)
    assert floored[0].selection == ";plddt>=70.0" and floored[0].sha256 != plain[0].sha256
    assert floored[0].read().n_residues == 60  # 30 confident residues of each chain


def test_composite_records_the_selection(case, tmp_path, capsys):
    d, mp, sp, _ = case
    out = tmp_path / "comp"
    argv = ["composite", str(mp), f"{sp}:A:1-30", "--out", str(out), "--seed", "1",
            "--max-rounds", "1", *FAST]  # fmt: skip
    assert main(argv) == 0
    man = json.loads((out / "composite.json").read_text())
    (entry,) = man["structures"]
    assert entry["name"] == "af_A1-30" and entry["selection"] == "A:1-30"
    from difffit.composite.session import RunSession
    from difffit.io.folders import RunFolder

    (st,) = RunSession(RunFolder.open(out)).structures
    assert st.name == "af_A1-30" and st.n_residues == 30
    capsys.readouterr()
    # a resumed run with another selection is refused
    argv[2] = f"{sp}:A:1-20"
    assert main(argv) == 2
    assert "structures" in capsys.readouterr().err


# ------------------------------------------------------------------ the real case
@pytest.mark.realdata
def test_low_confidence_tail_real(tmp_path):
    """I7M317_D1 (a true hit of the DomainFit demo) with an 80-residue pLDDT < 50 tail grafted
    from a tardigrade AlphaFold model: the tail lowers the correct fit's cam; --min-plddt and a
    residue range give it back (docs/selection.md has the figures)."""
    from tests.conftest import data_path
    from tests.tails import grafted_tail

    demo = data_path("difffit_domainfit_demo")
    tailed = grafted_tail(tmp_path / "I7M317_D1_tail80.pdb")
    mp = demo / "density2.mrc"
    ref = gemmi.read_structure(str(demo / "reference_fit_I7M317_D1.pdb"))
    ref_ca = {r.seqid.num: np.array(r["CA"][0].pos.tolist()) for r in ref[0][0]}
    cams = {}
    for label, extra in [("tail", [str(tailed)]), ("floor", [str(tailed), "--min-plddt", "70"])]:
        out = tmp_path / label
        assert main(["fit", str(mp), *extra, "--resolution", "5", "--sort-by", "cam",
                     "--seed", "1", "-q", "--models", "1", "--out", str(out)]) == 0  # fmt: skip
        top = read_clusters_csv(out / "clusters.csv")[0]
        cams[label] = top["cam"]
        man = read_manifest(out)
        model = gemmi.read_structure(str(out / man["models"][0]["cif"]))
        ca = {r.seqid.num: np.array(r["CA"][0].pos.tolist()) for r in model[0][0]}
        assert len(ca) == 287  # the written model keeps the tail
        common = sorted(set(ca) & set(ref_ca))
        rmsd = np.sqrt(np.mean([np.sum((ca[k] - ref_ca[k]) ** 2) for k in common]))
        assert rmsd < 1.0, (label, rmsd)
    assert cams["tail"] < 0.52 < 0.6 < cams["floor"], cams


# ------------------------------------------------------------------ silent defaults (issue #14)
def test_fit_says_its_device_and_the_assumed_resolution(case, tmp_path, capsys):
    d, mp, sp, _ = case
    fast = [a for a in FAST if a not in ("--resolution", "5")]
    assert main(["fit", str(mp), str(sp), "--out", str(tmp_path / "a"), "--seed", "1",
                 "--models", "0", *fast]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "difffit: device cpu" in err
    assert "--resolution not given: 3 Å assumed (2 x the voxel size 1.5 Å)" in err
    assert main(["fit", str(mp), str(sp), "--out", str(tmp_path / "b"), "--seed", "1",
                 "--models", "0", *FAST]) == 0  # fmt: skip
    assert "--resolution not given" not in capsys.readouterr().err


def test_screen_cli_with_selections(case, tmp_path):
    """Screen items with selections: each is a candidate of its own name, fitted and written
    with its selection (the written model holds only the selected residues)."""
    d, mp, sp, _ = case
    out = tmp_path / "screen"
    assert main(["screen", str(mp), f"{sp}:A:1-30", f"{sp}:B", "--out", str(out), "--seed", "1",
                 "--models", "2", "--no-plot", *FAST]) == 0  # fmt: skip
    with (out / "candidates.csv").open() as fh:
        rows = {r["structure"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {"af_A1-30", "af_B"}
    assert rows["af_A1-30"]["residues"] == "30" and rows["af_B"]["residues"] == "60"
    assert rows["af_A1-30"]["rank"] == "1"  # the map is residues 1-30
    info = json.loads((out / "screen.json").read_text())
    model = gemmi.read_structure(str(out / info["models"][0]["cif"]))
    assert [len(ch) for ch in model[0]] == [30]
