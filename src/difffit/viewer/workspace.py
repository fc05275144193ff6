"""The viewer's state over one folder: display caches and the "fit again" job thread.

A :class:`Workspace` is what ``difffit view DIR`` serves. ``DIR`` is a results folder (of
``difffit fit``) or a composite run folder. The rounds, the working map and the undo history
are a run folder's (:class:`difffit.io.folders.RunFolder`, the layout ``difffit composite``
writes; a viewer session over a results folder is a run folder in that folder, whose round 0
is the results folder), and every action is a step of :class:`difffit.composite.session.RunSession`:

* Zero (accept) a cluster: :meth:`RunSession.accept` — zero it, complete a round;
* Undo: :meth:`RunSession.undo` — the last round goes;
* Fit again: :meth:`RunSession.propose` — a new round's fit into the working map, with the
  run's level and resolution, in a thread;
* Save a model: ``DIR/saved/``.

A folder written by the viewer of format 1 (``rounds/NN/``, ``working/history.json``) opens
read-only. Thread safety: the HTTP server calls a workspace from several threads; every public
method takes the workspace's lock, except that a fit runs in its own thread without it (and no
zero or undo is taken while it runs).
"""

from __future__ import annotations

import dataclasses
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

from difffit.composite.session import RunSession
from difffit.density.map import DensityMap
from difffit.errors import ConfigError, DiffFitError, ResultsError
from difffit.geometry import RigidTransform
from difffit.io.assembly import placed_copies_cif, placed_model_cif, refined_model_cif
from difffit.io.folders import RoundRecord, RunFolder, legacy_viewer_session
from difffit.io.results import load_results, results_files
from difffit.results import TRANSFORM_COLUMNS, FitResult
from difffit.viewer.display import (
    DISPLAY_MAX_VOXELS,
    DISPLAY_MAX_VOXELS_SOFTWARE,
    crop_threshold,
    crop_to_density,
    downsample_for_display,
    fit_centres_xyz,
    n_voxels_above,
    points_mmcif,
)

__all__ = ["FitJob", "Round", "Workspace"]

log = logging.getLogger("difffit.viewer")

#: Cluster columns shown in the table, in order (those present in clusters.csv).
TABLE_COLUMNS = (
    "rank", "structure", "hits", "density", "overlap", "correlation", "cam", "inside",
    "confidence", "verdict", "z", "refined", "centre_x", "centre_y", "centre_z", "copies",
    "mate_clash",
)  # fmt: skip
#: Columns shown only for a round with symmetry (fit --symmetry).
SYMMETRY_TABLE_COLUMNS = ("copies", "mate_clash")
#: Placements sent as a point cloud by default (the best by the metric; the page can ask more).
POINT_DEFAULT_MAX = 2000
#: Columns of a composite round's candidates.csv the page shows (those present).
DECISION_COLUMNS = (
    "round", "rank", "structure", "decision", "reason", "hits", "correlation", "cam", "overlap",
    "density", "inside", "relative_cam", "clash_atoms", "clash_fraction", "clash_with",
)  # fmt: skip
#: fits.csv columns the point cloud can be coloured by.
POINT_METRICS = ("score", "density", "overlap", "correlation", "cam", "inside")
#: The point colours start at this percentile of the metric (the lowest 5 % share one colour).
POINT_LOW_PERCENTILE = 5.0


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:80] or "model"


