"""Catalogs: lookup tables that map identifiers to files (BrainIO API), and their CSV schema.

A catalog CSV has BrainIO's columns (:data:`BRAINIO_COLUMNS`).  Catalogs generated from a DVC
registry add :data:`DVC_COLUMNS`.  A stimulus set has two rows (its CSV, with ``class`` set,
and its ZIP, with ``class`` empty); an assembly has one.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd

from .exceptions import CatalogFormatError
from .hashes import DIGEST_LENGTHS, is_digest

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
    "CatalogTable",
    "parse_catalog_csv",
    "parse_catalog_table",
    "tables_from_json",
    "tables_to_json",
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


@dataclass(frozen=True)
class CatalogTable:
    """A catalog as plain rows of strings: what lookups index without building a DataFrame.

    ``constants`` are columns with one value for every row (such as where the catalog came
    from), kept once instead of in each row; they win over row columns of the same name.
    ``source`` names where the rows came from, for messages.
    """

    name: str
    columns: tuple[str, ...]
    rows: Sequence[Sequence[str]]
    source: str = ""
    constants: Mapping[str, str] = field(default_factory=dict)
    #: {lookup_type: {identifier: [row numbers]}}; built from the rows when not given.
    index: Mapping[str, Mapping[str, list[int]]] | None = None

    def __post_init__(self) -> None:
        if self.index is None:
            object.__setattr__(self, "index", self._build_index())

    def _build_index(self) -> dict[str, dict[str, list[int]]]:
        index: dict[str, dict[str, list[int]]] = {}
        lookup_type_at, identifier_at = self.position("lookup_type"), self.position("identifier")
        for number, row in enumerate(self.rows):
            index.setdefault(row[lookup_type_at], {}).setdefault(row[identifier_at], []).append(number)
        return index

    def rows_of(self, lookup_type: str, identifier: str) -> list[Sequence[str]]:
        """The rows of one identifier."""
        return [self.rows[number] for number in self.index.get(lookup_type, {}).get(identifier, ())]

    def identifiers(self, lookup_type: str) -> Iterable[str]:
        return self.index.get(lookup_type, {}).keys()

    def with_constants(self, source: str, constants: Mapping[str, str]) -> CatalogTable:
        """The same rows and index with other constant columns."""
        return CatalogTable(self.name, self.columns, self.rows, source, constants, self.index)

    def position(self, column: str) -> int | None:
        """Where ``column`` is in each row, or None when the rows lack it."""
        return self.columns.index(column) if column in self.columns else None

    def record(self, row: Sequence[str]) -> dict[str, str]:
        """One row as {column: value}, constants included."""
        found = dict(zip(self.columns, row, strict=True))
        found.update(self.constants)
        return found

    def to_catalog(self, cls: type[Catalog] = Catalog) -> Catalog:
        frame = pd.DataFrame(list(self.rows), columns=list(self.columns), dtype=object)
        for column, value in self.constants.items():
            frame[column] = pd.Series([value] * len(frame), index=frame.index, dtype=object)
        return cls(frame)

    @classmethod
    def from_catalog(cls, name: str, catalog: pd.DataFrame) -> CatalogTable:
        """The rows of a DataFrame catalog, every missing value as ``""`` and the rest as text."""
        columns = tuple(str(column) for column in catalog.columns)
        rows = [tuple(_as_text(value) for value in row) for row in catalog.itertuples(index=False, name=None)]
        return cls(name, columns, rows, str(catalog.attrs.get("source_path") or name))


def tables_to_json(tables: Mapping[str, CatalogTable]) -> dict[str, Any]:
    """Catalog tables as JSON-ready data: columns, rows and index of each (not constants)."""
    return {
        name: {"columns": list(table.columns), "rows": list(table.rows), "index": table.index}
        for name, table in tables.items()
    }


def tables_from_json(data: object) -> dict[str, CatalogTable] | None:
    """The tables of :func:`tables_to_json` data, or None when ``data`` is not such data."""
    if not isinstance(data, dict):
        return None
    tables = {}
    for name, entry in data.items():
        if not isinstance(entry, dict):
            return None
        columns, rows, index = entry.get("columns"), entry.get("rows"), entry.get("index")
        if not isinstance(columns, list) or not set(BRAINIO_COLUMNS) <= set(columns) or not isinstance(rows, list):
            return None
        if not all(isinstance(row, list) and len(row) == len(columns) for row in rows):
            return None
        if not _is_index_of(index, len(rows)):
            return None
        tables[name] = CatalogTable(name, tuple(columns), rows, index=index)
    return tables


def _is_index_of(index: object, row_count: int) -> bool:
    """Whether ``index`` is {lookup_type: {identifier: [row numbers < row_count]}}."""
    if not isinstance(index, dict):
        return False
    for by_identifier in index.values():
        if not isinstance(by_identifier, dict):
            return False
        for numbers in by_identifier.values():
            if not isinstance(numbers, list) or not all(isinstance(n, int) and 0 <= n < row_count for n in numbers):
                return False
    return True


def _as_text(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:  # noqa: PLR0124
        return ""
    return str(value)


def parse_catalog_csv(text: str, source: str, cls: type[Catalog] = Catalog) -> Catalog:
    """Parse and validate catalog CSV text. Errors name ``source`` and the line (1 = header)."""
    return parse_catalog_table(text, source).to_catalog(cls)


def parse_catalog_table(text: str, source: str, name: str = "") -> CatalogTable:
    """Parse and validate catalog CSV text into a :class:`CatalogTable`; no pandas involved.

    Errors name ``source`` and the line (1 = header).
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = []
    try:
        rows.extend(reader)
    except csv.Error as error:
        raise CatalogFormatError(source, "well-formed CSV", f"unreadable CSV ({error})", line=reader.line_num) from error
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise CatalogFormatError(source, "a header row with " + ", ".join(BRAINIO_COLUMNS), "an empty file", line=1)
    header = tuple(cell.strip() for cell in rows[0])
    missing = [column for column in BRAINIO_COLUMNS if column not in header]
    if missing:
        raise CatalogFormatError(
            source, "columns " + ", ".join(BRAINIO_COLUMNS), f"no {', '.join(missing)} in {list(header)}", line=1
        )
    if len(set(header)) != len(header):
        duplicated = sorted({column for column in header if header.count(column) > 1})
        raise CatalogFormatError(source, "unique column names", f"duplicates {duplicated}", line=1)
    check = _RowCheck(header, source)
    table = []
    for line_number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        check(row, line_number)
        table.append(row)
    return CatalogTable(name, header, table, source)


