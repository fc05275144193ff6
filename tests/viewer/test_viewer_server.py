"""The viewer's server without a browser: security, API answers, actions, the CLI."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse

import gemmi
import numpy as np
import pytest

import difffit
from difffit.cli import main
from difffit.errors import ConfigError, ResultsError
from difffit.results import read_clusters_csv, read_manifest
from difffit.viewer import ViewerServer, Workspace
from tests.viewer.conftest import copy_results


class Client:
    """Plain HTTP against a live server, so that headers are ours to choose."""

    def __init__(self, server: ViewerServer):
        self.server = server
        self.token = server.token

    def request(self, method, path, *, token=True, host=None, body=None, headers=None, query=None):
        q = dict(query or {})
        if token is True:
            q["token"] = self.token
        elif isinstance(token, str):
            q["token"] = token
        url = path + ("?" + urllib.parse.urlencode(q) if q else "")
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=60)
        h = {"Host": host or f"127.0.0.1:{self.server.port}"}
        h.update(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        conn.putrequest(method, url, skip_host=True)
        for k, v in h.items():
            conn.putheader(k, v)
        if data is not None:
            conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)
        r = conn.getresponse()
        payload = r.read()
        conn.close()
        return r.status, dict(r.getheaders()), payload

    def get_json(self, path, **query):
        status, _, payload = self.request("GET", path, query=query)
        assert status == 200, payload
        return json.loads(payload)

    def post(self, path, body, **kw):
        status, _, payload = self.request(
            "POST", path, body=body, headers={"X-DiffFit-Token": self.token}, token=False, **kw
        )
        return status, json.loads(payload)


@pytest.fixture
def served(synthetic_results, tmp_path):
    ws = Workspace(copy_results(synthetic_results, tmp_path / "results"))
    server = ViewerServer(ws).start()
    try:
        yield ws, Client(server)
    finally:
        ws.wait_jobs(timeout=300)
        server.shutdown()


def test_token_host_and_paths_are_enforced(served):
    ws, c = served
    assert c.request("GET", "/")[0] == 200
    # no token, a wrong token, a token of another length: 403 on every kind of path
    for path in (
        "/",
        "/api/session",
        "/api/map",
        "/static/app.js",
        "/static/molstar/molstar.js",
        "/nope",
    ):
        assert c.request("GET", path, token=False)[0] == 403, path
        assert c.request("GET", path, token="x" * len(c.token))[0] == 403, path
        assert c.request("GET", path, token="short")[0] == 403, path
    # the token in a header works as well as in the URL
    assert (
        c.request("GET", "/api/session", token=False, headers={"X-DiffFit-Token": c.token})[0]
        == 200
    )
    # DNS rebinding: a foreign Host header is refused even with the token
    for host in (
        "evil.example.com",
        f"evil.example.com:{c.server.port}",
        "127.0.0.1:1",
        "localhost.evil:80",
    ):
        assert c.request("GET", "/api/session", host=host)[0] == 403, host
    for host in (f"localhost:{c.server.port}", f"[::1]:{c.server.port}"):
        assert c.request("GET", "/api/session", host=host)[0] == 200, host
    # a foreign Origin on an action is refused
    st_, _, _ = c.request(
        "POST",
        "/api/undo",
        body={},
        headers={"X-DiffFit-Token": c.token, "Origin": "http://evil.example.com"},
        token=False,
    )
    assert st_ == 403
    # nothing outside the static folder is served, however the path is spelled
    for path in (
        "/static/../workspace.py",
        "/static/%2e%2e/workspace.py",
        "/static/..%2f..%2f__init__.py",
        "/static//etc/passwd",
        "/static/%2fetc%2fpasswd",
        "/etc/passwd",
        "/static/molstar/.build-stamp",
        "/manifest.json",
        "/clusters.csv",
    ):
        status, _, payload = c.request("GET", path)
        assert status == 404, (path, status)
        assert b"root:" not in payload and b"import" not in payload
    # actions need POST with a JSON body; other methods are refused
    assert c.request("GET", "/api/zero")[0] == 404
    assert c.request("PUT", "/api/zero")[0] == 405
    st_, _, payload = c.request(
        "POST",
        "/api/undo",
        body=b"round=0",
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-DiffFit-Token": c.token},
        token=False,
    )
    assert st_ == 400 and b"JSON" in payload
    status, _, _ = c.request("POST", "/api/undo", body={}, token=False)
    assert status == 403
    # the page is served with a Content-Security-Policy that keeps it on this server
    _, headers, page = c.request("GET", "/")
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert c.token.encode() in page and b"__TOKEN__" not in page
    assert b"http://" not in page and b"https://" not in page


def test_server_binds_to_localhost_by_default(synthetic_results):
    ws = Workspace(synthetic_results)
    server, other = ViewerServer(ws), ViewerServer(ws)
    try:
        assert server.httpd.server_address[0] == "127.0.0.1"
        assert server.url.startswith(f"http://127.0.0.1:{server.port}/?token=")
        assert len(server.token) >= 32
        assert other.token != server.token
    finally:
        server.httpd.server_close()
        other.httpd.server_close()
    with pytest.raises(ConfigError):
        ViewerServer(Workspace(synthetic_results), token="short")


def test_api_session_table_model_points_map(served):
    ws, c = served
    root = ws.root
    s = c.get_json("/api/session")
    assert s["results_dir"] == str(root)
    assert [r["id"] for r in s["rounds"]] == [0]
    assert s["structures"] == ["toy"]
    assert s["map"]["version"] == 0
    assert s["map"]["display_max_voxels"] == {"high": 128, "low": 80}
    man = read_manifest(root)
    assert s["level"] == pytest.approx(man["level"])
    t = c.get_json("/api/clusters", round=0)
    rows = read_clusters_csv(root / "clusters.csv")
    assert t["columns"][:3] == ["rank", "structure", "hits"] and "correlation" in t["columns"]
    assert [r["rank"] for r in t["rows"]] == [r["rank"] for r in rows]
    # a model beyond the written ones (rank 5 > n_models 3) is made from the structure file
    for rank in (1, len(rows)):
        status, headers, payload = c.request("GET", "/api/model", query={"round": 0, "rank": rank})
        assert status == 200 and headers["Content-Type"].startswith("chemical/x-mmcif")
        st = gemmi.make_structure_from_block(gemmi.cif.read_string(payload.decode()).sole_block())
        got = np.array([a.pos.tolist() for ch in st[0] for r in ch for a in r])
        toy = difffit.read_structure(man["structures"][0]["path"])
        want = rows[rank - 1]["transform"].apply(toy.coords_xyz)
        assert got.shape == want.shape and np.allclose(got, want, atol=2e-3)
    status, headers, _ = c.request(
        "GET", "/api/model", query={"round": 0, "rank": 1, "download": 1}
    )
    assert 'attachment; filename="r00_rank_001_toy.cif"' == headers["Content-Disposition"]
    assert c.request("GET", "/api/model", query={"round": 0, "rank": 999})[0] == 400
    assert c.request("GET", "/api/model", query={"round": 7, "rank": 1})[0] == 400
    assert c.request("GET", "/api/model", query={"round": "x", "rank": 1})[0] == 400
    # the point cloud: one pseudo-atom per placement at the structure centre it gives
    p = c.get_json("/api/points", round=0, metric="correlation")
    fits = read_clusters_csv(root / "fits.csv")
    assert p["n"] == len(fits) == 12 * 4
    st = gemmi.make_structure_from_block(gemmi.cif.read_string(p["cif"]).sole_block())
    pts = np.array([a.pos.tolist() for ch in st[0] for r in ch for a in r])
    centre = np.array(man["structures"][0]["centre_xyz"])
    assert np.allclose(pts, [f["transform"].apply(centre[None])[0] for f in fits], atol=2e-3)
    assert {int(k): v for k, v in p["cluster_of_fit"].items()} == {
        f["fit_id"]: f["cluster_rank"] for f in fits
    }
    corr = np.array([f["correlation"] for f in fits])
    assert p["min"] == pytest.approx(np.percentile(corr, 5)) and p["max"] == pytest.approx(
        corr.max()
    )
    assert c.request("GET", "/api/points", query={"round": 0, "metric": "nope"})[0] == 400
    # the map, as MRC bytes that read back to the working map
    status, headers, payload = c.request("GET", "/api/map", query={"v": 0})
    assert status == 200 and headers["X-DiffFit-Map-Version"] == "0"
    (root / "got.mrc").write_bytes(payload)
    got = difffit.read_map(root / "got.mrc")
    ref = difffit.read_map(man["map"]["path"])
    # cropped to the density (+5 Å), each voxel where it was and with its value
    off = (got.origin_xyz - ref.origin_xyz) / ref.voxel_size_xyz
    assert np.allclose(off, np.round(off)) and np.all(off >= 0)
    i, j, k = np.round(off).astype(int)
    nz, ny, nx = got.shape_zyx
    assert np.array_equal(got.data, ref.data[k : k + nz, j : j + ny, i : i + nx])
    outside = ref.data.copy()
    outside[k : k + nz, j : j + ny, i : i + nx] = -np.inf
    assert outside.max() <= min(0.5 * ws.level, ref.data.mean() + ref.data.std())
    # a coarser one on request: block means, placed at the blocks' centres
    status, _, payload = c.request("GET", "/api/map", query={"v": 0, "max": 16})
    assert status == 200
    (root / "small.mrc").write_bytes(payload)
    small = difffit.read_map(root / "small.mrc")
    f = int(np.ceil(max(got.shape_zyx) / 16))
    assert max(small.shape_zyx) <= 16 and np.allclose(small.voxel_size_xyz, got.voxel_size_xyz * f)
    assert small.data[0, 0, 0] == pytest.approx(got.data[:f, :f, :f].mean(), abs=1e-5)
    assert c.request("GET", "/api/map", query={"max": 4})[0] == 400


def test_actions_save_zero_undo(served):
    ws, c = served
    root = ws.root
    level = ws.level
    original = difffit.read_map(read_manifest(root)["map"]["path"])
    status, saved = c.post("/api/save", {"round": 0, "rank": 2})
    assert status == 200 and saved["relative"] == "saved/r00_rank_002_toy.cif"
    assert (root / saved["relative"]).exists()
    status, z = c.post("/api/zero", {"round": 0, "rank": 1})
    assert status == 200, z
    work = root / "round_001" / "working_map.mrc"
    assert z["map"] == "round_001/working_map.mrc" and work.exists()
    zeroed = difffit.read_map(work)
    n0, n1 = int((original.data > level).sum()), int((zeroed.data > level).sum())
    assert n1 < n0 and (z["n_above_before"], z["n_above_after"]) == (n0, n1)
    assert z["n_voxels_zeroed"] > 0
    s = c.get_json("/api/session")
    assert s["map"]["version"] == 1 and s["map"]["n_above_level"] == n1 and len(s["history"]) == 1
    # a restarted viewer carries on from the zeroed map
    assert Workspace(root).working_map_path() == "round_001/working_map.mrc"
    status, u = c.post("/api/undo", {})
    assert status == 200 and u["undone"]["rank"] == 1
    assert not work.exists()
    s = c.get_json("/api/session")
    assert s["map"]["n_above_level"] == n0 and s["history"] == [] and s["map"]["version"] == 2
    status, err = c.post("/api/undo", {})
    assert status == 400 and "nothing to undo" in err["error"]
    status, err = c.post("/api/zero", {"round": 0})
    assert status == 400 and "rank" in err["error"]
    status, err = c.post("/api/zero", {"round": 0, "rank": 1.5})
    assert status == 400


def _wait_job(c, job_id, timeout=300.0):
    deadline = time.time() + timeout
    while True:
        j = c.get_json(f"/api/jobs/{job_id}")
        if j["state"] in ("done", "failed") or time.time() > deadline:
            return j
        time.sleep(0.2)


def test_fit_again_makes_a_new_round(served):
    ws, c = served
    status, err = c.post("/api/fit", {"structures": ["nope"]})
    assert status == 400 and "unknown structures" in err["error"]
    status, err = c.post("/api/fit", {"structures": []})
    assert status == 400
    status, job = c.post(
        "/api/fit", {"structures": ["toy"], "n_rotations": 6, "n_positions": 2, "seed": 4}
    )
    assert status == 202 and job["round"] == 1
    j = _wait_job(c, job["id"])
    assert j["state"] == "done", j["message"]
    assert j["done"] == j["total"] > 0
    ws.wait_jobs()
    s = c.get_json("/api/session")
    assert [r["id"] for r in s["rounds"]] == [0, 1]
    man = read_manifest(ws.root / "round_001" / "fit")
    assert man["map"]["path"] == read_manifest(ws.root)["map"]["path"]
    assert man["options"]["search"]["n_rotations"] == 6 and man["seed"] == 4
    assert man["options"]["prep"]["level"] == pytest.approx(ws.level)
    t = c.get_json("/api/clusters", round=1)
    assert t["rows"] and t["rows"][0]["structure"] == "toy"
    assert c.get_json("/api/points", round=1)["n"] == 12
    assert c.request("GET", "/api/model", query={"round": 1, "rank": 1})[0] == 200
    assert c.request("GET", "/api/jobs/99")[0] == 400
    # the toy is the whole map: zeroing it leaves nothing above the level, and a fit into what
    # is left fails with the reason on the page (and leaves no empty round behind)
    assert c.post("/api/zero", {"round": 0, "rank": 1})[0] == 200
    status, job = c.post("/api/fit", {"structures": ["toy"], "n_rotations": 6, "n_positions": 2})
    # (the zeroing completed round 1, the fit's round: the next fit is round 2)
    assert status == 202 and job["round"] == 2
    j = _wait_job(c, job["id"])
    assert j["state"] == "failed" and "level" in j["message"]
    ws.wait_jobs()
    assert not (ws.root / "round_002").exists()
    assert [r["id"] for r in c.get_json("/api/session")["rounds"]] == [0, 1]


def test_workspace_errors(tmp_path, synthetic_results):
    with pytest.raises(ResultsError, match="no such results folder"):
        Workspace(tmp_path / "none")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ResultsError, match="manifest"):
        Workspace(tmp_path / "empty")
    moved = copy_results(synthetic_results, tmp_path / "moved")
    man = json.loads((moved / "manifest.json").read_text())
    man["map"]["path"] = str(tmp_path / "gone.mrc")
    (moved / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(ResultsError, match="does not exist"):
        Workspace(moved)


def test_view_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["view", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--port" in out and "--no-browser" in out


def test_view_cli_end_to_end(synthetic_results, tmp_path):
    """`difffit view` in a fresh process: prints the URL, serves with the token, stops on Ctrl+C."""
    from difffit.viewer import molstar_available

    results = copy_results(synthetic_results, tmp_path / "results")
    if not molstar_available():
        code = main(["view", str(results), "--no-browser", "--port", "0"])
        assert code == 2  # a one-line error that says to run scripts/build-viewer
        pytest.skip("the viewer's Mol* bundle is not built: run scripts/build-viewer")
    # without a display the command opens no browser (nor a text browser in the terminal)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    # Ctrl+C is SIGINT with its default action: a shell script that ignores SIGINT (trap '' INT)
    # passes the ignore on to its children, and Python then never raises KeyboardInterrupt.
    proc = subprocess.Popen(
        [sys.executable, "-m", "difffit", "view", str(results), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        url = None
        deadline = time.time() + 60
        while url is None and time.time() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if "?token=" in line:
                url = line.strip()
        assert url and url.startswith("http://127.0.0.1:"), (
            proc.stderr.read() if proc.poll() is not None else url
        )
        parts = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        conn.request("GET", f"/?{parts.query}")
        r = conn.getresponse()
        assert r.status == 200 and b"molstar.js" in r.read()
        conn.request("GET", "/")
        r = conn.getresponse()
        r.read()
        assert r.status == 403
        conn.close()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "no display here" in err


def test_view_cli_errors(tmp_path, capsys):
    assert main(["view", str(tmp_path / "none"), "--no-browser"]) == 2
    assert "error" in capsys.readouterr().err
    assert main(["view", str(tmp_path), "--no-browser", "--port", "70000"]) == 2


def test_nothing_left_running():
    """(a guard) the tests above leave no viewer thread behind."""
    import threading

    assert not [
        t for t in threading.enumerate() if t.name.startswith("difffit-view") and t.is_alive()
    ]
