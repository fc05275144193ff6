"""Scenario 3 on real data: screen a DomainFit density against its 3 candidate domains plus every
chain of the large complexes in ../shared/data/large_complexes (split with difffit.split).

    python benchmarks/screen_domainfit_demo.py --out bench-out/screen_d2 --workers 2
    python benchmarks/screen_domainfit_demo.py --out bench-out/screen_d2_dask --dask 2 \\
        --compare bench-out/screen_d2
    python benchmarks/screen_domainfit_demo.py --map density1.mrc --out bench-out/screen_d1 --workers 2

Writes the usual screen folder plus ``benchmark.json`` (throughput in candidates per minute,
median candidate size, projection to a 359-candidate library, load average of the machine before
and after: timings taken while other work shares the cores are not comparable). With
``--compare DIR`` it checks that the ranking equals the one in DIR/candidates.csv.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DIFFFIT_DATA", ROOT.parent / "shared" / "data"))


def build_decoys(folder: Path) -> Path:
    """Every chain of every large complex, one file each (difffit's own splitting); a folder
    that holds structure files already (e.g. made with ``difffit split``) is used as it is."""
    from difffit.io import read_structure, write_structure
    from difffit.screen.library import is_structure_file
    from difffit.split import split_chains

    if folder.is_dir() and any(is_structure_file(q) for q in folder.rglob("*")):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for f in sorted((DATA / "large_complexes").glob("*.gz")):
        st = read_structure(f)
        for part in split_chains(st):
            path = folder / f"{part.name}.cif"
            if not path.exists():
                write_structure(part, path)
    return folder


def ranking(folder: Path) -> list[tuple[str, str, str]]:
    with (folder / "candidates.csv").open(newline="") as fh:
        return [(r["rank"], r["structure"], r["score"]) for r in csv.DictReader(fh) if r["rank"]]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--map", default="density2.mrc", help="a map of difffit_domainfit_demo")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--decoys", type=Path, help="folder of decoy chains (default OUT/../decoys)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--dask", type=int, metavar="N", help="run on a LocalCluster of N workers")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--resolution", type=float, default=5.0)
    p.add_argument("--compare", type=Path, help="a screen folder whose ranking must be equal")
    args = p.parse_args(argv)

    from difffit import QualityConfig, read_map
    from difffit.config import default_screen_fit_config
    from difffit.screen import ScreenConfig, find_library, screen, write_screen_report

    demo = DATA / "difffit_domainfit_demo"
    decoys = build_decoys(args.decoys or args.out.parent / "decoys")
    library, _ = find_library([demo / "subunits_cif", decoys])
    fit = default_screen_fit_config()
    config = ScreenConfig(fit=fit.replace(quality=QualityConfig(resolution=args.resolution)))
    density = read_map(demo / args.map)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    if args.dask:
        import distributed

        with distributed.LocalCluster(n_workers=args.dask, threads_per_worker=1,
                                      processes=True, dashboard_address=None) as cluster:  # fmt: skip
            result = screen(density, library, out=args.out, config=config, seed=args.seed,
                            scheduler=cluster.scheduler_address)  # fmt: skip
        executor = f"dask LocalCluster({args.dask} workers x 1 thread)"
    else:
        result = screen(density, library, out=args.out, config=config, seed=args.seed,
                        workers=args.workers)  # fmt: skip
        executor = result.info["executor"]
    wall = time.perf_counter() - t0
    write_screen_report(result, args.out, map_path=demo / args.map)
    fitted = [c.record for c in result.ranked]
    info = result.info
    per_min = info["candidates_per_minute"]
    bench = {
        "map": args.map,
        "executor": executor,
        "cpu_count": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "counts": result.counts,
        "wall_s": round(wall, 1),
        "candidates_per_minute": per_min,
        "median_residues": info["median_residues"],
        "median_atoms": float(sorted(r.n_atoms for r in fitted)[len(fitted) // 2])
        if fitted
        else None,
        "median_fit_s": info["median_fit_s"],
        "median_cpu_s": info["median_cpu_s"],
        # what the cores could do alone: every core busy with one fit at a time
        "cpu_bound_candidates_per_minute": (
            round(60.0 * os.cpu_count() / info["median_cpu_s"], 1) if info["median_cpu_s"] else None
        ),
        "projected_359_candidates_min": round(359 / per_min, 1) if per_min else None,
        "top": [(c.rank, c.record.name, round(c.record.score, 4), c.q) for c in result.ranked[:5]],
        "significant": [c.record.name for c in result.significant],
    }
    (args.out / "benchmark.json").write_text(json.dumps(bench, indent=1) + "\n")
    print(result.summary_table(8))
    print(json.dumps({k: v for k, v in bench.items() if k != "top"}, indent=1))
    if args.compare:
        same = ranking(args.out) == ranking(args.compare)
        print(f"ranking equal to {args.compare}: {same}")
        return 0 if same else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
