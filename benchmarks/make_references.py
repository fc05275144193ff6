"""Make the reference poses of the benchmark cases: ``benchmarks/reference/<case>.json``.

Each file lists equally correct poses (3×4 ``[R | t]``, ``x_map = R x_input + t``, Å) of the
case's input model (the case's chain in the coordinates of the source file) and says how they
were derived:

demo, demo_m317
    ``reference_poses.json`` of the DomainFit demo (ChimeraX ``fitmap search 1000 resolution 5``
    best, agreeing with PowerFit and the original DiffFit).
haemoglobin
    5me2 is deposited in the EMD-3488 frame: chain A as deposited, and chain A superposed (CA
    atoms, matched by residue number) onto chain C, the other α chain.
hcn4
    6gyn is deposited in the frame of EMD-0093: chain A as deposited and superposed onto B, C, D.
actin
    3MFP is deposited in the EMD-5168 frame, but the crop holds several subunits of the
    filament. The helical operator (rotation + rise along the filament axis) is the one that
    maps the deposited subunit onto its neighbour; it is measured from a found solution that
    sits on the neighbouring subunit (``--actin-neighbour``: a 12-number pose from a peer or
    difffit run; its screw parameters are recorded), and applied ±k times while at least 25 %
    of the moved subunit's CA atoms lie inside the map box (a subunit cut by the box edge is
    still a subunit of the filament).
groel
    1oel is not in the map frame, and the map (C7 imposed, two rings) has 14 equally good
    sites for chain A. From a ChimeraX map-mode fit list (``--groel-solutions``): C = its top
    solution, C2 = its best solution related to C by a two-fold (the other ring); the C7 axis is
    measured from its solutions on C's ring; the 14 poses are C and C2 rotated by k·360/7 about
    that axis. PowerFit's and difffit's top solutions are then checked against them
    (``--check``). Cross-check: the same sites built from 1oel's own 14-mer (7 chains × its 2
    BIOMT operators) agree within ~3 Å CA RMSD only (the crystal ring is not the map's), so they
    are recorded but not used.

Usage::

    .venv/bin/python benchmarks/make_references.py demo demo_m317 haemoglobin hcn4
    .venv/bin/python benchmarks/make_references.py actin --actin-neighbour FILE.json
    .venv/bin/python benchmarks/make_references.py groel --groel-solutions FITS.json [--check RAW.jsonl]

``FILE.json`` holds ``{"matrix_3x4": [12 numbers], "source": "..."}``; ``FITS.json`` is the
``--json`` output of ``peers/chimerax_headless.py``; ``--check RAW.jsonl`` (any case) records in
the reference file how the top solutions of each tool in a ``run_benchmark.py`` run are judged.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.cases import REFERENCE_DIR, Case, data_dir, get_case
from benchmarks.judge import (
    apply,
    as_pose,
    compose,
    invert,
    pose_difference,
    rotation_angle_deg,
    superpose,
)

#: actin: a helical copy counts while at least this fraction of its CA atoms is inside the box
MIN_INSIDE = 0.25

IDENTITY = np.concatenate([np.eye(3), np.zeros((3, 1))], axis=1)


def _ca_by_residue(path: Path, chain: str) -> dict[int, np.ndarray]:
    import gemmi

    st = gemmi.read_structure(str(path))
    out = {}
    for ch in st[0]:
        if ch.name != chain:
            continue
        for res in ch:
            ca = res.find_atom("CA", "*")
            if ca is not None and res.het_flag != "H":
                out[res.seqid.num] = np.array(ca.pos.tolist())
    return out


def chain_superposition(path: Path, mobile: str, target: str) -> tuple[np.ndarray, float, int]:
    """Pose mapping chain ``mobile`` onto chain ``target`` (CA matched by residue number)."""
    a, b = _ca_by_residue(path, mobile), _ca_by_residue(path, target)
    common = sorted(set(a) & set(b))
    if len(common) < 10:
        raise RuntimeError(
            f"{path}: chains {mobile} and {target} share only {len(common)} CA residues"
        )
    x = np.array([a[i] for i in common])
    y = np.array([b[i] for i in common])
    pose = superpose(x, y)
    rms = float(np.sqrt(np.mean(np.sum((apply(pose, x) - y) ** 2, axis=1))))
    return pose, rms, len(common)


def _pose_entry(label: str, pose: np.ndarray, **extra) -> dict:
    return {
        "label": label,
        "matrix_3x4": [round(float(v), 6) for v in as_pose(pose).reshape(-1)],
        **extra,
    }


def _write(case: Case, derivation: str, poses: list[dict], **extra) -> Path:
    doc = {
        "case": case.name,
        "map": case.map,
        "model": case.model,
        "chains": list(case.chains) if case.chains else None,
        "layout": "matrix_3x4: 3 rows of [R | t], row-major: x_map = R @ x_input + t (Å); x_input = "
        "the case's chain in the coordinates of the source file",
        "criterion": "top solution correct when within 3 Å (centroid of CA) and 6° of any pose below",
        "derivation": derivation,
        **extra,
        "poses": poses,
    }
    REFERENCE_DIR.mkdir(parents=True, exist_ok=True)
    case.reference_path.write_text(json.dumps(doc, indent=1) + "\n")
    return case.reference_path


def make_demo(case: Case) -> Path:
    src = data_dir() / "difffit_domainfit_demo" / "reference_poses.json"
    doc = json.loads(src.read_text())
    key = "subunits_cif/" + Path(case.model).name
    ref = doc[key]
    return _write(
        case,
        f"{src.name} of the demo, entry {key}: {ref['source']}",
        [_pose_entry("reference_poses.json", np.asarray(ref["matrix_3x4"]).reshape(3, 4))],
    )


def make_chain_copies(case: Case, targets: tuple[str, ...]) -> Path:
    """The deposited chain and its superpositions onto same-sequence chains of the model."""
    assert case.chains is not None and len(case.chains) == 1
    chain = case.chains[0]
    poses = [_pose_entry(f"deposited chain {chain}", IDENTITY)]
    for t in targets:
        pose, rms, n = chain_superposition(case.model_path, chain, t)
        poses.append(
            _pose_entry(
                f"chain {chain} superposed on deposited chain {t}",
                pose,
                superposition_ca_rmsd=round(rms, 3),
                n_ca=n,
            )
        )
    return _write(
        case,
        f"{Path(case.model).name} is deposited in the map frame; chain {chain} as deposited, and "
        f"superposed (CA, matched by residue number) onto chains {', '.join(targets)}",
        poses,
    )


def screw_parameters(op: np.ndarray) -> dict:
    """Rotation angle (°), translation along the axis (Å) and the axis of a rigid motion."""
    op = as_pose(op)
    r, t = op[:, :3], op[:, 3]
    w, v = np.linalg.eig(r)
    axis = np.real(v[:, np.argmin(np.abs(w - 1.0))])
    axis /= np.linalg.norm(axis)
    rise = float(axis @ t)
    # a point on the axis: solve (I - R) p = t - rise * axis in the plane normal to the axis
    p, *_ = np.linalg.lstsq(np.eye(3) - r, t - rise * axis, rcond=None)
    ang = rotation_angle_deg(r)
    # sign of the rotation about +axis
    x = np.cross(axis, [1.0, 0.0, 0.0])
    if np.linalg.norm(x) < 1e-3:
        x = np.cross(axis, [0.0, 1.0, 0.0])
    sgn = np.sign(np.dot(np.cross(x, r @ x), axis))
    return {
        "angle_deg": float(sgn * ang),
        "rise_A": rise,
        "axis": axis.tolist(),
        "point_on_axis": p.tolist(),
    }


def make_actin(case: Case, neighbour: dict) -> Path:
    """Deposited pose + copies moved along the helix by the operator deposited → neighbour."""
    import difffit
    from benchmarks.cases import ca_coords, model_input

    work = Path("bench-out")
    model = model_input(case, work)
    ca = ca_coords(model)
    dens = difffit.read_map(case.map_path)
    lo = dens.origin_xyz
    hi = dens.origin_xyz + (np.array(dens.shape_zyx[::-1]) - 1) * dens.voxel_size_xyz
    nb = as_pose(neighbour["matrix_3x4"])
    op = nb  # deposited pose is the identity, so the operator is the neighbour's pose itself
    shift, ang, rmsd = pose_difference(nb, IDENTITY, ca)
    params = screw_parameters(op)

    def inside(pose: np.ndarray) -> float:
        xyz = apply(pose, ca)
        return float(np.mean(np.all((xyz >= lo) & (xyz <= hi), axis=1)))

    def entry(label: str, pose: np.ndarray) -> dict:
        c = apply(pose, ca).mean(axis=0)
        return _pose_entry(
            label,
            pose,
            centre_xyz=[round(float(v), 2) for v in c],
            ca_inside_box=round(inside(pose), 2),
        )

    poses = [entry("deposited", IDENTITY)]
    for direction, step in (("+", op), ("-", invert(op))):
        cur = IDENTITY
        for k in range(1, 20):
            cur = compose(step, cur)
            if inside(cur) < MIN_INSIDE:
                break
            poses.append(entry(f"helical {direction}{k}", cur))
    return _write(
        case,
        "3MFP is deposited in the map frame; the crop shows several subunits of the filament. "
        "Operator = the pose of a found solution on the neighbouring subunit (deposited pose = "
        f"identity); copies = operator^k applied to the deposited subunit while at least "
        f"{MIN_INSIDE:.0%} of its CA atoms lie inside the map box",
        poses,
        helical_operator={
            "matrix_3x4": [round(float(v), 6) for v in op.reshape(-1)],
            "source": neighbour.get("source", ""),
            "from_deposited": {
                "shift_A": round(shift, 2),
                "angle_deg": round(ang, 2),
                "ca_rmsd_A": round(rmsd, 2),
            },
            **{
                k: (round(v, 3) if isinstance(v, float) else [round(x, 4) for x in v])
                for k, v in params.items()
            },
        },
    )


def biomt_operators(path: Path) -> list[np.ndarray]:
    """The BIOMT operators of REMARK 350 of a PDB file (biomolecule 1)."""
    rows: dict[int, list[list[float]]] = {}
    for line in path.read_text().splitlines():
        if line.startswith("REMARK 350   BIOMT"):
            f = line.split()
            rows.setdefault(int(f[3]), []).append([float(x) for x in f[4:8]])
    return [np.asarray(v) for _, v in sorted(rows.items()) if len(v) == 3]


def rotation_about(axis: np.ndarray, point: np.ndarray, angle_deg: float) -> np.ndarray:
    """The pose rotating by ``angle_deg`` about the line through ``point`` along ``axis``."""
    a = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    t = np.radians(angle_deg)
    r = np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * k @ k
    p = np.asarray(point, dtype=np.float64)
    return np.concatenate([r, (p - r @ p)[:, None]], axis=1)


def cyclic_sites(solutions: list[np.ndarray], order: int, ca: np.ndarray) -> dict:
    """The C_n axis of a map from solutions found on its symmetric sites.

    ``solutions[0]`` is the reference site C. Every other solution S whose relative motion
    S ∘ C⁻¹ is a rotation by a multiple of 360/n (±3°) with no rise (< 1 Å) lies on the same
    ring; the axis is their mean rotation axis, through the mean of their axis points. The
    best solution related to C by a two-fold (180° ± 3°) starts the second ring.
    """
    c = as_pose(solutions[0])
    step = 360.0 / order
    same, twofold = [], None
    for s in solutions[1:]:
        sp = screw_parameters(compose(as_pose(s), invert(c)))
        m = sp["angle_deg"] / step
        if abs(sp["rise_A"]) < 1.0 and abs(m - round(m)) * step < 3.0 and round(m) % order != 0:
            same.append(sp)
        elif abs(abs(sp["angle_deg"]) - 180.0) < 3.0 and twofold is None:
            twofold = as_pose(s)
    if len(same) < 2 or twofold is None:
        raise RuntimeError("not enough solutions on the symmetric sites to find the axis")
    axes = np.array(
        [
            np.sign(sp["axis"][int(np.argmax(np.abs(sp["axis"])))]) * np.asarray(sp["axis"])
            for sp in same
        ]
    )
    axis = axes.mean(axis=0)
    axis /= np.linalg.norm(axis)
    # axis points: project each onto the plane through the first one normal to the axis
    pts = np.array([sp["point_on_axis"] for sp in same])
    pts = pts - np.outer((pts - pts[0]) @ axis, axis)
    point = pts.mean(axis=0)
    return {"axis": axis, "point": point, "ring1": c, "ring2": twofold, "n_used": len(same)}


def make_groel(case: Case, solutions_json: Path) -> Path:
    """14 sites: the top ChimeraX solution C, the best one on the other ring C2, and their
    images under the map's C7 axis (measured from the solutions themselves)."""
    import gemmi

    from benchmarks.cases import ca_coords, model_input
    from benchmarks.peers import parse_chimerax_json

    model = model_input(case, Path("bench-out"))
    ca = ca_coords(model)
    sols, _ = parse_chimerax_json(solutions_json)
    sym = cyclic_sites([s.pose for s in sols[:20]], 7, ca)
    poses = []
    for ring, base in (("ring 1", sym["ring1"]), ("ring 2", sym["ring2"])):
        for k in range(7):
            pose = compose(rotation_about(sym["axis"], sym["point"], k * 360.0 / 7), base)
            poses.append(
                _pose_entry(
                    f"{ring} site {k}",
                    pose,
                    centre_xyz=[round(float(v), 2) for v in apply(pose, ca).mean(0)],
                )
            )
    d = min(
        pose_difference(as_pose(a["matrix_3x4"]), as_pose(b["matrix_3x4"]), ca)[0]
        for i, a in enumerate(poses)
        for b in poses[i + 1 :]
    )
    # cross-check: the same sites made from 1oel's own 14-mer (7 chains x 2 BIOMT operators)
    chain = case.chains[0] if case.chains else "A"
    st = gemmi.read_structure(str(case.model_path))
    chains = [ch.name for ch in st[0] if len(ch.get_polymer()) > 0]
    worst = 0.0
    for b in biomt_operators(case.model_path):
        for k in chains:
            s = IDENTITY if k == chain else chain_superposition(case.model_path, chain, k)[0]
            p = compose(sym["ring1"], compose(b, s))
            worst = max(
                worst, min(pose_difference(p, as_pose(q["matrix_3x4"]), ca)[2] for q in poses)
            )
    return _write(
        case,
        "1oel is not in the map frame. Site 'ring 1 site 0' = the top solution of ChimeraX "
        "fitmap search (map mode); 'ring 2 site 0' = its best solution related to it by a "
        "two-fold (the other ring); the other 12 = these two rotated by k x 360/7 about the map's "
        "C7 axis (EMD-1997 has C7 imposed), the axis measured from the ChimeraX solutions on "
        "ring 1 (relative rotations by multiples of 360/7 with no rise)",
        poses,
        source_solutions=str(solutions_json),
        c7_axis={
            "axis": [round(float(v), 5) for v in sym["axis"]],
            "point": [round(float(v), 3) for v in sym["point"]],
            "solutions_used": sym["n_used"],
        },
        min_distance_between_sites_A=round(d, 2),
        crosscheck_1oel_assembly={
            "note": "sites made as C o B_j o S_k from 1oel's own 14-mer (S_k: chain A superposed on "
            "chain k; B_j: REMARK 350 BIOMT) differ from the map-derived sites by up to this CA "
            "RMSD (the crystal ring is not exactly the map's); not used as references",
            "max_ca_rmsd_A": round(worst, 2),
        },
    )


