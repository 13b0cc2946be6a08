"""Finding identifiers in catalogs (BrainIO API), extended with registries and revisions.

Catalogs come from two kinds of source:

- installed packages, through the ``brainio_lookups`` entry-point group, as in BrainIO;
- DVC registries: the ``registry`` argument, else the configured registries (see
  :mod:`brainio_dvc.config`), else the registry around the current directory.  Each is read
  at ``rev`` (a branch, tag or commit; by default the ``rev`` setting or the default branch).

An explicit ``registry`` or ``rev`` restricts the search to registries.  Identical rows from
several catalogs count once; conflicting rows make a lookup of that identifier an error
(listing still works, and `brainio-dvc catalog check` reports them for a registry).  A
malformed catalog row is set aside with a warning: the catalog's other rows stay usable, and
looking up that row's identifier raises :class:`~brainio_dvc.exceptions.CatalogRowError`
naming the file and the line.

The results are BrainIO 1.1's: :func:`lookup_assembly` gives one row as a pandas Series with
``source_catalog``, :func:`lookup_stimulus_set` a tuple of two (the CSV's row, the ZIP's), and
:func:`append` takes BrainIO's arguments and returns the updated catalog.
"""

from __future__ import annotations

import difflib
import functools
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib import metadata
from os import PathLike
from pathlib import Path
from typing import Any, Literal, NamedTuple, overload

import pandas as pd

from .catalogs import (
    BRAINIO_COLUMNS,
    CATALOG_COLUMNS,
    LOOKUP_TYPES,
    SOURCE_CATALOG,
    TYPE_ASSEMBLY,
    TYPE_STIMULUS_SET,
    Catalog,
    CatalogTable,
    csv_first,
    log_bad_rows,
    read_catalog_text,
    with_appended_row,
)
from .exceptions import (
    AssemblyLookupError,
    CatalogFormatError,
    CatalogLookupError,
    IdentifierLookupError,
    RevisionNotFoundError,
    StimulusSetLookupError,
    ValidationError,
)
from .formats import hashes
from .formats.atomic import atomic_write_text
from .store import state
from .store.registry import Registry, default_registry_specs, open_registry

__all__ = [
    "ENTRYPOINT",
    "SOURCE_CATALOG",
    "TYPE_ASSEMBLY",
    "TYPE_STIMULUS_SET",
    "AssemblyLookupError",
    "Catalog",
    "StimulusSetLookupError",
    "append",
    "combined_catalog",
    "get_catalog",
    "find_assembly_row",
    "find_stimulus_set_rows",
    "get_catalogs",
    "list_assemblies",
    "list_catalogs",
    "list_stimulus_sets",
    "lookup_assembly",
    "lookup_identifier",
    "lookup_stimulus_set",
    "refresh",
    "s3_location",
    "sha1_hash",
]

logger = logging.getLogger(__name__)

ENTRYPOINT = "brainio_lookups"


class _Installed(NamedTuple):
    """An installed package's catalog and its rows, checked as a CSV's are."""

    catalog: Catalog
    table: CatalogTable


def _entry_point_catalogs() -> dict[str, _Installed]:
    """Catalogs of installed packages, discovered once (until :func:`refresh`)."""
    found: dict[str, _Installed] | None = state.INSTALLED.get(ENTRYPOINT)
    if found is None:
        found = state.INSTALLED[ENTRYPOINT] = _discovered_catalogs()
    return found


