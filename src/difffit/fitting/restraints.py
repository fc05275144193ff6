"""Covalent topology and geometry checks of a protein model, for flexible fitting.

Pure compute on a :class:`~difffit.structure.Structure` and coordinate arrays (no I/O).

* :class:`Topology` — per-atom residue and domain indices, the bonded pairs a model must keep
  (CA(i)–CA(i+1) and the peptide bond C(i)–N(i+1), **wherever the input has them**: a pair is a
  bond when its input distance is below :data:`CA_CA_BONDED` / :data:`PEPTIDE_BONDED`, so chain
  breaks stay broken) and the pairs excluded from clash counting (same or consecutive residue,
  disulfide SG–SG).
* :func:`geometry_report` — CA–CA (3.6–4.0 Å) and C–N (1.23–1.43 Å) outliers among those bonds,
  and heavy-atom clashes (pairs closer than 2.2 Å that are not excluded), for any coordinates.
* :func:`elastic_pairs` — a local elastic network over CA atoms (pairs within a cutoff).
* :func:`segments` / :func:`linkers` — the runs of consecutive residues in one domain and the
  linkers between consecutive runs of different domains (what a multi-body fit must bridge).

Domain labels are per-atom integers ``(n_atoms,) int64``: ``0 .. k-1`` for the domains, ``-1``
for atoms in no domain. A residue's label is the label of its CA (or of its first atom).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from scipy.spatial import cKDTree

from difffit.errors import ConfigError
from difffit.structure import Structure

__all__ = [
    "CA_CA_BONDED",
    "CA_CA_RANGE",
    "CLASH_DISTANCE",
    "PEPTIDE_BONDED",
    "PEPTIDE_RANGE",
    "GeometryReport",
    "Linker",
    "Topology",
    "elastic_pairs",
    "geometry_report",
    "linkers",
    "residue_labels",
    "segments",
]

#: Acceptable CA(i)–CA(i+1) distance, Å (trans peptides are 3.80 Å; cis ~2.9 Å are outliers).
CA_CA_RANGE = (3.6, 4.0)
#: Acceptable peptide C(i)–N(i+1) bond length, Å (ideal 1.33 Å).
PEPTIDE_RANGE = (1.23, 1.43)
#: Heavy atoms of non-bonded residues closer than this (Å) clash.
CLASH_DISTANCE = 2.2
#: Consecutive residues whose input CA–CA distance is below this (Å) are chain neighbours.
CA_CA_BONDED = 4.5
#: Consecutive residues whose input C–N distance is below this (Å) are peptide-bonded.
PEPTIDE_BONDED = 2.0


@dataclass(frozen=True, eq=False)
class Topology:
    """Residues, bonds and exclusions of a structure, fixed from its input coordinates.

    Attributes
    ----------
    residue_of_atom : (n_atoms,) int64
        Residue index (0 .. n_residues - 1, file order) of every atom.
    chain_of_residue : (n_residues,) int64
        Chain index of every residue.
    ca_index : (n_residues,) int64
        Atom index of each residue's CA (its first atom when it has none).
    has_ca : (n_residues,) bool
    ca_pairs : (m, 2) int64
        Atom indices of the CA(i)–CA(i+1) pairs present in the input.
    peptide_pairs : (p, 2) int64
        Atom indices of the C(i)–N(i+1) bonds present in the input.
    next_residue : (n_residues,) int64
        ``r + 1`` when residue ``r`` is bonded to the next one (CA–CA or C–N present), else -1
        (a chain end or break); used for clash exclusions and linkers.
    is_sg : (n_atoms,) bool
        Cysteine SG atoms (a disulfide is not a clash).
    """

    residue_of_atom: np.ndarray
    chain_of_residue: np.ndarray
    ca_index: np.ndarray
    has_ca: np.ndarray
    ca_pairs: np.ndarray
    peptide_pairs: np.ndarray
    next_residue: np.ndarray
    is_sg: np.ndarray

    @property
    def n_residues(self) -> int:
        return len(self.ca_index)

    @property
    def n_atoms(self) -> int:
        return len(self.residue_of_atom)

    @classmethod
    def from_structure(cls, structure: Structure) -> Topology:
        """Residues in file order; bonds where the input coordinates have them."""
        keys = list(
            zip(
                structure.chain_ids.tolist(),
                structure.residue_numbers.tolist(),
                structure.insertion_codes.tolist(),
                strict=True,
            )
        )
        res_of_atom = np.empty(len(keys), dtype=np.int64)
        index: dict[tuple, int] = {}
        chain_index: dict[str, int] = {}
        chain_of_res: list[int] = []
        for a, k in enumerate(keys):
            r = index.get(k)
            if r is None:
                r = index[k] = len(index)
                chain_of_res.append(chain_index.setdefault(k[0], len(chain_index)))
            res_of_atom[a] = r
        n_res = len(index)
        names = structure.atom_names
        first = np.full(n_res, -1, dtype=np.int64)
        ca = np.full(n_res, -1, dtype=np.int64)
        c_at = np.full(n_res, -1, dtype=np.int64)
        n_at = np.full(n_res, -1, dtype=np.int64)
        for a in range(len(keys) - 1, -1, -1):
            r = res_of_atom[a]
            first[r] = a
            nm = names[a]
            if nm == "CA":
                ca[r] = a
            elif nm == "C":
                c_at[r] = a
            elif nm == "N":
                n_at[r] = a
        has_ca = ca >= 0
        ca_index = np.where(has_ca, ca, first)
        xyz = structure.coords_xyz
        chain_arr = np.asarray(chain_of_res, dtype=np.int64)
        same_chain = chain_arr[:-1] == chain_arr[1:]
        nxt = np.full(n_res, -1, dtype=np.int64)
        ca_pairs, pep_pairs = [], []
        for ri in np.flatnonzero(same_chain).tolist():
            bonded = False
            if has_ca[ri] and has_ca[ri + 1]:
                if np.linalg.norm(xyz[ca[ri]] - xyz[ca[ri + 1]]) < CA_CA_BONDED:
                    ca_pairs.append((ca[ri], ca[ri + 1]))
                    bonded = True
            if c_at[ri] >= 0 and n_at[ri + 1] >= 0:
                if np.linalg.norm(xyz[c_at[ri]] - xyz[n_at[ri + 1]]) < PEPTIDE_BONDED:
                    pep_pairs.append((c_at[ri], n_at[ri + 1]))
                    bonded = True
            if bonded:
                nxt[ri] = ri + 1
        return cls(
            residue_of_atom=res_of_atom,
            chain_of_residue=chain_arr,
            ca_index=ca_index,
            has_ca=has_ca,
            ca_pairs=np.asarray(ca_pairs, dtype=np.int64).reshape(-1, 2),
            peptide_pairs=np.asarray(pep_pairs, dtype=np.int64).reshape(-1, 2),
            next_residue=nxt,
            is_sg=(names == "SG") & (structure.residue_names == "CYS"),
        )

    def excluded(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Which atom pairs (i, j) are not counted as clashes: same residue, bonded
        consecutive residues, or two cysteine SG atoms (a disulfide)."""
        ri, rj = self.residue_of_atom[i], self.residue_of_atom[j]
        lo, hi = np.minimum(ri, rj), np.maximum(ri, rj)
        bonded = self.next_residue[lo] == hi
        return (ri == rj) | bonded | (self.is_sg[i] & self.is_sg[j])

    def close_pairs(self, xyz: np.ndarray, cutoff: float) -> np.ndarray:
        """Non-excluded atom pairs (k, 2) closer than ``cutoff`` Å in ``xyz`` (n_atoms, 3)."""
        pairs = cKDTree(np.asarray(xyz, dtype=np.float64)).query_pairs(
            cutoff, output_type="ndarray"
        )
        if len(pairs) == 0:
            return np.empty((0, 2), dtype=np.int64)
        keep = ~self.excluded(pairs[:, 0], pairs[:, 1])
        return pairs[keep].astype(np.int64)


