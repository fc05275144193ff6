"""The round engine of compositing: propose a round, accept chosen fits, repeat.

One round is two steps, and every driver (the automatic :func:`composite` loop,
``difffit composite --manual``, the viewer's Fit again / Accept) calls the same two:

1. :func:`propose_round` fits the structures into the working map (one :func:`difffit.fit`
   run, with the level and resolution of the run: :func:`round_fit_config`) and judges every
   candidate (:func:`evaluate_candidates`, a :class:`~difffit.composite.types.Decision` each);
2. :func:`accept_round` places the chosen candidates (assembly chain IDs) and zeroes the
   density they explain (:func:`difffit.density.placed.zero_placements`).

Undo is a step of the run folder (:meth:`difffit.composite.session.RunSession.undo`): the state
before a round is the state after the one before it.

**Confidence bar.** A candidate (a cluster of the round's fit) is accepted when

* ``cam >= min_cam`` — cam is the correlation about the mean between the map and the
  structure's simulated density over the structure's envelope (Pearson's r, in [-1, 1]);
* and, for a further copy of a structure already placed, ``cam >= relative_cam × cam₁``, with
  ``cam₁`` the cam of that structure's first accepted copy (copies of one subunit explain their
  density about equally well; a candidate that explains it much worse than the first copy did is
  not a copy, but a fit into left-over density or into another subunit);
* and it does not clash: fewer than ``max_clash_fraction`` of its heavy atoms lie within
  ``clash_distance`` Å of a heavy atom of a placed subunit (:func:`difffit.clashes.clash_counts`).

A candidate that passes, but with a cam under ``defer_fraction`` × the best cam accepted in the
round, is deferred to the next round: it is fitted again into the map cleared of the surer
placements, where it competes with less density that is not its own.

The contour level and the resolution are fixed in the first round (:func:`initial_state`) and
kept (:func:`round_fit_config`), so the scores of all rounds are on one scale.

**Small pieces** (``defer_small``): a candidate whose structure has fewer than ``defer_small`` ×
the heavy atoms of the largest structure accepted in the round is deferred too: while large
subunits are still being placed, a small piece's best fit is often into their unexplained
density (7PBL: a RuvA fragment and a DNA strand placed into RuvB density blocked two RuvB
copies, ``docs/composite.md``).

**Flexible** (``flexible``): every accepted candidate is refined flexibly
(:func:`difffit.composite.flexible.refine_copy`) in the proposal, and judged on its refined model
(cam, clashes); its refined model is what is placed, zeroed and written. A further copy that
fails only the relative bar rigidly (a copy in another conformation than the first) is refined
too (the best ``flexible_rescue`` per structure and round) and judged again: its refined cam
against the first copy's refined cam. Structures too short to split stay rigid.
``docs/composite.md`` shows the numbers on the real maps. Pure compute: no files.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from difffit.clashes import clash_counts
from difffit.composite.types import (
    Candidate,
    CompositeConfig,
    CompositeResult,
    CompositeState,
    Decision,
    Placement,
    Proposal,
    RefinedCopy,
    RoundResult,
)
from difffit.config import FitConfig
from difffit.density.map import DensityMap
from difffit.density.placed import zero_placements
from difffit.density.prepare import auto_level, remove_islands
from difffit.errors import ConfigError
from difffit.fitting.quality import default_resolution
from difffit.geometry import RigidTransform
from difffit.io.assembly import assembly_chain_ids
from difffit.progress import Progress
from difffit.results import ClusterHit, FitResult
from difffit.search import fit
from difffit.seeding import make_seed
from difffit.structure import Structure

log = logging.getLogger("difffit.composite")

__all__ = [
    "accept_round",
    "check_copies",
    "composite",
    "copies_left",
    "density_left",
    "evaluate_candidates",
    "initial_state",
    "propose_round",
    "round_fit_config",
    "round_seed",
    "stop_after_round",
    "stop_before_round",
    "symmetric_copies",
]


def check_copies(
    structures: Sequence[Structure], copies: Mapping[str, int | None] | None
) -> dict[str, int | None]:
    """``copies`` checked against the structures, with None for every structure not named."""
    names = [s.name for s in structures]
    if len(set(names)) != len(names):
        raise ConfigError(f"structure names must be unique, got {names}")
    copies = dict(copies or {})
    unknown = set(copies) - set(names)
    if unknown:
        raise ConfigError(
            f"copies given for {', '.join(sorted(unknown))}, which is not among the structures "
            f"({', '.join(names)})"
        )
    out: dict[str, int | None] = {}
    for n in names:
        c = copies.get(n)
        if c is not None and (not isinstance(c, (int, np.integer)) or isinstance(c, bool) or c < 0):
            raise ConfigError(f"copies of {n} must be an integer >= 0, got {c!r}")
        out[n] = None if c is None else int(c)
    return out


def copies_left(state: CompositeState, copies: Mapping[str, int | None], name: str) -> float:
    """Copies of ``name`` still to place (inf when the number is open)."""
    c = copies[name]
    return math.inf if c is None else c - state.copies_placed(name)


def round_seed(seed: int, round_index: int) -> int:
    """The seed of round ``round_index`` (1-based) of a run seeded with ``seed``."""
    return int(np.random.SeedSequence([seed, round_index]).generate_state(1)[0] % (2**31))


def initial_state(density: DensityMap, config: CompositeConfig) -> CompositeState:
    """Round 0: the original map; the level, resolution and symmetry every round will use.

    The symmetry (``config.fit.symmetry``) is detected or checked here, on the original map
    (:func:`difffit.symmetry.apply.resolve_symmetry`; a group the map does not have is a
    ConfigError)."""
    level = config.fit.prep.level
    if level is None:
        level = auto_level(density)
    resolution = config.fit.quality.resolution or default_resolution(density)
    symmetry = None
    if config.fit.symmetry.enabled:
        from difffit.symmetry.apply import resolve_symmetry

        symmetry = resolve_symmetry(
            density, config.fit.symmetry.group, level=float(level), resolution=float(resolution)
        )
    return CompositeState(0, density, (), float(level), float(resolution), symmetry=symmetry)


def symmetric_copies(
    state: CompositeState, copies: Mapping[str, int | None]
) -> dict[str, int | None]:
    """The copies of a run with the state's symmetry: each structure's copies default to the
    group's order, and a given count must be a multiple of it (ConfigError); unchanged without
    symmetry."""
    if state.symmetry is None:
        return dict(copies)
    from difffit.symmetry.apply import check_copies_for_symmetry

    return dict(check_copies_for_symmetry(copies, state.symmetry.group))


def round_fit_config(config: CompositeConfig, state: CompositeState) -> FitConfig:
    """The fit options of a round: ``config.fit`` with the run's contour level and resolution.

    The one place the rule "level and resolution are fixed across rounds" is written: a zeroed
    map would give another automatic level, and scores on another scale.
    """
    f = config.fit
    return f.replace(
        prep=f.prep.replace(level=state.level),
        quality=f.quality.replace(resolution=state.resolution),
        symmetry=f.symmetry.replace(group="none"),  # resolved once, in the state
    )


def propose_round(
    state: CompositeState,
    structures: Sequence[Structure],
    *,
    config: CompositeConfig | None = None,
    seed: int,
    copies: Mapping[str, int | None] | None = None,
    to_fit: Sequence[str] | None = None,
    index: int | None = None,
    fit_seed: int | None = None,
    device: str = "auto",
    threads: int | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> Proposal:
    """Step 1 of a round: fit into the working map of ``state`` and judge the candidates.

    Parameters
    ----------
    state : CompositeState
    structures : sequence of Structure
        Every structure of the run (placed ones count for clashes).
    config : CompositeConfig
    seed : int
        The run's seed; the fit uses :func:`round_seed` (seed, index) unless ``fit_seed``.
    copies : mapping name -> int or None
    to_fit : sequence of str, optional
        Names of the structures to fit; default: those with copies left.
    index : int, optional
        The round (default ``state.rounds_done + 1``).
    fit_seed : int, optional
        The fit's own seed (a user's choice in the viewer).
    device, threads, progress
        As :func:`difffit.fit`.

    Returns
    -------
    Proposal
    """
    t0 = time.perf_counter()
    config = config or CompositeConfig()
    copies = check_copies(structures, copies)
    index = state.rounds_done + 1 if index is None else int(index)
    if to_fit is None:
        todo = [s for s in structures if copies_left(state, copies, s.name) > 0]
    else:
        by_name = {s.name: s for s in structures}
        unknown = [n for n in to_fit if n not in by_name]
        if unknown:
            raise ConfigError(
                f"unknown structures {', '.join(unknown)} (known: {', '.join(by_name)})"
            )
        todo = [by_name[n] for n in to_fit]
    if not todo:
        raise ConfigError("no structures to fit in this round")
    fit_config = round_fit_config(config, state)
    result = fit(
        state.working, todo, config=fit_config, device=device,
        seed=round_seed(seed, index) if fit_seed is None else fit_seed, threads=threads,
        progress=progress,
    )  # fmt: skip
    cands = evaluate_candidates(
        result, structures, state, copies=copies, config=config, index=index
    )
    refined: dict[int, RefinedCopy] = {}
    if config.flexible:
        cands, refined = _refine_candidates(result, structures, state, cands, copies=copies,
                                            config=config, index=index, seed=seed,
                                            device=device)  # fmt: skip
    if state.symmetry is not None:
        from difffit.composite.symmetric import add_symmetry_mates

        result, cands = add_symmetry_mates(
            result, cands, structures, state, copies=copies, config=config,
            fit_config=fit_config, index=index, device=device,
        )  # fmt: skip
    return Proposal(index, result, cands, t0, refined)


def refine_seed(seed: int, round_index: int, rank: int) -> int:
    """The seed of the flexible refinement of cluster ``rank`` placed in round ``round_index``."""
    return int(np.random.SeedSequence([seed, round_index, rank, 11]).generate_state(1)[0])


def _refine(state: CompositeState, structure: Structure, hit: ClusterHit, *, seed: int,
            index: int, device: str) -> RefinedCopy | None:  # fmt: skip
    from difffit.composite.flexible import refine_copy

    return refine_copy(state.working, structure, hit.transform, level=state.level,
                       resolution=state.resolution, seed=refine_seed(seed, index, hit.rank),
                       device=device)  # fmt: skip


def _refine_candidates(
    result: FitResult,
    structures: Sequence[Structure],
    state: CompositeState,
    cands: tuple[Candidate, ...],
    *,
    copies: Mapping[str, int | None],
    config: CompositeConfig,
    index: int,
    seed: int,
    device: str,
) -> tuple[tuple[Candidate, ...], dict[int, RefinedCopy]]:
    """Refine the accepted candidates (and the rescues: the best ``flexible_rescue`` per
    structure that fail only the relative bar), judge again with the refined models, and repeat
    until every accepted candidate is refined (at most 4 times)."""
    by_name = {s.name: s for s in structures}
    refined: dict[int, RefinedCopy] = {}
    tried: set[int] = set()
    for it in range(4):
        todo = [c for c in cands if c.decision is Decision.ACCEPT and c.rank not in tried]
        if it == 0 and config.flexible_rescue:
            per: dict[str, int] = {}
            for c in cands:
                if (c.decision is Decision.BELOW_BAR and c.hit.cam >= config.min_cam
                        and c.clash_fraction <= config.max_clash_fraction
                        and c.rank not in tried
                        and per.get(c.structure, 0) < config.flexible_rescue):  # fmt: skip
                    per[c.structure] = per.get(c.structure, 0) + 1
                    todo.append(c)
        if not todo:
            break
        for c in todo:
            tried.add(c.rank)
            rc = _refine(state, by_name[c.structure], c.hit, seed=seed, index=index,
                         device=device)  # fmt: skip
            if rc is not None:
                refined[c.rank] = rc
        cands = evaluate_candidates(result, structures, state, copies=copies, config=config,
                                    index=index, refined=refined)  # fmt: skip
    return cands, refined


def density_left(state: CompositeState, config: CompositeConfig) -> int:
    """Voxels of the working map at or above the level, small islands removed (as the fit sees)."""
    mask = state.working.data >= state.level
    if not mask.any():
        return 0
    kept, _, _ = remove_islands(mask, config.fit.prep.min_island_voxels)
    return int(kept.sum())


def evaluate_candidates(
    result: FitResult,
    structures: Sequence[Structure],
    state: CompositeState,
    *,
    copies: Mapping[str, int | None] | None = None,
    config: CompositeConfig | None = None,
    index: int | None = None,
    refined: Mapping[int, RefinedCopy] | None = None,
) -> tuple[Candidate, ...]:
    """Apply the confidence bar, the clash check and the deferral to a round's clusters.

    Clusters are visited in the table's order (best first). Each accepted candidate counts as
    placed for the ones after it (clashes, copies, the reference cam of its structure). A
    candidate that passes but whose cam is under ``config.defer_fraction`` × the best cam
    accepted in the round is deferred: it is fitted again next round, into the map cleared of
    the surer placements (unless the round would otherwise accept nothing); so is a candidate
    of a structure with fewer than ``config.defer_small`` × the atoms of the largest structure
    accepted in the round. ``refined`` (cluster rank -> RefinedCopy, ``composite --flexible``):
    those candidates are judged on their refined models.

    Returns
    -------
    tuple of Candidate
        The first ``config.candidates_per_structure`` clusters of each structure, with the
        decision of each.
    """
    config = config or CompositeConfig()
    copies = check_copies(structures, copies)
    refined = refined or {}
    first = _evaluate(result, structures, state, copies, config, index, refined,
                      defer_below=-math.inf)  # fmt: skip
    accepted = [c for c in first if c.decision is Decision.ACCEPT]
    if not accepted or (config.defer_fraction <= 0 and config.defer_small <= 0):
        return first
    best = max(_cam(c.hit, refined) for c in accepted)
    sizes = {s.name: len(s) for s in structures}
    largest = max(sizes[c.structure] for c in accepted)
    # both deferrals at once; when they leave the round nothing, it accepts every candidate
    # that passes (a round never stalls). Measured on 7PBL from its unique chains, rigid:
    # falling back to the small-piece rule alone instead (the round's large structures go in)
    # kept the DNA strand U waiting until only RuvB density it could not explain was left, and
    # it was never placed (2/9 chains within 2 Å, against 4/9 with this fallback)
    out = _evaluate(result, structures, state, copies, config, index, refined,
                    defer_below=config.defer_fraction * best if config.defer_fraction > 0
                    else -math.inf, best=best,
                    small_below=config.defer_small * largest, largest=largest)  # fmt: skip
    if any(c.decision is Decision.ACCEPT for c in out):
        return out
    return first


def _cam(hit: ClusterHit, refined: Mapping[int, RefinedCopy]) -> float:
    """The cam a candidate is judged on: its refined model's, when refined."""
    rc = refined.get(hit.rank)
    return hit.cam if rc is None else rc.cam_after


