"""The results folder (format ``difffit-results``, see :mod:`difffit.results` and
``docs/results-format.md``): :func:`save_results` writes it, :func:`load_results` reads it back
(``load_results(save_results(r, d, ...)) == r``), :func:`results_files` says where its map and
model files are. No other module parses these files.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from difffit.config import FitConfig
from difffit.errors import ResultsError
from difffit.geometry import RigidTransform
from difffit.io.atomic import atomic_path, atomic_write_text
from difffit.io.locks import hold_folder
from difffit.io.structures import write_structure
from difffit.results import (
    CLUSTER_COLUMNS,
    CLUSTER_REQUIRED,
    FIT_COLUMNS,
    FORMAT_NAME,
    FORMAT_VERSION,
    TRANSFORM_COLUMNS,
    ClusterHit,
    FitResult,
    StructureInfo,
)
from difffit.structure import Structure

__all__ = [
    "ResultsFiles",
    "load_results",
    "model_file_name",
    "read_clusters_csv",
    "read_manifest",
    "remove_results",
    "results_files",
    "save_results",
]

MANIFEST = "manifest.json"
#: Manifest keys that are not part of ``FitResult.info`` (written from other fields).
_NOT_INFO = ("format", "format_version", "kind", "created", "command", "map", "structures",
             "seed", "level", "resolution", "options", "models", "n_clusters", "n_fits", "files")  # fmt: skip
#: fits.csv columns holding whole numbers.
_INT_FIT_COLUMNS = ("fit_id", "rotation_index", "position_index", "cluster_rank")


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


def _script_path(target: str | os.PathLike[str], folder: Path) -> str:
    """``target`` relative to ``folder`` (absolute when no relative path exists)."""
    try:
        return Path(os.path.relpath(Path(target).resolve(), folder.resolve())).as_posix()
    except ValueError:  # another drive
        return str(Path(target).resolve())


def write_chimerax_script(
    path: Path,
    map_path: str | os.PathLike[str] | None,
    level: float,
    models: Sequence[tuple[Path, str]],
    *,
    title: str,
    hidden_maps: Sequence[tuple[Path, str]] = (),
    sym: Mapping[Path, tuple[str, str]] | None = None,
) -> Path:
    """A ChimeraX script with paths relative to its folder (ChimeraX runs a ``.cxc`` from its
    own folder), so that the folder still opens once copied. A map outside the folder is named
    by its relative path with its absolute origin in a comment line.

    ``sym`` maps a model's path to (assembly id, description): a ``sym #N assembly ID`` line
    follows its ``open`` (the symmetry mates of a ``--symmetry`` run, from the model's mmCIF
    assemblies)."""
    folder = path.parent
    lines = [f"# {title}"]
    n = 0
    if map_path is not None:
        rel = _script_path(map_path, folder)
        if rel.startswith("../") or Path(rel).is_absolute():
            lines.append(f"# map from {Path(map_path).resolve()} (outside this folder)")
        lines += [f'open "{rel}"', f"volume #1 level {level:.6g} style mesh"]
        n = 1
    for m, label in hidden_maps:
        n += 1
        lines += [f'open "{_script_path(m, folder)}"', f"volume #{n} hide", f"# {label} (#{n})"]
    sym = sym or {}
    for m, label in models:
        n += 1
        lines += [f'open "{_script_path(m, folder)}"', f"# {label}  (model #{n})"]
        if m in sym:
            ident, what = sym[m]
            lines += [f"# {what}", f"sym #{n} assembly {ident}"]
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


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
    complete. The folder is locked while it is written (:func:`difffit.io.locks.hold_folder`:
    a ConfigError when another run holds it); ``overwrite`` first removes the results it
    replaces (:func:`remove_results`).
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ResultsError(f"{folder}: exists and is not a folder")
    with hold_folder(folder):  # one run writes a folder at a time (re-entrant for fit's own)
        if (folder / MANIFEST).exists():
            if not overwrite:
                raise ResultsError(
                    f"{folder}: holds results already (choose another --out, or --overwrite)"
                )
            remove_results(folder)
        return _save_results(result, folder, structures=structures, map_path=map_path,
                             n_models=n_models, write_pdb=write_pdb, command=command)  # fmt: skip


def remove_results(folder: str | os.PathLike[str]) -> None:
    """Remove the results a folder holds: its manifest first (the folder is then no longer a
    complete results folder), the tables, the ChimeraX script and the fitted models the
    manifest names or :func:`save_results` would write (``models/rank_*``). Other files stay.
    """
    folder = Path(folder)
    names: list[str] = []
    try:
        man = json.loads((folder / MANIFEST).read_text())
        for m in man.get("models", []) if isinstance(man, dict) else []:
            names += [str(m[k]) for k in ("cif", "pdb") if isinstance(m, dict) and m.get(k)]
    except (OSError, ValueError):
        pass
    (folder / MANIFEST).unlink(missing_ok=True)
    models = folder / "models"
    if models.is_dir():
        names += [str(p.relative_to(folder)) for p in models.glob("rank_[0-9][0-9][0-9]_*")]
    for rel in ("clusters.csv", "fits.csv", "open_in_chimerax.cxc", "view.mvsj", *names):
        target = (folder / rel).resolve()
        if target.is_relative_to(folder.resolve()) and target.is_file():
            target.unlink()
    if models.is_dir() and not any(models.iterdir()):
        models.rmdir()


def _save_results(
    result: FitResult,
    folder: Path,
    *,
    structures: Sequence[Structure],
    map_path: str | os.PathLike[str] | None,
    n_models: int,
    write_pdb: bool,
    command: str | None,
) -> Path:
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
    symmetry = result.info.get("symmetry") or {}
    operators = [RigidTransform.from_matrix_3x4(m) for m in symmetry.get("operators", [])] or None
    sym_lines: dict[Path, tuple[str, str]] = {}
    for c in result.clusters[: max(0, n_models)]:
        st = by_name[c.structure]
        p = write_structure(
            st, models_dir / model_file_name(c.rank, c.structure), transform=c.transform,
            symmetry=operators,
        )  # fmt: skip
        if operators is not None and c.rank == result.clusters[0].rank:
            sym_lines[p] = ("1", f"its {symmetry['group']} symmetry mates (the map's operators, "
                                 f"mmCIF assembly 1): {c.copies} copies found by the search")  # fmt: skip
        entry: dict[str, Any] = {
            "rank": c.rank,
            "structure": c.structure,
            "cif": str(p.relative_to(folder)),
        }
        if write_pdb:
            pp = write_structure(
                st, models_dir / model_file_name(c.rank, c.structure, ".pdb"), transform=c.transform
            )
            entry["pdb"] = str(pp.relative_to(folder))
        models.append(entry)

    map_abs = str(Path(map_path).resolve()) if map_path else None
    write_chimerax_script(
        folder / "open_in_chimerax.cxc", map_abs, result.level,
        [(folder / m["cif"], f"rank {m['rank']}: {m['structure']}") for m in models],
        title="difffit results: open the map and the fitted models in ChimeraX",
        sym=sym_lines,
    )  # fmt: skip
    from difffit.io.mvs import write_mvs_view

    mvs = write_mvs_view(
        folder / "view.mvsj", map_abs, result.level,
        [(folder / m["cif"], f"rank {m['rank']}: {m['structure']}") for m in models],
        title="difffit fit: the map and the top fitted models",
    )  # fmt: skip

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
                **({"selection": s.selection} if s.selection else {}),
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
            **({"molviewspec": "view.mvsj"} if mvs else {}),
        },
    }
    write_json(folder / MANIFEST, manifest)
    return folder


# ---------------------------------------------------------------------------- reading back
def load_results(folder: str | os.PathLike[str]) -> FitResult:
    """The :class:`~difffit.results.FitResult` a results folder holds (mirrors :func:`save_results`).

    Clusters (with their transforms), every fit, the structures, level, resolution, seed, the
    options (a :class:`~difffit.config.FitConfig`) and the run's info (device, timings, map
    facts, versions) come back as they were written; the map's path is in
    :func:`results_files`. ``ClusterHit.extra`` (search diagnostics) is not written.

    Raises
    ------
    ResultsError
        Not a results folder, a newer format, or a table missing or without its columns.
    """
    folder = Path(folder)
    man = read_manifest(folder)
    structures = tuple(
        StructureInfo(
            name=str(s["name"]),
            source=s.get("path"),
            n_atoms=int(s["atoms"]),
            n_residues=int(s["residues"]),
            centre_xyz=tuple(float(v) for v in s["centre_xyz"]),  # type: ignore[arg-type]
            chains=tuple(s.get("chains") or ()),
            selection=s.get("selection"),
        )
        for s in man["structures"]
    )
    index = {s.name: i for i, s in enumerate(structures)}
    clusters = tuple(
        _cluster_hit(r, index, folder) for r in _rows(folder / "clusters.csv", CLUSTER_REQUIRED)
    )
    fit_rows = _rows(folder / "fits.csv", FIT_COLUMNS)
    fits: dict[str, np.ndarray] = {}
    for c in FIT_COLUMNS:
        values = [r[c] for r in fit_rows]
        if c == "structure":
            fits[c] = np.array([str(v) for v in values], dtype=object)
        elif c in _INT_FIT_COLUMNS:
            fits[c] = np.array(values, dtype=np.int64)
        else:
            fits[c] = np.array(values, dtype=np.float64)
    info = {k: v for k, v in man.items() if k not in _NOT_INFO}
    info["map"] = {k: v for k, v in (man.get("map") or {}).items() if k != "path"}
    return FitResult(
        clusters=clusters,
        fits=fits,
        structures=structures,
        level=float(man["level"]),
        resolution=float(man["resolution"]),
        seed=int(man["seed"]),
        config=FitConfig.from_dict(man.get("options") or {}),
        info=info,
    )


@dataclass(frozen=True)
class ResultsFiles:
    """Where a results folder's inputs and model files are (absolute paths, None when absent).

    ``models`` maps a cluster rank to its fitted model (mmCIF) inside the folder.
    """

    folder: Path
    map_path: Path | None
    models: dict[int, Path]
    command: str | None


def results_files(folder: str | os.PathLike[str]) -> ResultsFiles:
    """The map and model files a results folder names."""
    folder = Path(folder).resolve()
    man = read_manifest(folder)
    map_path = (man.get("map") or {}).get("path")
    models = {}
    for m in man.get("models", []):
        if m.get("cif"):
            p = (folder / m["cif"]).resolve()
            if p.is_relative_to(folder):
                models[int(m["rank"])] = p
    return ResultsFiles(folder, Path(map_path) if map_path else None, models, man.get("command"))


def is_results_folder(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` holds a complete results folder (its manifest is written last)."""
    return (Path(folder) / MANIFEST).is_file()


