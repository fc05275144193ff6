"""Summaries of benchmark runs: the table, its CSV and the PNG plot (pure, no running).

A *record* is one run of one tool on one case (a dict, one line of ``raw.jsonl``, written by
``run_benchmark.py``): ``case, tool, rep, status ("ok", "failed", "timeout", "skipped"),
wall_s, compute_s, peak_mb, top_hits, top_correct, top_rmsd, top_shift, top_angle,
top_pose`` (12 numbers) and more. :func:`summarise` turns records into one row per
(case, tool) with medians and the time ratios peer / difffit.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from benchmarks.judge import ANGLE_TOLERANCE_DEG, SHIFT_TOLERANCE, pose_difference

__all__ = ["SUMMARY_COLUMNS", "format_table", "summarise", "write_csv", "write_plot"]

TOOL_ORDER = ("difffit", "chimerax-atoms", "chimerax-map", "powerfit")

SUMMARY_COLUMNS = (
    "case", "tool", "status", "runs", "wall_median_s", "wall_min_s", "wall_max_s",
    "compute_median_s", "cpu_median_s", "peak_mb_median", "peak_mb_max", "top_hits", "correct_hits", "top_correct",
    "top_rmsd", "top_shift", "top_angle", "top_reference", "same_top_as_difffit",
    "ratio_wall_vs_difffit", "ratio_compute_vs_difffit", "settings",
)  # fmt: skip


def _median(values: Iterable[float | None]) -> float | None:
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    return statistics.median(v) if v else None


def _tool_key(tool: str) -> tuple[int, str]:
    return (TOOL_ORDER.index(tool) if tool in TOOL_ORDER else len(TOOL_ORDER), tool)


def summarise(
    records: Sequence[dict], case_order: Sequence[str] | None = None, ca_xyz: dict | None = None
) -> list[dict]:
    """One row per (case, tool): medians over the successful runs, verdicts, ratios.

    ``ca_xyz`` (case -> (n, 3) CA coordinates) lets the rows say whether a peer's top pose is
    the same as difffit's: "y" within 3 Å / 6°, "sym" when both are correct but on different
    (symmetry-equivalent) reference poses, "n" otherwise; without it that column is empty.
    """
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        groups.setdefault((r["case"], r["tool"]), []).append(r)
    order = list(case_order or [])
    for case, _ in groups:
        if case not in order:
            order.append(case)
    rows = []
    for case in order:
        tools = sorted({t for (c, t) in groups if c == case}, key=_tool_key)
        for tool in tools:
            recs = groups[(case, tool)]
            ok = [r for r in recs if r.get("status") == "ok"]
            statuses = sorted({r.get("status", "?") for r in recs})
            row: dict = {c: None for c in SUMMARY_COLUMNS}
            row.update(case=case, tool=tool, runs=len(ok))
            row["status"] = "ok" if ok and statuses == ["ok"] else "/".join(statuses)
            row["settings"] = recs[-1].get("settings", "")
            if ok:
                walls = [r["wall_s"] for r in ok]
                row["wall_median_s"] = _median(walls)
                row["wall_min_s"] = min(walls)
                row["wall_max_s"] = max(walls)
                row["compute_median_s"] = _median(r.get("compute_s") for r in ok)
                row["cpu_median_s"] = _median(r.get("cpu_s") for r in ok)
                row["peak_mb_median"] = _median(r.get("peak_mb") for r in ok)
                row["peak_mb_max"] = max(r.get("peak_mb") or 0.0 for r in ok)
                hits = [r.get("top_hits") for r in ok if r.get("top_hits") is not None]
                row["top_hits"] = int(statistics.median(hits)) if hits else None
                ch = [r["correct_hits"] for r in ok if r.get("correct_hits") is not None]
                row["correct_hits"] = int(statistics.median(ch)) if ch else None
                verdicts = [r.get("top_correct") for r in ok if r.get("top_correct") is not None]
                if verdicts:
                    n_ok = sum(bool(v) for v in verdicts)
                    row["top_correct"] = (
                        "y"
                        if n_ok == len(verdicts)
                        else "n"
                        if n_ok == 0
                        else f"{n_ok}/{len(verdicts)}"
                    )
                row["top_rmsd"] = _median(r.get("top_rmsd") for r in ok)
                row["top_shift"] = _median(r.get("top_shift") for r in ok)
                row["top_angle"] = _median(r.get("top_angle") for r in ok)
                row["top_reference"] = ok[-1].get("top_reference")
            rows.append(row)
    # ratios and "same top" against difffit of the same case
    by_case = {(r["case"], r["tool"]): r for r in rows}
    top_pose = {}
    for r in records:
        if r.get("status") == "ok" and r.get("top_pose") is not None:
            top_pose.setdefault((r["case"], r["tool"]), r["top_pose"])
    for row in rows:
        d = by_case.get((row["case"], "difffit"))
        if row["tool"] == "difffit" or d is None:
            continue
        if row["wall_median_s"] and d["wall_median_s"]:
            row["ratio_wall_vs_difffit"] = row["wall_median_s"] / d["wall_median_s"]
        if row["compute_median_s"] and d["compute_median_s"]:
            row["ratio_compute_vs_difffit"] = row["compute_median_s"] / d["compute_median_s"]
        a, b = top_pose.get((row["case"], row["tool"])), top_pose.get((row["case"], "difffit"))
        if ca_xyz and row["case"] in ca_xyz and a is not None and b is not None:
            s, ang, _ = pose_difference(np.asarray(a), np.asarray(b), ca_xyz[row["case"]])
            same = s <= SHIFT_TOLERANCE and ang <= ANGLE_TOLERANCE_DEG
            both_correct = row["top_correct"] == "y" and d["top_correct"] == "y"
            row["same_top_as_difffit"] = "y" if same else ("sym" if both_correct else "n")
    return rows


def _fmt(v, spec: str, none: str = "-") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return none
    return format(v, spec)


def format_table(rows: Sequence[dict]) -> str:
    """The human-readable table (fixed-width text)."""
    head = (
        f"{'case':<12} {'tool':<15} {'runs':>4} {'wall s':>8} {'fit s':>8} {'cpu s':>8} {'peak MB':>8} "
        f"{'hits':>5} {'ok hits':>7} {'top ok':>6} {'CA RMSD':>8} {'same':>4} {'x wall':>7} {'x fit':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        if r["status"] != "ok" and not r["runs"]:
            lines.append(f"{r['case']:<12} {r['tool']:<15} {'':>4} not run: {r['status']}")
            continue
        hits = "n/a" if r["tool"] == "powerfit" else _fmt(r["top_hits"], "d")
        ok_hits = "n/a" if r["tool"] == "powerfit" else _fmt(r.get("correct_hits"), "d")
        lines.append(
            f"{r['case']:<12} {r['tool']:<15} {r['runs']:>4} {_fmt(r['wall_median_s'], '8.2f'):>8} "
            f"{_fmt(r['compute_median_s'], '8.2f'):>8} {_fmt(r['cpu_median_s'], '8.1f'):>8} "
            f"{_fmt(r['peak_mb_median'], '8.0f'):>8} "
            f"{hits:>5} {ok_hits:>7} {r['top_correct'] or '?':>6} {_fmt(r['top_rmsd'], '8.2f'):>8} "
            f"{r['same_top_as_difffit'] or '':>4} {_fmt(r['ratio_wall_vs_difffit'], '7.1f', ''):>7} "
            f"{_fmt(r['ratio_compute_vs_difffit'], '7.1f', ''):>7}"
        )
    lines.append(
        "wall s: median process wall time (start-up and file reading included); fit s: the "
        "tool's own compute time (difffit.fit end to end; ChimeraX fitmap; PowerFit search); "
        "cpu s: user+system CPU seconds of the whole run; "
        "peak MB: process tree; hits: placements in the top cluster (ChimeraX: times found; "
        "PowerFit: n/a, exhaustive search has no such count); ok hits: placements that ended on any "
        "correct pose (summed over the tool's 30 best clusters/fits; symmetric maps split hits "
        "over their copies); top ok: top solution within 3 Å / 6° "
        "of a reference pose; same: top = difffit's top (sym: another, equivalent copy); "
        "x wall, x fit: time / difffit's time."
    )
    return "\n".join(lines)


def write_csv(rows: Sequence[dict], path: Path) -> None:
    with Path(path).open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(SUMMARY_COLUMNS))
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in SUMMARY_COLUMNS})


def write_plot(rows: Sequence[dict], path: Path, title: str = "difffit vs peers") -> None:
    """Bar charts of median wall time (log scale) and peak memory per case and tool.

    Bars of runs whose top solution was wrong are hatched.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = list(dict.fromkeys(r["case"] for r in rows))
    tools = sorted({r["tool"] for r in rows}, key=_tool_key)
    colours = {
        "difffit": "#1f77b4",
        "chimerax-atoms": "#ff7f0e",
        "chimerax-map": "#d62728",
        "powerfit": "#2ca02c",
    }
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / max(len(tools), 1)
    for k, (ax, key, label) in enumerate(
        (
            (axes[0], "wall_median_s", "median wall time (s, log)"),
            (axes[1], "peak_mb_median", "peak memory (MB)"),
        )
    ):
        for j, tool in enumerate(tools):
            xs, ys, hatch = [], [], []
            for i, case in enumerate(cases):
                r = next((r for r in rows if r["case"] == case and r["tool"] == tool), None)
                if r is None or r.get(key) is None:
                    continue
                xs.append(i + (j - (len(tools) - 1) / 2) * width)
                ys.append(r[key])
                hatch.append(r.get("top_correct") not in ("y", None))
            bars = ax.bar(xs, ys, width, label=tool, color=colours.get(tool, "grey"))
            for b, h in zip(bars, hatch, strict=True):
                if h:
                    b.set_hatch("//")
                    b.set_edgecolor("black")
        ax.set_xticks(range(len(cases)), cases)
        ax.set_ylabel(label)
        if k == 0:
            ax.set_yscale("log")
            from matplotlib.patches import Patch

            handles = [Patch(color=colours.get(t, "grey"), label=t) for t in tools]
            handles.append(
                Patch(facecolor="white", edgecolor="black", hatch="//", label="top not correct")
            )
            ax.legend(handles=handles, fontsize=8)
    fig.suptitle(title + " (hatched: top solution not correct)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
