"""The benchmark harness's pure parts: parsers, verdicts, the table — no peer is run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from benchmarks import judge as J
from benchmarks.make_references import screw_parameters
from benchmarks.measure import run_measured
from benchmarks.peers import (
    parse_chimerax_json,
    parse_powerfit_log_seconds,
    parse_powerfit_solutions,
    pdb_atom_centre,
)
from benchmarks.report import format_table, summarise, write_csv, write_plot

from tests.conftest import data_path


def rot_about(axis, deg: float) -> np.ndarray:
    a = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    t = np.radians(deg)
    return np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * k @ k


def pose(r: np.ndarray, t) -> np.ndarray:
    return np.concatenate([r, np.asarray(t, dtype=float)[:, None]], axis=1)


@pytest.fixture
def ca(rng) -> np.ndarray:
    return rng.normal(scale=10.0, size=(50, 3)) + np.array([100.0, 50.0, -20.0])


# ----------------------------------------------------------------------------- verdicts
def test_judge_within_and_beyond_tolerance(ca):
    ref = pose(np.eye(3), [0, 0, 0])
    c = ca.mean(axis=0)
    # rotate 5° about the centroid and shift 2 Å: within 3 Å / 6°
    r = rot_about([1, 2, 3], 5.0)
    near = pose(r, c - r @ c + np.array([2.0, 0, 0]))
    v = J.judge(near, [("ref", ref)], ca)
    assert v.correct and v.shift == pytest.approx(2.0) and v.angle_deg == pytest.approx(5.0)
    assert v.rmsd > 2.0
    r7 = rot_about([1, 2, 3], 7.0)
    assert not J.judge(pose(r7, c - r7 @ c), [("ref", ref)], ca).correct
    assert not J.judge(pose(np.eye(3), [3.5, 0, 0]), [("ref", ref)], ca).correct


def test_judge_picks_the_matching_reference_among_symmetry_copies(ca):
    r = rot_about([0, 0, 1], 90.0)
    other = pose(r, [50.0, 0, 0])
    refs = [("A", pose(np.eye(3), [0, 0, 0])), ("B", other)]
    v = J.judge(other, refs, ca)
    assert v.correct and v.reference == "B" and v.rmsd == pytest.approx(0.0, abs=1e-9)
    far = J.judge(pose(np.eye(3), [40.0, 0, 0]), refs, ca)
    assert not far.correct and far.reference == "A"  # nearest by RMSD


def test_superpose_compose_invert(ca, rng):
    r = rot_about(rng.normal(size=3), 123.0)
    p = pose(r, [1.0, -2.0, 3.0])
    moved = J.apply(p, ca)
    np.testing.assert_allclose(J.superpose(ca, moved), p, atol=1e-9)
    np.testing.assert_allclose(J.compose(J.invert(p), p), pose(np.eye(3), [0, 0, 0]), atol=1e-12)


def test_screw_parameters_of_a_known_helical_operator():
    # -166.6° about z through (10, 20, *), rise 27.5 Å
    r = rot_about([0, 0, 1], -166.6)
    pivot = np.array([10.0, 20.0, 0.0])
    op = pose(r, pivot - r @ pivot + np.array([0, 0, 27.5]))
    s = screw_parameters(op)
    assert s["angle_deg"] == pytest.approx(-166.6)
    assert s["rise_A"] == pytest.approx(27.5)
    assert abs(s["axis"][2]) == pytest.approx(1.0)
    np.testing.assert_allclose(np.asarray(s["point_on_axis"])[:2], pivot[:2], atol=1e-6)


# ------------------------------------------------------------------------------ parsers
def test_parse_chimerax_json(tmp_path):
    r = rot_about([0, 1, 0], 30.0)
    doc = {
        "command": "fitmap #1 inMap #2 search 1000 resolution 5",
        "fit_seconds": 71.5,
        "fits": [
            {"rank": 1, "correlation": 0.82, "average_map_value": 1.4, "times_found": 145,
             "rotation": r.tolist(), "translation": [367.0, 233.0, 385.0]},
            {"rank": 2, "correlation": 0.61, "average_map_value": 0.9, "times_found": 3,
             "rotation": np.eye(3).tolist(), "translation": [1.0, 2.0, 3.0]},
        ],
    }  # fmt: skip
    p = tmp_path / "fits.json"
    p.write_text(json.dumps(doc))
    sols, secs = parse_chimerax_json(p)
    assert secs == 71.5
    assert [s.hits for s in sols] == [145, 3]
    assert sols[0].score == 0.82  # map mode: correlation
    np.testing.assert_allclose(sols[0].pose, pose(r, [367.0, 233.0, 385.0]))
    # atoms mode: no correlation, ranked by average map value
    for f in doc["fits"]:
        f["correlation"] = None
    p.write_text(json.dumps(doc))
    assert parse_chimerax_json(p)[0][0].score == 1.4
    # 0 fits is a valid answer
    p.write_text(json.dumps({"command": "x", "fit_seconds": 1.0, "fits": []}))
    assert parse_chimerax_json(p) == ([], 1.0)


def _write_pdb(path: Path, xyz: np.ndarray) -> None:
    lines = [
        f"ATOM  {i + 1:5d}  CA  ALA A{i + 1:4d}    {x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00           C"
        for i, (x, y, z) in enumerate(xyz)
    ]
    path.write_text("\n".join(lines) + "\nEND\n")


def test_parse_powerfit_solutions_convention(tmp_path, rng):
    xyz = rng.normal(scale=8.0, size=(20, 3)) + np.array([5.0, -3.0, 12.0])
    model = tmp_path / "m.pdb"
    _write_pdb(model, xyz)
    c = pdb_atom_centre(model)
    np.testing.assert_allclose(c, np.round(xyz, 3).mean(axis=0), atol=1e-9)
    r = rot_about([1, 1, 0], 40.0)
    centre_out = np.array([367.186, 231.547, 384.997])
    rows = [
        "#rank      cc Fish-z  rel-z        x        y        z    a11    a12    a13    a21    a22    a23    a31    a32    a33"
    ]
    for rank, (cc, rr) in enumerate(((0.151, r), (0.091, np.eye(3))), start=1):
        vals = [*centre_out, *rr.reshape(-1)]
        rows.append(f"{rank:<7d} {cc:.3f}  {cc:.3f}  9.192 " + " ".join(f"{v:8.3f}" for v in vals))
    sol = tmp_path / "solutions.out"
    sol.write_text("\n".join(rows) + "\n")
    sols = parse_powerfit_solutions(sol, c)
    assert [s.rank for s in sols] == [1, 2] and sols[0].hits is None and sols[0].score == 0.151
    # fitted = R (x - mean) + (x, y, z)
    expected = (np.round(xyz, 3) - c) @ np.round(r, 3).T + centre_out
    np.testing.assert_allclose(J.apply(sols[0].pose, np.round(xyz, 3)), expected, atol=1e-9)
    # delimited output (--delimiter ,) reads the same
    sol.write_text("\n".join([rows[0]] + [",".join(r.split()) for r in rows[1:]]) + "\n")
    np.testing.assert_allclose(parse_powerfit_solutions(sol, c)[0].pose, sols[0].pose)


def test_parse_powerfit_log_seconds(tmp_path):
    log = tmp_path / "powerfit.log"
    log.write_text(
        "2026-11-21 20:06:50,933 Target file read from: x.mrc\n"
        "2026-11-21 20:06:50,958 Starting search\n"
        "2026-11-21 20:07:14,458 Analyzing results\n"
        "2026-11-21 20:07:15,933 Total time: 0m 25s\n"
    )
    s = parse_powerfit_log_seconds(log)
    assert s["search"] == pytest.approx(23.5) and s["total"] == pytest.approx(25.0)


# ---------------------------------------------------------------------- table and files
def _rec(case, tool, wall, *, correct=True, hits=10, pose12=None, status="ok", rmsd=0.5):
    return {"case": case, "tool": tool, "status": status, "wall_s": wall, "compute_s": wall - 1,
            "cpu_s": wall * 1.5, "peak_mb": 100.0, "top_hits": hits, "top_correct": correct,
            "top_rmsd": rmsd, "top_shift": 0.3, "top_angle": 1.0, "top_reference": "ref",
            "top_pose": pose12}  # fmt: skip


def test_summarise_medians_ratios_and_table(ca, tmp_path):
    p0 = pose(np.eye(3), [0, 0, 0]).reshape(-1).tolist()
    p_far = pose(np.eye(3), [20.0, 0, 0]).reshape(-1).tolist()
    recs = [
        _rec("demo", "difffit", 2.0, hits=500, pose12=p0),
        _rec("demo", "difffit", 4.0, hits=500, pose12=p0),
        _rec("demo", "difffit", 3.0, hits=500, pose12=p0),
        _rec("demo", "chimerax-map", 60.0, hits=145, pose12=p0),
        _rec("demo", "powerfit", 15.0, hits=None, correct=False, pose12=p_far, rmsd=20.0),
        {"case": "demo", "tool": "chimerax-atoms", "status": "skipped (--skip)"},
        _rec("hcn4", "difffit", 10.0, status="timeout"),
    ]
    rows = summarise(recs, case_order=["demo", "hcn4"], ca_xyz={"demo": ca})
    by = {(r["case"], r["tool"]): r for r in rows}
    d = by[("demo", "difffit")]
    assert d["runs"] == 3 and d["wall_median_s"] == 3.0 and d["wall_min_s"] == 2.0
    assert d["top_hits"] == 500 and d["top_correct"] == "y" and d["ratio_wall_vs_difffit"] is None
    cx = by[("demo", "chimerax-map")]
    assert cx["ratio_wall_vs_difffit"] == pytest.approx(20.0)
    assert cx["ratio_compute_vs_difffit"] == pytest.approx(59.0 / 2.0)
    assert cx["same_top_as_difffit"] == "y"
    pf = by[("demo", "powerfit")]
    assert pf["top_correct"] == "n" and pf["same_top_as_difffit"] == "n"
    assert by[("demo", "chimerax-atoms")]["runs"] == 0
    assert by[("hcn4", "difffit")]["status"] == "timeout"
    # tools in a fixed order within a case
    assert [r["tool"] for r in rows if r["case"] == "demo"] == [
        "difffit",
        "chimerax-atoms",
        "chimerax-map",
        "powerfit",
    ]

    text = format_table(rows)
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["case", "tool", "runs", "wall"]
    pf_line = next(ln for ln in lines if ln.startswith("demo") and "powerfit" in ln)
    assert " n/a " in pf_line and " 5.0 " in pf_line  # 15 s / 3 s
    assert "not run: skipped (--skip)" in next(ln for ln in lines if "chimerax-atoms" in ln)
    assert "not run: timeout" in next(ln for ln in lines if ln.startswith("hcn4"))

    write_csv(rows, tmp_path / "b.csv")
    header = (tmp_path / "b.csv").read_text().splitlines()[0].split(",")
    assert header[:3] == ["case", "tool", "status"] and "ratio_wall_vs_difffit" in header
    write_plot(rows, tmp_path / "b.png")
    assert (tmp_path / "b.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_split_verdicts_show_as_fraction():
    recs = [_rec("demo", "difffit", 2.0, correct=c) for c in (True, False, True)]
    assert summarise(recs)[0]["top_correct"] == "2/3"


# ------------------------------------------------------------------------- measurement
def test_run_measured_wall_memory_and_timeout(tmp_path):
    code = "import time, numpy as np; a = np.ones(40_000_000, dtype=np.float32); time.sleep(0.6); print('done')"
    st = run_measured([sys.executable, "-c", code], log_dir=tmp_path, name="alloc", interval=0.05)
    assert st.returncode == 0 and not st.timed_out and st.stdout().strip() == "done"
    assert st.wall_s >= 0.6
    assert st.max_rss_mb > 160 and st.peak_mb >= st.max_rss_mb  # 160 MB array
    assert st.peak_tree_pss_mb > 100
    st = run_measured(
        [sys.executable, "-c", "import time; time.sleep(30)"],
        log_dir=tmp_path,
        name="slow",
        timeout_s=0.5,
    )
    assert st.timed_out and st.returncode == 124 and st.wall_s < 10


# ------------------------------------------------------------------------- real data
def test_case_inputs_and_reference_poses_on_real_data(tmp_path):
    from benchmarks.cases import ca_coords, get_case, model_input, reference_poses

    data_path("ccpem_emd3488_haemoglobin", "5me2.pdb")
    hb = get_case("haemoglobin")
    model = model_input(hb, tmp_path)
    text = model.read_text()
    assert "HETATM" not in text
    chains = {ln[21] for ln in text.splitlines() if ln.startswith("ATOM")}
    assert chains == {"A"}
    ca = ca_coords(model)
    assert len(ca) == 140
    refs = reference_poses(hb)
    assert [lab for lab, _ in refs] == [
        "deposited chain A",
        "chain A superposed on deposited chain C",
    ]
    # the deposited chain is correct for its own pose; chain C's site is elsewhere
    assert J.judge(refs[0][1], refs[:1], ca).correct
    v = J.judge(refs[1][1], refs[:1], ca)
    assert not v.correct and v.shift > 10


def test_gz_maps_are_decompressed_once_for_every_tool(tmp_path):
    import gzip

    from benchmarks.cases import get_case, map_input

    src = data_path("mainmastseg_emd0093_hcn4", "MAP_m4A.mrc.gz")
    case = get_case("hcn4")
    out = map_input(case, tmp_path)
    assert out.name == "MAP_m4A.mrc" and out.parent == tmp_path / "inputs"
    with gzip.open(src, "rb") as fh:
        assert out.read_bytes()[:1024] == fh.read(1024)
    mtime = out.stat().st_mtime_ns
    assert map_input(case, tmp_path) == out and out.stat().st_mtime_ns == mtime
    assert map_input(get_case("demo"), tmp_path) == get_case("demo").map_path


def test_run_benchmark_help_and_report_only(tmp_path, capsys):
    from benchmarks import run_benchmark

    with pytest.raises(SystemExit) as exc:
        run_benchmark.main(["--help"])
    assert exc.value.code == 0
    assert "--peer-reps" in capsys.readouterr().out

    data_path("difffit_domainfit_demo", "density2.mrc")
    from benchmarks.cases import get_case, reference_poses

    ref = reference_poses(get_case("demo"))[0][1]
    shifted = ref.copy()
    shifted[:, 3] += [10.0, 0.0, 0.0]
    recs = [
        {
            **_rec("demo", "difffit", 2.0, pose12=ref.reshape(-1).tolist()),
            "top_correct": None,
            "solutions": [
                {"pose": ref.reshape(-1).tolist(), "hits": 7, "score": 0.8},
                {"pose": shifted.reshape(-1).tolist(), "hits": 50, "score": 0.5},
                {
                    "pose": (ref + [[0, 0, 0, 0.5]] * 3).reshape(-1).tolist(),
                    "hits": 3,
                    "score": 0.4,
                },
            ],
        },
        {
            **_rec("demo", "chimerax-atoms", 30.0, pose12=shifted.reshape(-1).tolist()),
            "top_correct": None,
        },
    ]
    (tmp_path / "raw.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    assert run_benchmark.main(["--report-only", "--out", str(tmp_path), "--cases", "demo"]) == 0
    out = capsys.readouterr().out
    lines = {ln.split()[1]: ln for ln in out.splitlines() if ln.startswith("demo ")}
    # verdicts are re-judged against the reference poses
    assert lines["difffit"].split()[9] == "y" and lines["chimerax-atoms"].split()[9] == "n"
    assert lines["difffit"].split()[8] == "10"  # correct hits: 7 + 3, not the 50 elsewhere
    assert (tmp_path / "benchmark.csv").exists() and (tmp_path / "benchmark.png").exists()


def test_same_top_on_another_symmetry_copy_is_marked_sym(ca):
    p0 = pose(np.eye(3), [0, 0, 0]).reshape(-1).tolist()
    p1 = pose(rot_about([0, 0, 1], 51.4), [30.0, 0, 0]).reshape(-1).tolist()
    recs = [
        _rec("groel", "difffit", 2.0, pose12=p0),
        _rec("groel", "chimerax-map", 60.0, pose12=p1),  # correct, on another site
        _rec("groel", "powerfit", 60.0, pose12=p1, correct=False),
    ]
    rows = {r["tool"]: r for r in summarise(recs, ca_xyz={"groel": ca})}
    assert rows["chimerax-map"]["same_top_as_difffit"] == "sym"
    assert rows["powerfit"]["same_top_as_difffit"] == "n"
