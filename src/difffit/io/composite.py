"""The composite run folder: written round by round, read back to resume.

Format ``difffit-composite`` version 1 (documented in ``docs/composite.md``)::

    DIR/composite.json          manifest, rewritten after every round (last write of a round)
    DIR/placements.csv          every placed copy so far (= the last round's)
    DIR/assembly.cif            every placed chain so far, unique chain IDs (= the last round's)
    DIR/round_NNN/fit/          the round's fit: clusters.csv, fits.csv, manifest.json
    DIR/round_NNN/candidates.csv  the clusters examined, with the decision and the reason
    DIR/round_NNN/placements.csv  placements after the round
    DIR/round_NNN/assembly.cif    assembly after the round
    DIR/round_NNN/working_map.mrc the map after the round's zeroing

A round is complete when ``composite.json`` lists it (``rounds_done``); a folder of a later,
interrupted round is overwritten when the run goes on. A manual round that is waiting for the
user's choice is ``pending_round`` (its ``fit/`` and ``candidates.csv`` are written; nothing is
zeroed until it is accepted).
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import gemmi

from difffit._version import __version__
from difffit.composite import (
    Candidate,
    CompositeConfig,
    CompositeState,
    Placement,
    RoundResult,
)
from difffit.errors import ResultsError
from difffit.io.atomic import atomic_copy
from difffit.io.maps import read_map, write_map
from difffit.io.results import save_results, write_json
from difffit.io.structures import transformed_model, write_structure
from difffit.results import (
    TRANSFORM_COLUMNS,
    ClusterHit,
    read_clusters_csv,
    read_format_json,
    write_csv,
)
from difffit.structure import Structure

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "PLACEMENT_COLUMNS",
    "assembly_model",
    "load_state",
    "read_manifest",
    "read_placements",
    "round_dir",
    "save_pending_round",
    "save_round",
    "write_assembly",
    "write_placements",
]

FORMAT_NAME = "difffit-composite"
FORMAT_VERSION = 1
MANIFEST = "composite.json"
PLACEMENT_COLUMNS = (
    "structure", "copy", "round", "chains", "source_chains", "rank", "hits", "correlation", "cam",
    "overlap", "density", "inside", "relative_cam", "clash_atoms", "clash_fraction",
    *TRANSFORM_COLUMNS,
)  # fmt: skip
CANDIDATE_COLUMNS = (
    "round", "rank", "structure", "decision", "hits", "correlation", "cam", "overlap", "density",
    "inside", "relative_cam", "clash_atoms", "clash_fraction", "clash_with", "reason",
    *TRANSFORM_COLUMNS,
)  # fmt: skip


def round_dir(folder: str | os.PathLike[str], index: int) -> Path:
    return Path(folder) / f"round_{index:03d}"


# ---------------------------------------------------------------------------- tables
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
        "round": c.round, "rank": h.rank, "structure": h.structure, "decision": c.decision,
        "hits": h.hits, "correlation": h.correlation, "cam": h.cam, "overlap": h.overlap,
        "density": h.density, "inside": h.inside, "relative_cam": c.relative_cam,
        "clash_atoms": c.clash_atoms, "clash_fraction": c.clash_fraction,
        "clash_with": c.clash_with, "reason": c.reason,
    }  # fmt: skip
    row.update(zip(TRANSFORM_COLUMNS, h.transform.to_r_t_flat(), strict=True))
    return row


def read_cluster_hits(path: str | os.PathLike[str]) -> list[ClusterHit]:
    """The clusters of a ``clusters.csv`` as :class:`ClusterHit` (``structure_index`` -1)."""
    hits = []
    for r in read_clusters_csv(path):
        hits.append(
            ClusterHit(
                rank=int(r["rank"]),
                structure=str(r["structure"]),
                structure_index=-1,
                hits=int(r["hits"]),
                density=float(r["density"]),
                overlap=float(r["overlap"]),
                correlation=float(r["correlation"]),
                cam=float(r["cam"]),
                inside=float(r["inside"]),
                transform=r["transform"],
                refined=bool(r["refined"]),
                fit_id=int(r["fit_id"]),
            )
        )
    return hits


# ---------------------------------------------------------------------------- assembly
def _model_from_arrays(structure: Structure) -> gemmi.Structure:
    """A gemmi structure built from a Structure's arrays (for structures not read from a file)."""
    st = gemmi.Structure()
    st.name = structure.name
    model = gemmi.Model(1) if hasattr(gemmi.Model, "num") else gemmi.Model("1")
    chains: dict[str, gemmi.Chain] = {}
    last: dict[str, tuple[int, str]] = {}
    for i in range(len(structure)):
        cid = str(structure.chain_ids[i])
        ch = chains.setdefault(cid, gemmi.Chain(cid))
        key = (int(structure.residue_numbers[i]), str(structure.insertion_codes[i]))
        if last.get(cid) != key:
            res = gemmi.Residue()
            res.name = str(structure.residue_names[i])
            res.seqid = gemmi.SeqId(key[0], key[1] or " ")
            ch.add_residue(res)
            last[cid] = key
        atom = gemmi.Atom()
        atom.name = str(structure.atom_names[i])
        atom.element = gemmi.Element(str(structure.elements[i]))
        atom.pos = gemmi.Position(*structure.coords_xyz[i])
        atom.occ = 1.0
        ch[len(ch) - 1].add_atom(atom)
    for ch in chains.values():
        model.add_chain(ch)
    st.add_model(model)
    return st


