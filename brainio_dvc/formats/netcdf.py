"""Reading and writing assemblies as netCDF-4 files in the BrainIO format.

A BrainIO assembly file holds exactly one data variable; every other variable is metadata
(coordinates), and metadata of other dimensions may sit in netCDF groups. The global attributes
``identifier`` and ``stimulus_set_identifier`` name the assembly and its stimulus set.

MultiIndexes cannot be stored in netCDF: :func:`write_netcdf` flattens them into plain
coordinates, and the :class:`~brainio_dvc.assemblies.DataAssembly` constructor gathers them
again on load. Missing values in string coordinates are written as empty strings (netCDF
strings have no missing value).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Hashable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from numbers import Number
from os import PathLike
from pathlib import Path
from typing import Any, TypeVar

import netCDF4
import numpy as np
import pandas as pd
import xarray as xr
from xarray.indexes import PandasMultiIndex

from ..exceptions import ValidationError
from ..memory import release_freed_memory
from ..progress import tracker
from .atomic import atomic_path
from .hashes import sha1_hash
from .values import is_missing

__all__ = [
    "REQUIRED_ATTRS",
    "describe_netcdf",
    "read_assembly_attrs",
    "read_data_array",
    "read_while_preparing",
    "validate_netcdf",
    "write_netcdf",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

REQUIRED_ATTRS = ("identifier", "stimulus_set_identifier")
"""Global attributes every BrainIO assembly file must have."""

# The names xarray gives an unnamed data variable, and the attribute that records a name which
# clashes with a coordinate; kept identical so that ``xr.open_dataarray`` reads our files.
DATAARRAY_VARIABLE = "__xarray_dataarray_variable__"
DATAARRAY_NAME = "__xarray_dataarray_name__"

_CHUNK_TARGET_BYTES = 4 << 20
#: Entries per chunk along every dimension of a variable but its longest (see _chunk_shape).
_CROSS_CHUNK = 64
"""Compressed variables are chunked into pieces of at most this many bytes."""
_MAX_FIXED_WIDTH = 128
"""String coordinates no longer than this are stored as character arrays (small and fast)."""


# --- writing ----------------------------------------------------------------------------------


def write_netcdf(
    assembly: xr.DataArray,
    target_netcdf_file: str | PathLike[str],
    append: bool = False,
    group: str | None = None,
    compress: bool = True,
    *,
    compression_level: int = 1,
    shuffle: bool = True,
) -> str:
    """Write an assembly to a netCDF-4 file and return the file's SHA-1.

    :param assembly: the DataAssembly (or any DataArray) to write.
    :param target_netcdf_file: where to write.
    :param append: add to an existing file (typically a ``group``) instead of replacing it.
    :param group: the netCDF group to write into; the root group when None.
    :param compress: compress the data and coordinates with zlib (and byte shuffling).
    :param compression_level: zlib level from 1 (fast, the default) to 9 (smallest).
    :param shuffle: apply the HDF5 byte-shuffle filter before zlib (usually smaller files; for
        noisy float data without it can be smaller, so measure when size matters).
    :return: the SHA-1 of the written file.
    """
    if not 1 <= compression_level <= 9:
        msg = f"compression_level must be between 1 and 9, got {compression_level}"
        raise ValueError(msg)
    target = Path(target_netcdf_file)
    dataset = _to_dataset(assembly)
    level = compression_level if compress else None
    for variable in dataset.variables.values():
        variable.encoding = _variable_encoding(variable, level, shuffle)
    logger.debug("writing assembly to %s (group %s, append %s)", target, group, append)
    with tracker("write", target.name, None):
        if append and target.exists():
            dataset.to_netcdf(target, mode="a", group=group, engine="netcdf4", format="NETCDF4")
        else:
            _write_atomically(dataset, target, group)
    return sha1_hash(target)


def _write_atomically(dataset: xr.Dataset, target: Path, group: str | None) -> None:
    """Write to a temporary file beside ``target``, then move it into place."""
    with atomic_path(target) as temporary:
        dataset.to_netcdf(temporary, mode="w", group=group, engine="netcdf4", format="NETCDF4")


def _to_dataset(assembly: xr.DataArray) -> xr.Dataset:
    """A Dataset ready for netCDF: flat coordinates, storable attrs, fresh variables."""
    plain = xr.DataArray(assembly)
    multi_indexes = [
        name
        for name, index in plain.xindexes.items()
        if isinstance(index, PandasMultiIndex) and name == index.dim
    ]
    if multi_indexes:
        plain = plain.reset_index(multi_indexes)
    plain = plain.assign_coords(
        {
            name: (variable.dims, _storable_values(variable.values), variable.attrs)
            for name, variable in plain.coords.variables.items()
            if name not in plain.xindexes and variable.dtype == object
        }
    )
    attrs = storable_attrs(assembly.attrs)
    name = assembly.name
    if name is None or name in plain.coords or name in plain.dims:
        dataset = plain.to_dataset(name=DATAARRAY_VARIABLE, promote_attrs=False)
        if name is not None:
            attrs = {**attrs, DATAARRAY_NAME: name}
        data_name: Hashable = DATAARRAY_VARIABLE
    else:
        dataset = plain.to_dataset(promote_attrs=False)
        data_name = name
    # Fresh variables, so that setting their encodings leaves the caller's assembly untouched.
    dataset = dataset.copy(deep=False)
    dataset.attrs = dict(attrs)
    # Also on the data variable, where BrainIO 1.x (``xr.open_dataarray``) looks for them.
    dataset[data_name].attrs = storable_attrs(assembly.attrs)
    return dataset


def _storable_values(values: np.ndarray) -> np.ndarray:
    """Object arrays as netCDF can store them: strings stay strings, numbers get a real dtype."""
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind in ("string", "empty"):
        return np.array([_as_string(value) for value in values], dtype=object)
    if kind in ("integer", "floating", "mixed-integer-float", "boolean", "datetime64", "datetime"):
        converted = pd.Series(values.tolist())  # infers int64, float64 (NaN), bool, datetime64
        if converted.dtype != object:
            return converted.to_numpy()
    return np.array([_as_string(value) for value in values], dtype=object)


def _as_string(value: object) -> str:
    """A string for netCDF: missing values become empty strings."""
    if isinstance(value, str):
        return value
    if is_missing(value):
        return ""
    return str(value)


def storable_attrs(attrs: Mapping[Hashable, Any]) -> dict[str, Any]:
    """The attrs netCDF can hold; the others (DataFrames, None, dicts, objects) are dropped."""
    result: dict[str, Any] = {}
    for name, value in attrs.items():
        storable = _storable_attr(value)
        if storable is None:
            logger.debug(
                "dropping attribute %r of type %s: netCDF cannot store it", name, type(value)
            )
            continue
        result[str(name)] = storable
    return result


def _storable_attr(value: object) -> Any:
    """``value`` as a netCDF attribute, or None when netCDF cannot hold it."""
    if isinstance(value, bool | np.bool_):
        return np.int8(value)
    if isinstance(value, str | bytes | Number | np.number):
        return value
    if isinstance(value, list | tuple | np.ndarray):
        array = np.asarray(value)
        if array.ndim == 1 and array.size > 0 and array.dtype.kind in "iufU":
            return array
    return None


def _variable_encoding(variable: xr.Variable, level: int | None, shuffle: bool) -> dict[str, Any]:
    """How one variable is stored: compressed and chunked when it has dimensions."""
    encoding: dict[str, Any] = {}
    if variable.dtype.kind == "f":
        encoding["_FillValue"] = None  # NaN needs no fill value; this also spares the masking
    if variable.ndim == 0:
        return encoding
    if variable.dtype.kind in "OU" and _fits_fixed_width(variable.values):
        encoding["dtype"] = "S1"
    if level is not None:
        encoding.update(zlib=True, complevel=level, shuffle=shuffle)
        if encoding.get("dtype") != "S1":
            encoding["chunksizes"] = _chunk_shape(variable.shape, variable.dtype.itemsize)
    return encoding


def _fits_fixed_width(values: np.ndarray) -> bool:
    """Whether a string array is short enough to store as a character array."""
    if values.size == 0:
        return False
    lengths = np.char.str_len(values.astype(str)) if values.dtype == object else None
    longest = int(lengths.max()) if lengths is not None else values.dtype.itemsize // 4
    return 0 < longest <= _MAX_FIXED_WIDTH


def _chunk_shape(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """Chunks of at most ``_CHUNK_TARGET_BYTES`` that make selections along any axis cheap.

    Every dimension but the longest is cut into pieces of at most ``_CROSS_CHUNK`` entries,
    then the longest one is halved until a chunk fits.  For 148,480 presentations x 256
    neuroids of float32 that is (9,280 x 64), 2.4 MB: selecting the neuroids of one region reads the
    chunks of those neuroids only, and a block of presentations the chunks of that block.
    (Halving the longest dimension alone gave (2,320 x 256): every neuroid in every chunk, so
    any neuroid selection read the whole file.)
    """
    chunks = [max(size, 1) for size in shape]
    if len(chunks) > 1:
        longest = int(np.argmax(chunks))
        chunks = [size if axis == longest else min(size, _CROSS_CHUNK) for axis, size in enumerate(chunks)]
    while np.prod(chunks) * max(itemsize, 1) > _CHUNK_TARGET_BYTES and max(chunks) > 1:
        largest = int(np.argmax(chunks))
        chunks[largest] = (chunks[largest] + 1) // 2
    return tuple(chunks)


# --- reading ----------------------------------------------------------------------------------


def read_data_array(
    path: str | PathLike[str],
    group: str | None = None,
    chunks: Mapping[str, int] | None = None,
) -> xr.DataArray:
    """The data variable of an assembly file as a plain DataArray, global attrs included.

    Without ``chunks`` the values are read into memory and the file is closed; with ``chunks``
    (which needs dask) the file stays open and values are read lazily.
    """
    with _unreadable_as_invalid(path, group):
        if chunks is None:
            with _opened_to_read_once(path, group) as store:
                dataset = _dataset_of(store).load()
        else:
            dataset = xr.open_dataset(path, group=group, engine="netcdf4", chunks=dict(chunks))
    return _single_data_array(dataset, _describe(path, group))


def read_while_preparing(
    path: str | PathLike[str], group: str | None, prepare: Callable[[xr.DataArray], T]
) -> tuple[T, np.ndarray]:
    """``prepare(data_array)`` of the file's data variable, with its coordinates and attrs read
    but not its values, and the values, read meanwhile in a second thread; the file is closed
    on return, and ``prepare``'s error is raised once the read has ended.

    netCDF-C decompresses the values without holding the GIL, so ``prepare`` runs in the
    calling thread while they are read (as :class:`~brainio_dvc.arrays.loaders.AssemblyLoader`
    does); it must not read the values. It runs there, not in a pool thread, so that what it
    allocates stays in the main thread's malloc arena, reusable afterwards (in a thread of its
    own the peak RSS of a 4x load was 33 MB higher). ``prepare`` holds the only reference to
    the data array it is given, so that what it does not keep (coordinates it replaced) is
    freed as soon as it returns, not once the values are in: that lowers the peak of a load by
    the size of the file's presentation coordinates, once what was freed is handed back to the
    operating system (:func:`~brainio_dvc.memory.release_freed_memory`).
    (:func:`~brainio_dvc.parallel.side_by_side` takes callables, and a callable holding the
    data array would keep it to the end.)
    """
    with _opened_to_read_once(path, group) as store:
        with _unreadable_as_invalid(path, group):
            dataset = _dataset_of(store)
            for variable in dataset.coords.variables.values():
                variable.load()
        values = dataset.variables[next(iter(dataset.data_vars))]
        handed_over = [_single_data_array(dataset, _describe(path, group))]
        del dataset
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="brainio-dvc") as pool:
            read = pool.submit(_read_values, values, path, group)
            prepared = prepare(handed_over.pop())  # outside _unreadable_as_invalid: its own errors
            release_freed_memory()  # what prepare freed, before the values fill their array
        return prepared, read.result()


def _read_values(values: xr.Variable, path: str | PathLike[str], group: str | None) -> np.ndarray:
    with _unreadable_as_invalid(path, group):
        return np.asarray(values.load().data)


@contextlib.contextmanager
def _opened_to_read_once(path: str | PathLike[str], group: str | None) -> Iterator[xr.backends.NetCDF4DataStore]:
    """The file opened with no HDF5 chunk cache, for reading each variable once, whole; closed
    at the end of the block. A file netCDF cannot open raises ValidationError naming it.

    The cache (64 MB a variable by default) would only keep decompressed chunks that are never
    read again, and the memory it took stays with the process after the file is closed: without
    it the peak RSS of loading a 0.6 GB assembly is 8% lower, and the load no slower.
    """
    with _unreadable_as_invalid(path, group):
        store = xr.backends.NetCDF4DataStore.open(os.fspath(path), group=group)
    try:
        with _unreadable_as_invalid(path, group):
            for variable in store.ds.variables.values():
                variable.set_var_chunk_cache(size=0)
        yield store
    finally:
        store.close()


def _dataset_of(store: xr.backends.NetCDF4DataStore) -> xr.Dataset:
    """The dataset of an opened store, lazily. The engine is named: without one, xarray reads
    the entry points of every installed distribution to guess it, once per process: about 10 ms,
    a ninth of a small assembly's warm load."""
    return xr.open_dataset(store, engine="store")


