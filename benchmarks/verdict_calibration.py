"""Calibration data for the fit verdict (issue #14): the top cluster's scores and their
standing in the run's own cluster distribution, on true fits and on decoys.

    python benchmarks/verdict_calibration.py --out bench-out/verdict.json [--decoys N]

True fits: the dev cases (benchmarks/cases.py) and both DomainFit demo domains into density2.
Decoys: I7LV70_D1 and the AlphaFold models of ../shared/data/domainfit_tardigrade_decoys into
density2 (none of them is that density). Each run is difffit.fit at the defaults (seed 1,
threads 1); the JSON keeps, per run, the top cluster's correlation, cam, hits, and the
Fisher-z of its correlation and of its cam against all clusters of the run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("DIFFFIT_DATA", ROOT.parent / "shared" / "data"))
DEMO = DATA / "difffit_domainfit_demo"


def _z(values: np.ndarray, i: int = 0) -> float:
    f = np.arctanh(np.clip(values, -0.999, 0.999))
    sd = f.std()
    return float((f[i] - f.mean()) / sd) if sd > 0 else float("nan")


def run_one(density, structure, resolution):
    import difffit

    cfg = difffit.FitConfig(quality=difffit.QualityConfig(resolution=resolution))
    r = difffit.fit(density, structure, config=cfg, seed=1, threads=1)
    corr = np.array([c.correlation for c in r.clusters])
    cam = np.array([c.cam for c in r.clusters])
    top = r.clusters[0]
    return {
        "correlation": top.correlation, "cam": top.cam, "hits": top.hits,
        "n_clusters": len(r.clusters), "z_correlation": _z(corr), "z_cam": _z(cam),
        "second_cam": float(np.sort(cam)[-2]) if len(cam) > 1 else float("nan"),
        "atoms": len(structure),
    }  # fmt: skip


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--decoys", type=int, default=0, help="at most N decoys (0 = all 340)")
    args = ap.parse_args(argv)
    import difffit
    from benchmarks.cases import CASES

    out = json.loads(args.out.read_text()) if args.out.exists() else {"true": {}, "decoy": {}}
    d2 = difffit.read_map(DEMO / "density2.mrc")
    todo = []
    for c in CASES:
        todo.append(("true", c.name, c.map_path, c.model_path, c.chains, c.resolution))
    riken = DATA / "riken_segmented_chains"
    for i in ("2513A", "5778", "5925", "6374", "6555"):
        todo.append(("true", f"riken/{i}", riken / "mrc_converted" / f"{i}.mrc",
                     riken / f"{i}_native.pdb", None, 4.0))  # fmt: skip
    spike = DATA / "ccpem_emd21457_spike_ntd"
    todo.append(
        ("true", "spike_ntd", spike / "emd_21457_seg.mrc", spike / "6vyb_Ndom.pdb", None, 3.2)
    )
    for n in ("I7MLV6_D3", "I7M317_D1"):
        todo.append(("true", f"density2/{n}", None, DEMO / "subunits_cif" / f"{n}.pdb", None, 4.0))
    todo.append(("decoy", "I7LV70_D1", None, DEMO / "subunits_cif" / "I7LV70_D1.pdb", None, 4.0))
    decoys = sorted((DATA / "domainfit_tardigrade_decoys").glob("*.pdb.gz"))
    if args.decoys:
        decoys = decoys[: args.decoys]
    todo += [("decoy", p.name.split(".")[0], None, p, None, 4.0) for p in decoys]
    t0 = time.perf_counter()
    for k, (kind, name, map_path, model, chains, res) in enumerate(todo):
        if name in out[kind]:
            continue
        density = difffit.read_map(map_path) if map_path else d2
        try:
            st = difffit.read_structure(model, chains=list(chains) if chains else None)
            out[kind][name] = run_one(density, st, res)
        except difffit.DiffFitError as exc:
            out[kind][name] = {"error": str(exc)}
        if k % 10 == 0 or kind == "true":
            print(f"{k + 1}/{len(todo)} {kind} {name} {out[kind][name]} ({time.perf_counter() - t0:.0f} s)",
                  flush=True)  # fmt: skip
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(out, indent=1))
    args.out.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
