"""Compositing on real maps and a large synthetic complex: chains recovered, clashes, time.

Each case runs ``difffit composite`` (the command line, in-process) into a fresh folder and
compares the placements with the deposited model:

* every placed copy is matched to a deposited chain of the same sequence group (one-to-one,
  by CA RMSD over the residues both have, no superposition);
* the *floor* of a match is the CA RMSD of the optimal superposition of the source chain onto
  that deposited chain: a rigid copy cannot do better (chains of an oligomer differ);
* clashes: pairs of placed chains with heavy atoms within 2 Å of each other.

    .venv/bin/python benchmarks/composite_cases.py [CASE...] [--repeat N] [--rule RULE] [--out DIR]

Cases: hb-copies, hb-auto, hcn4-copies, hcn4-auto, 7pbl-unique, 7pbl-chains (the last two
simulate a 6 Å map of 7PBL with noise first, with ``difffit simulate``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

import difffit
from difffit.cli import main as cli
from difffit.geometry import kabsch
from difffit.io.composite import attach_refined, read_placements, read_refined
from difffit.split import group_chains

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
HB = DATA / "ccpem_emd3488_haemoglobin"
HCN4 = DATA / "mainmastseg_emd0093_hcn4"
PBL = DATA / "large_complexes" / "pdb7pbl.pdb.gz"


def cases(work: Path) -> dict[str, dict]:
    pbl_map = work / "7pbl_6A_noise.mrc"
    return {
        "hb-copies": {"map": HB / "emd_3488.mrc", "model": HB / "5me2.pdb", "chains": ["A", "B"],
                      "copies": ["5me2_A=2", "5me2_B=2"], "args": ["--resolution", "3.2"]},
        "hb-auto": {"map": HB / "emd_3488.mrc", "model": HB / "5me2.pdb", "chains": ["A", "B"],
                    "copies": [], "args": ["--resolution", "3.2"]},
        "hcn4-copies": {"map": HCN4 / "MAP_m4A.mrc.gz", "model": HCN4 / "6gyn.pdb", "chains": ["A"],
                        "copies": ["4"], "args": ["--resolution", "3.4"]},
        "hcn4-auto": {"map": HCN4 / "MAP_m4A.mrc.gz", "model": HCN4 / "6gyn.pdb", "chains": ["A"],
                      "copies": [], "args": ["--resolution", "3.4"]},
        # 7PBL: a map simulated at 6 Å (voxel 2 Å) plus noise, composited from the sequence-
        # unique chains (with their copy numbers) or from every chain (one copy each)
        "7pbl-unique": {"map": pbl_map, "model": PBL, "chains": "unique", "copies": "groups",
                        "args": ["--resolution", "6"], "simulate": True},
        "7pbl-chains": {"map": pbl_map, "model": PBL, "chains": "all", "copies": "one",
                        "args": ["--resolution", "6"], "simulate": True},
    }  # fmt: skip


def simulate_7pbl(path: Path) -> None:
    if path.exists():
        return
    with contextlib.redirect_stdout(io.StringIO()):
        rc = cli(["simulate", str(PBL), "--resolution", "6", "--voxel-size", "2", "--noise", "0.05",
                  "--seed", "1", "--out", str(path)])  # fmt: skip
    if rc:
        raise SystemExit("simulating 7PBL failed")


def trace(
    st: difffit.Structure, chain: str, xyz: np.ndarray | None = None
) -> dict[tuple[int, str], np.ndarray]:
    """CA/P atoms of the chain's polymer residues (ligands such as lipids, which carry P
    atoms and sit differently in each copy, are left out); ``xyz``: other coordinates of the
    structure's atoms (a refined model) to take them from."""
    import gemmi

    in_chain = st.chain_ids == chain
    polymer = np.array([(info := gemmi.find_tabulated_residue(str(n))) is not None
                        and (info.is_amino_acid() or info.is_nucleic_acid())
                        for n in st.residue_names])  # fmt: skip
    m = st.trace_mask() & polymer & in_chain
    coords = st.coords_xyz if xyz is None else xyz
    return dict(zip(zip(st.residue_numbers[m].tolist(), st.insertion_codes[m].tolist(), strict=True),
                    coords[m], strict=True))  # fmt: skip