@contextlib.contextmanager
def _unreadable_as_invalid(path: str | PathLike[str], group: str | None) -> Iterator[None]:
    """A file netCDF cannot read raises ValidationError naming it (a missing one stays
    FileNotFoundError, and a ValidationError raised inside, which names it already, goes on)."""
    try:
        yield
    except (OSError, ValueError, RuntimeError) as error:  # RuntimeError: netCDF4's "NetCDF: HDF error"
        if isinstance(error, (FileNotFoundError, ValidationError)):
            raise
        found = f"an unreadable file ({type(error).__name__}: {error})"
        raise ValidationError(_describe(path, group), "a netCDF-4 assembly file", found) from error


def _single_data_array(dataset: xr.Dataset, source: str) -> xr.DataArray:
    """The one data variable of ``dataset``, carrying the global attrs too."""
    names = list(dataset.data_vars)
    if len(names) != 1:
        raise ValidationError(
            subject=source,
            expected="exactly one data variable (all other variables being coordinates)",
            found=f"{len(names)} data variables: {', '.join(map(str, names)) or 'none'}",
        )
    data_array = dataset[names[0]]
    global_attrs = dict(dataset.attrs)
    name = global_attrs.pop(DATAARRAY_NAME, None)
    if name is None and names[0] != DATAARRAY_VARIABLE:
        name = names[0]
    data_array.attrs = {**global_attrs, **data_array.attrs}
    return data_array.rename(name)


