"""The unit layer: pure and synthetic tests (no ../shared data), the whole folder in < 30 s.

Property-based tests run under one Hypothesis profile: derandomised (the same examples on every
run and machine, like the seeded generators elsewhere), no example database written into the
checkout, no per-example deadline (a shared CI core can stall any single example).
"""

from __future__ import annotations

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
