"""Density maps as values, and the compute done on them (no file I/O here)."""

from difffit.density.map import DensityMap

__all__ = ["DensityMap"]
