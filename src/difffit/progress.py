"""Progress events of the long computations (fit, screen, composite).

Compute code never prints: it calls a :data:`ProgressCallback` with :class:`Progress` events,
and the CLI turns them into a progress bar and log lines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Progress", "ProgressCallback", "emit"]


@dataclass(frozen=True)
class Progress:
    """A progress event: ``done`` of ``total`` units of ``stage`` for ``structure``."""

    stage: str
    done: int
    total: int
    structure: str = ""


ProgressCallback = Callable[[Progress], None]


def emit(
    progress: ProgressCallback | None, stage: str, done: int, total: int, structure: str = ""
) -> None:
    """Send ``Progress(stage, done, total, structure)`` to ``progress`` (nothing when None)."""
    if progress is not None:
        progress(Progress(stage, done, total, structure))
