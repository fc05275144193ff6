"""Reading and writing atomic structures (PDB and mmCIF, also gzip-compressed), with gemmi.

Reading keeps the first model only, resolves alternative conformations to the first altloc,
drops waters and hydrogens from the atoms used for fitting (the written model keeps them), and
records everything else for writing the fitted copy.

Elements come from the element column (PDB columns 77-78, mmCIF ``_atom_site.type_symbol``)
where the file has one. Where it is blank (CHARMM-style PDB files such as the ADK pair), the
element is guessed from the atom name *with the residue in mind*, not from the name alone
(which turns HG1, CD1 and CA of amino acids into mercury, cadmium and calcium):

- amino acids and nucleotides: the first letter of the name (leading digits skipped, so 1HG1
  is a hydrogen), except SE of selenomethionine;
- ion residues (the residue name is an element symbol and the atom has the residue's name, e.g.
  CA/CA, ZN, MG, NA, CL; CHARMM's SOD, CLA, POT, CAL): that element;
- other residues (ligands): a two-letter metal or halogen prefix (CL, BR, FE, ZN, MG, MN, CU,
  NI, CO, SE) followed by digits or nothing, else the first letter.

What is checked before a structure is trusted (a :class:`~difffit.errors.StructureError` naming
the file, and the line or atom, on one line):

- the path is a regular file (a FIFO would block);
- every coordinate of the first model is a finite number as written: PDB columns 31-54 must
  read as numbers (gemmi would take ``abcdefgh`` or ``1,234`` as 0 or 1), mmCIF ``Cartn_x/y/z``
  must not be ``?``, ``.``, text or overflow; and within ±:data:`MAX_COORDINATE` Å;
- at least one heavy atom has a known element (atoms of unknown element ``X`` are reported);
- atoms removed as alternative conformations are reported; atoms dropped because residues
  repeat with the same chain ID and number (a file that reuses chain IDs) are warned about.
"""

from __future__ import annotations

import gzip
import logging
import math
import os
import re
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gemmi
import numpy as np

from difffit.errors import StructureError
from difffit.geometry import RigidTransform
from difffit.io.atomic import atomic_write_bytes
from difffit.io.paths import check_regular_file, one_line
from difffit.structure import Structure

__all__ = [
    "STRUCTURE_SUFFIXES",
    "guess_element",
    "read_structure",
    "read_structure_data",
    "structure_format",
    "write_structure",
]

log = logging.getLogger(__name__)

STRUCTURE_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif", ".pdbx")
#: Largest |coordinate| accepted, Å (the map reader's bound; PDB format itself stops at 1e4).
MAX_COORDINATE = 1.0e6
_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")
_EXPONENT = re.compile(r"[eE]")
#: :data:`_NUMBER` for a whole column: fields each followed by a newline (none holds one)
_NUMBERS = re.compile(r"(?:[^\S\n]*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?[^\S\n]*\n)*")


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


#: Residue names that are amino acids or nucleotides in CHARMM/AMBER files but not in the CCD.
_FORCE_FIELD_POLYMER = frozenset(
    {"HSD", "HSE", "HSP", "HID", "HIE", "HIP", "CYX", "ASH", "GLH", "LYN", "ADE", "CYT", "GUA",
     "THY", "URA"}
)  # fmt: skip
#: Ions that force fields name differently: (residue, atom) -> element.
_FORCE_FIELD_IONS = {
    ("SOD", "SOD"): "Na",
    ("CLA", "CLA"): "Cl",
    ("POT", "POT"): "K",
    ("CAL", "CAL"): "Ca",
    ("CES", "CES"): "Cs",
    ("IOD", "I"): "I",
}
_LIGAND_TWO_LETTER = ("CL", "BR", "FE", "ZN", "MG", "MN", "CU", "NI", "CO", "SE")


def _is_polymer_residue(name: str) -> bool:
    if name in _FORCE_FIELD_POLYMER:
        return True
    info = gemmi.find_tabulated_residue(name)
    return info is not None and (info.is_amino_acid() or info.is_nucleic_acid())


