"""Viewer under load (issue #13): latency of 2,000 requests from 50 concurrent clients, and
the server's answer while 300 idle connections are open, all on 127.0.0.1.

    python benchmarks/viewer_load.py [--requests 2000] [--clients 50] [--idle 300]

Serves a small synthetic results folder (made on the fly). Prints p50/p95/p99/max latency,
the latency of one request with the idle connections open, and how long until the server has
closed them (its socket timeout). Bounded: every loop has a fixed count and a deadline.
"""

from __future__ import annotations

import argparse
import http.client
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--idle", type=int, default=300)
    args = ap.parse_args(argv)
    import numpy as np
    from tests.synthetic import planted_case, protein_like
    from tests.viewer.conftest import make_results, small_config

    import difffit
    from difffit.viewer import ViewerServer, Workspace

    tmp = Path(tempfile.mkdtemp())
    rng = np.random.default_rng(7)
    st = protein_like(50, rng, name="toy")
    density, _ = planted_case(st, rng, resolution=5.0)
    map_path = difffit.write_map(density, tmp / "toy.mrc")
    st = difffit.read_structure(difffit.write_structure(st, tmp / "toy.pdb"))
    results = make_results(tmp / "results", map_path, [st], small_config(5.0, n_rotations=12,
                                                                        n_positions=4))  # fmt: skip
    ws = Workspace(results)
    server = ViewerServer(ws).start()
    port, token = server.port, server.token
    paths = [f"/api/session?token={token}", f"/api/clusters?round=0&token={token}",
             f"/static/app.css?token={token}"]  # fmt: skip
    per_client = args.requests // args.clients
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        for i in range(per_client):
            t0 = time.perf_counter()
            conn.request("GET", paths[(k + i) % len(paths)], headers={"Host": f"127.0.0.1:{port}"})
            r = conn.getresponse()
            r.read()
            mine.append(time.perf_counter() - t0)
            if r.status != 200:
                with lock:
                    errors[0] += 1
        conn.close()
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    wall = time.perf_counter() - t0
    q = statistics.quantiles(lat, n=100)
    print(f"{len(lat)} requests, {args.clients} concurrent, {wall:.2f} s, {errors[0]} non-200")
    print(f"latency ms: p50 {q[49] * 1e3:.1f}  p95 {q[94] * 1e3:.1f}  p99 {q[98] * 1e3:.1f}  "
          f"max {max(lat) * 1e3:.1f}")  # fmt: skip

    idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(args.idle)]
    time.sleep(0.5)
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", paths[0], headers={"Host": f"127.0.0.1:{port}"})
    status = conn.getresponse().status
    one = time.perf_counter() - t0
    conn.close()
    print(
        f"with {args.idle} idle connections open: one request {one * 1e3:.1f} ms (status {status})"
    )
    t0 = time.perf_counter()
    open_ = list(idle)
    deadline = t0 + 60
    while open_ and time.perf_counter() < deadline:
        still = []
        for s in open_:
            s.settimeout(0.01)
            try:
                if s.recv(1) != b"":
                    still.append(s)
            except TimeoutError:
                still.append(s)
            except OSError:
                pass
        open_ = still
        time.sleep(0.2)
    print(f"idle connections closed by the server after {time.perf_counter() - t0:.1f} s "
          f"({len(open_)} still open)")  # fmt: skip
    for s in idle:
        s.close()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
