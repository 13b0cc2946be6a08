"""Loaders of the BrainIO netCDF format: read the file (eagerly, or lazily with dask chunks),
add ``stimulus_id`` to legacy assemblies, and attach or merge the stimulus set.

:class:`~brainio_dvc.assemblies.GroupAppendAssemblyLoader`, which loads a file's groups as
``MetadataAssembly`` attrs, lives beside the assembly classes.
"""

from __future__ import annotations

import ast
import importlib.util
import logging
import os
from collections.abc import Callable, Mapping
from os import PathLike
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd
import xarray as xr

from ..exceptions import ConfigurationError, ValidationError
from ..formats.netcdf import read_data_array, read_while_preparing
from .indexes import levels_to_extend

if TYPE_CHECKING:
    from ..assemblies import DataAssembly

__all__ = [
    "BRAINIO_CHUNKS",
    "AssemblyLoader",
    "StimulusMergeAssemblyLoader",
    "StimulusReferenceAssemblyLoader",
    "coordinates_only",
]

logger = logging.getLogger(__name__)

#: The environment variable that makes loaders open assemblies lazily with dask chunks.
BRAINIO_CHUNKS = "BRAINIO_CHUNKS"
_EXAMPLES_SHOWN = 5
_COORDINATES_ONLY = "_brainio_coordinates_only"

_Prepare = TypeVar("_Prepare", bound=Callable[..., Any])


def coordinates_only(prepare: _Prepare) -> _Prepare:
    """Mark a loader's ``_prepare`` as one that changes coordinates and attrs only: it neither
    reads the values nor reorders, selects or replaces them, and it does not open the file.
    :meth:`AssemblyLoader.load` then runs it while another thread reads the values.

    A subclass that overrides ``_prepare`` without this mark is prepared after the read.
    """
    setattr(prepare, _COORDINATES_ONLY, True)
    return prepare


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


def _code_dtype(count: int) -> type[np.signedinteger[Any]]:
    """The narrowest integer type of the codes of ``count`` distinct values (and -1, missing),
    the one pandas stores MultiIndex codes in."""
    for dtype in (np.int8, np.int16, np.int32):
        if count < np.iinfo(dtype).max:
            return dtype
    return np.int64


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
        """Read the file, add metadata, and gather the indexes once.

        An eager load whose ``_prepare`` is :func:`coordinates_only` reads the coordinates
        first, then reads the values and runs ``_prepare`` side by side, in two threads:
        netCDF-C decompresses without the GIL, so merging a stimulus set costs no time on a
        second core.
        """
        if self._chunks() is None and self._prepares_while_reading():
            return self.assembly_class(self._read_while_preparing())
        return self.assembly_class(self._prepare(self._read()))

    def _chunks(self) -> Mapping[str, int] | None:
        """The dask chunks to open the file with; None: read it into memory."""
        chunks = _chunks_from_environment() if self.chunks is None else self.chunks
        if self.chunks is not None and importlib.util.find_spec("dask") is None:
            msg = "lazy"
            raise ConfigurationError(msg, True, "used with dask installed (pip install 'brainio-dvc[dask]')",
                                     "the lazy=True argument")
        if chunks is not None and importlib.util.find_spec("dask") is None:
            logger.debug("%s is set but dask is not installed: loading eagerly", BRAINIO_CHUNKS)
            chunks = None
        return chunks

    def _prepares_while_reading(self) -> bool:
        cls = type(self)
        return cls._read is AssemblyLoader._read and getattr(cls._prepare, _COORDINATES_ONLY, False)

    def _read(self) -> xr.DataArray:
        return read_data_array(self.file_path, group=self.group, chunks=self._chunks())

    def _read_while_preparing(self) -> xr.DataArray:
        prepared, values = read_while_preparing(self.file_path, self.group, self._prepare)
        # As a Variable: xarray takes a Variable's data as it is, where it would check an
        # array's type against dask's, importing dask (a sixth of a second) to do so.
        prepared.data = xr.Variable(prepared.dims, values, fastpath=True)
        return prepared

    @coordinates_only
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

    @coordinates_only
    def _prepare(self, data_array: xr.DataArray) -> xr.DataArray:
        data_array = super()._prepare(data_array)
        data_array.attrs["stimulus_set_identifier"] = self.stimulus_set_identifier
        data_array.attrs["stimulus_set"] = self.stimulus_set
        return data_array


class StimulusMergeAssemblyLoader(StimulusReferenceAssemblyLoader):
    """Loads an assembly and merges the stimulus set's columns into presentation coordinates.

    The merged columns become levels of the presentation MultiIndex directly: each column is
    factorized once over the stimulus set's rows and its codes are mapped through the codes of
    the ``stimulus_id`` level, so nothing is hashed once per presentation.
    """

    @coordinates_only
    def _prepare(self, data_array: xr.DataArray) -> xr.DataArray:
        data_array = super()._prepare(data_array)
        stimulus_set = self.stimulus_set
        if stimulus_set is None or "presentation" not in data_array.dims:
            return data_array
        levels = levels_to_extend(data_array, "presentation")
        if levels.index is None or "stimulus_id" not in levels.index.names:
            raise ValidationError(
                self._subject(),
                "a stimulus_id in the assembly and in the stimulus set",
                "none in the assembly",
            )
        merged = xr.Coordinates.from_pandas_multiindex(self._merged_index(levels.index, stimulus_set), "presentation")
        coords = xr.Coordinates({**levels.other_coords, **merged.variables},
                                indexes={**levels.other_indexes, **merged.xindexes})
        return data_array.drop_vars(levels.replaced).assign_coords(coords)

    def _subject(self) -> str:
        identifier = self.stimulus_set_identifier or getattr(self.stimulus_set, "identifier", None)
        return f"assembly {os.fspath(self.file_path)} with stimulus set {identifier!r}"

    def _stimulus_rows(self, index: pd.MultiIndex, stimulus_set: pd.DataFrame) -> np.ndarray:
        """For every presentation, the row of its stimulus in ``stimulus_set``."""
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

    def _merged_index(self, index: pd.MultiIndex, stimulus_set: pd.DataFrame) -> pd.MultiIndex:
        """``index`` with one more level per new stimulus set column."""
        rows = self._stimulus_rows(index, stimulus_set)
        names, levels, codes = list(index.names), list(index.levels), list(index.codes)
        skipped = set(names) | {"stimulus_id", "presentation"}
        for column in stimulus_set.columns:
            if column in skipped:
                continue
            column_codes, uniques = pd.factorize(stimulus_set[column].to_numpy())
            names.append(column)
            levels.append(pd.Index(uniques))
            # In the narrow integer type the MultiIndex keeps codes in, before they are taken
            # once per presentation: pandas then has nothing to convert.
            codes.append(column_codes.astype(_code_dtype(len(uniques)))[rows])
        # pandas-stubs wants Sequences for levels and codes; pandas takes Indexes and arrays.
        return pd.MultiIndex(levels=levels, codes=codes, names=names, verify_integrity=False)  # type: ignore[arg-type]
