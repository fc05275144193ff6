"""``difffit report RESULTS``: one self-contained HTML page of a fit, composite or screen folder.

The page needs no server and no network: it is one ``report.html`` with inline CSS and inline
SVG, to open from disk or send to a collaborator. It holds

- the header: the kind of run, the map (name, resolution, contour level), the command;
- the table of results (fit: clusters; composite: placements, then each round's decisions;
  screen: ranked candidates with q-values), at most :data:`MAX_ROWS` rows;
- plots: the distribution of the ranking score over all clusters (or candidates), the hits
  of the best ranks, and the z-score of each rank;
- a static 3D view: the map's voxels above the contour level (subsampled) and the CA trace
  of the top models (fit, screen) or of every placed copy (composite), projected on the map's
  two principal axes (SVG; the third axis sets the drawing order).

The folders are read through the viewer's :class:`~difffit.viewer.Workspace` (the one reader
of the three kinds of folder) and :func:`difffit.io.composite.read_placements`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from difffit.errors import ResultsError

__all__ = ["MAX_ROWS", "ReportData", "gather_report", "render_report"]

#: Rows of the table shown (the files hold them all).
MAX_ROWS = 50
#: Models drawn in the 3D view (fit and screen), and map points.
MAX_MODELS = 5
MAX_MAP_POINTS = 4000
#: Ranks shown in the hits and z plots.
MAX_RANKS = 20
COLORS = ("#ff7f0e", "#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
          "#17becf", "#bcbd22", "#7f7f7f")  # fmt: skip


@dataclass
class ReportData:
    """What the page shows, gathered from a folder (no HTML)."""

    kind: str
    folder: Path
    map_name: str
    resolution: float | None
    level: float
    title: str
    columns: list[str]
    rows: list[dict[str, Any]]
    n_rows: int
    scores: list[float]
    score_name: str
    hits: list[tuple[int, float]]
    z: list[tuple[int, float]]
    map_points: np.ndarray
    traces: list[tuple[str, np.ndarray]]  # (label, (n, 3) CA coordinates), in draw order
    extra_tables: list[tuple[str, list[str], list[dict[str, Any]]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _ca_traces(cif_text: str) -> list[tuple[str, np.ndarray]]:
    """(chain name, CA (or P) trace) of each chain of an mmCIF text."""
    import gemmi

    st = gemmi.make_structure_from_block(gemmi.cif.read_string(cif_text).sole_block())
    out = []
    for ch in st[0]:
        xyz = [a.pos.tolist() for r in ch for a in r if a.name in ("CA", "P")]
        if len(xyz) >= 2:
            out.append((ch.name, np.array(xyz)))
    return out


def _map_points(density, level: float, rng: np.random.Generator) -> np.ndarray:
    data = np.asarray(density.data)
    idx = np.argwhere(data > level)  # (z, y, x)
    if len(idx) > MAX_MAP_POINTS:
        idx = idx[np.sort(rng.choice(len(idx), MAX_MAP_POINTS, replace=False))]
    xyz = idx[:, ::-1] * np.asarray(density.voxel_size_xyz) + np.asarray(density.origin_xyz)
    return xyz.astype(float)


def _numbers(rows: Sequence[dict[str, Any]], col: str) -> list[float]:
    out = []
    for r in rows:
        v = r.get(col)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out.append(float(v))
    return out


def _ranked(rows: Sequence[dict[str, Any]], col: str) -> list[tuple[int, float]]:
    out = []
    for r in rows[:MAX_RANKS]:
        v = r.get(col)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out.append((int(r["rank"]), float(v)))
    return out


def gather_report(folder: str | Path) -> ReportData:
    """Read a fit, composite or screen folder into :class:`ReportData`.

    Raises
    ------
    ResultsError
        Not one of the three kinds of folder, or its map is gone.
    """
    from difffit.viewer.workspace import Workspace

    folder = Path(folder)
    if not folder.is_dir():
        raise ResultsError(f"{folder}: no such folder")
    if not any((folder / f).is_file() for f in ("manifest.json", "composite.json", "screen.json")):
        raise ResultsError(
            f"{folder}: not a difffit fit, composite or screen folder (no manifest.json, "
            "composite.json or screen.json)"
        )
    ws = Workspace(folder)
    s = ws.session()
    kind = s["kind"]
    rng = np.random.default_rng(0)
    from difffit.io.maps import read_map

    density = read_map(ws.original_map_path)
    points = _map_points(density, ws.level, rng)
    res = s.get("resolution")
    base: dict[str, Any] = dict(
        kind=kind, folder=folder.resolve(), map_name=s["map_name"],
        resolution=None if res is None or res != res else float(res), level=float(ws.level),
        map_points=points,
    )  # fmt: skip
    if kind == "composite":
        return _composite(ws, s, folder, base)
    rid = s["rounds"][0]["id"]
    table = ws.clusters(rid)
    rows = table["rows"]
    score_name = "score" if "score" in table["columns"] else "cam"
    traces = []
    for r in rows[:MAX_MODELS]:
        text, _ = ws.model_cif(rid, int(r["rank"]))
        for i, (_, ca) in enumerate(_ca_traces(text)):
            traces.append((f"rank {r['rank']} {r['structure']}" + (f" ({i + 1})" if i else ""), ca))
    notes = []
    if kind == "screen" and s.get("counts"):
        c = s["counts"]
        notes.append(", ".join(f"{k} {v}" for k, v in c.items()))
    title = (f"difffit screen: {len(rows)} candidates ranked" if kind == "screen"
             else f"difffit fit: {len(rows)} clusters")  # fmt: skip
    return ReportData(
        **base, title=title, columns=table["columns"], rows=rows[:MAX_ROWS], n_rows=len(rows),
        scores=_numbers(rows, score_name), score_name=score_name, hits=_ranked(rows, "hits"),
        z=_ranked(rows, "z"), traces=traces, notes=notes,
    )  # fmt: skip


def _composite(ws, s: dict[str, Any], folder: Path, base: dict[str, Any]) -> ReportData:
    from difffit.io.composite import read_placements

    path = folder / "placements.csv"
    placements = read_placements(path) if path.is_file() else []
    columns = ["structure", "copy", "round", "rank", "chains", "correlation", "cam",
               "relative_cam", "inside", "clash_fraction"]  # fmt: skip
    rows = [
        {"structure": p.structure, "copy": p.copy, "round": p.round, "rank": p.rank,
         "chains": ",".join(p.chains), "correlation": p.correlation, "cam": p.cam,
         "relative_cam": p.relative_cam, "inside": p.inside, "clash_fraction": p.clash_fraction}
        for p in placements
    ]  # fmt: skip
    extra = []
    scores: list[float] = []
    for r in s["rounds"]:
        d = ws.decisions(r["id"])
        if d["rows"]:
            cols = [
                c for c in ("rank", "structure", "decision", "cam", "reason") if c in d["columns"]
            ]
            extra.append((f"round {r['id']}: decisions", cols, d["rows"][:MAX_ROWS]))
            scores += _numbers(d["rows"], "cam")
    traces = []
    asm = folder / "assembly.cif"
    if asm.is_file():
        owner = {c: f"{p.structure}#{p.copy}" for p in placements for c in p.chains}
        for chain, ca in _ca_traces(asm.read_text()):
            traces.append((f"{owner.get(chain, 'chain')} {chain}", ca))
    hits = [(i + 1, float(p.hits)) for i, p in enumerate(placements[:MAX_RANKS])]
    return ReportData(
        **base, title=f"difffit composite: {_count(len(rows), 'copy', 'copies')} placed in "
        f"{_count(len(s['rounds']), 'round', 'rounds')}", columns=columns, rows=rows[:MAX_ROWS], n_rows=len(rows), scores=scores,
        score_name="cam of every round's candidates", hits=hits, z=[], traces=traces,
        extra_tables=extra,
    )  # fmt: skip


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


# ------------------------------------------------------------------------ HTML and SVG
def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if not math.isfinite(v):
            return ""
        return f"{v:.3g}" if abs(v) < 1e-3 and v != 0 else f"{v:.4g}"
    return "" if v is None else str(v)


def _table(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c)))}</td>" for c in columns) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _axes(w: int, h: int, m: int, x0: float, x1: float, y0: float, y1: float,
          xlabel: str, ylabel: str) -> str:  # fmt: skip
    return (
        f'<line x1="{m}" y1="{h - m}" x2="{w - 8}" y2="{h - m}" class="ax"/>'
        f'<line x1="{m}" y1="{h - m}" x2="{m}" y2="8" class="ax"/>'
        f'<text x="{m}" y="{h - m + 14}" class="tk">{_fmt(x0)}</text>'
        f'<text x="{w - 8}" y="{h - m + 14}" class="tk" text-anchor="end">{_fmt(x1)}</text>'
        f'<text x="{m - 4}" y="{h - m}" class="tk" text-anchor="end">{_fmt(y0)}</text>'
        f'<text x="{m - 4}" y="14" class="tk" text-anchor="end">{_fmt(y1)}</text>'
        f'<text x="{(w + m) / 2}" y="{h - 4}" class="lb" text-anchor="middle">'
        f"{html.escape(xlabel)}</text>"
        f'<text x="12" y="{(h - m) / 2}" class="lb" text-anchor="middle" '
        f'transform="rotate(-90 12 {(h - m) / 2})">{html.escape(ylabel)}</text>'
    )


def _histogram(values: Sequence[float], label: str, w: int = 360, h: int = 220) -> str:
    if not values:
        return '<p class="dim">no scores</p>'
    m = 42
    lo, hi = min(values), max(values)
    if hi <= lo:
        hi = lo + 1.0
    counts, edges = np.histogram(values, bins=min(30, max(5, len(values) // 3)), range=(lo, hi))
    top = max(int(counts.max()), 1)
    bw = (w - 8 - m) / len(counts)
    bars = "".join(
        f'<rect x="{m + i * bw:.1f}" y="{h - m - (c / top) * (h - m - 8):.1f}" '
        f'width="{max(bw - 1, 1):.1f}" height="{(c / top) * (h - m - 8):.1f}" class="bar">'
        f"<title>{_fmt(edges[i])}-{_fmt(edges[i + 1])}: {c}</title></rect>"
        for i, c in enumerate(counts)
    )
    return (f'<svg class="plot" data-plot="scores" viewBox="0 0 {w} {h}" width="{w}" '
            f'height="{h}">{bars}{_axes(w, h, m, lo, hi, 0, top, label, "count")}</svg>')  # fmt: skip


def _bars(pairs: Sequence[tuple[int, float]], label: str, name: str, w: int = 360,
          h: int = 220) -> str:  # fmt: skip
    if not pairs:
        return f'<p class="dim">no {html.escape(label)}</p>'
    m = 42
    vals = [v for _, v in pairs]
    lo, hi = min(0.0, min(vals)), max(max(vals), 1e-9)
    span = hi - lo
    bw = (w - 8 - m) / len(pairs)
    zero = h - m - (0 - lo) / span * (h - m - 8)
    bars = ""
    for i, (rank, v) in enumerate(pairs):
        y = h - m - (v - lo) / span * (h - m - 8)
        top, height = min(y, zero), abs(zero - y)
        bars += (f'<rect x="{m + i * bw:.1f}" y="{top:.1f}" width="{max(bw - 2, 1):.1f}" '
                 f'height="{max(height, 0.5):.1f}" class="bar" style="fill:{COLORS[0] if i == 0 else "#1f77b4"}">'
                 f"<title>rank {rank}: {_fmt(v)}</title></rect>")  # fmt: skip
    first, last = pairs[0][0], pairs[-1][0]
    return (f'<svg class="plot" data-plot="{name}" viewBox="0 0 {w} {h}" width="{w}" '
            f'height="{h}">{bars}{_axes(w, h, m, first, last, lo, hi, "rank", label)}</svg>')  # fmt: skip


def _view3d(points: np.ndarray, traces: Sequence[tuple[str, np.ndarray]], w: int = 520,
            h: int = 440) -> str:  # fmt: skip
    """The map points and CA traces projected on the map points' two principal axes."""
    allxyz = [points] + [t for _, t in traces]
    stack = np.concatenate([a for a in allxyz if len(a)]) if any(len(a) for a in allxyz) else None
    if stack is None:
        return '<p class="dim">nothing to draw</p>'
    ref = points if len(points) >= 3 else stack
    centre = ref.mean(axis=0)
    _, _, vt = np.linalg.svd(ref - centre, full_matrices=False)
    axes = vt if vt.shape[0] == 3 else np.eye(3)

    def proj(a: np.ndarray) -> np.ndarray:
        return (a - centre) @ axes.T

    p_all = proj(stack)
    lo, hi = p_all[:, :2].min(axis=0), p_all[:, :2].max(axis=0)
    scale = 0.92 * min(w / max(hi[0] - lo[0], 1e-6), h / max(hi[1] - lo[1], 1e-6))
    mid = (lo + hi) / 2

    def xy(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return w / 2 + (p[:, 0] - mid[0]) * scale, h / 2 - (p[:, 1] - mid[1]) * scale

    parts = []
    if len(points):
        pp = proj(points)
        order = np.argsort(pp[:, 2])
        x, y = xy(pp[order])
        parts.append('<g class="map">' + "".join(
            f'<circle cx="{a:.1f}" cy="{b:.1f}" r="1.6"/>' for a, b in zip(x, y, strict=True)
        ) + "</g>")  # fmt: skip
    for i, (label, ca) in enumerate(traces):
        x, y = xy(proj(ca))
        pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(x, y, strict=True))
        parts.append(f'<polyline points="{pts}" class="trace" stroke="{COLORS[i % len(COLORS)]}">'
                     f"<title>{html.escape(label)}</title></polyline>")  # fmt: skip
    legend = "".join(
        f'<span class="key"><i style="background:{COLORS[i % len(COLORS)]}"></i>'
        f"{html.escape(label)}</span>"
        for i, (label, _) in enumerate(traces[:12])
    )
    return (f'<svg class="view3d" viewBox="0 0 {w} {h}" width="{w}" height="{h}">'
            f'{"".join(parts)}</svg><div class="legend">{legend}</div>')  # fmt: skip