def _describe(path: str | PathLike[str], group: str | None) -> str:
    return f"netCDF file {os.fspath(path)}" + (f", group {group!r}" if group else "")


# --- inspection without reading the data ------------------------------------------------------


def read_assembly_attrs(path: str | PathLike[str], group: str | None = None) -> dict[str, Any]:
    """Global attributes of an assembly file (or group), without reading any data."""
    with netCDF4.Dataset(path, "r") as root:
        node = root[group] if group else root
        return {name: node.getncattr(name) for name in node.ncattrs()}


def validate_netcdf(path: str | PathLike[str]) -> None:
    """Check that a file is an assembly in the BrainIO format, without reading its data.

    :raises ValidationError: when the file does not have exactly one data variable, or lacks
        the global attributes ``identifier`` and ``stimulus_set_identifier``.
    """
    subject = _describe(path, None)
    with _open_netcdf(path) as root:
        data_variable = _single_data_variable(root, subject)
        present = set(root.ncattrs())
        missing = [name for name in REQUIRED_ATTRS if name not in present]
        if missing:
            on_variable = set(root[data_variable].ncattrs()) & set(missing)
            hint = (
                f"{', '.join(sorted(on_variable))} found only on the data variable "
                "(as BrainIO 1.x wrote them); write the file with write_netcdf"
                if on_variable
                else "set them in assembly.attrs before write_netcdf"
            )
            raise ValidationError(
                subject,
                f"global attributes {', '.join(REQUIRED_ATTRS)}",
                f"{', '.join(missing)} missing (present: {', '.join(sorted(present)) or 'none'})",
                hint=hint,
            )


