"""The values of a composite run: options, decisions, placements, states and rounds.

Pure values (no compute, no files): :mod:`difffit.composite.engine` makes them,
:mod:`difffit.io.folders` writes and reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

import numpy as np

from difffit.config import CompositeConfig
from difffit.density.map import DensityMap
from difffit.density.zero import ZeroResult
from difffit.errors import ConfigError
from difffit.fitting.restraints import GeometryReport
from difffit.geometry import RigidTransform
from difffit.results import ClusterHit, FitResult
from difffit.structure import Structure

if TYPE_CHECKING:
    from difffit.symmetry.apply import MapSymmetry

__all__ = [
    "Candidate",
    "CompositeConfig",
    "CompositeResult",
    "CompositeState",
    "Decision",
    "Placement",
    "Proposal",
    "RefinedCopy",
    "RoundResult",
]


class Decision(str, Enum):
    """What the confidence bar and the clash check made of a candidate.

    The values are the words written in ``candidates.csv`` (``decision`` column).
    """

    ACCEPT = "accept"
    BELOW_BAR = "below bar"  #: cam under min_cam, or under relative_cam x the first copy's
    CLASH = "clash"  #: too many atoms near a placed subunit's
    COPIES_PLACED = "copies placed"  #: the structure has all its copies
    DEFERRED = "deferred"  #: passes, but much less sure than the round's best: fitted again
    ROUND_FULL = "round full"  #: max_per_round reached

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


def residue_index(structure: Structure) -> tuple[tuple[tuple[str, int, str], ...], np.ndarray]:
    """The structure's residues ``(chain, number, insertion)`` in file order, and each atom's
    residue index ``(n_atoms,)``."""
    keys: dict[tuple[str, int, str], int] = {}
    inv = np.empty(len(structure), dtype=np.int64)
    for i, (c, n, ic) in enumerate(zip(structure.chain_ids, structure.residue_numbers,
                                       structure.insertion_codes, strict=True)):  # fmt: skip
        inv[i] = keys.setdefault((str(c), int(n), str(ic).strip()), len(keys))
    return tuple(keys), inv


@dataclass(frozen=True, eq=False)
class RefinedCopy:
    """A placed copy refined flexibly (``composite --flexible``): residues moved as rigid frames.

    Attributes
    ----------
    residues : tuple of (chain, number, insertion)
        The structure's residues in file order.
    motions : (n_residues, 3, 4) float64 array
        Per residue, the rigid motion of its atoms from the input coordinates to the refined
        model (x' = R x + t; ``[:, :, :3]`` = R, ``[:, :, 3]`` = t).
    shifts : (n_residues,) float64 array, Å
        The residue's CA shift (its atoms' mean shift without CA) from the rigid placement.
    domains : tuple of str
        The domains refined as rigid bodies first (residue ranges).
    cam_before, cam_after, correlation_before, correlation_after : float
        Fit to the working map at the run's resolution, rigid placement -> refined.
    ca_rmsd_moved : float
        CA RMSD (Å) of the refined model from the rigid placement.
    geometry_input, geometry_after : GeometryReport
        Bond outliers and clashes of the input coordinates and of the refined model.
    """

    residues: tuple[tuple[str, int, str], ...]
    motions: np.ndarray
    shifts: np.ndarray
    domains: tuple[str, ...]
    cam_before: float
    cam_after: float
    correlation_before: float
    correlation_after: float
    ca_rmsd_moved: float
    geometry_input: GeometryReport
    geometry_after: GeometryReport

    def coords(self, structure: Structure) -> np.ndarray:
        """The refined heavy-atom coordinates of ``structure`` (its input frame), (n, 3) Å."""
        keys, inv = residue_index(structure)
        if keys != self.residues:
            raise ConfigError(
                f"{structure.name}: its residues are not those of the refined copy "
                f"({len(keys)} vs {len(self.residues)})"
            )
        m = self.motions[inv]
        return np.einsum("nij,nj->ni", m[:, :, :3], structure.coords_xyz) + m[:, :, 3]

    def motion(self, key: tuple[str, int, str]) -> RigidTransform | None:
        """The motion of one residue (None when the structure has no such residue)."""
        try:
            i = self.residues.index(key)
        except ValueError:
            return None
        return RigidTransform(self.motions[i, :, :3], self.motions[i, :, 3])

    def geometry_ok(self, min_fraction: float = 0.99) -> bool:
        """At least ``min_fraction`` of the input's CA–CA and C–N bonds in range (or as many as
        the input had), and no more clashes than the input had."""
        g, g0 = self.geometry_after, self.geometry_input
        return (
            g.ca_ca_ok_fraction >= min(min_fraction, g0.ca_ca_ok_fraction)
            and g.peptide_ok_fraction >= min(min_fraction, g0.peptide_ok_fraction)
            and g.clashes <= g0.clashes
        )


@dataclass(frozen=True)
class Placement:
    """One accepted copy of a structure.

    ``transform`` maps the structure's input coordinates into the map (x' = R x + t, Å), as
    in ``clusters.csv``. ``chains`` are the chain IDs of this copy in the assembly, one per
    chain of the structure (``source_chains``).
    """

    structure: str
    copy: int
    round: int
    rank: int
    hits: int
    correlation: float
    cam: float
    overlap: float
    density: float
    inside: float
    relative_cam: float
    clash_atoms: int
    clash_fraction: float
    transform: RigidTransform
    source_chains: tuple[str, ...]
    chains: tuple[str, ...]
    #: The flexible refinement of this copy (``composite --flexible``), or None (rigid).
    refined: RefinedCopy | None = field(default=None, compare=False)

    @property
    def label(self) -> str:
        return f"{self.structure}#{self.copy}"

    def coords(self, structure: Structure) -> np.ndarray:
        """The placed heavy atoms (n, 3) Å: the refined model, or the rigid transform's."""
        if self.refined is not None:
            return self.refined.coords(structure)
        return self.transform.apply(structure.coords_xyz)