@dataclass(frozen=True, eq=False)
class Round:
    """One fit of the session: round 0 is the results folder, round n a run folder's round."""

    id: int
    folder: Path
    result: FitResult

    @property
    def label(self) -> str:
        names = ", ".join(s.name for s in self.result.structures)
        return f"round {self.id}: {names}" if self.id else f"fit: {names}"

    def hit(self, rank: int):
        for h in self.result.clusters:
            if h.rank == rank:
                return h
        raise ConfigError(f"round {self.id} has no cluster of rank {rank}")


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
        A difffit results folder (with ``manifest.json``) or a composite run folder.
    display_max_voxels, display_max_voxels_software : int
        Maps with a longer edge are block-averaged before they are sent to the browser (the
        second for a browser that renders in software); the page asks for one or the other.
    """

    def __new__(cls, results_dir: str | os.PathLike[str], **kwargs: Any) -> Workspace:
        # a screen's results folder opens as a ScreenWorkspace (read-only)
        if cls is Workspace and (Path(results_dir) / "screen.json").is_file():
            from difffit.viewer.screen_view import ScreenWorkspace

            return super().__new__(ScreenWorkspace)
        return super().__new__(cls)

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
        self._legacy = None
        if not RunFolder.exists(self.root):
            self._legacy = legacy_viewer_session(self.root)
        self._run = RunSession(
            RunFolder.open(self.root)
            if RunFolder.exists(self.root)
            else RunFolder.for_results(self.root)
        )
        folder = self._run.folder
        self.level = folder.level
        self.resolution = folder.resolution
        self.original_map_path = folder.map_path
        if not self.original_map_path.exists():
            raise ResultsError(
                f"{self.root}: its map {self.original_map_path} does not exist any more "
                "(put it back, or fit again)"
            )
        self.display_max_voxels = display_max_voxels
        self.display_max_voxels_software = display_max_voxels_software
        self._lock = threading.RLock()
        self._maps: dict[str, DensityMap] = {}  # path -> map
        self._display: dict[tuple[int, Any], Any] = {}  # (version, max voxels) -> (bytes, info)
        self._version = 0  # counts changes of the working map in this session (cache key)
        self._models: OrderedDict[tuple[Any, ...], str] = OrderedDict()
        self._rounds: dict[int, tuple[float, Round]] = {}
        self._jobs: dict[int, FitJob] = {}

    # ------------------------------------------------------------------ rounds
    def _fit_folders(self) -> dict[int, Path]:
        if self._legacy is not None:
            return {0: self.root, **self._legacy.fits}
        folder = self._run.folder
        return {i: folder.fit_dir(i) for i in folder.fit_rounds()}

    def rounds(self) -> list[Round]:
        """Every fit of the session, round 0 first (rescanned each call)."""
        with self._lock:
            out = []
            for rid, path in self._fit_folders().items():
                mtime = (path / "manifest.json").stat().st_mtime
                cached = self._rounds.get(rid)
                if cached is None or cached[0] != mtime or cached[1].folder != path:
                    self._rounds[rid] = (mtime, Round(rid, path, load_results(path)))
                out.append(self._rounds[rid][1])
            return out

    def round(self, rid: int) -> Round:
        for r in self.rounds():
            if r.id == rid:
                return r
        raise ConfigError(f"no round {rid} in {self.root}")

    def _history(self) -> tuple[RoundRecord, ...]:
        return self._legacy.history if self._legacy is not None else self._run.folder.rounds

    # ------------------------------------------------------------------ the table
    def session(self) -> dict[str, Any]:
        """What the page needs to draw itself (everything but the bulky data)."""
        with self._lock:
            rounds = self.rounds()
            search = self._run.config.fit.search
            return {
                "kind": "composite" if RunFolder.exists(self.root) else "fit",
                "results_dir": str(self.root),
                "level": self.level,
                "resolution": self.resolution,
                "map_name": self.original_map_path.name,
                "composite": self._legacy is None and RunFolder.exists(self.root),
                "map": {
                    "version": self._version,
                    "path": self.working_map_path(),
                    "original": str(self.original_map_path),
                    **self.map_facts(),
                    "display_max_voxels": {
                        "high": self.display_max_voxels,
                        "low": self.display_max_voxels_software,
                    },
                },
                "history": [_history_entry(h) for h in self._history()],
                "rounds": [
                    {
                        "id": r.id,
                        "label": r.label,
                        "n_clusters": len(r.result.clusters),
                        "n_fits": len(r.result.fits["fit_id"]),
                        "structures": [s.name for s in r.result.structures],
                        "symmetry": self._symmetry_name(r),
                    }
                    for r in rounds
                ],
                "structures": sorted(s.name for s in self._run.folder.structures),
                "point_metrics": list(POINT_METRICS),
                "options": {"n_rotations": search.n_rotations, "n_positions": search.n_positions},
                "jobs": [j.public() for j in self._jobs.values()],
            }

    def clusters(self, rid: int) -> dict[str, Any]:
        """The cluster table of a round: the columns shown, and one row per cluster."""
        r = self.round(rid)
        rows = [h.row() for h in r.result.clusters]
        present = set(rows[0]) if rows else set()
        if not (r.result.info.get("symmetry") or {}).get("operators"):
            present -= set(SYMMETRY_TABLE_COLUMNS)
        cols = [c for c in TABLE_COLUMNS if c in present]
        return {
            "round": rid,
            "columns": cols,
            "rows": [{c: _json_value(row[c]) for c in cols} for row in rows],
        }

    # ------------------------------------------------------------------ maps
    def _read_map(self, path: str) -> DensityMap:
        from difffit.io.maps import read_map

        if path not in self._maps:
            self._maps[path] = read_map(path)
        return self._maps[path]

    def working_map_path(self) -> str:
        """The working map: relative to the folder when inside it."""
        with self._lock:
            p = self._working_map_full()
            return str(p.relative_to(self.root)) if p.is_relative_to(self.root) else str(p)

    def _working_map_full(self) -> Path:
        if self._legacy is not None:
            h = self._legacy.history
            return self.root / h[-1].working_map if h else self.original_map_path
        return self._run.folder.working_map_path().resolve()

    def working_map(self) -> DensityMap:
        with self._lock:
            return self._read_map(str(self._working_map_full()))

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
    def refined_placement(self, rid: int, rank: int):
        """The placement refined flexibly (``composite --flexible``) from cluster ``rank`` of
        round ``rid``'s fit, or None."""
        if self._legacy is not None or not rid:
            return None
        for p in self._run.state.placements:
            if p.refined is not None and p.round == rid and p.rank == rank:
                return p
        return None

    def shift_max(self, rid: int, rank: int) -> float | None:
        """The largest residue shift (Å) of the cluster's refined model; None when it is rigid."""
        with self._lock:
            p = self.refined_placement(rid, rank)
            return None if p is None else float(p.refined.shifts.max(initial=0.0))

    def model_cif(self, rid: int, rank: int) -> tuple[str, str]:
        """The fitted model of a cluster as mmCIF text, and a file name for it.

        The refined model when the cluster was placed and refined flexibly (``composite
        --flexible``; each residue's shift from the rigid placement in the B column), else the
        model file of the results folder when there is one, else the structure file moved by
        the cluster's transform.
        """
        with self._lock:
            r = self.round(rid)
            hit = r.hit(rank)
            refined = self.refined_placement(rid, rank)
            suffix = "_flexible" if refined is not None else ""
            name = f"r{rid:02d}_rank_{rank:03d}_{_safe_name(hit.structure)}{suffix}.cif"
            key = (rid, rank, refined is not None)  # a zeroing may refine it
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key], name
            path = results_files(r.folder).models.get(rank)
            if refined is not None:
                text = refined_model_cif(self._run.structure(hit.structure), refined)
            elif path is not None and path.exists():
                text = path.read_text()
            else:
                text = placed_model_cif(self._run.structure(hit.structure), hit.transform)
            self._models[key] = text
            while len(self._models) > 64:
                self._models.popitem(last=False)
            return text, name

    def _symmetry_operators(self, r: Round) -> list[RigidTransform]:
        """The operators (identity first) of a round's symmetry: its fit's (``fit
        --symmetry``), else the composite run's (``composite --symmetry``); [] without."""
        ops = (r.result.info.get("symmetry") or {}).get("operators") or []
        if ops:
            return [RigidTransform.from_matrix_3x4(m) for m in ops]
        sym = self._run.folder.symmetry if self._legacy is None else None
        return sym.operators if sym is not None else []

    def _symmetry_name(self, r: Round) -> str | None:
        g = (r.result.info.get("symmetry") or {}).get("group")
        if g and g != "C1":
            return str(g)
        sym = self._run.folder.symmetry if self._legacy is None else None
        return sym.group.name if sym is not None else None

    def mates_cif(self, rid: int, rank: int) -> tuple[str, str]:
        """The symmetry mates of a cluster (every operator but the identity applied to its
        placement) as mmCIF text, and a file name; ConfigError when the round has no symmetry."""
        with self._lock:
            r = self.round(rid)
            hit = r.hit(rank)
            ops = self._symmetry_operators(r)
            if len(ops) < 2:
                raise ConfigError(f"round {rid} has no symmetry (run with --symmetry)")
            key = (rid, -rank)
            name = f"r{rid:02d}_rank_{rank:03d}_{_safe_name(hit.structure)}_mates.cif"
            if key not in self._models:
                mates = [g.compose(hit.transform) for g in ops[1:]]
                self._models[key] = placed_copies_cif(self._run.structure(hit.structure), mates)
                while len(self._models) > 64:
                    self._models.popitem(last=False)
            return self._models[key], name

    def decisions(self, rid: int) -> dict[str, Any]:
        """The decisions of a composite round (its ``candidates.csv``): each cluster examined,
        accepted / below bar / clash / deferred, with the reason. A round without the table
        (a viewer session's round) has no rows."""
        from difffit.io.results import read_clusters_csv

        with self._lock:
            self.round(rid)
            path = self._run.folder.round_dir(rid) / "candidates.csv" if rid else None
            rows = read_clusters_csv(path) if path is not None and path.is_file() else []
            present = set(rows[0]) if rows else set()
            cols = [c for c in DECISION_COLUMNS if c in present]
            return {
                "round": rid,
                "columns": cols,
                "rows": [{c: _json_value(row[c]) for c in cols} for row in rows],
            }

    def points(
        self, rid: int, metric: str = "score", max_points: int | None = POINT_DEFAULT_MAX
    ) -> dict[str, Any]:
        """Every placement of a round as a point (the structure centre it gives), coloured by
        ``metric``: an mmCIF of pseudo-atoms (residue number = fit id) with the metric scaled to
        B-factors 0 … 100 (from its 5th percentile, ``min``, to its maximum, ``max``), and the
        cluster rank of each fit (``cluster_of_fit``), so that clicking a point selects its
        cluster. ``max_points``: only the best this many by ``metric`` (None: all); ``total``
        says how many there are."""
        if metric not in POINT_METRICS:
            raise ConfigError(f"metric must be one of {', '.join(POINT_METRICS)}, got {metric!r}")
        with self._lock:
            r = self.round(rid)
            fits = r.result.fits
            entries = {s.name: (i, s) for i, s in enumerate(r.result.structures)}
            names = list(dict.fromkeys(fits["structure"].tolist()))
            flat = np.stack(
                [np.asarray(fits[c], dtype=np.float64) for c in TRANSFORM_COLUMNS], axis=1
            )
            centres: list[np.ndarray] = []
            values: list[np.ndarray] = []
            groups: list[str] = []
            ids: list[int] = []
            ranks: list[int] = []
            for name in names:
                if name not in entries:
                    continue
                idx, entry = entries[name]
                sel = np.flatnonzero(fits["structure"] == name)
                centres.append(fit_centres_xyz(flat[sel], np.asarray(entry.centre_xyz)))
                values.append(np.asarray(fits[metric], dtype=np.float64)[sel])
                groups.extend([_chain_name(idx)] * len(sel))
                ids.extend(int(i) for i in fits["fit_id"][sel])
                ranks.extend(int(k) for k in fits["cluster_rank"][sel])
            if not centres:
                return {"round": rid, "metric": metric, "n": 0, "total": 0, "cif": "",
                        "min": 0.0, "max": 0.0}  # fmt: skip
            xyz, vals = np.concatenate(centres), np.concatenate(values)
            g, fid, rk = np.array(groups), np.array(ids), np.array(ranks)
            total = len(fid)
            if max_points is not None and total > max_points:
                keep = np.argsort(-np.nan_to_num(vals, nan=-np.inf), kind="stable")[:max_points]
                keep.sort()
                xyz, vals, g, fid, rk = xyz[keep], vals[keep], g[keep], fid[keep], rk[keep]
            cif, lo, hi = points_mmcif(
                xyz, vals, group=g, ids=fid, name=f"fits_round_{rid}",
                low_percentile=POINT_LOW_PERCENTILE,
            )  # fmt: skip
            return {
                "round": rid, "metric": metric, "n": len(fid), "total": total, "cif": cif,
                "min": lo, "max": hi,
                "cluster_of_fit": {str(int(i)): int(r) for i, r in zip(fid, rk, strict=True)},
            }  # fmt: skip

    # ------------------------------------------------------------------ actions
    def _check_writable(self) -> None:
        if self._legacy is not None:
            raise ConfigError(
                f"{self.root} holds a session of an older difffit viewer (rounds/, working/): "
                "it opens read-only; move those folders away to start a new session here"
            )
        if any(j.state in ("queued", "running") for j in self._jobs.values()):
            raise ConfigError("a fit is running; wait for it to finish")

    def save_model(self, rid: int, rank: int) -> dict[str, Any]:
        """Write a cluster's fitted model to ``DIR/saved/``."""
        with self._lock:
            text, name = self.model_cif(rid, rank)
            out = self._run.folder.save_model(name, text)
            log.info("saved %s", out)
            return {"path": str(out), "name": name, "relative": str(out.relative_to(self.root))}

    def zero(self, rid: int, rank: int) -> dict[str, Any]:
        """Accept a cluster: zero its fitted structure out of the working map (a new round)."""
        with self._lock:
            self._check_writable()
            self.round(rid).hit(rank)
            self._run.accept([(rid, rank)])
            self._version += 1
            entry = _history_entry(self._run.folder.rounds[-1])
            log.info(
                "zeroed %s (round %d rank %d): %s", entry["structure"], rid, rank, entry["map"]
            )
            return {**entry, "version": self._version}

    def undo(self) -> dict[str, Any]:
        """Drop the last round: the working map goes back to the one before."""
        with self._lock:
            self._check_writable()
            if not self._run.folder.rounds:
                raise ConfigError("nothing to undo: the working map is the original map")
            undone = self._run.undo()
            self._version += 1
            self._maps.pop(str((self.root / undone.working_map).resolve()), None)
            return {"undone": _history_entry(undone), "version": self._version}

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

        A new round of the run (:meth:`RunSession.propose`): the run's options with the counts
        given here; the level and resolution are the run's."""
        known = [s.name for s in self._run.folder.structures]
        if not structures:
            raise ConfigError("choose at least one structure to fit")
        unknown = [s for s in structures if s not in known]
        if unknown:
            raise ConfigError(
                f"unknown structures {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        config = self._run.config
        search = config.fit.search
        if n_rotations is not None:
            search = search.replace(n_rotations=int(n_rotations))
        if n_positions is not None:
            search = search.replace(n_positions=int(n_positions))
        config = dataclasses.replace(config, fit=config.fit.replace(search=search))
        with self._lock:
            self._check_writable()
            rid = self._run.next_proposal_index(keep_pending=True)
            job = FitJob(id=len(self._jobs) + 1, structures=tuple(structures), round_id=rid)
            self._jobs[job.id] = job
            self._run.state  # noqa: B018 (read the working map now, under the lock)
        t = threading.Thread(
            target=self._run_fit,
            args=(job, config, seed, threads),
            name=f"difffit-fit-{job.id}",
            daemon=True,
        )
        t.start()
        return job

    def _run_fit(self, job: FitJob, config, seed: int | None, threads: int | None) -> None:
        def progress(ev) -> None:
            job.stage, job.structure = ev.stage, ev.structure
            job.done, job.total = ev.done, ev.total

        job.state = "running"
        try:
            proposal = self._run.propose(
                to_fit=job.structures, fit_seed=seed, config=config, keep_pending=True,
                threads=threads, progress=progress,
            )  # fmt: skip
            job.message = (
                f"{len(proposal.fit.clusters)} clusters in "
                f"{self._run.folder.round_dir(proposal.index).name}"
            )
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


def _history_entry(h: RoundRecord) -> dict[str, Any]:
    """A round of the undo history as the page shows it."""
    src = h.sources[0] if h.sources else (None, None)
    return {
        "map": h.working_map,
        "round": src[0],
        "rank": src[1],
        "structure": ", ".join(label.rsplit("#", 1)[0] for label in h.accepted),
        "n_voxels_zeroed": h.n_voxels_zeroed,
        "n_above_before": h.n_above_before,
        "n_above_after": h.n_above_after,
        "time": h.time,
    }


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
