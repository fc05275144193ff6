"""Checks of option values: the one place where "must be an integer >= 1" is written.

Every check takes the option's name and its value, returns the value as a plain Python
``int``/``float``/``str``/``bool`` (NumPy scalars are accepted) and raises
:class:`~difffit.errors.ConfigError` with a one-line message that starts with the name::

    >>> positive("clash_distance", 0)
    Traceback (most recent call last):
    ...
    difffit.errors.ConfigError: clash_distance must be a finite number > 0, got 0

The config dataclasses (:mod:`difffit.config`) declare their bounds as *rules*
(:class:`Integer`, :class:`Number`, :class:`Choice`, :class:`Boolean`, :class:`Numbers`), small
frozen values that call these checks and that the command line reads to build its flags.
Functions that take options as keyword arguments call the checks directly.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from difffit.errors import ConfigError

__all__ = [
    "Boolean",
    "Choice",
    "Integer",
    "Number",
    "Numbers",
    "Symmetry",
    "boolean",
    "choice",
    "finite",
    "in_range",
    "integer",
    "point_group_name",
    "positive",
]


def _fail(name: str, problem: str, value: Any) -> ConfigError:
    return ConfigError(f"{name} must be {problem}, got {value!r}", option=name)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _range_text(low: float, high: float, low_open: bool, high_open: bool, allow_inf: bool) -> str:
    kind = "a number" if allow_inf else "a finite number"
    if math.isinf(low) and math.isinf(high):
        return kind
    if math.isinf(high):
        return f"{kind} {'>' if low_open else '>='} {low:g}"
    if math.isinf(low):
        return f"{kind} {'<' if high_open else '<='} {high:g}"
    return f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def in_range(
    name: str,
    value: Any,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
    allow_inf: bool = False,
) -> float:
    """A real number within ``[low, high]`` (an open end with ``low_open`` / ``high_open``).

    NaN is always refused; ±inf only with ``allow_inf`` (and then only where the bounds let it).
    """
    ok = _is_real(value)
    if ok:
        v = float(value)
        ok = not math.isnan(v) and (allow_inf or math.isfinite(v))
        ok = ok and (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not ok:
        raise _fail(name, _range_text(low, high, low_open, high_open, allow_inf), value)
    return float(value)


def finite(name: str, value: Any) -> float:
    """A finite real number."""
    return in_range(name, value)


def positive(name: str, value: Any, *, allow_zero: bool = False, allow_inf: bool = False) -> float:
    """A real number > 0 (>= 0 with ``allow_zero``), finite unless ``allow_inf``."""
    return in_range(name, value, 0.0, low_open=not allow_zero, allow_inf=allow_inf)


def integer(
    name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """An integer (not a bool) within ``[minimum, maximum]``."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    ok = ok and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    if not ok:
        if minimum is not None and maximum is not None:
            text = f"an integer in {minimum}..{maximum}"
        elif minimum is not None:
            text = f"an integer >= {minimum}"
        elif maximum is not None:
            text = f"an integer <= {maximum}"
        else:
            text = "an integer"
        raise _fail(name, text, value)
    return int(value)


def choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """One of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise _fail(name, f"one of {', '.join(choices)}", value)
    return value


def boolean(name: str, value: Any) -> bool:
    """True or False."""
    if not isinstance(value, bool):
        raise _fail(name, "True or False", value)
    return value


# ---------------------------------------------------------------------------------- rules
@dataclass(frozen=True)
class Integer:
    """An integer within ``[minimum, maximum]``."""

    minimum: int | None = None
    maximum: int | None = None

    def check(self, name: str, value: Any) -> int:
        return integer(name, value, minimum=self.minimum, maximum=self.maximum)


@dataclass(frozen=True)
class Number:
    """A real number within ``[low, high]`` (see :func:`in_range`); None too if ``optional``."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    allow_inf: bool = False
    optional: bool = False

    def check(self, name: str, value: Any) -> float | None:
        if value is None and self.optional:
            return None
        return in_range(name, value, self.low, self.high, low_open=self.low_open,
                        high_open=self.high_open, allow_inf=self.allow_inf)  # fmt: skip


@dataclass(frozen=True)
class Choice:
    """One of ``choices``."""

    choices: tuple[str, ...]

    def check(self, name: str, value: Any) -> str:
        return choice(name, value, self.choices)


@dataclass(frozen=True)
class Boolean:
    """True or False."""

    def check(self, name: str, value: Any) -> bool:
        return boolean(name, value)


@dataclass(frozen=True)
class Numbers:
    """A sequence of finite numbers >= ``low`` (a tuple of float); None too if ``optional``."""

    low: float = -math.inf
    optional: bool = False

    def check(self, name: str, value: Any) -> tuple[float, ...] | None:
        if value is None and self.optional:
            return None
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            raise _fail(name, "a sequence of numbers", value)
        items = tuple(value)
        if not all(_is_real(x) for x in items):
            raise _fail(name, "a sequence of numbers", value)
        bad = [x for x in items if not (math.isfinite(float(x)) and float(x) >= self.low)]
        if bad:
            raise _fail(name, f"finite numbers >= {self.low:g}", value)
        return tuple(float(x) for x in items)


#: Point-group names: ``C<n>``, ``D<n>``, ``T``, ``O``, ``I`` (case-insensitive).
_GROUP_NAME = re.compile(r"([CD])(\d+)|([TOI])")
#: Largest n of a ``Cn`` / ``Dn`` group.
MAX_GROUP_ORDER = 100


def point_group_name(name: str, value: Any, *, also: str = "") -> str:
    """The canonical name of a point group (``"c4"`` -> ``"C4"``, ``" d7 "`` -> ``"D7"``).

    The one place point-group names are checked (:func:`difffit.symmetry.parse_group` builds
    on it); ``also`` names other accepted words in the message (``"auto, none, "``).
    """
    text = str(value).strip().upper()
    m = _GROUP_NAME.fullmatch(text)
    if m and m.group(3):
        return m.group(3)
    if m:
        kind, n = m.group(1), int(m.group(2))
        lo = 1 if kind == "C" else 2
        if lo <= n <= MAX_GROUP_ORDER:
            return f"{kind}{n}"
        raise ConfigError(
            f"{name} must be {also}{kind}n with {lo} <= n <= {MAX_GROUP_ORDER} (e.g. {kind}4), "
            f"got unknown point group {value!r}",
            option=name,
        )
    raise ConfigError(
        f"{name} must be {also}Cn (n >= 1), Dn (n >= 2), T, O or I (e.g. C4, D7), got unknown "
        f"point group {value!r}",
        option=name,
    )


@dataclass(frozen=True)
class Symmetry:
    """``"auto"``, ``"none"`` or a point-group name (canonical: ``"C4"``, ``"D7"``, ``"I"``)."""

    def check(self, name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise _fail(name, "auto, none or a point group (C4, D7, T, O, I)", value)
        low = value.strip().lower()
        if low in ("auto", "none"):
            return low
        return point_group_name(name, value, also="auto, none or ")