def _reference_cam(state: CompositeState, name: str) -> tuple[float | None, float | None]:
    """The cams of the first placed copy of ``name``: rigid, and refined (None when rigid)."""
    for p in state.placements:
        if p.structure == name:
            return p.cam, (p.refined.cam_after if p.refined is not None else None)
    return None, None


def _evaluate(
    result: FitResult,
    structures: Sequence[Structure],
    state: CompositeState,
    copies: dict[str, int | None],
    config: CompositeConfig,
    index: int | None,
    refined: Mapping[int, RefinedCopy],
    *,
    defer_below: float,
    best: float = math.nan,
    small_below: float = 0.0,
    largest: int = 0,
) -> tuple[Candidate, ...]:
    by_name = {s.name: s for s in structures}
    round_index = state.rounds_done + 1 if index is None else index
    placed_xyz = [p.coords(by_name[p.structure]) for p in state.placements
                  if p.structure in by_name]  # fmt: skip
    placed_labels = [p.label for p in state.placements if p.structure in by_name]
    # reference cams (first copy): rigid, and refined; a refined candidate is compared with
    # the first copy's refined cam (like with like), a rigid one with its rigid cam
    refs = {n: _reference_cam(state, n) for n in by_name}
    left = {n: copies_left(state, copies, n) for n in by_name}
    seen: dict[str, int] = dict.fromkeys(by_name, 0)
    n_placed = {n: state.copies_placed(n) for n in by_name}
    n_accepted = 0
    out = []
    for hit in result.clusters:
        name = hit.structure
        if name not in by_name:
            raise ConfigError(f"the fit result has a structure {name!r} that was not given")
        if seen[name] >= config.candidates_per_structure:
            continue
        seen[name] += 1
        rc = refined.get(hit.rank)
        xyz = (
            hit.transform.apply(by_name[name].coords_xyz)
            if rc is None
            else rc.coords(by_name[name])
        )
        cam = hit.cam if rc is None else rc.cam_after
        counts = clash_counts(xyz, placed_xyz, distance=config.clash_distance)
        n_clash = int(counts.max()) if len(counts) else 0
        frac = n_clash / len(xyz)
        clash_with = ";".join(f"{placed_labels[i]}:{counts[i]}" for i in np.flatnonzero(counts))
        ref_rigid, ref_refined = refs[name]
        ref = ref_rigid if rc is None or ref_refined is None else ref_refined
        rel = cam / ref if ref else math.nan
        round_full = bool(config.max_per_round) and n_accepted >= config.max_per_round
        small = len(xyz) < small_below
        decision, reason = decide(
            hit, name, config, cam=cam, ref=ref, rel=rel, left=left[name], copies=copies[name],
            n_clash=n_clash, n_atoms=len(xyz), clash_with=clash_with,
            defer_below=defer_below, best=best, round_full=round_full,
            small=small, largest=largest,
        )  # fmt: skip
        if rc is not None:
            reason += f" (refined flexibly: cam {hit.cam:.3f} -> {rc.cam_after:.3f})"
        if decision is Decision.ACCEPT:
            n_accepted += 1
            left[name] -= 1
            if ref_rigid is None:
                refs[name] = (hit.cam, None if rc is None else rc.cam_after)
            placed_xyz.append(xyz)
            n_placed[name] += 1
            placed_labels.append(f"{name}#{n_placed[name]}")
        out.append(
            Candidate(
                round_index, hit, float(rel), n_clash, float(frac), clash_with, decision, reason
            )
        )
    return tuple(out)


