"""The viewer over a screen's results folder (``difffit screen``): the ranked candidates.

A :class:`ScreenWorkspace` is what ``difffit view DIR`` serves when ``DIR`` holds
``screen.json`` (format ``difffit-screen-results``): one table, round 0, of the candidates in
rank order with their q-values (``candidates.csv``), each opening its fit — the candidate's
model at its transform in the screened map (``models/rank_NNN_*.cif`` where written, else the
candidate's file moved by the row's transform). The folder opens read-only: no zeroing, undo
or fit again; there is no point cloud (a screen keeps one best fit per candidate).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from difffit.errors import ConfigError, ResultsError
from difffit.io.assembly import placed_model_cif
from difffit.io.results import model_file_name, read_clusters_csv, read_format_json
from difffit.viewer.display import DISPLAY_MAX_VOXELS, DISPLAY_MAX_VOXELS_SOFTWARE
from difffit.viewer.workspace import Workspace, _json_value, _safe_name

__all__ = ["SCREEN_COLUMNS", "ScreenWorkspace", "is_screen_folder"]

#: The screen's format (``difffit.screen.report``), read here without importing the screen.
SCREEN_FORMAT = "difffit-screen-results"
SCREEN_VERSION = 1
#: candidates.csv columns shown in the table, in order (those present).
SCREEN_COLUMNS = (
    "rank", "structure", "status", "score", "norm_score", "z", "p_value", "q_value",
    "significant", "hits", "correlation", "cam", "overlap", "inside", "residues", "reason",
)  # fmt: skip


def is_screen_folder(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` holds a screen's results (``screen.json``)."""
    return (Path(path) / "screen.json").is_file()


class ScreenWorkspace(Workspace):
    """The read-only state behind ``difffit view`` over a screen's results folder.

    Parameters are those of :class:`~difffit.viewer.workspace.Workspace`."""

    def __init__(
        self,
        results_dir: str | os.PathLike[str],
        *,
        display_max_voxels: int = DISPLAY_MAX_VOXELS,
        display_max_voxels_software: int = DISPLAY_MAX_VOXELS_SOFTWARE,
    ):
        self.root = Path(results_dir).resolve()
        self._man = read_format_json(self.root / "screen.json", SCREEN_FORMAT, SCREEN_VERSION)
        path = (self._man.get("map") or {}).get("path")
        if not path:
            raise ResultsError(f"{self.root}/screen.json: names no map (map.path)")
        self.original_map_path = Path(path)
        if not self.original_map_path.exists():
            raise ResultsError(
                f"{self.root}: its map {self.original_map_path} does not exist any more "
                "(put it back, or screen again)"
            )
        self.level = float(self._man["level"])
        quality = (self._man.get("options") or {}).get("quality") or {}
        res = quality.get("resolution")
        self.resolution = float(res) if res is not None else float("nan")
        self.display_max_voxels = display_max_voxels
        self.display_max_voxels_software = display_max_voxels_software
        self._legacy = None
        self._lock = threading.RLock()
        self._maps = {}
        self._display = {}
        self._version = 0
        self._models: OrderedDict[tuple[Any, ...], str] = OrderedDict()
        self._rows = [r for r in read_clusters_csv(self.root / "candidates.csv")
                      if r.get("rank") not in (None, "")]  # fmt: skip
        self._jobs = {}

    def _row(self, rid: int, rank: int) -> dict[str, Any]:
        if rid != 0:
            raise ConfigError(f"a screen has one table, round 0; got round {rid}")
        for r in self._rows:
            if r["rank"] == rank:
                return r
        raise ConfigError(f"the screen has no candidate of rank {rank}")

    def _working_map_full(self) -> Path:
        return self.original_map_path.resolve()

    def working_map_path(self) -> str:
        return str(self._working_map_full())

    def session(self) -> dict[str, Any]:
        with self._lock:
            return {
                "kind": "screen",
                "results_dir": str(self.root),
                "level": self.level,
                "resolution": None if self.resolution != self.resolution else self.resolution,
                "map_name": self.original_map_path.name,
                "composite": False,
                "read_only": True,
                "map": {
                    "version": 0,
                    "path": self.working_map_path(),
                    "original": str(self.original_map_path),
                    **self.map_facts(),
                    "display_max_voxels": {
                        "high": self.display_max_voxels,
                        "low": self.display_max_voxels_software,
                    },
                },
                "history": [],
                "rounds": [
                    {
                        "id": 0,
                        "label": f"screen: {len(self._rows)} candidates",
                        "n_clusters": len(self._rows),
                        "n_fits": len(self._rows),
                        "structures": [r["structure"] for r in self._rows],
                    }
                ],
                "structures": [],
                "point_metrics": [],
                "null_model": self._man.get("null_model"),
                "counts": self._man.get("counts"),
                "alpha": self._man.get("alpha"),
                "options": {},
                "jobs": [],
            }

    def clusters(self, rid: int) -> dict[str, Any]:
        """The ranked candidates (``candidates.csv``, fitted ones only), best first."""
        if rid != 0:
            raise ConfigError(f"a screen has one table, round 0; got round {rid}")
        present = set(self._rows[0]) if self._rows else set()
        cols = [c for c in SCREEN_COLUMNS if c in present]
        return {"round": 0, "columns": cols,
                "rows": [{c: _json_value(r[c]) for c in cols} for r in self._rows]}  # fmt: skip

    def decisions(self, rid: int) -> dict[str, Any]:
        self._row(rid, self._rows[0]["rank"]) if self._rows else None
        return {"round": rid, "columns": [], "rows": []}

    def shift_max(self, rid: int, rank: int) -> float | None:
        """A screen has no refined models."""
        return None

    def model_cif(self, rid: int, rank: int) -> tuple[str, str]:
        """A candidate's fit: its model placed in the map (mmCIF text) and a file name."""
        from difffit.geometry import RigidTransform
        from difffit.io.structures import read_structure

        with self._lock:
            row = self._row(rid, rank)
            name = f"screen_rank_{rank:03d}_{_safe_name(str(row['structure']))}.cif"
            if (rid, rank) not in self._models:
                written = self.root / "models" / model_file_name(rank, str(row["structure"]))
                if written.is_file():
                    text = written.read_text()
                else:
                    if not row.get("path") or not Path(row["path"]).is_file():
                        raise ResultsError(
                            f"candidate {row['structure']}: its file {row.get('path')} does not "
                            "exist any more (put it back)"
                        )
                    st = read_structure(row["path"], name=str(row["structure"]))
                    text = placed_model_cif(st, RigidTransform.from_r_t_flat(
                        [row[c] for c in ("r11", "r12", "r13", "r21", "r22", "r23", "r31",
                                          "r32", "r33", "t1", "t2", "t3")]))  # fmt: skip
                self._models[(rid, rank)] = text
                while len(self._models) > 64:
                    self._models.popitem(last=False)
            return self._models[(rid, rank)], name

    def points(self, rid: int, metric: str = "score", max_points: int | None = None):
        self._row(rid, self._rows[0]["rank"]) if self._rows else None
        return {"round": rid, "metric": metric, "n": 0, "total": 0, "cif": "",
                "min": 0.0, "max": 0.0, "cluster_of_fit": {}}  # fmt: skip

    def _check_writable(self) -> None:
        raise ConfigError(f"{self.root} is a screen's results: it opens read-only")

    def save_model(self, rid: int, rank: int) -> dict[str, Any]:
        self._check_writable()
        raise AssertionError  # unreachable

    def start_fit(self, structures, **kw):
        self._check_writable()
