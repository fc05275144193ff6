"""The values of a composite run: options, decisions, placements, states and rounds.

Pure values (no compute, no files): :mod:`difffit.composite.engine` makes them,
:mod:`difffit.io.folders` writes and reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from difffit.config import CompositeConfig
from difffit.density.map import DensityMap
from difffit.density.zero import ZeroResult
from difffit.errors import ConfigError
from difffit.geometry import RigidTransform
from difffit.results import ClusterHit, FitResult

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

    @property
    def label(self) -> str:
        return f"{self.structure}#{self.copy}"


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
