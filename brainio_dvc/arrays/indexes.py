"""A DataAssembly's indexes: the 1-D coordinates of each dimension gathered into one pandas
MultiIndex, and the walk over coordinates, indexes and levels (BrainIO's ``get_metadata``)."""

from __future__ import annotations

import logging
from collections.abc import Collection, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import xarray as xr
from xarray.indexes import PandasIndex, PandasMultiIndex

__all__ = [
    "Metadata",
    "array_is_element",
    "coords_for_dim",
    "gather_indexes",
    "get_levels",
    "get_metadata",
    "get_metadata_after_2022_06",
    "get_metadata_before_2022_06",
    "walk_coords",
]

logger = logging.getLogger(__name__)

Metadata = tuple[Hashable, tuple[Hashable, ...], np.ndarray]
XrData = TypeVar("XrData", xr.DataArray, xr.Dataset)


def _kind(assembly: xr.DataArray | xr.Dataset, name: Hashable) -> str:
    """``multi_index``, ``level``, ``index`` or ``coord``."""
    index = assembly.xindexes.get(name)
    if index is None:
        return "coord"
    if isinstance(index, PandasMultiIndex):
        return "multi_index" if name == index.dim else "level"
    return "index"


def get_metadata(
    assembly: xr.DataArray | xr.Dataset,
    dims: Iterable[Hashable | None] | None = None,
    names_only: bool = False,
    include_coords: bool = True,
    include_indexes: bool = True,
    include_multi_indexes: bool = False,
    include_levels: bool = True,
) -> Iterator[Hashable | Metadata]:
    """Yield coordinates, indexes, MultiIndexes and/or levels: ``name`` or ``(name, dims, values)``.

    :param dims: only metadata whose dims are among these; ``None`` in the list selects
        dimensionless coordinates. By default all dims plus dimensionless coordinates.
    """
    wanted = set(assembly.dims) | {None} if dims is None else set(dims)
    included = {
        "coord": include_coords,
        "index": include_indexes,
        "multi_index": include_multi_indexes,
        "level": include_levels,
    }
    for name, variable in assembly.coords.variables.items():
        in_dims = set(variable.dims) <= wanted if variable.dims else None in wanted
        if in_dims and included[_kind(assembly, name)]:
            yield name if names_only else (name, variable.dims, variable.values)


def walk_coords(assembly: xr.DataArray | xr.Dataset) -> Iterator[Metadata]:
    """Yield ``(name, dims, values)`` of every coordinate and level, not the MultiIndexes."""
    yield from get_metadata(assembly)  # type: ignore[misc]


def get_levels(assembly: xr.DataArray | xr.Dataset) -> list[Hashable]:
    """Names of all MultiIndex levels."""
    return list(
        get_metadata(assembly, names_only=True, include_coords=False, include_indexes=False)
    )


def coords_for_dim(xr_data: xr.DataArray | xr.Dataset, dim: Hashable) -> dict[Hashable, np.ndarray]:
    """The values of the coordinates whose only dimension is ``dim``, by name, as in BrainIO.

    Indexes and MultiIndex levels are not among them.
    """
    return {name: variable.values for name, variable in _plain_coords(xr_data, dim).items()}


def _plain_coords(xr_data: xr.DataArray | xr.Dataset, dim: Hashable) -> dict[Hashable, xr.Variable]:
    """The coordinate variables of ``dim`` alone that are neither an index nor a level."""
    return {
        name: variable
        for name, variable in xr_data.coords.variables.items()
        if variable.dims == (dim,) and name not in xr_data.xindexes
    }


# BrainIO 1.1 chose between these two by the installed xarray; only the newer one applies here.
get_metadata_after_2022_06 = get_metadata
get_metadata_before_2022_06 = get_metadata


def gather_indexes(xr_data: XrData) -> XrData:
    """A new object whose 1-D coordinates of each dimension index it, as in BrainIO.

    Several coordinates of a dimension form one MultiIndex of it: existing index levels come
    first, and a plain dimension coordinate becomes the level ``f"{dim}_level_0"``.  A single
    coordinate of a dimension without an index becomes that dimension's plain index: its values
    are ``assembly[dim].values``, and its own name is gone, as BrainIO's ``set_index`` left it.
    Dimensions without other coordinates are left alone.
    """
    replaced, new_coords, new_indexes = gathered_coordinates(xr_data)
    if not replaced:
        return xr_data
    # One drop and one assignment for all dimensions: each costs a pass over every coordinate.
    return xr_data.drop_vars(replaced).assign_coords(xr.Coordinates(new_coords, indexes=new_indexes))


def gathered_coordinates(
    xr_data: xr.DataArray | xr.Dataset, skip: Collection[Hashable] = ()
) -> tuple[list[Hashable], dict[Hashable, xr.Variable], dict[Hashable, Any]]:
    """What :func:`gather_indexes` does to the dimensions not in ``skip``: the variables it
    replaces, and the variables and indexes of the index coordinates replacing them."""
    replaced: list[Hashable] = []
    new_coords: dict[Hashable, xr.Variable] = {}
    new_indexes: dict[Hashable, Any] = {}
    for dim in xr_data.dims:
        if dim in skip:
            continue
        gathered = _gathered_index(xr_data, dim)
        if gathered is not None:
            replaced.extend(gathered[0])
            new_coords.update(gathered[1].variables)
            new_indexes.update(gathered[1].xindexes)
    return replaced, new_coords, new_indexes


