"""The lookup-CSV schema: lookup types, columns, rows, their checks, parsing, rendering, JSON form.

A catalog CSV has BrainIO's columns (:data:`BRAINIO_COLUMNS`).  Catalogs generated from a DVC
registry add :data:`DVC_COLUMNS`.  A stimulus set has two rows (its CSV, with ``class`` set,
and its ZIP, with ``class`` empty); an assembly has one.

A file whose header is wrong is refused (:class:`~brainio_dvc.exceptions.CatalogFormatError`).
A malformed data row is set aside as a :class:`BadRow`, with its line and what is wrong with it,
and the other rows stay usable: a :class:`CatalogTable` keeps them in ``bad_rows``, and looking
up the identifier of such a row is an error that names the file and the line
(:class:`~brainio_dvc.exceptions.CatalogRowError`).

This is the format, beneath every reader; the BrainIO face :mod:`brainio_dvc.catalogs` holds the
DataFrame class (:class:`~brainio_dvc.catalogs.Catalog`) and re-exports these names.
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard

import pandas as pd

from ..exceptions import CatalogFormatError, CatalogRowError
from .hashes import DIGEST_LENGTHS, is_digest
from .values import is_missing

if TYPE_CHECKING:
    from ..catalogs import Catalog

__all__ = [
    "BRAINIO_COLUMNS",
    "CATALOG_COLUMNS",
    "DVC_COLUMNS",
    "LOCATION_TYPE_DVC",
    "LOOKUP_TYPES",
    "TYPE_ASSEMBLY",
    "TYPE_STIMULUS_SET",
    "BadRow",
    "CatalogTable",
    "RowBlocks",
    "are_catalog_columns",
    "are_catalog_rows",
    "index_rows",
    "csv_first",
    "log_bad_rows",
    "parse_catalog_table",
    "read_catalog_text",
    "render_catalog_csv",
    "tables_from_json",
    "tables_to_json",
    "with_appended_row",
]

logger = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class BadRow:
    """A data row of a catalog CSV that was set aside: its 1-based line, what it breaks, its cells."""

    line: int
    expected: str
    found: str
    cells: tuple[str, ...]
    #: The row's identifier and lookup type, as far as the row has them (for lookups).
    identifier: str = ""
    lookup_type: str = ""

    @property
    def reason(self) -> str:
        return f"expected {self.expected}, found {self.found}"

    def matches(self, lookup_type: str, identifier: str) -> bool:
        """Whether this row was meant for ``identifier`` of ``lookup_type`` (any, if it has no valid one)."""
        if self.identifier != identifier:
            return False
        return self.lookup_type == lookup_type or self.lookup_type not in LOOKUP_TYPES

    def format_error(self, source: str) -> CatalogFormatError:
        """The error the row is, in the file ``source``."""
        return CatalogFormatError(source, self.expected, self.found, line=self.line)

    def lookup_error(self, source: str, lookup_type: str) -> CatalogRowError:
        """The error of looking up this row's identifier as ``lookup_type``."""
        kind = "assembly" if lookup_type == TYPE_ASSEMBLY else "stimulus set"
        return CatalogRowError(source, self.line, self.expected, self.found, identifier=self.identifier, kind=kind)

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "expected": self.expected, "found": self.found, "cells": list(self.cells)}

    @classmethod
    def from_json(cls, data: object, columns: Sequence[str]) -> BadRow | None:
        """The bad row of :meth:`to_json` data, or None when ``data`` is not such data."""
        if not isinstance(data, dict):
            return None
        line, expected, found, cells = (data.get(key) for key in ("line", "expected", "found", "cells"))
        if not (isinstance(line, int) and isinstance(expected, str) and isinstance(found, str)):
            return None
        if not isinstance(cells, list) or not all(isinstance(cell, str) for cell in cells):
            return None
        return _bad_row(columns, cells, line, expected, found)


def _bad_row(columns: Sequence[str], cells: Sequence[str], line: int, expected: str, found: str) -> BadRow:
    def cell(column: str) -> str:
        position = columns.index(column) if column in columns else len(cells)
        return cells[position].strip() if position < len(cells) else ""

    return BadRow(line, expected, found, tuple(cells), cell("identifier"), cell("lookup_type"))


