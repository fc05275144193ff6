"""Hostile and careless requests against the viewer (issue #13): each probe here ended in a
500, a hang, a leaked thread or a file outside the folder before. All traffic goes to
127.0.0.1, bounded in count and time."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from difffit.errors import ResultsError
from difffit.io.folders import RunFolder
from difffit.viewer import ViewerServer, Workspace
from difffit.viewer import server as server_mod
from tests.viewer.conftest import copy_results
from tests.viewer.test_viewer_server import Client


@pytest.fixture
def served(synthetic_results, tmp_path, monkeypatch):
    monkeypatch.setattr(server_mod._Handler, "timeout", 1.0)
    ws = Workspace(copy_results(synthetic_results, tmp_path / "results"))
    server = ViewerServer(ws).start()
    try:
        yield ws, Client(server), server
    finally:
        ws.wait_jobs(timeout=300)
        server.shutdown()


def _status(client, method, path, **kw):
    return client.request(method, path, **kw)[0]


@pytest.mark.parametrize(
    "body",
    [b'{"round": 0, "rank": Infinity}', b'{"round": 0, "rank": 1e400}', b'{"rank": NaN}',
     b'{"round": 0, "rank": ' + b"9" * 5000 + b"}", b'{"rank": "\xff\xfe"}', b"\xff\xfe\xfd",
     b'{"round": -1, "rank": 1}', b'{"round": 0, "rank": 0}', b'{"round": 0, "rank": [1]}'],
)  # fmt: skip
def test_bad_json_fields_are_400(served, body):
    _, client, _ = served
    status, _, payload = client.request(
        "POST", "/api/save", body=body, headers={"X-DiffFit-Token": client.token}, token=False
    )
    assert status == 400, payload
    assert "error" in json.loads(payload)


@pytest.mark.parametrize(
    "body",
    [{"structures": ["x"], "n_rotations": 10**9, "n_positions": 10**9},
     {"structures": ["x"], "n_rotations": 10, "seed": -1},
     {"structures": ["x"], "n_positions": 0}],
)  # fmt: skip
def test_fit_again_bounds(served, body):
    _, client, _ = served
    status, payload = client.post("/api/fit", body)
    assert status == 400 and "error" in payload


@pytest.mark.parametrize(
    "path",
    [
        "/static/%00",
        "/static/a%00b.js",
        "/static/%ff%fe",
        "/static/..%2f..%2fREADME.md",
        "/static/\\..\\x",
    ],
)
def test_bad_static_paths_are_404(served, path):
    _, client, _ = served
    assert _status(client, "GET", path) == 404


@pytest.mark.parametrize("query", [{"round": "1e400"}, {"round": "9" * 5000}, {"round": "-3"}])
def test_bad_query_numbers_are_400(served, query):
    _, client, _ = served
    assert _status(client, "GET", "/api/clusters", query=query) == 400


def test_strict_host(served):
    _, client, server = served
    port = server.port
    for host in (f"[::1]junk:{port}", f"127.0.0.1:{port}x", "127.0.0.1:", "127.0.0.1:+80",
                 f"127.0.0.1:{port}:{port}", f"[::1:{port}"):  # fmt: skip
        assert _status(client, "GET", "/api/session", host=host) == 403, host
    assert _status(client, "GET", "/api/session", host=f"[::1]:{port}") == 200


def test_two_host_headers_are_refused(served):
    _, client, server = served
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(
            f"GET /api/session?token={client.token} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Host: evil.example\r\nConnection: close\r\n\r\n".encode()
        )
        reply = s.recv(200)
    assert reply.startswith(b"HTTP/1.1 403")


def test_short_body_does_not_hold_a_thread(served):
    _, client, server = served
    s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    s.sendall(
        f"POST /api/save HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nX-DiffFit-Token: "
        f"{client.token}\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n"
        '{"round"'.encode()
    )
    t0 = time.monotonic()
    s.settimeout(10)
    data = s.recv(100)  # the server gives up on the body after its socket timeout (1 s here)
    assert time.monotonic() - t0 < 8
    assert data == b"" or data.startswith(b"HTTP/1.1 4")
    s.close()


def test_idle_connections_neither_block_nor_linger(served):
    _, client, server = served
    before = threading.active_count()
    idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(60)]
    try:
        t0 = time.monotonic()
        assert _status(client, "GET", "/api/session") == 200
        assert time.monotonic() - t0 < 1.0
        time.sleep(2.5)  # socket timeout 1 s in this test
        closed = 0
        for s in idle:
            s.settimeout(2)
            try:
                closed += s.recv(1) == b""
            except (ConnectionResetError, TimeoutError):
                closed += 1
        assert closed == len(idle)
        deadline = time.monotonic() + 5
        while threading.active_count() > before + 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert threading.active_count() <= before + 2
    finally:
        for s in idle:
            s.close()


def test_connections_beyond_the_cap_get_503(served, monkeypatch):
    _, client, server = served
    monkeypatch.setattr(server.httpd, "_slots", threading.BoundedSemaphore(2))
    idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(2)]
    try:
        time.sleep(0.3)
        assert _status(client, "GET", "/api/session") == 503
    finally:
        for s in idle:
            s.close()


def test_paths_in_the_folder_json_stay_inside(synthetic_results, tmp_path):
    root = copy_results(synthetic_results, tmp_path / "results")
    ws = Workspace(root)
    rnd = ws.zero(0, 1)
    assert rnd
    man_path = root / "composite.json"
    man = json.loads(man_path.read_text())
    victim = tmp_path / "victim.mrc"
    victim.write_bytes(b"keep me")
    man["rounds"][-1]["working_map"] = str(victim)
    man_path.write_text(json.dumps(man))
    with pytest.raises(ResultsError, match="points outside the folder"):
        RunFolder.open(root).working_map_path()
    with pytest.raises(ResultsError, match="points outside the folder"):
        Workspace(root).undo()
    man["rounds"][-1]["working_map"] = "../victim.mrc"
    man["base_fit"] = "../../"
    man_path.write_text(json.dumps(man))
    with pytest.raises(ResultsError, match="points outside the folder"):
        RunFolder.open(root).working_map_path()
    assert victim.read_bytes() == b"keep me"
