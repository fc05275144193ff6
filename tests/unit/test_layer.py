"""The unit layer's own rules (tests/unit/conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import data_path
from tests.unit import conftest as unit_conftest


def test_real_data_is_out_of_reach():
    with pytest.raises(AssertionError, match="realdata marker"):
        data_path("ccpem_emd21457_spike_ntd", "emd_21457_seg.mrc")


@dataclass
class _Item:
    nodeid: str
    path: Path
    markers: tuple[str, ...]

    def iter_markers(self):
        return iter([getattr(pytest.mark, name).mark for name in self.markers])


@pytest.mark.parametrize("marker", ["realdata", "slow", "browser", "peers"])
def test_slow_or_real_data_tests_are_refused_here_not_elsewhere(marker):
    here = Path(unit_conftest.__file__).resolve().parent
    ok = [
        _Item("tests/unit/test_a.py::ok", here / "test_a.py", ("parametrize",)),
        _Item("tests/test_b.py::real", here.parent / "test_b.py", (marker,)),
    ]
    unit_conftest.pytest_collection_modifyitems(None, ok)  # type: ignore[arg-type]
    bad = [*ok, _Item("tests/unit/test_c.py::x", here / "test_c.py", (marker,))]
    with pytest.raises(pytest.UsageError, match=rf"test_c\.py::x \({marker}\)"):
        unit_conftest.pytest_collection_modifyitems(None, bad)  # type: ignore[arg-type]
