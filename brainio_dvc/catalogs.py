"""Catalogs: lookup tables that map identifiers to files (BrainIO API), and their CSV schema.

A catalog CSV has BrainIO's columns (:data:`BRAINIO_COLUMNS`).  Catalogs generated from a DVC
registry add :data:`DVC_COLUMNS`.  A stimulus set has two rows (its CSV, with ``class`` set,
and its ZIP, with ``class`` empty); an assembly has one.

A file whose header is wrong is refused (:class:`~brainio_dvc.exceptions.CatalogFormatError`).
A malformed data row is set aside as a :class:`BadRow`, with its line and what is wrong with it,
and the other rows stay usable: a catalog keeps them in ``catalog.attrs['bad_rows']``, a
:class:`CatalogTable` in ``bad_rows``, and looking up the identifier of such a row is an error
that names the file and the line (:class:`~brainio_dvc.exceptions.CatalogRowError`).

The schema itself (columns, rows, parsing, rendering) is :mod:`brainio_dvc.formats.catalog_csv`,
beneath every reader; this face adds the DataFrame class and re-exports the schema's names.
The catalogs of installed packages (BrainIO's ``brainio_lookups`` entry points) are discovered
here, once per process (:func:`installed_catalogs`).
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from importlib import metadata
from os import PathLike
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from .exceptions import CatalogFormatError
from .formats.catalog_csv import (
    BRAINIO_COLUMNS,
    CATALOG_COLUMNS,
    DVC_COLUMNS,
    LOCATION_TYPE_DVC,
    LOOKUP_TYPES,  # noqa: F401 - the lookup face reads it from here
    TYPE_ASSEMBLY,
    TYPE_STIMULUS_SET,
    BadRow,
    CatalogTable,
    csv_first,
    log_bad_rows,
    parse_catalog_table,
    read_catalog_text,
    render_catalog_csv,
    tables_from_json,
    tables_to_json,
    with_appended_row,
)
from .formats.combined import SOURCE_CATALOG
from .store import state

__all__ = [
    "BRAINIO_COLUMNS",
    "CATALOG_COLUMNS",
    "DVC_COLUMNS",
    "LOCATION_TYPE_DVC",
    "SOURCE_CATALOG",
    "TYPE_ASSEMBLY",
    "TYPE_STIMULUS_SET",
    "BadRow",
    "ENTRYPOINT",
    "Catalog",
    "CatalogLoader",
    "InstalledCatalog",
    "CatalogTable",
    "csv_first",
    "installed_catalogs",
    "log_bad_rows",
    "parse_catalog_csv",
    "parse_catalog_table",
    "read_catalog_text",
    "with_appended_row",
    "tables_from_json",
    "tables_to_json",
    "render_catalog_csv",
]

class Catalog(pd.DataFrame):
    """A lookup table of stimulus sets and assemblies, with an ``identifier`` and a ``url``.

    ``attrs['source_path']`` is the CSV it was read from; ``attrs['bad_rows']`` the rows of that
    CSV that were set aside as malformed (a tuple of :class:`BadRow`).
    """

    # NDFrame._metadata is how pandas subclasses keep attributes; pandas-stubs leaves it out.
    _metadata = [*pd.DataFrame._metadata, "identifier", "url"]  # type: ignore[attr-defined]
    identifier: str
    url: str | None

    @property
    def _constructor(self) -> type[Catalog]:
        return Catalog

    @classmethod
    def get_loader_class(cls) -> type[CatalogLoader]:
        return CatalogLoader

    @classmethod
    def from_files(
        cls, identifier: str, csv_path: str | PathLike[str], url: str | None = None
    ) -> Catalog:
        """Read a catalog CSV; the path is kept in ``catalog.attrs['source_path']``."""
        return cls.get_loader_class()(cls=cls, identifier=identifier, csv_path=csv_path, url=url).load()


class CatalogLoader:
    """Reads a catalog CSV file into a :class:`Catalog`, validating it.

    Malformed rows are left out, kept in ``attrs['bad_rows']`` and logged as one warning.
    """

    def __init__(
        self,
        cls: type[Catalog],
        identifier: str,
        csv_path: str | PathLike[str],
        url: str | None = None,
    ) -> None:
        self.cls = cls
        self.identifier = identifier
        self.csv_path = Path(csv_path)
        self.url = url

    def load(self) -> Catalog:
        table = parse_catalog_table(read_catalog_text(self.csv_path), source=str(self.csv_path), name=self.identifier)
        log_bad_rows(table)
        catalog = table.to_catalog(self.cls)
        catalog.identifier = self.identifier
        catalog.url = self.url
        catalog.attrs["source_path"] = str(self.csv_path)
        return catalog


def parse_catalog_csv(text: str, source: str, cls: type[Catalog] = Catalog) -> Catalog:
    """Parse and validate catalog CSV text; malformed rows go to ``attrs['bad_rows']``.

    Errors (of the whole file) name ``source`` and the line (1 = header).
    """
    return parse_catalog_table(text, source).to_catalog(cls)


# -- the catalogs of installed packages ---------------------------------------------------------
#: The entry-point group through which installed packages provide catalogs, as in BrainIO.
ENTRYPOINT = "brainio_lookups"


class InstalledCatalog(NamedTuple):
    """An installed package's catalog and its rows, checked as a CSV's are."""

    catalog: Catalog
    table: CatalogTable


def installed_catalogs() -> dict[str, InstalledCatalog]:
    """Catalogs of installed packages, discovered once (until :func:`brainio_dvc.lookup.refresh`)."""
    found: dict[str, InstalledCatalog] | None = state.INSTALLED.get(ENTRYPOINT)
    if found is None:
        found = state.INSTALLED[ENTRYPOINT] = _discovered_catalogs()
    return found


def _discovered_catalogs() -> dict[str, InstalledCatalog]:
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
        catalogs[entry_point.name] = InstalledCatalog(catalog, table)
    return catalogs