@dataclass(frozen=True)
class LevelsToExtend:
    """A dimension's coordinates as one MultiIndex, for a loader to add levels to, and the
    other dimensions' index coordinates gathered (:func:`levels_to_extend`): assigned together
    with the extended index, in one assignment, they leave the assembly class nothing to gather."""

    #: The variables that ``index`` and ``other_coords`` replace.
    replaced: list[Hashable]
    #: The dimension's coordinates as one MultiIndex (a lone coordinate is one level); None
    #: when it has none.
    index: pd.MultiIndex | None
    other_coords: dict[Hashable, xr.Variable]
    other_indexes: dict[Hashable, Any]


def levels_to_extend(xr_data: xr.DataArray, dim: Hashable) -> LevelsToExtend:
    """``dim``'s coordinates as one MultiIndex, to add levels to, and the other dimensions'
    index coordinates (not when a dimension repeats: the assembly class gathers those).

    Unlike :func:`gather_indexes`, a single coordinate (``stimulus_id`` alone) is a level too,
    so that a stimulus set's columns can be merged in beside it.
    """
    replaced: list[Hashable] = []
    index = xr_data.indexes.get(dim)
    if isinstance(index, pd.MultiIndex) and not _plain_coords(xr_data, dim):
        replaced = [dim, *index.names]
    else:
        gathered = _gathered_levels(xr_data, dim)
        index = None
        if gathered is not None:  # a lone coordinate is a level too: no plain index
            replaced, levels = gathered
            index = _multi_index(levels)
    others: tuple[list[Hashable], dict[Hashable, xr.Variable], dict[Hashable, Any]] = ([], {}, {})
    if len(set(xr_data.dims)) == len(xr_data.dims):
        others = gathered_coordinates(xr_data, skip=(dim,))
    return LevelsToExtend([*replaced, *others[0]], index, others[1], others[2])


def _gathered_index(
    xr_data: xr.DataArray | xr.Dataset, dim: Hashable
) -> tuple[list[Hashable], xr.Coordinates] | None:
    """The variables to replace and the index coordinates replacing them, if any: a lone
    coordinate becomes a plain index, several become one MultiIndex."""
    gathered = _gathered_levels(xr_data, dim)
    if gathered is None:
        return None
    replaced, levels = gathered
    if len(levels) == 1 and len(replaced) == 1:  # one coordinate, and no index before
        variable = xr_data.coords.variables[replaced[0]]
        return replaced, xr.Coordinates({dim: xr.Variable((dim,), variable.values, variable.attrs)})
    return replaced, xr.Coordinates.from_pandas_multiindex(_multi_index(levels), dim)


def _gathered_levels(
    xr_data: xr.DataArray | xr.Dataset, dim: Hashable
) -> tuple[list[Hashable], dict[Hashable, np.ndarray]] | None:
    """The variables of ``dim``'s coordinates to replace, and the values of each level of the
    one MultiIndex they make (index levels first, in their order), if ``dim`` has plain
    coordinates at all."""
    coords = _plain_coords(xr_data, dim)
    if not coords:
        return None
    variables = xr_data.coords.variables
    levels: dict[Hashable, np.ndarray] = {}
    replaced: list[Hashable] = []
    for index, indexed in xr_data.xindexes.group_by_index():
        if any(variable.dims != (dim,) for variable in indexed.values()):
            continue
        if isinstance(index, PandasMultiIndex):
            levels.update((level, variables[level].values) for level in index.index.names)
        elif isinstance(index, PandasIndex):
            name = index.index.name
            levels[f"{dim}_level_0" if name == dim else name] = variables[name].values
        else:
            logger.debug("not gathering coordinates of %s: it has a %s", dim, type(index).__name__)
            return None
        replaced.extend(indexed)
    levels.update((name, variable.values) for name, variable in coords.items())
    replaced.extend(coords)
    return replaced, levels


def _multi_index(arrays: Mapping[Hashable, np.ndarray]) -> pd.MultiIndex:
    """A MultiIndex of ``arrays`` by name; levels keep the order of first appearance.

    Like ``pd.MultiIndex.from_arrays`` without sorting each level's values, which at 10^5
    presentations is a third of the cost.
    """
    codes, levels = [], []
    for values in arrays.values():
        level_codes, uniques = pd.factorize(values, sort=False)
        codes.append(level_codes)
        levels.append(_strings_of_their_own(uniques, len(values)))
    # pandas-stubs wants Sequences for levels and codes; pandas takes arrays (ndarray is no Sequence).
    return pd.MultiIndex(levels=levels, codes=codes, names=list(arrays), verify_integrity=False)  # type: ignore[arg-type]


def _strings_of_their_own(uniques: np.ndarray, count: int) -> np.ndarray:
    """``uniques``, found among ``count`` values, with fresh copies of its strings when they are
    at most half as many as the values.

    A level's uniques are some of the values' own objects, strewn through the memory of all of
    them, and while they live Python's allocator cannot return the pages around them. Copies
    lie together: once the file's ``stimulus_id`` coordinate at 4x MajajHong2015 (593,920
    strings, 23,040 distinct) is dropped, 12 MB more of it is freed. (``"".join`` of two strings
    makes a new one, where ``str()`` and ``+ ""`` return the same.)
    """
    if uniques.dtype != object or 2 * len(uniques) > count:
        return uniques
    return np.array(["".join((value, "")) if type(value) is str else value for value in uniques], dtype=object)


def array_is_element(arr: Sequence[Any], element: Any) -> bool:
    """Whether ``arr`` has exactly one item, equal to ``element``."""
    return len(arr) == 1 and arr[0] == element
