"""7PBL from its sequence-unique chains: rigid vs ``composite --flexible``, in one run.

The case ``7pbl-unique`` of ``benchmarks/composite_cases.py`` (7PBL simulated at 6 Å, voxel
2 Å, noise 0.05, seed 1; composited from chains D ×5, C, G, U, V with ``difffit composite``,
seed 1, rule dominant) in four variants:

* ``rigid, --defer-small 0``: the rigid run without the small-piece deferral (the behaviour
  before it);
* ``rigid``: the rigid run (small pieces deferred while large structures are being placed);
* ``flexible, --defer-small 0`` and ``flexible``: the same with ``--flexible``.

For each: the CA RMSD of every placed copy to its deposited chain (one-to-one match, no
superposition; refined models from ``flexible_residues.csv``), the chains within 2 Å, wall
and CPU time, clashing pairs of placed copies (heavy atoms within 2 Å), and for every refined
copy its geometry against the input's (CA–CA and C–N outliers, heavy-atom pairs < 2.2 Å).

    .venv/bin/python benchmarks/composite_flexible.py [--out DIR] [--only rigid,flexible]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.composite_cases import cases, run_case
from difffit.io.composite import read_refined

VARIANTS = {
    "rigid-nodefer": ["--defer-small", "0"],
    "rigid": [],
    "flexible-nodefer": ["--flexible", "--defer-small", "0"],
    "flexible": ["--flexible"],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/difffit_composite_flexible"))
    ap.add_argument("--only", default=",".join(VARIANTS), help="variants, comma-separated")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    spec = cases(args.out)["7pbl-unique"]
    results = {}
    for name in args.only.split(","):
        folder = args.out / f"7pbl-unique_{name}"
        if folder.exists():
            shutil.rmtree(folder)
        res = run_case("7pbl-unique", spec, folder, "dominant", VARIANTS[name])
        refined = read_refined(folder)
        res["geometry"] = {
            label: {
                "ca_ca": [rc.geometry_input.ca_ca_outliers, rc.geometry_after.ca_ca_outliers,
                          rc.geometry_after.n_ca_ca],
                "peptide": [rc.geometry_input.peptide_outliers, rc.geometry_after.peptide_outliers,
                            rc.geometry_after.n_peptide],
                "clashes": [rc.geometry_input.clashes, rc.geometry_after.clashes],
                "cam": [round(rc.cam_before, 3), round(rc.cam_after, 3)],
                "ok": rc.geometry_ok(),
            }
            for label, rc in refined.items()
        }  # fmt: skip
        results[name] = res
        ok2 = sum(m["rmsd"] <= 2.0 for m in res["matches"])
        print(f"== {name}: {ok2}/9 chains within 2 Å; {res['placed']} placed in {res['rounds']} "
              f"rounds; {res['seconds']} s wall, {res['cpu_seconds']} s CPU; clashing pairs "
              f"{len(res['clashing_pairs'])} (max {max([c[2] for c in res['clashing_pairs']] or [0])} "
              f"atoms); stop: {res['stop_reason']}")  # fmt: skip
        for m in sorted(res["matches"], key=lambda m: m["chain"]):
            g = res["geometry"].get(m["placement"])
            geo = ""
            if g:
                geo = (f"  refined: cam {g['cam'][0]} -> {g['cam'][1]}; CA-CA outliers "
                       f"{g['ca_ca'][0]} -> {g['ca_ca'][1]} of {g['ca_ca'][2]}, C-N "
                       f"{g['peptide'][0]} -> {g['peptide'][1]} of {g['peptide'][2]}, clashes "
                       f"{g['clashes'][0]} -> {g['clashes'][1]}")  # fmt: skip
            print(f"   chain {m['chain']} <- {m['placement']:<13} CA RMSD {m['rmsd']:6.2f} Å "
                  f"(rigid floor {m['floor']:.2f}){geo}")  # fmt: skip
        sys.stdout.flush()
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