class _RowCheck:
    """Validates one data row of a catalog CSV, by column position."""

    def __init__(self, header: tuple[str, ...], source: str) -> None:
        self.width = len(header)
        self.source = source
        self.required = [(column, header.index(column)) for column in _REQUIRED_VALUES]
        self.lookup_type = header.index("lookup_type")
        self.size = header.index("size") if "size" in header else None
        # Digests name files in the cache: only hex of the right length gets past the catalog.
        self.digests = [(column, header.index(column)) for column in DIGEST_LENGTHS if column in header]

    def __call__(self, row: list[str], line_number: int) -> None:
        if len(row) != self.width:
            raise CatalogFormatError(
                self.source, f"{self.width} fields as in the header", f"{len(row)} fields", line=line_number
            )
        empty = [column for column, position in self.required if not row[position].strip()]
        if empty:
            raise CatalogFormatError(
                self.source, "values in " + ", ".join(_REQUIRED_VALUES), f"empty {', '.join(empty)}", line=line_number
            )
        if row[self.lookup_type] not in LOOKUP_TYPES:
            raise CatalogFormatError(
                self.source, "lookup_type 'assembly' or 'stimulus_set'", repr(row[self.lookup_type]), line=line_number
            )
        size = row[self.size] if self.size is not None else ""
        if size and not (size.isascii() and size.isdigit()):
            raise CatalogFormatError(self.source, "size as a whole number of bytes", repr(size), line=line_number)
        for column, position in self.digests:
            digest = row[position]
            if digest and not is_digest(column, digest):
                raise CatalogFormatError(
                    self.source, f"{column} as {DIGEST_LENGTHS[column]} hex digits", repr(digest), line=line_number
                )


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