def log_bad_rows(table: CatalogTable) -> None:
    """One warning naming the file, and the line and reason of each row set aside."""
    if table.bad_rows:
        logger.warning(
            "catalog %s: %d malformed row(s) set aside, the other rows are used: %s",
            table.source or table.name,
            len(table.bad_rows),
            "; ".join(f"line {bad.line}: {bad.reason}" for bad in table.bad_rows),
        )


class RowBlocks(Protocol):
    """Rows kept outside a table (in the catalog cache's blocks), read when asked for."""

    def rows_of(self, lookup_type: str, identifier: str) -> list[Sequence[str]]:
        """The rows of one identifier, in row order, without reading the others."""
        ...


@dataclass(frozen=True)
class CatalogTable:
    """A catalog as plain rows of strings: what lookups index without building a DataFrame.

    ``constants`` are columns with one value for every row (such as where the catalog came
    from), kept once instead of in each row; they win over row columns of the same name.
    ``source`` names where the rows came from, for messages.  ``bad_rows`` are the rows that
    were set aside as malformed; they are in neither ``rows`` nor the index.  With ``blocks``
    (a table read from the catalog cache), :meth:`rows_of` asks them for one identifier's rows,
    and ``rows`` and ``index`` read every row only when they are first used.
    """

    name: str
    columns: tuple[str, ...]
    rows: Sequence[Sequence[str]]
    source: str = ""
    constants: Mapping[str, str] = field(default_factory=dict)
    #: {lookup_type: {identifier: [row numbers]}}; built from the rows when not given.
    index: Mapping[str, Mapping[str, list[int]]] | None = None
    bad_rows: tuple[BadRow, ...] = ()
    blocks: RowBlocks | None = None

    def __post_init__(self) -> None:
        if self.index is None:
            object.__setattr__(self, "index", self._build_index())

    def _build_index(self) -> dict[str, dict[str, list[int]]]:
        return index_rows(self.columns, self.rows)

    def rows_of(self, lookup_type: str, identifier: str) -> list[Sequence[str]]:
        """The (good) rows of one identifier."""
        if self.blocks is not None:
            return self.blocks.rows_of(lookup_type, identifier)
        return [self.rows[number] for number in (self.index or {}).get(lookup_type, {}).get(identifier, ())]

    def check_usable(self, lookup_type: str, identifier: str) -> None:
        """CatalogRowError when a row meant for ``identifier`` was set aside as malformed."""
        for bad in self.bad_rows:
            if bad.matches(lookup_type, identifier):
                raise bad.lookup_error(self.source or self.name, lookup_type)

    def identifiers(self, lookup_type: str) -> Iterable[str]:
        return (self.index or {}).get(lookup_type, {}).keys()

    def with_constants(self, source: str, constants: Mapping[str, str]) -> CatalogTable:
        """The same rows and index with other constant columns."""
        return replace(self, source=source, constants=constants)

    def position(self, column: str) -> int | None:
        """Where ``column`` is in each row, or None when the rows lack it."""
        return self.columns.index(column) if column in self.columns else None

    def record(self, row: Sequence[str]) -> dict[str, str]:
        """One row as {column: value}, constants included."""
        found = dict(zip(self.columns, row, strict=True))
        found.update(self.constants)
        return found

    def to_catalog(self, cls: type[Catalog] | None = None) -> Catalog:
        """The rows as a DataFrame of ``cls`` (the catalogs face's :class:`Catalog` by default)."""
        if cls is None:
            from .. import catalogs  # the face's frame class; the face imports this module

            cls = catalogs.Catalog
        frame = pd.DataFrame(list(self.rows), columns=list(self.columns), dtype=object)
        for column, value in self.constants.items():
            frame[column] = pd.Series([value] * len(frame), index=frame.index, dtype=object)
        catalog = cls(frame)
        catalog.attrs["bad_rows"] = self.bad_rows
        return catalog

    @classmethod
    def from_catalog(cls, name: str, catalog: pd.DataFrame) -> CatalogTable:
        """The rows of a DataFrame catalog, every missing value as ``""`` and the rest as text.

        The rows are checked as a CSV's are (numbered as lines of a CSV with the frame's rows);
        malformed ones join the frame's own ``attrs['bad_rows']``.  Header problems raise
        CatalogFormatError.
        """
        source = str(catalog.attrs.get("source_path") or name)
        columns = tuple(str(column) for column in catalog.columns)
        rows = [[_as_text(value) for value in row] for row in catalog.itertuples(index=False, name=None)]
        table = _checked_table(name, columns, enumerate(rows, start=2), source)
        carried = tuple(bad for bad in catalog.attrs.get("bad_rows", ()) if isinstance(bad, BadRow))
        return replace(table, bad_rows=carried + table.bad_rows) if carried else table


