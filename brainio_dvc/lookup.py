"""Finding identifiers in catalogs (BrainIO API), extended with registries and revisions.

Catalogs come from two kinds of source:

- installed packages, through the ``brainio_lookups`` entry-point group, as in BrainIO;
- DVC registries: the ``registry`` argument, else the configured registries (see
  :mod:`brainio_dvc.config`), else the registry around the current directory.  Each is read
  at ``rev`` (a branch, tag or commit; by default the ``rev`` setting or the default branch).

An explicit ``registry`` or ``rev`` restricts the search to registries.  Identical rows from
several catalogs count once; conflicting rows are an error.
"""

from __future__ import annotations

import csv
import difflib
import functools
import io
import logging
import warnings
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from .cache import atomic_write_text
from .catalogs import (
    BRAINIO_COLUMNS,
    CATALOG_COLUMNS,
    SOURCE_CATALOG,
    TYPE_ASSEMBLY,
    TYPE_STIMULUS_SET,
    Catalog,
)
from .exceptions import (
    AssemblyLookupError,
    CatalogLookupError,
    IdentifierLookupError,
    StimulusSetLookupError,
    ValidationError,
)
from .hashes import sha1_hash
from .registry import default_registry_specs, open_registry

__all__ = [
    "ENTRYPOINT",
    "TYPE_ASSEMBLY",
    "TYPE_STIMULUS_SET",
    "append",
    "combined_catalog",
    "get_catalog",
    "get_catalogs",
    "list_assemblies",
    "list_catalogs",
    "list_stimulus_sets",
    "lookup_assembly",
    "lookup_identifier",
    "lookup_stimulus_set",
    "refresh",
    "sha1_hash",
]

logger = logging.getLogger(__name__)

ENTRYPOINT = "brainio_lookups"
#: Columns that say where a row came from rather than what it describes.
_PROVENANCE_COLUMNS = (SOURCE_CATALOG, "catalog", "registry", "rev")