def assembly_model(
    placements: Sequence[Placement], structures: Sequence[Structure]
) -> gemmi.Structure:
    """One model with every placed copy, its chains renamed to the placements' chain IDs."""
    by_name = {s.name: s for s in structures}
    out = gemmi.Structure()
    out.name = "difffit_assembly"
    model = None
    for p in placements:
        if p.structure not in by_name:
            raise ResultsError(f"placement {p.label}: structure {p.structure!r} was not given")
        st = by_name[p.structure]
        if st.model is not None:
            moved = transformed_model(st, p.transform)
        else:
            moved = _model_from_arrays(st)
            tr = gemmi.Transform()
            tr.mat.fromlist(p.transform.rotation.tolist())
            tr.vec.fromlist(p.transform.translation.tolist())
            moved[0].transform_pos_and_adp(tr)
        rename = dict(zip(p.source_chains, p.chains, strict=True))
        if model is None:
            out.add_model(gemmi.Model(moved[0].num) if hasattr(moved[0], "num") else moved[0])
            model = out[0]
            for ch in [c.name for c in model]:
                model.remove_chain(ch)
        for ch in moved[0]:
            new = ch.clone()
            new.name = rename.get(ch.name, ch.name)
            for res in new:
                res.subchain = ""
                res.entity_id = ""
            model.add_chain(new)
    if model is None:
        out.add_model(gemmi.Model(1) if hasattr(gemmi.Model, "num") else gemmi.Model("1"))
    out.setup_entities()
    out.assign_subchains(force=True)
    return out


def write_assembly(path: str | os.PathLike[str], placements: Sequence[Placement],
                   structures: Sequence[Structure]) -> Path:  # fmt: skip
    """The assembled model as one mmCIF (or PDB, by name) file."""
    return write_structure(assembly_model(placements, structures), path)


# ---------------------------------------------------------------------------- manifest
def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The manifest of a composite folder; None when there is none."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        return None
    return read_format_json(
        path, FORMAT_NAME, FORMAT_VERSION, unreadable_hint="; use another --out"
    )


def new_manifest(
    *,
    map_path: str | os.PathLike[str],
    structures: Sequence[Structure],
    copies: Mapping[str, int | None],
    config: CompositeConfig,
    seed: int,
    state: CompositeState,
    command: str | None = None,
) -> dict[str, Any]:
    """The manifest of a new run (round 0)."""
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "difffit_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": command,
        "map": str(Path(map_path).resolve()),
        "structures": [
            {
                "name": s.name,
                "path": str(Path(s.source).resolve()) if s.source else None,
                "chains": list(s.chains),
                "atoms": len(s),
            }
            for s in structures
        ],
        "copies": dict(copies),
        "seed": seed,
        "level": state.level,
        "resolution": state.resolution,
        "config": config.to_dict(),
        "rounds_done": 0,
        "pending_round": None,
        "finished": False,
        "stop_reason": "",
        "rounds": [],
        "files": {"placements": "placements.csv", "assembly": "assembly.cif", "working_map": None},
    }


def _round_summary(rnd: RoundResult) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for c in rnd.candidates:
        counts[c.decision] = counts.get(c.decision, 0) + 1
    return {
        "index": rnd.index,
        "seconds": None if math.isnan(rnd.seconds) else round(rnd.seconds, 3),
        "fit_seconds": rnd.fit.info["timings_s"]["total"] if rnd.fit is not None else None,
        "accepted": [p.label for p in rnd.accepted],
        "candidates": counts,
        "zero": rnd.zero.summary() if rnd.zero is not None else None,
        "working_map": f"{round_dir('', rnd.index).name}/working_map.mrc",
    }


