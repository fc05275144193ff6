"""MolViewSpec views of results (``view.mvsj``), built with the ``molviewspec`` package.

A ``.mvsj`` file is a JSON scene that Mol* (molstar.org/viewer, "Open MVS"), PDBe's viewers
and the ``molviewspec`` tools open: here the map as a transparent isosurface at the run's
contour level, and the fitted models (rank 1 orange, the others in the viewer's compare
colours). Paths are relative to the file's folder, like the ``.cxc`` scripts, so a copied
folder still opens when it is served or opened from disk by a viewer that resolves relative
URLs. Mol* reads maps in CCP4/MRC; a gzipped map is left out of the scene (and said so).

``molviewspec`` is a dependency of difffit; where it is missing (an environment built before
it was added) no view is written and the log says why.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

from difffit.io.atomic import atomic_write_text
from difffit.io.results import _script_path

__all__ = ["MAP_COLOR", "MODEL_COLORS", "SELECTED_COLOR", "mvs_state_json", "write_mvs_view"]

log = logging.getLogger("difffit")

#: The colours of the web viewer (web/src/palette.mjs): rank 1, the map, the other models.
SELECTED_COLOR = "#ff7f0e"
MAP_COLOR = "#8c9db5"
MODEL_COLORS = (
    "#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
    "#7f7f7f", "#393b79", "#aec7e8", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2",
    "#9edae5", "#dbdb8d", "#637939", "#843c39",
)  # fmt: skip
_MAP_SUFFIXES = (".mrc", ".map", ".ccp4")


def _model_format(path: Path) -> str:
    name = path.name.lower()
    return "pdb" if name.endswith((".pdb", ".ent")) else "mmcif"


def mvs_state_json(
    folder: Path,
    map_path: str | os.PathLike[str] | None,
    level: float | None,
    models: Sequence[tuple[Path, str]],
    *,
    title: str,
    description: str = "",
) -> str:
    """The MVS state (JSON text) of a map and models, with paths relative to ``folder``.

    Raises
    ------
    ImportError
        When ``molviewspec`` is not installed.
    """
    with warnings.catch_warnings():  # molviewspec 1.8 uses pydantic v1 idioms (deprecated in v2)
        warnings.simplefilter("ignore", DeprecationWarning)
        import molviewspec

    builder = molviewspec.create_builder()
    if map_path is not None and Path(map_path).name.lower().endswith(_MAP_SUFFIXES):
        volume = builder.download(url=_script_path(map_path, folder)).parse(format="map").volume()
        rep = (
            volume.representation(type="isosurface", absolute_isovalue=float(level))
            if level is not None
            else volume.representation(type="isosurface")
        )
        rep.color(color=MAP_COLOR).opacity(opacity=0.35)
    elif map_path is not None:
        log.info("%s: Mol* reads CCP4/MRC maps only; the map is left out of view.mvsj", map_path)
    for i, (path, label) in enumerate(models):
        color = SELECTED_COLOR if i == 0 else MODEL_COLORS[(i - 1) % len(MODEL_COLORS)]
        structure = (
            builder.download(url=_script_path(path, folder))
            .parse(format=_model_format(Path(path)))
            .model_structure()
        )
        polymer = structure.component(selector="polymer")
        polymer.representation(type="cartoon").color(color=color)
        polymer.tooltip(text=label)  # on hover (labels of superposed fits would overlap)
        structure.component(selector="ligand").representation(type="ball_and_stick").color(
            color=color
        )
    state = builder.get_state(title=title, description=description or None)
    return state.model_dump_json(exclude_none=True, indent=1)


def write_mvs_view(
    path: Path,
    map_path: str | os.PathLike[str] | None,
    level: float | None,
    models: Sequence[tuple[Path, str]],
    *,
    title: str,
    description: str = "",
) -> Path | None:
    """Write ``path`` (a ``.mvsj``); None when ``molviewspec`` is not installed (logged)."""
    try:
        text = mvs_state_json(path.parent, map_path, level, models, title=title,
                              description=description)  # fmt: skip
    except ImportError as exc:
        log.info("no %s: the molviewspec package is not installed (%s)", path.name, exc)
        return None
    atomic_write_text(path, text + "\n")
    return path