def decide(
    hit: ClusterHit,
    name: str,
    config: CompositeConfig,
    *,
    cam: float,
    ref: float | None,
    rel: float,
    left: float,
    copies: int | None,
    n_clash: int,
    n_atoms: int,
    clash_with: str,
    defer_below: float,
    best: float,
    round_full: bool,
    small: bool = False,
    largest: int = 0,
) -> tuple[Decision, str]:
    """The confidence bar, the clash check and the deferral for one candidate, in that order
    (also for the symmetry mates of :mod:`difffit.composite.symmetric`).

    ``cam`` is the candidate's (its refined model's, when refined; else ``hit.cam``)."""
    frac = n_clash / n_atoms
    if left <= 0:
        return Decision.COPIES_PLACED, f"all {copies} copies of {name} are placed"
    if cam < config.min_cam:
        return Decision.BELOW_BAR, f"cam {cam:.3f} < min_cam {config.min_cam:g}"
    if ref is not None and cam < config.relative_cam * ref:
        return Decision.BELOW_BAR, (
            f"cam {cam:.3f} < relative_cam {config.relative_cam:g} x {ref:.3f} "
            f"(cam of the first copy of {name})"
        )
    if frac > config.max_clash_fraction:
        return Decision.CLASH, (
            f"{n_clash} of {n_atoms} atoms ({frac:.1%}) within {config.clash_distance:g} Å "
            f"of placed atoms ({clash_with}); more than max_clash_fraction {config.max_clash_fraction:g}"
        )
    if cam < defer_below:
        return Decision.DEFERRED, (
            f"cam {cam:.3f} < defer_fraction {config.defer_fraction:g} x {best:.3f} (the "
            "best accepted this round): fitted again after the surer placements are zeroed"
        )
    if small:
        return Decision.DEFERRED, (
            f"{n_atoms} atoms < defer_small {config.defer_small:g} x {largest} (the largest "
            "structure accepted this round): fitted again once the large density is explained"
        )
    if round_full:
        return Decision.ROUND_FULL, f"max_per_round {config.max_per_round} reached"
    reason = f"cam {cam:.3f}" + (f" = {rel:.2f} x first copy" if ref else " (first copy)")
    if n_clash:
        reason += f"; {n_clash} atoms within {config.clash_distance:g} Å of {clash_with}"
    return Decision.ACCEPT, reason


