"""Zeroing rules along a whole composite, at the deposited poses (no fitting): what the
neighbours lose.

The chains of the deposited model are zeroed one at a time, in file order, each at its
deposited pose, as a one-placement-per-round composite would. After each zeroing:

* neighbour voxels lost — voxels above the contour level that belong (nearest deposited atom
  within 3 Å) to chains not zeroed yet and fell below the level;
* the cam (correlation about the mean, as ``difffit fit`` reports) of every chain not zeroed
  yet, at its deposited pose, in the zeroed map — how recognisable it stays for the next round.

    .venv/bin/python benchmarks/zeroing_sequential.py [--rules dominant plain ...]
"""

from __future__ import annotations

import argparse
import contextlib
import io
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

import difffit
from difffit.cli import main as cli
from difffit.composite import zero_fit
from difffit.density.prepare import auto_level
from difffit.fitting.quality import SimulatedProbe, quality_metrics

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def cases(work: Path) -> list[tuple[str, Path, Path, float]]:
    pbl = work / "7pbl_6A_noise.mrc"
    if not pbl.exists():
        with contextlib.redirect_stdout(io.StringIO()):
            cli(["simulate", str(DATA / "large_complexes/pdb7pbl.pdb.gz"), "--resolution", "6",
                 "--voxel-size", "2", "--noise", "0.05", "--seed", "1", "--out", str(pbl)])  # fmt: skip
    return [
        ("EMD-3488 haemoglobin (5me2)", DATA / "ccpem_emd3488_haemoglobin/emd_3488.mrc",
         DATA / "ccpem_emd3488_haemoglobin/5me2.pdb", 3.2),
        ("EMD-0093 HCN4 (6gyn)", DATA / "mainmastseg_emd0093_hcn4/MAP_m4A.mrc.gz",
         DATA / "mainmastseg_emd0093_hcn4/6gyn.pdb", 3.4),
        ("7PBL simulated 6 Å + noise", pbl, DATA / "large_complexes/pdb7pbl.pdb.gz", 6.0),
    ]  # fmt: skip


def cam_at_deposited(density, level, chain, resolution):
    centre = chain.centre_xyz
    xyz = chain.coords_xyz - centre
    probe = SimulatedProbe.from_atoms(xyz, chain.atomic_numbers, resolution=resolution,
                                      voxel_size=float(density.voxel_size_xyz.min()), envelope=0.1)  # fmt: skip
    q = quality_metrics(density, level, xyz, probe, np.eye(3)[None], centre[None])
    return float(q["cam"][0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--rules",
        nargs="+",
        default=["dominant", "plain", "plain-nominal", "shrunk", "subtract"],
        help="rules; 'plain-nominal' = plain simulated at the given resolution (the plugin)",
    )
    ap.add_argument("--work", type=Path, default=Path("/tmp/difffit_composite_bench"))
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    print(
        "| case | rule | neighbour voxels lost (of owned) | own voxels left | min cam of a chain not zeroed yet (drop from the original) |"
    )
    print("| --- | --- | --- | --- | --- |")
    for label, map_path, model_path, res in cases(args.work):
        density = difffit.read_map(map_path)
        model = difffit.read_structure(model_path)
        level = auto_level(density)
        chains = list(model.chains)
        sub = {c: model.select_chains([c]) for c in chains}
        above = density.data >= level
        _, idx = cKDTree(model.coords_xyz).query(
            density.voxel_centres_xyz(above), distance_upper_bound=3.0
        )
        owner = np.full(len(idx), "", dtype=object)
        near = idx < len(model)
        owner[near] = model.chain_ids[idx[near]]
        cam0 = {c: cam_at_deposited(density, level, sub[c], res) for c in chains}
        ident = difffit.RigidTransform.identity()
        for rule in args.rules:
            work = density
            lost = 0
            own_left = []
            worst_drop = 0.0
            min_cam = 1.0
            for k, c in enumerate(chains):
                r, match = (rule, True) if rule != "plain-nominal" else ("plain", False)
                z = zero_fit(work, sub[c], ident, resolution=res, rule=r, match_resolution=match)
                before = work.data[above] >= level
                after = z.map.data[above] >= level
                later = set(chains[k + 1 :])
                lost += int(
                    sum(
                        1
                        for o, b, a in zip(owner, before, after, strict=True)
                        if b and not a and o in later
                    )
                )
                own = owner == c
                own_left.append(float((after & own).sum() / max(own.sum(), 1)))
                work = z.map
                for o in later:
                    cam = cam_at_deposited(work, level, sub[o], res)
                    min_cam = min(min_cam, cam)
                    worst_drop = max(worst_drop, cam0[o] - cam)
            print(f"| {label} | {rule} | {lost} ({int(near.sum())}) | {np.mean(own_left):.3f} "
                  f"| {min_cam:.3f} (worst drop {worst_drop:.3f}) |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