def _rows(path: Path, columns: Sequence[str]) -> list[dict[str, Any]]:
    rows = read_clusters_csv(path)
    if rows:
        missing = [c for c in columns if c not in rows[0]]
        if missing:
            raise ResultsError(f"{path}: columns missing: {', '.join(missing)}")
    return rows


def _cluster_hit(r: dict[str, Any], index: dict[str, int], folder: Path) -> ClusterHit:
    name = str(r["structure"])

    def num(key: str) -> float:  # the verdict columns: NaN in files written before them
        v = r.get(key, "")
        return float(v) if v not in ("", None) else math.nan

    return ClusterHit(
        rank=int(r["rank"]), structure=name, structure_index=index.get(name, -1),
        hits=int(r["hits"]), density=float(r["density"]), overlap=float(r["overlap"]),
        correlation=float(r["correlation"]), cam=float(r["cam"]), inside=float(r["inside"]),
        transform=r["transform"], refined=bool(r["refined"]), fit_id=int(r["fit_id"]),
        z=num("z"), verdict=str(r.get("verdict") or ""),
        centre_xyz=(num("centre_x"), num("centre_y"), num("centre_z")),
        distance_to_rank1=num("distance_to_rank1"), angle_to_rank1=num("angle_to_rank1"),
        copies=int(r.get("copies") or 1), mate_clash=num("mate_clash"),
    )  # fmt: skip


def read_cluster_hits(path: str | os.PathLike[str]) -> list[ClusterHit]:
    """The clusters of a ``clusters.csv`` alone (``structure_index`` -1)."""
    return [_cluster_hit(r, {}, Path(path)) for r in _rows(Path(path), CLUSTER_REQUIRED)]


def _num(v: str) -> Any:
    """A CSV field as int, float or the text itself."""
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
    """The manifest of a results folder, checked for format name and version (prefer
    :func:`load_results`)."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        raise ResultsError(f"{folder}: no manifest.json — not a difffit results folder")
    man = read_format_json(path, FORMAT_NAME, FORMAT_VERSION)
    return man


def read_clusters_csv(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
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


def write_csv(path: Path, columns: tuple[str, ...], rows: Iterable[dict[str, Any]]) -> None:
    """Write ``rows`` (read one at a time: a generator streams) atomically as a CSV table."""
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
