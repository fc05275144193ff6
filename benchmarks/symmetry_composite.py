"""Compositing and fitting with the map's symmetry on real maps (issue 12), all in one run.

* **HCN4** (EMD-0093 ``MAP_m4A.mrc.gz``, 6GYN chain A, 3.4 Å): ``composite --symmetry auto``
  (one round: a copy and its three C4 mates) against the rigid runs of today, in the same
  process: ``--copies 4 --max-per-round 1`` (four rounds, one copy each) and ``--copies 4``
  (the default bar). CA RMSD of every copy to its deposited chain (one-to-one, no
  superposition; :func:`composite_cases.evaluate`), wall time and the time ratio.
* **GroEL** (EMD-1997 ``1997.map``, 1OEL chain A, 7 Å): ``composite --symmetry auto`` builds 14
  copies: clashing atom pairs between copies, each copy's cam and correlation relative to the
  best, the CA RMSD of each copy to the nearest image of copy 1 under the detected D7 operators,
  and each of the 7 chains of 1oel.pdb fitted alone (``difffit fit``, the best cluster) against
  its nearest copy (CA RMSD).
* **GroEL fit table**: ``fit`` of chain A with and without ``--symmetry auto`` (same seed):
  the rows within 5 % of the best cam, and the copies of the first row.

    .venv/bin/python benchmarks/symmetry_composite.py [--out DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import difffit
from composite_cases import clashing_pairs, evaluate, trace
from difffit.cli import main as cli
from difffit.io.composite import read_placements
from difffit.io.results import load_results
from difffit.symmetry.apply import MapSymmetry

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
HCN4 = DATA / "mainmastseg_emd0093_hcn4"
GROEL = DATA / "powerfit_emd1997_groel"


def run(args: list[str]) -> float:
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        rc = cli(args)
    if rc:
        raise SystemExit(f"difffit {' '.join(args)} failed ({rc})")
    return time.perf_counter() - t0


def hcn4(out: Path) -> dict:
    model = difffit.read_structure(HCN4 / "6gyn.pdb")
    base = ["composite", str(HCN4 / "MAP_m4A.mrc.gz"), f"{HCN4 / '6gyn.pdb'}:A",
            "--resolution", "3.4", "--seed", "1", "-q", "--restart"]  # fmt: skip
    runs = {
        "symmetry": ["--symmetry", "auto"],
        "four_rounds": ["--copies", "4", "--max-per-round", "1"],
        "copies4": ["--copies", "4"],
    }
    res = {}
    for name, extra in runs.items():
        folder = out / f"hcn4_{name}"
        secs = run([*base, "--out", str(folder), *extra])
        man = json.loads((folder / "composite.json").read_text())
        ev = evaluate(model, {"6gyn_A": model.select_chains(["A"])}, folder)
        res[name] = {
            "seconds": round(secs, 2),
            "rounds": man["rounds_done"],
            "round_seconds": [r["seconds"] for r in man["rounds"]],
            "placed": ev["placed"],
            "rmsd": [m["rmsd"] for m in ev["matches"]],
            "chains": [m["chain"] for m in ev["matches"]],
            "clashing_pairs": ev["clashing_pairs"],
            "symmetry": {k: v for k, v in (man.get("symmetry") or {}).items() if k != "operators"},
        }
    s = res["symmetry"]["seconds"]
    res["ratio_four_rounds_over_symmetry"] = round(res["four_rounds"]["seconds"] / s, 2)
    res["ratio_copies4_over_symmetry"] = round(res["copies4"]["seconds"] / s, 2)
    return res


def _ca(st: difffit.Structure, chain: str) -> dict:
    return trace(st, chain)


def groel(out: Path) -> dict:
    model = difffit.read_structure(GROEL / "1oel.pdb")
    chain_a = model.select_chains(["A"])
    folder = out / "groel_symmetry"
    secs = run(["composite", str(GROEL / "1997.map"), f"{GROEL / '1oel.pdb'}:A", "--resolution",
                "7", "--seed", "1", "-q", "--restart", "--symmetry", "auto", "--out", str(folder)])  # fmt: skip
    man = json.loads((folder / "composite.json").read_text())
    sym = MapSymmetry.from_dict(man["symmetry"])
    pl = read_placements(folder / "placements.csv")
    ca = _ca(chain_a, "A")
    keys = list(ca)
    a = np.array([ca[k] for k in keys])
    copies = [p.transform.apply(a) for p in pl]
    all_xyz = [p.transform.apply(chain_a.coords_xyz) for p in pl]
    # clashes: heavy atoms of two copies within 2 Å
    pairs = clashing_pairs([p.label for p in pl], all_xyz)
    # the deposited 1oel's own contacts between its chains (for scale)
    dep_chains = list(model.chains)
    dep_xyz = [model.select_chains([c]).coords_xyz for c in dep_chains]
    dep_pairs = sum(n for *_, n in clashing_pairs(dep_chains, dep_xyz))
    cams = np.array([p.cam for p in pl])
    corrs = np.array([p.correlation for p in pl])
    # copies vs the operators: each copy against the nearest image of copy 1
    images = [g.compose(pl[0].transform).apply(a) for g in sym.operators]
    op_rmsd = []
    for c in copies:
        r = [float(np.sqrt(((c - im) ** 2).sum(1).mean())) for im in images]
        op_rmsd.append(round(min(r), 3))
    # each chain of 1oel fitted alone (today's fit), against the nearest copy
    chain_rmsd = {}
    for c in dep_chains:
        fdir = out / f"groel_fit_{c}"
        run(["fit", str(GROEL / "1997.map"), f"{GROEL / '1oel.pdb'}:{c}", "--resolution", "7",
             "--seed", "1", "-q", "--overwrite", "--models", "0", "--out", str(fdir)])  # fmt: skip
        best = load_results(fdir).clusters[0]
        st = model.select_chains([c])
        cc = _ca(st, c)
        common = [k for k in keys if k in cc]
        fitted = best.transform.apply(np.array([cc[k] for k in common]))
        idx = [keys.index(k) for k in common]
        r = [float(np.sqrt(((cp[idx] - fitted) ** 2).sum(1).mean())) for cp in copies]
        chain_rmsd[c] = {"nearest_copy": pl[int(np.argmin(r))].label, "rmsd": round(min(r), 3)}
    return {
        "seconds": round(secs, 2),
        "rounds": man["rounds_done"],
        "placed": len(pl),
        "symmetry": {k: v for k, v in man["symmetry"].items() if k != "operators"},
        "clashing_pairs": pairs,
        "max_clashing_atoms": max((n for *_, n in pairs), default=0),
        "deposited_1oel_atoms_within_2A_between_chains": dep_pairs,
        "cam_min_over_max": round(float(cams.min() / cams.max()), 4),
        "correlation_min_over_max": round(float(corrs.min() / corrs.max()), 4),
        "cam": [round(float(v), 4) for v in cams],
        "rmsd_to_operator_image_of_copy1": op_rmsd,
        "chains_fitted_alone": chain_rmsd,
    }


def groel_table(out: Path) -> dict:
    res = {}
    for name, extra in (("none", []), ("symmetry", ["--symmetry", "auto"])):
        fdir = out / f"groel_table_{name}"
        secs = run(["fit", str(GROEL / "1997.map"), f"{GROEL / '1oel.pdb'}:A", "--resolution", "7",
                    "--seed", "1", "-q", "--overwrite", "--out", str(fdir), *extra])  # fmt: skip
        r = load_results(fdir)
        best = r.clusters[0].cam
        near = [c for c in r.clusters if c.cam >= 0.95 * best]
        res[name] = {"seconds": round(secs, 2), "clusters": len(r.clusters),
                     "rows_within_5pct_of_best_cam": len(near),
                     "first_row_copies": r.clusters[0].copies,
                     "first_row_cam": round(best, 4),
                     "convincing": sum(c.verdict == "convincing" for c in r.clusters)}  # fmt: skip
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/difffit_symmetry_composite"))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--cases", default="hcn4,groel,table")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    res = {}
    todo = a.cases.split(",")
    if "hcn4" in todo:
        res["hcn4"] = hcn4(a.out)
        print(json.dumps(res["hcn4"], indent=1), flush=True)
    if "groel" in todo:
        res["groel"] = groel(a.out)
        print(json.dumps(res["groel"], indent=1), flush=True)
    if "table" in todo:
        res["groel_table"] = groel_table(a.out)
        print(json.dumps(res["groel_table"], indent=1), flush=True)
    if a.json:
        a.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
