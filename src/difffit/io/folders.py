"""The run folder: rounds, working maps and the undo history of a composite run or a viewer session.

Format ``difffit-composite`` version 2 (``docs/results-format.md``); folders of version 1
(``difffit composite`` before the viewer shared the layout) open unchanged::

    DIR/composite.json            the manifest: inputs, options, seed, level, resolution, and
                                  ``rounds``, the complete rounds in order (the undo history);
                                  rewritten last whenever the folder changes
    DIR/placements.csv            every placed copy so far (= the last complete round's)
    DIR/assembly.cif              every placed chain so far, unique chain IDs
    DIR/round_NNN/fit/            the round's fit, a results folder (difffit.io.results)
    DIR/round_NNN/candidates.csv  the clusters examined, with the decision and the reason
    DIR/round_NNN/placements.csv  placements after the round
    DIR/round_NNN/assembly.cif    assembly after the round
    DIR/round_NNN/working_map.mrc the map after the round's zeroing
    DIR/round_NNN/flexible.csv, flexible_residues.csv
                                  composite --flexible: the refined placements after the
                                  round (difffit.io.composite); copied to DIR/ like placements
    DIR/saved/                    models saved from the viewer

A round is proposed (``fit/`` and ``candidates.csv`` written; ``pending_round`` names it) and
completed by accepting zero or more fits (the other files; ``rounds`` lists it). A round may
have no fit of its own (the viewer accepts a cluster of an earlier fit), and a fit may stay
listed in ``kept_fits`` after its round was undone. A viewer session over a results folder
``RESULTS_DIR`` is a run folder in ``RESULTS_DIR`` itself, whose round 0 fit (``base_fit``)
is the results folder.

The viewer of difffit before format 2 wrote ``RESULTS_DIR/rounds/NN/`` and
``RESULTS_DIR/working/history.json``; :func:`legacy_viewer_session` reads those (read-only).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from difffit._version import __version__
from difffit.composite.types import CompositeConfig, CompositeState, Proposal, RoundResult
from difffit.errors import ResultsError
from difffit.io.assembly import write_assembly
from difffit.io.atomic import atomic_copy, atomic_write_text
from difffit.io.composite import (
    attach_refined,
    read_candidate_mates,
    read_placements,
    read_refined,
    write_candidates,
    write_placements,
    write_refined,
)
from difffit.io.locks import hold_folder
from difffit.io.maps import read_map, write_map
from difffit.io.paths import inside
from difffit.io.results import (
    is_results_folder,
    load_results,
    read_format_json,
    results_files,
    save_results,
    write_chimerax_script,
    write_json,
)
from difffit.results import FitResult
from difffit.structure import Structure

if TYPE_CHECKING:
    from difffit.symmetry.apply import MapSymmetry

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MANIFEST",
    "LegacyViewerSession",
    "RoundRecord",
    "RunFolder",
    "StructureEntry",
    "legacy_viewer_session",
]

FORMAT_NAME = "difffit-composite"
FORMAT_VERSION = 2
MANIFEST = "composite.json"
#: Options a resumed run may change.
KEEP_ON_RESUME = ("max_rounds",)
#: The tables of refined placements (``composite --flexible``) of a round.
_REFINED_TABLES = ("flexible.csv", "flexible_residues.csv")


@dataclass(frozen=True)
class StructureEntry:
    """A structure of the run, as the manifest names it (``path`` absolute, or None)."""

    name: str
    path: str | None
    chains: tuple[str, ...]
    atoms: int | None = None
    centre_xyz: tuple[float, ...] | None = None
    #: residue ranges / pLDDT floor it was read with (:func:`difffit.selection.selection_text`)
    selection: str | None = None


@dataclass(frozen=True)
class RoundRecord:
    """A complete round, as the manifest lists it.

    ``sources`` are the (fit round, rank) of each accepted cluster, in order of ``accepted``
    (a fit round of 0 is the base fit of a viewer session).
    """

    index: int
    accepted: tuple[str, ...]
    sources: tuple[tuple[int, int], ...]
    working_map: str
    n_voxels_zeroed: int
    n_above_before: int | None
    n_above_after: int | None
    time: str | None


def _locked(method):
    """Run a writing method of :class:`RunFolder` holding the folder's lock
    (:func:`difffit.io.locks.hold_folder`; re-entrant, so a driver may hold it for a whole run)."""
    import functools

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with hold_folder(self.path):
            return method(self, *args, **kwargs)

    return wrapper


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _structure_entry(s: Structure | StructureEntry) -> dict[str, Any]:
    if isinstance(s, Structure):
        entry = {"name": s.name, "path": str(Path(s.source).resolve()) if s.source else None,
                 "chains": list(s.chains), "atoms": len(s)}  # fmt: skip
    else:
        entry = {"name": s.name, "path": s.path, "chains": list(s.chains), "atoms": s.atoms}
    return {**entry, **({"selection": s.selection} if s.selection else {})}


class RunFolder:
    """One run folder (see the module docstring); the only reader and writer of its files.

    Open one with :meth:`open` (an existing run), :meth:`create` (a new run) or
    :meth:`for_results` (a viewer session over a results folder).
    """

    def __init__(self, path: str | os.PathLike[str], manifest: dict[str, Any]) -> None:
        self.path = Path(path)
        self._man = manifest

    # ------------------------------------------------------------------ opening
    @staticmethod
    def exists(path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` holds a run folder's manifest."""
        return (Path(path) / MANIFEST).is_file()

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> RunFolder:
        """An existing run folder (format version 1 or 2)."""
        p = Path(path) / MANIFEST
        if not p.exists():
            raise ResultsError(f"{path}: no {MANIFEST} — not a difffit run folder")
        man = read_format_json(
            p, FORMAT_NAME, FORMAT_VERSION, unreadable_hint="; use another --out"
        )
        return cls(path, man)

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        *,
        map_path: str | os.PathLike[str],
        structures: Sequence[Structure] | Sequence[StructureEntry],
        copies: Mapping[str, int | None],
        config: CompositeConfig,
        seed: int,
        level: float,
        resolution: float,
        command: str | None = None,
        base_fit: str | None = None,
        write: bool = True,
        symmetry: MapSymmetry | None = None,
    ) -> RunFolder:
        """A new run at round 0 (its manifest written unless ``write=False``); ``symmetry`` the
        map's (``--symmetry``), recorded with its operators."""
        entries = [_structure_entry(s) for s in structures]
        man = {
            "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "difffit_version": __version__,
            "created": _now(), "command": command, "map": str(Path(map_path).resolve()),
            "structures": entries, "copies": dict(copies), "seed": seed, "level": float(level),
            "resolution": float(resolution), "config": config.to_dict(), "base_fit": base_fit,
            "rounds_done": 0, "pending_round": None, "kept_fits": [], "finished": False,
            "stop_reason": "", "rounds": [],
            "files": {"placements": "placements.csv", "assembly": "assembly.cif", "working_map": None},
        }  # fmt: skip
        if symmetry is not None:
            man["symmetry"] = symmetry.to_dict()
        run = cls(path, man)
        if write:
            run.path.mkdir(parents=True, exist_ok=True)
            run._write()
        return run

    @classmethod
    def for_results(cls, results_dir: str | os.PathLike[str]) -> RunFolder:
        """The viewer's run over a results folder: the one written there, else a new one whose
        round 0 is the results folder (written at its first change)."""
        results_dir = Path(results_dir)
        if cls.exists(results_dir):
            return cls.open(results_dir)
        base = load_results(results_dir)
        files = results_files(results_dir)
        if files.map_path is None:
            raise ResultsError(f"{results_dir}/manifest.json: names no map (map.path)")
        config = CompositeConfig(fit=base.config)
        entries = [
            StructureEntry(s.name, s.source, tuple(s.chains), s.n_atoms, selection=s.selection)
            for s in base.structures
        ]
        return cls.create(
            results_dir, map_path=files.map_path, structures=entries,
            copies=dict.fromkeys(s.name for s in entries), config=config, seed=base.seed,
            level=base.level, resolution=base.resolution, command="difffit view", base_fit=".", write=False,
        )  # fmt: skip

    # ------------------------------------------------------------------ what it holds
    @property
    def map_path(self) -> Path:
        """The original map."""
        return Path(self._man["map"])

    @property
    def structures(self) -> tuple[StructureEntry, ...]:
        return tuple(
            StructureEntry(
                str(s["name"]),
                s.get("path"),
                tuple(s.get("chains") or ()),
                s.get("atoms"),
                selection=s.get("selection"),
            )
            for s in self._man["structures"]
        )

    @property
    def copies(self) -> dict[str, int | None]:
        return {str(k): (None if v is None else int(v)) for k, v in self._man["copies"].items()}

    @property
    def symmetry(self) -> MapSymmetry | None:
        """The run's symmetry (``--symmetry``), None without."""
        d = self._man.get("symmetry")
        if not d:
            return None
        from difffit.symmetry.apply import MapSymmetry

        return MapSymmetry.from_dict(d)

    @property
    def seed(self) -> int:
        return int(self._man["seed"])

    @property
    def level(self) -> float:
        return float(self._man["level"])

    @property
    def resolution(self) -> float:
        return float(self._man["resolution"])

    @property
    def config(self) -> CompositeConfig:
        return CompositeConfig.from_dict(self._man["config"])

    @property
    def rounds_done(self) -> int:
        """The index of the last complete round (0 = none)."""
        return int(self._man["rounds"][-1]["index"]) if self._man.get("rounds") else 0

    @property
    def pending_round(self) -> int | None:
        v = self._man.get("pending_round")
        return int(v) if v else None

    @property
    def finished(self) -> bool:
        return bool(self._man.get("finished"))

    @property
    def stop_reason(self) -> str:
        return str(self._man.get("stop_reason", ""))

    @property
    def base_fit(self) -> Path | None:
        """The results folder of round 0 (a viewer session's), or None."""
        b = self._man.get("base_fit")
        return inside(self.path, b, "base fit", ResultsError) if b else None

    @property
    def rounds(self) -> tuple[RoundRecord, ...]:
        """The complete rounds, in order (the undo history)."""
        return tuple(self._record(r) for r in self._man.get("rounds", []))

    def _record(self, r: Mapping[str, Any]) -> RoundRecord:
        idx = int(r["index"])
        sources = r.get("sources")
        if sources is None:  # version 1: the round's own fit, ranks in its placements.csv
            placed = self.round_dir(idx) / "placements.csv"
            rows = read_placements(placed) if placed.exists() else []
            sources = [(idx, p.rank) for p in rows if p.round == idx]
        zero = r.get("zero") or {}
        working_map = str(r.get("working_map") or f"{self.round_dir(idx).name}/working_map.mrc")
        inside(self.path, working_map, f"working map of round {idx}", ResultsError)
        return RoundRecord(
            index=idx, accepted=tuple(r.get("accepted", [])),
            sources=tuple((int(a), int(b)) for a, b in sources),
            working_map=working_map,
            n_voxels_zeroed=int(zero.get("n_voxels_zeroed", 0)),
            n_above_before=r.get("n_above_before"), n_above_after=r.get("n_above_after"),
            time=r.get("time"),
        )  # fmt: skip

    def round_dir(self, index: int) -> Path:
        return self.path / f"round_{index:03d}"

    def fit_dir(self, index: int) -> Path:
        """The results folder of round ``index``'s fit (0: the base fit)."""
        if index == 0:
            if self.base_fit is None:
                raise ResultsError(
                    f"{self.path}: round 0 has no fit (this run starts from the map)"
                )
            return self.base_fit
        return self.round_dir(index) / "fit"

    def fit_rounds(self) -> list[int]:
        """The rounds that have a complete fit, in order (0 first when there is a base fit)."""
        out = [0] if self.base_fit is not None else []
        for d in sorted(self.path.glob("round_[0-9][0-9][0-9]")):
            if d.name[6:].isdigit() and is_results_folder(d / "fit"):
                out.append(int(d.name[6:]))
        return out

    def load_fit(self, index: int) -> FitResult:
        """The fit of round ``index`` (:func:`difffit.io.results.load_results`)."""
        return load_results(self.fit_dir(index))

    def next_index(self) -> int:
        """The index of a new round: after every complete, pending or kept one."""
        used = [self.rounds_done, self.pending_round or 0, *self._man.get("kept_fits", [])]
        return max(used) + 1

    def working_map_path(self) -> Path:
        """The working map: the last complete round's, or the original map."""
        if not self._man.get("rounds"):
            return self.map_path
        return inside(self.path, self.rounds[-1].working_map, "working map", ResultsError)

    def load_state(self, original_map: str | os.PathLike[str] | None = None) -> CompositeState:
        """The state after the last complete round (``original_map`` overrides the manifest's
        map path at round 0)."""
        n = self.rounds_done
        finished, reason = self.finished, self.stop_reason
        if n == 0:
            working = read_map(original_map or self.map_path)
            return CompositeState(0, working, (), self.level, self.resolution, finished, reason,
                                  symmetry=self.symmetry)  # fmt: skip
        d = self.round_dir(n)
        for f in (self.working_map_path(), d / "placements.csv"):
            if not f.exists():
                raise ResultsError(f"{f}: missing — the run folder is damaged; use another --out")
        working = read_map(self.working_map_path())
        placements = tuple(attach_refined(read_placements(d / "placements.csv"), read_refined(d)))
        return CompositeState(n, working, placements, self.level, self.resolution, finished, reason,
                              symmetry=self.symmetry)  # fmt: skip

    def check_same_run(self, *, map_path, structures: Sequence[Structure],
                       copies: Mapping[str, int | None], config: CompositeConfig,
                       seed: int | None) -> None:  # fmt: skip
        """A resumed run must have the inputs and options it was started with (ConfigError)."""
        from difffit.errors import ConfigError

        diffs = []
        if self._man.get("map") != str(Path(map_path).resolve()):
            diffs.append("map")
        if self._man.get("structures") != [_structure_entry(s) for s in structures]:
            diffs.append("structures")
        if self._man.get("copies") != dict(copies):
            diffs.append("copies")
        old = {k: v for k, v in self._man["config"].items() if k not in KEEP_ON_RESUME}
        new = {k: v for k, v in config.to_dict().items() if k not in KEEP_ON_RESUME}
        if old != new:
            changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            diffs.append("options (" + ", ".join(changed) + ")")
        if diffs:
            raise ConfigError(
                f"--out {self.path} holds a composite run with other {', '.join(diffs)}; run the "
                "same command to resume it, or choose another --out, or add --restart to discard it"
            )
        if seed is not None and seed != self.seed:
            raise ConfigError(
                f"--out {self.path} was run with --seed {self.seed}; resume it with that seed or none"
            )

    # ------------------------------------------------------------------ writing
    def _write_chimerax(self) -> None:
        """``open_in_chimerax.cxc``: the map at the level, each round's working map (hidden)
        and the assembly, with paths relative to the run folder."""
        hidden = [(self.path / r.working_map, f"working map after round {r.index}")
                  for r in self.rounds]  # fmt: skip
        asm = self.path / "assembly.cif"
        sym = self.symmetry
        lines = {}
        if sym is not None and asm.exists():
            lines[asm] = ("2", f"the ideal {sym.group.name} assembly: the map's operators applied "
                               "to the first copy of each structure (mmCIF assembly 2)")  # fmt: skip
        write_chimerax_script(
            self.path / "open_in_chimerax.cxc", self.map_path, self.level,
            [(asm, "the assembly")] if asm.exists() else [], hidden_maps=hidden,
            title="difffit composite: open the map, the rounds' working maps and the assembly",
            sym=lines,
        )  # fmt: skip
        from difffit.io.mvs import write_mvs_view

        write_mvs_view(
            self.path / "view.mvsj", self.map_path, self.level,
            [(asm, "the assembly")] if asm.exists() else [],
            title="difffit composite: the map and the assembly",
        )  # fmt: skip

    @_locked
    def _write(self) -> None:
        # a viewer session's run folder is its results folder, whose .cxc is the fit's
        if self._man.get("base_fit") != "." and (
            self._man.get("rounds") or (self.path / "open_in_chimerax.cxc").exists()
        ):
            self._write_chimerax()
        self._man["updated"] = _now()
        self._man["format_version"] = FORMAT_VERSION
        self._man["rounds_done"] = self.rounds_done
        write_json(self.path / MANIFEST, self._man)

    @_locked
    def set_config(self, config: CompositeConfig) -> None:
        """Record new options (a resumed run's new ``max_rounds``)."""
        self._man["config"] = config.to_dict()
        self._write()

    @_locked
    def set_finished(self, finished: bool, reason: str) -> None:
        self._man["finished"], self._man["stop_reason"] = bool(finished), reason
        self._write()

    def _save_fit(self, index: int, result: FitResult, candidates, structures: Sequence[Structure],
                  map_path: Path) -> None:  # fmt: skip
        d = self.round_dir(index)
        d.mkdir(parents=True, exist_ok=True)
        fit_dir = d / "fit"
        if fit_dir.exists():
            shutil.rmtree(fit_dir)
        names = {c.structure for c in result.clusters}
        save_results(result, fit_dir, structures=[s for s in structures if s.name in names],
                     map_path=map_path, n_models=0, overwrite=True)  # fmt: skip
        write_candidates(d / "candidates.csv", candidates)

    @_locked
    def save_proposal(self, proposal: Proposal, structures: Sequence[Structure], *,
                      keep_pending: bool = False) -> None:  # fmt: skip
        """Write a proposed round's fit and candidates; the round waits to be accepted.

        A pending round of another index is dropped, or kept among the listed fits when
        ``keep_pending`` (the viewer keeps every fit)."""
        pending = self.pending_round
        if pending is not None and pending != proposal.index and keep_pending:
            self._man.setdefault("kept_fits", []).append(pending)
        d = self.round_dir(proposal.index)
        d.mkdir(parents=True, exist_ok=True)
        for stale in ("working_map.mrc", "placements.csv", "assembly.cif", *_REFINED_TABLES):
            (d / stale).unlink(missing_ok=True)
        self._save_fit(proposal.index, proposal.fit, proposal.candidates, structures,
                       self.working_map_path())  # fmt: skip
        self._man["pending_round"] = proposal.index
        self.path.mkdir(parents=True, exist_ok=True)
        self._write()

    @_locked
    def save_round(
        self,
        rnd: RoundResult,
        structures: Sequence[Structure],
        *,
        sources: Sequence[tuple[int, int]] | None = None,
        n_above: tuple[int, int] | None = None,
    ) -> None:
        """Write a complete round (its fit too, unless proposed already) and list it last.

        ``sources`` are the (fit round, rank) of each accepted placement (default: this round's
        own fit); ``n_above`` the voxels above the level before and after the zeroing."""
        d = self.round_dir(rnd.index)
        d.mkdir(parents=True, exist_ok=True)
        if rnd.fit is not None and self.pending_round != rnd.index:
            self._save_fit(rnd.index, rnd.fit, rnd.candidates, structures, self.working_map_path())
        st = rnd.state
        write_map(st.working, d / "working_map.mrc", overwrite=True)
        write_placements(d / "placements.csv", st.placements)
        write_assembly(d / "assembly.cif", st.placements, structures,
                       st.symmetry.operators if st.symmetry is not None else None)  # fmt: skip
        write_refined(d, st.placements)
        atomic_copy(d / "placements.csv", self.path / "placements.csv")
        atomic_copy(d / "assembly.cif", self.path / "assembly.cif")
        self._copy_refined(d)
        man = self._man
        if sources is None:
            sources = [(rnd.index, p.rank) for p in rnd.accepted]
        counts: dict[str, int] = {}
        for c in rnd.candidates:
            counts[c.decision.value] = counts.get(c.decision.value, 0) + 1
        listed = {c.rank: (c.mate_of, c.operator) for c in rnd.candidates if c.mate_of}
        if not rnd.candidates:  # accepted by rank (manual, viewer): the proposal's candidates
            listed = read_candidate_mates(d / "candidates.csv")
        mates = [[k, *listed[k]] for r, k in sources if r == rnd.index and k in listed]
        summary = {
            "index": rnd.index,
            "seconds": None if math.isnan(rnd.seconds) else round(rnd.seconds, 3),
            "fit_seconds": rnd.fit.info["timings_s"]["total"] if rnd.fit is not None else None,
            "accepted": [p.label for p in rnd.accepted],
            "sources": [list(s) for s in sources],
            "candidates": counts,
            "zero": rnd.zero.summary() if rnd.zero is not None else None,
            "working_map": f"{d.name}/working_map.mrc",
            "n_above_before": n_above[0] if n_above else None,
            "n_above_after": n_above[1] if n_above else None,
            "time": _now(),
        }
        if mates:  # accepted symmetry mates: [rank, rank of the copy they are mates of, operator]
            summary["symmetry_mates"] = mates
        man["rounds"] = [r for r in man.get("rounds", []) if r["index"] < rnd.index] + [summary]
        if self.pending_round == rnd.index:
            man["pending_round"] = None
        man["finished"], man["stop_reason"] = st.finished, st.stop_reason
        man["placed"] = {s.name: st.copies_placed(s.name) for s in structures}
        man["files"] = {**man.get("files", {}), "working_map": f"{d.name}/working_map.mrc"}
        self._write()

    def _copy_refined(self, d: Path | None) -> None:
        """The refined-placement tables of round folder ``d`` to the top (removed when it has
        none, or ``d`` is None)."""
        for name in _REFINED_TABLES:
            src, target = (d / name if d is not None else None), self.path / name
            if src is not None and src.exists():
                atomic_copy(src, target)
            else:
                target.unlink(missing_ok=True)

    @_locked
    def undo(self) -> RoundRecord:
        """Drop the last complete round: the working map and placements go back to the round
        before. The undone round's fit stays (pending again, or kept)."""
        if not self._man.get("rounds"):
            raise ResultsError("nothing to undo: the working map is the original map")
        last = self.rounds[-1]
        self._man["rounds"] = self._man["rounds"][:-1]
        d = self.round_dir(last.index)
        if is_results_folder(d / "fit"):
            for stale in ("working_map.mrc", "placements.csv", "assembly.cif", *_REFINED_TABLES):
                (d / stale).unlink(missing_ok=True)
            if self.pending_round is None and last.index >= self.next_index() - 1:
                self._man["pending_round"] = last.index
            else:
                self._man.setdefault("kept_fits", []).append(last.index)
        elif d.is_dir():
            shutil.rmtree(d)
        prev = self._man["rounds"][-1]["index"] if self._man["rounds"] else None
        for name in ("placements.csv", "assembly.cif"):
            target = self.path / name
            if prev is None:
                target.unlink(missing_ok=True)
            else:
                atomic_copy(self.round_dir(prev) / name, target)
        self._copy_refined(self.round_dir(prev) if prev is not None else None)
        self._man["finished"], self._man["stop_reason"] = False, ""
        self._man["files"] = {**self._man.get("files", {}),
                              "working_map": self._man["rounds"][-1]["working_map"] if prev else None}  # fmt: skip
        self._write()
        return last

    @_locked
    def save_model(self, name: str, text: str) -> Path:
        """Write a model's mmCIF text to ``saved/NAME``."""
        out = self.path / "saved" / name
        out.parent.mkdir(exist_ok=True)
        atomic_write_text(out, text)
        return out

    @classmethod
    def discard(cls, path: str | os.PathLike[str]) -> None:
        """Remove a run (its manifest, tables and round folders) from ``path``."""
        path = Path(path)
        with hold_folder(path):
            cls._discard(path)

    @staticmethod
    def _discard(path: Path) -> None:
        for name in (MANIFEST, "placements.csv", "assembly.cif", *_REFINED_TABLES):
            (path / name).unlink(missing_ok=True)
        for d in path.glob("round_[0-9][0-9][0-9]"):
            if d.is_dir():
                shutil.rmtree(d)


