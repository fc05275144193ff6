"""The results and run folders: load_results mirrors save_results; folders written by the
previous format (tests/fixtures/v1, made by ``make_fixtures.py`` with main at b61c6e3) open."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import difffit
from difffit.cli import main
from difffit.composite import Decision
from difffit.config import ClusterConfig, FitConfig, QualityConfig, RefineConfig, SearchConfig
from difffit.errors import ConfigError, ResultsError
from difffit.io.folders import RunFolder
from difffit.io.results import load_results, results_files, save_results
from difffit.viewer.workspace import Workspace
from tests.synthetic import planted_case, protein_like

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "v1"
#: Where make_fixtures.py wrote them (the manifests name absolute paths).
WRITTEN_AT = "/tmp/fixgen/out"
QUICK = ["--rotations", "4", "--positions", "2", "--oversample", "2", "--screen-steps", "10",
         "--steps", "40", "--resolution", "6", "--refine", "2", "--refine-steps", "20",
         "--threads", "1", "-q", "--seed", "3"]  # fmt: skip


def fixtures(tmp_path: Path) -> Path:
    """A copy of the v1 fixtures whose manifests name the copy's paths.

    The maps are not kept in the repository: the input map is made again from the same seeded
    synthetic complex ``make_fixtures.py`` used, and the working maps by zeroing, with the
    previous release's rule, what those folders record as zeroed (round 1's placements of the
    composite run; the viewer's rank 1)."""
    out = tmp_path / "v1"
    shutil.copytree(FIXTURES, out)
    for f in out.rglob("*.json"):
        f.write_text(f.read_text().replace(WRITTEN_AT, str(out)))
    _write_maps(out)
    return out


def _write_maps(v1: Path) -> None:
    from difffit.density.placed import zero_placements
    from difffit.io.composite import read_placements
    from difffit.io.results import read_cluster_hits
    from tests.test_composite import synthetic_complex

    density = synthetic_complex()[0]
    difffit.write_map(density, v1 / "inputs" / "map.mrc")
    structures = {n: difffit.read_structure(v1 / "inputs" / f"{n}.pdb") for n in ("p", "q")}
    run = RunFolder.open(v1 / "composite")
    placed = [(structures[p.structure], p.transform)
              for p in read_placements(v1 / "composite" / "round_001" / "placements.csv")]  # fmt: skip
    zeroed = zero_placements(density, placed, resolution=run.resolution, fill=0.0)
    difffit.write_map(zeroed.map, v1 / "composite" / "round_001" / "working_map.mrc")
    hit = read_cluster_hits(v1 / "viewer" / "clusters.csv")[0]
    zeroed = zero_placements(density, [(structures[hit.structure], hit.transform)], resolution=6.0)
    (v1 / "viewer" / "working").mkdir(exist_ok=True)
    difffit.write_map(zeroed.map, v1 / "viewer" / "working" / "map_001.mrc")


# ---------------------------------------------------------------------------- results
@pytest.fixture(scope="module")
def small_fit(tmp_path_factory):
    d = tmp_path_factory.mktemp("fit")
    rng = np.random.default_rng(3)
    st = protein_like(40, rng, name="toy")
    density, _ = planted_case(st, rng, resolution=5.0)
    st_path = difffit.write_structure(st, d / "toy.pdb")
    st = difffit.read_structure(st_path)
    config = FitConfig(
        search=SearchConfig(n_rotations=8, n_positions=3, oversample=2, n_steps=30),
        quality=QualityConfig(resolution=5.0),
        cluster=ClusterConfig(),
        refine=RefineConfig(n_clusters=2, n_steps=20),
    )
    result = difffit.fit(density, [st], config=config, seed=4, threads=1)
    map_path = difffit.write_map(density, d / "toy.mrc")
    return result, st, map_path


def test_load_results_mirrors_save_results(small_fit, tmp_path):
    result, st, map_path = small_fit
    folder = save_results(result, tmp_path / "r", structures=[st], map_path=map_path, n_models=2)
    back = load_results(folder)
    assert back == result
    # transforms, scores and provenance, one by one
    for a, b in zip(back.clusters, result.clusters, strict=True):
        np.testing.assert_array_equal(a.transform.rotation, b.transform.rotation)
        np.testing.assert_array_equal(a.transform.translation, b.transform.translation)
        assert (a.cam, a.correlation, a.rank, a.structure_index) == (
            b.cam, b.correlation, b.rank, b.structure_index
        )  # fmt: skip
    assert back.config == result.config and back.seed == 4 and back.info["timings_s"]
    np.testing.assert_array_equal(back.fits["score"], result.fits["score"])
    files = results_files(folder)
    assert files.map_path == map_path.resolve() and sorted(files.models) == [1, 2]
    # a changed value is seen
    moved = dict(result.fits, score=result.fits["score"] + 1e-9)
    assert load_results(folder) != type(result)(**{**result.__dict__, "fits": moved})


