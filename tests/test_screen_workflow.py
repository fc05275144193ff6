"""The screen workflow on a synthetic library: known answer, resume, workers, Dask, pre-filter."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import sqlite3

import numpy as np
import pytest

from difffit import prepare_map, read_map
from difffit.errors import ConfigError
from difffit.io import write_structure
from difffit.screen import ScreenConfig, find_library, screen, write_screen_report
from difffit.screen.prefilter import ATOM_VOLUME
from tests.screen_cases import FAST_FIT, make_library
from tests.synthetic import protein_like

CONFIG = ScreenConfig(fit=FAST_FIT)


def ranking(result):
    return [(c.rank, c.record.name, round(c.record.score, 6)) for c in result.ranked]


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    d = tmp_path_factory.mktemp("screen")
    mp, lib = make_library(d)
    return mp, lib, read_map(mp), find_library([lib])[0]


@pytest.fixture(scope="module")
def baseline(case, tmp_path_factory):
    """One uninterrupted run in this process with all cores."""
    _, _, density, entries = case
    out = tmp_path_factory.mktemp("baseline")
    events = []
    res = screen(density, entries, out=out, config=CONFIG, seed=7, progress=events.append)
    return res, out, events


def test_planted_target_ranks_first_and_alone_is_significant(baseline):
    res, out, events = baseline
    assert res.ranked[0].record.name == "target"
    assert res.ranked[0].significant and res.ranked[0].record.score > 0.8
    assert [c.record.name for c in res.significant] == ["target"]
    assert all(c.q > CONFIG.alpha for c in res.ranked[1:])
    assert res.counts == {
        "total": 11,
        "resumed": 0,
        "fitted_now": 11,
        "done": 11,
        "skipped": 0,
        "filtered": 0,
        "failed": 0,
    }
    # the best pose of the target is a real fit: its second-best cluster is far below
    assert res.ranked[0].record.second_score < res.ranked[0].record.score - 0.3
    # progress: a start event then one per candidate, done counts up to the total
    assert [e.done for e in events] == list(range(12)) and events[-1].total == 11


def test_rerun_resumes_without_fitting_and_gives_the_same_ranking(case, baseline, tmp_path):
    _, _, density, entries = case
    res, out, _ = baseline
    con = sqlite3.connect(out / "screen.sqlite")
    stamps = dict(con.execute("SELECT sha256, finished_at FROM candidates").fetchall())
    con.close()
    again = screen(density, entries, out=out, config=CONFIG)  # the stored seed is reused
    assert again.seed == 7
    assert again.counts["resumed"] == 11 and again.counts["fitted_now"] == 0
    assert ranking(again) == ranking(res)
    con = sqlite3.connect(out / "screen.sqlite")
    assert dict(con.execute("SELECT sha256, finished_at FROM candidates").fetchall()) == stamps
    con.close()
    # other options, another seed or another map: refused, the user is told to use another --out
    other = dataclasses.replace(
        CONFIG, fit=FAST_FIT.replace(search=FAST_FIT.search.replace(n_steps=100))
    )
    with pytest.raises(ConfigError, match=r"fit_options\.search.*another --out"):
        screen(density, entries, out=out, config=other)
    with pytest.raises(ConfigError, match="seed"):
        screen(density, entries, out=out, config=CONFIG, seed=8)
    with pytest.raises(ConfigError, match="map_sha256"):
        screen(density.with_data(density.data * 2), entries, out=out, config=CONFIG)
    # the alpha of the report is not part of a run's identity
    strict = screen(density, entries, out=out, config=dataclasses.replace(CONFIG, alpha=1e-300))
    assert strict.counts["fitted_now"] == 0 and not strict.significant


def test_partial_run_then_full_library_equals_uninterrupted(case, baseline, tmp_path):
    _, _, density, entries = case
    first = screen(density, entries[:4], out=tmp_path, config=CONFIG, seed=7, threads=1)
    assert first.counts["fitted_now"] == 4
    full = screen(density, entries, out=tmp_path, config=CONFIG, threads=1)
    assert full.counts["resumed"] == 4 and full.counts["fitted_now"] == 7
    assert ranking(full) == ranking(baseline[0])


def test_local_worker_processes_give_the_same_ranking(case, baseline, tmp_path):
    _, _, density, entries = case
    res = screen(density, entries, out=tmp_path, config=CONFIG, seed=7, workers=2)
    assert ranking(res) == ranking(baseline[0])
    workers = {c.record.worker for c in res.ranked}
    assert all(w.startswith("process ") for w in workers) and len(workers) == 2
    assert res.info["executor"] == "2 local processes"


def test_dask_local_cluster_gives_the_same_ranking(case, baseline, tmp_path):
    distributed = pytest.importorskip("distributed")
    _, _, density, entries = case
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    ) as cluster:
        res = screen(
            density,
            entries,
            out=tmp_path,
            config=CONFIG,
            seed=7,
            scheduler=cluster.scheduler_address,
        )
    assert ranking(res) == ranking(baseline[0])
    assert all(c.record.worker.startswith("dask tcp://") for c in res.ranked)
    with pytest.raises(ConfigError, match="not both"):
        screen(density, entries, out=tmp_path, config=CONFIG, workers=2, scheduler="tcp://x:1")


def test_scheduler_without_a_cluster_is_a_clear_error(case, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr("difffit.screen.executors.CONNECT_TIMEOUT", "1s")
    _, _, density, entries = case
    with pytest.raises(ConfigError, match="cannot connect"):
        screen(
            density, entries[:1], out=tmp_path, config=CONFIG, seed=1, scheduler="tcp://127.0.0.1:9"
        )


def test_prefilter_skips_and_report(case, tmp_path):
    mp, lib, density, entries = case
    extra = tmp_path / "extra"
    extra.mkdir()
    rng = np.random.default_rng(2)
    write_structure(protein_like(4000, rng, name="huge"), extra / "huge.pdb")  # larger than the box
    write_structure(protein_like(150, rng, name="big"), extra / "big.pdb")
    (extra / "broken.pdb").write_text("ATOM  garbage\n")
    library, _ = find_library([lib / "target.pdb", lib / "decoy00.pdb", extra])
    fp = prepare_map(density, FAST_FIT.prep).footprint_volume
    ratio = (150 * 5 * ATOM_VOLUME - 1) / fp  # "big" (150 residues x 5 atoms) just above it
    cfg = dataclasses.replace(CONFIG, max_volume_ratio=ratio)
    res = screen(density, library, out=tmp_path / "a", config=cfg, seed=3)
    status = {r.name: r.status for r in res.not_fitted}
    assert status == {"huge": "skipped", "big": "filtered", "broken": "skipped"}
    assert res.counts["filtered"] == 1 and res.counts["skipped"] == 2 and res.counts["done"] == 2
    assert res.null is None  # 2 fitted candidates: too few for a null
    # without the pre-filter, "big" is fitted on resume; the filtered row is not final
    again = screen(
        density, library, out=tmp_path / "a", config=dataclasses.replace(cfg, prefilter=False)
    )
    assert again.counts["resumed"] == 4 and again.counts["fitted_now"] == 1
    assert {r.name for r in again.not_fitted} == {"huge", "broken"}

    files = write_screen_report(again, tmp_path / "a", map_path=mp, n_models=2)
    assert {"candidates", "models", "chimerax", "manifest"} <= set(files)
    text = (tmp_path / "a" / "candidates.csv").read_text()
    assert text.startswith("rank,structure,status,residues,")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["rank"] for r in rows] == ["1", "2", "3", "", ""]
    assert rows[0]["structure"] == "target" and rows[0]["significant"] == ""  # too few for a null
    assert {r["structure"]: r["status"] for r in rows[3:]} == {
        "huge": "skipped",
        "broken": "skipped",
    }
    assert (
        all("\n" not in r["reason"] for r in rows)
        and "map box" in rows[3]["reason"] + rows[4]["reason"]
    )
    man = json.loads((tmp_path / "a" / "screen.json").read_text())
    assert man["format"] == "difffit-screen-results" and man["counts"]["done"] == 3
    assert len(list((tmp_path / "a" / "models").glob("rank_*.cif"))) == 2