def _save_fit(rnd_dir: Path, result, structures: Sequence[Structure], map_path, candidates) -> None:
    if result is None:
        return
    fit_dir = rnd_dir / "fit"
    if fit_dir.exists():
        shutil.rmtree(fit_dir)
    names = {c.structure for c in result.clusters}
    save_results(result, fit_dir, structures=[s for s in structures if s.name in names],
                 map_path=map_path, n_models=0, overwrite=True)  # fmt: skip
    write_csv(
        rnd_dir / "candidates.csv", CANDIDATE_COLUMNS, [_candidate_row(c) for c in candidates]
    )


def save_round(
    folder: str | os.PathLike[str],
    rnd: RoundResult,
    structures: Sequence[Structure],
    manifest: dict[str, Any],
    *,
    map_path: str | os.PathLike[str] | None = None,
    fit_saved: bool = False,
) -> dict[str, Any]:
    """Write a complete round and update the manifest (written last); returns the manifest."""
    folder = Path(folder)
    d = round_dir(folder, rnd.index)
    d.mkdir(parents=True, exist_ok=True)
    if not fit_saved:
        _save_fit(d, rnd.fit, structures, map_path, rnd.candidates)
    st = rnd.state
    write_map(st.working, d / "working_map.mrc", overwrite=True)
    write_placements(d / "placements.csv", st.placements)
    write_assembly(d / "assembly.cif", st.placements, structures)
    atomic_copy(d / "placements.csv", folder / "placements.csv")
    atomic_copy(d / "assembly.cif", folder / "assembly.cif")
    man = dict(manifest)
    man["rounds"] = [r for r in man.get("rounds", []) if r["index"] < rnd.index] + [
        _round_summary(rnd)
    ]
    man["rounds_done"] = rnd.index
    man["pending_round"] = None
    man["finished"] = st.finished
    man["stop_reason"] = st.stop_reason
    man["placed"] = {s.name: st.copies_placed(s.name) for s in structures}
    man["files"] = {**man.get("files", {}), "working_map": f"{d.name}/working_map.mrc"}
    man["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    write_json(folder / MANIFEST, man)
    return man


def save_pending_round(
    folder: str | os.PathLike[str],
    index: int,
    result,
    candidates: Sequence[Candidate],
    structures: Sequence[Structure],
    manifest: dict[str, Any],
    *,
    map_path: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Write a manual round's fit and candidates; the round waits for the user's choice."""
    folder = Path(folder)
    d = round_dir(folder, index)
    d.mkdir(parents=True, exist_ok=True)
    for stale in ("working_map.mrc", "placements.csv", "assembly.cif"):
        (d / stale).unlink(missing_ok=True)
    _save_fit(d, result, structures, map_path, candidates)
    man = dict(manifest)
    man["pending_round"] = index
    man["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    write_json(folder / MANIFEST, man)
    return man


def load_state(
    folder: str | os.PathLike[str], manifest: Mapping[str, Any], original_map_path=None
) -> CompositeState:
    """The state after the last complete round of a composite folder."""
    folder = Path(folder)
    n = int(manifest["rounds_done"])
    level, res = float(manifest["level"]), float(manifest["resolution"])
    finished, reason = bool(manifest.get("finished")), str(manifest.get("stop_reason", ""))
    if n == 0:
        working = read_map(original_map_path or manifest["map"])
        return CompositeState(0, working, (), level, res, finished, reason)
    d = round_dir(folder, n)
    for f in ("working_map.mrc", "placements.csv"):
        if not (d / f).exists():
            raise ResultsError(f"{d / f}: missing — the run folder is damaged; use another --out")
    working = read_map(d / "working_map.mrc")
    placements = tuple(read_placements(d / "placements.csv"))
    return CompositeState(n, working, placements, level, res, finished, reason)


def pending_hits(folder: str | os.PathLike[str], manifest: Mapping[str, Any]) -> list[ClusterHit]:
    """The clusters of the pending manual round."""
    idx = manifest.get("pending_round")
    if not idx:
        raise ResultsError(f"{folder}: no manual round is waiting (run with --manual first)")
    return read_cluster_hits(round_dir(folder, int(idx)) / "fit" / "clusters.csv")
