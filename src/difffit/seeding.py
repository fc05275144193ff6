"""Seeds: every random choice of difffit comes from a generator made from one recorded seed."""

from __future__ import annotations

from typing import cast

import numpy as np

from difffit.errors import ConfigError

__all__ = ["make_seed"]


def make_seed(seed: int | None) -> int:
    """The seed to use: ``seed`` itself, or a fresh random one (recorded in the results)."""
    if seed is None:
        entropy = cast(int, np.random.SeedSequence().entropy)  # an int when drawn fresh
        return int(entropy % (2**31))
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)
