"""The viewer over whole runs: a composite run folder (rounds and their decisions), the point
cloud cut to the best placements, and the cluster table's verdict, z and centre columns."""

from __future__ import annotations

import pytest

from difffit.io.results import read_clusters_csv
from difffit.viewer import Workspace
from difffit.viewer.workspace import DECISION_COLUMNS
from tests.viewer.conftest import copy_results


def test_composite_run_opens_with_rounds_and_decisions(composite_run, tmp_path):
    root = copy_results(composite_run, tmp_path / "run")
    ws = Workspace(root)
    s = ws.session()
    assert s["composite"] is True
    assert s["map_name"] == "toy.mrc"
    assert s["resolution"] == pytest.approx(5.0)
    ids = [r["id"] for r in s["rounds"]]
    assert ids and ids[0] == 1
    for rid in ids:
        d = ws.decisions(rid)
        rows = read_clusters_csv(root / f"round_{rid:03d}" / "candidates.csv")
        assert len(d["rows"]) == len(rows) > 0
        assert {"decision", "reason", "rank", "structure"} <= set(d["columns"])
        assert set(d["columns"]) <= set(DECISION_COLUMNS)
        assert [r["decision"] for r in d["rows"]] == [r["decision"] for r in rows]
    decided = [r for rid in ids for r in ws.decisions(rid)["rows"]]
    assert sum(r["decision"] == "accept" for r in decided) == len(s["history"]) == 1
    assert any(r["decision"] == "below bar" and "min_cam" in r["reason"] for r in decided)


def test_points_are_cut_to_the_best_by_score(synthetic_results):
    ws = Workspace(synthetic_results)
    full = ws.points(0, "score", None)
    cut = ws.points(0, "score", 5)
    assert full["n"] == full["total"] > 5
    assert cut["n"] == 5 and cut["total"] == full["total"]
    assert len(cut["cluster_of_fit"]) == 5
    assert cut["max"] == pytest.approx(full["max"])
    assert cut["min"] >= full["min"]


def test_cluster_table_has_verdict_z_and_centres(synthetic_results):
    ws = Workspace(synthetic_results)
    t = ws.clusters(0)
    csv_cols = set(read_clusters_csv(synthetic_results / "clusters.csv")[0])
    for c in ("verdict", "z", "centre_x", "centre_y", "centre_z"):
        assert (c in t["columns"]) == (c in csv_cols)
    assert "centre_x" in t["columns"] and "verdict" in t["columns"]


def test_api_decisions_and_points_cut(composite_run, tmp_path):
    from difffit.viewer import ViewerServer
    from tests.viewer.test_viewer_server import Client

    ws = Workspace(copy_results(composite_run, tmp_path / "run"))
    server = ViewerServer(ws).start()
    try:
        c = Client(server)
        s = c.get_json("/api/session")
        assert s["composite"] and s["map_name"] == "toy.mrc"
        d = c.get_json("/api/decisions", round=1)
        assert d["round"] == 1 and d["rows"][0]["decision"] == "accept"
        assert d["rows"][0]["reason"].startswith("cam ")
        p = c.get_json("/api/points", round=1, metric="score", n=3)
        assert p["n"] == 3 and p["total"] > 3
        assert c.get_json("/api/points", round=1, metric="score")["n"] == p["total"]
        assert c.request("GET", "/api/points", query={"round": 1, "n": 0})[0] == 400
        assert c.request("GET", "/api/decisions", query={"round": 9})[0] == 400
    finally:
        server.shutdown()
