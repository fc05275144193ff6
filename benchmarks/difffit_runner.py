"""Run one ``difffit.fit`` in this (fresh) process and print its timings and top clusters as JSON.

Used by ``run_benchmark.py`` and ``scaling.py`` in a subprocess per run, so that wall time and
peak memory are those of one clean run. Times reported separately:

``import_s``   importing difffit (torch, numba, …) — paid once per process, not per fit
``read_s``     reading the map and the model files
``fit_s``      ``difffit.fit`` end to end in-process: map preparation + search + metrics +
               clustering + refinement (the figure of the ≤ 2 s target)

Usage: ``python benchmarks/difffit_runner.py MAP MODEL [--resolution R] [--seed S]
[--threads N] [--device D] [--config JSON] [--json OUT]``
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("map")
    p.add_argument("model")
    p.add_argument("--resolution", type=float)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int)
    p.add_argument("--device", default="cpu")
    p.add_argument("--chains", help="comma-separated chains to read (default all)")
    p.add_argument(
        "--config", help="FitConfig as JSON (sections prep/search/...; default: defaults)"
    )
    p.add_argument("--top", type=int, default=10, help="clusters written to the JSON")
    p.add_argument("--json", help="write the JSON here (default: stdout)")
    a = p.parse_args(argv)

    import difffit

    t_import = time.perf_counter() - _T0
    t0 = time.perf_counter()
    density = difffit.read_map(a.map)
    chains = a.chains.split(",") if a.chains else None
    structure = difffit.read_structure(a.model, chains=chains)
    t_read = time.perf_counter() - t0

    cfg = difffit.FitConfig.from_dict(json.loads(a.config)) if a.config else difffit.FitConfig()
    if a.resolution is not None:
        cfg = cfg.replace(quality=cfg.quality.replace(resolution=a.resolution))
    t0 = time.perf_counter()
    result = difffit.fit(
        density, structure, config=cfg, device=a.device, seed=a.seed, threads=a.threads
    )
    t_fit = time.perf_counter() - t0

    info = result.info
    out = {
        "tool": "difffit",
        "difffit_version": difffit.__version__,
        "map": a.map,
        "model": a.model,
        "n_atoms": len(structure),
        "map_shape_zyx": list(density.shape_zyx),
        "timings": {
            "import_s": t_import,
            "read_s": t_read,
            "fit_s": t_fit,
            "total_s": t_read + t_fit,
        },
        "fit_timings_s": info.get("timings_s", {}),
        "samples": info.get("samples"),
        "samples_per_second": info.get("samples_per_second"),
        "n_placements": info.get("n_placements"),
        "threads": info.get("threads"),
        "device": info.get("device"),
        "level": result.level,
        "resolution": result.resolution,
        "seed": result.seed,
        "config": cfg.to_dict(),
        "clusters": [
            {
                "rank": c.rank,
                "hits": c.hits,
                "correlation": c.correlation,
                "cam": c.cam,
                "overlap": c.overlap,
                "density": c.density,
                "inside": c.inside,
                "refined": c.refined,
                "matrix_3x4": [float(x) for x in c.transform.to_matrix_3x4().reshape(-1)],
            }
            for c in result.clusters[: a.top]
        ],
    }
    text = json.dumps(out, indent=1)
    if a.json:
        with open(a.json, "w") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
