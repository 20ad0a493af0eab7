"""``present(x)``: a value the test has just established is there, narrowed from ``T | None`` for mypy.

The results document types every measured figure as ``float | None`` (None: not reported, never 0);
a test that checks a figure's value first asserts it is there, and this says so in one word.
"""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def present(value: T | None) -> T:
    assert value is not None
    return value
