"""Catalogs: lookup tables that map identifiers to files (BrainIO API), and their CSV schema.

A catalog CSV has BrainIO's columns (:data:`BRAINIO_COLUMNS`).  Catalogs generated from a DVC
registry add :data:`DVC_COLUMNS`.  A stimulus set has two rows (its CSV, with ``class`` set,
and its ZIP, with ``class`` empty); an assembly has one.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Mapping
from os import PathLike
from pathlib import Path

import pandas as pd

from .exceptions import CatalogFormatError

__all__ = [
    "BRAINIO_COLUMNS",
    "CATALOG_COLUMNS",
    "DVC_COLUMNS",
    "LOCATION_TYPE_DVC",
    "SOURCE_CATALOG",
    "TYPE_ASSEMBLY",
    "TYPE_STIMULUS_SET",
    "Catalog",
    "CatalogLoader",
    "parse_catalog_csv",
    "render_catalog_csv",
]

logger = logging.getLogger(__name__)

#: Column added when catalogs are combined: which catalog a row came from.
SOURCE_CATALOG = "source_catalog"
TYPE_ASSEMBLY = "assembly"
TYPE_STIMULUS_SET = "stimulus_set"
LOOKUP_TYPES = (TYPE_ASSEMBLY, TYPE_STIMULUS_SET)
LOCATION_TYPE_DVC = "dvc"

BRAINIO_COLUMNS = (
    "identifier",
    "lookup_type",
    "class",
    "location_type",
    "location",
    "sha1",
    "stimulus_set_identifier",
)
#: Extra columns of catalogs generated from a DVC registry.
DVC_COLUMNS = ("md5", "size")
CATALOG_COLUMNS = BRAINIO_COLUMNS + DVC_COLUMNS
_REQUIRED_VALUES = ("identifier", "lookup_type", "location_type", "location")


class Catalog(pd.DataFrame):
    """A lookup table of stimulus sets and assemblies, with an ``identifier`` and a ``url``."""

    _metadata = ["identifier", "url"]

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
    """Reads a catalog CSV file into a :class:`Catalog`, validating it."""

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
        try:
            text = self.csv_path.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise CatalogFormatError(str(self.csv_path), "UTF-8 text", f"undecodable bytes ({error.reason})") from error
        catalog = parse_catalog_csv(text, source=str(self.csv_path), cls=self.cls)
        catalog.identifier = self.identifier
        catalog.url = self.url
        catalog.attrs["source_path"] = str(self.csv_path)
        return catalog


def parse_catalog_csv(text: str, source: str, cls: type[Catalog] = Catalog) -> Catalog:
    """Parse and validate catalog CSV text. Errors name ``source`` and the line (1 = header)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = []
    try:
        rows.extend(reader)
    except csv.Error as error:
        raise CatalogFormatError(source, "well-formed CSV", f"unreadable CSV ({error})", line=reader.line_num) from error
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise CatalogFormatError(source, "a header row with " + ", ".join(BRAINIO_COLUMNS), "an empty file", line=1)
    header = [cell.strip() for cell in rows[0]]
    missing = [column for column in BRAINIO_COLUMNS if column not in header]
    if missing:
        raise CatalogFormatError(
            source, "columns " + ", ".join(BRAINIO_COLUMNS), f"no {', '.join(missing)} in {header}", line=1
        )
    if len(set(header)) != len(header):
        duplicated = sorted({name for name in header if header.count(name) > 1})
        raise CatalogFormatError(source, "unique column names", f"duplicates {duplicated}", line=1)
    records = []
    for line_number, row in enumerate(rows[1:], start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise CatalogFormatError(
                source, f"{len(header)} fields as in the header", f"{len(row)} fields", line=line_number
            )
        record = dict(zip(header, row, strict=True))
        _check_record(record, source, line_number)
        records.append(record)
    frame = pd.DataFrame.from_records(records, columns=header).astype(object)
    return cls(frame)


def _check_record(record: Mapping[str, str], source: str, line_number: int) -> None:
    empty = [column for column in _REQUIRED_VALUES if not record[column].strip()]
    if empty:
        raise CatalogFormatError(source, "values in " + ", ".join(_REQUIRED_VALUES), f"empty {', '.join(empty)}", line=line_number)
    if record["lookup_type"] not in LOOKUP_TYPES:
        raise CatalogFormatError(
            source, "lookup_type 'assembly' or 'stimulus_set'", repr(record["lookup_type"]), line=line_number
        )
    size = record.get("size", "")
    if size and not (size.isascii() and size.isdigit()):
        raise CatalogFormatError(source, "size as a whole number of bytes", repr(size), line=line_number)


def render_catalog_csv(rows: Iterable[Mapping[str, object]]) -> str:
    """The catalog CSV text of ``rows``: fixed columns, sorted rows, ``\\n`` line ends.

    The same rows always give byte-identical text, whatever their order.
    """
    normalised = [
        tuple("" if row.get(column) is None else str(row.get(column)) for column in CATALOG_COLUMNS)
        for row in rows
    ]
    # Stimulus set CSV rows (class set) before their ZIP rows, then by location; the whole row
    # breaks remaining ties, so that the order of the input never matters.
    normalised.sort(key=lambda row: (row[0], row[1], row[2] == "", row[4], row))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CATALOG_COLUMNS)
    writer.writerows(normalised)
    return buffer.getvalue()
