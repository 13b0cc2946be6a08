"""Selection on arrays whose dimensions repeat (a stimulus x stimulus similarity matrix, as
Brain-Score's RDMs are): positions and labels apply to every axis of a repeated dimension, as
BrainIO's ``subset`` did.  xarray itself selects along one axis of a dimension only.

The result is built with the class the caller names (:func:`brainio_dvc.assemblies.take` names
the assembly's own class), so nothing here knows the assembly classes.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any, TypeVar, cast

import numpy as np
import pandas as pd
import xarray as xr

from .grouping import _single_dim_of
from .indexes import walk_coords

__all__ = ["select_repeated", "take"]

_A = TypeVar("_A", bound=xr.DataArray)


def take(assembly: xr.DataArray, positions: Mapping[Hashable, Any], cls: Callable[..., _A]) -> xr.DataArray:
    """``assembly.isel(positions)``, also when a dimension appears more than once: then the
    positions apply to every axis of that dimension, and the result is made with ``cls``."""
    if len(set(assembly.dims)) == len(assembly.dims):
        return assembly.isel(positions)
    def along(dims: tuple[Hashable, ...]) -> tuple[np.ndarray, ...]:
        return np.ix_(*(np.asarray(positions.get(dim, np.arange(assembly.sizes[dim]))) for dim in dims))

    coords = {
        name: (dims, values[along(dims)] if dims else values)
        for name, dims, values in walk_coords(assembly)
    }
    return cls(
        assembly.values[along(assembly.dims)], coords=coords, dims=assembly.dims,
        attrs=assembly.attrs, name=assembly.name,
    )


def select_repeated(assembly: _A, indexers: Mapping[Any, Any]) -> _A:
    """Label selection on an assembly whose dimensions repeat (see
    :meth:`brainio_dvc.assemblies.DataAssembly.sel`); the result is of the assembly's class."""
    masks: dict[Hashable, np.ndarray] = {}
    scalars: dict[Hashable, Any] = {}
    for name, wanted in indexers.items():
        dim = _single_dim_of(assembly, [name])
        labels = pd.Index(np.asarray(assembly[name].values))
        located = pd.Series(np.arange(len(labels)), index=labels).loc[wanted]
        mask = np.zeros(len(labels), dtype=bool)
        mask[np.atleast_1d(np.asarray(located))] = True
        masks[dim] = masks[dim] & mask if dim in masks else mask
        if np.ndim(wanted) == 0:
            scalars[name] = wanted
    selected = cast(_A, take(assembly, {dim: np.flatnonzero(mask) for dim, mask in masks.items()}, type(assembly)))
    if not scalars:
        return selected
    # As xarray does on one axis: a level selected by a scalar becomes a scalar coordinate.
    kept = [(name, dims, values) for name, dims, values in walk_coords(selected) if name not in scalars]
    coords: dict[Hashable, Any] = {name: (dims, values) for name, dims, values in kept}
    coords.update((name, ((), value)) for name, value in scalars.items())
    return type(selected)(
        selected.values, coords=coords, dims=selected.dims, attrs=selected.attrs, name=selected.name
    )