def guess_element(atom_name: str, residue_name: str) -> str:
    """The element of an atom from its name and its residue, for files without element column.

    Returns the symbol (``"C"``, ``"Se"``, ``"Zn"``; ``"X"`` when nothing fits). See the module
    docstring for the rules.
    """
    name = atom_name.strip().upper()
    res = residue_name.strip().upper()
    if (res, name) in _FORCE_FIELD_IONS:
        return _FORCE_FIELD_IONS[(res, name)]
    letters = name.lstrip("0123456789")
    if not letters:
        return "X"
    if _is_polymer_residue(res):
        if res == "MSE" and name == "SE":
            return "Se"
        return letters[0]
    if name == res and gemmi.Element(name).atomic_number > 0 and len(name) <= 2:
        return gemmi.Element(name).name  # an ion: CA, ZN, MG, NA, CL, K ...
    rest = letters[2:]
    if letters[:2] in _LIGAND_TWO_LETTER and (not rest or rest.isdigit()):
        return gemmi.Element(letters[:2]).name
    el = gemmi.Element(letters[0])
    return el.name if el.atomic_number > 0 else "X"


def _hy36_decode(text: str) -> int | None:
    """A PDB residue number (4 columns, plain or hybrid-36); None when unreadable."""
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        if text[:1].isupper():
            return int(text, 36) - 10 * 36**3 + 10**4
        return int(text, 36) + 16 * 36**3 + 10**4
    except ValueError:
        return None


def _scan_pdb_records(
    path: Path, text: str | None = None
) -> bool | set[tuple[str, int | None, str, str]]:
    """One pass over the ATOM/HETATM records of a PDB file's first model: check them, and say
    which have no element column.

    Every record must carry three numbers in columns 31-54, and the file must be text that the
    parser reads line by line as written (no NUL byte, which ends a line early for it, no
    byte-order mark hiding the first record, no undecodable bytes in atom records).

    Returns False when every record has an element column (the usual case), True when none
    has, else the set of (chain, residue number, insertion code, atom name) of those without.
    """
    if text is None:
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rt", errors="replace") as fh:
            text = fh.read()
    fast = _scan_pdb_records_fast(text)
    if fast is not None:
        return fast
    # something is wrong (or unusual): the line-by-line pass says what and where
    return _scan_pdb_lines(path, text)


def _scan_pdb_lines(path: Path, text: str) -> bool | set[tuple[str, int | None, str, str]]:
    """:func:`_scan_pdb_records` line by line, with the error that names the line."""
    import io

    blank: set[tuple[str, int | None, str, str]] = set()
    n_records = 0
    with io.StringIO(text) as fh:
        for n, line in enumerate(fh, 1):
            if n == 1 and line.startswith("\ufeff"):
                raise StructureError(
                    f"{path}: starts with a byte-order mark, which hides its first record: "
                    "save the file as plain text without BOM"
                )
            if "\0" in line:
                raise StructureError(
                    f"{path}: line {n} holds NUL bytes: the file is damaged or binary"
                )
            if line.startswith("ENDMDL"):
                break
            if not line.startswith(("ATOM  ", "HETATM")):
                continue
            if "\ufffd" in line:
                raise StructureError(
                    f"{path}: line {n}: the atom record is not UTF-8 text: fix the record"
                )
            for axis, (lo, hi) in zip("xyz", ((30, 38), (38, 46), (46, 54)), strict=True):
                text = line[lo:hi]
                # _NUMBER has no nan/inf: only an exponent can overflow to infinity
                if not _NUMBER.match(text) or (
                    ("e" in text or "E" in text) and not math.isfinite(float(text))
                ):
                    raise StructureError(
                        f"{path}: line {n}: {axis} coordinate {text.strip()!r} of atom "
                        f"{line[12:16].strip()!r} (residue {line[17:20].strip()} "
                        f"{line[22:26].strip()}, chain {line[21:22].strip() or '-'}) is not a "
                        "number: fix or remove the record"
                    )
            n_records += 1
            if not line[76:78].strip():
                blank.add(
                    (line[21:22].strip(), _hy36_decode(line[22:26]), line[26:27].strip(),
                     line[12:16].strip())
                )  # fmt: skip
    if not blank:
        return False
    if len(blank) >= n_records:
        return True
    return blank


