"""Compare the zeroing rules on real maps, at the deposited pose of one chain.

Voxels above the automatic contour level are assigned to the nearest deposited atom within 3 Å.
For each rule: the fraction of the zeroed chain's voxels still above the level afterwards ("own
left") and the number of the other chains' voxels that fell below it ("neighbour lost").

    .venv/bin/python benchmarks/zeroing_rules.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

import difffit
from difffit.composite import matched_resolution, zero_fit
from difffit.density.prepare import auto_level

CASES = {
    "EMD-3488 haemoglobin, chain A": ("ccpem_emd3488_haemoglobin/emd_3488.mrc", "ccpem_emd3488_haemoglobin/5me2.pdb", "A", 3.2),
    "EMD-0093 HCN4, chain A": ("mainmastseg_emd0093_hcn4/MAP_m4A.mrc.gz", "mainmastseg_emd0093_hcn4/6gyn.pdb", "A", 3.4),
}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    args = ap.parse_args()
    ident = difffit.RigidTransform.identity()
    print(
        "| map, chain | rule | simulated at | own left | neighbour voxels lost | voxels zeroed | time |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for label, (map_rel, st_rel, chain, res) in CASES.items():
        m = difffit.read_map(args.data / map_rel)
        st = difffit.read_structure(args.data / st_rel)
        own_st = st.select_chains([chain])
        level = auto_level(m)
        above = m.data >= level
        _, idx = cKDTree(st.coords_xyz).query(m.voxel_centres_xyz(above), distance_upper_bound=3.0)
        near = idx < len(st)
        is_own = np.zeros(len(idx), bool)
        is_own[near] = st.chain_ids[idx[near]] == chain
        is_nb = near & ~is_own
        matched = matched_resolution(m, [(own_st, ident)], resolution=res)
        print(
            f"| {label} ({is_own.sum()} own / {is_nb.sum()} neighbour voxels above level {level:.3g}) | | | | | | |"
        )
        runs = [
            ("plain", {"match_resolution": False}),
            ("plain", {"match_resolution": True}),
            ("plain", {"match_resolution": False, "res": 2 * res}),
            ("shrunk", {"match_resolution": True}),
            ("subtract", {"match_resolution": True}),
            ("dominant", {"match_resolution": False}),
            ("dominant", {"match_resolution": True}),
            ("dominant", {"match_resolution": False, "res": 2 * res}),
        ]
        for rule, kw in runs:
            kw = dict(kw)
            r = kw.pop("res", res)
            t0 = time.perf_counter()
            z = zero_fit(m, own_st, ident, resolution=r, rule=rule, **kw)
            dt = time.perf_counter() - t0
            left = z.map.data[above] >= level
            own_left = float((is_own & left).sum() / is_own.sum())
            lost = int((is_nb & ~left).sum())
            print(
                f"| | {rule} | {z.options['simulated_resolution']:.2f} Å | {own_left:.3f} | {lost} "
                f"({lost / is_nb.sum():.2%}) | {z.n_voxels_zeroed} | {dt:.2f} s |"
            )
        print(f"| | (matched resolution: {matched:.2f} Å) | | | | | |")


if __name__ == "__main__":
    main()