def _discovered_catalogs() -> dict[str, _Installed]:
    """Catalogs of installed packages; a broken one warns and is skipped.

    A catalog's malformed rows are set aside (and logged once); a catalog without BrainIO's
    columns warns and is skipped.
    """
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
        try:
            table = CatalogTable.from_catalog(entry_point.name, catalog)
        except CatalogFormatError as error:
            warnings.warn(
                f"catalog entry point {entry_point.name!r} ({entry_point.value}) is skipped: {error}",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        # The loader logged the rows it set aside; log the ones only the frame's check found.
        carried = catalog.attrs.get("bad_rows", ())
        log_bad_rows(replace(table, bad_rows=tuple(bad for bad in table.bad_rows if bad not in carried)))
        catalogs[entry_point.name] = _Installed(catalog, table)
    return catalogs


def refresh() -> None:
    """Forget everything this process remembers (:func:`brainio_dvc.store.state.refresh`):
    discovered entry points, opened registries and remotes, catalogs, combined catalogs and
    the pins read from repositories.  Call it after installing a package, editing a lock or a
    ``dvc import``, or changing a registry's catalogs at a moving revision in this process."""
    state.refresh()


@dataclass(frozen=True)
class _Source:
    """One catalog to search: a registry's at a commit, or an installed package's."""

    name: str
    registry: Registry | None = None
    commit: str | None = None
    installed: _Installed | None = None

    def _installed_entry(self) -> _Installed:
        """The installed catalog of a source that is not a registry's (every source has one of
        the two: :func:`_registry_sources` and :func:`_sources` build them so)."""
        if self.installed is None:
            msg = f"catalog source {self.name!r} has neither a registry at a commit nor an installed catalog"
            raise TypeError(msg)
        return self.installed

    @functools.cached_property
    def key(self) -> tuple[Any, ...]:
        # Registry catalogs are immutable per commit; installed ones per process.
        if self.registry is not None:
            return (self.name, self.registry.label, self.commit)
        return (self.name, id(self._installed_entry().catalog))

    @property
    def url(self) -> str | None:
        if self.registry is not None:
            return self.registry.label
        return getattr(self._installed_entry().catalog, "url", None)

    def catalog(self) -> Catalog:
        if self.registry is not None and self.commit is not None:
            return self.registry.catalogs(self.commit)[self.name]
        return self._installed_entry().catalog

    def table(self) -> CatalogTable:
        if self.registry is not None and self.commit is not None:
            return self.registry.catalog_tables(self.commit)[self.name]
        return self._installed_entry().table


def _sources(rev: str | None, registry: str | None, home: Path | None = None) -> dict[str, _Source]:
    """The catalogs to search by name; the first source wins when two use the same name."""
    found: list[_Source] = []
    for spec in [registry] if registry else default_registry_specs():
        source = open_registry(spec, home)
        try:
            commit = source.resolve(rev)
        except RevisionNotFoundError:
            # Asked only when HEAD does not resolve: the check reads the refs a second time.
            if rev is None and source.is_unborn():
                logger.info("registry %s has no commit yet: an empty registry", source.label)
                continue
            raise
        found.extend(_registry_sources(source, commit))
    if registry is None and rev is None:
        found.extend(_Source(name, installed=installed) for name, installed in _entry_point_catalogs().items())
    sources: dict[str, _Source] = {}
    for entry in found:
        if entry.name in sources:
            logger.warning("catalog %r found twice; using %s", entry.name, sources[entry.name].url or "the first")
            continue
        sources[entry.name] = entry
    return sources


def _registry_sources(registry: Registry, commit: str) -> tuple[_Source, ...]:
    """The sources of a registry at a commit: its catalogs are fixed by the commit."""
    tables = registry.catalog_tables(commit)  # read (once per commit) on every call, as before
    key = (registry, commit)
    found: tuple[_Source, ...] | None = state.REGISTRY_SOURCES.get(key)
    if found is None:
        found = state.REGISTRY_SOURCES[key] = tuple(_Source(name, registry=registry, commit=commit) for name in tables)
    return found


def get_catalogs(rev: str | None = None, registry: str | None = None) -> dict[str, Catalog]:
    """Every catalog by identifier; the first source wins when two use the same name."""
    return {name: source.catalog() for name, source in _sources(rev, registry).items()}


def list_catalogs(rev: str | None = None, registry: str | None = None) -> list[str]:
    """Sorted identifiers of all catalogs."""
    return sorted(_sources(rev, registry))


def get_catalog(identifier: str, rev: str | None = None, registry: str | None = None) -> Catalog:
    """One catalog by identifier."""
    sources = _sources(rev, registry)
    if identifier not in sources:
        raise CatalogLookupError(identifier, suggestions=_close(identifier, sources))
    return sources[identifier].catalog()


class _Entry(NamedTuple):
    """One row of one catalog."""

    table: CatalogTable
    row: Sequence[str]

    def record(self) -> dict[str, Any]:
        """The row as a new dict, with the name of its catalog as ``source_catalog``."""
        found = self.table.record(self.row)
        found[SOURCE_CATALOG] = self.table.name
        return found

    def value(self, column: str) -> str:
        if column in self.table.constants:
            return self.table.constants[column]
        position = self.table.position(column)
        return "" if position is None else self.row[position]


class _Combined:
    """All catalogs of one set of sources.  Each identifier's rows are gathered, de-duplicated
    and checked for conflicts when first asked for, so that a lookup never reads every row."""

    def __init__(self, sources: tuple[_Source, ...]) -> None:
        #: The sources, kept alive so that the ids in the memo key stay theirs.
        self.sources = sources
        self.tables = [source.table() for source in sources]
        self.searched = [f"catalog {source.name!r}" + (f" of {source.url}" if source.url else "") for source in sources]
        self._entries: dict[tuple[str, str], list[_Entry]] = {}
        self._series: dict[tuple[str, str], list[pd.Series]] = {}

    def entries(self, lookup_type: str, identifier: str) -> list[_Entry]:
        """The rows of an identifier; CatalogRowError when a catalog set aside a row meant for it."""
        for table in self.tables:
            table.check_usable(lookup_type, identifier)
        return self._gathered(lookup_type, identifier)

    def _gathered(self, lookup_type: str, identifier: str) -> list[_Entry]:
        key = (lookup_type, identifier)
        if key not in self._entries:
            entries: list[_Entry] = []
            for table in self.tables:
                for row in table.rows_of(lookup_type, identifier):
                    entry = _Entry(table, row)
                    if not any(_same_row(known, entry) for known in entries):
                        entries.append(entry)  # the same row in several catalogs counts once
            if len(entries) > 1:
                _check_no_conflict(lookup_type, identifier, entries)
            self._entries[key] = entries
        return self._entries[key]

    def records(self, lookup_type: str, identifier: str) -> list[dict[str, Any]]:
        return [entry.record() for entry in self.entries(lookup_type, identifier)]

    def series(self, lookup_type: str, identifier: str) -> list[pd.Series]:
        """The rows of :meth:`records` as Series, built once: callers get copies, which take
        half the time of building a Series."""
        key = (lookup_type, identifier)
        found = self._series.get(key)
        if found is None:
            found = [_series(record) for record in self.records(lookup_type, identifier)]
            if found:
                self._series[key] = found
        else:
            self.entries(lookup_type, identifier)  # raises as records() would
        return found

    def identifiers(self, lookup_type: str) -> set[str]:
        return {identifier for table in self.tables for identifier in table.identifiers(lookup_type)}

    @functools.cached_property
    def catalog(self) -> Catalog:
        """Every good row (malformed ones were set aside and warned about)."""
        rows = [
            entry.record()
            for lookup_type in LOOKUP_TYPES
            for identifier in sorted(self.identifiers(lookup_type))
            for entry in self._gathered(lookup_type, identifier)
        ]
        combined = Catalog(pd.DataFrame(rows, columns=_combined_columns(rows), dtype=object))
        combined.identifier = "combined"
        return combined


def _combined_columns(rows: list[dict[str, Any]]) -> list[str]:
    columns = dict.fromkeys([*BRAINIO_COLUMNS, SOURCE_CATALOG])
    for row in rows:
        columns.update(dict.fromkeys(row))
    return list(columns)


def _combine(rev: str | None, registry: str | None, home: Path | None = None) -> _Combined:
    return _combined(_sources(rev, registry, home))


def _combined(sources: dict[str, _Source]) -> _Combined:
    key = tuple(source.key for source in sources.values())
    combined: _Combined | None = state.COMBINED.get(key)
    if combined is None:
        combined = state.COMBINED[key] = _Combined(tuple(sources.values()))
    return combined


def _same_row(first: _Entry, second: _Entry) -> bool:
    """Whether two rows are one entry: the same values in :data:`CATALOG_COLUMNS`."""
    # Rows of one identifier mostly differ in location (a stimulus set's CSV and ZIP): cheap first.
    if first.value("location") != second.value("location"):
        return False
    return all(first.value(column) == second.value(column) for column in CATALOG_COLUMNS)


def _check_no_conflict(lookup_type: str, identifier: str, entries: list[_Entry]) -> None:
    expected = 1 if lookup_type == TYPE_ASSEMBLY else 2
    roles = [bool(entry.value("class")) for entry in entries]
    if len(entries) > expected or len(set(roles)) != len(roles):
        sources = ", ".join(f"{entry.table.name} ({entry.value('location')})" for entry in entries)
        raise ValidationError(
            subject=f"{lookup_type} {identifier!r}",
            expected="one definition across all catalogs",
            found=f"conflicting rows in {sources}",
            hint="pass registry= or remove one of the catalogs",
        )


def combined_catalog(rev: str | None = None, registry: str | None = None) -> Catalog:
    """All catalogs in one table, with the column ``source_catalog``."""
    return _combine(rev, registry).catalog.copy()


def _identifiers(lookup_type: str, rev: str | None, registry: str | None) -> list[str]:
    return sorted(_combine(rev, registry).identifiers(lookup_type))


def list_assemblies(rev: str | None = None, registry: str | None = None) -> list[str]:
    """Sorted identifiers of all assemblies."""
    return _identifiers(TYPE_ASSEMBLY, rev, registry)


def list_stimulus_sets(rev: str | None = None, registry: str | None = None) -> list[str]:
    """Sorted identifiers of all stimulus sets."""
    return _identifiers(TYPE_STIMULUS_SET, rev, registry)


def _close(identifier: str, known: Any) -> list[str]:
    return difflib.get_close_matches(identifier, sorted(known), n=3, cutoff=0.6)


@overload
def _rows(lookup_type: str, identifier: str, rev: str | None, registry: str | None,
          as_series: Literal[False] = False, combined: _Combined | None = None) -> list[dict[str, Any]]: ...
@overload
def _rows(lookup_type: str, identifier: str, rev: str | None, registry: str | None,
          as_series: Literal[True], combined: _Combined | None = None) -> list[pd.Series]: ...
def _rows(lookup_type: str, identifier: str, rev: str | None, registry: str | None,
          as_series: bool = False, combined: _Combined | None = None) -> list[dict[str, Any]] | list[pd.Series]:
    """The rows of an identifier as dicts (or, ``as_series``, the memo's Series: copy them)."""
    combined = combined or _combine(rev, registry)
    rows = combined.series(lookup_type, identifier) if as_series else combined.records(lookup_type, identifier)
    if rows:
        return rows
    error = AssemblyLookupError if lookup_type == TYPE_ASSEMBLY else StimulusSetLookupError
    suggestions = _close(identifier, combined.identifiers(lookup_type))
    raise error(identifier, searched=combined.searched, suggestions=suggestions)


def lookup_identifier(identifier: str, rev: str | None = None, registry: str | None = None) -> list[dict[str, Any]]:
    """The catalog rows of an identifier of either kind (the CLI's lookup)."""
    combined = _combine(rev, registry)
    for lookup_type in LOOKUP_TYPES:
        rows = combined.records(lookup_type, identifier)
        if rows:
            return csv_first(rows)
    known = set().union(*(combined.identifiers(lookup_type) for lookup_type in LOOKUP_TYPES))
    raise IdentifierLookupError(identifier, searched=combined.searched, suggestions=_close(identifier, known))


def find_assembly_row(
    identifier: str, rev: str | None = None, registry: str | None = None, *, home: Path | None = None
) -> dict[str, Any]:
    """The catalog row of an assembly, as a dict (``home``: ``BRAINIO_HOME``, by default read
    from the settings)."""
    return _rows(TYPE_ASSEMBLY, identifier, rev, registry, combined=_combine(rev, registry, home))[0]


def find_stimulus_set_rows(
    identifier: str, rev: str | None = None, registry: str | None = None, *, home: Path | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two catalog rows of a stimulus set as dicts: its CSV's (``class`` set), its ZIP's.

    When ``registry`` is a registry's label and ``rev`` a commit it was resolved to (as an
    assembly row's ``registry`` and ``rev`` are), that registry's catalogs at that commit are
    read directly, without resolving the revision again.  ``home`` is ``BRAINIO_HOME``, by
    default read from the settings.
    """
    combined = None
    if registry and rev and hashes.is_digest("sha1", rev, lowercase=True):
        opened = open_registry(registry, home)
        if opened.knows_commit(rev):
            combined = _combined({source.name: source for source in _registry_sources(opened, rev)})
    rows = _rows(TYPE_STIMULUS_SET, identifier, rev, registry, combined=combined or _combine(rev, registry, home))
    ordered = csv_first(rows)
    if len(ordered) != 2 or not ordered[0].get("class") or ordered[1].get("class"):
        raise ValidationError(
            subject=f"stimulus set {identifier!r}",
            expected="two catalog rows, one CSV with a class and one ZIP without",
            found=f"{len(rows)} rows with classes {[row.get('class') for row in rows]}",
        )
    return ordered[0], ordered[1]


def lookup_assembly(identifier: str, rev: str | None = None, registry: str | None = None) -> pd.Series:
    """The catalog row of an assembly, with ``source_catalog`` (as BrainIO's)."""
    return _rows(TYPE_ASSEMBLY, identifier, rev, registry, as_series=True)[0].copy()


def lookup_stimulus_set(
    identifier: str, rev: str | None = None, registry: str | None = None
) -> tuple[pd.Series, pd.Series]:
    """The two catalog rows of a stimulus set, with ``source_catalog`` (as BrainIO's): its CSV's
    (``class`` set), then its ZIP's."""
    csv_row, zip_row = find_stimulus_set_rows(identifier, rev=rev, registry=registry)
    return _series(csv_row), _series(zip_row)


def _series(row: dict[str, Any]) -> pd.Series:
    return pd.Series(list(row.values()), index=_series_index(tuple(row)), dtype=object)


@functools.lru_cache(maxsize=32)
def _series_index(columns: tuple[str, ...]) -> pd.Index:
    """One index per set of columns: building it is most of the cost of a row's Series."""
    return pd.Index(columns, dtype=object)


def s3_location(bucket_name: str, s3_key: str) -> str:
    """The URL BrainIO's catalogs record for an object in an S3 bucket."""
    return f"https://{bucket_name}.s3.amazonaws.com/{s3_key}"


def append(
    catalog_identifier: str,
    object_identifier: str,
    cls: str | None,
    lookup_type: str,
    bucket_name: str,
    sha1: str,
    s3_key: str,
    stimulus_set_identifier: str | None = None,
) -> Catalog:
    """Add the row of an object in S3 to a catalog's CSV file, as BrainIO's ``append`` does, and
    return the updated catalog.

    For an installed package's catalog (a registry's catalogs are generated: package into a
    registry with :mod:`brainio_dvc.packaging`).  The row gets ``location_type`` ``S3`` and
    ``location`` ``https://{bucket_name}.s3.amazonaws.com/{s3_key}``.  It is checked as every
    catalog row is, before the file is replaced atomically: a row the catalog would set aside is
    refused (CatalogFormatError), as is a duplicate (ValidationError), except the second half
    (CSV or ZIP) of a stimulus set.
    """
    catalog = get_catalog(catalog_identifier)
    path = _appendable_csv(catalog_identifier, catalog)
    row = {
        "identifier": object_identifier,
        "lookup_type": lookup_type,
        "class": cls,
        "location_type": "S3",
        "location": s3_location(bucket_name, s3_key),
        "sha1": sha1,
        "stimulus_set_identifier": stimulus_set_identifier,
    }
    table, text = with_appended_row(read_catalog_text(path), str(path), row)
    _check_not_duplicate(catalog_identifier, table, lookup_type, object_identifier, bool(cls))
    atomic_write_text(path, text)
    logger.info("added %s %r to catalog %r (%s)", lookup_type, object_identifier, catalog_identifier, path)
    refresh()
    return get_catalog(catalog_identifier)


def _appendable_csv(catalog_identifier: str, catalog: Catalog) -> Path:
    """The CSV file behind an installed package's catalog; ValidationError for any other."""
    source = catalog.attrs.get("source_path")
    if "registry" in catalog.columns or not source or not Path(source).is_file():
        raise ValidationError(
            subject=f"catalog {catalog_identifier!r}",
            expected="a catalog CSV file of an installed package",
            found="a generated registry catalog" if "registry" in catalog.columns else "no CSV file behind it",
            hint="registries are changed with package_stimulus_set / package_data_assembly",
        )
    return Path(source)


def _check_not_duplicate(
    catalog_identifier: str, table: CatalogTable, lookup_type: str, identifier: str, has_class: bool
) -> None:
    """Refuse a second row of one role: an assembly's, or a stimulus set's CSV (class) or ZIP."""
    table.check_usable(lookup_type, identifier)
    class_at = table.position("class")
    clashes = table.rows_of(lookup_type, identifier)
    if (lookup_type == TYPE_ASSEMBLY and clashes) or any(
        bool(row[class_at] if class_at is not None else "") == has_class for row in clashes
    ):
        raise ValidationError(
            subject=f"catalog {catalog_identifier!r}",
            expected=f"no {lookup_type} {identifier!r} yet",
            found="one already",
        )


def sha1_hash(path: str | PathLike[str], buffer_size: int = 64 * 2**10) -> str:
    """SHA-1 of a file, as BrainIO catalogs record it (``buffer_size`` is accepted for BrainIO's
    signature; files are read in 1 MiB chunks)."""
    return hashes.sha1_hash(path)
