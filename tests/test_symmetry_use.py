"""``--symmetry`` in composite and fit: known answers on synthetic Cn/Dn assemblies, the errors,
and the round trips of what is written (composite.json, assembly.cif, manifest.json, .cxc)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from difffit import DensityMap, FitConfig, QualityConfig, RefineConfig, SearchConfig
from difffit.cli import main
from difffit.composite import CompositeConfig, composite
from difffit.config import SymmetryConfig
from difffit.density.simulate import simulate_on_grid
from difffit.errors import ConfigError
from difffit.geometry import RigidTransform, quat_to_matrix, random_quaternions, rmsd
from difffit.io.assembly import read_symmetry_assemblies, set_symmetry_assembly
from difffit.io.maps import write_map
from difffit.io.structures import write_structure
from difffit.symmetry import frame_from_axes, group_operators, parse_group, symmetry_mates
from difffit.symmetry.apply import (
    MapSymmetry,
    check_copies_for_symmetry,
    mate_clash_fractions,
)
from tests.synthetic import protein_like

QUICK = FitConfig(
    search=SearchConfig(n_rotations=20, n_positions=6, oversample=2, screen_steps=20, n_steps=80),
    quality=QualityConfig(resolution=6.0),
    refine=RefineConfig(n_clusters=3, n_steps=60),
)


def assembly_case(group: str, seed: int, *, noise: float = 0.03):
    """A monomer at a seeded random pose, its ``group`` mates about a random frame and centre,
    a 6 Å map (2 Å voxels) with noise. Returns (map, monomer, true placements, operators)."""
    rng = np.random.default_rng(seed)
    mono = protein_like(40, rng, name="mono")
    g = parse_group(group)
    frame = quat_to_matrix(random_quaternions(1, rng)[0])
    centre = rng.uniform(-10, 10, size=3)
    d = np.array([0.8, 0.25, 0.35 if g.kind == "D" else 0.0])
    d /= np.linalg.norm(d)
    pos = centre + frame @ (d * mono.radius * (1.5 if g.order <= 4 else 2.0))
    rot = quat_to_matrix(random_quaternions(1, rng)[0])
    place = RigidTransform(rot, pos - rot @ mono.centre_xyz)
    ops = group_operators(g, centre_xyz=centre, frame=frame)
    truth = symmetry_mates(place, ops)
    xyz = np.concatenate([t.apply(mono.coords_xyz) for t in truth])
    w = np.tile(mono.atomic_numbers.astype(np.float64), len(truth))
    lo = xyz.min(axis=0) - 15.0
    shape = np.ceil((xyz.max(axis=0) + 15.0 - lo) / 2.0).astype(int) + 1
    grid = DensityMap(np.zeros(shape[::-1], dtype=np.float32), 2.0, lo)
    sim = simulate_on_grid(xyz, w, 6.0, grid)
    sim = sim.with_data(sim.data / sim.data.max())
    data = sim.data + rng.normal(scale=noise, size=sim.shape_zyx).astype(np.float32)
    return sim.with_data(data), mono, truth, ops


@pytest.mark.parametrize("group, seed", [("C3", 3), ("D2", 5)])
def test_composite_symmetry_finds_every_copy_in_one_round(group, seed):
    density, mono, truth, _ = assembly_case(group, seed)
    cfg = CompositeConfig(fit=QUICK.replace(symmetry=SymmetryConfig(group="auto")))
    res = composite(density, [mono], config=cfg, seed=1)
    assert res.state.symmetry is not None and res.state.symmetry.group.name == group
    assert len(res.placements) == parse_group(group).order
    assert len(res.rounds) == 1 and res.rounds[0].index == 1
    placed = [p.transform.apply(mono.coords_xyz) for p in res.placements]
    for t in truth:  # every planted copy is found, one-to-one
        want = t.apply(mono.coords_xyz)
        errs = [rmsd(x, want) for x in placed]
        assert min(errs) < 1.0, (group, errs)
    mates = [c for c in res.rounds[0].candidates if c.mate_of]
    assert len(mates) == parse_group(group).order - 1
    assert {c.operator for c in mates} == set(range(1, parse_group(group).order))


def test_cli_composite_symmetry_writes_operators_assemblies_and_sym_line(tmp_path, capsys):
    density, mono, truth, ops = assembly_case("C3", 3)
    mp, sp = tmp_path / "c3.mrc", tmp_path / "mono.pdb"
    write_map(density, mp)
    write_structure(mono, sp)
    out = tmp_path / "run"
    rc = main(["composite", str(mp), str(sp), "--symmetry", "C3", "--resolution", "6",
               "--rotations", "20", "--positions", "6", "--oversample", "2", "--screen-steps",
               "20", "--steps", "80", "--refine", "3", "--refine-steps", "60", "--seed", "1",
               "-q", "--out", str(out)])  # fmt: skip
    assert rc == 0
    man = json.loads((out / "composite.json").read_text())
    sym = MapSymmetry.from_dict(man["symmetry"])
    assert sym.group.name == "C3" and man["copies"] == {"mono": 3} and man["rounds_done"] == 1
    assert len(man["rounds"][0]["symmetry_mates"]) == 2
    # the operators written are the map's: each true copy is an image of the first under them
    for a, b in zip(sym.operators, MapSymmetry.from_dict(sym.to_dict()).operators, strict=True):
        np.testing.assert_allclose(a.to_matrix_3x4(), b.to_matrix_3x4(), atol=1e-12)
    asm = {a.name: a for a in read_symmetry_assemblies(out / "assembly.cif")}
    assert set(asm) == {"1", "2"}
    assert len(asm["1"].operators) == 1 and len(asm["1"].chains) == 3
    assert len(asm["2"].operators) == 3 and len(asm["2"].chains) == 1
    for a, b in zip(asm["2"].operators, sym.operators, strict=True):
        np.testing.assert_allclose(a.to_matrix_3x4(), b.to_matrix_3x4(), atol=1e-4)
    cxc = (out / "open_in_chimerax.cxc").read_text().splitlines()
    i = cxc.index('open "assembly.cif"')
    n = cxc[i + 1].split("model #")[1].rstrip(")")  # the assembly's model number
    assert f"sym #{n} assembly 2" in cxc[i:]


def test_cli_fit_symmetry_one_row_per_solution_with_copies(tmp_path, capsys):
    density, mono, truth, ops = assembly_case("C3", 3)
    mp, sp = tmp_path / "c3.mrc", tmp_path / "mono.pdb"
    write_map(density, mp)
    write_structure(mono, sp)
    common = [str(mp), str(sp), "--resolution", "6", "--rotations", "30", "--positions", "6",
              "--oversample", "2", "--screen-steps", "20", "--steps", "80", "--refine", "6",
              "--refine-steps", "60", "--seed", "2", "-q", "--models", "2"]  # fmt: skip
    assert main(["fit", *common, "--out", str(tmp_path / "plain")]) == 0
    assert main(["fit", *common, "--symmetry", "auto", "--out", str(tmp_path / "sym")]) == 0
    from difffit.io.results import load_results

    plain, sym = load_results(tmp_path / "plain"), load_results(tmp_path / "sym")
    # without symmetry: several near-identical rows (the copies); with it: one, copies = 3
    good = [c for c in plain.clusters if c.cam >= 0.9 * plain.clusters[0].cam]
    assert len(good) >= 2
    top = sym.clusters[0]
    assert top.copies == 3 and top.mate_clash <= 0.05
    assert sum(c.cam >= 0.9 * top.cam for c in sym.clusters) == 1
    assert min(rmsd(top.transform.apply(mono.coords_xyz), t.apply(mono.coords_xyz))
               for t in truth) < 1.0  # fmt: skip
    # no symmetry: the new columns are neutral and the old ones unchanged by the option's code
    assert all(c.copies == 1 for c in plain.clusters)
    man = json.loads((tmp_path / "sym" / "manifest.json").read_text())
    assert man["symmetry"]["group"] == "C3" and len(man["symmetry"]["operators"]) == 3
    assert "symmetry" not in json.loads((tmp_path / "plain" / "manifest.json").read_text())
    model = tmp_path / "sym" / "models" / f"rank_001_{mono.name}.cif"
    (a,) = read_symmetry_assemblies(model)
    assert len(a.operators) == 3
    assert "sym #2 assembly 1" in (tmp_path / "sym" / "open_in_chimerax.cxc").read_text()


def test_pose_on_the_axis_overlaps_its_mates():
    rng = np.random.default_rng(0)
    mono = protein_like(30, rng)
    ops = group_operators("C4", centre_xyz=(0.0, 0.0, 0.0))
    on_axis = RigidTransform(np.eye(3), -mono.centre_xyz)  # centred on the axis
    off = RigidTransform(np.eye(3), np.array([3 * mono.radius, 0.0, 0.0]) - mono.centre_xyz)
    f = mate_clash_fractions(mono.coords_xyz, [on_axis, off], ops)
    assert f[0] > 0.3 and f[1] == 0.0


def test_symmetry_errors_are_one_line(tmp_path, capsys):
    density, mono, _, _ = assembly_case("C3", 3)
    mp, sp = tmp_path / "c3.mrc", tmp_path / "mono.pdb"
    write_map(density, mp)
    write_structure(mono, sp)
    for argv, words in (
        (["--symmetry", "Q7"], "unknown point group 'Q7'"),
        (["--symmetry", "C3", "--copies", "4"], "contradicts --symmetry C3"),
        (["--symmetry", "C5"], "self-correlates"),
    ):
        rc = main(["composite", str(mp), str(sp), "--out", str(tmp_path / "x"), "-q", *argv])
        err = [
            ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("difffit: error")
        ]  # no trace
        assert rc == 2 and len(err) == 1 and words in err[0], (argv, err)
    rc = main(["fit", str(mp), str(sp), "--out", str(tmp_path / "y"), "-q", "--symmetry", "D5"])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("difffit: error")]
    assert rc == 2 and len(err) == 1 and "does not have D5" in err[0]


def test_copies_follow_the_group_and_must_be_whole_orbits():
    assert check_copies_for_symmetry({"a": None, "b": 8}, "C4") == {"a": 4, "b": 8}
    with pytest.raises(ConfigError, match="multiple of 14"):
        check_copies_for_symmetry({"a": 7}, "D7")


def test_symmetry_assembly_round_trip(tmp_path):
    import gemmi

    rng = np.random.default_rng(1)
    mono = protein_like(12, rng)
    frame = frame_from_axes("D3", (0.3, 0.2, 0.9), (1.0, 0.0, 0.0))
    ops = group_operators("D3", centre_xyz=(1.0, 2.0, 3.0), frame=frame)
    p = write_structure(mono, tmp_path / "m.cif", symmetry=ops)
    (a,) = read_symmetry_assemblies(p)
    assert a.name == "1" and len(a.operators) == 6
    for x, y in zip(a.operators, ops, strict=True):
        np.testing.assert_allclose(x.to_matrix_3x4(), y.to_matrix_3x4(), atol=1e-4)
    st = gemmi.read_structure(str(p))
    set_symmetry_assembly(st, ops[:2], placed_as_is=True)
    assert [x.name for x in st.assemblies] == ["1", "2"]


def test_manual_round_accepts_mates_by_rank_and_resume_keeps_the_symmetry(tmp_path, capsys):
    density, mono, truth, _ = assembly_case("C3", 3)
    mp, sp = tmp_path / "c3.mrc", tmp_path / "mono.pdb"
    write_map(density, mp)
    write_structure(mono, sp)
    out = tmp_path / "run"
    base = ["composite", str(mp), str(sp), "--symmetry", "auto", "--resolution", "6",
            "--rotations", "20", "--positions", "6", "--oversample", "2", "--screen-steps", "20",
            "--steps", "80", "--refine", "3", "--refine-steps", "60", "--seed", "1", "-q",
            "--out", str(out)]  # fmt: skip
    assert main([*base, "--manual"]) == 0
    cands = (out / "round_001" / "candidates.csv").read_text().splitlines()
    head = cands[0].split(",")
    rows = [dict(zip(head, r.split(","), strict=False)) for r in cands[1:]]
    mates = [r for r in rows if r["mate_of"] != "0"]
    assert len(mates) == 2 and all(r["decision"] == "accept" for r in mates)
    lead = mates[0]["mate_of"]
    ranks = ",".join([lead] + [r["rank"] for r in mates])
    assert main([*base, "--accept", ranks]) == 0
    man = json.loads((out / "composite.json").read_text())
    assert man["placed"] == {"mono": 3} and man["symmetry"]["group"] == "C3"
    assert sorted(r[0] for r in man["rounds"][0]["symmetry_mates"]) == sorted(
        int(r["rank"]) for r in mates
    )
    capsys.readouterr()
    assert main(base) == 0  # resumed: the same run (copies from the group); nothing left to do
    assert "stoichiometry met (mono 3)" in capsys.readouterr().out


def test_symmetric_clusters_rank_axis_poses_last_and_merge_mates():
    from difffit.results import ClusterHit
    from difffit.symmetry.apply import symmetric_clusters

    rng = np.random.default_rng(4)
    mono = protein_like(30, rng, name="m")
    ops = group_operators("C4", centre_xyz=(0.0, 0.0, 0.0))
    c0 = mono.centre_xyz
    on_axis = RigidTransform(np.eye(3), -c0)
    off = RigidTransform(np.eye(3), np.array([3 * mono.radius, 0.0, 0.0]) - c0)

    def hit(rank, tr, cam):
        return ClusterHit(rank=rank, structure="m", structure_index=0, hits=5, density=1.0,
                          overlap=1.0, correlation=cam, cam=cam, inside=1.0, transform=tr,
                          refined=True, fit_id=rank)  # fmt: skip

    hits = [hit(1, on_axis, 0.9)] + [hit(k + 2, ops[k].compose(off), 0.8 - 0.01 * k)
                                     for k in range(4)]  # fmt: skip
    sc = symmetric_clusters(hits, {"m": mono.coords_xyz}, MapSymmetry(
        parse_group("C4"), np.eye(3), np.zeros(3), 1.0, "given"),
        shift_tolerance=3.0, angle_tolerance_deg=6.0)  # fmt: skip
    assert [c.copies for c in sc.clusters] == [4, 1]
    assert sc.clusters[0].fit_id == 2 and sc.clusters[1].fit_id == 1  # the axis pose last
    assert sc.clusters[1].mate_clash > 0.3 and sc.clusters[0].mate_clash == 0.0
    assert sc.new_rank == {1: 2, 2: 1, 3: 1, 4: 1, 5: 1}


def test_viewer_serves_the_mates_of_a_symmetric_run(tmp_path, capsys):
    import gemmi

    from difffit.viewer import Workspace

    density, mono, truth, _ = assembly_case("C3", 3)
    mp, sp = tmp_path / "c3.mrc", tmp_path / "mono.pdb"
    write_map(density, mp)
    write_structure(mono, sp)
    out = tmp_path / "run"
    assert main(["composite", str(mp), str(sp), "--symmetry", "auto", "--resolution", "6",
                 "--rotations", "20", "--positions", "6", "--oversample", "2", "--screen-steps",
                 "20", "--steps", "80", "--refine", "3", "--refine-steps", "60", "--seed", "1",
                 "-q", "--out", str(out)]) == 0  # fmt: skip
    ws = Workspace(out)
    rounds = ws.session()["rounds"]
    sym_round = next(r for r in rounds if r["id"] == 1)
    assert sym_round["symmetry"] == "C3"
    text, name = ws.mates_cif(1, 1)
    assert name.endswith("_mates.cif")
    st = gemmi.read_structure_string(text) if hasattr(gemmi, "read_structure_string") else None
    if st is None:
        doc = gemmi.cif.read_string(text)
        st = gemmi.make_structure_from_block(doc.sole_block())
    assert len(st[0]) == 2  # the two mates, one chain each
    got = np.array([a.pos.tolist() for ch in st[0] for r in ch for a in r])
    hit = ws.round(1).hit(1)
    want = np.concatenate([g.compose(hit.transform).apply(mono.coords_xyz)
                           for g in ws._symmetry_operators(ws.round(1))[1:]])  # fmt: skip
    np.testing.assert_allclose(got, want, atol=1e-3)
    from difffit.viewer import ViewerServer
    from tests.viewer.test_viewer_server import Client

    server = ViewerServer(ws).start()
    try:
        c = Client(server)
        status, _, payload = c.request("GET", "/api/model", query={"round": 1, "rank": 1,
                                                                   "mates": 1})  # fmt: skip
        assert status == 200 and payload.decode() == text
        assert c.request("GET", "/api/model", query={"round": 0, "rank": 1, "mates": 1})[0] == 400
    finally:
        server.shutdown()
    cols = ws.clusters(1)["columns"]  # a composite round's fit has no symmetry of its own
    assert "copies" not in cols and "mate_clash" not in cols
