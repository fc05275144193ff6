"""One engine, two drivers: ``difffit composite --manual`` and the viewer's Zero / Undo /
Fit again, given the same choices, write the same run folder."""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

import numpy as np

from difffit import read_map, write_map
from difffit.cli import main
from difffit.io.folders import RunFolder
from difffit.io.structures import model_from_arrays, write_structure
from difffit.viewer.workspace import Workspace
from tests.test_composite import synthetic_complex

QUICK = ["--rotations", "12", "--positions", "4", "--oversample", "2", "--screen-steps", "20",
         "--steps", "60", "--resolution", "6", "--refine", "3", "--refine-steps", "40",
         "--threads", "1", "-q", "--seed", "5"]  # fmt: skip
#: Files whose content records when or how they were written (compared by meaning instead).
STAMPED = ("composite.json", "manifest.json", "open_in_chimerax.cxc", "view.mvsj")  # times, paths


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_cli_manual_and_viewer_write_the_same_run_folder(tmp_path):
    m, p, q, _ = synthetic_complex()
    write_map(m, tmp_path / "map.mrc")
    for st in (p, q):
        write_structure(model_from_arrays(st), tmp_path / f"{st.name}.pdb")
    cli_dir, view_dir = tmp_path / "cli", tmp_path / "viewer"
    args = ["composite", str(tmp_path / "map.mrc"), str(tmp_path / "p.pdb"),
            str(tmp_path / "q.pdb"), "--copies", "p=2", "q=2", "--out", str(cli_dir), *QUICK]  # fmt: skip

    # round 1 is proposed once; both drivers start from it
    assert main([*args, "--manual"]) == 0
    shutil.copytree(cli_dir, view_dir)

    # the CLI: accept rank 1, fit round 2, accept rank 2
    assert main([*args, "--accept", "1"]) == 0
    assert main([*args, "--manual"]) == 0
    assert main([*args, "--accept", "2"]) == 0

    # the viewer: the same choices, with a detour (zero another cluster, then undo it)
    ws = Workspace(view_dir)
    assert ws.session()["history"] == []
    ws.zero(1, 1)
    ws.zero(1, 3)
    assert [h["rank"] for h in ws.session()["history"]] == [1, 3]
    ws.undo()
    assert not (view_dir / "round_002").exists()
    job = ws.start_fit(["p", "q"], threads=1)
    assert job.round_id == 2
    ws.wait_jobs()
    assert ws.job(job.id)["state"] == "done", ws.job(job.id)["message"]
    ws.zero(2, 2)
    assert [r["id"] for r in ws.session()["rounds"]] == [1, 2]

    # the same files, the same tables, maps and models
    assert _files(cli_dir) == _files(view_dir)
    assert {"round_002/candidates.csv", "round_002/working_map.mrc", "assembly.cif"} <= set(
        _files(cli_dir)
    )
    for rel in _files(cli_dir):
        if Path(rel).name in STAMPED:
            continue
        a, b = cli_dir / rel, view_dir / rel
        if rel.endswith(".mrc"):
            np.testing.assert_array_equal(read_map(a).data, read_map(b).data)
        else:
            assert filecmp.cmp(a, b, shallow=False), rel
    # the same rounds in the manifests (what was accepted, from which fit)
    cli, view = RunFolder.open(cli_dir), RunFolder.open(view_dir)
    assert [(r.index, r.accepted, r.sources) for r in cli.rounds] == [
        (r.index, r.accepted, r.sources) for r in view.rounds
    ]
    assert [(r.index, r.sources) for r in cli.rounds] == [(1, ((1, 1),)), (2, ((2, 2),))]
    assert cli.pending_round is view.pending_round is None
