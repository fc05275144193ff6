"""difffit: fit atomic structures into cryo-EM density maps.

The public API::

    import difffit
    density = difffit.read_map("emd_3488.mrc")
    chain_a = difffit.read_structure("5me2.pdb", chains=["A"])
    result = difffit.fit(density, chain_a, config=difffit.FitConfig(), seed=1)
    print(result.summary_table())
    difffit.save_results(result, "out", structures=[chain_a], map_path="emd_3488.mrc")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from difffit._version import __version__

# The names below are imported on first use (PEP 562), so that ``import difffit.cli`` (and
# ``difffit --help``) does not load numpy, numba, torch or gemmi.
_LAZY = {
    "ClusterConfig": "difffit.config",
    "ClusterHit": "difffit.results",
    "CompositeConfig": "difffit.composite.types",
    "ConfigError": "difffit.errors",
    "DensityMap": "difffit.density.map",
    "DiffFitError": "difffit.errors",
    "FitConfig": "difffit.config",
    "FitError": "difffit.errors",
    "FitResult": "difffit.results",
    "MapFormatError": "difffit.errors",
    "PrepConfig": "difffit.config",
    "PreparedMap": "difffit.density.prepare",
    "Progress": "difffit.progress",
    "QualityConfig": "difffit.config",
    "RefineConfig": "difffit.config",
    "ResultsError": "difffit.errors",
    "RigidTransform": "difffit.geometry",
    "SearchConfig": "difffit.config",
    "Structure": "difffit.structure",
    "StructureError": "difffit.errors",
    "ZeroResult": "difffit.density.zero",
    "cluster_poses": "difffit.clustering",
    "fit": "difffit.search",
    "prepare_map": "difffit.density.prepare",
    "read_map": "difffit.io.maps",
    "read_structure": "difffit.io.structures",
    "restore_density": "difffit.density.zero",
    "save_results": "difffit.io.results",
    "simulate_map": "difffit.density.simulate",
    "simulate_on_grid": "difffit.density.simulate",
    "write_map": "difffit.io.maps",
    "write_structure": "difffit.io.structures",
    "zero_density": "difffit.density.zero",
    "zero_fit": "difffit.density.placed",
}

if TYPE_CHECKING:
    from difffit.clustering import cluster_poses
    from difffit.composite.types import CompositeConfig
    from difffit.config import (
        ClusterConfig,
        FitConfig,
        PrepConfig,
        QualityConfig,
        RefineConfig,
        SearchConfig,
    )
    from difffit.density.map import DensityMap
    from difffit.density.placed import zero_fit
    from difffit.density.prepare import PreparedMap, prepare_map
    from difffit.density.simulate import simulate_map, simulate_on_grid
    from difffit.density.zero import ZeroResult, restore_density, zero_density
    from difffit.errors import (
        ConfigError,
        DiffFitError,
        FitError,
        MapFormatError,
        ResultsError,
        StructureError,
    )
    from difffit.geometry import RigidTransform
    from difffit.io.maps import read_map, write_map
    from difffit.io.results import save_results
    from difffit.io.structures import read_structure, write_structure
    from difffit.progress import Progress
    from difffit.results import ClusterHit, FitResult
    from difffit.search import fit
    from difffit.structure import Structure


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'difffit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "ClusterConfig",
    "ClusterHit",
    "CompositeConfig",
    "ConfigError",
    "DensityMap",
    "DiffFitError",
    "FitConfig",
    "FitError",
    "FitResult",
    "MapFormatError",
    "PrepConfig",
    "PreparedMap",
    "Progress",
    "QualityConfig",
    "RefineConfig",
    "ResultsError",
    "RigidTransform",
    "SearchConfig",
    "Structure",
    "StructureError",
    "ZeroResult",
    "__version__",
    "cluster_poses",
    "fit",
    "prepare_map",
    "read_map",
    "read_structure",
    "restore_density",
    "save_results",
    "simulate_map",
    "simulate_on_grid",
    "write_map",
    "write_structure",
    "zero_density",
    "zero_fit",
]
