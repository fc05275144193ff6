"""The viewer's working state over one results folder: rounds, working map, actions.

A :class:`Workspace` is what ``difffit view RESULTS_DIR`` serves. Everything it writes goes
inside ``RESULTS_DIR``::

    RESULTS_DIR/                 round 0: the results of ``difffit fit`` (never modified)
      rounds/01/, rounds/02/ …   "fit again" rounds: results folders of the same format, fitted
                                 into the working map of their time
      working/map_001.mrc …      the working map after each zeroing (full resolution)
      working/history.json       the stack of zeroings (undo pops it), so that a restarted
                                 viewer carries on where the last one stopped
      saved/                     models saved from the page (mmCIF)

The working map starts as the map the results name (``manifest.map.path``); "zero" subtracts a
fitted structure's simulated density through :func:`difffit.composite.zero_fit` and pushes the
new map; "undo" pops it. The contour level and the resolution are those of round 0.

Thread safety: the HTTP server calls a workspace from several threads; every public method
takes the workspace's lock, except that a fit runs in its own thread without it.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import tempfile
import threading
import time
import traceback
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from difffit.density.map import DensityMap
from difffit.errors import ConfigError, DiffFitError, ResultsError
from difffit.geometry import RigidTransform
from difffit.io.atomic import atomic_write_text
from difffit.results import TRANSFORM_COLUMNS, read_clusters_csv, read_manifest
from difffit.structure import Structure
from difffit.viewer.display import (
    DISPLAY_MAX_VOXELS,
    DISPLAY_MAX_VOXELS_SOFTWARE,
    crop_threshold,
    crop_to_density,
    downsample_for_display,
    fit_centres_xyz,
    n_voxels_above,
    points_mmcif,
    transforms_flat,
)

__all__ = ["FitJob", "Round", "Workspace"]

log = logging.getLogger("difffit.viewer")

#: Cluster columns shown in the table, in order (those present in clusters.csv).
TABLE_COLUMNS = (
    "rank", "structure", "hits", "density", "overlap", "correlation", "cam", "inside",
    "confidence", "refined",
)  # fmt: skip
#: fits.csv columns the point cloud can be coloured by.
POINT_METRICS = ("score", "density", "overlap", "correlation", "cam", "inside")
#: The point colours start at this percentile of the metric (the lowest 5 % share one colour).
POINT_LOW_PERCENTILE = 5.0


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:80] or "model"


def _write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=1) + "\n")


@dataclass(frozen=True)
class Round:
    """One results folder of the session: round 0 is RESULTS_DIR, round n is rounds/NN."""

    id: int
    folder: Path
    manifest: dict[str, Any]
    clusters: tuple[dict[str, Any], ...]

    @property
    def label(self) -> str:
        names = ", ".join(s["name"] for s in self.manifest.get("structures", []))
        return f"round {self.id}: {names}" if self.id else f"fit: {names}"

    def cluster(self, rank: int) -> dict[str, Any]:
        for row in self.clusters:
            if int(row["rank"]) == rank:
                return row
        raise ConfigError(f"round {self.id} has no cluster of rank {rank}")

    def structure_entry(self, name: str) -> dict[str, Any]:
        for s in self.manifest.get("structures", []):
            if s["name"] == name:
                return s
        raise ResultsError(f"{self.folder}: manifest names no structure {name!r}")


@dataclass
class FitJob:
    """A "fit again" run in a background thread; the page polls its state."""

    id: int
    structures: tuple[str, ...]
    round_id: int
    state: str = "queued"  # queued, running, done, failed
    stage: str = ""
    structure: str = ""
    done: int = 0
    total: int = 0
    message: str = ""
    started: float = field(default_factory=time.time)
    finished: float | None = None

    def public(self) -> dict[str, Any]:
        frac = self.done / self.total if self.total else 0.0
        return {
            "id": self.id,
            "structures": list(self.structures),
            "round": self.round_id,
            "state": self.state,
            "stage": self.stage,
            "structure": self.structure,
            "done": self.done,
            "total": self.total,
            "fraction": round(frac, 4),
            "message": self.message,
            "elapsed_s": round((self.finished or time.time()) - self.started, 2),
        }


class Workspace:
    """The state behind one ``difffit view`` session (see the module docstring).

    Parameters
    ----------
    results_dir : path
        A difffit results folder (with ``manifest.json``).
    display_max_voxels, display_max_voxels_software : int
        Maps with a longer edge are block-averaged before they are sent to the browser (the
        second for a browser that renders in software); the page asks for one or the other.
    """

    def __init__(
        self,
        results_dir: str | os.PathLike[str],
        *,
        display_max_voxels: int = DISPLAY_MAX_VOXELS,
        display_max_voxels_software: int = DISPLAY_MAX_VOXELS_SOFTWARE,
    ):
        self.root = Path(results_dir).resolve()
        if not self.root.is_dir():
            raise ResultsError(f"{results_dir}: no such results folder")
        self.base = self._load_round(0, self.root)
        self.level = float(self.base.manifest["level"])
        self.resolution = float(self.base.manifest["resolution"])
        map_path = self.base.manifest.get("map", {}).get("path")
        if not map_path:
            raise ResultsError(f"{self.root}/manifest.json: names no map (map.path)")
        self.original_map_path = Path(map_path)
        if not self.original_map_path.exists():
            raise ResultsError(
                f"{self.root}/manifest.json: its map {map_path} does not exist any more "
                "(put it back, or fit again)"
            )
        self.display_max_voxels = display_max_voxels
        self.display_max_voxels_software = display_max_voxels_software
        self._lock = threading.RLock()
        self._maps: dict[str, DensityMap] = {}  # path -> map
        self._display: dict[tuple[int, Any], Any] = {}  # (version, max voxels) -> (bytes, info)
        self._version = 0  # counts changes of the working map in this session (cache key)
        self._structures: dict[tuple[str, str, tuple[str, ...]], Structure] = {}
        self._models: OrderedDict[tuple[int, int], str] = OrderedDict()
        self._rounds: dict[int, tuple[float, Round]] = {0: (0.0, self.base)}
        self._jobs: dict[int, FitJob] = {}
        self._history = self._read_history()

    # ------------------------------------------------------------------ rounds
    @staticmethod
    def _load_round(rid: int, folder: Path) -> Round:
        man = read_manifest(folder)
        rows = read_clusters_csv(folder / "clusters.csv")
        for r in rows:
            r.pop("transform", None)
        return Round(rid, folder, man, tuple(rows))

    def rounds(self) -> list[Round]:
        """Round 0 and every complete round under ``rounds/`` (rescanned each call)."""
        with self._lock:
            out = [self.base]
            rdir = self.root / "rounds"
            if rdir.is_dir():
                for sub in sorted(rdir.iterdir()):
                    if not (
                        sub.is_dir() and sub.name.isdigit() and (sub / "manifest.json").exists()
                    ):
                        continue
                    rid = int(sub.name)
                    mtime = (sub / "manifest.json").stat().st_mtime
                    cached = self._rounds.get(rid)
                    if cached is None or cached[0] != mtime:
                        self._rounds[rid] = (mtime, self._load_round(rid, sub))
                    out.append(self._rounds[rid][1])
            return out

    def round(self, rid: int) -> Round:
        for r in self.rounds():
            if r.id == rid:
                return r
        raise ConfigError(f"no round {rid} in {self.root}")

    def structure_sources(self) -> dict[str, dict[str, Any]]:
        """Every structure the rounds name: name -> manifest entry (path, chains, centre)."""
        out: dict[str, dict[str, Any]] = {}
        for r in self.rounds():
            for s in r.manifest.get("structures", []):
                out.setdefault(s["name"], s)
        return out

    def _structure(self, entry: dict[str, Any]) -> Structure:
        from difffit.io.structures import read_structure

        path = entry.get("path")
        if not path:
            raise ResultsError(f"structure {entry['name']}: the manifest has no path for it")
        chains = tuple(entry.get("chains") or ())
        key = (entry["name"], path, chains)
        if key not in self._structures:
            self._structures[key] = read_structure(
                path, chains=list(chains) or None, name=entry["name"]
            )
        return self._structures[key]

    # ------------------------------------------------------------------ the table
    def session(self) -> dict[str, Any]:
        """What the page needs to draw itself (everything but the bulky data)."""
        with self._lock:
            rounds = self.rounds()
            wm = self._history[-1] if self._history else None
            search = self.base.manifest.get("options", {}).get("search", {})
            return {
                "results_dir": str(self.root),
                "level": self.level,
                "resolution": self.resolution,
                "map": {
                    "version": self._version,
                    "path": wm["map"] if wm else str(self.original_map_path),
                    "original": str(self.original_map_path),
                    **self.map_facts(),
                    "display_max_voxels": {
                        "high": self.display_max_voxels,
                        "low": self.display_max_voxels_software,
                    },
                },
                "history": [dict(h) for h in self._history],
                "rounds": [
                    {
                        "id": r.id,
                        "label": r.label,
                        "n_clusters": len(r.clusters),
                        "n_fits": r.manifest.get("n_fits"),
                        "structures": [s["name"] for s in r.manifest.get("structures", [])],
                    }
                    for r in rounds
                ],
                "structures": sorted(self.structure_sources()),
                "point_metrics": list(POINT_METRICS),
                "options": {k: search.get(k) for k in ("n_rotations", "n_positions")},
                "jobs": [j.public() for j in self._jobs.values()],
            }

    def clusters(self, rid: int) -> dict[str, Any]:
        """The cluster table of a round: the columns shown, and one row per cluster."""
        r = self.round(rid)
        present = set(r.clusters[0]) if r.clusters else set()
        cols = [c for c in TABLE_COLUMNS if c in present]
        rows = [{c: _json_value(row[c]) for c in cols} for row in r.clusters]
        return {"round": rid, "columns": cols, "rows": rows}

    # ------------------------------------------------------------------ maps
    def _read_map(self, path: str) -> DensityMap:
        from difffit.io.maps import read_map

        if path not in self._maps:
            self._maps[path] = read_map(path)
        return self._maps[path]

    def working_map_path(self) -> str:
        with self._lock:
            return self._history[-1]["map"] if self._history else str(self.original_map_path)

    def working_map(self) -> DensityMap:
        with self._lock:
            p = self.working_map_path()
            full = self.root / p if not os.path.isabs(p) else Path(p)
            return self._read_map(str(full))

    def map_facts(self) -> dict[str, Any]:
        """Facts about the working map (full resolution): shape, voxels above the level, range."""
        with self._lock:
            key = (self._version, "facts")
            if key not in self._display:
                density = self.working_map()
                self._display[key] = {
                    "version": self._version,
                    "shape_zyx": list(density.shape_zyx),
                    "voxel_size_xyz": density.voxel_size_xyz.tolist(),
                    "n_above_level": n_voxels_above(density, self.level),
                    "min": float(density.data.min()),
                    "max": float(density.data.max()),
                }
            return self._display[key]

    def display_map(self, max_voxels: int | None = None) -> tuple[bytes, dict[str, Any]]:
        """The working map as MRC bytes for the browser, and facts about it.

        The map is cropped to the box of its density (:func:`~difffit.viewer.display.crop_to_density`
        above :func:`~difffit.viewer.display.crop_threshold`, 5 Å margin), then block-averaged
        so that no edge is longer than ``max_voxels`` (default: the workspace's)."""
        from difffit.io.maps import write_map

        max_voxels = self.display_max_voxels if max_voxels is None else int(max_voxels)
        if not 16 <= max_voxels <= 1024:
            raise ConfigError(f"max_voxels must be in 16 … 1024, got {max_voxels}")
        with self._lock:
            key = (self._version, max_voxels)
            if key not in self._display:
                t0 = time.perf_counter()
                density = self.working_map()
                threshold = crop_threshold(density, self.level)
                cropped = crop_to_density(density, threshold)
                small, factor = downsample_for_display(cropped, max_voxels)
                with tempfile.TemporaryDirectory(prefix="difffit-view-") as tmp:
                    path = write_map(small, Path(tmp) / "display.mrc")
                    data = path.read_bytes()
                info = {
                    **self.map_facts(),
                    "display_crop_threshold": threshold,
                    "display_cropped_zyx": list(cropped.shape_zyx),
                    "display_shape_zyx": list(small.shape_zyx),
                    "display_factor": factor,
                    "display_max_voxels": max_voxels,
                    "prepare_s": round(time.perf_counter() - t0, 3),
                }
                # keep the current version only
                self._display = {k: v for k, v in self._display.items() if k[0] == self._version}
                self._display[key] = (data, info)
            return self._display[key]

    def display_info(self, max_voxels: int | None = None) -> dict[str, Any]:
        return self.display_map(max_voxels)[1]

    def prepare_display(self) -> None:
        """Read the working map and make both display maps now (not when the page asks)."""
        self.display_map(self.display_max_voxels)
        self.display_map(self.display_max_voxels_software)

    # ------------------------------------------------------------------ models and points
    def _transform(self, row: dict[str, Any]) -> RigidTransform:
        return RigidTransform.from_r_t_flat([float(row[c]) for c in TRANSFORM_COLUMNS])

    def model_cif(self, rid: int, rank: int) -> tuple[str, str]:
        """The fitted model of a cluster as mmCIF text, and a file name for it.

        The model file of the results folder when there is one, else the structure file moved
        by the cluster's transform.
        """
        with self._lock:
            r = self.round(rid)
            row = r.cluster(rank)
            name = f"r{rid:02d}_rank_{rank:03d}_{_safe_name(str(row['structure']))}.cif"
            key = (rid, rank)
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key], name
            text = None
            for m in r.manifest.get("models", []):
                if int(m.get("rank", -1)) == rank and m.get("cif"):
                    p = (r.folder / m["cif"]).resolve()
                    if p.is_relative_to(r.folder) and p.exists():
                        text = p.read_text()
                    break
            if text is None:
                text = self._model_text(r, row)
            self._models[key] = text
            while len(self._models) > 64:
                self._models.popitem(last=False)
            return text, name

    def _model_text(self, r: Round, row: dict[str, Any]) -> str:
        from difffit.io.structures import transformed_model

        st = self._structure(r.structure_entry(str(row["structure"])))
        model = transformed_model(st, self._transform(row))
        model.setup_entities()
        return model.make_mmcif_document().as_string()

    def points(self, rid: int, metric: str = "score") -> dict[str, Any]:
        """Every placement of a round as a point (the structure centre it gives), coloured by
        ``metric``: an mmCIF of pseudo-atoms (residue number = fit id) with the metric scaled to
        B-factors 0 … 100 (from its 5th percentile, ``min``, to its maximum, ``max``), and the
        cluster rank of each fit (``cluster_of_fit``), so that clicking a point selects its
        cluster."""
        if metric not in POINT_METRICS:
            raise ConfigError(f"metric must be one of {', '.join(POINT_METRICS)}, got {metric!r}")
        with self._lock:
            r = self.round(rid)
            path = r.folder / "fits.csv"
            if not path.exists():
                return {"round": rid, "metric": metric, "n": 0, "cif": "", "min": 0.0, "max": 0.0}
            with path.open(newline="") as fh:
                rows = list(csv.DictReader(fh))
            entries = {s["name"]: (i, s) for i, s in enumerate(r.manifest.get("structures", []))}
            centres, values, groups, ids, ranks = [], [], [], [], []
            by_structure: dict[str, list[dict[str, str]]] = {}
            for row in rows:
                by_structure.setdefault(row["structure"], []).append(row)
            for name, srows in by_structure.items():
                if name not in entries:
                    continue
                idx, entry = entries[name]
                centres.append(
                    fit_centres_xyz(transforms_flat(srows, TRANSFORM_COLUMNS), entry["centre_xyz"])
                )
                values.append(np.array([_float(x[metric]) for x in srows]))
                groups.extend([_chain_name(idx)] * len(srows))
                ids.extend(int(x["fit_id"]) for x in srows)
                ranks.extend(_int_or_none(x.get("cluster_rank")) for x in srows)
            if not centres:
                return {"round": rid, "metric": metric, "n": 0, "cif": "", "min": 0.0, "max": 0.0}
            cif, lo, hi = points_mmcif(
                np.concatenate(centres), np.concatenate(values), group=np.array(groups),
                ids=np.array(ids), name=f"fits_round_{rid}", low_percentile=POINT_LOW_PERCENTILE,
            )  # fmt: skip
            return {
                "round": rid, "metric": metric, "n": len(ids), "cif": cif, "min": lo, "max": hi,
                "cluster_of_fit": {str(i): r for i, r in zip(ids, ranks, strict=True)},
            }  # fmt: skip

    # ------------------------------------------------------------------ actions
    def save_model(self, rid: int, rank: int) -> dict[str, Any]:
        """Write a cluster's fitted model to ``RESULTS_DIR/saved/``."""
        with self._lock:
            text, name = self.model_cif(rid, rank)
            out = self.root / "saved" / name
            out.parent.mkdir(exist_ok=True)
            atomic_write_text(out, text)
            log.info("saved %s", out)
            return {"path": str(out), "name": name, "relative": str(out.relative_to(self.root))}

    def zero(self, rid: int, rank: int) -> dict[str, Any]:
        """Zero a cluster's fitted structure out of the working map; push the new map."""
        try:
            from difffit.composite import zero_fit
        except ImportError as exc:
            raise DiffFitError(
                f"zeroing needs difffit.composite.zero_fit, which this difffit lacks ({exc})"
            ) from None
        from difffit.io.maps import write_map

        with self._lock:
            r = self.round(rid)
            row = r.cluster(rank)
            st = self._structure(r.structure_entry(str(row["structure"])))
            before = self.working_map()
            result = zero_fit(before, st, self._transform(row), resolution=self.resolution)
            n = len(self._history) + 1
            rel = f"working/map_{n:03d}.mrc"
            out = self.root / rel
            out.parent.mkdir(exist_ok=True)
            write_map(result.map, out, overwrite=True)
            self._maps[str(out)] = result.map
            entry = {
                "map": rel,
                "round": rid,
                "rank": rank,
                "structure": str(row["structure"]),
                "n_voxels_zeroed": int(result.n_voxels_zeroed),
                "n_above_before": n_voxels_above(before, self.level),
                "n_above_after": n_voxels_above(result.map, self.level),
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            self._history.append(entry)
            self._version += 1
            self._write_history()
            log.info("zeroed %s (round %d rank %d): %s", entry["structure"], rid, rank, rel)
            return {**entry, "version": self._version}

    def undo(self) -> dict[str, Any]:
        """Drop the last zeroing: the working map goes back to the one before."""
        with self._lock:
            if not self._history:
                raise ConfigError("nothing to undo: the working map is the original map")
            entry = self._history.pop()
            self._version += 1
            self._write_history()
            p = self.root / entry["map"]
            self._maps.pop(str(p), None)
            p.unlink(missing_ok=True)
            return {"undone": entry, "version": self._version}

    def _history_path(self) -> Path:
        return self.root / "working" / "history.json"

    def _read_history(self) -> list[dict[str, Any]]:
        p = self._history_path()
        if not p.exists():
            return []
        try:
            data = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ResultsError(
                f"{p}: unreadable ({exc}); move it away to start from the original map"
            ) from None
        hist = [h for h in data.get("zeroed", []) if (self.root / h["map"]).exists()]
        return hist

    def _write_history(self) -> None:
        p = self._history_path()
        p.parent.mkdir(exist_ok=True)
        _write_json(
            p, {"format": "difffit-viewer-history", "format_version": 1, "zeroed": self._history}
        )

    # ------------------------------------------------------------------ fit again
    def start_fit(
        self,
        structures: list[str],
        *,
        n_rotations: int | None = None,
        n_positions: int | None = None,
        seed: int | None = None,
        threads: int | None = None,
    ) -> FitJob:
        """Fit ``structures`` (names known to the session) into the working map, in a thread.

        The options are round 0's, with the contour level fixed to round 0's (the zeroed map
        would give another automatic level), and the counts given here. The results go to
        ``rounds/NN/`` as a results folder.
        """
        from difffit.config import FitConfig

        sources = self.structure_sources()
        if not structures:
            raise ConfigError("choose at least one structure to fit")
        unknown = [s for s in structures if s not in sources]
        if unknown:
            raise ConfigError(
                f"unknown structures {', '.join(unknown)} (known: {', '.join(sorted(sources))})"
            )
        config = FitConfig.from_dict(self.base.manifest.get("options", {}))
        search = config.search
        if n_rotations is not None:
            search = search.replace(n_rotations=int(n_rotations))
        if n_positions is not None:
            search = search.replace(n_positions=int(n_positions))
        config = config.replace(
            prep=config.prep.replace(level=self.level),
            search=search,
            quality=config.quality.replace(resolution=self.resolution),
        )
        with self._lock:
            if any(j.state in ("queued", "running") for j in self._jobs.values()):
                raise ConfigError("a fit is running already; wait for it to finish")
            rdir = self.root / "rounds"
            rdir.mkdir(exist_ok=True)
            used = [int(p.name) for p in rdir.iterdir() if p.name.isdigit()]
            rid = max(used, default=0) + 1
            (rdir / f"{rid:02d}").mkdir()
            job = FitJob(id=len(self._jobs) + 1, structures=tuple(structures), round_id=rid)
            self._jobs[job.id] = job
            map_path = self.working_map_path()
            map_full = self.root / map_path if not os.path.isabs(map_path) else Path(map_path)
            density = self.working_map()
            entries = [sources[s] for s in structures]
        t = threading.Thread(
            target=self._run_fit,
            args=(job, density, map_full, entries, config, seed, threads),
            name=f"difffit-fit-{job.id}",
            daemon=True,
        )
        t.start()
        return job

    def _run_fit(self, job, density, map_path, entries, config, seed, threads) -> None:
        from difffit.io.results import save_results
        from difffit.search import fit

        def progress(ev) -> None:
            job.stage, job.structure = ev.stage, ev.structure
            job.done, job.total = ev.done, ev.total

        job.state = "running"
        try:
            with self._lock:
                structures = [self._structure(e) for e in entries]
            result = fit(
                density, structures, config=config, seed=seed, threads=threads, progress=progress
            )
            folder = self.root / "rounds" / f"{job.round_id:02d}"
            save_results(
                result, folder, structures=structures, map_path=map_path,
                command=f"difffit view: fit again into {map_path}",
            )  # fmt: skip
            job.message = f"{len(result.clusters)} clusters in rounds/{job.round_id:02d}"
            job.state = "done"
        except DiffFitError as exc:
            job.message = str(exc)
            job.state = "failed"
        except Exception as exc:  # a crash in a thread must reach the page, not vanish
            log.error("fit job %d failed:\n%s", job.id, traceback.format_exc())
            job.message = f"internal error: {type(exc).__name__}: {exc}"
            job.state = "failed"
        finally:
            job.finished = time.time()
            folder = self.root / "rounds" / f"{job.round_id:02d}"
            if job.state == "failed" and folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()

    def job(self, job_id: int) -> dict[str, Any]:
        with self._lock:
            if job_id not in self._jobs:
                raise ConfigError(f"no fit job {job_id}")
            return self._jobs[job_id].public()

    def wait_jobs(self, timeout: float = 600.0) -> None:
        """Block until no fit is running (for tests and clean shutdown)."""
        end = time.time() + timeout
        while any(j.state in ("queued", "running") for j in list(self._jobs.values())):
            if time.time() > end:
                raise TimeoutError("fit job still running")
            time.sleep(0.05)


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text not in (None, "") else None
    except ValueError:
        return None


def _chain_name(i: int) -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return letters[i] if i < 26 else f"S{i}"


def _json_value(v: Any) -> Any:
    if isinstance(v, float) and not np.isfinite(v):
        return None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    return v