def _zero_fill(level: float) -> float:
    """Zeroed voxels get 0, or a value just below the level when the level is not positive."""
    return 0.0 if level > 0 else level - max(1.0, abs(level))


def accept_round(
    state: CompositeState,
    chosen: Sequence[Candidate | ClusterHit],
    structures: Sequence[Structure],
    *,
    config: CompositeConfig | None = None,
    proposal: Proposal | None = None,
    index: int | None = None,
    seed: int = 0,
    device: str = "auto",
) -> RoundResult:
    """Step 2 of a round: place ``chosen`` (accepted candidates, or clusters a user chose) and
    zero the density they explain.

    This completes round ``index`` (default: the proposal's, else ``state.rounds_done + 1``):
    the returned round's ``state`` has the new placements (with assembly chain IDs) and the
    zeroed working map. Accepting nothing is allowed (the round then leaves the map as it was).
    The hits may come from any fit (a user may accept a cluster of an earlier round).

    With ``config.flexible`` every placed copy is refined flexibly first (the proposal's
    refined model when the hit is the proposal's; else refined here, seeded by ``seed``, the
    run's seed, so that a manual or viewer acceptance gives the automatic loop's model), and its
    refined model is zeroed.
    """
    config = config or CompositeConfig()
    by_name = {s.name: s for s in structures}
    if index is None:
        index = proposal.index if proposal is not None else state.rounds_done + 1
    if index <= state.rounds_done:
        raise ConfigError(
            f"round {index} is done already (the state is after round {state.rounds_done})"
        )
    round_index = index
    placements = list(state.placements)
    used = {c for p in placements for c in p.chains}
    new: list[Placement] = []
    for item in chosen:
        cand = item if isinstance(item, Candidate) else None
        hit = item.hit if isinstance(item, Candidate) else item
        if hit.structure not in by_name:
            raise ConfigError(f"no structure {hit.structure!r} among {', '.join(by_name)}")
        st = by_name[hit.structure]
        ref = next((p.cam for p in placements if p.structure == hit.structure), None)
        src = st.chains
        reserved = {c for s in structures for c in s.chains} - set(src)
        ids = tuple(assembly_chain_ids(src, used, reserved=reserved))
        used.update(ids)
        copy_no = sum(1 for p in placements if p.structure == hit.structure) + 1
        rc = None
        if config.flexible:
            own = proposal is not None and any(h is hit for h in proposal.fit.clusters)
            if own and proposal is not None and hit.rank in proposal.refined:
                rc = proposal.refined[hit.rank]
            else:
                rc = _refine(state, st, hit, seed=seed, index=round_index, device=device)
        pl = Placement(
            structure=hit.structure, copy=copy_no, round=round_index, rank=hit.rank, hits=hit.hits,
            correlation=float(hit.correlation), cam=float(hit.cam), overlap=float(hit.overlap),
            density=float(hit.density), inside=float(hit.inside),
            relative_cam=float(hit.cam / ref) if ref else 1.0,
            clash_atoms=cand.clash_atoms if cand else -1,
            clash_fraction=cand.clash_fraction if cand else math.nan,
            transform=hit.transform, source_chains=tuple(src), chains=ids, refined=rc,
        )  # fmt: skip
        placements.append(pl)
        new.append(pl)
    zero = None
    working = state.working
    if new:
        zero = zero_placements(
            state.working, [_placed(by_name[p.structure], p) for p in new],
            resolution=state.resolution, rule=config.rule,
            match_resolution=config.match_resolution, fill=_zero_fill(state.level),
        )  # fmt: skip
        working = zero.map
    new_state = CompositeState(
        round_index, working, tuple(placements), state.level, state.resolution,
        symmetry=state.symmetry,
    )  # fmt: skip
    seconds = time.perf_counter() - proposal.started if proposal is not None else math.nan
    fit_result = proposal.fit if proposal is not None else None
    cands = proposal.candidates if proposal is not None else ()
    return RoundResult(round_index, fit_result, cands, tuple(new), zero, new_state, seconds)


