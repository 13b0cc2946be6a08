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
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import pandas as pd

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

__all__ = [
    "BRAINIO_COLUMNS",
    "CATALOG_COLUMNS",
    "DVC_COLUMNS",
    "LOCATION_TYPE_DVC",
    "SOURCE_CATALOG",
    "TYPE_ASSEMBLY",
    "TYPE_STIMULUS_SET",
    "BadRow",
    "Catalog",
    "CatalogLoader",
    "CatalogTable",
    "csv_first",
    "log_bad_rows",
    "parse_catalog_csv",
    "parse_catalog_table",
    "read_catalog_text",
    "with_appended_row",
    "tables_from_json",
    "tables_to_json",
    "render_catalog_csv",
]

#: Column added when catalogs are combined: which catalog a row came from.
SOURCE_CATALOG = "source_catalog"


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
