"""Q-score speed and agreement (issue #14): the deposited models of the dev cases, timed.

    python benchmarks/qscore.py [--reps 3]

Prints, for each model, atoms, residues, the model's Q-score, and the median time of
``difffit.fitting.qscore.q_scores`` over ``--reps`` runs (the first, compiling run excluded),
and the largest difference to the brute-force reference on a sample of atoms. The target: a
2,000-residue model (HCN4 6GYN, 4 x 504 residues) in <= 5 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("DIFFFIT_DATA", ROOT.parent / "shared" / "data"))

CASES = [
    ("haemoglobin 5ME2 / EMD-3488", "ccpem_emd3488_haemoglobin/emd_3488.mrc",
     "ccpem_emd3488_haemoglobin/5me2.pdb"),
    ("HCN4 6GYN / EMD-0093 (220^3)", "mainmastseg_emd0093_hcn4/MAP_m4A.mrc.gz",
     "mainmastseg_emd0093_hcn4/6gyn.pdb"),
]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--check-atoms", type=int, default=40, help="atoms checked by brute force")
    args = ap.parse_args(argv)
    from tests.qscore_reference import brute_force_q

    import difffit
    from difffit.fitting.qscore import q_scores
    from difffit.kernels import set_num_threads

    threads = set_num_threads(None)
    print(f"threads {threads}, load average {os.getloadavg()[0]:.2f}")
    print(f"{'model':<30} {'atoms':>6} {'res':>5} {'Q':>6} {'median s':>9} {'max |dQ|':>9}")
    for title, map_rel, model_rel in CASES:
        m = difffit.read_map(DATA / map_rel)
        s = difffit.read_structure(DATA / model_rel)
        res = np.unique(np.array([hash(k) for k in s.residue_keys()]), return_inverse=True)[1]
        q_scores(m, s.coords_xyz[:50])  # compile / load the kernel
        times = []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            q = q_scores(m, s.coords_xyz, residue_index=res)
            times.append(time.perf_counter() - t0)
        pick = np.linspace(0, len(s) - 1, args.check_atoms).round().astype(int)
        ref = brute_force_q(m, s.coords_xyz, atoms=pick)
        dq = float(np.nanmax(np.abs(q.atom[pick] - ref)))
        print(f"{title:<30} {len(s):>6} {s.n_residues:>5} {q.mean:6.3f} "
              f"{statistics.median(times):9.2f} {dq:9.1e}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