def _placed(structure: Structure, p: Placement) -> tuple[Structure, RigidTransform]:
    """What zeroing takes for a placement: the structure and its rigid transform, or the
    refined model in place."""
    if p.refined is None:
        return structure, p.transform
    moved = dataclasses.replace(structure, coords_xyz=p.refined.coords(structure))
    return moved, RigidTransform.identity()


def _stoichiometry_met(
    state: CompositeState, structures: Sequence[Structure], copies: Mapping[str, int | None]
) -> str:
    names = [s.name for s in structures]
    if all(copies_left(state, copies, n) <= 0 for n in names):
        counts = ", ".join(f"{n} {state.copies_placed(n)}" for n in names)
        return f"stoichiometry met ({counts})"
    return ""


def stop_after_round(
    rnd: RoundResult,
    structures: Sequence[Structure],
    copies: Mapping[str, int | None],
    config: CompositeConfig,
) -> str:
    """Why the run stops after round ``rnd`` ("" = it goes on)."""
    state = rnd.state
    met = _stoichiometry_met(state, structures, copies)
    if met:
        return met
    if not rnd.accepted:
        best = [c for c in rnd.candidates if c.decision in (Decision.BELOW_BAR, Decision.CLASH)]
        if not best:
            return "nothing convincing left: the fit found no candidate"
        c = best[0]
        return (
            f"nothing convincing left: the best candidate of round {rnd.index}, {c.structure} "
            f"(rank {c.rank}, correlation {c.hit.correlation:.3f}, cam {c.hit.cam:.3f}), was "
            f"rejected ({c.decision}: {c.reason})"
        )
    if state.rounds_done >= config.max_rounds:
        return f"max_rounds {config.max_rounds} reached"
    return ""


