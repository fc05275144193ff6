"""Scenario 3: identify an unknown density by screening a library of candidate structures.

::

    from difffit import read_map
    from difffit.screen import ScreenConfig, find_library, screen, write_screen_report

    library, _ = find_library(["afdb_domains/"])
    result = screen(read_map("segment.mrc"), library, out="screen_out", seed=1, workers=4)
    print(result.summary_table())
    write_screen_report(result, "screen_out", map_path="segment.mrc")

The confidence statistic and its null model are described in :mod:`difffit.screen.confidence`
and ``docs/screen.md``.
"""

from difffit.screen.confidence import NullModel, bh_adjust, library_confidence
from difffit.screen.library import LibraryEntry, candidate_seed, find_library
from difffit.screen.report import write_screen_report
from difffit.screen.store import ScreenStore
from difffit.screen.task import CandidateRecord
from difffit.screen.workflow import RankedCandidate, ScreenConfig, ScreenResult, screen

__all__ = [
    "CandidateRecord",
    "LibraryEntry",
    "NullModel",
    "RankedCandidate",
    "ScreenConfig",
    "ScreenResult",
    "ScreenStore",
    "bh_adjust",
    "candidate_seed",
    "find_library",
    "library_confidence",
    "screen",
    "write_screen_report",
]
