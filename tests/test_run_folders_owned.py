"""A run folder is owned: two fits or composites into one --out cannot both write it, and
``fit --overwrite`` removes the results it replaces."""

import numpy as np
import pytest

from difffit.cli import main
from difffit.io import write_map, write_structure
from difffit.io.locks import LOCK_NAME
from tests.synthetic import planted_case, protein_like
from tests.unit.test_locks import _holder

FAST = ["--rotations", "30", "--positions", "4", "--oversample", "4", "--resolution", "5", "-q",
        "--threads", "1"]  # fmt: skip


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    d = tmp_path_factory.mktemp("owned")
    rng = np.random.default_rng(11)
    st = protein_like(60, rng, name="toy")
    density, _ = planted_case(st, rng, resolution=5.0)
    return write_map(density, d / "toy.mrc"), write_structure(st, d / "toy.pdb")


@pytest.mark.parametrize("cmd", ["fit", "composite"])
def test_second_run_into_a_held_out_is_refused(case, tmp_path, capsys, cmd):
    mp, sp = case
    out = tmp_path / "out"
    p = _holder(out)
    try:
        extra = ["--max-rounds", "1"] if cmd == "composite" else []
        code = main([cmd, str(mp), str(sp), "--out", str(out), "--seed", "1", *FAST, *extra])
    finally:
        p.communicate("")
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and str(out) in err and "another difffit run holds" in err
    assert not out.exists()  # the holder removed its empty folder; the refused run wrote nothing


def test_overwrite_removes_what_it_replaces(case, tmp_path, capsys):
    mp, sp = case
    out = tmp_path / "res"
    assert main(["fit", str(mp), str(sp), "--out", str(out), "--seed", "1", "--models", "5",
                 "--pdb", *FAST]) == 0  # fmt: skip
    old = sorted(p.name for p in (out / "models").iterdir())
    assert any(n.endswith(".pdb") for n in old)
    (out / "notes.txt").write_text("mine")  # not difffit's: stays
    assert main(["fit", str(mp), str(sp), "--out", str(out), "--seed", "2", "--models", "1",
                 "--overwrite", *FAST]) == 0  # fmt: skip
    models = sorted(p.name for p in (out / "models").iterdir())
    assert len(models) == 1 and models[0].endswith(".cif")
    assert (out / "notes.txt").read_text() == "mine"
    assert not (out / LOCK_NAME).exists()