def _scan_pdb_records_fast(text: str) -> bool | set[tuple[str, int | None, str, str]] | None:
    """:func:`_scan_pdb_records` for a file with nothing wrong, a whole column at a time (a
    screen reads thousands of files); None when anything needs the line-by-line pass (which
    finds and words the problem)."""
    end = 0 if text.startswith("ENDMDL") else text.find("\nENDMDL")
    head = text if end < 0 else text[:end]
    if head.startswith("\ufeff") or "\0" in head or "\ufffd" in head:
        return None
    atoms = [ln for ln in head.split("\n") if ln.startswith(("ATOM  ", "HETATM"))]
    for lo, hi in ((30, 38), (38, 46), (46, 54)):
        field = [ln[lo:hi] for ln in atoms]
        column = "".join([f + "\n" for f in field])  # one match for the column, not per record
        if not _NUMBERS.fullmatch(column):
            return None
        if _EXPONENT.search(column) and not all(math.isfinite(float(f)) for f in field):
            return None
    missing = [ln for ln in atoms if not ln[76:78].strip()]
    if not missing:
        return False
    blank = {
        (ln[21:22].strip(), _hy36_decode(ln[22:26]), ln[26:27].strip(), ln[12:16].strip())
        for ln in missing
    }
    return True if len(blank) >= len(atoms) else blank


def _check_cif_coordinates(path: Path, block: gemmi.cif.Block) -> None:
    """``_atom_site.Cartn_x/y/z`` must all be finite numbers (gemmi reads ``?`` as NaN)."""
    table = block.find("_atom_site.", ["Cartn_x", "Cartn_y", "Cartn_z"])
    for k, row in enumerate(table):
        for axis in range(3):
            text = row[axis]
            value = gemmi.cif.as_number(text)
            if not _NUMBER.match(text) or not math.isfinite(value):
                raise StructureError(
                    f"{path}: atom site {k + 1}: Cartn_{'xyz'[axis]} = {text!r} is not a finite "
                    "number: fix or remove the atom"
                )


def _fix_elements(st: gemmi.Structure, blank: bool | set) -> tuple[int, int]:
    """Re-guess, in place, the elements of atoms without element column (or read as X).

    Returns (atoms whose element changed, of them those whose element column was not an
    element at all).
    """
    n_fixed = n_invalid = 0
    for ch in st[0]:
        for res in ch:
            for atom in res:
                invalid = atom.element.atomic_number == 0
                if blank is True or invalid:
                    guess = True
                elif blank:
                    key = (ch.name, res.seqid.num, res.seqid.icode.strip(), atom.name)
                    guess = key in blank
                else:
                    guess = False
                if guess:
                    el = gemmi.Element(guess_element(atom.name, res.name))
                    if el.name != atom.element.name:
                        atom.element = el
                        n_fixed += 1
                        n_invalid += invalid and blank is not True
    return n_fixed, n_invalid


def _report_removed_conformations(path: Path, st: gemmi.Structure) -> None:
    """Remove alternative conformations (first kept) and say what went, in place."""

    def counts() -> tuple[int, int]:
        n = n_alt = 0
        for ch in st[0]:
            for res in ch:
                for atom in res:
                    n += 1
                    n_alt += atom.altloc != "\0"
        return n, n_alt

    trial = st[0].clone()  # in C++: the usual file loses nothing, and is not counted by hand
    trial.remove_alternative_conformations()
    unchanged = trial.count_atom_sites() == st[0].count_atom_sites()
    before, alt_before = (0, 0) if unchanged else counts()
    st.remove_alternative_conformations()
    st.remove_empty_chains()
    if unchanged:
        return
    after, alt_after = counts()
    removed = before - after
    if not removed:
        return
    from_altlocs = alt_before - alt_after
    other = removed - from_altlocs
    if from_altlocs > 0:
        log.info("%s: %d atoms of alternative conformations removed (the first of each kept)",
                 path, min(from_altlocs, removed))  # fmt: skip
    if other > 0:
        log.warning(
            "%s: %d of %d atoms dropped: residues repeat with the same chain ID and number (the "
            "file reuses chain IDs for different copies?); give each copy its own chain ID or "
            "split the file", path, other, before,
        )  # fmt: skip


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
    check_regular_file(path, StructureError)
    return _structure_of(path, None, chains=chains, name=name)


