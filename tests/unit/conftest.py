"""The unit layer: pure and synthetic tests (no ../shared data), the whole folder in < 30 s.

Real-data, slow, browser and peer tests are refused here at collection, and the real-data
folder is out of reach while a unit test runs.

Property-based tests run under one Hypothesis profile: derandomised (the same examples on every
run and machine, like the seeded generators elsewhere), no example database written into the
checkout, no per-example deadline (a shared CI core can stall any single example).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "difffit-unit",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("difffit-unit")


# ------------------------------------------------------------------ what the layer may hold
_NOT_UNIT = {"realdata", "slow", "browser", "peers"}
_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse real-data, slow, browser and peer tests in tests/unit: they belong in tests/."""
    bad = [
        f"{item.nodeid} ({', '.join(sorted(names))})"
        for item in items
        if _HERE in Path(item.path).resolve().parents
        and (names := _NOT_UNIT & {m.name for m in item.iter_markers()})
    ]
    if bad:
        raise pytest.UsageError(
            "tests/unit holds only fast synthetic tests; move these to tests/: " + "; ".join(bad)
        )


class _NoSharedData:
    """Stands in for the real-data folder while a unit test runs: any use fails the test."""

    def _refuse(self, *args: object) -> None:
        raise AssertionError(
            "a unit test must not read ../shared/data: put it in tests/ with the realdata marker"
        )

    joinpath = exists = __truediv__ = _refuse


@pytest.fixture(autouse=True)
def _no_shared_data(monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.conftest

    monkeypatch.setattr(tests.conftest, "DATA", _NoSharedData())
