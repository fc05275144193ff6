"""The tables of a composite run: ``placements.csv`` and ``candidates.csv`` (columns and rows),
and, for ``composite --flexible``, ``flexible.csv`` and ``flexible_residues.csv``.

The run folder that holds them is :class:`difffit.io.folders.RunFolder`.

* ``flexible.csv`` — one row per refined placement (``FLEXIBLE_COLUMNS``): the label
  (``structure#copy``), the domains refined as rigid bodies, cam and correlation before/after
  (rigid placement -> refined model, working map of its round), the CA RMSD moved, and the
  geometry of the input and of the refined model (CA–CA and C–N bonds checked and outliers,
  heavy-atom pairs closer than 2.2 Å).
* ``flexible_residues.csv`` — one row per residue of every refined placement
  (``FLEXIBLE_RESIDUE_COLUMNS``): ``placement, chain, residue, insertion, shift`` (CA shift from
  the rigid placement, Å) and the residue's rigid motion from the input coordinates
  ``r11 … r33 t1 t2 t3`` (x' = R x + t): the refined model is the input moved residue by
  residue.

A placement without rows in them is rigid. Folders without them (rigid runs, runs before
``--flexible``) read as all rigid.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from difffit.composite.types import Candidate, Placement, RefinedCopy
from difffit.errors import ResultsError
from difffit.fitting.restraints import GeometryReport
from difffit.io.results import read_clusters_csv, write_csv
from difffit.results import TRANSFORM_COLUMNS

__all__ = [
    "CANDIDATE_COLUMNS",
    "FLEXIBLE_COLUMNS",
    "FLEXIBLE_RESIDUE_COLUMNS",
    "PLACEMENT_COLUMNS",
    "attach_refined",
    "read_candidate_mates",
    "read_placements",
    "read_refined",
    "write_candidates",
    "write_placements",
    "write_refined",
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


FLEXIBLE_COLUMNS = (
    "placement", "structure", "copy", "domains", "cam_before", "cam_after",
    "correlation_before", "correlation_after", "ca_rmsd_moved",
    "n_ca_ca", "ca_ca_outliers_input", "ca_ca_outliers",
    "n_peptide", "peptide_outliers_input", "peptide_outliers", "clashes_input", "clashes",
)  # fmt: skip
FLEXIBLE_RESIDUE_COLUMNS = (
    "placement", "chain", "residue", "insertion", "shift", *TRANSFORM_COLUMNS,
)  # fmt: skip


def write_refined(folder: str | os.PathLike[str], placements: Sequence[Placement]) -> list[Path]:
    """``flexible.csv`` and ``flexible_residues.csv`` of the refined ``placements`` in
    ``folder`` (none written, and stale ones removed, when no placement is refined)."""
    folder = Path(folder)
    paths = [folder / "flexible.csv", folder / "flexible_residues.csv"]
    refined = [p for p in placements if p.refined is not None]
    if not refined:
        for f in paths:
            f.unlink(missing_ok=True)
        return []
    rows, res_rows = [], []
    for p in refined:
        rc = p.refined
        assert rc is not None
        g0, g = rc.geometry_input, rc.geometry_after
        rows.append({
            "placement": p.label, "structure": p.structure, "copy": p.copy,
            "domains": ";".join(rc.domains), "cam_before": rc.cam_before,
            "cam_after": rc.cam_after, "correlation_before": rc.correlation_before,
            "correlation_after": rc.correlation_after, "ca_rmsd_moved": rc.ca_rmsd_moved,
            "n_ca_ca": g.n_ca_ca, "ca_ca_outliers_input": g0.ca_ca_outliers,
            "ca_ca_outliers": g.ca_ca_outliers, "n_peptide": g.n_peptide,
            "peptide_outliers_input": g0.peptide_outliers,
            "peptide_outliers": g.peptide_outliers, "clashes_input": g0.clashes,
            "clashes": g.clashes,
        })  # fmt: skip
        for (chain, num, ins), m, shift in zip(rc.residues, rc.motions, rc.shifts, strict=True):
            row: dict[str, Any] = {"placement": p.label, "chain": chain, "residue": num,
                                   "insertion": ins, "shift": float(shift)}  # fmt: skip
            flat = np.concatenate([m[:, :3].reshape(9), m[:, 3]])
            row.update(zip(TRANSFORM_COLUMNS, (float(v) for v in flat), strict=True))
            res_rows.append(row)
    write_csv(paths[0], FLEXIBLE_COLUMNS, rows)
    write_csv(paths[1], FLEXIBLE_RESIDUE_COLUMNS, res_rows)
    return paths


def _dict_rows(path: Path, columns: Sequence[str]) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in columns if c not in (reader.fieldnames or ())]
        if missing:
            raise ResultsError(f"{path}: columns missing: {', '.join(missing)}")
        return list(reader)


def read_refined(folder: str | os.PathLike[str]) -> dict[str, RefinedCopy]:
    """The refined copies written by :func:`write_refined` in ``folder``, by placement label
    (empty when the folder has none)."""
    folder = Path(folder)
    path, res_path = folder / "flexible.csv", folder / "flexible_residues.csv"
    if not path.exists():
        return {}
    if not res_path.exists():
        raise ResultsError(f"{res_path}: missing beside {path.name}; the run folder is damaged")
    residues: dict[str, list[dict[str, str]]] = {}
    for r in _dict_rows(res_path, FLEXIBLE_RESIDUE_COLUMNS):
        residues.setdefault(r["placement"], []).append(r)
    out = {}
    try:
        for r in _dict_rows(path, FLEXIBLE_COLUMNS):
            label = r["placement"]
            rows = residues.get(label, [])
            if not rows:
                raise ResultsError(f"{res_path}: no residues of the refined placement {label}")
            flat = np.array([[float(x[c]) for c in TRANSFORM_COLUMNS] for x in rows])
            motions = np.empty((len(rows), 3, 4))
            motions[:, :, :3] = flat[:, :9].reshape(-1, 3, 3)
            motions[:, :, 3] = flat[:, 9:]

            def geo(suffix: str, r=r) -> GeometryReport:
                return GeometryReport(
                    n_ca_ca=int(r["n_ca_ca"]), ca_ca_outliers=int(r["ca_ca_outliers" + suffix]),
                    n_peptide=int(r["n_peptide"]),
                    peptide_outliers=int(r["peptide_outliers" + suffix]),
                    clashes=int(r["clashes" + suffix]),
                )  # fmt: skip

            out[label] = RefinedCopy(
                residues=tuple((x["chain"], int(x["residue"]), x["insertion"]) for x in rows),
                motions=motions, shifts=np.array([float(x["shift"]) for x in rows]),
                domains=tuple(d for d in r["domains"].split(";") if d),
                cam_before=float(r["cam_before"]), cam_after=float(r["cam_after"]),
                correlation_before=float(r["correlation_before"]),
                correlation_after=float(r["correlation_after"]),
                ca_rmsd_moved=float(r["ca_rmsd_moved"]),
                geometry_input=geo("_input"), geometry_after=geo(""),
            )  # fmt: skip
    except (KeyError, ValueError) as exc:
        raise ResultsError(f"{path}: unreadable row ({exc})") from None
    return out


def attach_refined(
    placements: Sequence[Placement], refined: dict[str, RefinedCopy]
) -> list[Placement]:
    """``placements`` with the refined copies of ``refined`` (by label) attached."""
    known = {p.label for p in placements}
    stray = sorted(set(refined) - known)
    if stray:
        raise ResultsError(f"refined copies of placements that are not placed: {', '.join(stray)}")
    return [dataclasses.replace(p, refined=refined[p.label]) if p.label in refined else p
            for p in placements]  # fmt: skip


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
