"""What counts as a missing value in catalogs and stimulus metadata: the one rule, written once.

A value is missing when it is None, a NaN (of any number type), pandas' ``NA`` or ``NaT``, or
the empty string: what a blank CSV field reads as, whichever way it was read (the :mod:`csv`
module gives ``""``, pandas gives NaN).
"""

from __future__ import annotations

import numbers
import sys
from typing import Any, overload

__all__ = ["is_missing"]


@overload
def is_missing(value: str | float | None) -> bool: ...


@overload
def is_missing(value: Any) -> Any: ...


def is_missing(value: Any) -> Any:
    """Whether ``value`` is missing (see the module); like :func:`pandas.isna`, a pandas Series,
    Index or a numpy array gives a boolean numpy array, element by element.

    pandas is not imported for a single value: loads read catalog rows without it.
    """
    if isinstance(value, str):
        return value == ""
    if value is None:
        return True
    if isinstance(value, numbers.Number):
        return bool(value != value)
    pandas = sys.modules.get("pandas")
    if pandas is None:  # then neither is the value pandas' NA or NaT
        return False
    if isinstance(value, pandas.Series | pandas.Index | sys.modules["numpy"].ndarray):
        as_objects = pandas.Series(value).to_numpy(dtype=object)
        missing = pandas.isna(as_objects)
        present = ~missing
        missing[present] = as_objects[present] == ""  # not with NA among them: NA == "" is NA
        return missing
    return pandas.api.types.is_scalar(value) and bool(pandas.isna(value))
