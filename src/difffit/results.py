"""Fit results: the objects :func:`difffit.fit` returns, and their versioned on-disk format.

Format ``difffit-results`` version 1, in one folder (documented in ``docs/results-format.md``):

``clusters.csv``
    One row per cluster, best first: ``rank, structure, hits, density, overlap, correlation,
    cam, inside, refined, fit_id, r11 … r33, t1 t2 t3`` — the transform maps the INPUT file's
    coordinates to map coordinates, ``x' = R x + t`` (Å).
``fits.csv``
    Every placement after the search, before clustering: ``fit_id, structure, rotation_index,
    position_index, score, density, overlap, correlation, cam, inside, cluster_rank, r11 … t3``.
``models/rank_NNN_<structure>.cif``
    The top fitted models (mmCIF; PDB too with ``--pdb``).
``manifest.json``
    Format name and version, difffit version, inputs (paths, sizes), options, seed, level,
    resolution, device, timings.
``open_in_chimerax.cxc``
    Opens the map at the contour level and the fitted models.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from difffit.errors import ResultsError
from difffit.geometry import RigidTransform
from difffit.io.atomic import atomic_path
from difffit.ranking import cluster_sort_key

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "TRANSFORM_COLUMNS",
    "ClusterHit",
    "FitResult",
    "StructureInfo",
    "read_clusters_csv",
    "read_manifest",
]

FORMAT_NAME = "difffit-results"
FORMAT_VERSION = 1
TRANSFORM_COLUMNS = (
    "r11",
    "r12",
    "r13",
    "r21",
    "r22",
    "r23",
    "r31",
    "r32",
    "r33",
    "t1",
    "t2",
    "t3",
)
CLUSTER_COLUMNS = (
    "rank", "structure", "hits", "density", "overlap", "correlation", "cam", "inside",
    "refined", "fit_id",
) + TRANSFORM_COLUMNS  # fmt: skip
FIT_COLUMNS = (
    "fit_id", "structure", "rotation_index", "position_index", "score", "density", "overlap",
    "correlation", "cam", "inside", "cluster_rank",
) + TRANSFORM_COLUMNS  # fmt: skip


@dataclass(frozen=True)
class StructureInfo:
    """What a result needs to know of a fitted structure."""

    name: str
    source: str | None
    n_atoms: int
    n_residues: int
    centre_xyz: tuple[float, float, float]  # centre of the heavy atoms in the input frame, Å
    chains: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClusterHit:
    """One cluster of fits: its representative pose, scores and size.

    ``transform`` maps the structure's input coordinates into the map (x' = R x + t, Å).
    """

    rank: int
    structure: str
    structure_index: int
    hits: int
    density: float
    overlap: float
    correlation: float
    cam: float
    inside: float
    transform: RigidTransform
    refined: bool
    fit_id: int
    extra: dict[str, Any] = field(default_factory=dict)

    def metric(self, name: str) -> float:
        """The value that ranks this cluster by ``name``, a metric or ``"hits"``
        (:func:`difffit.ranking.cluster_sort_key`; ``"score"`` needs the fits' scores)."""
        return cluster_sort_key(self, name)

    def row(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "rank": self.rank,
            "structure": self.structure,
            "hits": self.hits,
            "density": self.density,
            "overlap": self.overlap,
            "correlation": self.correlation,
            "cam": self.cam,
            "inside": self.inside,
            "refined": int(self.refined),
            "fit_id": self.fit_id,
        }
        d.update(zip(TRANSFORM_COLUMNS, self.transform.to_r_t_flat(), strict=True))
        return d


@dataclass(frozen=True, eq=False)
class FitResult:
    """Everything one fit run produced.

    Attributes
    ----------
    clusters : tuple of ClusterHit
        Best first (by ``config.cluster.sort_by``), across all structures.
    fits : dict of column name -> (n_fits,) array
        Every placement after the search (see ``FIT_COLUMNS``).
    structures : tuple of StructureInfo
    level, resolution : float
        Contour level and simulation resolution (Å) used.
    seed : int
    info : dict
        Map, preparation, device, timings, version (the manifest's content).
    """

    clusters: tuple[ClusterHit, ...]
    fits: dict[str, np.ndarray]
    structures: tuple[StructureInfo, ...]
    level: float
    resolution: float
    seed: int
    config: Any
    info: dict[str, Any]

    def best(self, structure: str | None = None) -> ClusterHit | None:
        """The best cluster (of one structure, when named)."""
        for c in self.clusters:
            if structure is None or c.structure == structure:
                return c
        return None

    def for_structure(self, structure: str) -> list[ClusterHit]:
        return [c for c in self.clusters if c.structure == structure]

    def summary_table(self, n: int = 10) -> str:
        """A short ranked text table of the best ``n`` clusters."""
        head = f"{'rank':>4}  {'structure':<24} {'hits':>5} {'corr':>6} {'cam':>6} {'overlap':>8} {'density':>8} {'inside':>6}"
        lines = [head, "-" * len(head)]
        for c in self.clusters[:n]:
            name = c.structure if len(c.structure) <= 24 else c.structure[:21] + "..."
            lines.append(
                f"{c.rank:>4}  {name:<24} {c.hits:>5} {c.correlation:6.3f} {c.cam:6.3f} "
                f"{c.overlap:8.4g} {c.density:8.4g} {c.inside:6.2f}"
            )
        return "\n".join(lines)


# ---------------------------------------------------------------------------- reading back
def _num(v: str) -> Any:
    try:
        i = int(v)
        return i
    except ValueError:
        pass
    try:
        f = float(v)
        return f
    except ValueError:
        return v


def read_format_json(
    path: Path, name: str, version: int, *, unreadable_hint: str = ""
) -> dict[str, Any]:
    """A JSON file whose ``format`` must be ``name`` and ``format_version`` at most ``version``."""
    try:
        man = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{path}: unreadable ({exc}){unreadable_hint}") from None
    if man.get("format") != name:
        raise ResultsError(f"{path}: format {man.get('format')!r} is not {name!r}")
    if int(man.get("format_version", -1)) > version:
        raise ResultsError(
            f"{path}: format version {man.get('format_version')} is newer than this difffit "
            f"reads ({version}); upgrade difffit"
        )
    return man


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest of a results folder, checked for format name and version."""
    path = Path(folder) / "manifest.json"
    if not path.exists():
        raise ResultsError(f"{folder}: no manifest.json — not a difffit results folder")
    man = read_format_json(path, FORMAT_NAME, FORMAT_VERSION)
    return man


def read_clusters_csv(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a ``clusters.csv`` (or ``placements.csv``) with numbers parsed."""
    path = Path(path)
    if not path.exists():
        raise ResultsError(f"{path}: missing")
    with path.open(newline="") as fh:
        rows = [{k: _num(v) for k, v in row.items()} for row in csv.DictReader(fh)]
    for r in rows:
        if all(c in r for c in TRANSFORM_COLUMNS):
            r["transform"] = RigidTransform.from_r_t_flat([r[c] for c in TRANSFORM_COLUMNS])
    return rows


def write_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    with atomic_path(path) as tmp, tmp.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        for r in rows:
            out = []
            for c in columns:
                v = r[c]
                if isinstance(v, (float, np.floating)):
                    v = float(v)
                    out.append(repr(v) if math.isfinite(v) else "nan")
                else:
                    out.append(v)
            w.writerow(out)
