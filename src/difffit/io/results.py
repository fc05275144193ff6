"""Writing a :class:`~difffit.results.FitResult` to a results folder (format in
:mod:`difffit.results`), and reading the parts other tools need back."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from difffit.errors import ResultsError
from difffit.io.atomic import atomic_write_text
from difffit.io.structures import write_structure
from difffit.results import (
    CLUSTER_COLUMNS,
    FIT_COLUMNS,
    FORMAT_NAME,
    FORMAT_VERSION,
    FitResult,
    write_csv,
)
from difffit.structure import Structure

__all__ = ["model_file_name", "save_results"]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:80] or "structure"


def model_file_name(rank: int, structure: str, suffix: str = ".cif") -> str:
    return f"rank_{rank:03d}_{_safe(structure)}{suffix}"


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=1, default=_json_default) + "\n")


def save_results(
    result: FitResult,
    folder: str | os.PathLike[str],
    *,
    structures: Sequence[Structure],
    map_path: str | os.PathLike[str] | None,
    n_models: int = 5,
    write_pdb: bool = False,
    command: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the results folder; returns its path.

    ``structures`` are the fitted structures (matched to the result by name), used to write the
    top ``n_models`` fitted models. The manifest is written last: a folder with a manifest is
    complete.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ResultsError(f"{folder}: exists and is not a folder")
    if (folder / "manifest.json").exists() and not overwrite:
        raise ResultsError(
            f"{folder}: holds results already (choose another --out, or --overwrite)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    by_name = {s.name: s for s in structures}
    missing = {c.structure for c in result.clusters} - set(by_name)
    if missing:
        raise ResultsError(f"no structure given for {', '.join(sorted(missing))}")

    write_csv(folder / "clusters.csv", CLUSTER_COLUMNS, [c.row() for c in result.clusters])
    fits = result.fits
    rows = [{c: fits[c][i] for c in FIT_COLUMNS} for i in range(len(fits["fit_id"]))]
    write_csv(folder / "fits.csv", FIT_COLUMNS, rows)

    models_dir = folder / "models"
    models_dir.mkdir(exist_ok=True)
    models = []
    for c in result.clusters[: max(0, n_models)]:
        st = by_name[c.structure]
        p = write_structure(
            st, models_dir / model_file_name(c.rank, c.structure), transform=c.transform
        )
        entry = {"rank": c.rank, "structure": c.structure, "cif": str(p.relative_to(folder))}
        if write_pdb:
            pp = write_structure(
                st, models_dir / model_file_name(c.rank, c.structure, ".pdb"), transform=c.transform
            )
            entry["pdb"] = str(pp.relative_to(folder))
        models.append(entry)

    map_abs = str(Path(map_path).resolve()) if map_path else None
    cxc = ["# difffit results: open the map and the fitted models in ChimeraX"]
    if map_abs:
        cxc.append(f'open "{map_abs}"')
        cxc.append(f"volume #1 level {result.level:.6g} style mesh")
    for i, mdl in enumerate(models):
        cxc.append(f'open "{(folder / mdl["cif"]).resolve()}"')
        cxc.append(f"# rank {mdl['rank']}: {mdl['structure']}  (model #{i + 2})")
    (folder / "open_in_chimerax.cxc").write_text("\n".join(cxc) + "\n")

    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "kind": "fit",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": command,
        "map": {"path": map_abs, **result.info.get("map", {})},
        "structures": [
            {
                "name": s.name,
                "path": str(Path(s.source).resolve()) if s.source else None,
                "atoms": s.n_atoms,
                "residues": s.n_residues,
                "chains": list(s.chains),
                "centre_xyz": list(s.centre_xyz),
            }
            for s in result.structures
        ],
        "seed": result.seed,
        "level": result.level,
        "resolution": result.resolution,
        "options": result.config.to_dict(),
        "models": models,
        "n_clusters": len(result.clusters),
        "n_fits": len(fits["fit_id"]),
        **{k: v for k, v in result.info.items() if k != "map"},
        "files": {
            "clusters": "clusters.csv",
            "fits": "fits.csv",
            "models": "models/",
            "chimerax": "open_in_chimerax.cxc",
        },
    }
    write_json(folder / "manifest.json", manifest)
    return folder
