"""The assembled model of a composite run: chain IDs for every placed copy, one gemmi model.

Chain IDs: a copy keeps its source chain IDs when they are free, else takes the first free of
A..Z, a..z, 0..9, then two characters (:func:`assembly_chain_ids`).

Symmetry (``--symmetry``) is written as mmCIF assemblies (``pdbx_struct_assembly``,
``pdbx_struct_assembly_gen``, ``pdbx_struct_oper_list``), read back by
:func:`read_symmetry_assemblies`:

* a fitted model (``fit --symmetry``): assembly 1 = the group's operators applied to every
  chain (:func:`set_symmetry_assembly`);
* a composite ``assembly.cif``: assembly 1 = the placed copies as they are (operator 1, the
  identity, on every chain); assembly 2 = the group's operators applied to the chains of the
  first copy of each structure (the ideal symmetric assembly the refined copies stand for).
"""

from __future__ import annotations

import os
import string
from collections.abc import Sequence
from dataclasses import dataclass
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
    "SymmetryAssembly",
    "assembly_chain_ids",
    "assembly_model",
    "placed_copies_cif",
    "placed_model_cif",
    "read_symmetry_assemblies",
    "refined_model_cif",
    "set_symmetry_assembly",
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


def _operator(name: str, g: RigidTransform, kind: str) -> gemmi.Assembly.Operator:
    op = gemmi.Assembly.Operator()
    op.name = name
    op.type = kind
    tr = gemmi.Transform()
    tr.mat.fromlist(g.rotation.tolist())
    tr.vec.fromlist(g.translation.tolist())
    op.transform = tr
    return op


def _subchains(st: gemmi.Structure, chains: Sequence[str]) -> list[str]:
    """The label_asym_ids (subchains) of ``chains`` of the first model, in order."""
    out: list[str] = []
    for ch in st[0]:
        if ch.name in chains:
            for res in ch:
                if res.subchain and res.subchain not in out:
                    out.append(res.subchain)
    return out


def _gen(st, chains: Sequence[str], ops: list[gemmi.Assembly.Operator]) -> gemmi.Assembly.Gen:
    gen = gemmi.Assembly.Gen()
    for op in ops:
        gen.operators.append(op)
    gen.chains = list(chains)  # (gemmi's lists are copies: assign, do not append)
    gen.subchains = _subchains(st, chains)
    return gen


def set_symmetry_assembly(
    st: gemmi.Structure,
    operators: Sequence[RigidTransform],
    *,
    chains: Sequence[str] | None = None,
    placed_as_is: bool = False,
) -> None:
    """Replace the assemblies of ``st`` (subchains assigned) by its symmetry assemblies.

    Parameters
    ----------
    operators : sequence of RigidTransform
        The group's operators, identity first (``x' = R x + t``, Å, map frame).
    chains : sequence of str, optional
        The chains the operators generate from (default every chain).
    placed_as_is : bool
        Write assembly 1 = every chain as placed (the identity), and the symmetric one as
        assembly 2 (a composite's assembly, whose copies are all placed already).
    """
    all_chains = [ch.name for ch in st[0]]
    chains = list(chains) if chains is not None else all_chains
    st.assemblies.clear()
    if placed_as_is:
        a = gemmi.Assembly("1")
        a.software_determined = True
        a.oligomeric_details = f"{len(all_chains)} chains as placed"
        a.generators.append(
            _gen(st, all_chains, [_operator("1", RigidTransform.identity(), "identity operation")])
        )
        st.assemblies.append(a)
    ops = [
        _operator(str(k + 1 + (1 if placed_as_is else 0)), g,
                  "identity operation" if k == 0 and not placed_as_is else "point symmetry operation")
        for k, g in enumerate(operators)
    ]  # fmt: skip
    a = gemmi.Assembly("2" if placed_as_is else "1")
    a.software_determined = True
    a.oligomeric_details = f"{len(operators)}-meric (symmetry mates of chains {','.join(chains)})"
    a.generators.append(_gen(st, chains, ops))
    st.assemblies.append(a)


@dataclass(frozen=True)
class SymmetryAssembly:
    """One assembly read from an mmCIF: its id, the chains it applies to and its operators."""

    name: str
    chains: tuple[str, ...]
    operators: tuple[RigidTransform, ...]


def read_symmetry_assemblies(path: str | os.PathLike[str]) -> list[SymmetryAssembly]:
    """The assemblies (``pdbx_struct_assembly_gen`` with ``pdbx_struct_oper_list``) of an mmCIF."""
    try:
        st = gemmi.read_structure(str(path))
    except (RuntimeError, ValueError) as exc:
        raise ResultsError(f"{path}: cannot read it ({exc})") from None
    out = []
    for a in st.assemblies:
        chains: list[str] = []
        ops: list[RigidTransform] = []
        for gen in a.generators:
            chains += [c for c in gen.chains if c not in chains]
            sub = set(gen.subchains)
            for ch in st[0]:
                if ch.name not in chains and any(r.subchain in sub for r in ch):
                    chains.append(ch.name)
            for op in gen.operators:
                m = op.transform.mat.tolist()
                ops.append(RigidTransform(np.array(m), np.array(op.transform.vec.tolist())))
        out.append(SymmetryAssembly(a.name, tuple(chains), tuple(ops)))
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
    placements: Sequence[Placement],
    structures: Sequence[Structure],
    symmetry: Sequence[RigidTransform] | None = None,
) -> gemmi.Structure:
    """One model with every placed copy, its chains renamed to the placements' chain IDs.

    ``symmetry``: the run's operators (identity first); the model then has the assemblies of
    the module docstring (the symmetric one generated from the first copy of each structure).
    """
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
    if symmetry is not None and placements:
        firsts = [c for p in placements if p.copy == 1 for c in p.chains]
        set_symmetry_assembly(out, list(symmetry), chains=firsts, placed_as_is=True)
    return out


def write_assembly(
    path: str | os.PathLike[str],
    placements: Sequence[Placement],
    structures: Sequence[Structure],
    symmetry: Sequence[RigidTransform] | None = None,
) -> Path:
    """The assembled model as one mmCIF (or PDB, by name) file (``symmetry``: see
    :func:`assembly_model`)."""
    return write_structure(assembly_model(placements, structures, symmetry), path)


def placed_model_cif(structure: Structure, transform: RigidTransform) -> str:
    """One structure moved by ``transform``, as mmCIF text (a fitted model to show or save)."""
    model = transformed_model(structure, transform)
    model.setup_entities()
    return model.make_mmcif_document().as_string()


def placed_copies_cif(structure: Structure, transforms: Sequence[RigidTransform]) -> str:
    """Copies of one structure, each moved by one of ``transforms`` (e.g. the symmetry mates of
    a fit), in one model as mmCIF text; each copy's chains get free chain IDs."""
    out = gemmi.Structure()
    out.name = f"{structure.name}_copies"
    out.add_model(gemmi.Model(1) if hasattr(gemmi.Model, "num") else gemmi.Model("1"))  # type: ignore[arg-type]
    model = out[0]
    used: set[str] = set()
    for tr in transforms:
        moved = transformed_model(structure, tr)
        names = [ch.name for ch in moved[0]]
        rename = dict(zip(names, assembly_chain_ids(names, used), strict=True))
        used.update(rename.values())
        for ch in moved[0]:
            new = ch.clone()
            new.name = rename[ch.name]
            for res in new:
                res.subchain = ""
                res.entity_id = ""
            model.add_chain(new)
    out.setup_entities()
    out.assign_subchains(force=True)
    return out.make_mmcif_document().as_string()


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