def read_structure_data(
    data: bytes,
    label: str,
    *,
    chains: list[str] | tuple[str, ...] | None = None,
    name: str | None = None,
) -> Structure:
    """:func:`read_structure` of a file's bytes held in memory (a member of a tar archive).

    ``label`` is the file's name (its suffix says the format, ``.gz`` the compression) and
    names it in messages and in ``Structure.source``.
    """
    path = Path(label)
    try:
        raw = gzip.decompress(data) if path.name.lower().endswith(".gz") else data
    except (zlib.error, EOFError, gzip.BadGzipFile) as exc:
        raise StructureError(f"{label}: damaged compressed data ({one_line(exc)})") from None
    if b"\0" in raw and structure_format(path) == "cif":
        raise StructureError(f"{label}: holds NUL bytes: the file is damaged or binary")
    return _structure_of(path, raw.decode("utf-8", errors="replace"), chains=chains, name=name)


def _structure_of(
    path: Path,
    text: str | None,
    *,
    chains: list[str] | tuple[str, ...] | None,
    name: str | None,
) -> Structure:
    try:  # gemmi hands names over as UTF-8; a byte that is not raises on access
        st = _parse_first_model(path, text)
        if not st.name:
            st.name = _stem(path)
        atoms = _heavy_atoms(st)
    except UnicodeDecodeError as exc:
        raise StructureError(f"{path}: names are not UTF-8 text ({one_line(exc)})") from None
    if not atoms["xyz"]:
        raise StructureError(f"{path}: no heavy atoms (only waters/hydrogens, or empty)")
    xyz = np.array(atoms["xyz"], dtype=np.float64)
    znum = np.array(atoms["znum"], dtype=np.int64)
    _check_atoms(path, xyz, znum, atoms)
    structure = Structure(
        name=name or _stem(path),
        coords_xyz=xyz,
        elements=np.array(atoms["elem"]),
        atomic_numbers=znum,
        atom_names=np.array(atoms["aname"]),
        residue_names=np.array(atoms["rname"]),
        chain_ids=np.array(atoms["chain"]),
        residue_numbers=np.array(atoms["rnum"], dtype=np.int64),
        insertion_codes=np.array(atoms["icode"]),
        source=path,
        model=st,
        b_factors=np.array(atoms["bfac"], dtype=np.float64),
    )
    if chains:
        structure = structure.select_chains(list(chains))
        if name:
            object.__setattr__(structure, "name", name)
    log.debug("read %r", structure)
    return structure


def _parse_first_model(path: Path, text: str | None = None) -> gemmi.Structure:
    """The file's first model, coordinates checked, elements fixed, alternative conformations
    resolved (and reported); ``text`` is the file's content when it is not read from ``path``
    (a member of an archive; ``path`` names it in messages)."""
    fmt = structure_format(path)
    try:
        if fmt == "cif":
            doc = gemmi.cif.read(str(path)) if text is None else gemmi.cif.read_string(text)
            block = doc.sole_block()
            _check_cif_coordinates(path, block)
            st = gemmi.make_structure_from_block(block)
            blank: bool | set[tuple[str, int | None, str, str]] = False
        else:
            blank = _scan_pdb_records(path, text)
            if text is None:
                st = gemmi.read_structure(
                    str(path), merge_chain_parts=True, format=gemmi.CoorFormat.Pdb
                )
            else:
                st = gemmi.read_pdb_string(text)
                st.merge_chain_parts()
        if len(st) == 0:
            raise StructureError(f"{path}: no models (no ATOM/HETATM records)")
        while len(st) > 1:
            del st[len(st) - 1]
    except StructureError:
        raise
    except (zlib.error, EOFError, gzip.BadGzipFile) as exc:
        raise StructureError(f"{path}: damaged compressed data ({one_line(exc)})") from None
    except UnicodeDecodeError as exc:
        raise StructureError(f"{path}: not UTF-8 text ({one_line(exc)})") from None
    except (RuntimeError, ValueError, OSError, IndexError) as exc:
        raise StructureError(f"{path}: cannot parse as {fmt.upper()} ({one_line(exc)})") from None
    n_fixed, n_invalid = _fix_elements(st, blank)
    if n_invalid:
        log.warning(
            "%s: %d atoms have an element column that is no element; their elements were "
            "guessed from atom and residue names", path, n_invalid,
        )  # fmt: skip
    elif n_fixed:
        log.debug("%s: %d elements guessed from atom and residue names", path, n_fixed)
    _report_removed_conformations(path, st)
    return st


