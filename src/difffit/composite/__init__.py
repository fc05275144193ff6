"""Scenario 2: composite many structures and copies into one map, round by round.

* :mod:`difffit.composite.types` — the values (options, decisions, placements, states, rounds);
* :mod:`difffit.composite.engine` — the round engine: :func:`propose_round`,
  :func:`accept_round`, and the automatic loop :func:`composite` (pure compute);
* :mod:`difffit.composite.session` — :class:`RunSession`, the same steps written to a run
  folder (:class:`difffit.io.folders.RunFolder`) as they happen, with undo.

Zeroing of placed structures is :mod:`difffit.density.placed`; chain IDs and the assembled
model are :mod:`difffit.io.assembly`; clashes are :mod:`difffit.clashes`.
"""

from difffit.clashes import clash_counts
from difffit.composite.engine import (
    accept_round,
    composite,
    density_left,
    evaluate_candidates,
    initial_state,
    propose_round,
    round_fit_config,
    round_seed,
)
from difffit.composite.types import (
    Candidate,
    CompositeConfig,
    CompositeResult,
    CompositeState,
    Decision,
    Placement,
    Proposal,
    RoundResult,
)
from difffit.density.placed import (
    MATCH_FACTORS,
    matched_resolution,
    simulate_placed,
    zero_fit,
    zero_placements,
)
from difffit.io.assembly import assembly_chain_ids

__all__ = [
    "MATCH_FACTORS",
    "Candidate",
    "CompositeConfig",
    "CompositeResult",
    "CompositeState",
    "Decision",
    "Placement",
    "Proposal",
    "RoundResult",
    "accept_round",
    "assembly_chain_ids",
    "clash_counts",
    "composite",
    "density_left",
    "evaluate_candidates",
    "initial_state",
    "matched_resolution",
    "propose_round",
    "round_fit_config",
    "round_seed",
    "simulate_placed",
    "zero_fit",
    "zero_placements",
]