def clashing_pairs(labels, xyz, distance: float = 2.0) -> list[tuple[str, str, int]]:
    """(label a, label b, atoms of b within ``distance`` Å of a) for every pair a < b that
    touches (:func:`difffit.clashes.clash_counts`, the composite's own clash count)."""
    from difffit.clashes import clash_counts

    out = []
    for a in range(len(xyz)):
        for b in range(a + 1, len(xyz)):
            n = int(clash_counts(xyz[b], [xyz[a]], distance=distance)[0])
            if n:
                out.append((labels[a], labels[b], n))
    return out


def evaluate(
    model: difffit.Structure, structures: dict[str, difffit.Structure], folder: Path
) -> dict:
    placements = attach_refined(read_placements(folder / "placements.csv"), read_refined(folder))
    groups = {c: g.name for g in group_chains(model) for c in g.chains}
    deposited = list(model.chains)
    ref = {c: trace(model, c) for c in deposited}
    cost = np.full((len(placements), len(deposited)), np.inf)
    floor = np.full_like(cost, np.inf)
    for i, p in enumerate(placements):
        st = structures[p.structure]
        src_chain = st.chains[0]
        src = trace(st, src_chain)
        placed = trace(st, src_chain, p.coords(st))
        for j, c in enumerate(deposited):
            if groups.get(c) != groups.get(src_chain):
                continue
            keys = [k for k in src if k in ref[c]]
            a = np.array([src[k] for k in keys])
            b = np.array([ref[c][k] for k in keys])
            moved = np.array([placed[k] for k in keys])
            cost[i, j] = float(np.sqrt(((moved - b) ** 2).sum(1).mean()))
            r, t = kabsch(a, b)
            floor[i, j] = float(np.sqrt(((a @ r.T + t - b) ** 2).sum(1).mean()))
    big = np.where(np.isfinite(cost), cost, 1e6)
    rows, cols = linear_sum_assignment(big)
    matches = []
    for i, j in zip(rows, cols, strict=True):
        if np.isfinite(cost[i, j]):
            matches.append({"placement": placements[i].label, "chain": deposited[j],
                            "rmsd": round(cost[i, j], 2), "floor": round(floor[i, j], 2),
                            "pose_error": round(cost[i, j] - floor[i, j], 2)})  # fmt: skip
    # clashes between placed chains (heavy atoms within 2 Å)
    xyz = [p.coords(structures[p.structure]) for p in placements]
    clashes = clashing_pairs([p.label for p in placements], xyz)
    lost = neighbour_voxels_lost(
        model, folder, placements, {m["placement"]: m["chain"] for m in matches}
    )
    return {"placed": len(placements), "matches": matches, "clashing_pairs": clashes, **lost}


def neighbour_voxels_lost(model, folder: Path, placements, chain_of: dict[str, str]) -> dict:
    """Voxels of deposited chains not placed yet that a round's zeroing took below the level.

    A voxel above the level in the original map belongs to the deposited chain of its nearest
    atom within 3 Å. For each round, the voxels whose value the round's zeroing changed and
    that fell below the level are counted when their chain was not placed by the end of that
    round (density of a neighbour lost before the neighbour was fitted).
    """
    man = json.loads((folder / "composite.json").read_text())
    level = float(man["level"])
    original = difffit.read_map(man["map"])
    above = original.data >= level
    _, idx = cKDTree(model.coords_xyz).query(
        original.voxel_centres_xyz(above), distance_upper_bound=3.0
    )
    owner = np.full(above.shape, "", dtype=object)
    near = idx < len(model)
    own = np.full(len(idx), "", dtype=object)
    own[near] = model.chain_ids[idx[near]]
    owner[above] = own
    before = original.data
    total = 0
    per_round = []
    for r in man["rounds"]:
        after = difffit.read_map(folder / r["working_map"]).data
        placed = {chain_of.get(p.label) for p in placements if p.round <= r["index"]}
        lost_mask = above & (before >= level) & (after < level)
        lost_owner = owner[lost_mask]
        n = int(sum(1 for o in lost_owner if o and o not in placed))
        per_round.append(n)
        total += n
        before = after
    return {"neighbour_voxels_lost": total, "neighbour_voxels_lost_per_round": per_round,
            "voxels_owned": int((owner != "").sum())}  # fmt: skip


