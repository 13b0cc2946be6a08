"""DataAssembly, its subclasses and their loaders (BrainIO's ``brainio.assemblies``).

A :class:`DataAssembly` is an :class:`xarray.DataArray` whose coordinates of each dimension are
gathered into one pandas MultiIndex, so that ``assembly.sel(level=value)`` works for any
coordinate. Loaders read the BrainIO netCDF format and attach the stimulus set.

This module is BrainIO's face: the classes, and every name BrainIO's module had.  The machinery
beneath them is in :mod:`brainio_dvc.arrays` (indexes, grouping, loaders) and re-exported here.
"""

from __future__ import annotations

import itertools
import logging
import os
import warnings
from collections.abc import Callable, Hashable, Mapping, Sequence
from os import PathLike
from typing import Any, ClassVar, cast, overload

import netCDF4
import numpy as np
import pandas as pd
import xarray as xr
from xarray.core.indexing import PandasIndexingAdapter

from .arrays import selection
from .arrays.grouping import (
    _MULTI_GROUP,
    GroupbyBridge,
    _cell_values,
    _Partition,
    _simplify,
    _single_dim_of,
)
from .arrays.indexes import (
    Metadata,  # noqa: F401 - importable from here, as before the split
    _kind,
    array_is_element,
    coords_for_dim,
    gather_indexes,
    get_levels,
    get_metadata,
    get_metadata_after_2022_06,
    get_metadata_before_2022_06,
    walk_coords,
)
from .arrays.loaders import (
    BRAINIO_CHUNKS,
    AssemblyLoader,
    StimulusMergeAssemblyLoader,
    StimulusReferenceAssemblyLoader,
)
from .arrays.selection import select_repeated
from .exceptions import GroupbyError, ValidationError

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

_FASTPATH_POSITION = 6  # DataArray(data, coords, dims, name, attrs, indexes, fastpath)


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
        self, group_coord_names: Sequence[str] | str, *args: Any, **kwargs: Any
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
        # pandas-stubs types the uniques of any Index as an array, Index or Categorical; a MultiIndex's
        # are a MultiIndex.
        uniques = cast("pd.MultiIndex", uniques).set_names(names)
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
            # xarray types coordinate names Hashable; a non-str one fails here, as in BrainIO.
            outcome = np.asarray(apply(_simplify(passed), **cell_coords))  # type: ignore[arg-type]
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
            msg = f"sel on an assembly with dims {self.dims}"
            raise ValidationError(
                msg,
                "plain labels (no method, tolerance or drop) where a dimension appears twice",
                f"method={method!r}, tolerance={tolerance!r}, drop={drop!r}",
            )
        return select_repeated(self, {**(indexers or {}), **indexers_kwargs})

    def reset_index(self, dims_or_levels: Hashable | Sequence[Hashable], drop: bool = False) -> DataAssembly:
        """``xarray.DataArray.reset_index``; a plain dimension index becomes the coordinate
        ``f"{dim}_"``, as it did in BrainIO (a coordinate could not share its dimension's name).
        """
        # Anything but a str is taken as a sequence of names (a bare non-str Hashable fails in list()).
        names = [dims_or_levels] if isinstance(dims_or_levels, str) else list(dims_or_levels)  # type: ignore[call-overload]
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


@overload
def take(assembly: DataAssembly, positions: Mapping[Hashable, Any]) -> DataAssembly: ...
@overload
def take(assembly: xr.DataArray, positions: Mapping[Hashable, Any]) -> xr.DataArray: ...
def take(assembly: xr.DataArray, positions: Mapping[Hashable, Any]) -> xr.DataArray:
    """``assembly.isel(positions)``, also when a dimension appears more than once: then the
    positions apply to every axis of that dimension, as BrainIO's ``subset`` did
    (:func:`brainio_dvc.arrays.selection.take`; a DataArray's result is a DataAssembly)."""
    return selection.take(assembly, positions, type(assembly) if isinstance(assembly, DataAssembly) else DataAssembly)


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
    _required_dims: ClassVar[tuple[frozenset[str], ...]] = (
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
                msg = f"netCDF group {group!r} of {os.fspath(self.file_path)}"
                raise ValidationError(
                    msg,
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