@functools.lru_cache(maxsize=1)
def _entry_point_catalogs() -> dict[str, Catalog]:
    """Catalogs of installed packages, discovered once; a broken one warns and is skipped."""
    catalogs = {}
    for entry_point in sorted(metadata.entry_points(group=ENTRYPOINT), key=lambda e: e.name):
        try:
            catalog = entry_point.load()()
        except Exception as error:  # noqa: BLE001 - a broken plugin must not break the others
            warnings.warn(
                f"catalog entry point {entry_point.name!r} ({entry_point.value}) failed to load "
                f"and is skipped: {type(error).__name__}: {error}",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        if not isinstance(catalog, pd.DataFrame):
            warnings.warn(
                f"catalog entry point {entry_point.name!r} returned {type(catalog).__name__}, "
                "expected a Catalog; skipped",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        catalog = Catalog(catalog) if not isinstance(catalog, Catalog) else catalog
        catalog.identifier = entry_point.name
        catalogs[entry_point.name] = catalog
    return catalogs


def refresh() -> None:
    """Forget discovered entry points and combined catalogs (after installing a package)."""
    _entry_point_catalogs.cache_clear()
    _combined_memo.clear()


def _registry_catalogs(rev: str | None, registry: str | None) -> list[tuple[str, Catalog]]:
    specs = [registry] if registry else default_registry_specs()
    found = []
    for spec in specs:
        source = open_registry(spec)
        commit = source.resolve(rev)
        found.extend(source.catalogs(commit).items())
    return found


def get_catalogs(rev: str | None = None, registry: str | None = None) -> dict[str, Catalog]:
    """Every catalog by identifier; the first source wins when two use the same name."""
    sources = _registry_catalogs(rev, registry)
    if registry is None and rev is None:
        sources += list(_entry_point_catalogs().items())
    catalogs: dict[str, Catalog] = {}
    for name, catalog in sources:
        if name in catalogs:
            logger.warning("catalog %r found twice; using %s", name, getattr(catalogs[name], "url", None) or "the first")
            continue
        catalogs[name] = catalog
    return catalogs


def list_catalogs(rev: str | None = None, registry: str | None = None) -> list[str]:
    """Sorted identifiers of all catalogs."""
    return sorted(get_catalogs(rev=rev, registry=registry))


def get_catalog(identifier: str, rev: str | None = None, registry: str | None = None) -> Catalog:
    """One catalog by identifier."""
    catalogs = get_catalogs(rev=rev, registry=registry)
    if identifier not in catalogs:
        raise CatalogLookupError(identifier, suggestions=_close(identifier, catalogs))
    return catalogs[identifier]


@dataclass
class _Combined:
    """All catalogs of one set of sources, with an index from identifier to rows."""

    catalog: Catalog
    index: dict[tuple[str, str], list[dict[str, Any]]]
    searched: list[str]
    #: The source catalogs, kept alive so that the ids in the memo key stay theirs.
    sources: tuple[Catalog, ...] = ()


_combined_memo: dict[tuple[Any, ...], _Combined] = {}


def _source_key(catalogs: Mapping[str, Catalog]) -> tuple[Any, ...]:
    # Registry catalogs are immutable per commit; entry-point catalogs per process.
    return tuple((name, id(catalog)) for name, catalog in catalogs.items())


def _combine(rev: str | None, registry: str | None) -> _Combined:
    catalogs = get_catalogs(rev=rev, registry=registry)
    key = _source_key(catalogs)
    if key not in _combined_memo:
        combined = _build_combined(catalogs)
        combined.sources = tuple(catalogs.values())
        _combined_memo[key] = combined
    return _combined_memo[key]


def _row_content(row: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple("" if pd.isna(row.get(c)) else str(row.get(c)) for c in CATALOG_COLUMNS)


def _build_combined(catalogs: Mapping[str, Catalog]) -> _Combined:
    index: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for name, catalog in catalogs.items():
        for row in catalog.to_dict(orient="records"):
            row[SOURCE_CATALOG] = name
            rows = index[(row["lookup_type"], row["identifier"])]
            if any(_row_content(existing) == _row_content(row) for existing in rows):
                continue
            rows.append(row)
    for (lookup_type, identifier), rows in index.items():
        _check_no_conflict(lookup_type, identifier, rows)
    frames = [pd.DataFrame(rows) for rows in index.values()]
    combined = Catalog(pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*BRAINIO_COLUMNS, SOURCE_CATALOG]))
    combined.identifier = "combined"
    searched = [f"catalog {name!r}" + (f" of {c.url}" if getattr(c, "url", None) else "") for name, c in catalogs.items()]
    return _Combined(catalog=combined, index=dict(index), searched=searched)


def _check_no_conflict(lookup_type: str, identifier: str, rows: list[dict[str, Any]]) -> None:
    expected = 1 if lookup_type == TYPE_ASSEMBLY else 2
    roles = [bool(row.get("class")) for row in rows]
    if len(rows) > expected or len(set(roles)) != len(roles):
        sources = ", ".join(f"{row[SOURCE_CATALOG]} ({row['location']})" for row in rows)
        raise ValidationError(
            f"{lookup_type} {identifier!r}",
            "one definition across all catalogs",
            f"conflicting rows in {sources}",
            hint="pass registry= or remove one of the catalogs",
        )


def combined_catalog(rev: str | None = None, registry: str | None = None) -> Catalog:
    """All catalogs in one table, with the column ``source_catalog``."""
    return _combine(rev, registry).catalog.copy()


def _identifiers(lookup_type: str, rev: str | None, registry: str | None) -> list[str]:
    index = _combine(rev, registry).index
    return sorted(identifier for (kind, identifier) in index if kind == lookup_type)


def list_assemblies(rev: str | None = None, registry: str | None = None) -> list[str]:
    """Sorted identifiers of all assemblies."""
    return _identifiers(TYPE_ASSEMBLY, rev, registry)


def list_stimulus_sets(rev: str | None = None, registry: str | None = None) -> list[str]:
    """Sorted identifiers of all stimulus sets."""
    return _identifiers(TYPE_STIMULUS_SET, rev, registry)


def _close(identifier: str, known: Any) -> list[str]:
    return difflib.get_close_matches(identifier, list(known), n=3, cutoff=0.6)


def _rows(lookup_type: str, identifier: str, rev: str | None, registry: str | None) -> list[dict[str, Any]]:
    combined = _combine(rev, registry)
    rows = combined.index.get((lookup_type, identifier))
    if rows:
        return rows
    error = AssemblyLookupError if lookup_type == TYPE_ASSEMBLY else StimulusSetLookupError
    known = [name for kind, name in combined.index if kind == lookup_type]
    raise error(identifier, searched=combined.searched, suggestions=_close(identifier, known))


def lookup_identifier(identifier: str, rev: str | None = None, registry: str | None = None) -> list[dict[str, Any]]:
    """The catalog rows of an identifier of either kind (the CLI's lookup)."""
    combined = _combine(rev, registry)
    for lookup_type in (TYPE_ASSEMBLY, TYPE_STIMULUS_SET):
        if (lookup_type, identifier) in combined.index:
            rows = combined.index[(lookup_type, identifier)]
            return sorted(rows, key=lambda row: not row.get("class"))
    known = {name for _, name in combined.index}
    raise IdentifierLookupError(identifier, searched=combined.searched, suggestions=_close(identifier, known))


def lookup_assembly(identifier: str, rev: str | None = None, registry: str | None = None) -> pd.Series:
    """The catalog row of an assembly."""
    return pd.Series(_rows(TYPE_ASSEMBLY, identifier, rev, registry)[0])


def lookup_stimulus_set(identifier: str, rev: str | None = None, registry: str | None = None) -> pd.DataFrame:
    """The two catalog rows of a stimulus set: its CSV (``class`` set) first, then its ZIP."""
    rows = _rows(TYPE_STIMULUS_SET, identifier, rev, registry)
    ordered = sorted(rows, key=lambda row: not row.get("class"))
    if len(ordered) != 2 or not ordered[0].get("class") or ordered[1].get("class"):
        raise ValidationError(
            f"stimulus set {identifier!r}",
            "two catalog rows, one CSV with a class and one ZIP without",
            f"{len(rows)} rows with classes {[row.get('class') for row in rows]}",
        )
    return pd.DataFrame(ordered)


def append(
    catalog_identifier: str,
    object_identifier: str,
    cls: str | None,
    lookup_type: str,
    location_type: str,
    location: str,
    sha1: str,
    stimulus_set_identifier: str | None = None,
) -> None:
    """Add a row to a catalog's CSV file (an installed package's catalog, not a registry's,
    whose catalogs are generated: package into a registry with :mod:`brainio_dvc.packaging`).

    Refuses a duplicate, except the second half (CSV or ZIP) of a stimulus set.
    """
    catalog = get_catalog(catalog_identifier)
    source = catalog.attrs.get("source_path")
    if "registry" in catalog.columns or not source or not Path(source).is_file():
        raise ValidationError(
            f"catalog {catalog_identifier!r}",
            "a catalog CSV file of an installed package",
            "a generated registry catalog" if "registry" in catalog.columns else "no CSV file behind it",
            hint="registries are changed with package_stimulus_set / package_data_assembly",
        )
    role = bool(cls)
    clashes = catalog[(catalog["identifier"] == object_identifier) & (catalog["lookup_type"] == lookup_type)]
    if any(bool(existing) == role for existing in clashes["class"].fillna("")) or (
        lookup_type == TYPE_ASSEMBLY and len(clashes)
    ):
        raise ValidationError(
            f"catalog {catalog_identifier!r}", f"no {lookup_type} {object_identifier!r} yet", "one already"
        )
    row = {
        "identifier": object_identifier,
        "lookup_type": lookup_type,
        "class": cls or "",
        "location_type": location_type,
        "location": location,
        "sha1": sha1,
        "stimulus_set_identifier": stimulus_set_identifier or "",
    }
    text = Path(source).read_text(encoding="utf-8")
    header = next(csv.reader([text.splitlines()[0]]))
    line = _csv_line([row.get(column, "") for column in header])
    separator = "" if text.endswith("\n") else "\n"
    atomic_write_text(Path(source), text + separator + line)
    refresh()


def _csv_line(values: list[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()
