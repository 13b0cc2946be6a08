"""Grouping on several coordinates of one dimension (``DataAssembly.multi_groupby``) and the
partitions of ``DataAssembly.multi_dim_apply``."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..exceptions import GroupbyError

__all__ = ["GroupbyBridge"]

_MULTI_GROUP = "multi_group"


class GroupbyBridge:
    """A groupby on a combined key of several coordinates of one dimension.

    Methods are those of the xarray GroupBy; results along the group dimension get the original
    dimension back, with the grouped coordinates as MultiIndex levels.
    """

    def __init__(self, groupby: Any, dim: Hashable, uniques: pd.MultiIndex) -> None:
        self.groupby = groupby
        self.dim = dim
        self.uniques = uniques

    def __getattr__(self, attr: str) -> Any:
        result = getattr(self.groupby, attr)
        if not callable(result):
            return result

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return self._restore(result(*args, **kwargs))

        return wrapper

    def __iter__(self) -> Iterator[tuple[tuple[Any, ...], Any]]:
        for code, group in self.groupby:
            yield self.uniques[code], group.drop_vars(_MULTI_GROUP)

    def __len__(self) -> int:
        return len(self.groupby)

    def _restore(self, result: Any) -> Any:
        if not isinstance(result, xr.DataArray) or _MULTI_GROUP not in result.coords:
            return result
        if _MULTI_GROUP not in result.dims:
            return result.drop_vars(_MULTI_GROUP)
        keys = self.uniques.take(result[_MULTI_GROUP].values)
        restored = result.drop_vars(_MULTI_GROUP).rename({_MULTI_GROUP: self.dim})
        return restored.assign_coords(xr.Coordinates.from_pandas_multiindex(keys, self.dim))


class _Partition:
    """Positions of each unique value of a 1-D array, uniques sorted."""

    def __init__(self, values: np.ndarray) -> None:
        self.codes, uniques = pd.factorize(values, sort=True, use_na_sentinel=False)
        self.uniques = np.asarray(uniques)
        self.size = len(uniques)
        order = np.argsort(self.codes, kind="stable")
        bounds = np.cumsum(np.bincount(self.codes, minlength=self.size))[:-1]
        self.members: list[np.ndarray] = np.split(order, bounds)


def _single_dim_of(assembly: xr.DataArray, names: Iterable[Hashable]) -> Hashable:
    """The one dimension all ``names`` lie on, or a GroupbyError."""
    dims = {name: assembly[name].dims for name in names}
    distinct = set(dims.values())
    if len(distinct) != 1 or len(next(iter(distinct))) != 1:
        raise GroupbyError(
            subject="coordinates " + ", ".join(map(str, dims)),
            expected="coordinates of one and the same single dimension",
            found=", ".join(f"{name} on {coord_dims}" for name, coord_dims in dims.items()),
        )
    return next(iter(distinct))[0]


def _simplify(values: np.ndarray) -> Any:
    return values.item() if values.size == 1 else values


def _cell_values(
    dims: tuple[Hashable, ...], values: np.ndarray, positions: Mapping[Hashable, np.ndarray]
) -> Any:
    """The values of a coordinate at one cell of :meth:`DataAssembly.multi_dim_apply`."""
    if len(dims) == 1 and dims[0] in positions:
        return _simplify(values[positions[dims[0]]])
    return _simplify(np.asarray(values)) if not dims else values