def run_case(name: str, spec: dict, out: Path, rule: str, extra: list[str]) -> dict:
    model = difffit.read_structure(spec["model"])
    if spec.get("simulate"):
        simulate_7pbl(spec["map"])
    groups = group_chains(model)
    if spec["chains"] == "unique":
        chains = [g.chains[0] for g in groups]
    elif spec["chains"] == "all":
        chains = list(model.chains)
    else:
        chains = spec["chains"]
    if spec["copies"] == "groups":
        copies = [f"{model.name}_{g.chains[0]}={g.copies}" for g in groups]
    elif spec["copies"] == "one":
        copies = [f"{model.name}_{c}=1" for c in chains]
    else:
        copies = spec["copies"]
    args = ["composite", str(spec["map"]), *[f"{spec['model']}:{c}" for c in chains],
            "--out", str(out), "--seed", "1", "--rule", rule, "-q", *spec["args"], *extra]  # fmt: skip
    if copies:
        args += ["--copies", *copies]
    buf = io.StringIO()
    t0 = time.perf_counter()
    c0 = time.process_time()
    with contextlib.redirect_stdout(buf):
        rc = cli(args)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    if rc:
        raise SystemExit(f"{name}: difffit composite failed ({rc})")
    man = json.loads((out / "composite.json").read_text())
    structures = {f"{model.name}_{c}": model.select_chains([c]) for c in chains}
    ev = evaluate(model, structures, out)
    return {"case": name, "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1),
            "rounds": man["rounds_done"],
            "stop_reason": man["stop_reason"], "round_seconds": [r["seconds"] for r in man["rounds"]],
            **ev}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cases", nargs="*", help="cases to run (default: all)")
    ap.add_argument("--repeat", type=int, default=1, help="repetitions (time = median)")
    ap.add_argument("--rule", default="dominant", help="zeroing rule")
    ap.add_argument("--out", type=Path, default=Path("/tmp/difffit_composite_bench"))
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--extra", default="", help="more composite options, e.g. '--max-per-round 1'")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    all_cases = cases(args.out)
    names = args.cases or list(all_cases)
    results = []
    for name in names:
        times, cpus = [], []
        for k in range(args.repeat):
            tag = args.extra.replace("--", "").replace(" ", "")
            folder = args.out / f"{name}_{args.rule}{'_' + tag if tag else ''}_{k}"
            if folder.exists():
                import shutil

                shutil.rmtree(folder)
            res = run_case(name, all_cases[name], folder, args.rule, args.extra.split())
            times.append(res["seconds"])
            cpus.append(res["cpu_seconds"])
        res["seconds_median"] = round(statistics.median(times), 1)
        res["seconds_all"] = times
        res["cpu_seconds_median"] = round(statistics.median(cpus), 1)
        res["rule"] = args.rule
        res["extra"] = args.extra
        results.append(res)
        ok2 = sum(m["rmsd"] <= 2.0 for m in res["matches"])
        ok15 = sum(m["rmsd"] <= 1.5 for m in res["matches"])
        print(f"== {name} ({args.rule} {args.extra}): {res['placed']} placed in {res['rounds']} rounds, "
              f"{res['seconds_median']} s wall, {res['cpu_seconds_median']} s CPU (median of {len(times)}); <=1.5 Å: {ok15}, <=2 Å: {ok2}; "
              f"clashing pairs: {res['clashing_pairs'] or 'none'}; neighbour voxels lost "
              f"{res['neighbour_voxels_lost']} of {res['voxels_owned']}")  # fmt: skip
        for m in res["matches"]:
            print(f"   {m['placement']:<16} -> chain {m['chain']}: CA RMSD {m['rmsd']:.2f} Å "
                  f"(rigid floor {m['floor']:.2f} Å)")  # fmt: skip
        print(f"   stop: {res['stop_reason']}")
        sys.stdout.flush()
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
