"""Finding identifiers in catalogs (BrainIO API), extended with registries and revisions.

Catalogs come from two kinds of source:

- installed packages, through the ``brainio_lookups`` entry-point group, as in BrainIO
  (discovered by :func:`brainio_dvc.catalogs.installed_catalogs`);
- DVC registries: the ``registry`` argument, else the configured registries (see
  :mod:`brainio_dvc.config`), else the registry around the current directory.  Each is read
  at ``rev`` (a branch, tag or commit; by default the ``rev`` setting or the default branch).

An explicit ``registry`` or ``rev`` restricts the search to registries.  Identical rows from
several catalogs count once; conflicting rows make a lookup of that identifier an error
(listing still works, and `brainio-dvc catalog check` reports them for a registry: the rule
is :mod:`brainio_dvc.formats.combined`).  A
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
from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import pandas as pd

from . import config
from .catalogs import (
    ENTRYPOINT,
    LOOKUP_TYPES,
    SOURCE_CATALOG,
    TYPE_ASSEMBLY,
    TYPE_STIMULUS_SET,
    Catalog,
    CatalogTable,
    InstalledCatalog,
    csv_first,
    installed_catalogs,
)
from .contribute.catalog_append import append_row
from .exceptions import (
    AssemblyLookupError,
    BrainioDvcError,
    CatalogLookupError,
    IdentifierLookupError,
    RevisionNotFoundError,
    StimulusSetLookupError,
    ValidationError,
)
from .formats import hashes
from .formats.combined import CombinedTables, as_series
from .store import state
from .store.registry import Registry, default_registry_specs, open_registry

__all__ = [
    "ENTRYPOINT",
    "SOURCE_CATALOG",
    "TYPE_ASSEMBLY",
    "TYPE_STIMULUS_SET",
    "AssemblyLookupError",
    "AssemblyRows",
    "Catalog",
    "StimulusSetLookupError",
    "append",
    "combined_catalog",
    "get_catalog",
    "find_assembly_row",
    "find_assembly_rows",
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

_Row = TypeVar("_Row")


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
    installed: InstalledCatalog | None = None

    def _installed_entry(self) -> InstalledCatalog:
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


class _Resolved(NamedTuple):
    """A search's registries at the commits they resolved to, their catalogs combined, and the
    assemblies found there (:func:`find_assembly_rows`), by identifier."""

    commits: list[tuple[Registry, str]]
    combined: CombinedTables
    assemblies: dict[str, AssemblyRows]


class _Search:
    """The registries a kind of call searches (its ``registry``, else the configured ones, at
    its ``rev``, with or without installed catalogs), each opened once, and what they last
    resolved to.  Every call resolves the revisions again (a branch moves), and reuses the
    combined catalogs while the commits stay the same."""

    def __init__(self, specs: tuple[str, ...], home: Path, installed: bool) -> None:
        self.specs = specs
        self.home = home
        self.installed = installed
        self._opened: list[Registry] = []
        self.last: _Resolved | None = None

    def commits(self, rev: str | None) -> list[tuple[Registry, str]]:
        """Each registry with the commit ``rev`` names there (an empty one is left out)."""
        found = []
        for position, spec in enumerate(self.specs):
            opened = self._opened
            source = opened[position] if position < len(opened) else open_registry(spec, self.home)
            if position == len(opened):
                opened.append(source)
            try:
                found.append((source, source.resolve(rev)))
            except RevisionNotFoundError:
                # Asked only when HEAD does not resolve: the check reads the refs a second time.
                if rev is None and source.is_unborn():
                    logger.info("registry %s has no commit yet: an empty registry", source.label)
                    continue
                raise
        return found

    def sources(self, commits: list[tuple[Registry, str]]) -> dict[str, _Source]:
        """The catalogs to search by name; the first source wins when two use the same name."""
        found = [entry for source, commit in commits for entry in _registry_sources(source, commit)]
        if self.installed:
            found.extend(_Source(name, installed=installed) for name, installed in installed_catalogs().items())
        sources: dict[str, _Source] = {}
        for entry in found:
            if entry.name in sources:
                logger.warning("catalog %r found twice; using %s", entry.name, sources[entry.name].url or "the first")
                continue
            sources[entry.name] = entry
        return sources

    def resolved(self, rev: str | None) -> _Resolved:
        commits = self.commits(rev)
        last = self.last
        if last is None or last.commits != commits:
            self.last = last = _Resolved(commits, _combined(self.sources(commits)), {})
        return last


def _search(rev: str | None, registry: str | None, home: Path | None) -> _Search:
    """The search of a call's ``registry`` (else the configured registries) at ``rev``."""
    specs = (registry,) if registry else tuple(default_registry_specs())
    installed = registry is None and rev is None
    home = home or config.home()
    key = (specs, home, rev, installed)
    found: _Search | None = state.SEARCHES.get(key)
    if found is None:
        found = state.SEARCHES[key] = _Search(specs, home, installed)
    return found


def _sources(rev: str | None, registry: str | None, home: Path | None = None) -> dict[str, _Source]:
    """The catalogs to search by name; the first source wins when two use the same name."""
    search = _search(rev, registry, home)
    return search.sources(search.commits(rev))


def _registry_sources(registry: Registry, commit: str) -> tuple[_Source, ...]:
    """The sources of a registry at a commit: its catalogs are fixed by the commit."""
    tables = registry.catalog_tables(commit)  # read once per commit (its bad rows logged then)
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


def _combine(rev: str | None, registry: str | None, home: Path | None = None) -> CombinedTables:
    return _search(rev, registry, home).resolved(rev).combined