def tables_to_json(tables: Mapping[str, CatalogTable]) -> dict[str, Any]:
    """Catalog tables as JSON-ready data: columns, rows, index and bad rows of each (not constants)."""
    return {
        name: {
            "columns": list(table.columns),
            "rows": list(table.rows),
            "index": table.index,
            "bad_rows": [bad.to_json() for bad in table.bad_rows],
        }
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
        if not are_catalog_columns(columns) or not are_catalog_rows(rows, len(columns)):
            return None
        if not _is_index_of(index, len(rows)):
            return None
        bad_data = entry.get("bad_rows")
        if not isinstance(bad_data, list):
            return None
        read = [BadRow.from_json(bad, columns) for bad in bad_data]
        bad_rows = tuple(bad for bad in read if bad is not None)
        if len(bad_rows) != len(read):
            return None
        tables[name] = CatalogTable(name, tuple(columns), rows, index=index, bad_rows=bad_rows)
    return tables


def index_rows(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> dict[str, dict[str, list[int]]]:
    """{lookup_type: {identifier: [row numbers]}} of ``rows`` under ``columns``."""
    index: dict[str, dict[str, list[int]]] = {}
    lookup_type_at, identifier_at = columns.index("lookup_type"), columns.index("identifier")
    for number, row in enumerate(rows):
        index.setdefault(row[lookup_type_at], {}).setdefault(row[identifier_at], []).append(number)
    return index


def are_catalog_columns(columns: object) -> TypeGuard[list[str]]:
    """Whether ``columns`` (read from JSON) is a list of a catalog's columns: unique names, BrainIO's among them."""
    if not isinstance(columns, list) or not set(map(type, columns)) <= {str} or len(set(columns)) != len(columns):
        return False
    return set(BRAINIO_COLUMNS) <= set(columns)


def are_catalog_rows(rows: object, width: int) -> TypeGuard[list[list[str]]]:
    """Whether ``rows`` (read from JSON) is a list of rows of ``width`` fields (their values are
    not checked: 90,000 of them cost a listing of 10,000 rows milliseconds)."""
    # Checked with map() and set(): a loop over 10,000 rows in Python costs a first lookup milliseconds.
    return isinstance(rows, list) and set(map(type, rows)) <= {list} and set(map(len, rows)) <= {width}


def _is_index_of(index: object, row_count: int) -> bool:
    """Whether ``index`` is {lookup_type: {identifier: [row numbers < row_count]}}."""
    if not isinstance(index, dict):
        return False
    for by_identifier in index.values():
        if not isinstance(by_identifier, dict) or not set(map(type, by_identifier.values())) <= {list}:
            return False
        numbers = list(itertools.chain.from_iterable(by_identifier.values()))
        if not set(map(type, numbers)) <= {int}:  # bools, which JSON has, are not row numbers
            return False
        if numbers and (min(numbers) < 0 or max(numbers) >= row_count):
            return False
    return True


def csv_first(rows: Iterable[Mapping[str, Any]]) -> list[Any]:
    """A stimulus set's catalog rows with its CSV's first (the row with a ``class``), then its
    ZIP's; otherwise in their order."""
    return sorted(rows, key=lambda row: not row.get("class"))


def _as_text(value: object) -> str:
    if is_missing(value):
        return ""
    return str(value)


def read_catalog_text(path: Path) -> str:
    """The text of a catalog CSV file; CatalogFormatError when it is not UTF-8."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise CatalogFormatError(str(path), "UTF-8 text", f"undecodable bytes ({error.reason})") from error


def with_appended_row(text: str, source: str, row: Mapping[str, str | None]) -> tuple[CatalogTable, str]:
    """The table of catalog CSV ``text`` and the text with ``row`` added as a last line.

    The row gets the header's columns (missing ones empty) and must pass the checks every row
    of a catalog passes, and the new text must parse to the same rows plus this one: a row that
    would be set aside, or make the file unreadable, raises CatalogFormatError instead.
    """
    table = parse_catalog_table(text, source)
    values = ["" if row.get(column) is None else str(row.get(column)) for column in table.columns]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    separator = "" if not text or text.endswith(("\n", "\r")) else "\n"
    appended = text + separator + buffer.getvalue()
    after = parse_catalog_table(appended, source)
    added = [bad for bad in after.bad_rows if bad not in table.bad_rows]
    if added:
        raise added[0].format_error(source)
    if [list(r) for r in after.rows] != [*(list(r) for r in table.rows), values]:
        raise CatalogFormatError(
            source,
            "a last line that ends where a new row can start",
            "one that the new row would join (an open quote?)",
        )
    return table, appended


def parse_catalog_table(text: str, source: str, name: str = "") -> CatalogTable:
    """Parse and validate catalog CSV text into a :class:`CatalogTable`; no pandas involved.

    A file that cannot be a catalog (unreadable CSV, a missing or duplicated column) raises
    CatalogFormatError naming ``source`` and the line (1 = header).  A malformed data row is
    set aside in ``bad_rows`` with its line; the other rows are kept.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[list[str]] = []
    try:
        rows.extend(reader)
    except csv.Error as error:
        raise CatalogFormatError(
            source, "well-formed CSV", f"unreadable CSV ({error})", line=reader.line_num
        ) from error
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise CatalogFormatError(source, "a header row with " + ", ".join(BRAINIO_COLUMNS), "an empty file", line=1)
    header = tuple(cell.strip() for cell in rows[0])
    numbered = ((line_number, row) for line_number, row in enumerate(rows[1:], start=2) if any(c.strip() for c in row))
    return _checked_table(name, header, numbered, source)


def _checked_table(
    name: str, header: tuple[str, ...], numbered: Iterable[tuple[int, list[str]]], source: str
) -> CatalogTable:
    """The table of ``(line, cells)`` rows under ``header``: the good rows kept, the malformed
    ones set aside as :class:`BadRow`.  A header that is not a catalog's raises CatalogFormatError."""
    _check_header(header, source)
    check = _RowCheck(header)
    good, bad = [], []
    for line_number, row in numbered:
        problem = check(row)
        if problem is None:
            good.append(row)
        else:
            bad.append(_bad_row(header, row, line_number, *problem))
    return CatalogTable(name, header, good, source, bad_rows=tuple(bad))


def _check_header(header: tuple[str, ...], source: str) -> None:
    missing = [column for column in BRAINIO_COLUMNS if column not in header]
    if missing:
        raise CatalogFormatError(
            source, "columns " + ", ".join(BRAINIO_COLUMNS), f"no {', '.join(missing)} in {list(header)}", line=1
        )
    if len(set(header)) != len(header):
        duplicated = sorted({column for column in header if header.count(column) > 1})
        raise CatalogFormatError(source, "unique column names", f"duplicates {duplicated}", line=1)


class _RowCheck:
    """Decides whether one data row of a catalog CSV is well-formed, by column position."""

    def __init__(self, header: tuple[str, ...]) -> None:
        self.width = len(header)
        self.required = [(column, header.index(column)) for column in _REQUIRED_VALUES]
        self.lookup_type = header.index("lookup_type")
        self.size = header.index("size") if "size" in header else None
        # Digests name files in the cache: only hex of the right length gets past the catalog.
        self.digests = [(column, header.index(column)) for column in DIGEST_LENGTHS if column in header]

    def __call__(self, row: Sequence[str]) -> tuple[str, str] | None:
        """None for a good row, else (what was expected, what was found)."""
        if len(row) != self.width:
            return f"{self.width} fields as in the header", f"{len(row)} fields"
        empty = [column for column, position in self.required if not row[position].strip()]
        if empty:
            return "values in " + ", ".join(_REQUIRED_VALUES), f"empty {', '.join(empty)}"
        if row[self.lookup_type] not in LOOKUP_TYPES:
            return "lookup_type 'assembly' or 'stimulus_set'", repr(row[self.lookup_type])
        size = row[self.size] if self.size is not None else ""
        if size and not (size.isascii() and size.isdigit()):
            return "size as a whole number of bytes", repr(size)
        for column, position in self.digests:
            digest = row[position]
            if digest and not is_digest(column, digest):
                return f"{column} as {DIGEST_LENGTHS[column]} hex digits", repr(digest)
        return None


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
