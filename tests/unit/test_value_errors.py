"""The value objects refuse bad values with difffit errors (one line), never a bare ValueError."""

from __future__ import annotations

import numpy as np
import pytest

from difffit import DensityMap, Structure
from difffit.errors import ConfigError, DiffFitError, StructureError


@pytest.mark.parametrize(
    ("kw", "word"),
    [
        ({"data": np.zeros((4, 4))}, "3-D"),
        ({"data": np.zeros((1, 4, 4))}, "at least 2 voxels"),
        ({"data": [["a"]]}, "array of numbers"),
        ({"voxel_size_xyz": 0.0}, "voxel sizes"),
        ({"voxel_size_xyz": (1.0, np.nan, 1.0)}, "voxel sizes"),
        ({"voxel_size_xyz": (1.0, 1.0)}, "voxel_size_xyz"),
        ({"origin_xyz": (0.0, np.inf, 0.0)}, "origin"),
        ({"origin_xyz": (0.0, 0.0)}, "origin_xyz"),
    ],
)
def test_bad_density_map_raises_config_error(kw, word):
    args = {"data": np.zeros((3, 4, 5)), "voxel_size_xyz": 1.0, "origin_xyz": (0.0, 0.0, 0.0)}
    with pytest.raises(ConfigError, match=word) as e:
        DensityMap(**{**args, **kw})
    assert "\n" not in str(e.value)


def test_density_map_with_data_of_another_shape():
    m = DensityMap(np.zeros((3, 4, 5)), 1.0)
    with pytest.raises(ConfigError, match="shape"):
        m.with_data(np.zeros((5, 4, 3)))


def _arrays(n: int) -> dict:
    return {
        "coords_xyz": np.zeros((n, 3)),
        "elements": np.array(["C"] * n),
        "atomic_numbers": np.full(n, 6),
        "atom_names": np.array(["CA"] * n),
        "residue_names": np.array(["ALA"] * n),
        "chain_ids": np.array(["A"] * n),
        "residue_numbers": np.arange(n),
        "insertion_codes": np.array([""] * n),
    }


@pytest.mark.parametrize(
    ("change", "word"),
    [
        ({"elements": np.array(["C"])}, "elements has 1 entries for 3 atoms"),
        ({"coords_xyz": np.zeros((3, 2))}, r"\(n, 3\)"),
        ({"coords_xyz": np.array([[0.0, np.nan, 0.0]] * 3)}, "not finite"),
        ({"coords_xyz": [["x", "y", "z"]] * 3}, "numbers"),
    ],
)
def test_bad_structure_raises_structure_error(change, word):
    with pytest.raises(StructureError, match=word) as e:
        Structure(name="s", **{**_arrays(3), **change})
    assert "\n" not in str(e.value)
    assert isinstance(e.value, DiffFitError) and not isinstance(e.value, ValueError)


def test_empty_structure_says_no_heavy_atoms():
    with pytest.raises(StructureError, match="no heavy atoms"):
        Structure(name="s", **{**_arrays(0), "coords_xyz": []})
