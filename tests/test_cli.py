"""The command line: --help of every subcommand, end-to-end runs, one-line errors."""

import subprocess
import sys

import numpy as np
import pytest

from difffit.cli import build_parser, main
from difffit.io import read_structure, write_map, write_structure
from difffit.results import read_clusters_csv, read_manifest
from tests.synthetic import planted_case, protein_like

SUBCOMMANDS = sorted(build_parser()._subparsers._group_actions[0].choices)


@pytest.mark.parametrize("cmd", SUBCOMMANDS)
def test_help(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        main([cmd, "--help"])
    assert e.value.code == 0
    assert cmd in capsys.readouterr().out


def test_top_level_help_and_version(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "fit" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--version"])


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(11)
    st = protein_like(60, rng, name="toy")
    density, pose = planted_case(st, rng, resolution=5.0)
    mp = write_map(density, d / "toy.mrc")
    sp = write_structure(st, d / "toy.pdb")
    return d, mp, sp, pose


FAST = ["--rotations", "30", "--positions", "4", "--oversample", "4", "--resolution", "5", "-q"]


def test_fit_end_to_end(case, tmp_path, capsys):
    d, mp, sp, pose = case
    out = tmp_path / "res"
    code = main(
        ["fit", str(mp), str(sp), "--out", str(out), "--seed", "3", "--models", "2", "--pdb", *FAST]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "rank" in printed and "results in" in printed
    man = read_manifest(out)
    assert man["seed"] == 3 and man["format_version"] == 1
    rows = read_clusters_csv(out / "clusters.csv")
    assert rows[0]["rank"] == 1 and rows[0]["structure"] == "toy"
    # the transform in clusters.csv maps the INPUT file's coordinates onto the planted pose
    st = read_structure(sp)
    moved = rows[0]["transform"].apply(st.coords_xyz)
    assert np.sqrt(((moved - pose.apply(st.coords_xyz)) ** 2).sum(axis=1).mean()) < 1.0
    # and the written model carries the same coordinates
    model = read_structure(out / "models" / "rank_001_toy.cif")
    assert np.allclose(model.coords_xyz, moved, atol=2e-3)
    assert (out / "models" / "rank_001_toy.pdb").exists()
    assert not (out / "models" / "rank_003_toy.cif").exists()
    assert "open" in (out / "open_in_chimerax.cxc").read_text()
    fits = (out / "fits.csv").read_text().splitlines()
    assert len(fits) == 1 + 30 * 4
    # refusing to overwrite
    assert main(["fit", str(mp), str(sp), "--out", str(out), *FAST]) == 2
    assert "holds results already" in capsys.readouterr().err


def _err(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    assert code != 0
    lines = [x for x in err.strip().splitlines() if x.startswith("difffit: error")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_bad_inputs_one_line_errors(case, tmp_path, capsys):
    d, mp, sp, _ = case
    out = str(tmp_path / "o")
    garbage = tmp_path / "garbage.mrc"
    garbage.write_bytes(b"\x00" * 10)
    assert "garbage.mrc" in _err(["fit", str(garbage), str(sp), "--out", out, *FAST], capsys)
    assert "no such file" in _err(
        ["fit", str(mp), str(tmp_path / "none.pdb"), "--out", out, *FAST], capsys
    )
    assert "level" in _err(["fit", str(mp), str(sp), "--out", out, "--level", "1e9", *FAST], capsys)
    assert "chain" in _err(["fit", str(mp), str(sp), "--out", out, "--chains", "Z", *FAST], capsys)
    assert "screen_steps" in _err(
        ["fit", str(mp), str(sp), "--out", out, "--screen-steps", "0", *FAST], capsys
    )
    assert "--smooth-weights" in _err(
        ["fit", str(mp), str(sp), "--out", out, "--smooth-weights", "1,2", *FAST], capsys
    )
    # a structure far too big for the box
    big = protein_like(3000, np.random.default_rng(1), name="big")
    bp = write_structure(big, tmp_path / "big.pdb")
    assert "map box" in _err(["fit", str(mp), str(bp), "--out", out, *FAST], capsys)
    # no atoms in the selection: a ligand-only file with --selection ca
    lig = tmp_path / "lig.pdb"
    lig.write_text(
        "HETATM    1  C1  LIG A   1      30.000  30.000  30.000  1.00 10.00           C\nEND\n"
    )
    assert "selection" in _err(
        ["fit", str(mp), str(lig), "--out", out, "--selection", "ca", *FAST], capsys
    )


def test_console_script_runs(case, tmp_path):
    """The installed entry point works in a fresh process (exit codes, one-line error)."""
    d, mp, sp, _ = case
    exe = [sys.executable, "-m", "difffit"]
    ok = subprocess.run([*exe, "--version"], capture_output=True, text=True)
    assert ok.returncode == 0 and "difffit" in ok.stdout
    bad = subprocess.run([*exe, "fit", str(mp), str(sp), "--out", str(tmp_path / "x"), "--level", "1e9", "-q"],
                         capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.count("\n") >= 1 and "Traceback" not in bad.stderr


def test_split_end_to_end(tmp_path, capsys):
    from tests.conftest import data_path

    pdb = data_path("ccpem_emd3488_haemoglobin", "5me2.pdb")
    assert main(["split", str(pdb), "--out", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    assert "5me2_A: 2 copies (chains A,C)" in out
    assert sorted(p.name for p in (tmp_path / "s").glob("*.cif")) == [
        f"5me2_{c}.cif" for c in "ABCD"
    ]
    assert (
        main(["split", str(pdb), "--out", str(tmp_path / "u"), "--unique", "--format", "pdb"]) == 0
    )
    assert sorted(p.name for p in (tmp_path / "u").glob("*.pdb")) == ["5me2_A.pdb", "5me2_B.pdb"]
    assert read_structure(tmp_path / "u" / "5me2_B.pdb").chains == ("B",)


def test_bad_values_of_value_objects_are_one_line_errors(case, tmp_path, capsys):
    """A structure or a map the value objects refuse: exit 2, one line, never 'internal error'."""
    import mrcfile

    d, mp, sp, _ = case
    nan_pdb = tmp_path / "nan.pdb"
    nan_pdb.write_text(
        "ATOM      1  CA  ALA A   1         nan  10.000  10.000  1.00 10.00           C\n"
        "ATOM      2  CA  ALA A   2      14.000  10.000  10.000  1.00 10.00           C\nEND\n"
    )
    for argv in (
        ["simulate", str(nan_pdb), "--resolution", "5", "--out", str(tmp_path / "s.mrc")],
        ["fit", str(mp), str(nan_pdb), "--out", str(tmp_path / "o"), *FAST],
    ):
        line = _err(argv, capsys)
        assert "nan.pdb" in line and ("not finite" in line or "not a number" in line)
        assert "internal error" not in line
        assert main(argv) == 2
        capsys.readouterr()
    flat = tmp_path / "flat.mrc"
    with mrcfile.new(flat) as m:
        m.set_data(np.ones((1, 8, 8), dtype=np.float32))  # one section: no 3-D grid
        m.voxel_size = 1.0
    line = _err(["fit", str(flat), str(sp), "--out", str(tmp_path / "o"), *FAST], capsys)
    assert "flat.mrc" in line and "at least 2 voxels" in line
    assert main(["fit", str(flat), str(sp), "--out", str(tmp_path / "o"), *FAST]) == 2
