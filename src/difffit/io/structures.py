"""Reading and writing atomic structures (PDB and mmCIF, also gzip-compressed), with gemmi.

Reading keeps the first model only, resolves alternative conformations to the first altloc,
drops waters and hydrogens from the atoms used for fitting (the written model keeps them), and
records everything else for writing the fitted copy.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import gemmi
import numpy as np

from difffit.errors import StructureError
from difffit.geometry import RigidTransform
from difffit.io.atomic import atomic_write_bytes
from difffit.structure import Structure

__all__ = ["STRUCTURE_SUFFIXES", "read_structure", "structure_format", "write_structure"]

log = logging.getLogger(__name__)

STRUCTURE_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif", ".pdbx")


def structure_format(path: str | os.PathLike[str]) -> str:
    """``"pdb"`` or ``"cif"`` from a file name (``.gz`` allowed); StructureError otherwise."""
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith((".pdb", ".ent")):
        return "pdb"
    if name.endswith((".cif", ".mmcif", ".pdbx")):
        return "cif"
    raise StructureError(
        f"{path}: not a structure file name (expected .pdb, .ent, .cif or .mmcif, optionally .gz)"
    )


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz",) + STRUCTURE_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name


def read_structure(
    path: str | os.PathLike[str],
    *,
    chains: list[str] | tuple[str, ...] | None = None,
    name: str | None = None,
) -> Structure:
    """Read a PDB or mmCIF file (optionally ``.gz``).

    Parameters
    ----------
    path
        The structure file.
    chains
        Keep only these chain IDs (author chain names); all chains when None.
    name
        Display name; the file stem by default (with the chain IDs appended when ``chains``).

    Raises
    ------
    StructureError
        Missing or unparsable file, no atoms, or a chain that is not there.
    """
    path = Path(path)
    if not path.exists():
        raise StructureError(f"{path}: no such file")
    if path.is_dir():
        raise StructureError(f"{path}: is a folder, not a structure file")
    fmt = structure_format(path)
    try:
        if fmt == "cif":
            st = gemmi.make_structure_from_block(gemmi.cif.read(str(path)).sole_block())
        else:
            st = gemmi.read_structure(
                str(path), merge_chain_parts=True, format=gemmi.CoorFormat.Pdb
            )
    except (RuntimeError, ValueError, OSError, IndexError) as exc:
        raise StructureError(f"{path}: cannot parse as {fmt.upper()} ({exc})") from None
    if len(st) == 0:
        raise StructureError(f"{path}: no models (no ATOM/HETATM records)")
    while len(st) > 1:
        del st[len(st) - 1]
    st.remove_alternative_conformations()
    st.remove_empty_chains()
    if not st.name:
        st.name = _stem(path)

    xyz, elem, znum, aname, rname, chain, rnum, icode = [], [], [], [], [], [], [], []
    for ch in st[0]:
        for res in ch:
            if res.is_water():
                continue
            for atom in res:
                if atom.element.is_hydrogen:
                    continue
                p = atom.pos
                xyz.append((p.x, p.y, p.z))
                elem.append(atom.element.name.upper())
                znum.append(atom.element.atomic_number)
                aname.append(atom.name)
                rname.append(res.name)
                chain.append(ch.name)
                rnum.append(res.seqid.num)
                icode.append(res.seqid.icode.strip())
    if not xyz:
        raise StructureError(f"{path}: no heavy atoms (only waters/hydrogens, or empty)")
    structure = Structure(
        name=name or _stem(path),
        coords_xyz=np.array(xyz, dtype=np.float64),
        elements=np.array(elem),
        atomic_numbers=np.array(znum, dtype=np.int64),
        atom_names=np.array(aname),
        residue_names=np.array(rname),
        chain_ids=np.array(chain),
        residue_numbers=np.array(rnum, dtype=np.int64),
        insertion_codes=np.array(icode),
        source=path,
        model=st,
    )
    if chains:
        structure = structure.select_chains(list(chains))
        if name:
            object.__setattr__(structure, "name", name)
    log.debug("read %r", structure)
    return structure


def model_from_arrays(structure: Structure) -> gemmi.Structure:
    """A gemmi structure of the heavy atoms of a :class:`Structure` built from arrays."""
    st = gemmi.Structure()
    st.name = structure.name
    model = gemmi.Model(1)
    chains: dict[str, gemmi.Chain] = {}
    residues: dict[tuple[str, int, str], gemmi.Residue] = {}
    order: list[tuple[str, int, str]] = []
    for i in range(len(structure)):
        key = (
            str(structure.chain_ids[i]),
            int(structure.residue_numbers[i]),
            str(structure.insertion_codes[i]),
        )
        if key not in residues:
            res = gemmi.Residue()
            res.name = str(structure.residue_names[i])
            res.seqid = gemmi.SeqId(key[1], key[2] or " ")
            residues[key] = res
            order.append(key)
        atom = gemmi.Atom()
        atom.name = str(structure.atom_names[i])
        atom.element = gemmi.Element(str(structure.elements[i]))
        atom.pos = gemmi.Position(*(float(v) for v in structure.coords_xyz[i]))
        atom.occ = 1.0
        atom.b_iso = 20.0
        residues[key].add_atom(atom)
    for key in order:
        if key[0] not in chains:
            chains[key[0]] = gemmi.Chain(key[0])
        chains[key[0]].add_residue(residues[key])
    for ch in chains.values():
        model.add_chain(ch)
    st.add_model(model)
    st.setup_entities()
    return st


def transformed_model(structure: Structure, transform: RigidTransform) -> gemmi.Structure:
    """A copy of the structure's full model with every atom moved by ``transform``.

    A structure built from arrays (no parsed file) is written from its heavy atoms.
    """
    st = structure.model.clone() if structure.model is not None else model_from_arrays(structure)
    tr = gemmi.Transform()
    tr.mat.fromlist(transform.rotation.tolist())
    tr.vec.fromlist(transform.translation.tolist())
    st[0].transform_pos_and_adp(tr)
    return st


def write_structure(
    structure: Structure | gemmi.Structure,
    path: str | os.PathLike[str],
    *,
    transform: RigidTransform | None = None,
) -> Path:
    """Write a structure (moved by ``transform`` when given) as PDB or mmCIF by file name.

    All atoms of the first model are written (hydrogens, waters and ligands included) with their
    chains, residue numbers, occupancies and B-factors; a name ending in ``.gz`` is compressed.
    """
    path = Path(path)
    fmt = structure_format(path)
    if isinstance(structure, Structure):
        st = transformed_model(structure, transform or RigidTransform.identity())
    else:
        st = structure.clone()
        if transform is not None:
            tr = gemmi.Transform()
            tr.mat.fromlist(transform.rotation.tolist())
            tr.vec.fromlist(transform.translation.tolist())
            st[0].transform_pos_and_adp(tr)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "cif":
        st.setup_entities()
        text = st.make_mmcif_document().as_string()
    else:
        opt = gemmi.PdbWriteOptions()
        text = st.make_pdb_string(opt)
    data = text.encode()
    if path.name.lower().endswith(".gz"):
        import gzip

        data = gzip.compress(data)
    atomic_write_bytes(path, data)
    return path
