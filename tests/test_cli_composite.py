"""The simulate, zero and composite subcommands, end to end on files."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from difffit import read_map, read_structure, simulate_on_grid, write_map
from difffit.cli import main
from difffit.io.structures import model_from_arrays, write_structure
from difffit.results import TRANSFORM_COLUMNS
from tests.test_composite import synthetic_complex

QUICK = ["--rotations", "20", "--positions", "6", "--oversample", "2", "--screen-steps", "20",
         "--steps", "100", "--resolution", "6", "--refine", "4", "--refine-steps", "60",
         "--threads", "2", "-q"]  # fmt: skip


@pytest.mark.parametrize("command", ["simulate", "zero", "composite"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert "usage: difffit " + command in capsys.readouterr().out


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The synthetic complex as files: map.mrc, p.pdb, q.pdb (input frame), and the truth."""
    d = tmp_path_factory.mktemp("complex")
    m, p, q, truth = synthetic_complex()
    write_map(m, d / "map.mrc")
    for st in (p, q):
        write_structure(model_from_arrays(st), d / f"{st.name}.pdb")
    return d, truth


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# ---------------------------------------------------------------------------- simulate
def test_simulate_on_a_grid_and_new_grid(files, tmp_path, capsys):
    d, _ = files
    out = tmp_path / "sim.mrc"
    assert main(["simulate", str(d / "p.pdb"), "--resolution", "6", "--like", str(d / "map.mrc"),
                 "--out", str(out)]) == 0  # fmt: skip
    like = read_map(d / "map.mrc")
    sim = read_map(out)
    assert sim.same_grid(like)
    st = read_structure(d / "p.pdb")
    expect = simulate_on_grid(st.coords_xyz, st.atomic_numbers, 6.0, like)
    np.testing.assert_allclose(sim.data, expect.data, atol=1e-6)
    out2 = tmp_path / "sim2.mrc.gz"
    assert main(["simulate", str(d / "q.pdb"), "--resolution", "4", "--voxel-size", "1.2",
                 "--noise", "0.05", "--out", str(out2)]) == 0  # fmt: skip
    s2 = read_map(out2)
    assert np.allclose(s2.voxel_size_xyz, 1.2) and 0.9 < s2.data.max() < 1.4
    assert s2.data.std() > 0.04  # the noise is there
    # refuses to overwrite; bad noise
    assert main(["simulate", str(d / "q.pdb"), "--resolution", "4", "--out", str(out2)]) == 2
    assert main(["simulate", str(d / "q.pdb"), "--resolution", "4", "--noise", "-1",
                 "--out", str(tmp_path / "x.mrc")]) == 2  # fmt: skip
    assert "exists" in capsys.readouterr().err


# ---------------------------------------------------------------------------- zero
def test_zero_a_placed_structure_never_overwrites_and_undoes(files, tmp_path, capsys):
    d, truth = files
    st = read_structure(d / "p.pdb")
    placed = tmp_path / "p_placed.cif"
    write_structure(st, placed, transform=truth["p"][0])
    out, removed = tmp_path / "zeroed.mrc", tmp_path / "removed.mrc"
    assert main(["zero", str(d / "map.mrc"), "--structure", str(placed), "--resolution", "6",
                 "--out", str(out), "--removed", str(removed)]) == 0  # fmt: skip
    assert "voxels zeroed (dominant" in capsys.readouterr().out
    m, z, r = read_map(d / "map.mrc"), read_map(out), read_map(removed)
    np.testing.assert_allclose(z.data + r.data, m.data, atol=1e-6)  # the undo
    xyz = truth["p"][0].apply(st.coords_xyz)
    other = truth["p"][1].apply(st.coords_xyz)
    assert z.sample(xyz).mean() < 0.2 * m.sample(xyz).mean()
    assert z.sample(other).mean() == pytest.approx(m.sample(other).mean(), rel=1e-3)
    # the input map is never the output; nothing to zero; existing output
    assert (
        main(["zero", str(d / "map.mrc"), "--structure", str(placed), "--out", str(d / "map.mrc")])
        == 2
    )
    assert "never overwrites" in capsys.readouterr().err
    assert main(["zero", str(d / "map.mrc"), "--out", str(tmp_path / "a.mrc")]) == 2
    assert main(["zero", str(d / "map.mrc"), "--structure", str(placed), "--out", str(out)]) == 2
    assert (
        main(["zero", str(d / "map.mrc"), "--fit", "nofolder", "--out", str(tmp_path / "b.mrc")])
        == 2
    )


