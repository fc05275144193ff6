"""Zeroing the density explained by placed structures (compositing, DiffFit paper Scenario 2).

After a structure is accepted at a pose, the density it explains is removed from the map so that
the next round of fitting finds the other subunits. The explained density is judged from a map
simulated from the placed atoms **on the grid of the map** (:func:`difffit.simulate_on_grid`,
values normalised to a maximum of 1). Several rules are offered (``RULES``):

``"plain"``
    Every voxel inside the simulated envelope (simulated value ``s >= envelope``, a fraction of
    the simulated maximum) is set to ``fill``. What the original DiffFit plugin did by hand in
    ChimeraX; it also removes the density of neighbouring subunits where the envelopes overlap.
``"shrunk"``
    As ``"plain"``, but the envelope is eroded by ``erode_voxels`` voxels first (a shrunken
    mask): spares the rim shared with neighbours, leaves a thin rim of the placed subunit.
``"dominant"`` (default)
    The placed structure's core (``s >= core``, voxels within about an atom radius of its
    atoms, which no other subunit can occupy without clashing) is set to ``fill``; in the rim
    around it (``envelope <= s < core``), where the envelopes of neighbours overlap, a voxel is
    set to ``fill`` only where the placed structure explains most of the density found there:
    ``k·s >= dominance · m``, with ``m`` the map value and ``k`` the scale that takes simulated
    to map units (the median of ``m / s`` over the core, ``s >= 0.5``; give ``scale`` to fix
    it). A rim voxel with much more density than the placed structure predicts belongs mostly
    to something else (a neighbour) and is kept.
``"subtract"``
    The scaled simulated density is subtracted, ``m - k·s`` inside the envelope, but never
    below ``fill`` (nor below the original value): what the placed structure does not explain
    stays.

Simulated values are taken relative to the simulated map's typical peak (the 99th percentile
of its positive values, :func:`peak_value`), so that a few heavy atoms (a haem iron) do not
shrink the envelope. Voxels at or below ``fill`` are never changed.

``docs/composite.md`` compares the rules on real maps (density of neighbours lost, chains
recovered in compositing). Every rule returns a new map; the input is never changed, and
``ZeroResult.removed`` holds what was taken away, so that ``restore_density`` undoes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from difffit import validate
from difffit.config import DEFAULT_RULE, RULES, ZERO_DEFAULTS
from difffit.density.map import DensityMap
from difffit.errors import ConfigError

__all__ = ["DEFAULT_RULE", "RULES", "ZeroResult", "restore_density", "zero_density"]


#: Simulated values at or above this fraction of the maximum are the structure's core, where the
#: map-to-simulation scale is estimated.
CORE_FRACTION = 0.5


@dataclass(frozen=True, eq=False)
class ZeroResult:
    """A map with the density of placed structures removed.

    Attributes
    ----------
    map : DensityMap
        The new map (the input map is untouched).
    removed : DensityMap
        ``input - map``: what was taken away (>= 0 where the input was above ``fill``);
        :func:`restore_density` adds it back.
    mask : (nz, ny, nx) bool array
        Voxels whose value changed.
    rule : str
        The rule used (one of ``RULES``).
    n_voxels_zeroed : int
        Voxels whose value changed (set to ``fill``, or lowered by ``"subtract"``).
    n_voxels_envelope : int
        Voxels inside the simulated envelope (``s >= envelope``).
    n_voxels_spared : int
        Voxels inside the envelope above ``fill`` that kept their value.
    scale : float
        Map units per unit of simulated density (``k``; NaN for rules that do not use it).
    density_removed : float
        Sum over voxels of the removed density (map units × voxels).
    options : dict
        The rule's options (envelope, fill, dominance, erode_voxels).
    """

    map: DensityMap
    removed: DensityMap
    mask: np.ndarray
    rule: str
    n_voxels_zeroed: int
    n_voxels_envelope: int
    n_voxels_spared: int
    scale: float
    density_removed: float
    options: dict

    @property
    def volume_zeroed(self) -> float:
        """Volume (Å³) of the voxels that changed."""
        return self.n_voxels_zeroed * self.map.voxel_volume

    def summary(self) -> dict[str, float | int | str]:
        """The statistics as a flat dict (for logs and manifests)."""
        return {
            "rule": self.rule,
            "n_voxels_zeroed": self.n_voxels_zeroed,
            "n_voxels_envelope": self.n_voxels_envelope,
            "n_voxels_spared": self.n_voxels_spared,
            "scale": self.scale,
            "density_removed": self.density_removed,
            **self.options,
        }


def peak_value(simulated: np.ndarray) -> float:
    """The typical peak of a simulated map: the 99th percentile of its positive values.

    Robust to a few heavy atoms (a haem iron is 4 x a carbon), unlike the maximum.
    """
    pos = simulated[simulated > 0]
    if pos.size == 0:
        return 0.0
    return float(np.percentile(pos, 99.0))


def core_scale(density: DensityMap, simulated: DensityMap) -> float:
    """Map units per unit of simulated density over the structure's core (median of m / s).

    Taken over voxels with ``s >= CORE_FRACTION`` (of the simulated maximum); NaN when there
    are none.
    """
    s = simulated.data
    ref = peak_value(s)
    if ref <= 0:
        return math.nan
    core = s >= CORE_FRACTION * ref
    if not core.any():
        return math.nan
    return float(np.median(density.data[core] / s[core]))


def zero_density(
    density: DensityMap,
    simulated: DensityMap,
    *,
    rule: str = DEFAULT_RULE,
    envelope: float = ZERO_DEFAULTS["envelope"],
    core: float = ZERO_DEFAULTS["core"],
    dominance: float = ZERO_DEFAULTS["dominance"],
    erode_voxels: int = int(ZERO_DEFAULTS["erode_voxels"]),
    fill: float = ZERO_DEFAULTS["fill"],
    scale: float | None = None,
) -> ZeroResult:
    """Remove from ``density`` the density that ``simulated`` explains.

    Parameters
    ----------
    density : DensityMap
        The map (not modified).
    simulated : DensityMap
        Density simulated from the placed structure(s) on the same grid as ``density``
        (:func:`difffit.simulate_on_grid`); only its relative values matter.
    rule : str
        ``"dominant"`` (default), ``"plain"``, ``"shrunk"`` or ``"subtract"`` (module doc).
    envelope : float
        Fraction (0, 1] of the simulated peak that bounds the placed structure's envelope.
    core : float
        ``"dominant"``: fraction of the simulated peak above which voxels are zeroed
        unconditionally (>= ``envelope``).
    dominance : float
        ``"dominant"``: in the rim, zero a voxel where the scaled simulated density is at least
        this fraction of the map value (> 0; 0.5 = it explains at least half of it).
    erode_voxels : int
        ``"shrunk"``: voxels to erode the envelope by (>= 0).
    fill : float
        The value given to removed voxels, in map units (0 by default: "zeroing").
    scale : float or None
        Map units per simulated unit (``k``); None = estimated (:func:`core_scale`).

    Returns
    -------
    ZeroResult

    Raises
    ------
    ConfigError
        Unknown rule, bad option, or ``simulated`` on another grid.
    """
    if rule not in RULES:
        raise ConfigError(f"zeroing rule must be one of {', '.join(RULES)}, got {rule!r}")
    if not isinstance(density, DensityMap) or not isinstance(simulated, DensityMap):
        raise ConfigError("density and simulated must be DensityMap objects")
    if not density.same_grid(simulated):
        raise ConfigError(
            f"the simulated map is on another grid ({simulated!r}) than the map ({density!r}); "
            "simulate it with difffit.simulate_on_grid(xyz, weights, resolution, density)"
        )
    envelope = validate.in_range("envelope", envelope, 0.0, 1.0, low_open=True)
    core = validate.in_range("core", core, envelope)
    dominance = validate.positive("dominance", dominance)
    if (
        not isinstance(erode_voxels, (int, np.integer))
        or isinstance(erode_voxels, bool)
        or erode_voxels < 0
    ):
        raise ConfigError(f"erode_voxels must be an integer >= 0, got {erode_voxels!r}")
    fill = validate.finite("fill", fill)
    if scale is not None:
        scale = validate.positive("scale", scale)

    m = density.data
    s = simulated.data.astype(np.float32)
    ref = peak_value(s)
    options: dict[str, Any] = {"envelope": envelope, "fill": fill}
    if ref <= 0:  # nothing placed on this grid
        env = np.zeros(m.shape, dtype=bool)
    else:
        s = s / ref
        env = s >= envelope
    k = math.nan
    new = m.copy()
    positive = m > fill
    if rule == "plain":
        mask = env & positive
        new[mask] = fill
    elif rule == "shrunk":
        options["erode_voxels"] = int(erode_voxels)
        inner = env
        if erode_voxels > 0 and env.any():
            cross = ndimage.generate_binary_structure(3, 1)
            inner = ndimage.binary_erosion(env, structure=cross, iterations=int(erode_voxels))
        mask = inner & positive
        new[mask] = fill
    else:
        k = scale if scale is not None else core_scale(density, simulated.with_data(s))
        options["scale_rule"] = (
            "given" if scale is not None else "median map/simulated over the core"
        )
        # no positive density under the structure's core: nothing to explain beyond the core
        k_ok = math.isfinite(k) and k > 0
        if rule == "dominant":
            options["core"] = core
            options["dominance"] = dominance
            explained = (k * s >= dominance * (m - fill)) if k_ok else np.zeros(m.shape, dtype=bool)
            mask = env & positive & ((s >= core) | explained)
            new[mask] = fill
        elif k_ok:  # subtract
            lowered = np.maximum(m - k * s, fill)
            mask = env & positive & (lowered < m)
            new[mask] = lowered[mask]
        else:
            mask = np.zeros(m.shape, dtype=bool)
    n_env = int(env.sum())
    removed = m - new
    out = density.with_data(new)
    mask = np.array(mask, dtype=bool)
    mask.setflags(write=False)
    return ZeroResult(
        map=out,
        removed=density.with_data(removed),
        mask=mask,
        rule=rule,
        n_voxels_zeroed=int(mask.sum()),
        n_voxels_envelope=n_env,
        n_voxels_spared=int((env & positive & ~mask).sum()),
        scale=float(k),
        density_removed=float(removed.sum(dtype=np.float64)),
        options=options,
    )


def restore_density(zeroed: DensityMap, removed: DensityMap) -> DensityMap:
    """Undo :func:`zero_density`: ``zeroed + removed`` (both on the same grid)."""
    if not zeroed.same_grid(removed):
        raise ConfigError("the removed density is on another grid than the zeroed map")
    return zeroed.with_data(zeroed.data + removed.data)
