"""The atomic structure value object.

A :class:`Structure` holds the heavy atoms of one model (the first) of a structure file, as
arrays in the file's own coordinate frame (x, y, z in Å), plus the parsed file itself so that a
fitted copy can be written with everything else preserved (chains, residues, B-factors,
hydrogens, ligands). Atom selections are boolean masks over the heavy atoms.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from difffit.config import SELECTIONS
from difffit.errors import ConfigError, StructureError

__all__ = ["ATOM_VOLUME", "SELECTIONS", "Structure"]

#: Protein volume per heavy atom, Å³ (1.35 g/cm³, ~14.7 Da per heavy atom with its hydrogens).
ATOM_VOLUME = 18.0


_PROTEIN_BACKBONE = frozenset({"N", "CA", "C", "O"})
_NUCLEIC_BACKBONE = frozenset({"P", "O5'", "C5'", "C4'", "C3'", "O3'"})


@dataclass(frozen=True, eq=False)
class Structure:
    """Heavy atoms of one structure (first model), in the file's frame.

    Attributes
    ----------
    name : str
        Display name (file stem by default).
    coords_xyz : (n, 3) float64 array, Å
    elements : (n,) array of str
        Element symbols, upper case.
    atomic_numbers : (n,) int array
    atom_names, residue_names, chain_ids : (n,) arrays of str
    residue_numbers : (n,) int array
    insertion_codes : (n,) array of str
    source : Path or None
        File the structure was read from.
    chains : tuple of str
        Chain IDs present, in file order.
    b_factors : (n,) float64 array or None
        The B column of the file (isotropic B, Å²; the pLDDT of AlphaFold models), or None for
        a structure built from arrays.
    selection : str or None
        The residue selection that made this structure from its file, in the text form of
        :func:`difffit.selection.selection_text` (residue ranges, a pLDDT floor), so that it
        can be read again the same way; None when it is the file's atoms (or chains) as read.
    """

    name: str
    coords_xyz: np.ndarray
    elements: np.ndarray
    atomic_numbers: np.ndarray
    atom_names: np.ndarray
    residue_names: np.ndarray
    chain_ids: np.ndarray
    residue_numbers: np.ndarray
    insertion_codes: np.ndarray
    source: Path | None = None
    model: Any = None  #: the parsed gemmi.Structure (first model only), for writing
    b_factors: np.ndarray | None = None
    selection: str | None = None

    def __post_init__(self) -> None:
        where = f"{self.source}: " if self.source else ""
        try:
            xyz = np.array(self.coords_xyz, dtype=np.float64)
        except (TypeError, ValueError):
            raise StructureError(f"{where}coords_xyz must be an (n, 3) array of numbers") from None
        if xyz.size == 0:
            xyz = xyz.reshape(0, 3)
        if xyz.ndim != 2 or xyz.shape[1] != 3:
            raise StructureError(f"{where}coords_xyz must be (n, 3), got shape {xyz.shape}")
        if not np.all(np.isfinite(xyz)):
            bad = int((~np.isfinite(xyz)).any(axis=1).sum())
            raise StructureError(f"{where}{bad} atom(s) have coordinates that are not finite")
        n = len(xyz)
        xyz.setflags(write=False)
        object.__setattr__(self, "coords_xyz", xyz)
        for name in (
            "elements",
            "atomic_numbers",
            "atom_names",
            "residue_names",
            "chain_ids",
            "residue_numbers",
            "insertion_codes",
        ):
            arr = np.asarray(getattr(self, name))
            if len(arr) != n:
                raise StructureError(f"{where}{name} has {len(arr)} entries for {n} atoms")
            arr = arr.copy()
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        if self.b_factors is not None:
            b = np.array(self.b_factors, dtype=np.float64).reshape(-1)
            if len(b) != n:
                raise ValueError(f"b_factors has {len(b)} entries for {n} atoms")
            b.setflags(write=False)
            object.__setattr__(self, "b_factors", b)
        if n == 0:
            raise StructureError(f"{where}no heavy atoms in the structure")

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return len(self.coords_xyz)

    @property
    def chains(self) -> tuple[str, ...]:
        # Python strings (tolist), not NumPy scalars: hashing those is slow for every atom
        return tuple(dict.fromkeys(str(c) for c in self.chain_ids.tolist()))

    @property
    def centre_xyz(self) -> np.ndarray:
        """Mean position of the heavy atoms (Å)."""
        return self.coords_xyz.mean(axis=0)

    @property
    def radius(self) -> float:
        """Largest distance (Å) of a heavy atom from :attr:`centre_xyz`."""
        return float(np.linalg.norm(self.coords_xyz - self.centre_xyz, axis=1).max())

    @property
    def n_residues(self) -> int:
        columns = (self.chain_ids, self.residue_numbers, self.insertion_codes)
        return len(set(zip(*(c.tolist() for c in columns), strict=True)))

    @property
    def mass_da(self) -> float:
        """Approximate mass (Da) of the heavy atoms, hydrogens added as 1 per heavy atom."""
        masses = {1: 1.008, 6: 12.011, 7: 14.007, 8: 15.999, 15: 30.974, 16: 32.06}
        m = np.array([masses.get(int(z), 2.0 * int(z)) for z in self.atomic_numbers])
        return float(m.sum() + len(m) * 1.008)

    # -------------------------------------------------------------- selections
    def mask(self, selection: str) -> np.ndarray:
        """Boolean mask (n,) of an atom selection: ``"all"``, ``"backbone"`` or ``"ca"``.

        ``"ca"`` takes CA of amino acids and P of nucleotides; ``"backbone"`` N, CA, C, O of
        amino acids and the sugar-phosphate backbone of nucleotides.
        """
        if selection == "all":
            return np.ones(len(self), dtype=bool)
        if selection not in SELECTIONS:
            raise ConfigError(f"atom selection {selection!r} is not one of {', '.join(SELECTIONS)}")
        names = self.atom_names
        if selection == "ca":
            return (names == "CA") & (self.elements == "C") | (names == "P")
        backbone = np.isin(names, list(_PROTEIN_BACKBONE | _NUCLEIC_BACKBONE))
        return backbone

    def trace_mask(self) -> np.ndarray:
        """CA (amino acids) and P (nucleotides) atoms: what CA RMSD is computed over."""
        return self.mask("ca")

    def residue_keys(self, mask: np.ndarray | None = None) -> list[tuple[str, int, str, str]]:
        """(chain, residue number, insertion code, atom name) of the atoms in ``mask``."""
        idx = np.arange(len(self)) if mask is None else np.flatnonzero(mask)
        return [
            (str(self.chain_ids[i]), int(self.residue_numbers[i]), str(self.insertion_codes[i]),
             str(self.atom_names[i]))
            for i in idx
        ]  # fmt: skip

    def sequence(self, chain: str) -> str:
        """One-letter sequence of the polymer residues (amino acids, nucleotides) of a chain.

        Ligands, ions and waters are left out; modified residues map to their parent's letter
        (X when unknown). Residues are in file order.
        """
        import gemmi

        seen: dict[tuple[int, str], str] = {}
        sel = self.chain_ids == chain
        for rn, ic, name in zip(
            self.residue_numbers[sel],
            self.insertion_codes[sel],
            self.residue_names[sel],
            strict=True,
        ):
            seen.setdefault((int(rn), str(ic)), str(name))
        names = []
        for name in seen.values():
            info = gemmi.find_tabulated_residue(name)
            if info is not None and (info.is_amino_acid() or info.is_nucleic_acid()):
                names.append(name)
        return gemmi.one_letter_code(names)

    def subset(
        self, mask: np.ndarray, *, name: str | None = None, trim_model: bool = False
    ) -> Structure:
        """A new structure with only the atoms in ``mask``.

        The written model (``model``) keeps every residue unless ``trim_model``: then it keeps
        only the residues that have an atom in ``mask``, with everything the file had on them
        (hydrogens, B column, occupancies).
        """
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            raise StructureError(f"{self.name}: the selection leaves no atoms")
        model = self.model
        if trim_model and model is not None:
            keep = {
                (str(c), int(n), str(i))
                for c, n, i in zip(self.chain_ids[mask], self.residue_numbers[mask],
                                   self.insertion_codes[mask], strict=True)
            }  # fmt: skip
            model = _gemmi_with_residues(model, keep)
        return Structure(
            name=name or self.name,
            coords_xyz=self.coords_xyz[mask],
            elements=self.elements[mask],
            atomic_numbers=self.atomic_numbers[mask],
            atom_names=self.atom_names[mask],
            residue_names=self.residue_names[mask],
            chain_ids=self.chain_ids[mask],
            residue_numbers=self.residue_numbers[mask],
            insertion_codes=self.insertion_codes[mask],
            source=self.source,
            model=model,
            b_factors=None if self.b_factors is None else self.b_factors[mask],
        )

    def select_chains(self, chains: list[str] | tuple[str, ...]) -> Structure:
        """Only the given chains (also in the model written after fitting)."""
        missing = [c for c in chains if c not in self.chains]
        if missing:
            where = self.source or self.name
            raise StructureError(
                f"{where}: no chain {', '.join(missing)} (chains present: {', '.join(self.chains)})"
            )
        mask = np.isin(self.chain_ids, list(chains))
        model = None
        if self.model is not None:
            model = _gemmi_with_chains(self.model, chains)
        suffix = "_" + "".join(chains)
        base = self.subset(mask, name=self.name + suffix)
        object.__setattr__(base, "model", model)
        return base

    def __repr__(self) -> str:
        return (
            f"Structure({self.name!r}, atoms={len(self)}, chains={','.join(self.chains)}, "
            f"residues={self.n_residues})"
        )


def _gemmi_with_chains(st, chains):
    """A new gemmi.Structure holding only the named chains of the first model of ``st``."""
    import gemmi

    new = gemmi.Structure()
    new.name = st.name
    new.cell = st.cell
    new.spacegroup_hm = st.spacegroup_hm
    new.resolution = st.resolution
    model = gemmi.Model(1)
    wanted = set(chains)
    for ch in st[0]:
        if ch.name in wanted:
            model.add_chain(ch)
    new.add_model(model)
    return new


def _gemmi_with_residues(st, keep: set[tuple[str, int, str]]):
    """A copy of the first model of ``st`` with only the residues in ``keep``
    (chain, residue number, insertion code)."""
    new = st.clone()
    model = new[0]
    for ch in model:
        for j in range(len(ch) - 1, -1, -1):
            res = ch[j]
            if (ch.name, res.seqid.num, res.seqid.icode.strip()) not in keep:
                del ch[j]
    new.remove_empty_chains()
    return new