# ---------------------------------------------------------------------------- composite
def test_composite_automatic_resume_and_zero_from_results(files, tmp_path, capsys):
    d, truth = files
    out = tmp_path / "run"
    cmd = ["composite", str(d / "map.mrc"), str(d / "p.pdb"), str(d / "q.pdb"), "--out", str(out),
           "--seed", "3", *QUICK]  # fmt: skip
    # round 1 only, then stop (--max-rounds 1)
    assert main([*cmd, "--max-rounds", "1"]) == 0
    man = json.loads((out / "composite.json").read_text())
    assert man["rounds_done"] == 1 and man["stop_reason"].startswith("max_rounds")
    r1 = out / "round_001"
    for f in (
        "working_map.mrc",
        "placements.csv",
        "assembly.cif",
        "candidates.csv",
        "fit/clusters.csv",
    ):
        assert (r1 / f).exists(), f
    stamp = (r1 / "working_map.mrc").stat().st_mtime_ns
    n1 = len(_rows(out / "placements.csv"))
    assert n1 == 3
    # an interrupted round 2 left a partial folder behind: the resumed run replaces it
    (out / "round_002").mkdir()
    (out / "round_002" / "working_map.mrc").write_text("partial")
    capsys.readouterr()
    assert main(cmd) == 0
    text = capsys.readouterr()
    assert "resuming" in text.err and "after round 1" in text.err
    assert "stopped: nothing convincing left" in text.out
    man = json.loads((out / "composite.json").read_text())
    assert man["finished"] and man["rounds_done"] >= 2 and man["placed"] == {"p": 2, "q": 1}
    assert (r1 / "working_map.mrc").stat().st_mtime_ns == stamp  # round 1 not redone
    read_map(out / "round_002" / "working_map.mrc")  # replaced by a real map
    rows = _rows(out / "placements.csv")
    assert [r["structure"] for r in rows] == [r["structure"] for r in _rows(r1 / "placements.csv")]
    assert len({r["chains"] for r in rows}) == 3
    for col in ("r11", "r33", "t1", "t3", "round", "cam", "clash_atoms"):
        assert col in rows[0]
    # the final placements are the planted copies
    for r in rows:
        st = read_structure(d / f"{r['structure']}.pdb")
        t = np.array([float(r[c]) for c in TRANSFORM_COLUMNS])
        x = st.coords_xyz @ t[:9].reshape(3, 3).T + t[9:]
        err = min(
            np.sqrt(((x - tr.apply(st.coords_xyz)) ** 2).sum(1).mean())
            for tr in truth[r["structure"]]
        )
        assert err < 1.0, r
    # running it again: nothing to do
    assert main(cmd) == 0
    assert "the run is finished" in capsys.readouterr().out
    # the same folder with other inputs: a clear error, no traceback
    assert main([*cmd, "--copies", "p=1"]) == 2
    assert "other copies" in capsys.readouterr().err
    # a cluster of a round's fit, zeroed by reference to its results folder
    zeroed = tmp_path / "z.mrc"
    assert main(["zero", str(d / "map.mrc"), "--fit", f"{r1 / 'fit'}#1", "--out", str(zeroed)]) == 0
    assert read_map(zeroed).data.sum() < read_map(d / "map.mrc").data.sum()


def test_composite_manual_rounds(files, tmp_path, capsys):
    d, _ = files
    out = tmp_path / "manual"
    cmd = ["composite", str(d / "map.mrc"), f"{d / 'p.pdb'}", f"{d / 'q.pdb'}", "--out", str(out),
           "--seed", "3", "--copies", "p=2", "q=1", *QUICK]  # fmt: skip
    assert main([*cmd, "--accept", "1"]) == 2  # nothing waiting yet
    assert main([*cmd, "--manual"]) == 0
    printed = capsys.readouterr().out
    assert "round 1 is waiting" in printed and "accept" in printed
    man = json.loads((out / "composite.json").read_text())
    assert man["pending_round"] == 1 and man["rounds_done"] == 0
    cands = _rows(out / "round_001" / "candidates.csv")
    suggested = [int(c["rank"]) for c in cands if c["decision"] == "accept"]
    assert len(suggested) == 3
    assert not (out / "round_001" / "working_map.mrc").exists()  # nothing zeroed yet
    # the user takes the first two suggestions only
    assert main([*cmd, "--accept", ",".join(map(str, suggested[:2]))]) == 0
    man = json.loads((out / "composite.json").read_text())
    assert man["rounds_done"] == 1 and man["pending_round"] is None
    assert len(_rows(out / "placements.csv")) == 2
    assert main([*cmd, "--accept", "99"]) == 2  # no round waiting any more
    # round 2: the remaining copy is suggested; the user declines everything
    assert main([*cmd, "--manual"]) == 0
    cands = _rows(out / "round_002" / "candidates.csv")
    assert [c["decision"] for c in cands].count("accept") == 1
    assert main([*cmd, "--accept", "none"]) == 0
    man = json.loads((out / "composite.json").read_text())
    assert man["rounds_done"] == 2 and len(_rows(out / "placements.csv")) == 2
    assert main([*cmd, "--accept", "x"]) == 2


def test_composite_structure_arguments(files, tmp_path, capsys):
    d, _ = files
    base = ["composite", str(d / "map.mrc"), "--out", str(tmp_path / "o"), *QUICK]
    assert main([*base[:2], f"{d / 'p.pdb'}:Z", *base[2:]]) == 2
    assert "no chain Z" in capsys.readouterr().err
    assert main([*base[:2], str(d / "p.pdb"), str(d / "q.pdb"), *base[2:], "--copies", "3"]) == 2
    assert "NAME=N" in capsys.readouterr().err
    assert main([*base[:2], str(d / "p.pdb"), *base[2:], "--copies", "r=1"]) == 2
    assert main([*base[:2], str(d / "p.pdb"), str(d / "p.pdb"), *base[2:]]) == 2
