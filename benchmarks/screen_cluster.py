"""A real Dask deployment against local worker processes, in one run (issue 15).

Starts ``dask scheduler`` and ``--dask-workers`` ``dask worker --nthreads 1`` processes as
separate commands on this machine (a real deployment, not a LocalCluster in this process),
then screens the same library against density2 with ``--workers N`` and with
``--scheduler tcp://…``, alternately (local, cluster, local, cluster, … each into a fresh
folder), through the ``difffit screen`` command::

    python benchmarks/screen_cluster.py --out bench-out/cluster --repeats 2

Library: the 3 DomainFit demo domains, the AlphaFold decoys of
``domainfit_tardigrade_decoys`` and the split chains of ``large_complexes`` (the throughput
benchmark's 472 candidates), ``--strategy hierarchical`` by default. Prints each run's
candidates/min, the medians, the cluster's throughput as a fraction of the local one, and
whether every run's ranking (rank, file, statistic of ``candidates.csv``) is the same.
Writes ``cluster.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DIFFFIT_DATA", ROOT.parent / "shared" / "data"))
sys.path.insert(0, str(ROOT))
from tests.golden.cases import split_library  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_cluster(n_workers: int, env: dict, log_dir: Path) -> tuple[str, list[subprocess.Popen]]:
    """``dask scheduler`` and ``n_workers`` ``dask worker`` processes, each its own command."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = str(Path(sys.executable).parent / "dask")  # the environment's own `dask` command
    procs = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            env=env, stdout=(log_dir / "scheduler.log").open("w"), stderr=subprocess.STDOUT,
        )
    ]  # fmt: skip
    worker = [dask, "worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard"]
    for k in range(n_workers):
        log = (log_dir / f"worker{k}.log").open("w")
        procs.append(subprocess.Popen(worker, env=env, stdout=log, stderr=subprocess.STDOUT))
    from distributed import Client

    with Client(address, timeout="60s") as client:
        client.wait_for_workers(n_workers, timeout=120)
    return address, procs


def stop(procs: list[subprocess.Popen]) -> None:
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()


def ranking(out: Path) -> list[tuple[str, str, str]]:
    with (out / "candidates.csv").open(newline="") as fh:
        return [(r["rank"], r["sha256"], r["norm_score"]) for r in csv.DictReader(fh) if r["rank"]]


def run_screen(where: list[str], out: Path, inputs: list[str], args, env: dict) -> dict:
    if out.exists():
        shutil.rmtree(out)
    cmd = [sys.executable, "-m", "difffit", "screen",
           str(DATA / "difffit_domainfit_demo" / "density2.mrc"), *inputs, "--out", str(out),
           "--strategy", args.strategy, "--seed", "1", "--resolution", "5", "--no-plot",
           "--models", "0", "-q", *where]  # fmt: skip
    load = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    n = len(list(csv.DictReader((out / "candidates.csv").open(newline=""))))
    return {
        "where": " ".join(where),
        "wall_s": round(wall, 1),
        "candidates": n,
        "candidates_per_minute": round(60.0 * n / wall, 1),
        "load_average_before": load,
        "load_average_after": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--workers", type=int, default=2, help="local processes, and Dask workers")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--strategy", default="hierarchical", choices=("full", "hierarchical"))
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    import numpy as np

    demo = DATA / "difffit_domainfit_demo"
    chains = split_library(args.out / "library_chains")
    inputs = [str(demo / "subunits_cif"), str(DATA / "domainfit_tardigrade_decoys"), str(chains)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PYTHONHASHSEED": "0"}
    address, procs = start_cluster(args.workers, env, args.out)
    runs: list[dict] = []
    rankings: dict[str, list] = {}
    try:
        # a first cluster run warms the workers' imports and compiled kernels, as the
        # local pool's start is warm from the disk cache; it is not timed
        run_screen(["--scheduler", address], args.out / "warm", inputs, args, env)
        for k in range(args.repeats):
            for kind, where in (("local", ["--workers", str(args.workers)]),
                                ("dask", ["--scheduler", address])):  # fmt: skip
                out = args.out / f"{kind}_{k + 1}"
                r = run_screen(where, out, inputs, args, env)
                r["kind"] = kind
                runs.append(r)
                rankings[out.name] = ranking(out)
                print(f"{kind:>5} run {k + 1}: {r['candidates']} candidates in {r['wall_s']} s = "
                      f"{r['candidates_per_minute']} candidates/min (load "
                      f"{r['load_average_before'][0]:.2f} -> {r['load_average_after'][0]:.2f})",
                      flush=True)  # fmt: skip
    finally:
        stop(procs)

    def med(kind: str) -> float:
        return float(np.median([r["candidates_per_minute"] for r in runs if r["kind"] == kind]))

    first = next(iter(rankings.values()))
    summary = {
        "cpu_count": os.cpu_count(),
        "workers": args.workers,
        "strategy": args.strategy,
        "runs": runs,
        "median_candidates_per_minute": {"local": med("local"), "dask": med("dask")},
        "dask_fraction_of_local": round(med("dask") / med("local"), 3),
        "pairs": [
            round(d["candidates_per_minute"] / lo["candidates_per_minute"], 3)
            for lo, d in zip(runs[::2], runs[1::2], strict=True)
        ],
        "same_ranking_every_run": all(r == first for r in rankings.values()),
    }
    (args.out / "cluster.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