def _combined(sources: dict[str, _Source]) -> CombinedTables:
    """The catalogs of ``sources`` combined (one per set of sources, while remembered)."""
    key = tuple(source.key for source in sources.values())
    combined: CombinedTables | None = state.COMBINED.get(key)
    if combined is None:
        kept = tuple(sources.values())  # kept alive, so that the ids in the memo key stay theirs
        searched = [f"catalog {source.name!r}" + (f" of {source.url}" if source.url else "") for source in kept]
        combined = state.COMBINED[key] = CombinedTables([source.table() for source in kept], searched, kept)
    return combined


def combined_catalog(rev: str | None = None, registry: str | None = None) -> Catalog:
    """All catalogs in one table, with the column ``source_catalog``."""
    catalog = _combine(rev, registry).frame(Catalog)
    catalog.identifier = "combined"
    return catalog.copy()


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


def _rows(lookup_type: str, identifier: str, combined: CombinedTables) -> list[dict[str, Any]]:
    """The rows of an identifier, each a new dict; the lookup error of its kind when there are none."""
    return _or_raise(lookup_type, identifier, combined, combined.records(lookup_type, identifier))


def _or_raise(lookup_type: str, identifier: str, combined: CombinedTables, rows: list[_Row]) -> list[_Row]:
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
    return _rows(TYPE_ASSEMBLY, identifier, _combine(rev, registry, home))[0]


@dataclass(eq=False)
class AssemblyRows:
    """An assembly's catalog row and the two rows (CSV, ZIP) of its stimulus set in the catalogs
    of the same registry at the same commit, found once per commit (:func:`find_assembly_rows`).

    ``stimulus_set`` is None when the assembly's row is not a registry's or its stimulus set's
    rows are not found there: the load then looks them up as any stimulus set, and that lookup
    says what is wrong.  The rows are shared by every load of the assembly: copy before changing.
    """

    assembly: Mapping[str, Any]
    stimulus_set: tuple[Mapping[str, Any], Mapping[str, Any]] | None
    #: What a load works out from these rows (:mod:`brainio_dvc.loading` sets it when
    #: ``stimulus_set`` is found), kept with them for as long as they are remembered.
    plan: Any = None


def find_assembly_rows(
    identifier: str, rev: str | None = None, registry: str | None = None, *, home: Path | None = None
) -> AssemblyRows:
    """The catalog rows a load of an assembly reads: :func:`find_assembly_row` and, from the
    catalogs of the registry and commit that row is from, :func:`find_stimulus_set_rows` of its
    stimulus set.  The revision is resolved on every call; the rows of a commit are found once."""
    resolved = _search(rev, registry, home).resolved(rev)
    found = resolved.assemblies.get(identifier)
    if found is None:
        row = _rows(TYPE_ASSEMBLY, identifier, resolved.combined)[0]
        found = AssemblyRows(row, _stimulus_set_beside(row, resolved.commits))
        if found.stimulus_set is not None or not row.get("registry"):
            resolved.assemblies[identifier] = found
    return found


def _stimulus_set_beside(
    row: Mapping[str, Any], commits: list[tuple[Registry, str]]
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The stimulus set rows of an assembly's ``row`` in its own registry's catalogs at its commit."""
    for source, commit in commits:
        if source.label == row.get("registry") and commit == row.get("rev"):
            identifier = str(row["stimulus_set_identifier"])
            try:
                rows = _rows(TYPE_STIMULUS_SET, identifier, _at_commit(source, commit))
                return _stimulus_set_pair(identifier, rows)
            except BrainioDvcError:
                return None  # the load's own lookup raises it, after the assembly's checks
    return None


def _at_commit(registry: Registry, commit: str) -> CombinedTables:
    """The catalogs of one registry at one commit, combined."""
    return _combined({source.name: source for source in _registry_sources(registry, commit)})


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
            combined = _at_commit(opened, rev)
    rows = _rows(TYPE_STIMULUS_SET, identifier, combined or _combine(rev, registry, home))
    return _stimulus_set_pair(identifier, rows)


def _stimulus_set_pair(identifier: str, rows: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
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
    combined = _combine(rev, registry)
    return _or_raise(TYPE_ASSEMBLY, identifier, combined, combined.series(TYPE_ASSEMBLY, identifier))[0].copy()


def lookup_stimulus_set(
    identifier: str, rev: str | None = None, registry: str | None = None
) -> tuple[pd.Series, pd.Series]:
    """The two catalog rows of a stimulus set, with ``source_catalog`` (as BrainIO's): its CSV's
    (``class`` set), then its ZIP's."""
    csv_row, zip_row = find_stimulus_set_rows(identifier, rev=rev, registry=registry)
    return as_series(csv_row), as_series(zip_row)


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
    (CSV or ZIP) of a stimulus set (:func:`brainio_dvc.contribute.catalog_append.append_row`).
    """
    row = {
        "identifier": object_identifier,
        "lookup_type": lookup_type,
        "class": cls,
        "location_type": "S3",
        "location": s3_location(bucket_name, s3_key),
        "sha1": sha1,
        "stimulus_set_identifier": stimulus_set_identifier,
    }
    append_row(catalog_identifier, get_catalog(catalog_identifier), row)
    refresh()
    return get_catalog(catalog_identifier)


def sha1_hash(path: str | PathLike[str], buffer_size: int = 64 * 2**10) -> str:
    """SHA-1 of a file, as BrainIO catalogs record it (``buffer_size`` is accepted for BrainIO's
    signature; files are read in 1 MiB chunks)."""
    return hashes.sha1_hash(path)
