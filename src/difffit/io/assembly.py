"""The assembled model of a composite run: chain IDs for every placed copy, one gemmi model.

Chain IDs: a copy keeps its source chain IDs when they are free, else takes the first free of
A..Z, a..z, 0..9, then two characters (:func:`assembly_chain_ids`).
"""

from __future__ import annotations

import os
import string
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import gemmi
import numpy as np

from difffit.errors import ResultsError
from difffit.geometry import RigidTransform
from difffit.io.structures import transformed_model, write_structure
from difffit.structure import Structure

if TYPE_CHECKING:
    from difffit.composite.types import Placement

__all__ = [
    "CHAIN_ID_ALPHABET",
    "assembly_chain_ids",
    "assembly_model",
    "placed_model_cif",
    "refined_model_cif",
    "write_assembly",
]


CHAIN_ID_ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits


def _chain_id(i: int) -> str:
    k = len(CHAIN_ID_ALPHABET)
    if i < k:
        return CHAIN_ID_ALPHABET[i]
    j = i - k
    return CHAIN_ID_ALPHABET[(j // k) % k] + CHAIN_ID_ALPHABET[j % k]


def assembly_chain_ids(
    source: Sequence[str],
    used: set[str] | Sequence[str] = (),
    *,
    reserved: set[str] | Sequence[str] = (),
) -> list[str]:
    """Chain IDs for a new copy of chains ``source`` that are not in ``used``.

    A source chain keeps its own ID when it is free; otherwise it takes the first ID of A..Z,
    a..z, 0..9, then two characters (AA, AB, ...) that is neither used nor ``reserved`` (the
    source IDs of other structures, kept free for their first copies).
    """
    taken = set(used)
    avoid = taken | set(reserved)
    out = []
    i = 0
    for c in source:
        if c and c not in taken:
            new = c
        else:
            while _chain_id(i) in avoid or _chain_id(i) in taken:
                i += 1
            new = _chain_id(i)
        taken.add(new)
        out.append(new)
    return out


def _placed_model(structure: Structure, p: Placement) -> gemmi.Structure:
    """The structure's full model where ``p`` places it: moved by its transform, or, for a
    refined copy, residue by residue (every atom of a residue, hydrogens included, with the
    residue's motion; residues the refinement did not see move with the transform)."""
    if p.refined is None:
        return transformed_model(structure, p.transform)
    st = transformed_model(structure, RigidTransform.identity())
    for ch in st[0]:
        for res in ch:
            t = p.refined.motion((ch.name, int(res.seqid.num or 0), res.seqid.icode.strip()))
            t = p.transform if t is None else t
            for at in res:
                at.pos = gemmi.Position(*t.apply(np.array(at.pos.tolist())[None])[0])
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
        moved = _placed_model(by_name[p.structure], p)
        rename = dict(zip(p.source_chains, p.chains, strict=True))
        if model is None:
            out.add_model(gemmi.Model(moved[0].num) if hasattr(moved[0], "num") else moved[0])
            model = out[0]
            for old in [c.name for c in model]:
                model.remove_chain(old)
        for ch in moved[0]:
            new = ch.clone()
            new.name = rename.get(ch.name, ch.name)
            for res in new:
                res.subchain = ""
                res.entity_id = ""
            model.add_chain(new)
    if model is None:
        out.add_model(gemmi.Model(1) if hasattr(gemmi.Model, "num") else gemmi.Model("1"))  # type: ignore[arg-type]
    out.setup_entities()
    out.assign_subchains(force=True)
    return out


def write_assembly(path: str | os.PathLike[str], placements: Sequence[Placement],
                   structures: Sequence[Structure]) -> Path:  # fmt: skip
    """The assembled model as one mmCIF (or PDB, by name) file."""
    return write_structure(assembly_model(placements, structures), path)


def placed_model_cif(structure: Structure, transform: RigidTransform) -> str:
    """One structure moved by ``transform``, as mmCIF text (a fitted model to show or save)."""
    model = transformed_model(structure, transform)
    model.setup_entities()
    return model.make_mmcif_document().as_string()


def refined_model_cif(structure: Structure, placement: Placement) -> str:
    """A refined copy (``composite --flexible``) as mmCIF text, with each residue's CA shift
    from the rigid placement (Å) in the B column (the viewer colours by it)."""
    if placement.refined is None:
        raise ResultsError(f"placement {placement.label} is not refined")
    rc = placement.refined
    shift = dict(zip(rc.residues, rc.shifts.tolist(), strict=True))
    model = _placed_model(structure, placement)
    for ch in model[0]:
        for res in ch:
            b = shift.get((ch.name, int(res.seqid.num or 0), res.seqid.icode.strip()), 0.0)
            for at in res:
                at.b_iso = float(b)
    model.setup_entities()
    return model.make_mmcif_document().as_string()
