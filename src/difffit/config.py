"""Options of every difffit step, as frozen dataclasses validated once at construction.

Every option that is accepted does something; a bad value raises :class:`~difffit.errors.ConfigError`
naming the option. Lengths are in Å, angles in degrees, counts are ``n_*``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from difffit.errors import ConfigError

__all__ = [
    "ClusterConfig",
    "FitConfig",
    "PrepConfig",
    "QualityConfig",
    "RefineConfig",
    "SearchConfig",
]

SORT_METRICS = ("correlation", "cam", "overlap", "density", "inside", "hits", "score")


def _positive(name: str, value: float, *, allow_zero: bool = False) -> None:
    ok = (value >= 0) if allow_zero else (value > 0)
    if (
        not isinstance(value, (int, float))
        or isinstance(value, bool)
        or not math.isfinite(value)
        or not ok
    ):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{name} must be a finite number {bound}, got {value!r}")


def _int(name: str, value: int, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")


class _Config:
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"unknown {cls.__name__} options: {', '.join(sorted(unknown))}")
        kw = {}
        for f in fields(cls):  # type: ignore[arg-type]
            if f.name in d:
                v = d[f.name]
                kw[f.name] = tuple(v) if isinstance(v, list) else v
        return cls(**kw)

    def replace(self, **changes: Any):
        return replace(self, **changes)  # type: ignore[type-var]


@dataclass(frozen=True, kw_only=True)
class PrepConfig(_Config):
    """Map preparation (paper §4.1).

    Attributes
    ----------
    level : float or None
        Contour level in the map's units; None = automatic (Otsu's threshold of the voxel
        histogram, reported to the user).
    min_island_voxels : int
        Connected pieces of the footprint (26-connected) smaller than this are removed.
    n_smooth : int
        Number of increasingly smoothed copies (each one Gaussian pass over the previous).
    smooth_sigma_voxels : float
        Standard deviation of each Gaussian pass, in voxels.
    smooth_kernel_size : int
        Odd width of the Gaussian kernel, in voxels (the filter is truncated there).
    smooth_weights : tuple of float or None
        Weight of the sharp copy followed by one weight per smoothed copy (n_smooth + 1 values);
        None = all 1.
    negative_value : float
        Value given to voxels outside each copy's footprint (and beyond the box), <= 0.
    """

    level: float | None = None
    min_island_voxels: int = 20
    n_smooth: int = 10
    smooth_sigma_voxels: float = 1.0
    smooth_kernel_size: int = 5
    smooth_weights: tuple[float, ...] | None = None
    negative_value: float = -0.5

    def __post_init__(self) -> None:
        if self.level is not None and (
            not isinstance(self.level, (int, float)) or not math.isfinite(self.level)
        ):
            raise ConfigError(f"level must be a finite number or None, got {self.level!r}")
        _int("min_island_voxels", self.min_island_voxels, 0)
        _int("n_smooth", self.n_smooth, 0)
        _positive("smooth_sigma_voxels", self.smooth_sigma_voxels)
        _int("smooth_kernel_size", self.smooth_kernel_size, 1)
        if self.smooth_kernel_size % 2 != 1:
            raise ConfigError(f"smooth_kernel_size must be odd, got {self.smooth_kernel_size}")
        if self.smooth_weights is not None:
            w = tuple(float(x) for x in self.smooth_weights)
            if len(w) != self.n_smooth + 1:
                raise ConfigError(
                    f"smooth_weights needs n_smooth + 1 = {self.n_smooth + 1} values "
                    f"(sharp copy first), got {len(w)}"
                )
            if any(x < 0 or not math.isfinite(x) for x in w) or sum(w) <= 0:
                raise ConfigError("smooth_weights must be >= 0 with a positive sum")
            object.__setattr__(self, "smooth_weights", w)
        if not isinstance(self.negative_value, (int, float)) or not (
            math.isfinite(self.negative_value) and self.negative_value <= 0
        ):
            raise ConfigError(f"negative_value must be <= 0, got {self.negative_value!r}")

    @property
    def weights(self) -> tuple[float, ...]:
        return self.smooth_weights or (1.0,) * (self.n_smooth + 1)


@dataclass(frozen=True, kw_only=True)
class SearchConfig(_Config):
    """The global search (paper §4.2): starts × batched Adam, coarse to fine.

    The search optimises ``n_rotations × n_positions`` placements (reported, clustered and
    counted as hits). Each placement is the best of a pool of ``oversample`` candidate starts
    (``oversample`` × as many rotations, same positions), screened by ``screen_steps`` Adam steps
    with the coarse atoms; ``oversample = 1`` and ``screen_steps = 0`` give the paper's plain
    search. The placements then take ``n_steps`` steps: the first ``coarse_fraction`` of them
    with the coarse atoms (CA/P), the rest with the ``selection`` atoms for the best
    ``keep_fraction`` of placements (the others keep their coarse pose).

    Attributes
    ----------
    n_rotations, n_positions : int
        Rotations spread over SO(3) × positions spread over the footprint = placements.
    oversample : int
        Candidate starts screened per placement.
    screen_steps : int
        Adam steps of the screening of candidate starts.
    n_steps : int
        Adam steps of every placement after screening.
    lr_shift : float
        Adam learning rate of the shift, Å per step.
    lr_rotation : float
        Adam learning rate of the quaternion components (≈ radians / 2 per step).
    selection : str
        Atoms of the fine phase: "all" heavy atoms, "backbone" or "ca".
    coarse_fraction : float
        Fraction of ``n_steps`` done with the coarse atoms.
    keep_fraction : float
        Fraction of placements that go on to the fine phase.
    """

    n_rotations: int = 100
    n_positions: int = 10
    oversample: int = 10
    screen_steps: int = 30
    n_steps: int = 150
    lr_shift: float = 0.5
    lr_rotation: float = 0.01
    selection: str = "all"
    coarse_fraction: float = 0.6
    keep_fraction: float = 0.1

    def __post_init__(self) -> None:
        from difffit.structure import SELECTIONS

        _int("n_rotations", self.n_rotations, 1)
        _int("n_positions", self.n_positions, 1)
        _int("oversample", self.oversample, 1)
        _int("screen_steps", self.screen_steps, 0)
        _int("n_steps", self.n_steps, 0)
        _positive("lr_shift", self.lr_shift)
        _positive("lr_rotation", self.lr_rotation)
        if self.selection not in SELECTIONS:
            raise ConfigError(
                f"selection must be one of {', '.join(SELECTIONS)}, got {self.selection!r}"
            )
        if not (0.0 <= self.coarse_fraction <= 1.0):
            raise ConfigError(f"coarse_fraction must be in [0, 1], got {self.coarse_fraction!r}")
        if not (0.0 < self.keep_fraction <= 1.0):
            raise ConfigError(f"keep_fraction must be in (0, 1], got {self.keep_fraction!r}")
        if self.oversample > 1 and self.screen_steps == 0:
            raise ConfigError("oversample > 1 needs screen_steps > 0 to choose among the starts")

    @property
    def n_placements(self) -> int:
        return self.n_rotations * self.n_positions

    @property
    def n_starts(self) -> int:
        return self.n_placements * self.oversample


@dataclass(frozen=True, kw_only=True)
class QualityConfig(_Config):
    """Fit-quality metrics against a map simulated from the structure.

    Attributes
    ----------
    resolution : float or None
        Resolution (Å) of the simulated map; None = 2 × the largest voxel size (reported).
    envelope : float
        Simulated-map points at or above this fraction of its maximum are compared.
    """

    resolution: float | None = None
    envelope: float = 0.1

    def __post_init__(self) -> None:
        if self.resolution is not None:
            _positive("resolution", self.resolution)
        if not (0.0 < self.envelope < 1.0):
            raise ConfigError(f"envelope must be in (0, 1), got {self.envelope!r}")


@dataclass(frozen=True, kw_only=True)
class ClusterConfig(_Config):
    """Clustering of final poses (paper §4.3).

    Attributes
    ----------
    shift_tolerance : float
        Å between structure centres for two fits to share a cluster.
    angle_tolerance_deg : float
        Degrees between orientations for two fits to share a cluster.
    sort_by : str
        Metric that orders fits (the cluster representative is the best by it) and clusters.
    """

    shift_tolerance: float = 3.0
    angle_tolerance_deg: float = 6.0
    sort_by: str = "correlation"

    def __post_init__(self) -> None:
        _positive("shift_tolerance", self.shift_tolerance)
        _positive("angle_tolerance_deg", self.angle_tolerance_deg)
        if self.angle_tolerance_deg > 180:
            raise ConfigError("angle_tolerance_deg must be <= 180")
        if self.sort_by not in SORT_METRICS:
            raise ConfigError(
                f"sort_by must be one of {', '.join(SORT_METRICS)}, got {self.sort_by!r}"
            )


@dataclass(frozen=True, kw_only=True)
class RefineConfig(_Config):
    """Local refinement of cluster representatives (replaces ChimeraX ``fitmap``).

    Attributes
    ----------
    n_clusters : int
        Refine the best this many clusters per structure (0 = no refinement).
    n_steps : int
        Optimiser steps.
    smooth_sigma : float
        Gaussian σ (Å) applied to the raw map for refinement (0 = none).
    """

    n_clusters: int = 10
    n_steps: int = 150
    smooth_sigma: float = 0.0

    def __post_init__(self) -> None:
        _int("n_clusters", self.n_clusters, 0)
        _int("n_steps", self.n_steps, 1)
        _positive("smooth_sigma", self.smooth_sigma, allow_zero=True)


@dataclass(frozen=True, kw_only=True)
class FitConfig(_Config):
    """All options of :func:`difffit.fit`."""

    prep: PrepConfig = field(default_factory=PrepConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    refine: RefineConfig = field(default_factory=RefineConfig)

    def __post_init__(self) -> None:
        for name, cls in (
            ("prep", PrepConfig),
            ("search", SearchConfig),
            ("quality", QualityConfig),
            ("cluster", ClusterConfig),
            ("refine", RefineConfig),
        ):
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(f"FitConfig.{name} must be a {cls.__name__}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FitConfig:
        parts = {
            "prep": PrepConfig,
            "search": SearchConfig,
            "quality": QualityConfig,
            "cluster": ClusterConfig,
            "refine": RefineConfig,
        }
        unknown = set(d) - set(parts)
        if unknown:
            raise ConfigError(f"unknown FitConfig sections: {', '.join(sorted(unknown))}")
        return cls(**{k: parts[k].from_dict(v) for k, v in d.items()})
