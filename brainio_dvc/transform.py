"""Aligning one assembly to another (BrainIO's ``brainio.transform``)."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .assemblies import get_metadata, take, walk_coords
from .exceptions import ValidationError

__all__ = ["index_efficient", "subset", "walk_coords"]


def subset(
    source_assembly: xr.DataArray,
    target_assembly: xr.DataArray,
    subset_dims: Iterable[Hashable] | None = None,
    dims_must_match: bool = True,
    repeat: bool = False,
) -> xr.DataArray:
    """The part of ``source_assembly`` whose coordinates align with ``target_assembly``.

    For each subset dimension, every coordinate (level) of that dimension in the target that
    the source also has is used: source entries are kept when their values occur in the
    target's. The source's order is kept.

    :param subset_dims: dimensions (all their levels are used) or level names (only those are
        used, along their dimension); by default all of the target's dimensions.
    :param dims_must_match: require the result to have as many entries along each subset
        dimension as the target.
    :param repeat: follow the target's order instead, repeating source entries as often as
        the target has them; entries are matched on the tuple of shared levels (the first
        source entry of each tuple is used).
    :raises ValidationError: when a dimension or level is missing, no level is shared, or the
        sizes differ while ``dims_must_match``.
    """
    for name in list(subset_dims or target_assembly.dims):
        dim, levels = _dim_and_levels(source_assembly, target_assembly, name)
        if repeat:
            positions = _repeating_positions(source_assembly, target_assembly, levels)
        else:
            positions = _matching_positions(source_assembly, target_assembly, levels)
        source_assembly = take(source_assembly, {dim: positions})
        if dims_must_match and source_assembly.sizes[dim] != target_assembly.sizes[dim]:
            raise ValidationError(
                subject=f"subset along {dim!r}",
                expected=f"{target_assembly.sizes[dim]} entries (as many as the target has)",
                found=f"{source_assembly.sizes[dim]} entries in the source subset",
                hint="pass dims_must_match=False to accept a partial match",
            )
    return source_assembly


def _dim_and_levels(
    source: xr.DataArray, target: xr.DataArray, name: Hashable
) -> tuple[Hashable, list[Hashable]]:
    """The dimension ``name`` stands for and the target's levels of it that the source has."""
    if name in target.dims:
        dim = name
        candidates = list(
            get_metadata(target, dims=(dim,), names_only=True, include_multi_indexes=False)
        ) or [dim]
    elif name in target.coords and len(target[name].dims) == 1:
        dim, candidates = target[name].dims[0], [name]
    else:
        raise ValidationError(
            subject=f"subset dimension {name!r}",
            expected="a dimension or a 1-D coordinate of the target assembly",
            found="dims " + ", ".join(map(str, target.dims)),
        )
    if dim not in source.dims:
        raise ValidationError(
            subject=f"subset dimension {dim!r}",
            expected="a dimension of the source assembly too",
            found="source dims " + ", ".join(map(str, source.dims)),
        )
    levels = [
        level
        for level in candidates
        if (level in source.coords or level in source.dims) and source[level].dims == (dim,)
    ]
    if not levels:
        raise ValidationError(
            subject=f"subset along {dim!r}",
            expected="at least one coordinate of the target's " + ", ".join(map(str, candidates))
            + " in the source",
            found="none of them",
        )
    return dim, levels


def _matching_positions(
    source: xr.DataArray, target: xr.DataArray, levels: list[Hashable]
) -> np.ndarray:
    """Positions of source entries whose value of every level occurs in the target."""
    keep = np.ones(source[levels[0]].size, dtype=bool)
    for level in levels:
        keep &= np.asarray(pd.Index(source[level].values).isin(target[level].values))
    return np.flatnonzero(keep)


def _repeating_positions(
    source: xr.DataArray, target: xr.DataArray, levels: list[Hashable]
) -> np.ndarray:
    """For each target entry in order, the position of the source entry with the same levels."""
    source_keys = _keys(source, levels)
    firsts = np.flatnonzero(~source_keys.duplicated())
    found = source_keys[firsts].get_indexer(_keys(target, levels))
    return firsts[found[found >= 0]]


def _keys(assembly: xr.DataArray, levels: list[Hashable]) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays([assembly[level].values for level in levels], names=levels)


def index_efficient(source_values: Sequence[Any], target_values: Sequence[Any]) -> list[int]:
    """Positions in ``source_values`` of the values of ``target_values``, repeats included.

    BrainIO's merge of the two sorted sequences: each target value takes the next equal
    source value, and a run of equal source values is taken whole.  Used by ``subset`` with
    ``repeat=True`` in BrainIO; kept for scripts that call it directly.
    """
    source_order, target_order = np.argsort(source_values, kind="stable"), np.argsort(target_values, kind="stable")
    source, target = np.asarray(source_values)[source_order], np.asarray(target_values)[target_order]
    positions: list[int] = []
    at_source, at_target = 0, 0
    while at_source < len(source) and at_target < len(target):
        if source[at_source] < target[at_target]:
            at_source += 1
        elif source[at_source] > target[at_target]:
            at_target += 1
        else:
            positions.append(int(source_order[at_source]))
            target_repeats = at_target + 1 < len(target) and target[at_target + 1] == target[at_target]
            source_moves_on = at_source + 1 < len(source) and source[at_source + 1] > target[at_target]
            if target_repeats or source_moves_on:
                at_target += 1
            else:
                at_source += 1
    return positions
