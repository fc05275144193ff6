"""The files of ``fit --flexible``, written beside the rigid results (:func:`save_results`).

In the results folder:

* ``models/rank_NNN_<structure>_flexible.cif`` — the refined model of rigid cluster NNN: every
  atom of the input (hydrogens and ligands included) moved with its residue (the least-squares
  motion of the residue's heavy atoms; residues the fit did not see move with the rigid pose);
  chains, residue numbers, occupancies and B column as in the input.
* ``flexible.csv`` — per refined cluster and domain: ``rank, structure, domain, ranges,
  r11..r33, t1..t3`` (input coordinates -> refined domain, x' = R x + t, Å).
* ``flexible_residues.csv`` — ``rank, structure, chain, residue, insertion, shift``: the
  residue's CA shift (Å) from the rigid pose to the refined model.
* ``manifest.json`` gains a ``"flexible"`` list: per refined cluster its model file and the
  scores of :class:`~difffit.fitting.flexible.FlexibleScores`.

Clusters.csv and fits.csv are not touched.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gemmi
import numpy as np

from difffit.errors import ResultsError
from difffit.flexfit import FlexibleFit, _kabsch, residue_shifts
from difffit.geometry import RigidTransform
from difffit.io.atomic import atomic_write_bytes
from difffit.io.results import (
    MANIFEST,
    _rows,
    model_file_name,
    read_manifest,
    write_csv,
    write_json,
)
from difffit.io.structures import transformed_model
from difffit.structure import Structure

__all__ = [
    "DOMAIN_COLUMNS",
    "RESIDUE_COLUMNS",
    "flexible_model",
    "read_flexible",
    "write_flexible",
]

_MATRIX = ("r11", "r12", "r13", "r21", "r22", "r23", "r31", "r32", "r33", "t1", "t2", "t3")
DOMAIN_COLUMNS = ("rank", "structure", "domain", "ranges", *_MATRIX)
RESIDUE_COLUMNS = ("rank", "structure", "chain", "residue", "insertion", "shift")


def _matrix_row(t: RigidTransform) -> dict[str, float]:
    vals = [*np.asarray(t.rotation).reshape(-1), *np.asarray(t.translation)]
    return {k: float(v) for k, v in zip(_MATRIX, vals, strict=True)}


def flexible_model(
    structure: Structure, fit: FlexibleFit, rigid: RigidTransform
) -> gemmi.Structure:
    """The input's full model with every atom moved with its residue to ``fit.xyz``."""
    st = transformed_model(structure, RigidTransform.identity())
    index: dict[tuple[str, int, str], list[int]] = {}
    for i in range(len(structure)):
        key = (str(structure.chain_ids[i]), int(structure.residue_numbers[i]),
               str(structure.insertion_codes[i]).strip())  # fmt: skip
        index.setdefault(key, []).append(i)
    x0 = structure.coords_xyz
    for ch in st[0]:
        for res in ch:
            key = (ch.name, int(res.seqid.num or 0), res.seqid.icode.strip())
            idx = index.get(key)
            t = rigid if not idx else _kabsch(x0[idx], fit.xyz[idx])
            for at in res:
                p = np.array(at.pos.tolist())
                at.pos = gemmi.Position(*(t.rotation @ p + t.translation))
    return st


def write_flexible(
    folder: str | os.PathLike[str],
    fits: Sequence[FlexibleFit],
    *,
    structures: Sequence[Structure],
    rigid_transforms: dict[int, RigidTransform],
) -> list[dict[str, Any]]:
    """Write the flexible files into a results folder (see the module doc); returns the
    manifest entries. ``rigid_transforms``: rank -> the rigid cluster's transform."""
    folder = Path(folder)
    if not (folder / MANIFEST).exists():
        raise ResultsError(f"{folder}: no manifest.json (write the rigid results first)")
    by_name = {s.name: s for s in structures}
    dom_rows, res_rows, entries = [], [], []
    for f in fits:
        st = by_name[f.structure]
        for d, t in enumerate(f.domain_transforms):
            dom_rows.append({"rank": f.rank, "structure": f.structure, "domain": d + 1,
                             "ranges": f.split.domains[d].ranges, **_matrix_row(t)})  # fmt: skip
        shift = residue_shifts(st, f.rigid_xyz, f.xyz)
        seen = set()
        for i in range(len(st)):
            key = (str(st.chain_ids[i]), int(st.residue_numbers[i]), str(st.insertion_codes[i]))
            if key in seen:
                continue
            seen.add(key)
            res_rows.append({"rank": f.rank, "structure": f.structure, "chain": key[0],
                             "residue": key[1], "insertion": key[2].strip(),
                             "shift": round(float(shift[i]), 4)})  # fmt: skip
        model = flexible_model(st, f, rigid_transforms[f.rank])
        name = model_file_name(f.rank, f.structure, "_flexible.cif")
        path = folder / "models" / name
        path.parent.mkdir(exist_ok=True)
        model.setup_entities()
        atomic_write_bytes(path, model.make_mmcif_document().as_string().encode())
        s = f.scores
        entries.append({
            "rank": f.rank, "structure": f.structure, "cif": f"models/{name}",
            "domains": [d.ranges for d in f.split.domains], "method": f.split.method.value,
            "ca_rmsd_moved": s.ca_rmsd_moved,
            "correlation_before": s.correlation_before, "correlation_after": s.correlation_after,
            "cam_before": s.cam_before, "cam_after": s.cam_after,
            "geometry_input": _geometry(s.geometry_input),
            "geometry_rigid": _geometry(s.geometry_rigid),
            "geometry_after": _geometry(s.geometry_after),
            **f.info,
        })  # fmt: skip
    write_csv(folder / "flexible.csv", DOMAIN_COLUMNS, dom_rows)
    write_csv(folder / "flexible_residues.csv", RESIDUE_COLUMNS, res_rows)
    manifest = read_manifest(folder)
    manifest["flexible"] = entries
    manifest.setdefault("files", {}).update(
        {"flexible": "flexible.csv", "flexible_residues": "flexible_residues.csv"}
    )
    write_json(folder / MANIFEST, manifest)
    return entries


def _geometry(g) -> dict[str, int]:
    return {"n_ca_ca": g.n_ca_ca, "ca_ca_outliers": g.ca_ca_outliers,
            "n_peptide": g.n_peptide, "peptide_outliers": g.peptide_outliers,
            "clashes": g.clashes}  # fmt: skip


def read_flexible(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Load back what :func:`write_flexible` wrote: ``{"domains": rows of flexible.csv (with
    ``transform``: RigidTransform), "residues": rows, "entries": the manifest's list}``."""
    folder = Path(folder)
    if not (folder / "flexible.csv").exists():
        raise ResultsError(f"{folder}: no flexible.csv (run fit with --flexible)")
    doms = _rows(folder / "flexible.csv", DOMAIN_COLUMNS)
    for r in doms:
        m = np.array([float(r[k]) for k in _MATRIX])
        r["transform"] = RigidTransform(m[:9].reshape(3, 3), m[9:])
    residues = _rows(folder / "flexible_residues.csv", RESIDUE_COLUMNS)
    entries = json.loads((folder / MANIFEST).read_text()).get("flexible", [])
    return {"domains": doms, "residues": residues, "entries": entries}
