"""difffit: fit atomic structures into cryo-EM density maps.

The public API::

    import difffit
    density = difffit.read_map("emd_3488.mrc")
    chain_a = difffit.read_structure("5me2.pdb", chains=["A"])
    result = difffit.fit(density, chain_a, config=difffit.FitConfig(), seed=1)
    print(result.summary_table())
    difffit.save_results(result, "out", structures=[chain_a], map_path="emd_3488.mrc")
"""

from difffit._version import __version__
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
