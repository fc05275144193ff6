"""Run the peers (ChimeraX ``fitmap`` global search, PowerFit) and read their solutions.

The peers are driven through the shared scripts in ``../shared/peers`` (env ``DIFFFIT_PEERS``),
which install each peer into its own venv under /tmp on first use. Wall time and peak memory of
the whole process tree come from :func:`benchmarks.measure.run_measured`.

Transform conventions (all turned into 3×4 ``[R | t]``, ``x_map = R x_input + t``, Å):

* ChimeraX: ``chimerax_headless.py --json`` writes each fit's 3×4 matrix mapping the model's
  original coordinates to map (scene) coordinates — used as is. Fits are sorted by correlation
  (map mode) or average map value (atoms mode); ``times_found`` is the number of the N random
  placements that converged into that fit (within 6° / 3 Å).
* PowerFit: ``solutions.out`` rows ``rank cc Fish-z rel-z x y z a11 … a33`` with
  ``fitted = R (x - mean(x)) + (x, y, z)``, the mean over every ATOM/HETATM record PowerFit
  read from the template (``peers/powerfit.sh`` header; checked against ``fit_1.pdb`` in
  :func:`check_powerfit_convention`). So ``t = (x, y, z) - R mean``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from benchmarks.measure import RunStats, run_measured

__all__ = [
    "PeerRun",
    "Solution",
    "chimerax_argv",
    "parse_chimerax_json",
    "parse_powerfit_log_seconds",
    "parse_powerfit_solutions",
    "pdb_atom_centre",
    "peers_dir",
    "powerfit_argv",
    "run_chimerax",
    "run_powerfit",
]

ROOT = Path(__file__).resolve().parents[1]


def peers_dir() -> Path:
    """Folder of the peer scripts (env ``DIFFFIT_PEERS``, default ``../shared/peers``)."""
    return Path(os.environ.get("DIFFFIT_PEERS", ROOT.parent / "shared" / "peers"))


@dataclass(frozen=True)
class Solution:
    """One solution of a tool, best first.

    Attributes
    ----------
    rank : int
    pose : (3, 4) array — ``x_map = R x_input + t`` (Å)
    score : float — the tool's ranking score (correlation, average map value, cc)
    hits : int or None — placements that ended in this solution (None: the tool has no count)
    extra : dict — other metrics of the tool
    """

    rank: int
    pose: np.ndarray
    score: float
    hits: int | None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PeerRun:
    """A measured peer run: process statistics, its solutions, and its own compute time."""

    stats: RunStats
    solutions: list[Solution]
    compute_s: float | None  # the tool's own search time (ChimeraX fitmap; PowerFit search)
    info: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------- ChimeraX
def chimerax_argv(
    map_path: Path,
    model_path: Path,
    *,
    search: int,
    level: float,
    json_path: Path,
    resolution: float | None = None,
    seed: int = 1,
) -> list[str]:
    """Command line of ``chimerax_fitmap.sh``: atoms mode, or map mode with ``resolution``."""
    argv = [
        "bash", str(peers_dir() / "chimerax_fitmap.sh"), str(map_path), str(model_path),
        "--search", str(search), "--level", f"{level:g}", "--seed", str(seed),
        "--json", str(json_path), "--quiet", "--top", "5",
    ]  # fmt: skip
    if resolution is not None:
        argv += ["--resolution", f"{resolution:g}"]
    return argv


def parse_chimerax_json(path: Path) -> tuple[list[Solution], float | None]:
    """Solutions (best first) and fitmap's own seconds from a ``chimerax_headless.py --json``."""
    doc = json.loads(Path(path).read_text())
    sols = []
    for i, f in enumerate(doc.get("fits", [])):
        rot = np.asarray(f["rotation"], dtype=np.float64).reshape(3, 3)
        t = np.asarray(f["translation"], dtype=np.float64).reshape(3)
        corr = f.get("correlation")
        score = corr if corr is not None else f.get("average_map_value")
        extra = {
            k: f.get(k)
            for k in ("correlation", "correlation_about_mean", "overlap", "average_map_value",
                      "fraction_inside_contour", "steps")
        }  # fmt: skip
        sols.append(
            Solution(
                rank=int(f.get("rank", i + 1)),
                pose=np.concatenate([rot, t[:, None]], axis=1),
                score=float(score) if score is not None else float("nan"),
                hits=int(f["times_found"]) if f.get("times_found") is not None else None,
                extra=extra,
            )
        )
    secs = doc.get("fit_seconds")
    return sols, (float(secs) if secs is not None else None)


