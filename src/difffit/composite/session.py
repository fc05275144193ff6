"""A composite run on disk: the engine's steps, each written to its run folder at once.

:class:`RunSession` is what every driver holds: ``difffit composite`` (automatic and
``--manual`` / ``--accept``) and the viewer (Fit again, Accept/Zero, Undo). It proposes a round
(:func:`~difffit.composite.engine.propose_round`), accepts chosen clusters
(:func:`~difffit.composite.engine.accept_round`), undoes the last round, and runs the automatic
loop (:func:`~difffit.composite.engine.composite`); the files are
:class:`~difffit.io.folders.RunFolder`'s.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from difffit.composite.engine import (
    accept_round,
    check_copies,
    composite,
    initial_state,
    propose_round,
    symmetric_copies,
)
from difffit.composite.types import (
    CompositeConfig,
    CompositeResult,
    CompositeState,
    Proposal,
    RoundResult,
)
from difffit.density.map import DensityMap
from difffit.errors import ConfigError
from difffit.io.folders import RoundRecord, RunFolder
from difffit.progress import Progress
from difffit.results import ClusterHit, FitResult
from difffit.seeding import make_seed
from difffit.structure import Structure

__all__ = ["RunSession"]


class RunSession:
    """The steps of a composite run, on a :class:`~difffit.io.folders.RunFolder`.

    Parameters
    ----------
    folder : RunFolder
    structures : sequence of Structure, optional
        The run's structures (default: read from the files the run names, when first needed).
    original_map : path, optional
        The original map, when it has moved since the run was started.
    """

    def __init__(
        self,
        folder: RunFolder,
        structures: Sequence[Structure] | None = None,
        *,
        original_map: str | os.PathLike[str] | None = None,
    ) -> None:
        self.folder = folder
        self._structures = list(structures) if structures is not None else None
        self._original_map = original_map
        self._state: CompositeState | None = None
        self._fits: dict[int, FitResult] = {}
        self.resumed = False

    # ------------------------------------------------------------------ starting
    @classmethod
    def start_or_resume(
        cls,
        out: str | os.PathLike[str],
        density: DensityMap,
        structures: Sequence[Structure],
        *,
        map_path: str | os.PathLike[str],
        copies: Mapping[str, int | None],
        config: CompositeConfig,
        seed: int | None,
        restart: bool = False,
        command: str | None = None,
    ) -> RunSession:
        """A new run in ``out``, or the run there resumed (same inputs and options, ConfigError
        otherwise; a new ``max_rounds`` applies, and reopens a run stopped by the old one)."""
        out = Path(out)
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out {out}: exists and is not a folder")
        if restart and out.exists():
            RunFolder.discard(out)
        copies = check_copies(structures, copies)
        if not RunFolder.exists(out):
            state = initial_state(density, config)
            copies = symmetric_copies(state, copies)
            folder = RunFolder.create(
                out, map_path=map_path, structures=structures, copies=copies, config=config,
                seed=make_seed(seed), level=state.level, resolution=state.resolution,
                command=command, symmetry=state.symmetry,
            )  # fmt: skip
            session = cls(folder, structures, original_map=map_path)
            session._state = state
            return session
        folder = RunFolder.open(out)
        sym = folder.symmetry
        if sym is not None:
            from difffit.symmetry.apply import check_copies_for_symmetry

            copies = dict(check_copies_for_symmetry(copies, sym.group))
        folder.check_same_run(map_path=map_path, structures=structures, copies=copies,
                              config=config, seed=seed)  # fmt: skip
        folder.set_config(config)
        session = cls(folder, structures, original_map=map_path)
        session.resumed = True
        st = session.state
        if (
            st.finished
            and st.stop_reason.startswith("max_rounds")
            and config.max_rounds > st.rounds_done
        ):
            session._state = dataclasses.replace(st, finished=False, stop_reason="")
        return session

    # ------------------------------------------------------------------ what it holds
    @property
    def config(self) -> CompositeConfig:
        return self.folder.config

    @property
    def copies(self) -> dict[str, int | None]:
        return self.folder.copies

    @property
    def structures(self) -> list[Structure]:
        if self._structures is None:
            from difffit.selection import read_selected

            out = []
            for e in self.folder.structures:
                if not e.path:
                    raise ConfigError(f"structure {e.name}: the run names no file for it")
                out.append(read_selected(e.path, chains=e.chains, selection=e.selection,
                                         name=e.name))  # fmt: skip
            self._structures = out
        return self._structures

    def structure(self, name: str) -> Structure:
        for s in self.structures:
            if s.name == name:
                return s
        raise ConfigError(f"no structure {name!r} in this run")

    @property
    def state(self) -> CompositeState:
        """The state after the last complete round."""
        if self._state is None:
            self._state = self.folder.load_state(self._original_map)
        return self._state

    def fit(self, index: int) -> FitResult:
        """The fit of round ``index`` (0: the base fit of a viewer session), cached."""
        if index not in self._fits:
            if index not in self.folder.fit_rounds():
                raise ConfigError(f"no round {index} with a fit in {self.folder.path}")
            self._fits[index] = self.folder.load_fit(index)
        return self._fits[index]

    def hit(self, index: int, rank: int) -> ClusterHit:
        """Cluster ``rank`` of round ``index``'s fit."""
        for h in self.fit(index).clusters:
            if h.rank == rank:
                return h
        raise ConfigError(f"round {index} has no cluster of rank {rank}")

    def next_proposal_index(self, *, keep_pending: bool = False) -> int:
        """The round a proposal made now would be."""
        pending = self.folder.pending_round
        return pending if pending is not None and not keep_pending else self.folder.next_index()

    # ------------------------------------------------------------------ the steps
    def propose(
        self,
        *,
        to_fit: Sequence[str] | None = None,
        fit_seed: int | None = None,
        config: CompositeConfig | None = None,
        keep_pending: bool = False,
        device: str = "auto",
        threads: int | None = None,
        progress: Callable[[Progress], None] | None = None,
    ) -> Proposal:
        """Fit into the working map and judge the candidates; written as the pending round.

        A pending round is fitted again (its index reused) unless ``keep_pending``, which keeps
        its fit listed and proposes the next round. ``config`` overrides the run's options for
        this fit (the viewer's counts); the level and resolution stay the run's.
        """
        index = self.next_proposal_index(keep_pending=keep_pending)
        proposal = propose_round(
            self.state, self.structures, config=config or self.config, seed=self.folder.seed,
            copies=self.copies, to_fit=to_fit, index=index, fit_seed=fit_seed, device=device,
            threads=threads, progress=progress,
        )  # fmt: skip
        self.folder.save_proposal(proposal, self.structures, keep_pending=keep_pending)
        self._fits[proposal.index] = proposal.fit
        return proposal

    def accept(self, choices: Sequence[tuple[int, int]]) -> RoundResult:
        """Accept the clusters ``choices`` ((fit round, rank) pairs; may be empty): zero them
        and complete the pending round (or a new round without a fit of its own)."""
        choices = [(int(r), int(k)) for r, k in choices]
        hits = [self.hit(r, k) for r, k in choices]
        index = self.folder.pending_round or self.folder.next_index()
        before = self.state
        rnd = accept_round(before, hits, self.structures, config=self.config, index=index,
                           seed=self.folder.seed)  # fmt: skip
        level = before.level
        n_above = (_n_above(before.working, level), _n_above(rnd.state.working, level))
        self.folder.save_round(rnd, self.structures, sources=choices, n_above=n_above)
        self._state = rnd.state
        return rnd

    def undo(self) -> RoundRecord:
        """Drop the last complete round (the working map goes back to the one before)."""
        from difffit.errors import ResultsError

        try:
            rec = self.folder.undo()
        except ResultsError as exc:
            raise ConfigError(str(exc)) from None
        self._state = None
        return rec

    def run(
        self,
        *,
        device: str = "auto",
        threads: int | None = None,
        on_round: Callable[[RoundResult], None] | None = None,
        progress: Callable[[Progress], None] | None = None,
    ) -> CompositeResult:
        """The automatic loop from the current state; each round is written when complete."""

        def save(rnd: RoundResult) -> None:
            self.folder.save_round(rnd, self.structures)
            self._state = rnd.state
            if on_round is not None:
                on_round(rnd)

        st = self.state
        result = composite(
            st.working, self.structures, copies=self.copies, config=self.config,
            seed=self.folder.seed, device=device, threads=threads, state=st, on_round=save,
            progress=progress,
        )  # fmt: skip
        if not result.rounds:  # stopped before fitting (e.g. max_rounds reached on resume)
            self.folder.set_finished(result.state.finished, result.state.stop_reason)
        self._state = result.state
        return result


def _n_above(density: DensityMap, level: float) -> int:
    return int(np.count_nonzero(density.data > level))
