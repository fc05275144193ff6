"""Writing a :class:`~difffit.screen.workflow.ScreenResult` to the screen's output folder.

Format ``difffit-screen-results`` version 1 (next to the database ``screen.sqlite``):

``candidates.csv``
    One row per library candidate: the fitted ones by rank, then the ones not fitted (rank
    empty, ``status`` and ``reason`` say why). Columns: ``rank, structure, status, residues,
    atoms, metric, score, second_score, norm_score, z, p_value, q_value, significant, search, hits,
    correlation, cam, overlap, density, inside, n_clusters, r11 … r33, t1 t2 t3, seed, fit_s, cpu_s,
    reason, path, sha256``. ``score`` is the best cluster's value of ``metric``;
    ``second_score`` the candidate's next-best cluster's; ``norm_score`` the size-normalised
    score that ranks the library, ``z`` its robust z-score, ``p_value`` and ``q_value`` (BH) its
    significance under the library's null (:mod:`difffit.screen.confidence`); ``search`` is
    ``full``, or ``cheap`` for a candidate of a hierarchical screen that kept its cheap stage's
    result (its ``norm_score`` is then predicted, :mod:`difffit.screen.hierarchy`); the transform
    maps the candidate file's coordinates into the map (``x' = R x + t``, Å). Written
    atomically (a ``.part`` file renamed).
``models/rank_NNN_<structure>.cif``
    The best fitted candidates, placed in the map.
``scores.png``
    The library's score distribution with the null model and the hits marked (needs
    matplotlib).
``screen.json``
    Format, version, map, options, seed, null model, counts, timings, files.
``open_in_chimerax.cxc``
    Opens the map and the fitted models.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from difffit.io.results import model_file_name, write_chimerax_script, write_json
from difffit.results import TRANSFORM_COLUMNS, write_csv
from difffit.screen.workflow import ScreenResult

__all__ = ["CANDIDATE_COLUMNS", "RESULTS_FORMAT", "RESULTS_VERSION", "write_screen_report"]

log = logging.getLogger(__name__)

RESULTS_FORMAT = "difffit-screen-results"
RESULTS_VERSION = 1
CANDIDATE_COLUMNS = (
    "rank",
    "structure",
    "status",
    "residues",
    "atoms",
    "metric",
    "score",
    "second_score",
    "norm_score",
    "z",
    "p_value",
    "q_value",
    "significant",
    "search",
    "hits",
    "correlation",
    "cam",
    "overlap",
    "density",
    "inside",
    "n_clusters",
    *TRANSFORM_COLUMNS,
    "seed",
    "fit_s",
    "cpu_s",
    "reason",
    "path",
    "sha256",
)


def candidate_rows(result: ScreenResult) -> Iterator[dict[str, Any]]:
    """The rows of ``candidates.csv``, by rank, one at a time (the table is streamed)."""
    metric = result.config.metric
    for c in result.ranked:
        r = c.record
        yield (
            {
                "rank": c.rank,
                "structure": r.name,
                "status": r.status,
                "residues": r.n_residues,
                "atoms": r.n_atoms,
                "metric": metric,
                "score": r.score,
                "second_score": r.second_score,
                "norm_score": c.norm_score,
                "z": c.z,
                "p_value": c.p,
                "q_value": c.q,
                "significant": "" if math.isnan(c.q) else int(c.significant),
                "search": c.search,
                "hits": r.hits,
                "correlation": r.correlation,
                "cam": r.cam,
                "overlap": r.overlap,
                "density": r.density,
                "inside": r.inside,
                "n_clusters": r.n_clusters,
                **dict(zip(TRANSFORM_COLUMNS, r.transform, strict=True)),
                "seed": r.seed,
                "fit_s": r.fit_s,
                "cpu_s": r.cpu_s,
                "reason": r.reason,
                "path": r.path,
                "sha256": r.sha256,
            }
        )
    for r in result.not_fitted:
        row: dict[str, Any] = {k: "" for k in CANDIDATE_COLUMNS}
        row.update(
            {
                "structure": r.name,
                "status": r.status,
                "residues": r.n_residues,
                "atoms": r.n_atoms,
                "metric": metric,
                "seed": r.seed,
                "reason": r.reason,
                "path": r.path,
                "sha256": r.sha256,
            }
        )
        yield row


def write_screen_report(
    result: ScreenResult,
    folder: str | os.PathLike[str],
    *,
    map_path: str | os.PathLike[str] | None = None,
    n_models: int = 5,
    plot: bool = True,
    command: str | None = None,
) -> dict[str, str]:
    """Write ``candidates.csv``, the top models, ``scores.png``, ``screen.json`` and a ChimeraX
    script into ``folder``; returns the files written (name → path relative to the folder).

    The models are written from the candidates' files (read again here). A missing matplotlib
    only leaves out the plot (logged).
    """
    from difffit.io.structures import write_structure
    from difffit.screen.library import read_location

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {"database": "screen.sqlite"}
    write_csv(folder / "candidates.csv", CANDIDATE_COLUMNS, candidate_rows(result))
    files["candidates"] = "candidates.csv"

    models_dir = folder / "models"
    models: list[dict[str, Any]] = []
    for c in result.ranked[: max(0, n_models)]:
        r = c.record
        from difffit.geometry import RigidTransform

        selection = result.info.get("selections", {}).get(r.sha256)
        st = read_location(r.path, name=r.name, selection=selection)
        p = write_structure(
            st,
            models_dir / model_file_name(c.rank, r.name),
            transform=RigidTransform.from_r_t_flat(r.transform),
        )
        models.append({"rank": c.rank, "structure": r.name, "cif": str(p.relative_to(folder))})
    if models:
        files["models"] = "models/"

    if plot:
        from difffit.screen.plot import plot_scores

        try:
            plot_scores(result, folder / "scores.png")
            files["plot"] = "scores.png"
        except ImportError as exc:
            log.warning("no scores.png: %s", exc)

    map_abs = str(Path(map_path).resolve()) if map_path else None
    write_chimerax_script(
        folder / "open_in_chimerax.cxc", map_abs, result.level,
        [(folder / m["cif"], f"rank {m['rank']}: {m['structure']}") for m in models],
        title="difffit screen: open the map and the best fitted candidates in ChimeraX",
    )  # fmt: skip
    files["chimerax"] = "open_in_chimerax.cxc"
    from difffit.io.mvs import write_mvs_view

    if write_mvs_view(
        folder / "view.mvsj", map_abs, result.level,
        [(folder / m["cif"], f"rank {m['rank']}: {m['structure']}") for m in models],
        title="difffit screen: the map and the best fitted candidates",
    ):  # fmt: skip
        files["molviewspec"] = "view.mvsj"

    null = result.null
    manifest = {
        "format": RESULTS_FORMAT,
        "format_version": RESULTS_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": command,
        "map": {"path": map_abs, "sha256": result.info["map_sha256"]},
        "seed": result.seed,
        "level": result.level,
        "footprint_volume_A3": round(result.footprint_volume, 1),
        "metric": result.config.metric,
        "alpha": result.config.alpha,
        "prefilter": {
            "on": result.config.prefilter,
            "max_volume_ratio": result.config.max_volume_ratio,
        },
        "options": result.config.fit.to_dict(),
        "null_model": None
        if null is None
        else {
            "metric": null.metric,
            "normalisation": null.normalisation,
            "median": null.median,
            "robust_sd": null.robust_sd,
            "gumbel_mu": null.mu,
            "gumbel_beta": null.beta,
            "n": null.n,
            "method": "u = atanh(score) sqrt(atoms) for correlations; Gumbel null with location "
            "and scale from the quartiles of u over the library; p = P(U >= u); "
            "Benjamini-Hochberg q-values; z = (u - median) / (1.4826 MAD)",
        },
        "counts": result.counts,
        "significant": [c.record.name for c in result.significant],
        "top": [
            {
                "rank": c.rank,
                "structure": c.record.name,
                "score": c.record.score,
                "norm_score": c.norm_score,
                "z": c.z,
                "q_value": c.q,
                "significant": c.significant,
            }
            for c in result.ranked[:10]
        ],
        "models": models,
        **{k: v for k, v in result.info.items() if k not in ("map_sha256",)},
        "files": files,
    }
    write_json(folder / "screen.json", manifest)
    files["manifest"] = "screen.json"
    return files
