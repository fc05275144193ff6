"""Splitting a structure into its chains, grouped by sequence.

Chains with the same polymer sequence are copies of one subunit: a homo-oligomer needs one
search, not one per chain. Two chains are grouped when their one-letter polymer sequences are
equal, or when one is a contiguous part of the other covering at least ``min_coverage`` of it
(copies that differ only by disordered, unmodelled termini). Chains without polymer residues
(ligand-only) form groups of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from difffit.errors import ConfigError
from difffit.structure import Structure

__all__ = ["ChainGroup", "group_chains", "split_chains"]


@dataclass(frozen=True)
class ChainGroup:
    """Chains sharing one sequence.

    Attributes
    ----------
    name : str
        ``<structure>_<first chain>`` — the name of the representative.
    chains : tuple of str
        Chain IDs in file order; the first is the representative (the longest when truncated
        copies are grouped).
    sequence : str
        One-letter polymer sequence of the representative.
    """

    name: str
    chains: tuple[str, ...]
    sequence: str

    @property
    def copies(self) -> int:
        return len(self.chains)


def _same_subunit(a: str, b: str, min_coverage: float) -> bool:
    if not a or not b:
        return False
    if a == b:
        return True
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    return len(short) >= min_coverage * len(long_) and short in long_


def group_chains(structure: Structure, *, min_coverage: float = 0.9) -> list[ChainGroup]:
    """Group the chains of ``structure`` by sequence (see the module doc), in file order."""
    if not (0.0 < min_coverage <= 1.0):
        raise ConfigError(f"min_coverage must be in (0, 1], got {min_coverage!r}")
    groups: list[list[str]] = []
    seqs: list[str] = []
    for ch in structure.chains:
        seq = structure.sequence(ch)
        for gi, gseq in enumerate(seqs):
            if _same_subunit(seq, gseq, min_coverage):
                groups[gi].append(ch)
                if len(seq) > len(gseq):
                    seqs[gi] = seq
                break
        else:
            groups.append([ch])
            seqs.append(seq)
    out = []
    for chains, seq in zip(groups, seqs, strict=True):
        # the representative is the first chain with the group's (longest) sequence
        rep = next(c for c in chains if structure.sequence(c) == seq) if seq else chains[0]
        ordered = (rep, *[c for c in chains if c != rep])
        out.append(ChainGroup(name=f"{structure.name}_{rep}", chains=ordered, sequence=seq))
    return out


def split_chains(structure: Structure) -> list[Structure]:
    """One structure per chain, named ``<structure>_<chain>``, in file order."""
    return [structure.select_chains([c]) for c in structure.chains]