def run_chimerax(
    map_path: Path,
    model_path: Path,
    *,
    search: int,
    level: float,
    run_dir: Path,
    resolution: float | None = None,
    seed: int = 1,
    timeout_s: float | None = None,
) -> PeerRun:
    """Run ChimeraX ``fitmap … search N`` (atoms mode, or map mode with ``resolution``)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    json_path = run_dir / "fits.json"
    if json_path.exists():
        json_path.unlink()
    argv = chimerax_argv(
        map_path, model_path, search=search, level=level, json_path=json_path,
        resolution=resolution, seed=seed,
    )  # fmt: skip
    stats = run_measured(argv, log_dir=run_dir, name="chimerax", timeout_s=timeout_s)
    sols, secs = ([], None)
    if json_path.exists():
        sols, secs = parse_chimerax_json(json_path)
    return PeerRun(stats, sols, secs, {"argv": argv})


# --------------------------------------------------------------------------------- PowerFit
def powerfit_argv(
    map_path: Path, resolution: float, model_path: Path, out_dir: Path, *, angle: float = 10,
    nproc: int = 2,
) -> list[str]:  # fmt: skip
    """Command line of ``powerfit.sh`` (``-a angle -p nproc``)."""
    return [
        "bash", str(peers_dir() / "powerfit.sh"), str(map_path), f"{resolution:g}",
        str(model_path), str(out_dir), "-a", f"{angle:g}", "-p", str(nproc),
    ]  # fmt: skip


def pdb_atom_centre(path: Path) -> np.ndarray:
    """Mean of the coordinates of every ATOM/HETATM record of a PDB file (what PowerFit centres)."""
    xyz = []
    with Path(path).open() as fh:
        for line in fh:
            if line.startswith(("ATOM  ", "HETATM")):
                xyz.append((float(line[30:38]), float(line[38:46]), float(line[46:54])))
    if not xyz:
        raise ValueError(f"{path}: no ATOM/HETATM records")
    return np.asarray(xyz).mean(axis=0)


def parse_powerfit_solutions(path: Path, template_centre: np.ndarray) -> list[Solution]:
    """Solutions of a PowerFit ``solutions.out`` (fixed width or delimited), best first.

    ``template_centre`` is the mean template coordinate (:func:`pdb_atom_centre` of the model
    PowerFit read): the pose is ``R x + (xyz - R centre)``.
    """
    c = np.asarray(template_centre, dtype=np.float64).reshape(3)
    sols = []
    with Path(path).open() as fh:
        for line in fh:
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            v = [float(x) for x in re.split(r"[\s,;]+", s) if x]
            if len(v) != 16:
                raise ValueError(f"{path}: expected 16 columns, got {len(v)}: {s!r}")
            rot = np.asarray(v[7:16]).reshape(3, 3)
            pos = np.asarray(v[4:7])
            t = pos - rot @ c
            sols.append(
                Solution(
                    rank=int(v[0]),
                    pose=np.concatenate([rot, t[:, None]], axis=1),
                    score=v[1],
                    hits=None,
                    extra={"cc": v[1], "fish_z": v[2], "rel_z": v[3]},
                )
            )
    sols.sort(key=lambda s: s.rank)
    return sols


_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (.*)$")


def parse_powerfit_log_seconds(path: Path) -> dict[str, float]:
    """Seconds of PowerFit's phases from the timestamps of ``powerfit.log``.

    Returns ``search`` ("Starting search" → "Analyzing results") and ``total`` (first → last
    line) when those lines are present.
    """
    stamps: list[tuple[datetime, str]] = []
    for line in Path(path).read_text(errors="replace").splitlines():
        m = _LOG_TIME.match(line)
        if m:
            stamps.append((datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f"), m.group(2)))
    out: dict[str, float] = {}
    if not stamps:
        return out
    out["total"] = (stamps[-1][0] - stamps[0][0]).total_seconds()
    start = next((t for t, msg in stamps if msg.startswith("Starting search")), None)
    end = next((t for t, msg in stamps if msg.startswith("Analyzing results")), None)
    if start is not None and end is not None:
        out["search"] = (end - start).total_seconds()
    return out


def run_powerfit(
    map_path: Path,
    resolution: float,
    model_path: Path,
    *,
    run_dir: Path,
    angle: float = 10,
    nproc: int = 2,
    timeout_s: float | None = None,
) -> PeerRun:
    """Run PowerFit (``-a angle -p nproc``) into ``run_dir/powerfit``."""
    out_dir = run_dir / "powerfit"
    sol_path = out_dir / "solutions.out"
    if sol_path.exists():
        sol_path.unlink()
    argv = powerfit_argv(map_path, resolution, model_path, out_dir, angle=angle, nproc=nproc)
    stats = run_measured(argv, log_dir=run_dir, name="powerfit", timeout_s=timeout_s)
    sols: list[Solution] = []
    secs: dict[str, float] = {}
    if sol_path.exists():
        sols = parse_powerfit_solutions(sol_path, pdb_atom_centre(model_path))
    if (out_dir / "powerfit.log").exists():
        secs = parse_powerfit_log_seconds(out_dir / "powerfit.log")
    return PeerRun(stats, sols, secs.get("search"), {"argv": argv, "log_seconds": secs})


def check_powerfit_convention(model_path: Path, out_dir: Path) -> float:
    """RMSD (Å) between PowerFit's ``fit_1.pdb`` and the input placed by our reading of rank 1.

    A few hundredths of an Å (the 3-decimal rounding of ``solutions.out``) confirms the
    convention; anything larger means the parser is wrong.
    """
    sols = parse_powerfit_solutions(out_dir / "solutions.out", pdb_atom_centre(model_path))

    def coords(p: Path) -> np.ndarray:
        with p.open() as fh:
            return np.asarray(
                [
                    (float(ln[30:38]), float(ln[38:46]), float(ln[46:54]))
                    for ln in fh
                    if ln.startswith(("ATOM  ", "HETATM"))
                ]
            )

    x = coords(model_path)
    y = coords(out_dir / "fit_1.pdb")
    p = sols[0].pose
    placed = x @ p[:, :3].T + p[:, 3]
    return float(np.sqrt(np.mean(np.sum((placed - y) ** 2, axis=1))))
