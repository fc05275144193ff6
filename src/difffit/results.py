"""Fit results: the objects :func:`difffit.fit` returns (values only; no files here).

Their on-disk format, ``difffit-results`` version 1, is owned by :mod:`difffit.io.results`
(``save_results`` / ``load_results``, documented in ``docs/results-format.md``); one folder:

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

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from difffit.geometry import RigidTransform
from difffit.ranking import cluster_sort_key

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "TRANSFORM_COLUMNS",
    "ClusterHit",
    "FitResult",
    "StructureInfo",
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
#: Columns added after the transform (format 1 files written before them still read: NaN).
VERDICT_COLUMNS = (
    "z", "verdict", "centre_x", "centre_y", "centre_z", "distance_to_rank1", "angle_to_rank1",
)  # fmt: skip
CLUSTER_REQUIRED = (
    "rank", "structure", "hits", "density", "overlap", "correlation", "cam", "inside",
    "refined", "fit_id",
) + TRANSFORM_COLUMNS  # fmt: skip
#: Columns of ``fit --symmetry`` (files without them read as copies 1, mate_clash NaN).
SYMMETRY_COLUMNS = ("copies", "mate_clash")
CLUSTER_COLUMNS = CLUSTER_REQUIRED + VERDICT_COLUMNS + SYMMETRY_COLUMNS
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
    #: residue ranges / pLDDT floor it was read with (:func:`difffit.selection.selection_text`)
    selection: str | None = None


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
    #: Fisher-z of cam against the clusters of its structure in the run (:mod:`difffit.verdict`).
    z: float = math.nan
    #: ``convincing``, ``ambiguous`` or ``no convincing fit`` ("" when not judged).
    verdict: str = ""
    #: Centre of the placed structure's heavy atoms, map frame, Å.
    centre_xyz: tuple[float, float, float] = (math.nan, math.nan, math.nan)
    #: Distance (Å, centres) and rotation angle (degrees) to the best cluster of its structure.
    distance_to_rank1: float = math.nan
    angle_to_rank1: float = math.nan
    #: Symmetry-equivalent copies this solution stands for (``fit --symmetry``; 1 without).
    copies: int = 1
    #: Largest fraction of its heavy atoms within 2 Å of one of its own symmetry mates'
    #: (``fit --symmetry``; NaN without): near 1 on a symmetry axis.
    mate_clash: float = math.nan
    #: In-memory diagnostics of the search (not written; not compared).
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ClusterHit):
            return NotImplemented
        return self.structure_index == other.structure_index and _plain_eq(self.row(), other.row())

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
        d.update(
            z=float(self.z), verdict=self.verdict, centre_x=float(self.centre_xyz[0]),
            centre_y=float(self.centre_xyz[1]), centre_z=float(self.centre_xyz[2]),
            distance_to_rank1=float(self.distance_to_rank1),
            angle_to_rank1=float(self.angle_to_rank1),
            copies=int(self.copies), mate_clash=float(self.mate_clash),
        )  # fmt: skip
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

    def __eq__(self, other: object) -> bool:
        """Equal clusters, fits (value by value, NaN = NaN), structures, level, resolution,
        seed, options and info (compared as the JSON they are written as)."""
        if not isinstance(other, FitResult):
            return NotImplemented
        return (
            self.clusters == other.clusters
            and self.structures == other.structures
            and (self.level, self.resolution, self.seed)
            == (other.level, other.resolution, other.seed)
            and self.config == other.config
            and _plain_eq(self.info, other.info)
            and _same_columns(self.fits, other.fits)
        )

    def best(self, structure: str | None = None) -> ClusterHit | None:
        """The best cluster (of one structure, when named)."""
        for c in self.clusters:
            if structure is None or c.structure == structure:
                return c
        return None

    def for_structure(self, structure: str) -> list[ClusterHit]:
        return [c for c in self.clusters if c.structure == structure]

    def summary_table(self, n: int = 10, *, all_clusters: bool = False) -> str:
        """A ranked text table of at most ``n`` clusters.

        Clusters judged ``no convincing fit`` are left out (the best cluster of each structure
        is always shown) unless ``all_clusters``; a last line says how many were left out.
        Every cluster stays in ``clusters.csv``.
        """
        head = (f"{'rank':>4}  {'structure':<24} {'hits':>5} {'corr':>6} {'cam':>6} {'z':>5} "
                f"{'overlap':>8} {'inside':>6}  {'verdict':<17} {'centre x y z (Å)':>22} "
                f"{'d1 Å':>6} {'a1°':>5}")  # fmt: skip
        sym = bool((self.info.get("symmetry") or {}).get("operators"))
        if sym:  # fit --symmetry: the copies of each solution and its overlap with its mates
            head += f" {'copies':>6} {'mates':>6}"
        lines = [head, "-" * len(head)]
        seen: set[str] = set()
        shown = hidden = 0
        for c in self.clusters:
            first = c.structure not in seen
            seen.add(c.structure)
            keep = all_clusters or first or c.verdict != "no convincing fit"
            if not keep or shown >= n:
                hidden += 1
                continue
            shown += 1
            name = c.structure if len(c.structure) <= 24 else c.structure[:21] + "..."
            centre = " ".join(f"{v:7.1f}" for v in c.centre_xyz)
            lines.append(
                f"{c.rank:>4}  {name:<24} {c.hits:>5} {c.correlation:6.3f} {c.cam:6.3f} "
                f"{c.z:5.1f} {c.overlap:8.4g} {c.inside:6.2f}  {c.verdict or '-':<17} "
                f"{centre:>22} {c.distance_to_rank1:6.1f} {c.angle_to_rank1:5.0f}"
                + (f" {c.copies:>6} {c.mate_clash:6.1%}" if sym else "")
            )
        if hidden:
            lines.append(f"({hidden} more clusters, most with no convincing fit, in clusters.csv)")
        return "\n".join(lines)


def _plain(v: Any) -> Any:
    """``v`` as the JSON it is written as: tuples as lists, NumPy scalars as Python numbers."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.ndarray):
        return _plain(v.tolist())
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


def _plain_eq(a: Any, b: Any) -> bool:
    """Equality of :func:`_plain` values, with NaN equal to NaN."""
    a, b = _plain(a), _plain(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_plain_eq(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_plain_eq(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    return bool(a == b)


def _same_columns(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    if set(a) != set(b):
        return False
    for k in a:
        x, y = np.asarray(a[k]), np.asarray(b[k])
        if x.shape != y.shape:
            return False
        if x.dtype.kind in "fc" or y.dtype.kind in "fc":
            if not np.array_equal(x.astype(np.float64), y.astype(np.float64), equal_nan=True):
                return False
        elif x.tolist() != y.tolist():
            return False
    return True


#: Names that moved to :mod:`difffit.io.results` (the format's owner); still importable here.
_MOVED = ("read_clusters_csv", "read_format_json", "read_manifest", "write_csv")


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        from difffit.io import results as _io_results

        return getattr(_io_results, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