def test_load_results_errors(tmp_path):
    with pytest.raises(ResultsError, match="manifest"):
        load_results(tmp_path)


# ---------------------------------------------------------------------------- format 1 folders
def test_v1_fit_folder_loads(tmp_path):
    v1 = fixtures(tmp_path)
    res = load_results(v1 / "fit")
    assert len(res.clusters) == 7 and res.seed == 3 and res.config.search.n_rotations == 4
    assert res.clusters[0].structure == "p" and res.structures[0].source == str(v1 / "inputs/p.pdb")
    assert results_files(v1 / "fit").models[1].name == "rank_001_p.cif"


def test_v1_composite_folder_opens_and_resumes(tmp_path, capsys):
    v1 = fixtures(tmp_path)
    run = RunFolder.open(v1 / "composite")
    assert run.rounds_done == 1 and run.finished and run.stop_reason.startswith("stoichiometry")
    (rec,) = run.rounds
    assert rec.accepted == ("q#1", "p#1") and [s[0] for s in rec.sources] == [1, 1]
    state = run.load_state()
    assert [p.label for p in state.placements] == ["q#1", "p#1"]
    assert run.fit_rounds() == [1] and len(run.load_fit(1).clusters) > 0
    args = ["composite", str(v1 / "inputs/map.mrc"), str(v1 / "inputs/p.pdb"),
            str(v1 / "inputs/q.pdb"), "--copies", "p=1", "q=1", "--max-rounds", "2", "--out",
            str(v1 / "composite"), *QUICK]  # fmt: skip
    assert main(args) == 0
    assert "the run is finished (stoichiometry met" in capsys.readouterr().out


def test_v1_manual_round_is_accepted(tmp_path, capsys):
    v1 = fixtures(tmp_path)
    assert RunFolder.open(v1 / "manual").pending_round == 1
    args = ["composite", str(v1 / "inputs/map.mrc"), str(v1 / "inputs/p.pdb"),
            str(v1 / "inputs/q.pdb"), "--copies", "p=2", "q=1", "--out", str(v1 / "manual"),
            *QUICK]  # fmt: skip
    assert main([*args, "--accept", "1"]) == 0
    run = RunFolder.open(v1 / "manual")
    assert run.pending_round is None and run.rounds[-1].sources == ((1, 1),)
    assert [p.label for p in run.load_state().placements] == ["q#1"]
    assert (v1 / "manual" / "round_001" / "working_map.mrc").exists()


def test_v1_viewer_folder_opens_read_only(tmp_path):
    v1 = fixtures(tmp_path)
    ws = Workspace(v1 / "viewer")
    s = ws.session()
    assert [r["id"] for r in s["rounds"]] == [0, 1]
    assert s["history"][0]["map"] == "working/map_001.mrc" and s["history"][0]["rank"] == 1
    assert ws.working_map_path() == "working/map_001.mrc"
    assert s["map"]["n_above_level"] == s["history"][0]["n_above_after"]
    assert ws.clusters(1)["rows"] and ws.points(1)["n"] == 8
    assert ws.model_cif(1, 1)[0].startswith("data_")
    with pytest.raises(ConfigError, match="read-only"):
        ws.zero(0, 1)
    with pytest.raises(ConfigError, match="read-only"):
        ws.undo()


def test_v1_composite_folder_opens_in_the_viewer(tmp_path):
    v1 = fixtures(tmp_path)
    ws = Workspace(v1 / "composite")
    s = ws.session()
    assert [r["id"] for r in s["rounds"]] == [1]
    assert [(h["round"], h["structure"]) for h in s["history"]] == [(1, "q, p")]
    assert ws.working_map_path() == "round_001/working_map.mrc"
    cands = RunFolder.open(v1 / "composite")
    assert cands.rounds[0].accepted == ("q#1", "p#1")
    assert Decision("accept") is Decision.ACCEPT and str(Decision.CLASH) == "clash"


def test_undo_makes_the_round_wait_again(tmp_path):
    from difffit.composite.session import RunSession

    v1 = fixtures(tmp_path)
    session = RunSession(RunFolder.open(v1 / "manual"))
    rnd = session.accept([(1, 1)])
    assert rnd.index == 1 and session.state.rounds_done == 1
    assert (v1 / "manual" / "placements.csv").exists()
    rec = session.undo()
    assert rec.index == 1 and rec.sources == ((1, 1),)
    run = RunFolder.open(v1 / "manual")
    assert run.pending_round == 1 and run.rounds == () and session.state.rounds_done == 0
    assert not (v1 / "manual" / "round_001" / "working_map.mrc").exists()
    assert not (v1 / "manual" / "placements.csv").exists()
    assert (v1 / "manual" / "round_001" / "fit" / "manifest.json").exists()
    with pytest.raises(ConfigError, match="nothing to undo"):
        session.undo()
    # a cluster of a round with no fit is refused
    with pytest.raises(ConfigError, match="no round 7"):
        session.accept([(7, 1)])
