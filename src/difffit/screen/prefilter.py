"""Cheap size checks that leave out candidates before their fit (pure compute).

Two checks, both from the candidate's heavy-atom count ``n`` and its volume ``V = 18 Å³ × n``
(protein at 1.35 g/cm³, hydrogens included; :data:`difffit.structure.ATOM_VOLUME`):

* **The map box** (always on): a candidate whose volume exceeds the whole map box cannot be
  placed in it; :func:`difffit.fit` refuses it too. Such candidates are ``skipped``.
* **The density's volume** (the pre-filter; ``prefilter=False`` turns it off): a candidate with
  ``V > max_volume_ratio × footprint volume`` is ``filtered``. The footprint is the density at
  the contour level the search uses. Why this cannot lose a true hit at the default ratio 10:
  the densest packing of heavy atoms inside a contour seen on the real maps is about one atom per
  12.5 Å³ (the two true hits of the DomainFit demo put 61 % of their atoms, ~1,025, in a
  12,800 Å³ footprint), so at most ``footprint / 12.5`` atoms of any candidate can lie inside the
  contour; above ratio 10 that is at most ``18 / (10 × 12.5) = 14 %`` of the candidate's atoms —
  a candidate that leaves 86 % of itself outside the density is not an identification, while
  true hits have 55-80 % inside. The two true hits have a ratio of 2.4, AlphaFold domains that
  stick out of a segmented density rarely exceed 4.
"""

from __future__ import annotations

from dataclasses import dataclass

from difffit.config import DEFAULT_MAX_VOLUME_RATIO
from difffit.errors import ConfigError
from difffit.structure import ATOM_VOLUME

__all__ = ["ATOM_VOLUME", "DEFAULT_MAX_VOLUME_RATIO", "SizeCheck", "size_check"]


@dataclass(frozen=True)
class SizeCheck:
    """The outcome of :func:`size_check`: ``status`` is ``"ok"``, ``"skipped"`` or ``"filtered"``."""

    status: str
    volume_ratio: float
    reason: str = ""


def size_check(
    n_atoms: int,
    *,
    footprint_volume: float,
    box_volume: float,
    max_volume_ratio: float | None = DEFAULT_MAX_VOLUME_RATIO,
) -> SizeCheck:
    """Whether a candidate of ``n_atoms`` heavy atoms is worth fitting.

    Parameters
    ----------
    n_atoms
        Heavy atoms of the candidate.
    footprint_volume
        Volume (Å³) of the density at the contour level.
    box_volume
        Volume (Å³) of the whole map box.
    max_volume_ratio
        Candidates with a volume above this multiple of the footprint volume are filtered; None
        turns the pre-filter off (the box check stays).
    """
    if footprint_volume <= 0 or box_volume <= 0:
        raise ConfigError("the density's footprint and box volumes must be > 0")
    if max_volume_ratio is not None and not max_volume_ratio > 0:
        raise ConfigError(f"max_volume_ratio must be > 0, got {max_volume_ratio!r}")
    volume = ATOM_VOLUME * n_atoms
    ratio = volume / footprint_volume
    if volume > box_volume:
        return SizeCheck(
            "skipped",
            ratio,
            f"too large for the map box: ~{volume:.0f} Å³ ({n_atoms} heavy atoms) > box {box_volume:.0f} Å³",
        )
    if max_volume_ratio is not None and ratio > max_volume_ratio:
        return SizeCheck(
            "filtered",
            ratio,
            f"pre-filter: volume ~{volume:.0f} Å³ is {ratio:.1f} x the density's "
            f"{footprint_volume:.0f} Å³ (limit {max_volume_ratio:g} x)",
        )
    return SizeCheck("ok", ratio)
