"""Map preparation for the search (DiffFit paper §4.1).

1. **Level.** The user's contour level, or automatically Otsu's threshold of the histogram of all
   voxels (the level that best separates the voxel values into two classes; on the real maps of
   ``../shared/data`` it keeps 55-80 % of a deposited model's atoms inside, close to the level an
   expert picks, e.g. 0.94 for the DomainFit demo where ChimeraX users pick 1.0).
2. **Footprint.** Voxels at or above the level; 26-connected islands with fewer than
   ``min_island_voxels`` voxels are removed.
3. **Normalisation.** Inside the footprint ``(v - level) / (v99.9 - level)`` clipped to [0, 1]
   (v99.9 = 99.9th percentile of footprint values, so that a few hot voxels do not squash the
   rest); 0 outside. Continuous at the contour.
4. **Smoothed copies.** Copy 0 is the normalised map; copy k is one Gaussian pass (σ =
   ``smooth_sigma_voxels``, truncated at ``smooth_kernel_size``) over copy k-1, so copy k is
   smoothed with σ·√k. In each copy the voxels outside its own support (value below 1e-3) are set
   to ``negative_value``.
5. **Target.** Trilinear interpolation is linear in the volume, so the weighted sum of the values
   sampled from the copies equals the value sampled from their weighted sum: the search samples the
   single volume ``Σ w_k copy_k / Σ w_k`` (one lookup instead of n + 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from difffit.config import PrepConfig
from difffit.density.map import DensityMap
from difffit.errors import ConfigError

__all__ = ["PreparedMap", "auto_level", "background_value", "prepare_map", "remove_islands"]

_SUPPORT_EPS = 1e-3


#: At most this many voxels (evenly strided) give the background (the median).
_BACKGROUND_SAMPLE = 1 << 21


def background_value(density: DensityMap) -> float:
    """The map's background: the median voxel value (of at most 2²¹ voxels, evenly strided).

    Most of a cryo-EM box is solvent, so the median is the solvent's value: exactly 0 for the
    masked and zero-mean maps of ``../shared/data`` (where it changes nothing), and ``c`` more
    for the same map plus a constant ``c``. Scores are measured relative to it
    (:func:`difffit.fitting.quality.quality_metrics`), so a constant offset changes no score.
    """
    d = density.data.ravel()
    step = max(1, -(-d.size // _BACKGROUND_SAMPLE))
    return float(np.median(d[::step]))


def auto_level(density: DensityMap, *, bins: int = 256, background: float | None = None) -> float:
    """Otsu's threshold of the voxel-value histogram (the automatic contour level).

    The histogram is taken of the values relative to the background (:func:`background_value`,
    or ``background`` when given) in float64 when it is not 0, so that a map with a large
    constant offset gets the same level plus the offset (float32 values near 1e4 have too few
    distinct bin edges for numpy's histogram).
    """
    b = background_value(density) if background is None else float(background)
    d = density.data.ravel()
    if b != 0.0:
        d = d.astype(np.float64) - b
    lo, hi = float(d.min()), float(d.max())
    if hi <= lo:
        raise ConfigError("the map is constant: no automatic level exists; give --level")
    try:
        hist, edges = np.histogram(d, bins=bins, range=(lo, hi))
        centres = 0.5 * (edges[:-1] + edges[1:])
    except ValueError:
        # a large constant offset (1e6 + small values): the range is too narrow for float32
        # bins at that magnitude; bin relative to the minimum, in float64
        d64 = d.astype(np.float64) - lo
        hist, edges = np.histogram(d64, bins=bins, range=(0.0, hi - lo))
        centres = lo + 0.5 * (edges[:-1] + edges[1:])
    w0 = np.cumsum(hist).astype(np.float64)
    w1 = w0[-1] - w0
    s0 = np.cumsum(hist * centres)
    m0 = s0 / np.maximum(w0, 1)
    m1 = (s0[-1] - s0) / np.maximum(w1, 1)
    between = w0 * w1 * (m0 - m1) ** 2
    return float(centres[int(np.argmax(between))]) + b


def remove_islands(mask_zyx: np.ndarray, min_voxels: int) -> tuple[np.ndarray, int, int]:
    """Drop 26-connected components with fewer than ``min_voxels`` voxels.

    Returns the new mask, the number of islands removed and the voxels removed.
    """
    out = mask_zyx.copy()
    if min_voxels <= 1 or not out.any():
        return out, 0, 0
    idx = np.nonzero(out)  # label only within the bounding box of the mask
    box = tuple(slice(int(i.min()), int(i.max()) + 1) for i in idx)
    labels, n = ndimage.label(out[box], structure=np.ones((3, 3, 3), dtype=bool))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    small = sizes < min_voxels
    small[0] = False
    removed = small[labels]
    out[box] &= ~removed
    return out, int(small.sum()), int(removed.sum())


@dataclass(frozen=True, eq=False)
class PreparedMap:
    """A map ready for the search.

    Attributes
    ----------
    source : DensityMap
        The map as read.
    level : float
        Contour level used (map units).
    level_rule : str
        ``"given"`` or a description of the automatic rule.
    footprint : (nz, ny, nx) bool array
        Voxels at or above the level, small islands removed.
    normalised : DensityMap
        Values in [0, 1] inside the footprint, 0 outside.
    target : DensityMap
        The weighted sum of smoothed copies, negative outside; what the search samples. Its
        box is the footprint's bounding box grown by the reach of the smoothing (outside it
        every value would be ``negative_value``, which the search uses beyond the box).
    n_islands_removed, n_voxels_removed : int
    config : PrepConfig
    background : float
        The map's background (:func:`background_value`, map units): scores are relative to it.
    """

    source: DensityMap
    level: float
    level_rule: str
    footprint: np.ndarray
    normalised: DensityMap
    target: DensityMap
    n_islands_removed: int
    n_voxels_removed: int
    config: PrepConfig
    background: float = 0.0

    @property
    def footprint_volume(self) -> float:
        """Volume (Å³) of the footprint."""
        return float(self.footprint.sum()) * self.source.voxel_volume

    def summary(self) -> dict[str, float | int | str]:
        return {
            "level": self.level,
            "level_rule": self.level_rule,
            "footprint_voxels": int(self.footprint.sum()),
            "footprint_volume_A3": round(self.footprint_volume, 1),
            "islands_removed": self.n_islands_removed,
            "island_voxels_removed": self.n_voxels_removed,
        }


def smoothed_copies(normalised: np.ndarray, config: PrepConfig) -> list[np.ndarray]:
    """Copy 0 and ``n_smooth`` increasingly smoothed copies, each negative outside its support."""
    radius = config.smooth_kernel_size // 2
    truncate = radius / config.smooth_sigma_voxels
    copies = []
    current = normalised.astype(np.float32)
    for k in range(config.n_smooth + 1):
        if k > 0:
            if radius > 0:
                current = ndimage.gaussian_filter(
                    current,
                    config.smooth_sigma_voxels,
                    mode="constant",
                    cval=0.0,
                    truncate=truncate,
                ).astype(np.float32)
        c = current.copy()
        c[c < _SUPPORT_EPS] = config.negative_value
        copies.append(c)
    return copies


def prepare_map(density: DensityMap, config: PrepConfig | None = None) -> PreparedMap:
    """Threshold, remove islands, normalise and smooth ``density`` for the search."""
    config = config or PrepConfig()
    data = density.data
    dmax = float(data.max())
    background = background_value(density)
    if config.level is None:
        level = auto_level(density, background=background)
        rule = "automatic: Otsu threshold of the voxel histogram"
    else:
        level = float(config.level)
        rule = "given"
        if level >= dmax:
            raise ConfigError(
                f"level {level:g} is at or above the map maximum {dmax:g}: nothing would be inside "
                f"the contour (map range {float(data.min()):g} .. {dmax:g})"
            )
    footprint = data >= level
    footprint, n_isl, n_vox = remove_islands(footprint, config.min_island_voxels)
    if not footprint.any():
        raise ConfigError(
            f"no density left at level {level:g} after removing islands smaller than "
            f"{config.min_island_voxels} voxels: lower --level or --min-island"
        )
    vals = data[footprint]
    top = float(np.percentile(vals, 99.9))
    scale = top - level if top > level else max(float(vals.max()) - level, 1e-12)
    norm = np.zeros_like(data, dtype=np.float32)
    norm[footprint] = np.clip((vals - level) / scale, 0.0, 1.0)
    # keep every footprint voxel strictly inside the support of copy 0
    norm[footprint] = np.maximum(norm[footprint], 2 * _SUPPORT_EPS)
    # The copies are computed on the footprint's bounding box grown by the reach of the
    # smoothing: beyond it every copy is negative_value, exactly what the search samples outside
    # the target's box, so the crop changes no value the search sees.
    reach = config.n_smooth * (config.smooth_kernel_size // 2) + 2
    idx = np.nonzero(footprint)
    lo = [max(int(i.min()) - reach, 0) for i in idx]
    hi = [min(int(i.max()) + reach + 1, n) for i, n in zip(idx, data.shape, strict=True)]
    crop = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    copies = smoothed_copies(norm[crop], config)
    w = np.asarray(config.weights, dtype=np.float64)
    target = np.zeros(copies[0].shape, dtype=np.float64)
    for wk, ck in zip(w, copies, strict=True):
        if wk:
            target += wk * ck
    target /= w.sum()
    origin = density.grid_to_world(np.array([lo[2], lo[1], lo[0]], dtype=np.float64))
    if min(target.shape) < 2:
        short: tuple[int, ...] = target.shape
        target = np.pad(
            target,
            [(0, max(0, 2 - n)) for n in short],
            constant_values=config.negative_value,
        )
    return PreparedMap(
        source=density,
        level=level,
        level_rule=rule,
        footprint=footprint,
        normalised=density.with_data(norm),
        target=DensityMap(target.astype(np.float32), density.voxel_size_xyz, origin),
        n_islands_removed=n_isl,
        n_voxels_removed=n_vox,
        config=config,
        background=background,
    )