def add_checks(case: Case, raw_jsonl: Path) -> None:
    """Record in the reference file how each tool's top solutions of ``raw_jsonl`` are judged."""
    from benchmarks.cases import ca_coords, model_input, reference_poses
    from benchmarks.judge import judge

    ca = ca_coords(model_input(case, Path("bench-out")))
    refs = reference_poses(case)
    doc = json.loads(case.reference_path.read_text())
    checks = []
    for line in raw_jsonl.read_text().splitlines():
        r = json.loads(line)
        if r.get("case") != case.name or r.get("status") != "ok":
            continue
        sols = []
        for s in r.get("solutions", [])[:5]:
            v = judge(as_pose(s["pose"]), refs, ca)
            sols.append(
                {
                    "score": round(float(s["score"]), 4),
                    "hits": s.get("hits"),
                    "correct": v.correct,
                    "reference": v.reference,
                    "shift_A": round(v.shift, 2),
                    "angle_deg": round(v.angle_deg, 2),
                    "ca_rmsd_A": round(v.rmsd, 2),
                }
            )
        checks.append({"tool": r["tool"], "settings": r.get("settings"), "top5": sols})
    doc["checks"] = checks
    case.reference_path.write_text(json.dumps(doc, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("cases", nargs="+")
    p.add_argument(
        "--actin-neighbour",
        type=Path,
        help="JSON with the pose of a solution on the neighbouring subunit",
    )
    p.add_argument(
        "--groel-solutions", type=Path, help="ChimeraX --json fit list (map mode) on the GroEL map"
    )
    p.add_argument(
        "--check",
        type=Path,
        help="raw.jsonl of a benchmark run: record how its solutions are judged",
    )
    a = p.parse_args(argv)
    for name in a.cases:
        case = get_case(name)
        if name in ("demo", "demo_m317"):
            path = make_demo(case)
        elif name == "haemoglobin":
            path = make_chain_copies(case, ("C",))
        elif name == "hcn4":
            path = make_chain_copies(case, ("B", "C", "D"))
        elif name == "actin":
            if a.actin_neighbour is None:
                p.error("actin needs --actin-neighbour")
            path = make_actin(case, json.loads(a.actin_neighbour.read_text()))
        elif name == "groel":
            if a.groel_solutions is None:
                p.error("groel needs --groel-solutions")
            path = make_groel(case, a.groel_solutions)
        else:
            p.error(f"no recipe for case {name!r}")
        if a.check is not None:
            add_checks(case, a.check)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
