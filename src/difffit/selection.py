"""Which part of a structure to fit: chains, residue ranges, and a pLDDT floor.

Written after a structure's file name as ``FILE:CHAINS`` (``5me2.pdb:A,C``) or with residue
ranges (``model.pdb:A:1-150``, ``model.pdb:A:1-150,B``, ``model.pdb:A:1-150,A:200-260``); the
same suffix follows an accession (``afdb:Q99J21:A:20-300``). A chain named alone is taken
whole; ranges are inclusive author residue numbers (``-5-40`` starts at -5).

``min_plddt`` drops the residues whose B column (the pLDDT of an AlphaFold model) is below it
from the search. Chains and ranges are what the user asked for, so the fitted model written
afterwards holds only them; the residues a pLDDT floor drops stay in the written model and move
with the rest (they are only left out of the search and its scores).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from difffit.errors import ConfigError, StructureError
from difffit.structure import Structure

__all__ = [
    "Selection",
    "apply_min_plddt",
    "apply_selection_text",
    "parse_selection_text",
    "read_selected",
    "select",
    "selection_text",
    "split_selection",
]

_ITEM = re.compile(r"^\s*([^\s:,]+)\s*(?::\s*(-?\d+)\s*(?:-\s*(-?\d+))?\s*)?$")


@dataclass(frozen=True)
class Selection:
    """Chains, each whole or as residue ranges.

    Attributes
    ----------
    chains : tuple of (chain ID, ranges)
        In the order written; ``ranges`` is a tuple of inclusive (first, last) residue numbers,
        empty for the whole chain.
    """

    chains: tuple[tuple[str, tuple[tuple[int, int], ...]], ...]

    @classmethod
    def parse(cls, text: str) -> Selection:
        """``A``, ``A,B``, ``A:1-150``, ``A:1-150,B``, ``A:1-150,A:200-260``, ``A:42``.

        Raises
        ------
        ConfigError
            Text that is not of this form, or a range whose end is before its start.
        """
        merged: dict[str, list[tuple[int, int]] | None] = {}
        items = [t for t in str(text).split(",") if t.strip()]
        if not items:
            raise ConfigError(f"{text!r}: no chains given")
        for item in items:
            m = _ITEM.match(item)
            if not m:
                raise ConfigError(
                    f"{text!r}: expected CHAIN or CHAIN:FIRST-LAST items (e.g. A:1-150,B)"
                )
            chain, first, last = m.group(1), m.group(2), m.group(3)
            if first is None:
                merged[chain] = None  # whole chain wins over any range of it
                continue
            lo, hi = int(first), int(last if last is not None else first)
            if hi < lo:
                raise ConfigError(f"{text!r}: residue range {lo}-{hi} ends before it starts")
            if chain in merged and merged[chain] is None:
                continue
            merged.setdefault(chain, []).append((lo, hi))  # type: ignore[union-attr]
        return cls(tuple((c, tuple(r or ())) for c, r in merged.items()))

    @property
    def chain_ids(self) -> list[str]:
        return [c for c, _ in self.chains]

    @property
    def has_ranges(self) -> bool:
        return any(r for _, r in self.chains)

    def __str__(self) -> str:
        parts = []
        for c, ranges in self.chains:
            parts += [f"{c}:{a}-{b}" for a, b in ranges] if ranges else [c]
        return ",".join(parts)

    def suffix(self) -> str:
        """The name suffix of the selected structure: ``_AB`` for chains (as
        :meth:`Structure.select_chains`), ``_A1-150_B`` with ranges."""
        if not self.has_ranges:
            return "_" + "".join(self.chain_ids)
        parts = []
        for c, ranges in self.chains:
            parts.append(c + "+".join(f"{a}-{b}" for a, b in ranges) if ranges else c)
        return "_" + "_".join(parts)

    def apply(self, structure: Structure) -> Structure:
        """The selected atoms; the written model keeps only them.

        Raises
        ------
        StructureError
            A chain that is not there, or a range of a chain with no residue in it.
        """
        where = structure.source or structure.name
        missing = [c for c in self.chain_ids if c not in structure.chains]
        if missing:
            raise StructureError(f"{where}: no chain {', '.join(missing)} "
                                 f"(chains present: {', '.join(structure.chains)})")  # fmt: skip
        if not self.has_ranges:
            return structure.select_chains(self.chain_ids)
        mask = np.zeros(len(structure), dtype=bool)
        for chain, ranges in self.chains:
            on_chain = structure.chain_ids == chain
            if not ranges:
                mask |= on_chain
                continue
            for lo, hi in ranges:
                nums = structure.residue_numbers
                hit = on_chain & (nums >= lo) & (nums <= hi)
                if not hit.any():
                    first, last = nums[on_chain].min(), nums[on_chain].max()
                    raise StructureError(f"{where}: chain {chain} has no residue in {lo}-{hi} "
                                         f"(its residues run {first}-{last})")  # fmt: skip
                mask |= hit
        return structure.subset(mask, name=structure.name + self.suffix(), trim_model=True)


def split_selection(text: str) -> tuple[str, Selection | None]:
    """``X`` or ``X:SELECTION`` where X is a file or an accession (``pdb:5me2:A:1-150,B``).

    A path that exists as given is never split. Otherwise the split is at the first ``:`` whose
    left side is an existing file or an accession and whose right side parses as a selection;
    failing that, at the first ``:`` whose right side parses (the left side is then reported
    missing when it is read).

    Raises
    ------
    ConfigError
        ``X:`` with nothing after it, or a suffix that is not a selection after a real file.
    """
    from difffit.io.fetch import is_accession

    if Path(text).exists() or ":" not in text:
        return text, None
    cuts = [i for i, ch in enumerate(text) if ch == ":"]
    fallback: tuple[str, Selection] | None = None
    for i in cuts:
        head, tail = text[:i], text[i + 1 :]
        if not head:
            continue
        known = Path(head).exists() or (is_accession(head) and _accession_prefix_ok(head))
        if known and not tail.strip():
            raise ConfigError(f"{text}: nothing after ':' (expected CHAINS, e.g. {head}:A)")
        try:
            sel = Selection.parse(tail)
        except ConfigError:
            if known and not is_accession(text):
                raise
            continue
        if known:
            return head, sel
        if fallback is None and not _is_db_prefix(head):
            fallback = (head, sel)
    if is_accession(text):
        return text, None
    return fallback if fallback is not None else (text, None)


def _is_db_prefix(head: str) -> bool:
    return head.lower() in {"emdb", "emd", "pdb", "afdb", "uniprot"}


def _accession_prefix_ok(head: str) -> bool:
    """An accession with an ID (``pdb:5me2``), not the database name alone."""
    return ":" in head and bool(head.partition(":")[2].strip())


def apply_min_plddt(structure: Structure, min_plddt: float) -> tuple[Structure, int, int]:
    """Leave out the residues whose B column (pLDDT) is below ``min_plddt``.

    A residue's value is the mean B of its heavy atoms (AlphaFold writes one value per
    residue). The written model keeps every residue (see the module docstring).

    Returns
    -------
    structure : Structure
        The confident residues (the input itself when none is dropped).
    n_dropped, n_residues : int
        Residues dropped, and residues before.

    Raises
    ------
    StructureError
        No B column, or every residue below the floor.
    """
    where = structure.source or structure.name
    if structure.b_factors is None:
        raise StructureError(f"{where}: no B column to read pLDDT from (--min-plddt)")
    keys = np.array([f"{c}\x00{n}\x00{i}" for c, n, i in zip(
        structure.chain_ids, structure.residue_numbers, structure.insertion_codes, strict=True)])  # fmt: skip
    _, inverse = np.unique(keys, return_inverse=True)
    sums = np.bincount(inverse, weights=structure.b_factors)
    counts = np.bincount(inverse)
    per_residue = sums / counts
    low = per_residue < float(min_plddt)
    n_res, n_low = len(per_residue), int(low.sum())
    if n_low == 0:
        return structure, 0, n_res
    if n_low == n_res:
        raise StructureError(
            f"{where}: every residue has pLDDT (B column) below {min_plddt:g} "
            f"(highest {per_residue.max():.1f}); lower --min-plddt"
        )
    return structure.subset(~low[inverse]), n_low, n_res


@dataclass(frozen=True)
class Selected:
    """A selected structure and what the selection did (for the log)."""

    structure: Structure
    n_dropped_plddt: int = 0
    n_residues_before: int = 0


def selection_text(selection: Selection | None, min_plddt: float | None) -> str | None:
    """The text that records a selection (``A:1-150,B``, ``A:1-150;plddt>=70``,
    ``;plddt>=70``), or None when it is at most whole chains (recorded as chains already)."""
    ranges = str(selection) if selection is not None and selection.has_ranges else ""
    if not ranges and min_plddt is None:
        return None
    return ranges + (f";plddt>={float(min_plddt)!r}" if min_plddt is not None else "")


def parse_selection_text(text: str) -> tuple[Selection | None, float | None]:
    """The inverse of :func:`selection_text`."""
    ranges, _, floor = str(text).partition(";")
    sel = Selection.parse(ranges) if ranges.strip() else None
    if floor and not floor.startswith("plddt>="):
        raise ConfigError(f"selection {text!r}: expected ';plddt>=X' after the ranges")
    return sel, (float(floor[len("plddt>=") :]) if floor else None)


def select(
    structure: Structure, selection: Selection | None = None, *, min_plddt: float | None = None
) -> Selected:
    """Apply chains / residue ranges, then the pLDDT floor; the result records the selection
    (:attr:`Structure.selection`) when it is more than whole chains."""
    st = selection.apply(structure) if selection is not None else structure
    n_low, n_res = 0, st.n_residues
    if min_plddt is not None:
        st, n_low, n_res = apply_min_plddt(st, min_plddt)
    text = selection_text(selection, min_plddt)
    if text is not None:
        object.__setattr__(st, "selection", text)
    return Selected(st, n_low, n_res)


def read_selected(
    path: str | Path,
    *,
    chains: list[str] | tuple[str, ...] | None = None,
    selection: str | None = None,
    name: str | None = None,
) -> Structure:
    """Read a structure as a run recorded it: its chains and its :attr:`Structure.selection`
    text (residue ranges, pLDDT floor)."""
    from difffit.io.structures import read_structure

    if not selection:
        return read_structure(path, chains=list(chains) if chains else None, name=name)
    sel, _ = parse_selection_text(selection)
    keep = None if sel is not None or not chains else list(chains)  # ranges name their chains
    return apply_selection_text(read_structure(path, chains=keep), selection, name=name)


def apply_selection_text(
    structure: Structure, selection: str | None, *, name: str | None = None
) -> Structure:
    """``structure`` with a recorded :attr:`Structure.selection` text applied (residue ranges,
    pLDDT floor), renamed ``name`` when given; unchanged without a selection."""
    if not selection:
        return structure
    sel, floor = parse_selection_text(selection)
    st = select(structure, sel, min_plddt=floor).structure
    if name:
        object.__setattr__(st, "name", name)
    return st
