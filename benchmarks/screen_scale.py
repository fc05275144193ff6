"""Scale of the hierarchical screen (issue 15): a tar shard of N candidates, memory, SIGKILL.

Builds ``shard_N.tar`` (``.pdb.gz`` members, as an AlphaFold DB proteome shard): the DomainFit
demo domains, the AlphaFold decoys of ``domainfit_tardigrade_decoys`` and the split chains of
``large_complexes`` (when ``--chains`` names their folder), each copy under its own seeded
random rigid transform (every member is a distinct candidate), then screens it against density2
with ``difffit screen --strategy hierarchical`` as a separate process and reports::

    python benchmarks/screen_scale.py --out bench-out/scale --sizes 1000 10000 --workers 2
    python benchmarks/screen_scale.py --out bench-out/scale --sizes 1000 --kill

* candidates/min (the whole library over the whole run) and the estimated time for 20,000;
* the peak resident memory (``VmHWM``) of the main process and of each worker process;
* with ``--kill``: the same screen SIGKILLed at a seeded random point, run again to resume,
  and its final ranking compared with the uninterrupted run's (identical is the expectation).

Writes ``scale.json``. Timings on a machine shared with other work are not comparable; the
load average before and after each run is recorded.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DIFFFIT_DATA", ROOT.parent / "shared" / "data"))


def sources(chains: Path | None) -> list[Path]:
    demo = DATA / "difffit_domainfit_demo" / "subunits_cif"
    files = sorted(demo.glob("*.pdb")) + sorted((DATA / "domainfit_tardigrade_decoys").glob("*.gz"))
    if chains is not None:
        files += sorted(chains.glob("*.cif"))
    return files


def build_shard(path: Path, n: int, files: list[Path], seed: int) -> Path:
    """``n`` members: the source files in turn, each copy under a random rigid transform."""
    import gzip

    from difffit.geometry import RigidTransform
    from difffit.io import read_structure
    from difffit.io.structures import transformed_model

    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    parsed = {}
    tmp = path.with_suffix(".part")
    with tarfile.open(tmp, "w") as tf:
        for i in range(n):
            src = files[i % len(files)]
            if src not in parsed:
                parsed[src] = read_structure(src)
            st = parsed[src]
            q = rng.normal(size=4)
            q /= np.linalg.norm(q)
            t = rng.uniform(-50, 50, 3)
            model = transformed_model(st, RigidTransform.from_quat(q, t))
            if ".cif" in src.name:
                text, ext = model.make_mmcif_document().as_string(), "cif"
            else:
                text, ext = model.make_pdb_string(), "pdb"
            data = gzip.compress(text.encode(), mtime=0)
            info = tarfile.TarInfo(f"AF-{st.name}-copy{i:05d}-model_v4.{ext}.gz")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    tmp.rename(path)
    return path


def _hwm_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


def run_screen(shard: Path, out: Path, args, *, kill_after_s: float | None = None) -> dict:
    """One ``difffit screen`` process; peak memory of it and its workers, sampled every 0.5 s."""
    cmd = [sys.executable, "-m", "difffit", "screen",
           str(DATA / "difffit_domainfit_demo" / "density2.mrc"), str(shard), "--out", str(out),
           "--strategy", "hierarchical", "--workers", str(args.workers), "--seed", "1",
           "--resolution", "5", "--no-plot", "--models", "0", "-q"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    load = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    main_kb, workers_kb = 0, {}
    killed = False
    while proc.poll() is None:
        main_kb = max(main_kb, _hwm_kb(proc.pid))
        for c in _children(proc.pid):
            workers_kb[c] = max(workers_kb.get(c, 0), _hwm_kb(c))
        if kill_after_s is not None and time.perf_counter() - t0 > kill_after_s:
            proc.send_signal(signal.SIGKILL)
            killed = True
            proc.wait()
            break
        time.sleep(0.5)
    output = proc.stdout.read().decode() if proc.stdout else ""
    wall = time.perf_counter() - t0
    return {
        "wall_s": round(wall, 1),
        "returncode": proc.returncode,
        "killed": killed,
        "peak_rss_main_MB": round(main_kb / 1024, 1),
        "peak_rss_workers_MB": sorted(round(v / 1024, 1) for v in workers_kb.values() if v),
        "load_average_before": load,
        "load_average_after": os.getloadavg(),
        "tail": output.strip().splitlines()[-6:],
    }


def ranking(out: Path) -> list[tuple[str, str]]:
    with (out / "candidates.csv").open(newline="") as fh:
        return [(r["rank"], r["sha256"]) for r in csv.DictReader(fh) if r["rank"]]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--chains", type=Path, help="folder of split chains (.cif) to include")
    p.add_argument("--kill", action="store_true", help="also SIGKILL + resume at the first size")
    p.add_argument("--seed", type=int, default=11)
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    files = sources(args.chains)
    report: dict = {"cpu_count": os.cpu_count(), "workers": args.workers, "sources": len(files),
                    "runs": {}}  # fmt: skip
    for n in args.sizes:
        t0 = time.perf_counter()
        shard = build_shard(args.out / f"shard_{n}.tar", n, files, args.seed)
        build_s = time.perf_counter() - t0
        out = args.out / f"screen_{n}"
        r = run_screen(shard, out, args)
        r["candidates"] = n
        r["shard_MB"] = round(shard.stat().st_size / 2**20, 1)
        r["shard_build_s"] = round(build_s, 1)
        r["candidates_per_minute"] = round(60.0 * n / r["wall_s"], 1)
        r["estimated_20000_h"] = round(20000 / r["candidates_per_minute"] / 60.0, 2)
        try:
            r["hierarchy"] = json.loads((out / "screen.json").read_text()).get("hierarchy")
        except OSError:
            pass
        report["runs"][str(n)] = r
        print(json.dumps({n: {k: v for k, v in r.items() if k != "tail"}}, indent=1), flush=True)
        if args.kill and n == args.sizes[0]:
            rng = np.random.default_rng(args.seed)
            at = float(rng.uniform(0.2, 0.8) * r["wall_s"])
            kout = args.out / f"killed_{n}"
            first = run_screen(shard, kout, args, kill_after_s=at)
            second = run_screen(shard, kout, args)
            same = ranking(kout) == ranking(out)
            report["kill"] = {"n": n, "killed_after_s": round(at, 1), "first": first,
                              "resumed": second, "identical_ranking": same}  # fmt: skip
            print(f"SIGKILL after {at:.1f} s, resumed: identical ranking {same}", flush=True)
    sizes = [str(n) for n in args.sizes]
    if len(sizes) > 1:
        a, b = report["runs"][sizes[0]], report["runs"][sizes[-1]]
        report["rss_growth_main"] = round(b["peak_rss_main_MB"] / a["peak_rss_main_MB"] - 1, 3)
        if a["peak_rss_workers_MB"] and b["peak_rss_workers_MB"]:
            report["rss_growth_workers"] = round(
                max(b["peak_rss_workers_MB"]) / max(a["peak_rss_workers_MB"]) - 1, 3
            )
    (args.out / "scale.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "runs"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
