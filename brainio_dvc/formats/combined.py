"""Several catalog tables read as one: the rule by which :mod:`brainio_dvc.lookup` combines them.

Identical rows from several catalogs count once (the same values in
:data:`~brainio_dvc.formats.catalog_csv.CATALOG_COLUMNS`); conflicting rows make a lookup of
that identifier an error; a row a catalog set aside as malformed makes a lookup of its
identifier a :class:`~brainio_dvc.exceptions.CatalogRowError`.  Each identifier's rows are
gathered, de-duplicated and checked when first asked for, so that a lookup never reads every
row.  Pure: tables in, rows out; where the tables come from is the lookup's business.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, NamedTuple, TypeVar

import pandas as pd

from ..exceptions import ValidationError
from .catalog_csv import BRAINIO_COLUMNS, CATALOG_COLUMNS, LOOKUP_TYPES, TYPE_ASSEMBLY, CatalogTable

__all__ = ["SOURCE_CATALOG", "CombinedTables", "as_series"]

#: Column added when catalogs are combined: which catalog a row came from.
SOURCE_CATALOG = "source_catalog"
_Frame = TypeVar("_Frame", bound=pd.DataFrame)


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


class CombinedTables:
    """The rows of several catalog tables, the first table first.

    ``searched`` names each table for the error of an identifier found in none of them, and
    ``keep`` is held for the caller (what the tables came from, kept alive with them).
    """

    def __init__(self, tables: Sequence[CatalogTable], searched: Sequence[str], keep: object = None) -> None:
        self.tables = list(tables)
        self.searched = list(searched)
        self.keep = keep
        self._entries: dict[tuple[str, str], list[_Entry]] = {}
        self._records: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._series: dict[tuple[str, str], list[pd.Series]] = {}
        self._frames: dict[type[pd.DataFrame], pd.DataFrame] = {}

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
        """The rows of an identifier, each a new dict.  Built and checked once: the tables do
        not change, so a second lookup copies the first one's rows (the same check would pass)."""
        key = (lookup_type, identifier)
        found = self._records.get(key)
        if found is None:
            found = self._records[key] = [entry.record() for entry in self.entries(lookup_type, identifier)]
        return [dict(record) for record in found]

    def series(self, lookup_type: str, identifier: str) -> list[pd.Series]:
        """The rows of :meth:`records` as Series, built once: callers get copies, which take
        half the time of building a Series."""
        key = (lookup_type, identifier)
        found = self._series.get(key)
        if found is None:
            found = [as_series(record) for record in self.records(lookup_type, identifier)]
            if found:
                self._series[key] = found
        return found

    def identifiers(self, lookup_type: str) -> set[str]:
        return {identifier for table in self.tables for identifier in table.identifiers(lookup_type)}

    def frame(self, cls: type[_Frame]) -> _Frame:
        """Every good row (malformed ones were set aside and warned about) as one frame of
        ``cls``, with ``source_catalog``; built once."""
        found = self._frames.get(cls)
        if not isinstance(found, cls):
            rows = [
                entry.record()
                for lookup_type in LOOKUP_TYPES
                for identifier in sorted(self.identifiers(lookup_type))
                for entry in self._gathered(lookup_type, identifier)
            ]
            found = self._frames[cls] = cls(pd.DataFrame(rows, columns=_combined_columns(rows), dtype=object))
        return found


def _combined_columns(rows: list[dict[str, Any]]) -> list[str]:
    columns = dict.fromkeys([*BRAINIO_COLUMNS, SOURCE_CATALOG])
    for row in rows:
        columns.update(dict.fromkeys(row))
    return list(columns)


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


def as_series(row: dict[str, Any]) -> pd.Series:
    """A catalog row as a Series of objects, as BrainIO's lookups return them."""
    return pd.Series(list(row.values()), index=_series_index(tuple(row)), dtype=object)


@functools.lru_cache(maxsize=32)
def _series_index(columns: tuple[str, ...]) -> pd.Index:
    """One index per set of columns: building it is most of the cost of a row's Series."""
    return pd.Index(columns, dtype=object)
