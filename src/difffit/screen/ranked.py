"""A screen's ranking, kept as a few numbers per candidate; the records stay in the database.

A proteome screen ranks 10⁴–10⁵ candidates. Their records (metrics, transforms, the best
clusters) are a few kB each, so :class:`RankedCandidates` keeps only the ranking's numbers in
memory (identity, statistic, z, p, q, the call) and reads the records from the screen's
``screen.sqlite`` when asked for, a chunk at a time: iterating streams, ``ranked[:10]`` reads
ten. It is a :class:`~collections.abc.Sequence` of
:class:`~difffit.screen.workflow.RankedCandidate`, like the tuple it replaces.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

import numpy as np

from difffit.screen.store import READ_CHUNK, read_records
from difffit.screen.task import CandidateRecord

__all__ = ["RankedCandidate", "RankedCandidates", "StoredRecords"]

T = TypeVar("T")


@dataclass(frozen=True)
class RankedCandidate:
    """A fitted candidate with its rank in the library and its confidence.

    ``norm_score`` is the ranking statistic (``atanh(score) sqrt(atoms)`` for correlations, see
    :mod:`difffit.screen.confidence`); ``z`` its robust z-score, ``p`` its p-value under the
    library's null, ``q`` the Benjamini-Hochberg q-value. ``z``, ``p`` and ``q`` are NaN when
    the library is too small for a null model.
    """

    rank: int
    record: CandidateRecord
    norm_score: float
    z: float
    p: float
    q: float
    significant: bool
    #: ``"full"``: the full search; ``"cheap"``: the hierarchical screen's cheap stage only
    #: (``norm_score`` is then the full search's statistic predicted from it).
    search: str = "full"


class _Stored(Sequence[T], Generic[T]):
    """Items made from records of a screen database, read a chunk at a time when asked for.

    ``shas[i]`` is item i's record, ``cheap[i]`` whether it is in the cheap stage's table;
    ``names``/``paths`` the names and files as given in this run (an earlier run of a resumed
    screen may have named a file differently).
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        shas: Sequence[str],
        cheap: np.ndarray,
        names: Sequence[str],
        paths: Sequence[str],
    ) -> None:
        self.folder = Path(folder)
        self._shas = list(shas)
        self._cheap = np.asarray(cheap, dtype=bool)
        self._names, self._paths = list(names), list(paths)

    def __len__(self) -> int:
        return len(self._shas)

    @overload
    def __getitem__(self, i: int) -> T: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[T, ...]: ...
    def __getitem__(self, i: int | slice) -> T | tuple[T, ...]:
        if isinstance(i, slice):
            return tuple(self._load(range(*i.indices(len(self)))))
        n = len(self)
        k = int(i) + n if int(i) < 0 else int(i)
        if not 0 <= k < n:
            raise IndexError("index out of range")
        return self._load([k])[0]

    def __iter__(self) -> Iterator[T]:
        for start in range(0, len(self), READ_CHUNK):
            yield from self._load(range(start, min(len(self), start + READ_CHUNK)))

    def take(self, indices: Sequence[int]) -> tuple[T, ...]:
        """The items at ``indices`` (read in chunks)."""
        out: list[T] = []
        for k in range(0, len(indices), READ_CHUNK):
            out.extend(self._load(indices[k : k + READ_CHUNK]))
        return tuple(out)

    def _load(self, idx: Sequence[int]) -> list[T]:
        idx = list(idx)
        recs: dict[tuple[bool, str], CandidateRecord] = {}
        for table, flag in (("candidates", False), ("cheap", True)):
            shas = [self._shas[i] for i in idx if bool(self._cheap[i]) == flag]
            if shas:
                got = read_records(self.folder, shas, table=table)
                recs.update({(flag, s): r for s, r in got.items()})
        out = []
        for i in idx:
            rec = recs[(bool(self._cheap[i]), self._shas[i])]
            out.append(self._make(i, replace(rec, name=self._names[i], path=self._paths[i])))
        return out

    def _make(self, i: int, record: CandidateRecord) -> T:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} candidates in {self.folder})"


class StoredRecords(_Stored[CandidateRecord]):
    """Candidate records (those not fitted, in their order), read from the database."""

    def _make(self, i: int, record: CandidateRecord) -> CandidateRecord:
        return record


class RankedCandidates(_Stored[RankedCandidate]):
    """The ranking, best first: per candidate its statistic, z, p, q and call in memory; its
    record read from the database with the item."""

    def __init__(
        self,
        *stored: Any,
        u: np.ndarray,
        z: np.ndarray,
        p: np.ndarray,
        q: np.ndarray,
        significant: np.ndarray,
    ) -> None:
        """``stored``: the arguments of the records' sequence (folder, shas, cheap, names,
        paths); the ranking's numbers by keyword, in rank order."""
        super().__init__(*stored)
        self.u, self.z, self.p, self.q = (np.asarray(a, dtype=np.float64) for a in (u, z, p, q))
        self.significant = np.asarray(significant, dtype=bool)

    def _make(self, i: int, record: CandidateRecord) -> RankedCandidate:
        return RankedCandidate(
            rank=i + 1,
            record=record,
            norm_score=float(self.u[i]),
            z=float(self.z[i]),
            p=float(self.p[i]),
            q=float(self.q[i]),
            significant=bool(self.significant[i]),
            search="cheap" if self._cheap[i] else "full",
        )

    @property
    def sha256s(self) -> tuple[str, ...]:
        """The candidates' identities, best first (without reading their records)."""
        return tuple(self._shas)
