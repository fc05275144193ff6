"""Time and check ``detect_symmetry`` on the real maps (issue #12).

For each map: the group found and the expected one, the smallest operator self-correlation and
the control's, and the wall and CPU seconds of the detection (after one warm-up run that
compiles the Numba kernels; the read time is not counted); then the helical rise and twist of
the actin filament. The target: <= 10 s for the 220^3
HCN4 map on 2 cores.

    .venv/bin/python benchmarks/symmetry.py [--data ../shared/data] [--threads 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import difffit
from difffit.kernels import set_num_threads
from difffit.symmetry import detect_helical, detect_symmetry

CASES = [
    ("mainmastseg_emd0093_hcn4/MAP_m4A.mrc.gz", "C4"),
    ("powerfit_emd1997_groel/1997.map", "D7"),
    ("ccpem_emd3488_haemoglobin/emd_3488.mrc", "C2"),
    ("difffit_domainfit_demo/density2.mrc", "C1"),
    ("ccpem_emd21457_spike_ntd/emd_21457_seg.mrc", "C1"),
    ("tempy_actin_emd5168/emd_5168.map", "C1"),
    ("riken_segmented_chains/mrc_converted/2513A.mrc", "C1"),
    ("riken_segmented_chains/mrc_converted/5778.mrc", "C1"),
    ("riken_segmented_chains/mrc_converted/5925.mrc", "C1"),
    ("riken_segmented_chains/mrc_converted/6374.mrc", "C1"),
    ("riken_segmented_chains/mrc_converted/6555.mrc", "C1"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="runs per map; the best is printed")
    ap.add_argument("--only", help="substring of the map paths to run")
    args = ap.parse_args()
    n = set_num_threads(args.threads)
    print(f"threads: {n}")
    detect_symmetry(difffit.read_map(args.data / CASES[2][0]))  # warm-up: compile the kernels
    print(f"{'map':<48} {'expect':>6} {'found':>6} {'min cc':>7} {'control':>7} "
          f"{'wall s':>7} {'cpu s':>6}")  # fmt: skip
    n_bad = 0
    for rel, expect in CASES:
        if args.only and args.only not in rel:
            continue
        path = args.data / rel
        if not path.exists():
            print(f"{rel:<48} (missing)")
            continue
        density = difffit.read_map(path)
        walls, cpus = [], []
        for _ in range(max(1, args.repeat)):
            t0, c0 = time.perf_counter(), time.process_time()
            res = detect_symmetry(density)
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        chk = res.best or (res.candidates[0] if res.candidates else None)
        mn = f"{chk.min_correlation:7.3f}" if chk else "      -"
        ct = f"{chk.control_correlation:7.3f}" if chk else "      -"
        ok = res.group.name == expect
        n_bad += not ok
        print(f"{rel:<48} {expect:>6} {res.group.name:>6} {mn} {ct} {min(walls):7.2f} "
              f"{min(cpus):6.2f}{'' if ok else '  WRONG'}")  # fmt: skip
    path = args.data / "tempy_actin_emd5168/emd_5168.map"
    if path.exists() and (not args.only or args.only in str(path)):
        density = difffit.read_map(path)
        walls, cpus = [], []
        for _ in range(max(1, args.repeat)):
            t0, c0 = time.perf_counter(), time.process_time()
            hel = detect_helical(density)
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        print(f"helical, actin EMD-5168: rise {hel.rise:.2f} Å (expect ~27.5), twist "
              f"{hel.twist_deg:.2f}° (expect ~-166.6), self-correlation {hel.correlation:.3f}, "
              f"control {hel.control_correlation:.3f}; {min(walls):.2f} s wall, "
              f"{min(cpus):.2f} s CPU")  # fmt: skip
    print(f"{n_bad} wrong")


if __name__ == "__main__":
    main()