@dataclass(frozen=True)
class Candidate:
    """A cluster of a round's fit and what the confidence bar and the clash check made of it.

    ``decision`` is a :class:`Decision`; ``reason`` says why, in words. A symmetry mate (a
    symmetric round, ``--symmetry``) has ``mate_of`` = the rank of the cluster it is a mate of
    and ``operator`` = the index of the group operator that made it (1 .. order - 1); other
    candidates have 0 and 0.
    """

    round: int
    hit: ClusterHit
    relative_cam: float
    clash_atoms: int
    clash_fraction: float
    clash_with: str
    decision: Decision
    reason: str
    mate_of: int = 0
    operator: int = 0

    @property
    def structure(self) -> str:
        return self.hit.structure

    @property
    def rank(self) -> int:
        return self.hit.rank


@dataclass(frozen=True, eq=False)
class CompositeState:
    """Where a composite run stands after ``rounds_done`` complete rounds.

    Attributes
    ----------
    rounds_done : int
    working : DensityMap
        The map with the density of every placement zeroed.
    placements : tuple of Placement
        In order of acceptance.
    level, resolution : float
        Contour level and resolution (Å), fixed in the first round.
    finished : bool
    stop_reason : str
    symmetry : MapSymmetry or None
        The map's symmetry (``--symmetry``), resolved in the first round on the original map
        and kept: each round places a copy and its symmetry mates.
    """

    rounds_done: int
    working: DensityMap
    placements: tuple[Placement, ...]
    level: float
    resolution: float
    finished: bool = False
    stop_reason: str = ""
    symmetry: MapSymmetry | None = None

    def copies_placed(self, structure: str) -> int:
        return sum(1 for p in self.placements if p.structure == structure)

    def reference_cam(self, structure: str) -> float | None:
        """The cam of the structure's first accepted copy (None before)."""
        for p in self.placements:
            if p.structure == structure:
                return p.cam
        return None


@dataclass(frozen=True, eq=False)
class Proposal:
    """A proposed round: the fit into the working map and the verdict on each candidate.

    Nothing is placed until :func:`~difffit.composite.engine.accept_round` takes the chosen
    candidates (all those with ``Decision.ACCEPT`` in the automatic loop; a user's choice in
    the manual and viewer drivers).
    """

    index: int  #: the round this proposes (1-based)
    fit: FitResult
    candidates: tuple[Candidate, ...]
    started: float  #: ``time.perf_counter()`` when the round began
    #: ``composite --flexible``: the refined copies of candidates, by cluster rank.
    refined: Mapping[int, RefinedCopy] = field(default_factory=dict)

    def accepted(self) -> list[Candidate]:
        """The candidates the confidence bar accepts."""
        return [c for c in self.candidates if c.decision is Decision.ACCEPT]

    def hit(self, rank: int) -> ClusterHit:
        """The cluster of the round's fit with this rank (ConfigError when there is none)."""
        for h in self.fit.clusters:
            if h.rank == rank:
                return h
        raise ConfigError(f"round {self.index} has no cluster of rank {rank}")


@dataclass(frozen=True, eq=False)
class RoundResult:
    """One round: the fit into the working map, the verdict on each candidate, the zeroing."""

    index: int
    fit: FitResult | None  #: None for a round whose placements were chosen without a fit here
    candidates: tuple[Candidate, ...]
    accepted: tuple[Placement, ...]
    zero: ZeroResult | None
    state: CompositeState
    seconds: float


@dataclass(frozen=True, eq=False)
class CompositeResult:
    """The outcome of :func:`composite`: the final state and the rounds run by this call."""

    state: CompositeState
    rounds: tuple[RoundResult, ...]

    @property
    def placements(self) -> tuple[Placement, ...]:
        return self.state.placements

    @property
    def stop_reason(self) -> str:
        return self.state.stop_reason