def _heavy_atoms(st: gemmi.Structure) -> dict[str, list[Any]]:
    """Per-atom lists of the first model's heavy atoms (waters and hydrogens left out)."""
    keys = ("xyz", "elem", "znum", "aname", "rname", "chain", "rnum", "icode", "bfac")
    cols: dict[str, list[Any]] = {k: [] for k in keys}
    # the appends bound once: this loop visits every atom of every candidate of a screen
    xyz, elem, znum, aname = (cols[k].append for k in keys[:4])
    rname, chain, rnum, icode, bfac = (cols[k].append for k in keys[4:])
    for ch in st[0]:
        cname = ch.name
        for res in ch:
            if res.is_water():
                continue
            resname, num, ins = res.name, res.seqid.num, res.seqid.icode.strip()
            for atom in res:
                el = atom.element
                if el.is_hydrogen:
                    continue
                p = atom.pos
                xyz((p.x, p.y, p.z))
                elem(el.name.upper())
                znum(el.atomic_number)
                aname(atom.name)
                rname(resname)
                chain(cname)
                rnum(num)
                icode(ins)
                bfac(atom.b_iso)
    return cols


def _check_atoms(
    path: Path, xyz: np.ndarray, znum: np.ndarray, atoms: dict[str, list[Any]]
) -> None:
    """Coordinates within bounds; some element known (unknown ones reported)."""
    far = np.abs(xyz) > MAX_COORDINATE
    if far.any():
        i = int(np.flatnonzero(far.any(axis=1))[0])
        raise StructureError(
            f"{path}: atom {atoms['aname'][i]!r} (residue {atoms['rname'][i]} "
            f"{atoms['rnum'][i]}, chain {atoms['chain'][i]}) is at {xyz[i].tolist()} Å, beyond "
            f"±{MAX_COORDINATE:g} Å: fix its coordinates"
        )
    elem = np.array(atoms["elem"])
    unknown = znum == 0
    if unknown.all():
        raise StructureError(
            f"{path}: no atom has a known element (element column {sorted(set(elem))[:5]}): "
            "fix the element column (PDB columns 77-78, mmCIF type_symbol)"
        )
    if unknown.any():
        log.warning(
            "%s: %d of %d heavy atoms have an unknown element (%s); they weigh nothing in the "
            "scores", path, int(unknown.sum()), len(znum), sorted(set(elem[unknown]))[:5],
        )  # fmt: skip


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


def _clear_crystal_frame(st: gemmi.Structure) -> None:
    """Drop the unit cell, space group and symmetry operators of a moved copy: a crystal's cell
    (``CRYST1 ... C 2 2 21``) means nothing once the model is placed in a map."""
    st.cell = gemmi.UnitCell()
    st.spacegroup_hm = ""
    st.ncs.clear()


def write_structure(
    structure: Structure | gemmi.Structure,
    path: str | os.PathLike[str],
    *,
    transform: RigidTransform | None = None,
    symmetry: Sequence[RigidTransform] | None = None,
) -> Path:
    """Write a structure (moved by ``transform`` when given) as PDB or mmCIF by file name.

    ``symmetry``: operators (identity first) of the map's symmetry, written to an mmCIF as
    assembly 1 of every chain (``pdbx_struct_oper_list`` / ``pdbx_struct_assembly_gen``; see
    :func:`difffit.io.assembly.set_symmetry_assembly`): ChimeraX ``sym #N assembly 1`` shows
    the mates.

    All atoms of the first model are written (hydrogens, waters and ligands included) with their
    chains, residue numbers, occupancies and B-factors; a name ending in ``.gz`` is compressed.
    A copy moved by ``transform`` (a fitted model) loses the input's crystal cell, space group
    and symmetry operators, which mean nothing after the move; written in place (``difffit
    split``), the structure keeps them.
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
    if transform is not None:  # a moved copy; a structure written in place keeps its frame
        _clear_crystal_frame(st)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "cif":
        st.setup_entities()
        if symmetry is not None:
            from difffit.io.assembly import set_symmetry_assembly

            set_symmetry_assembly(st, list(symmetry))
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
