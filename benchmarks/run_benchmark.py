"""The benchmark: difffit against ChimeraX fitmap search and PowerFit on the real cases.

One command::

    .venv/bin/python benchmarks/run_benchmark.py --reps 3 --out bench-out/

runs every (case, tool) pair ``--reps`` times, each run in a fresh subprocess, interleaved
(repetition 1 of every tool on every case, then repetition 2, ...), and prints one table per
case and tool: median wall time, the tool's own compute time, peak memory, hits in the top
cluster, whether the top solution is correct and its CA RMSD, and the time ratios
peer / difffit. It writes ``OUT/benchmark.csv`` (the table), ``OUT/benchmark.png`` (plot),
``OUT/raw.jsonl`` (one line per run) and ``OUT/runs/CASE/TOOL/repN/`` (logs, peer outputs).

Tools: ``difffit`` (defaults: 1000 placements, seed 1, all cores), ``chimerax-atoms``
(``fitmap search 1000``, atoms mode: average map value at atoms), ``chimerax-map``
(``fitmap search 1000 resolution R``: correlation with a simulated map), ``powerfit``
(``-a 10 -p 2``). Peers are slow: ``--peer-reps`` caps their repetitions, ``--skip CASE:TOOL``
leaves a pair out (shown as "not run"). ``--quick`` is a smoke test (demo case, one repetition,
search 100, PowerFit -a 20: the times are not the benchmark's).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import peers
from benchmarks.cases import (
    CASES,
    DEFAULT_CASES,
    Case,
    ca_coords,
    get_case,
    map_input,
    model_input,
    reference_poses,
)
from benchmarks.judge import as_pose, judge
from benchmarks.measure import run_measured
from benchmarks.report import format_table, summarise, write_csv, write_plot

TOOLS = ("difffit", "chimerax-atoms", "chimerax-map", "powerfit")
PEER_TOOLS = ("chimerax-atoms", "chimerax-map", "powerfit")
RUNNER = Path(__file__).resolve().parent / "difffit_runner.py"
#: solutions of each run kept in raw.jsonl (and judged for "correct hits")
KEEP_SOLUTIONS = 30


def _settings(tool: str, case: Case, a: argparse.Namespace) -> str:
    if tool == "difffit":
        extra = f" config={a.difffit_config}" if a.difffit_config else ""
        thr = f" threads={a.threads}" if a.threads else ""
        return f"defaults, resolution {case.resolution:g}, seed {a.seed}, device {a.device}{thr}{extra}"
    if tool == "chimerax-atoms":
        return f"search {a.search}, level {case.cx_level:g}, seed {a.seed}"
    if tool == "chimerax-map":
        return f"search {a.search}, resolution {case.resolution:g}, level {case.cx_level:g}, seed {a.seed}"
    return f"-a {a.powerfit_angle:g} -p {a.powerfit_nproc}, resolution {case.resolution:g}"


def run_one(
    tool: str,
    case: Case,
    model: Path,
    run_dir: Path,
    a: argparse.Namespace,
    map_path: Path | None = None,
) -> dict:
    """Run ``tool`` once on ``case`` (model file ``model``, map file ``map_path``, default the
    case's); returns the run record (without the verdict)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    map_path = map_path or case.map_path
    rec: dict = {"case": case.name, "tool": tool, "settings": _settings(tool, case, a)}
    solutions: list[tuple[list[float], int | None, float]] = []  # (pose 12, hits, score)
    if tool == "difffit":
        out_json = run_dir / "difffit.json"
        argv = [
            a.python, str(RUNNER), str(map_path), str(model), "--resolution",
            f"{case.resolution:g}", "--seed", str(a.seed), "--device", a.device, "--json", str(out_json),
            "--top", str(KEEP_SOLUTIONS),
        ]  # fmt: skip
        if a.threads:
            argv += ["--threads", str(a.threads)]
        if a.difffit_config:
            argv += ["--config", a.difffit_config]
        stats = run_measured(argv, log_dir=run_dir, name="difffit", timeout_s=a.timeout)
        if out_json.exists():
            doc = json.loads(out_json.read_text())
            rec["compute_s"] = doc["timings"]["fit_s"]
            rec["import_s"] = doc["timings"]["import_s"]
            rec["read_s"] = doc["timings"]["read_s"]
            rec["fit_timings_s"] = doc.get("fit_timings_s")
            rec["samples_per_second"] = doc.get("samples_per_second")
            rec["level"] = doc.get("level")
            solutions = [(c["matrix_3x4"], c["hits"], c["correlation"]) for c in doc["clusters"]]
    elif tool in ("chimerax-atoms", "chimerax-map"):
        run = peers.run_chimerax(
            map_path, model, search=a.search, level=case.cx_level, run_dir=run_dir,
            resolution=case.resolution if tool == "chimerax-map" else None, seed=a.seed,
            timeout_s=a.timeout,
        )  # fmt: skip
        stats = run.stats
        rec["compute_s"] = run.compute_s
        solutions = [(s.pose.reshape(-1).tolist(), s.hits, s.score) for s in run.solutions]
    elif tool == "powerfit":
        run = peers.run_powerfit(
            map_path, case.resolution, model, run_dir=run_dir, angle=a.powerfit_angle,
            nproc=a.powerfit_nproc, timeout_s=a.timeout,
        )  # fmt: skip
        stats = run.stats
        rec["compute_s"] = run.compute_s
        rec["powerfit_log_seconds"] = run.info.get("log_seconds")
        solutions = [(s.pose.reshape(-1).tolist(), None, s.score) for s in run.solutions]
        lcc = run_dir / "powerfit" / "lcc.mrc"  # a map as large as the target: not kept
        if lcc.exists():
            lcc.unlink()
    else:
        raise ValueError(f"unknown tool {tool!r}")
    rec.update(
        wall_s=stats.wall_s,
        peak_mb=stats.peak_mb,
        max_rss_mb=stats.max_rss_mb,
        cpu_s=stats.cpu_s,
        tree_pss_mb=stats.peak_tree_pss_mb,
        returncode=stats.returncode,
    )
    if stats.timed_out:
        rec["status"] = "timeout"
    elif stats.returncode != 0:
        rec["status"] = "failed"
        rec["error"] = stats.stderr()[-2000:]
    elif tool == "chimerax-atoms" or tool == "chimerax-map":
        rec["status"] = "ok"  # 0 fits is a result (nothing found), not a failure
    else:
        rec["status"] = "ok" if solutions else "failed"
    rec["n_solutions"] = len(solutions)
    rec["solutions"] = [
        {"pose": p, "hits": h, "score": s} for p, h, s in solutions[:KEEP_SOLUTIONS]
    ]
    if solutions:
        rec["top_pose"], rec["top_hits"], rec["top_score"] = solutions[0]
    return rec


def add_verdict(rec: dict, refs: list | None, ca) -> None:
    if rec.get("status") != "ok":
        return
    if rec.get("top_pose") is None:
        rec["top_correct"] = False  # nothing found
        return
    if refs is None:
        return
    v = judge(as_pose(rec["top_pose"]), refs, ca)
    rec.update(
        top_correct=v.correct, top_shift=v.shift, top_angle=v.angle_deg, top_rmsd=v.rmsd,
        top_reference=v.reference,
    )  # fmt: skip
    # placements that ended on ANY correct pose (symmetric maps split them over the copies)
    sols = rec.get("solutions") or []
    if sols and all(s.get("hits") is not None for s in sols):
        rec["correct_hits"] = sum(
            int(s["hits"]) for s in sols if judge(as_pose(s["pose"]), refs, ca).correct
        )


def warm_up(tools: list[str], out: Path, a: argparse.Namespace) -> None:
    """One untimed tiny run per tool: installs the peers' venvs, fills numba's cache."""
    demo = get_case("demo")
    if not demo.available():
        print("[warm-up] demo case not available; skipping the warm-up", flush=True)
        return
    model = model_input(demo, out)
    d = out / "warmup"
    for tool in tools:
        t0 = time.perf_counter()
        if tool == "difffit":
            cfg = '{"search": {"n_rotations": 4, "n_positions": 2, "n_steps": 10}}'
            argv = [a.python, str(RUNNER), str(demo.map_path), str(model), "--config", cfg,
                    "--json", str(d / "difffit.json")]  # fmt: skip
            st = run_measured(argv, log_dir=d, name="difffit", timeout_s=1800)
        elif tool.startswith("chimerax"):
            if tool == "chimerax-map" and "chimerax-atoms" in tools:
                continue
            argv = peers.chimerax_argv(
                demo.map_path, model, search=1, level=1.0, json_path=d / "cx.json"
            )
            st = run_measured(argv, log_dir=d, name="chimerax", timeout_s=1800)
        else:
            argv = peers.powerfit_argv(demo.map_path, 5.0, model, d / "powerfit", angle=40, nproc=1)
            st = run_measured(argv, log_dir=d, name="powerfit", timeout_s=1800)
        status = "ok" if st.returncode == 0 else f"FAILED (exit {st.returncode}; see {d})"
        print(f"[warm-up] {tool}: {status}, {time.perf_counter() - t0:.1f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--out", type=Path, default=Path("bench-out"), help="output folder (default %(default)s)"
    )
    p.add_argument(
        "--cases",
        default=",".join(DEFAULT_CASES),
        help=f"comma-separated cases, or 'all' (default %(default)s; known: {', '.join(c.name for c in CASES)})",
    )
    p.add_argument(
        "--tools", default=",".join(TOOLS), help="comma-separated tools (default %(default)s)"
    )
    p.add_argument("--reps", type=int, default=3, help="repetitions (default %(default)s)")
    p.add_argument(
        "--peer-reps", type=int, help="at most this many repetitions of each peer (default: --reps)"
    )
    p.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="CASE:TOOL",
        help="leave out a pair (repeatable; TOOL or CASE may be '*')",
    )
    p.add_argument(
        "--search", type=int, default=1000, help="ChimeraX random placements (default %(default)s)"
    )
    p.add_argument(
        "--powerfit-angle", type=float, default=10.0, help="PowerFit -a (default %(default)s)"
    )
    p.add_argument(
        "--powerfit-nproc", type=int, default=2, help="PowerFit -p (default %(default)s)"
    )
    p.add_argument(
        "--seed", type=int, default=1, help="seed of difffit and ChimeraX (default %(default)s)"
    )
    p.add_argument("--threads", type=int, help="difffit CPU threads (default: all cores)")
    p.add_argument("--device", default="cpu", help="difffit device (default %(default)s)")
    p.add_argument(
        "--difffit-config", help='difffit FitConfig as JSON, e.g. \'{"search": {"n_steps": 100}}\''
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=3600.0,
        help="seconds per run before it is killed (default %(default)s)",
    )
    p.add_argument(
        "--python", default=sys.executable, help="Python that runs difffit (default: this one)"
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: demo case, 1 repetition, search 100, PowerFit -a 20",
    )
    p.add_argument("--no-warmup", action="store_true", help="skip the untimed warm-up runs")
    p.add_argument(
        "--append", action="store_true", help="add to OUT/raw.jsonl instead of starting it afresh"
    )
    p.add_argument(
        "--report-only", action="store_true", help="only summarise OUT/raw.jsonl (no runs)"
    )
    a = p.parse_args(argv)

    if a.quick:
        a.cases, a.reps, a.search, a.powerfit_angle = "demo", 1, 100, 20.0
    case_names = (
        [c.name for c in CASES] if a.cases == "all" else [c for c in a.cases.split(",") if c]
    )
    try:
        cases = [get_case(c) for c in case_names]
    except KeyError as exc:
        p.error(str(exc))
    tools = [t for t in a.tools.split(",") if t]
    bad = [t for t in tools if t not in TOOLS]
    if bad:
        p.error(f"unknown tools {bad}; known: {', '.join(TOOLS)}")
    peer_reps = a.reps if a.peer_reps is None else min(a.peer_reps, a.reps)
    skips = set()
    for s in a.skip:
        if ":" not in s:
            p.error(f"--skip wants CASE:TOOL, got {s!r}")
        skips.add(tuple(s.split(":", 1)))

    def skipped(case: str, tool: str) -> bool:
        return any(c in (case, "*") and t in (tool, "*") for c, t in skips)

    out: Path = a.out
    out.mkdir(parents=True, exist_ok=True)
    raw = out / "raw.jsonl"
    ca = {}
    refs: dict[str, list | None] = {}
    for case in cases:
        if not case.available():
            continue
        model = model_input(case, out)
        map_input(case, out)  # decompress a .gz map once, before any timing
        ca[case.name] = ca_coords(model)
        try:
            refs[case.name] = reference_poses(case)
        except FileNotFoundError as exc:
            print(f"[benchmark] {exc}: 'top ok' will be '?'", flush=True)
            refs[case.name] = None

    if not a.report_only:
        missing = [c.name for c in cases if not c.available()]
        if missing:
            print(
                f"[benchmark] data missing for {missing} (set DIFFFIT_DATA); they are not run",
                flush=True,
            )
        if any(t in PEER_TOOLS for t in tools):
            if not shutil.which("bash"):
                p.error("bash is needed to run the peer scripts")
            if not (peers.peers_dir() / "chimerax_fitmap.sh").exists():
                p.error(f"peer scripts not found in {peers.peers_dir()} (set DIFFFIT_PEERS)")
        plan = []
        for rep in range(a.reps):
            for case in cases:
                for tool in tools:
                    if rep >= (peer_reps if tool in PEER_TOOLS else a.reps):
                        continue
                    plan.append((rep + 1, case, tool))
        print(
            f"[benchmark] {platform.node()} {platform.processor() or platform.machine()}, "
            f"{len(plan)} runs; output in {out}", flush=True,
        )  # fmt: skip
        if not a.no_warmup:
            warm_up([t for t in tools if not all(skipped(c.name, t) for c in cases)], out, a)
        if not a.append and raw.exists():
            raw.unlink()
        for rep, case, tool in plan:
            if not case.available():
                rec = {"case": case.name, "tool": tool, "rep": rep, "status": "skipped (no data)"}
            elif skipped(case.name, tool):
                rec = {"case": case.name, "tool": tool, "rep": rep, "status": "skipped (--skip)"}
            else:
                run_dir = out / "runs" / case.name / tool / f"rep{rep}"
                model = model_input(case, out)
                rec = run_one(tool, case, model, run_dir, a, map_input(case, out))
                rec["rep"] = rep
                add_verdict(rec, refs.get(case.name), ca[case.name])
                print(
                    f"[benchmark] rep {rep} {case.name:<12} {tool:<15} {rec['status']:<8} "
                    f"wall {rec.get('wall_s', 0):7.1f} s  peak {rec.get('peak_mb', 0):6.0f} MB  "
                    f"hits {rec.get('top_hits')}  top ok {rec.get('top_correct')}  "
                    f"rmsd {rec.get('top_rmsd') if rec.get('top_rmsd') is None else round(rec['top_rmsd'], 2)}",
                    flush=True,
                )  # fmt: skip
            rec["time"] = time.strftime("%Y-%m-%d %H:%M:%S")
            with raw.open("a") as fh:
                fh.write(json.dumps(rec) + "\n")

    if not raw.exists():
        print(f"[benchmark] {raw}: no runs recorded", flush=True)
        return 1
    records = [json.loads(line) for line in raw.read_text().splitlines() if line.strip()]
    # a re-judgement with the current reference poses (they may have been made after the runs)
    for r in records:
        if r.get("status") == "ok" and r["case"] in refs:
            add_verdict(r, refs[r["case"]], ca[r["case"]])
    wanted = {c.name for c in cases}
    records = [r for r in records if r["case"] in wanted] if not a.report_only else records
    rows = summarise(records, case_order=[c.name for c in CASES], ca_xyz=ca)
    table = format_table(rows)
    print(table)
    (out / "benchmark.txt").write_text(table + "\n")
    write_csv(rows, out / "benchmark.csv")
    write_plot(rows, out / "benchmark.png", title=f"difffit vs peers ({platform.node()})")
    print(f"[benchmark] wrote {out / 'benchmark.csv'}, {out / 'benchmark.png'}, {raw}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
