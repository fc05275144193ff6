"""The viewer over a screen's results folder: the ranked candidates with q-values, each
opening its fit (the candidate's model at its transform in the map); read-only."""

from __future__ import annotations

import gemmi
import numpy as np
import pytest

import difffit
from difffit.errors import ConfigError
from difffit.geometry import RigidTransform
from difffit.results import TRANSFORM_COLUMNS, read_clusters_csv
from difffit.viewer import ViewerServer, Workspace
from difffit.viewer.screen_view import ScreenWorkspace
from tests.viewer.test_viewer_server import Client


def _coords(cif: str) -> np.ndarray:
    st = gemmi.make_structure_from_block(gemmi.cif.read_string(cif).sole_block())
    return np.array([a.pos.tolist() for ch in st[0] for r in ch for a in r])


def test_screen_folder_opens_ranked_with_q_values(screen_results):
    ws = Workspace(screen_results)
    assert isinstance(ws, ScreenWorkspace)
    s = ws.session()
    assert s["kind"] == "screen" and s["map_name"] == "toy.mrc"
    assert s["resolution"] == pytest.approx(5.0)
    rows = [r for r in read_clusters_csv(screen_results / "candidates.csv") if r["rank"] != ""]
    t = ws.clusters(0)
    assert {"rank", "structure", "q_value", "z", "score"} <= set(t["columns"])
    assert [r["rank"] for r in t["rows"]] == [r["rank"] for r in rows] == [1, 2, 3, 4]
    assert [r["structure"] for r in t["rows"]] == [r["structure"] for r in rows]
    # every candidate opens its fit: a written model (ranks 1, 2) or the file moved
    for r in rows:
        text, name = ws.model_cif(0, r["rank"])
        assert name.startswith(f"screen_rank_{r['rank']:03d}_")
        st = difffit.read_structure(r["path"])
        tr = RigidTransform.from_r_t_flat([r[c] for c in TRANSFORM_COLUMNS])
        assert np.allclose(_coords(text), tr.apply(st.coords_xyz), atol=2e-3)
    assert ws.points(0)["n"] == 0
    with pytest.raises(ConfigError, match="read-only"):
        ws.zero(0, 1)
    with pytest.raises(ConfigError, match="no candidate of rank"):
        ws.model_cif(0, 99)


def test_screen_api(screen_results):
    ws = Workspace(screen_results)
    server = ViewerServer(ws).start()
    try:
        c = Client(server)
        assert c.get_json("/api/session")["kind"] == "screen"
        assert c.get_json("/api/clusters", round=0)["rows"][0]["rank"] == 1
        status, headers, payload = c.request("GET", "/api/model", query={"round": 0, "rank": 3})
        assert status == 200 and _coords(payload.decode()).shape[1] == 3
        assert c.request("GET", "/api/map", query={"v": 0})[0] == 200
        assert c.post("/api/zero", {"round": 0, "rank": 1})[0] == 400
        assert c.post("/api/undo", {})[0] == 400
    finally:
        server.shutdown()
