"""File formats: the only place difffit reads and writes maps and structures."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from difffit.io.maps import read_map, write_map
    from difffit.io.structures import read_structure, write_structure

__all__ = ["read_map", "read_structure", "write_map", "write_structure"]

# Imported on first use, so that the light modules (difffit.io.fetch, difffit.io.atomic) do
# not load numpy and gemmi.
_LAZY = {
    "read_map": "difffit.io.maps",
    "write_map": "difffit.io.maps",
    "read_structure": "difffit.io.structures",
    "write_structure": "difffit.io.structures",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'difffit.io' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
