"""DataAssembly, its subclasses and their loaders (BrainIO's ``brainio.assemblies``).

A :class:`DataAssembly` is an :class:`xarray.DataArray` whose coordinates of each dimension are
gathered into one pandas MultiIndex, so that ``assembly.sel(level=value)`` works for any
coordinate. Loaders read the BrainIO netCDF format and attach the stimulus set.
"""

from __future__ import annotations

import ast
import importlib.util
import itertools
import logging
import os
import warnings
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from os import PathLike
from typing import Any, ClassVar, TypeVar

import netCDF4
import numpy as np
import pandas as pd
import xarray as xr
from xarray.core.indexing import PandasIndexingAdapter
from xarray.indexes import PandasIndex, PandasMultiIndex

from .exceptions import ConfigurationError, GroupbyError, ValidationError
from .formats.netcdf import read_data_array

__all__ = [
    "ASSEMBLY_CLASSES",
    "BRAINIO_CHUNKS",
    "AssemblyLoader",
    "BehavioralAssembly",
    "DataAssembly",
    "DataPoint",
    "GroupAppendAssemblyLoader",
    "GroupbyBridge",
    "GroupbyError",
    "MetadataAssembly",
    "ModelFeaturesAssembly",
    "NeuroidAssembly",
    "NeuronRecordingAssembly",
    "PropertyAssembly",
    "SpikeTimesAssembly",
    "StimulusMergeAssemblyLoader",
    "StimulusReferenceAssemblyLoader",
    "array_is_element",
    "coords_for_dim",
    "gather_indexes",
    "get_levels",
    "get_metadata",
    "get_metadata_after_2022_06",
    "get_metadata_before_2022_06",
    "is_fastpath",
    "merge_data_arrays",
    "take",
    "walk_coords",
]

logger = logging.getLogger(__name__)

#: The environment variable that makes loaders open assemblies lazily with dask chunks.
BRAINIO_CHUNKS = "BRAINIO_CHUNKS"
_FASTPATH_POSITION = 6  # DataArray(data, coords, dims, name, attrs, indexes, fastpath)
_MULTI_GROUP = "multi_group"
_EXAMPLES_SHOWN = 5

Metadata = tuple[Hashable, tuple[Hashable, ...], np.ndarray]
XrData = TypeVar("XrData", xr.DataArray, xr.Dataset)


def is_fastpath(*args: Any, **kwargs: Any) -> bool:
    """Whether ``DataArray.__init__`` would take these arguments down its internal fast path."""
    positional = len(args) > _FASTPATH_POSITION and bool(args[_FASTPATH_POSITION])
    return bool(kwargs.get("fastpath", False)) or positional


class DataPoint:
    """One value, such as one neuron's response to one presentation (BrainIO's ``DataPoint``)."""

    def __init__(self, value: Any, neuroid: Any, presentation: Any) -> None:
        self.value = value
        self.neuroid = neuroid
        self.presentation = presentation


def _is_in_memory(variable: xr.Variable) -> bool:
    """Whether a variable's values are numpy or pandas data already in memory."""
    return isinstance(variable._data, np.ndarray | PandasIndexingAdapter)