def describe_netcdf(path: str | PathLike[str]) -> dict[str, Any]:
    """Dimensions, shape and dtype of an assembly file's data variable, without reading it.

    :raises ValidationError: when the file is not netCDF-4 or has not exactly one data variable.
    """
    with _open_netcdf(path) as root:
        variable = root[_single_data_variable(root, _describe(path, None))]
        return {"dims": list(variable.dimensions), "shape": list(variable.shape), "dtype": str(variable.dtype)}


def _open_netcdf(path: str | PathLike[str]) -> netCDF4.Dataset:
    try:
        return netCDF4.Dataset(path, "r")
    except OSError as error:
        found = f"an unreadable file ({error})"
        raise ValidationError(_describe(path, None), "a netCDF-4 file", found) from error


def _single_data_variable(root: netCDF4.Dataset, subject: str) -> str:
    data_variables = _data_variable_names(root)
    if len(data_variables) != 1:
        raise ValidationError(
            subject,
            "exactly one data variable (all other variables being coordinates)",
            f"{len(data_variables)} data variables: {', '.join(data_variables) or 'none'}",
        )
    return data_variables[0]


def _data_variable_names(node: netCDF4.Dataset) -> list[str]:
    """Variables that are neither dimension coordinates nor listed as coordinates."""
    coordinates: set[str] = set(node.dimensions)
    holders: list[Any] = [node, *node.variables.values()]
    for holder in holders:
        if "coordinates" in holder.ncattrs():
            coordinates.update(str(holder.getncattr("coordinates")).split())
    return [name for name in node.variables if name not in coordinates]
