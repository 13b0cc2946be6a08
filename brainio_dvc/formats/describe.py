"""How error messages name a stimulus set and list the values they complain about.

Archive errors and the stimulus-set checks (:mod:`brainio_dvc.contribute.validation`) both use
these, so they live beneath both.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

__all__ = ["PREVIEW_LIMIT", "describe_stimulus_set", "metadata_attribute", "metadata_attributes", "preview"]

#: How many offending values an error message lists before summarising the rest.
PREVIEW_LIMIT = 5


def preview(values: Iterable[Any], limit: int = PREVIEW_LIMIT) -> str:
    """Describe offending values for an error message: a count, then the first few."""
    items = list(values)
    shown = ", ".join(repr(item) for item in items[:limit])
    rest = len(items) - limit
    suffix = f", and {rest} more" if rest > 0 else ""
    return f"{len(items)}: {shown}{suffix}"


def metadata_attribute(frame: Any, name: str) -> Any:
    """The attribute ``name`` of ``frame``, or None; never a column of that name.

    ``getattr(frame, "identifier", None)`` would return the ``identifier`` column of a plain
    DataFrame that has one; this looks at real attributes only.
    """
    return metadata_attributes(frame, (name,))[0]


def metadata_attributes(frame: Any, names: Iterable[str]) -> list[Any]:
    """:func:`metadata_attribute` of each of ``names``, in one call."""
    found = []
    for name in names:
        try:
            found.append(object.__getattribute__(frame, name))
        except AttributeError:
            found.append(None)
    return found


def describe_stimulus_set(stimulus_set: Any) -> str:
    """The subject of an error about ``stimulus_set``: its identifier, else its source CSV."""
    identifier = metadata_attribute(stimulus_set, "identifier")
    if isinstance(identifier, str) and identifier:
        return f"stimulus set {identifier!r}"
    attrs = metadata_attribute(stimulus_set, "attrs") or {}
    source = attrs.get("source_path") or attrs.get("csv_path")
    if source:
        return f"stimulus set CSV {os.fspath(source)}"
    return "proto stimulus set (no identifier yet)"