class DataAssembly(xr.DataArray):
    """A DataArray whose 1-D coordinates of each dimension form one MultiIndex of that dimension.

    Construct it like a DataArray, or wrap one: ``NeuroidAssembly(data_array)``.
    """

    __slots__ = ()

    _required_dims: ClassVar[tuple[frozenset[str], ...]] = ()
    """Allowed sets of dimensions; empty means any."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if is_fastpath(*args, **kwargs):
            # xarray's internal construction from existing variables and indexes: already gathered.
            super().__init__(*args, **kwargs)
            return
        with warnings.catch_warnings():
            # A stimulus x stimulus similarity matrix repeats its dimension, as Brain-Score's
            # RDMs do; xarray warns that it does not support that, and sel/subset here do.
            warnings.filterwarnings("ignore", message="Duplicate dimension names", category=UserWarning)
            gathered = gather_indexes(_as_data_array(*args, **kwargs))
        super().__init__(
            gathered.variable,
            coords=dict(gathered.coords.variables),
            name=gathered.name,
            indexes=dict(gathered.xindexes),
            fastpath=True,
        )

    @classmethod
    def get_loader_class(cls) -> type[AssemblyLoader]:
        """The loader :meth:`from_files` uses."""
        return StimulusMergeAssemblyLoader

    @classmethod
    def from_files(cls, file_path: str | PathLike[str], **kwargs: Any) -> DataAssembly:
        """Load an assembly of this class from a netCDF file (kwargs go to the loader)."""
        return cls.get_loader_class()(cls=cls, file_path=file_path, **kwargs).load()

    def load(self, **kwargs: Any) -> DataAssembly:
        """Load lazily opened data into memory (``xarray.DataArray.load``).

        An assembly already in memory is returned as it is: xarray would otherwise ask every
        variable whether it is a dask array, which imports dask (a tenth of a second) when it is
        installed, only to find nothing to load.
        """
        variables = [self.variable, *self.coords.variables.values()]
        if all(_is_in_memory(variable) for variable in variables):
            return self
        return super().load(**kwargs)

    def validate(self) -> None:
        """Check the dimensions this class requires.

        :raises ValidationError: naming the class, the expected and the found dimensions.
        """
        if not self._required_dims or frozenset(map(str, self.dims)) in self._required_dims:
            return
        expected = " or ".join(
            "(" + ", ".join(sorted(dims)) + ")" for dims in self._required_dims
        )
        raise ValidationError(
            subject=type(self).__name__,
            expected=f"dimensions {expected}",
            found="dimensions (" + ", ".join(map(str, self.dims)) + ")",
        )

    def multi_groupby(
        self, group_coord_names: Sequence[Hashable] | str, *args: Any, **kwargs: Any
    ) -> Any:
        """Group on one or several coordinates of one dimension.

        With one coordinate this is ``groupby``. With several, reductions such as ``.mean()``
        return the original dimension with the grouped coordinates as MultiIndex levels.
        """
        names = (
            [group_coord_names] if isinstance(group_coord_names, str) else list(group_coord_names)
        )
        if len(names) == 1:
            return self.groupby(names[0], *args, **kwargs)
        dim = _single_dim_of(self, names)
        combined = pd.MultiIndex.from_arrays([self[name].values for name in names], names=names)
        codes, uniques = combined.factorize(sort=True)
        uniques = uniques.set_names(names)
        grouped = self.assign_coords({_MULTI_GROUP: (dim, codes)}).groupby(
            _MULTI_GROUP, *args, **kwargs
        )
        return GroupbyBridge(grouped, dim, uniques)

    def multi_dim_apply(
        self, groups: Sequence[Hashable], apply: Callable[..., Any]
    ) -> DataAssembly:
        """Apply ``apply(cells, **coords)`` to every combination of the groups' unique values.

        As in BrainIO: each group coordinate lies on its own dimension, and the cells of one
        combination are all positions that hold those values.  ``apply`` receives them (a
        scalar when there is one, else an array with one axis per group of several members)
        and the values of every coordinate at those positions as keyword arguments (scalars
        where there is one value).  What it returns, a scalar or an array of the cells'
        shape, is written back at the cells' positions: the result keeps this assembly's
        shape, order and coordinates.  ``lambda group, **_: group - np.nanmean(group)``
        subtracts group means, as Brain-Score's I2n does.  Dimensions without a group are
        passed whole.
        """
        dims = [_single_dim_of(self, [group]) for group in groups]
        if len(set(dims)) != len(dims):
            raise ValidationError(
                subject="multi_dim_apply groups",
                expected="coordinates of different dimensions",
                found=", ".join(
                    f"{group} on {dim}" for group, dim in zip(groups, dims, strict=True)
                ),
            )
        by_dim = dict(zip(dims, groups, strict=True))
        partitions = {
            dim: _Partition(self[by_dim[dim]].values) for dim in self.dims if dim in by_dim
        }
        metadata = list(walk_coords(self))
        values = self.values
        result = np.zeros(values.shape)
        everything = {dim: np.arange(size) for dim, size in self.sizes.items()}
        for combination in itertools.product(*(range(p.size) for p in partitions.values())):
            positions = {
                dim: partition.members[i]
                for (dim, partition), i in zip(partitions.items(), combination, strict=True)
            }
            where = np.ix_(*(positions.get(dim, everything[dim]) for dim in self.dims))
            cells = values[where]
            # A group of one member is no axis of its own, as in BrainIO.
            single = tuple(
                axis for axis, dim in enumerate(self.dims)
                if dim in positions and len(positions[dim]) == 1
            )
            passed = np.squeeze(cells, axis=single) if single else cells
            cell_coords = {
                name: _cell_values(coord_dims, coord_values, positions)
                for name, coord_dims, coord_values in metadata
            }
            outcome = np.asarray(apply(_simplify(passed), **cell_coords))
            result[where] = outcome.reshape(cells.shape) if outcome.size == cells.size else outcome
        return self.copy(data=result)

    def sel(
        self,
        indexers: Mapping[Any, Any] | None = None,
        method: str | None = None,
        tolerance: Any = None,
        drop: bool = False,
        **indexers_kwargs: Any,
    ) -> DataAssembly:
        """``xarray.DataArray.sel``, which also works when a dimension appears twice.

        A stimulus × stimulus similarity matrix has dims ``(presentation, presentation)``,
        which xarray cannot select on; BrainIO's xarray could.  There, the selection applies
        to every axis of the dimension (``method``, ``tolerance`` and ``drop`` are not
        supported).
        """
        if len(set(self.dims)) == len(self.dims):
            return super().sel(indexers, method=method, tolerance=tolerance, drop=drop, **indexers_kwargs)
        if method is not None or tolerance is not None or drop:
            raise ValidationError(
                f"sel on an assembly with dims {self.dims}",
                "plain labels (no method, tolerance or drop) where a dimension appears twice",
                f"method={method!r}, tolerance={tolerance!r}, drop={drop!r}",
            )
        return _select_repeated(self, {**(indexers or {}), **indexers_kwargs})

    def reset_index(self, dims_or_levels: Hashable | Sequence[Hashable], *, drop: bool = False) -> DataAssembly:
        """``xarray.DataArray.reset_index``; a plain dimension index becomes the coordinate
        ``f"{dim}_"``, as it did in BrainIO (a coordinate could not share its dimension's name).
        """
        names = [dims_or_levels] if isinstance(dims_or_levels, str) else list(dims_or_levels)  # type: ignore[arg-type]
        plain = [name for name in names if name in self.dims and _kind(self, name) == "index"]
        result = super().reset_index(names, drop=drop)
        if drop or not plain:
            return result
        renamed = {f"{name}_": (name, result[name].values, result[name].attrs) for name in plain}
        return result.drop_vars(plain).assign_coords(renamed)

    def multisel(self, **indexers: Any) -> DataAssembly:
        """Select by coordinate values (a scalar or a list each), keeping every dimension and level.

        Unlike ``sel``, a scalar selection does not drop the level or the dimension.
        """
        masks: dict[Hashable, np.ndarray] = {}
        for name, wanted in indexers.items():
            dim = _single_dim_of(self, [name])
            values = pd.Index(self[name].values)
            if np.ndim(wanted) == 0:
                mask = np.asarray(values.isin([wanted]))
            else:
                mask = np.asarray(values.isin(list(wanted)))
            masks[dim] = masks[dim] & mask if dim in masks else mask
        return self.isel({dim: np.flatnonzero(mask) for dim, mask in masks.items()})


def take(assembly: xr.DataArray, positions: Mapping[Hashable, Any]) -> xr.DataArray:
    """``assembly.isel(positions)``, also when a dimension appears more than once: then the
    positions apply to every axis of that dimension, as BrainIO's ``subset`` did."""
    if len(set(assembly.dims)) == len(assembly.dims):
        return assembly.isel(positions)
    def along(dims: tuple[Hashable, ...]) -> tuple[np.ndarray, ...]:
        return np.ix_(*(np.asarray(positions.get(dim, np.arange(assembly.sizes[dim]))) for dim in dims))

    coords = {
        name: (dims, values[along(dims)] if dims else values)
        for name, dims, values in walk_coords(assembly)
    }
    cls = type(assembly) if isinstance(assembly, DataAssembly) else DataAssembly
    return cls(
        assembly.values[along(assembly.dims)], coords=coords, dims=assembly.dims,
        attrs=assembly.attrs, name=assembly.name,
    )


def _select_repeated(assembly: DataAssembly, indexers: Mapping[Any, Any]) -> DataAssembly:
    """Label selection on an assembly whose dimensions repeat (see :meth:`DataAssembly.sel`)."""
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
    selected = take(assembly, {dim: np.flatnonzero(mask) for dim, mask in masks.items()})
    if not scalars:
        return selected
    # As xarray does on one axis: a level selected by a scalar becomes a scalar coordinate.
    kept = [(name, dims, values) for name, dims, values in walk_coords(selected) if name not in scalars]
    coords: dict[Hashable, Any] = {name: (dims, values) for name, dims, values in kept}
    coords.update((name, ((), value)) for name, value in scalars.items())
    return type(selected)(
        selected.values, coords=coords, dims=selected.dims, attrs=selected.attrs, name=selected.name
    )


def _as_data_array(*args: Any, **kwargs: Any) -> xr.DataArray:
    """``xr.DataArray(*args, **kwargs)``, without its deep copy of coordinates when wrapping."""
    wrapped = args[0] if len(args) == 1 and not kwargs else kwargs.get("data")
    if isinstance(wrapped, xr.DataArray) and len(args) + len(kwargs) == 1:
        return wrapped.copy(deep=False)
    return xr.DataArray(*args, **kwargs)


class BehavioralAssembly(DataAssembly):
    """Behavioral data."""

    __slots__ = ()


class NeuroidAssembly(DataAssembly):
    """Data from neurons or neuron analogues: dims presentation, neuroid [, time_bin]."""

    __slots__ = ()
    _required_dims = (
        frozenset({"presentation", "neuroid"}),
        frozenset({"presentation", "neuroid", "time_bin"}),
    )


class NeuronRecordingAssembly(NeuroidAssembly):
    """Data recorded from neurons."""

    __slots__ = ()


class ModelFeaturesAssembly(NeuroidAssembly):
    """Activations of the units of a machine-learning model."""

    __slots__ = ()


class PropertyAssembly(DataAssembly):
    """Single-neuron properties."""

    __slots__ = ()

    @classmethod
    def get_loader_class(cls) -> type[AssemblyLoader]:
        """As in BrainIO: properties are not per presentation, so nothing is merged."""
        return StimulusReferenceAssemblyLoader


class SpikeTimesAssembly(NeuronRecordingAssembly):
    """Spike timestamps along dim ``event``; the file's groups load as MetadataAssembly attrs."""

    __slots__ = ()
    _required_dims = (frozenset({"event"}),)

    @classmethod
    def get_loader_class(cls) -> type[AssemblyLoader]:
        """Loads the netCDF groups too."""
        return GroupAppendAssemblyLoader


class MetadataAssembly(DataAssembly):
    """Metadata of another assembly that has dimensions of its own (a netCDF group)."""

    __slots__ = ()

    @classmethod
    def get_loader_class(cls) -> type[AssemblyLoader]:
        """As in BrainIO: metadata is not per presentation, so nothing is merged."""
        return StimulusReferenceAssemblyLoader


ASSEMBLY_CLASSES: dict[str, type[DataAssembly]] = {
    cls.__name__: cls
    for cls in (
        DataAssembly,
        BehavioralAssembly,
        NeuroidAssembly,
        NeuronRecordingAssembly,
        ModelFeaturesAssembly,
        PropertyAssembly,
        SpikeTimesAssembly,
        MetadataAssembly,
    )
}
"""Every assembly class by name: resolve catalog ``class`` entries here, never with getattr."""


# --- grouping helpers ---------------------------------------------------------------------------


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


# --- metadata -----------------------------------------------------------------------------------


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
    replaced: list[Hashable] = []
    new_coords: dict[Hashable, xr.Variable] = {}
    new_indexes: dict[Hashable, Any] = {}
    for dim in xr_data.dims:
        gathered = _gathered_index(xr_data, dim)
        if gathered is not None:
            replaced.extend(gathered[0])
            new_coords.update(gathered[1].variables)
            new_indexes.update(gathered[1].xindexes)
    if not replaced:
        return xr_data
    # One drop and one assignment for all dimensions: each costs a pass over every coordinate.
    return xr_data.drop_vars(replaced).assign_coords(xr.Coordinates(new_coords, indexes=new_indexes))


def _gathered_index(
    xr_data: xr.DataArray | xr.Dataset, dim: Hashable, single_level: bool = False
) -> tuple[list[Hashable], xr.Coordinates] | None:
    """The variables to replace and the index coordinates replacing them, if any.

    ``single_level`` makes a lone coordinate a one-level MultiIndex instead of a plain index.
    """
    coords = _plain_coords(xr_data, dim)
    if not coords:
        return None
    levels: dict[Hashable, np.ndarray] = {}
    replaced: list[Hashable] = []
    for index, variables in xr_data.xindexes.group_by_index():
        if any(variable.dims != (dim,) for variable in variables.values()):
            continue
        if isinstance(index, PandasMultiIndex):
            levels.update((level, xr_data[level].values) for level in index.index.names)
        elif isinstance(index, PandasIndex):
            name = index.index.name
            levels[f"{dim}_level_0" if name == dim else name] = xr_data[name].values
        else:
            logger.debug("not gathering coordinates of %s: it has a %s", dim, type(index).__name__)
            return None
        replaced.extend(variables)
    if not levels and len(coords) == 1 and not single_level:
        (name, variable), = coords.items()
        return [name], xr.Coordinates({dim: xr.Variable((dim,), variable.values, variable.attrs)})
    levels.update((name, variable.values) for name, variable in coords.items())
    replaced.extend(coords)
    return replaced, xr.Coordinates.from_pandas_multiindex(_multi_index(levels), dim)


def _multi_index(arrays: Mapping[Hashable, np.ndarray]) -> pd.MultiIndex:
    """A MultiIndex of ``arrays`` by name; levels keep the order of first appearance.

    Like ``pd.MultiIndex.from_arrays`` without sorting each level's values, which at 10^5
    presentations is a third of the cost.
    """
    codes, levels = [], []
    for values in arrays.values():
        level_codes, uniques = pd.factorize(values, sort=False)
        codes.append(level_codes)
        levels.append(uniques)
    return pd.MultiIndex(levels=levels, codes=codes, names=list(arrays), verify_integrity=False)


def merge_data_arrays(data_arrays: Sequence[xr.DataArray]) -> DataAssembly:
    """Merge assemblies sharing dims into one (e.g. pieces along neuroid); of the first's class."""
    if not data_arrays:
        msg = "merge_data_arrays needs at least one data array"
        raise ValueError(msg)
    merged = xr.merge(
        [xr.DataArray(data_array).rename("data") for data_array in data_arrays],
        compat="no_conflicts",
        join="outer",
        combine_attrs="override",
    )["data"].rename(None)
    cls = type(data_arrays[0])
    return (cls if issubclass(cls, DataAssembly) else DataAssembly)(merged)


def array_is_element(arr: Sequence[Any], element: Any) -> bool:
    """Whether ``arr`` has exactly one item, equal to ``element``."""
    return len(arr) == 1 and arr[0] == element


# --- loaders ------------------------------------------------------------------------------------


def _chunks_from_environment() -> dict[str, int] | None:
    """The ``BRAINIO_CHUNKS`` dict literal, or None when unset."""
    raw = os.environ.get(BRAINIO_CHUNKS, "").strip()
    if not raw:
        return None
    expected = "a dict literal of dimension sizes, e.g. \"{'presentation': 1000}\""
    source = f"environment variable {BRAINIO_CHUNKS}"
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as error:
        raise ConfigurationError(BRAINIO_CHUNKS, raw, expected, source) from error
    if not isinstance(value, dict):
        raise ConfigurationError(BRAINIO_CHUNKS, raw, expected, source)
    return value


class AssemblyLoader:
    """Loads a DataAssembly of class ``cls`` from a netCDF file.

    The values are read into memory and the file closed, unless ``chunks`` is given or
    ``BRAINIO_CHUNKS`` is set (and dask installed): then the file is opened lazily with those
    chunks (``{}``: the chunks the file is stored in), and values are read when first used.
    """

    def __init__(
        self,
        cls: type[DataAssembly],
        file_path: str | PathLike[str],
        stimulus_set_identifier: str | None = None,
        stimulus_set: pd.DataFrame | None = None,
        group: str | None = None,
        chunks: Mapping[str, int] | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            logger.debug("%s ignores the arguments %s, as BrainIO's loaders do", type(self).__name__, sorted(kwargs))
        self.assembly_class = cls
        self.file_path = file_path
        self.stimulus_set_identifier = stimulus_set_identifier
        self.stimulus_set = stimulus_set
        self.group = group
        #: Dask chunks to open the file with ({} for the file's own); None: BRAINIO_CHUNKS decides.
        self.chunks = chunks

    def load(self) -> DataAssembly:
        """Read the file, add metadata, and gather the indexes once."""
        return self.assembly_class(self._prepare(self._read()))

    def _read(self) -> xr.DataArray:
        chunks = _chunks_from_environment() if self.chunks is None else self.chunks
        if self.chunks is not None and importlib.util.find_spec("dask") is None:
            raise ConfigurationError("lazy", True, "used with dask installed (pip install 'brainio-dvc[dask]')",
                                     "the lazy=True argument")
        if chunks is not None and importlib.util.find_spec("dask") is None:
            logger.debug("%s is set but dask is not installed: loading eagerly", BRAINIO_CHUNKS)
            chunks = None
        return read_data_array(self.file_path, group=self.group, chunks=chunks)

    def _prepare(self, data_array: xr.DataArray) -> xr.DataArray:
        """Metadata added to the plain DataArray before it becomes an assembly."""
        return _with_stimulus_id(data_array)


def _with_stimulus_id(data_array: xr.DataArray) -> xr.DataArray:
    """Legacy assemblies have ``image_id`` but no ``stimulus_id``: copy the former."""
    coords = data_array.coords
    if "image_id" in coords and "stimulus_id" not in coords:
        if coords["image_id"].dims == ("presentation",):
            return data_array.assign_coords(
                stimulus_id=("presentation", coords["image_id"].values)
            )
    return data_array


class StimulusReferenceAssemblyLoader(AssemblyLoader):
    """Loads an assembly and sets ``attrs['stimulus_set']`` and ``attrs['stimulus_set_identifier']``
    (both ``None`` when none was given, as in BrainIO)."""

    def _prepare(self, data_array: xr.DataArray) -> xr.DataArray:
        data_array = super()._prepare(data_array)
        data_array.attrs["stimulus_set_identifier"] = self.stimulus_set_identifier
        data_array.attrs["stimulus_set"] = self.stimulus_set
        return data_array


def _presentation_levels(data_array: xr.DataArray) -> tuple[list[Hashable], pd.MultiIndex | None]:
    """The presentation coordinates as one MultiIndex, and the variables it replaces.

    Unlike :func:`gather_indexes`, a single coordinate (``stimulus_id`` alone) is a level too,
    so that the stimulus set's columns can be merged in beside it.
    """
    index = data_array.indexes.get("presentation")
    if isinstance(index, pd.MultiIndex) and not _plain_coords(data_array, "presentation"):
        return ["presentation", *index.names], index
    gathered = _gathered_index(data_array, "presentation", single_level=True)
    if gathered is None:
        return [], None
    replaced, coords = gathered
    return replaced, coords.to_index()


class StimulusMergeAssemblyLoader(StimulusReferenceAssemblyLoader):
    """Loads an assembly and merges the stimulus set's columns into presentation coordinates.

    The merged columns become levels of the presentation MultiIndex directly: each column is
    factorized once over the stimulus set's rows and its codes are mapped through the codes of
    the ``stimulus_id`` level, so nothing is hashed once per presentation.
    """

    def _prepare(self, data_array: xr.DataArray) -> xr.DataArray:
        data_array = super()._prepare(data_array)
        if self.stimulus_set is None or "presentation" not in data_array.dims:
            return data_array
        replaced, index = _presentation_levels(data_array)
        if index is None or "stimulus_id" not in index.names:
            raise ValidationError(
                self._subject(),
                "a stimulus_id in the assembly and in the stimulus set",
                "none in the assembly",
            )
        merged = self._merged_index(index)
        return data_array.drop_vars(replaced).assign_coords(
            xr.Coordinates.from_pandas_multiindex(merged, "presentation")
        )

    def _subject(self) -> str:
        identifier = self.stimulus_set_identifier or getattr(self.stimulus_set, "identifier", None)
        return f"assembly {os.fspath(self.file_path)} with stimulus set {identifier!r}"

    def _stimulus_rows(self, index: pd.MultiIndex) -> np.ndarray:
        """For every presentation, the row of its stimulus in the stimulus set."""
        stimulus_set = self.stimulus_set
        if "stimulus_id" not in stimulus_set.columns:
            raise ValidationError(self._subject(), "a stimulus_id column in the stimulus set", "none")
        stimulus_ids = pd.Index(stimulus_set["stimulus_id"])
        if not stimulus_ids.is_unique:
            duplicates = stimulus_ids[stimulus_ids.duplicated()].unique()[:_EXAMPLES_SHOWN]
            raise ValidationError(
                self._subject(), "unique stimulus_ids in the stimulus set", f"duplicates such as {list(duplicates)}"
            )
        level = index.names.index("stimulus_id")
        rows_of_level = stimulus_ids.get_indexer(index.levels[level])
        if (rows_of_level < 0).any() and stimulus_ids.inferred_type != index.levels[level].inferred_type:
            # Integer ids in the netCDF against text ids of a CSV, or the reverse: as text.
            rows_of_level = stimulus_ids.astype(str).get_indexer(index.levels[level].astype(str))
        codes = index.codes[level]
        rows = np.where(codes >= 0, rows_of_level[codes], -1)
        missing = rows < 0
        if missing.any():
            examples = pd.unique(index.get_level_values(level)[missing])[:_EXAMPLES_SHOWN]
            raise ValidationError(
                self._subject(),
                "every presentation's stimulus_id in the stimulus set",
                f"{int(missing.sum())} presentations whose stimulus_id is not, e.g. {list(examples)}",
            )
        return rows

    def _merged_index(self, index: pd.MultiIndex) -> pd.MultiIndex:
        """``index`` with one more level per new stimulus set column."""
        rows = self._stimulus_rows(index)
        names, levels, codes = list(index.names), list(index.levels), list(index.codes)
        skipped = set(names) | {"stimulus_id", "presentation"}
        for column in self.stimulus_set.columns:
            if column in skipped:
                continue
            column_codes, uniques = pd.factorize(self.stimulus_set[column].to_numpy())
            names.append(column)
            levels.append(pd.Index(uniques))
            codes.append(column_codes[rows])
        return pd.MultiIndex(levels=levels, codes=codes, names=names, verify_integrity=False)


class GroupAppendAssemblyLoader(StimulusReferenceAssemblyLoader):
    """Loads an assembly and each netCDF group of its file as a MetadataAssembly attr.

    A group that cannot be read is an error naming the file and the group.  (BrainIO logged a
    warning and returned the assembly without it, which loses data silently.)
    """

    def _prepare(self, data_array: xr.DataArray) -> xr.DataArray:
        data_array = super()._prepare(data_array)
        with netCDF4.Dataset(self.file_path, "r") as root:
            groups = list(root.groups)
        for group in groups:
            loader = MetadataAssembly.get_loader_class()(
                cls=MetadataAssembly,
                file_path=self.file_path,
                stimulus_set_identifier=self.stimulus_set_identifier,
                stimulus_set=self.stimulus_set,
                group=group,
            )
            try:
                data_array.attrs[group] = loader.load()
            except (OSError, ValueError) as error:
                raise ValidationError(
                    f"netCDF group {group!r} of {os.fspath(self.file_path)}",
                    "a group loadable as a MetadataAssembly (one data variable)",
                    f"{type(error).__name__}: {error}",
                ) from error
        return data_array


# ---------------------------------------------------------------------------------------------
# Class resolution

__all__ += ["resolve_assembly_class"]  # kept here, beside the classes it resolves


def resolve_assembly_class(name: str) -> type[DataAssembly]:
    """The assembly class of a catalog's ``class`` column; only known classes resolve
    (:data:`ASSEMBLY_CLASSES`), else :class:`~brainio_dvc.exceptions.UnknownClassError`."""
    from .exceptions import UnknownClassError

    if name not in ASSEMBLY_CLASSES:
        raise UnknownClassError(name, "assembly", sorted(ASSEMBLY_CLASSES))
    return ASSEMBLY_CLASSES[name]
