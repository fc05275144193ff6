"""Exceptions raised by difffit.

Every error difffit raises on bad input derives from :class:`DiffFitError`; the command line turns
them into one line on stderr and a non-zero exit code. Messages name the file or option at fault
and say what to do about it.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DiffFitError",
    "FetchError",
    "FitError",
    "MapFormatError",
    "ResultsError",
    "StructureError",
]


class DiffFitError(Exception):
    """Base class of every difffit error meant for the user."""


class MapFormatError(DiffFitError):
    """A density map file cannot be read or is not what its header says."""


class StructureError(DiffFitError):
    """A structure file cannot be read, or a selection leaves no atoms."""


class ConfigError(DiffFitError, ValueError):
    """An option has a bad value, or options conflict."""


class FitError(DiffFitError):
    """The search cannot run on these inputs (e.g. a map box too small for the structure)."""


class ResultsError(DiffFitError):
    """A results folder is missing, incomplete or of an unknown format version."""


class FetchError(DiffFitError):
    """An entry cannot be downloaded (offline, not found, broken off) or its file is damaged."""