def stop_before_round(
    state: CompositeState,
    structures: Sequence[Structure],
    copies: Mapping[str, int | None],
    config: CompositeConfig,
) -> str:
    """Why no further round can start from ``state`` ("" = one can)."""
    if not any(copies_left(state, copies, s.name) > 0 for s in structures):
        return _stoichiometry_met(state, structures, copies)
    if state.rounds_done >= config.max_rounds:
        return f"max_rounds {config.max_rounds} reached"
    if density_left(state, config) == 0:
        return (
            f"nothing left: no density above the contour level {state.level:.4g} in the working "
            f"map after round {state.rounds_done} (islands under "
            f"{config.fit.prep.min_island_voxels} voxels ignored)"
        )
    return ""


def composite(
    density: DensityMap,
    structures: Sequence[Structure],
    *,
    copies: Mapping[str, int | None] | None = None,
    config: CompositeConfig | None = None,
    seed: int | None = None,
    device: str = "auto",
    threads: int | None = None,
    state: CompositeState | None = None,
    on_round: Callable[[RoundResult], None] | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> CompositeResult:
    """Composite structures into a map, round by round, until done.

    Parameters
    ----------
    density : DensityMap
        The original map (ignored when ``state`` is given, except for its grid).
    structures : sequence of Structure
        The subunits, with unique names.
    copies : mapping name -> int or None
        Copies of each structure to place; None or absent = as many as pass the bar.
    config : CompositeConfig
    seed : int or None
        Seed of the run; round ``k`` uses :func:`round_seed` (seed, k).
    device, threads
        As :func:`difffit.fit`.
    state : CompositeState or None
        Resume from this state (rounds already done); None = start.
    on_round : callable
        Called with each :class:`RoundResult` as soon as the round is complete (to write it).
    progress : callable
        :class:`~difffit.progress.Progress` events of the fits (stage ``"round"`` between rounds).

    Returns
    -------
    CompositeResult
    """
    config = config or CompositeConfig()
    if not isinstance(config, CompositeConfig):
        raise ConfigError("config must be a CompositeConfig")
    structures = list(structures)
    if not structures:
        raise ConfigError("no structures to composite")
    copies = check_copies(structures, copies)
    seed = make_seed(seed)
    if state is None:
        state = initial_state(density, config)
    elif not state.working.same_grid(density):
        raise ConfigError("the state to resume from is on another grid than the map")
    copies = symmetric_copies(state, copies)
    rounds: list[RoundResult] = []
    while not state.finished:
        reason = stop_before_round(state, structures, copies, config)
        if reason:
            state = dataclasses.replace(state, finished=True, stop_reason=reason)
            break
        if progress is not None:
            progress(Progress("round", state.rounds_done, config.max_rounds))
        proposal = propose_round(state, structures, config=config, seed=seed, copies=copies,
                                 device=device, threads=threads, progress=progress)  # fmt: skip
        rnd = accept_round(state, proposal.accepted(), structures, config=config,
                           proposal=proposal, seed=seed, device=device)  # fmt: skip
        reason = stop_after_round(rnd, structures, copies, config)
        state = dataclasses.replace(rnd.state, finished=bool(reason), stop_reason=reason)
        rnd = dataclasses.replace(rnd, state=state)
        log.debug("round %d: %d placed (%s) in %.1f s%s", rnd.index, len(rnd.accepted),
                 ", ".join(p.label for p in rnd.accepted) or "-", rnd.seconds,
                 f"; stop: {reason}" if reason else "")  # fmt: skip
        rounds.append(rnd)
        if on_round is not None:
            on_round(rnd)
    return CompositeResult(state, tuple(rounds))
