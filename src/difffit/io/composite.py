"""The tables of a composite run: ``placements.csv`` and ``candidates.csv`` (columns and rows).

The run folder that holds them is :class:`difffit.io.folders.RunFolder`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from difffit.composite.types import Candidate, Placement
from difffit.errors import ResultsError
from difffit.io.results import read_clusters_csv, write_csv
from difffit.results import TRANSFORM_COLUMNS

__all__ = [
    "CANDIDATE_COLUMNS",
    "PLACEMENT_COLUMNS",
    "read_candidate_mates",
    "read_placements",
    "write_candidates",
    "write_placements",
]

PLACEMENT_COLUMNS = (
    "structure", "copy", "round", "chains", "source_chains", "rank", "hits", "correlation", "cam",
    "overlap", "density", "inside", "relative_cam", "clash_atoms", "clash_fraction",
    *TRANSFORM_COLUMNS,
)  # fmt: skip
CANDIDATE_COLUMNS = (
    "round", "rank", "structure", "decision", "hits", "correlation", "cam", "overlap", "density",
    "inside", "relative_cam", "clash_atoms", "clash_fraction", "clash_with", "reason",
    *TRANSFORM_COLUMNS, "mate_of", "operator",
)  # fmt: skip


def _placement_row(p: Placement) -> dict[str, Any]:
    row = {
        "structure": p.structure, "copy": p.copy, "round": p.round, "chains": ";".join(p.chains),
        "source_chains": ";".join(p.source_chains), "rank": p.rank, "hits": p.hits,
        "correlation": p.correlation, "cam": p.cam, "overlap": p.overlap, "density": p.density,
        "inside": p.inside, "relative_cam": p.relative_cam, "clash_atoms": p.clash_atoms,
        "clash_fraction": p.clash_fraction,
    }  # fmt: skip
    row.update(zip(TRANSFORM_COLUMNS, p.transform.to_r_t_flat(), strict=True))
    return row


def write_placements(path: str | os.PathLike[str], placements: Sequence[Placement]) -> Path:
    """``placements.csv``: one row per placed copy (columns ``PLACEMENT_COLUMNS``)."""
    path = Path(path)
    write_csv(path, PLACEMENT_COLUMNS, [_placement_row(p) for p in placements])
    return path


def _split(v: Any) -> tuple[str, ...]:
    return tuple(s for s in str(v).split(";") if s) if v not in (None, "") else ()


def read_placements(path: str | os.PathLike[str]) -> list[Placement]:
    """Placements from a ``placements.csv``."""
    rows = read_clusters_csv(path)
    out = []
    for r in rows:
        missing = [c for c in PLACEMENT_COLUMNS if c not in r]
        if missing:
            raise ResultsError(f"{path}: columns missing: {', '.join(missing)}")
        out.append(
            Placement(
                structure=str(r["structure"]),
                copy=int(r["copy"]),
                round=int(r["round"]),
                rank=int(r["rank"]),
                hits=int(r["hits"]),
                correlation=float(r["correlation"]),
                cam=float(r["cam"]),
                overlap=float(r["overlap"]),
                density=float(r["density"]),
                inside=float(r["inside"]),
                relative_cam=float(r["relative_cam"]),
                clash_atoms=int(r["clash_atoms"]),
                clash_fraction=float(r["clash_fraction"]),
                transform=r["transform"],
                source_chains=_split(r["source_chains"]),
                chains=_split(r["chains"]),
            )
        )
    return out


def _candidate_row(c: Candidate) -> dict[str, Any]:
    h = c.hit
    row = {
        "round": c.round, "rank": h.rank, "structure": h.structure, "decision": c.decision.value,
        "hits": h.hits, "correlation": h.correlation, "cam": h.cam, "overlap": h.overlap,
        "density": h.density, "inside": h.inside, "relative_cam": c.relative_cam,
        "clash_atoms": c.clash_atoms, "clash_fraction": c.clash_fraction,
        "clash_with": c.clash_with, "reason": c.reason,
    }  # fmt: skip
    row.update(zip(TRANSFORM_COLUMNS, h.transform.to_r_t_flat(), strict=True))
    row.update(mate_of=c.mate_of, operator=c.operator)
    return row


def write_candidates(path: str | os.PathLike[str], candidates: Sequence[Candidate]) -> Path:
    """``candidates.csv``: the clusters a round examined, with the decision and the reason."""
    path = Path(path)
    write_csv(path, CANDIDATE_COLUMNS, [_candidate_row(c) for c in candidates])
    return path


def read_candidate_mates(path: str | os.PathLike[str]) -> dict[int, tuple[int, int]]:
    """The symmetry mates listed in a ``candidates.csv``: rank -> (``mate_of``, ``operator``)
    (files written before these columns have none)."""
    path = Path(path)
    if not path.exists():
        return {}
    out = {}
    for r in read_clusters_csv(path):
        mate_of = int(r.get("mate_of") or 0)
        if mate_of:
            out[int(r["rank"])] = (mate_of, int(r.get("operator") or 0))
    return out
