"""A symmetric round: one accepted copy and its symmetry mates, refined, checked and placed
together (``composite --symmetry``).

:func:`add_symmetry_mates` is called by :func:`~difffit.composite.engine.propose_round` after
the confidence bar has judged the round's clusters, when the run has a symmetry
(:attr:`~difffit.composite.types.CompositeState.symmetry`). For each structure with a whole
orbit of copies left (``order`` copies), the first accepted cluster leads:

1. its mates ``g ∘ T`` for every operator ``g`` but the identity (the map's operators, detected
   or checked on the original map in the first round) are refined locally in the working map
   (:func:`~difffit.fitting.pipeline.refine_placements`, the refinement of cluster
   representatives) and measured;
2. each mate passes the same bar as any candidate (``min_cam``, ``relative_cam`` × the
   leader's cam, clashes with the placed subunits, the leader and the mates before it);
3. the mates join the round's fit as clusters ranked after the search's own (so that the
   manual mode and the viewer accept them by rank like any other), with decision ``accept``
   and ``mate_of`` / ``operator`` saying where they come from;
4. the other accepted clusters of that structure wait (``deferred``): the search found the
   same copies the mates are, and a further orbit is fitted next round.

Pure compute: no files.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np

from difffit.clashes import clash_counts
from difffit.composite.engine import decide
from difffit.composite.types import Candidate, CompositeState, Decision
from difffit.config import CompositeConfig, FitConfig
from difffit.device import resolve_device
from difffit.fitting.pipeline import prepare_search_map, prepare_structure, refine_placements
from difffit.geometry import RigidTransform
from difffit.results import ClusterHit, FitResult
from difffit.structure import Structure

__all__ = ["add_symmetry_mates"]


def _copies_left(state: CompositeState, copies: Mapping[str, int | None], name: str) -> float:
    c = copies.get(name)
    return math.inf if c is None else c - state.copies_placed(name)


def add_symmetry_mates(
    result: FitResult,
    candidates: Sequence[Candidate],
    structures: Sequence[Structure],
    state: CompositeState,
    *,
    copies: Mapping[str, int | None],
    config: CompositeConfig,
    fit_config: FitConfig,
    index: int,
    device: str = "auto",
) -> tuple[FitResult, tuple[Candidate, ...]]:
    """The round's fit with the mates of each leading copy added, and the candidates with them.

    Parameters
    ----------
    result : FitResult
        The round's fit.
    candidates : sequence of Candidate
        The bar's verdict on its clusters (:func:`~difffit.composite.engine.evaluate_candidates`).
    fit_config : FitConfig
        The round's fit options (level, resolution, refinement steps).

    Returns
    -------
    (FitResult, tuple of Candidate)
        Unchanged when no structure leads (nothing accepted, or fewer copies left than the
        group's order).
    """
    sym = state.symmetry
    if sym is None:
        return result, tuple(candidates)
    ops = sym.operators
    order = len(ops)
    by_name = {s.name: s for s in structures}
    leaders: dict[str, Candidate] = {}
    for c in candidates:
        if (c.decision is Decision.ACCEPT and c.structure not in leaders
                and _copies_left(state, copies, c.structure) >= order):  # fmt: skip
            leaders[c.structure] = c
    if not leaders:
        return result, tuple(candidates)

    smap = prepare_search_map(
        state.working,
        fit_config.replace(prep=fit_config.prep.replace(n_smooth=0, smooth_weights=None)),
        device=resolve_device(device),
    )
    placed_xyz = [p.transform.apply(by_name[p.structure].coords_xyz) if p.structure in by_name
                  else None for p in state.placements]  # fmt: skip
    placed = [x for x in placed_xyz if x is not None]
    labels = [p.label for p, x in zip(state.placements, placed_xyz, strict=True) if x is not None]
    n_placed = {n: state.copies_placed(n) for n in by_name}
    clusters = list(result.clusters)
    next_rank = max((h.rank for h in clusters), default=0) + 1
    out: list[Candidate] = []
    for c in candidates:
        name = c.structure
        lead = leaders.get(name)
        if lead is None:
            out.append(c)
            continue
        if c is not lead:
            if c.decision is Decision.ACCEPT:
                c = dataclasses.replace(c, decision=Decision.DEFERRED, reason=(
                    f"symmetric round: rank {lead.rank} and its {order - 1} {sym.group.name} "
                    "mates are placed; a further copy is fitted again next round"))  # fmt: skip
            out.append(c)
            continue
        st = by_name[name]
        xyz = lead.hit.transform.apply(st.coords_xyz)
        placed.append(xyz)
        n_placed[name] += 1
        labels.append(f"{name}#{n_placed[name]}")
        out.append(lead)
        ref = state.reference_cam(name) or lead.hit.cam
        tg = prepare_structure(st, lead.hit.structure_index, smap, fit_config)
        mates = np.array([g.compose(lead.hit.transform).to_r_t_flat() for g in ops[1:]])
        flat, metrics, moved = refine_placements(smap, tg, mates,
                                                 n_steps=fit_config.refine.n_steps)  # fmt: skip
        for k in range(order - 1):
            tr = RigidTransform.from_r_t_flat(flat[k])
            cx, cy, cz = tr.apply(st.centre_xyz[None])[0]
            hit = ClusterHit(
                rank=next_rank, structure=name, structure_index=lead.hit.structure_index,
                hits=0, density=float(metrics["density"][k]),
                overlap=float(metrics["overlap"][k]),
                correlation=float(metrics["correlation"][k]), cam=float(metrics["cam"][k]),
                inside=float(metrics["inside"][k]), transform=tr, refined=True,
                fit_id=lead.hit.fit_id,
                centre_xyz=(float(cx), float(cy), float(cz)),
                extra={"refine_shift": float(moved[k]), "mate_of": lead.rank, "operator": k + 1},
            )  # fmt: skip
            next_rank += 1
            clusters.append(hit)
            mxyz = tr.apply(st.coords_xyz)
            counts = clash_counts(mxyz, placed, distance=config.clash_distance)
            n_clash = int(counts.max()) if len(counts) else 0
            frac = n_clash / len(mxyz)
            clash_with = ";".join(f"{labels[i]}:{counts[i]}" for i in np.flatnonzero(counts))
            rel = hit.cam / ref if ref else math.nan
            what = f"{sym.group.name} mate {k + 1} of rank {lead.rank} (moved {moved[k]:.2f} Å)"
            decision, reason = decide(
                hit, name, config, cam=hit.cam, ref=ref, rel=rel, left=math.inf, copies=None,
                n_clash=n_clash, n_atoms=len(mxyz), clash_with=clash_with,
                defer_below=-math.inf, best=math.nan, round_full=False,
            )  # fmt: skip
            reason = f"{what}: {reason}"
            if decision is Decision.ACCEPT:
                placed.append(mxyz)
                n_placed[name] += 1
                labels.append(f"{name}#{n_placed[name]}")
            out.append(Candidate(index, hit, float(rel), n_clash, float(frac), clash_with,
                                 decision, reason, mate_of=lead.rank, operator=k + 1))  # fmt: skip
    new_result = dataclasses.replace(result, clusters=tuple(clusters))
    return new_result, tuple(out)