# ---------------------------------------------------------------------------- the old viewer
@dataclass(frozen=True)
class LegacyViewerSession:
    """What the viewer of format 1 wrote in a results folder (read-only).

    ``fits`` maps a round number to its results folder (``rounds/NN``); ``history`` lists the
    zeroings in order, each ``(map, round, rank, structure, n_voxels_zeroed, n_above_before,
    n_above_after, time)`` as a :class:`RoundRecord` with the map path in ``working_map``.
    """

    fits: dict[int, Path]
    history: tuple[RoundRecord, ...]


def legacy_viewer_session(results_dir: str | os.PathLike[str]) -> LegacyViewerSession | None:
    """The format-1 viewer's rounds and zeroings in ``results_dir``; None when there are none."""
    root = Path(results_dir)
    fits = {}
    rdir = root / "rounds"
    if rdir.is_dir():
        for sub in sorted(rdir.iterdir()):
            if sub.is_dir() and sub.name.isdigit() and is_results_folder(sub):
                fits[int(sub.name)] = sub
    hist_path = root / "working" / "history.json"
    history: list[RoundRecord] = []
    if hist_path.exists():
        try:
            data = json.loads(hist_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ResultsError(
                f"{hist_path}: unreadable ({exc}); move it away to start from the original map"
            ) from None
        for i, h in enumerate(data.get("zeroed", [])):
            if inside(root, str(h["map"]), "zeroed map", ResultsError).exists():
                history.append(RoundRecord(
                    index=i + 1, accepted=(str(h["structure"]),),
                    sources=((int(h["round"]), int(h["rank"])),), working_map=str(h["map"]),
                    n_voxels_zeroed=int(h.get("n_voxels_zeroed", 0)),
                    n_above_before=h.get("n_above_before"), n_above_after=h.get("n_above_after"),
                    time=h.get("time"),
                ))  # fmt: skip
    if not fits and not history:
        return None
    return LegacyViewerSession(fits, tuple(history))
