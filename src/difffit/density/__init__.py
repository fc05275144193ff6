"""Density maps as values, and the compute done on them (no file I/O here)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from difffit.density.map import DensityMap

__all__ = ["DensityMap"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that importing a light submodule does not load numpy.
    if name != "DensityMap":
        raise AttributeError(f"module 'difffit.density' has no attribute {name!r}")
    value = importlib.import_module("difffit.density.map").DensityMap
    globals()[name] = value
    return value
