"""Symmetry: point groups, their operators, and their detection in a density map.

Pure compute (no file I/O): :mod:`difffit.symmetry.groups` has the groups, operators, mates
and the labelling of symmetry-equivalent fits; :mod:`difffit.symmetry.detect` finds the group of
a map by self-correlation; :mod:`difffit.symmetry.helical` the rise and twist of a filament.
"""

from difffit.symmetry.detect import (
    ACCEPT_CC,
    ACCEPT_CONTRAST,
    GroupCheck,
    OperatorScore,
    SymmetryResult,
    check_symmetry,
    detect_symmetry,
    operator_correlations,
    working_map,
)
from difffit.symmetry.groups import (
    EquivalentFits,
    PointGroup,
    axis_angle_matrix,
    frame_from_axes,
    group_operators,
    label_equivalent_fits,
    parse_group,
    standard_rotations,
    symmetry_mates,
)
from difffit.symmetry.helical import HelicalResult, detect_helical, helical_operator

__all__ = [
    "ACCEPT_CC",
    "ACCEPT_CONTRAST",
    "EquivalentFits",
    "GroupCheck",
    "HelicalResult",
    "OperatorScore",
    "PointGroup",
    "SymmetryResult",
    "axis_angle_matrix",
    "check_symmetry",
    "detect_helical",
    "detect_symmetry",
    "frame_from_axes",
    "group_operators",
    "helical_operator",
    "label_equivalent_fits",
    "operator_correlations",
    "parse_group",
    "standard_rotations",
    "symmetry_mates",
    "working_map",
]
