"""The density map value object.

Conventions (pinned by ``tests/test_map.py``):

* ``data`` is indexed ``[z, y, x]`` (C order, x fastest), float32.
* ``voxel_size_xyz`` is the spacing along x, y, z in Å (may differ per axis).
* ``origin_xyz`` is the world position (Å) of the centre of voxel ``data[0, 0, 0]``.
* World point ``p = origin_xyz + voxel_size_xyz * (i, j, k)`` for the voxel ``data[k, j, i]``;
  :meth:`DensityMap.world_to_grid` is its inverse and gives fractional ``(i, j, k)`` = (x, y, z)
  grid coordinates, in which trilinear sampling is done.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from difffit.errors import ConfigError

__all__ = ["DensityMap"]


@dataclass(frozen=True, eq=False)
class DensityMap:
    """An immutable 3-D density on a regular grid.

    Parameters
    ----------
    data : (nz, ny, nx) array
        Density values, indexed [z, y, x]; copied to a read-only float32 array.
    voxel_size_xyz : (3,) array, Å
        Grid spacing along x, y, z.
    origin_xyz : (3,) array, Å
        World position of the centre of voxel ``data[0, 0, 0]``.

    Raises
    ------
    ConfigError
        Data that is not a 3-D grid of at least 2 voxels per axis, voxel sizes that are not
        positive and finite, an origin that is not finite. (:func:`difffit.read_map` reports
        these as a :class:`~difffit.errors.MapFormatError` naming the file.)
    """

    data: np.ndarray
    voxel_size_xyz: np.ndarray
    origin_xyz: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def __post_init__(self) -> None:
        try:
            data = np.array(self.data, dtype=np.float32, order="C", copy=True)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"density data must be a 3-D array of numbers ({exc})") from None
        if data.ndim != 3:
            raise ConfigError(f"density data must be 3-D [z, y, x], got shape {data.shape}")
        if min(data.shape) < 2:
            raise ConfigError(f"density grid must be at least 2 voxels per axis, got {data.shape}")
        try:
            vs = np.array(np.broadcast_to(self.voxel_size_xyz, (3,)), dtype=np.float64)
            org = np.array(self.origin_xyz, dtype=np.float64).reshape(3)
        except (TypeError, ValueError):
            raise ConfigError(
                "voxel_size_xyz must be one number or 3 (x, y, z) and origin_xyz 3 numbers, "
                f"got {self.voxel_size_xyz!r} and {self.origin_xyz!r}"
            ) from None
        if not np.all(np.isfinite(vs)) or np.any(vs <= 0):
            raise ConfigError(f"voxel sizes must be positive and finite, got {vs.tolist()}")
        if not np.all(np.isfinite(org)):
            raise ConfigError(f"origin must be finite, got {org.tolist()}")
        for a in (data, vs, org):
            a.setflags(write=False)
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "voxel_size_xyz", vs)
        object.__setattr__(self, "origin_xyz", org)

    # ----------------------------------------------------------------- geometry
    @property
    def shape_zyx(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.data.shape)  # type: ignore[return-value]

    @property
    def shape_xyz(self) -> tuple[int, int, int]:
        nz, ny, nx = self.shape_zyx
        return nx, ny, nz

    @property
    def extent_xyz(self) -> np.ndarray:
        """Length (Å) from the first to the last voxel centre along x, y, z: (n - 1) * voxel."""
        return (np.array(self.shape_xyz) - 1) * self.voxel_size_xyz

    @property
    def voxel_volume(self) -> float:
        """Volume of one voxel in Å³."""
        return float(np.prod(self.voxel_size_xyz))

    def world_to_grid(self, xyz: np.ndarray) -> np.ndarray:
        """Fractional grid coordinates (i, j, k) = (x, y, z index) of world points (..., 3)."""
        return (np.asarray(xyz, dtype=np.float64) - self.origin_xyz) / self.voxel_size_xyz

    def grid_to_world(self, ijk: np.ndarray) -> np.ndarray:
        """World points (Å) of grid coordinates (i, j, k) (..., 3), i along x."""
        return np.asarray(ijk, dtype=np.float64) * self.voxel_size_xyz + self.origin_xyz

    def voxel_centres_xyz(self, mask_zyx: np.ndarray) -> np.ndarray:
        """World positions (n, 3) of the voxels where ``mask_zyx`` is true."""
        k, j, i = np.nonzero(mask_zyx)
        return self.grid_to_world(np.stack([i, j, k], axis=1))

    def same_grid(self, other: DensityMap, *, atol: float = 1e-4) -> bool:
        return (
            self.shape_zyx == other.shape_zyx
            and np.allclose(self.voxel_size_xyz, other.voxel_size_xyz, atol=atol)
            and np.allclose(self.origin_xyz, other.origin_xyz, atol=atol)
        )

    # ----------------------------------------------------------------- values
    def with_data(self, data: np.ndarray) -> DensityMap:
        """A new map on the same grid with other values."""
        if tuple(np.shape(data)) != self.shape_zyx:
            raise ConfigError(f"data shape {np.shape(data)} != map shape {self.shape_zyx}")
        return DensityMap(data, self.voxel_size_xyz, self.origin_xyz)

    def sample(self, xyz: np.ndarray, *, outside: float = 0.0) -> np.ndarray:
        """Trilinear density at world points (n, 3); ``outside`` beyond the box."""
        from difffit.kernels import sample_points

        return sample_points(self.data, self.world_to_grid(np.asarray(xyz).reshape(-1, 3)), outside)

    def stats(self) -> dict[str, float]:
        d = self.data
        return {
            "min": float(d.min()),
            "max": float(d.max()),
            "mean": float(d.mean()),
            "std": float(d.std()),
        }

    def __repr__(self) -> str:
        vs = ", ".join(f"{v:.4g}" for v in self.voxel_size_xyz)
        org = ", ".join(f"{v:.4g}" for v in self.origin_xyz)
        return (
            f"DensityMap(shape_zyx={self.shape_zyx}, voxel_size_xyz=({vs}) Å, origin_xyz=({org}) Å)"
        )