@dataclass(frozen=True)
class GeometryReport:
    """Geometry of one model: bond outliers and clashes (see the module doc).

    Attributes
    ----------
    n_ca_ca, n_peptide : int
        CA–CA pairs and C–N bonds checked (those present in the input).
    ca_ca_outliers, peptide_outliers : int
        How many of them fall outside :data:`CA_CA_RANGE` / :data:`PEPTIDE_RANGE`.
    clashes : int
        Heavy-atom pairs closer than :data:`CLASH_DISTANCE` (not excluded).
    """

    n_ca_ca: int
    ca_ca_outliers: int
    n_peptide: int
    peptide_outliers: int
    clashes: int

    @property
    def ca_ca_ok_fraction(self) -> float:
        return 1.0 - self.ca_ca_outliers / self.n_ca_ca if self.n_ca_ca else 1.0

    @property
    def peptide_ok_fraction(self) -> float:
        return 1.0 - self.peptide_outliers / self.n_peptide if self.n_peptide else 1.0


def _outside(d: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    return (d < bounds[0]) | (d > bounds[1])


def geometry_report(topology: Topology, xyz: np.ndarray) -> GeometryReport:
    """Bond outliers and clashes of coordinates ``xyz`` (n_atoms, 3) with ``topology``."""
    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.shape != (topology.n_atoms, 3):
        raise ConfigError(f"coordinates of shape {xyz.shape} for {topology.n_atoms} atoms")
    ca = topology.ca_pairs
    pep = topology.peptide_pairs
    d_ca = np.linalg.norm(xyz[ca[:, 0]] - xyz[ca[:, 1]], axis=1)
    d_pep = np.linalg.norm(xyz[pep[:, 0]] - xyz[pep[:, 1]], axis=1)
    return GeometryReport(
        n_ca_ca=len(ca),
        ca_ca_outliers=int(_outside(d_ca, CA_CA_RANGE).sum()),
        n_peptide=len(pep),
        peptide_outliers=int(_outside(d_pep, PEPTIDE_RANGE).sum()),
        clashes=len(topology.close_pairs(xyz, CLASH_DISTANCE)),
    )


def elastic_pairs(
    topology: Topology,
    xyz: np.ndarray,
    *,
    cutoff: float,
    residue_labels_: np.ndarray | None = None,
) -> np.ndarray:
    """CA pairs (k, 2) of atom indices within ``cutoff`` Å, not chain neighbours.

    With ``residue_labels_`` (n_residues,), pairs whose residues lie in two different domains
    (both labelled, labels differ) are left out: the network keeps each domain's shape without
    resisting their relative motion.
    """
    res = np.flatnonzero(topology.has_ca)
    ca = topology.ca_index[res]
    pairs = cKDTree(np.asarray(xyz)[ca]).query_pairs(cutoff, output_type="ndarray")
    if len(pairs) == 0:
        return np.empty((0, 2), dtype=np.int64)
    ri, rj = res[pairs[:, 0]], res[pairs[:, 1]]
    keep = np.abs(ri - rj) > 1
    if residue_labels_ is not None:
        li, lj = residue_labels_[ri], residue_labels_[rj]
        keep &= ~((li >= 0) & (lj >= 0) & (li != lj))
    return np.stack([ca[pairs[keep, 0]], ca[pairs[keep, 1]]], axis=1).astype(np.int64)


def residue_labels(topology: Topology, atom_labels: np.ndarray) -> np.ndarray:
    """Per-residue domain labels (n_residues,) from per-atom labels (the CA's label)."""
    atom_labels = np.asarray(atom_labels)
    if atom_labels.shape != (topology.n_atoms,):
        raise ConfigError(
            f"domain labels must be one integer per atom ({topology.n_atoms}), "
            f"got shape {atom_labels.shape}"
        )
    return atom_labels[topology.ca_index].astype(np.int64)


def segments(topology: Topology, res_labels: np.ndarray) -> list[tuple[int, int, int]]:
    """Runs of consecutive, bonded residues with one domain label: (label, first, last).

    Residues labelled -1 belong to no run.
    """
    out: list[tuple[int, int, int]] = []
    start = None
    for r in range(topology.n_residues):
        lab = int(res_labels[r])
        if start is not None:
            s_lab, s0 = start
            if lab != s_lab or topology.next_residue[r - 1] != r:
                out.append((s_lab, s0, r - 1))
                start = None
        if start is None and lab >= 0:
            start = (lab, r)
    if start is not None:
        out.append((start[0], start[1], topology.n_residues - 1))
    return out


@dataclass(frozen=True)
class Linker:
    """The chain between two runs of different domains.

    ``end_atom`` is the CA of the last residue of the first run, ``start_atom`` the CA of the
    first residue of the next run (each moved into its run by ``hinge_residues``, see
    :func:`linkers`), ``n_between`` the residues between them.
    """

    domain_a: int
    domain_b: int
    end_atom: int
    start_atom: int
    n_between: int

    def max_span(self, tolerance: float) -> float:
        """Longest end-to-end distance (Å) the linker can bridge: 3.8 Å per CA–CA step."""
        return 3.8 * (self.n_between + 1) + tolerance


def linkers(topology: Topology, res_labels: np.ndarray, *, hinge_residues: int = 0) -> list[Linker]:
    """Linkers between consecutive runs (same chain, no break between) of different domains.

    ``hinge_residues`` residues at each end of a run next to a linker (at most half the run)
    count as part of the linker: domain boundaries are approximate and the residues next to a
    hinge are where a conformational change bends the chain.
    """
    segs = segments(topology, res_labels)
    out = []
    for (la, a0, a1), (lb, b0, b1) in pairwise(segs):
        if la == lb:
            continue
        if topology.chain_of_residue[a1] != topology.chain_of_residue[b0]:
            continue
        if not np.all(topology.next_residue[a1:b0] == np.arange(a1 + 1, b0 + 1)):
            continue  # a chain break: the runs need not stay bridged
        ea = a1 - min(hinge_residues, (a1 - a0) // 2)
        sb = b0 + min(hinge_residues, (b1 - b0) // 2)
        out.append(
            Linker(la, lb, int(topology.ca_index[ea]), int(topology.ca_index[sb]), int(sb - ea - 1))
        )
    return out