_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 24px 0 8px; }
.dim { color: #777; } table { border-collapse: collapse; font-size: 12px; }
th, td { border-bottom: 1px solid #ddd; padding: 2px 8px; text-align: right; }
th { background: #f3f3f3; position: sticky; top: 0; }
td:nth-child(2), th:nth-child(2) { text-align: left; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; }
.plot .bar { fill: #1f77b4; } .ax { stroke: #444; } .tk { font-size: 10px; fill: #444; }
.lb { font-size: 11px; fill: #222; }
.view3d { background: #fafafa; border: 1px solid #ddd; }
.view3d .map circle { fill: #8c9db5; fill-opacity: 0.35; }
.trace { fill: none; stroke-width: 1.6; stroke-linejoin: round; }
.legend .key { display: inline-block; margin-right: 12px; font-size: 12px; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
"""


def render_report(data: ReportData) -> str:
    """The HTML text of the page (self-contained: no external resource)."""
    res = f"{data.resolution:g} Å" if data.resolution is not None else "not recorded"
    shown = (f"{len(data.rows)} of {data.n_rows} rows shown (all in the folder's CSV files)"
             if data.n_rows > len(data.rows) else f"{data.n_rows} rows")  # fmt: skip
    extra = "".join(f"<h2>{html.escape(t)}</h2>{_table(c, r)}" for t, c, r in data.extra_tables)
    notes = "".join(f'<p class="dim">{html.escape(n)}</p>' for n in data.notes)
    plots = [
        f"<div><h2>{html.escape(data.score_name)} distribution</h2>"
        f"{_histogram(data.scores, data.score_name)}</div>",
        f"<div><h2>hits by rank</h2>{_bars(data.hits, 'hits', 'hits')}</div>",
    ]
    if data.kind != "composite":
        z = (
            _bars(data.z, "z", "z")
            if data.z
            else (
                '<p class="dim">no z-scores (a screen needs 8 fitted candidates for its null)</p>'
            )
        )
        plots.append(f"<div><h2>z by rank</h2>{z}</div>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(data.title)}</title>
<style>{_CSS}</style></head>
<body data-kind="{data.kind}">
<h1>{html.escape(data.title)}</h1>
<p>map <b>{html.escape(data.map_name)}</b> · resolution {res} · contour level
{_fmt(data.level)} · folder <code>{html.escape(str(data.folder))}</code></p>
{notes}
<h2>3D view (map above the level, CA traces; principal axes of the map)</h2>
{_view3d(data.map_points, data.traces)}
<div class="plots">{"".join(plots)}</div>
<h2>results</h2><p class="dim">{shown}</p>
{_table(data.columns, data.rows)}
{extra}
<p class="dim">written by difffit report; open from disk, no server needed</p>
</body></html>
"""
