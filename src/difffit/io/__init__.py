"""File formats: the only place difffit reads and writes maps and structures."""

from difffit.io.maps import read_map, write_map
from difffit.io.structures import read_structure, write_structure

__all__ = ["read_map", "read_structure", "write_map", "write_structure"]
