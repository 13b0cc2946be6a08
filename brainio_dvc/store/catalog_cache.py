"""The on-disk catalog cache: a commit's validated catalog tables, written once and read back.

A commit fixes its tree, so the tables of a commit never go stale: one file per commit,
``$BRAINIO_HOME/catalog-cache/<commit>.v6``, shared by all registries and processes.  It is
laid out so that a lookup in a new process decodes the rows of one identifier, not every row,
and a listing decodes every row as fast as one JSON array allows:

- a first line, ``brainio-dvc catalog cache 6 <CRC-32 of the header>``;
- a header, one line of JSON: ``{"size": <bytes after the header>, "catalogs": {name:
  {"columns": [...], "rows": <count>, "bad_rows": [{"line", "expected", "found", "cells"}, ...],
  "place": [offset, length, CRC-32]}}, "blocks": [offset, length, CRC-32]}`` (offsets count
  the bytes after the header);
- each catalog's rows, in order, as one JSON array (at its ``place``);
- the blocks.  The rows of an identifier, in every catalog, are listed in one block, chosen by
  the CRC-32 of the identifier (:func:`_code`): for each row, six little-endian 32-bit
  unsigned integers, its identifier's code, the catalog's position in the header, the row's
  number there, the offset and length of its JSON, and their CRC-32.  A block lists some
  :data:`_BLOCK_ROWS` rows; a lookup decodes only its identifier's rows;
- the places of the blocks (at the header's ``blocks``): offset, length and CRC-32 of each, as
  the same integers.  (Binary, not JSON: JSON's integers decode ten times slower.)

Reading a file checks its first line, the header's CRC-32, the header and the file's size.  A
block is checked when it is first read (its place, its CRC-32, then codes of this block and
catalogs of the header), an identifier's rows when they are (their places, their CRC-32s, then
rows of as many fields as the columns, with that identifier's code), and a catalog's rows when
all are first read (their CRC-32, then as many rows as the header says, of as many fields as
the columns).  (A file that
another writer made up could leave a row out of its block: a lookup would not find it.)
Everything read is data (JSON, never pickle): the directory may be shared.  A file that fails a
check, at once or when a block is read later, is ignored with a warning that names it; the
catalogs are then parsed again (once) and the file written again.  A file of another version
has another name and is never opened; a file whose first line names another version is
ignored and rewritten.  Writes are atomic (:mod:`~brainio_dvc.formats.atomic`): a reader sees
a whole file or none.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import struct
import threading
import weakref
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import overload

from ..exceptions import CatalogFormatError
from ..formats.atomic import atomic_path
from ..formats.catalog_csv import BadRow, CatalogTable, are_catalog_columns, are_catalog_rows, index_rows

__all__ = ["cached_tables"]

logger = logging.getLogger(__name__)

_DIRECTORY = "catalog-cache"
_VERSION = 6  # bump whenever parsing or validation of catalogs, or this layout, changes
_MAGIC = b"brainio-dvc catalog cache"
#: Rows listed in a block, on average.  A lookup of a new identifier decodes one block (some
#: 5 µs); each block's place takes 12 bytes, decoded by the first lookup (~10 µs per 1,000).
_BLOCK_ROWS = 4
#: Bytes read first: the first line and header of most files.
_FIRST_READ = 64 * 1024

Parse = Callable[[], dict[str, CatalogTable]]
#: Fields of a row's entry in a block: its identifier's code, catalog, number, offset, length, CRC-32.
_ENTRY = 6
#: Each field, and each of the 3 fields of a block's place: a little-endian unsigned 32-bit integer.
_FIELD = "I"
_FIELD_BYTES = 4
_LIMIT = 2**32


def _pack(values: Sequence[int]) -> bytes:
    return struct.pack(f"<{len(values)}{_FIELD}", *values)


def _unpack(data: bytes) -> tuple[int, ...]:
    return struct.unpack(f"<{len(data) // _FIELD_BYTES}{_FIELD}", data)


def cached_tables(home: Path, commit: str, parse: Parse) -> dict[str, CatalogTable]:
    """The validated catalog tables of ``commit`` (without provenance), by name.

    Read from the cache of ``home`` when it holds them; otherwise ``parse()`` gives them and
    they are cached.  When the cache file turns out damaged, now or when a block of it is read
    later, ``parse()`` is called (once) instead and the file written again.
    """
    path = home / _DIRECTORY / f"{commit}.v{_VERSION}"
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        descriptor = None
    except OSError as error:
        logger.warning("ignoring unreadable catalog cache %s: %s", path, error)
        descriptor = None
    if descriptor is not None:
        opened = _CacheFile.open(path, descriptor, parse)
        if opened is not None:
            return opened
    tables = parse()
    _write(path, tables)
    _remove_earlier_versions(path, commit)
    return tables


def _write(path: Path, tables: Mapping[str, CatalogTable]) -> None:
    """Cache ``tables`` in ``path`` (atomically: readers see all or nothing)."""
    data = _encode(tables)
    if data is None:
        logger.warning("catalogs too large for a catalog cache (4 GB), not cached in %s", path)
        return
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def _remove_earlier_versions(path: Path, commit: str) -> None:
    """Remove the file that earlier versions of this cache kept for ``commit``
    (``<commit>.json``, versions 1 to 5), which this version never reads: without this it would
    stay forever.  An earlier version still in use writes its file again."""
    earlier = path.with_name(f"{commit}.json")
    try:
        earlier.unlink(missing_ok=True)
    except OSError as error:  # a read-only or shared directory: it only takes space
        logger.debug("could not remove %s: %s", earlier, error)


def _code(identifier: str) -> int:
    """The code of ``identifier``, the same in every process; code % blocks is its block."""
    return zlib.crc32(identifier.encode("utf-8", "surrogatepass"))


def _encode(tables: Mapping[str, CatalogTable]) -> bytes | None:
    """The bytes of a cache file of ``tables`` (the same tables always give the same bytes), or
    None when their rows take more than 32-bit offsets reach."""
    count = max(-(-sum(len(table.rows) for table in tables.values()) // _BLOCK_ROWS), 1)
    listed: list[list[int]] = [[] for _ in range(count)]
    body = bytearray()
    catalogs = {}
    for position, (name, table) in enumerate(tables.items()):
        identifier_at = table.columns.index("identifier")
        start = len(body)
        body += b"["
        for number, row in enumerate(table.rows):
            if number:
                body += b","
            encoded = json.dumps(list(row)).encode("utf-8")
            code = _code(row[identifier_at])
            listed[code % count] += [code, position, number, len(body), len(encoded), zlib.crc32(encoded)]
            body += encoded
        body += b"]"
        catalogs[name] = {
            "columns": list(table.columns),
            "rows": len(table.rows),
            "bad_rows": [bad.to_json() for bad in table.bad_rows],
            "place": [start, len(body) - start, zlib.crc32(body[start:])],
        }
    if len(body) + _FIELD_BYTES * (sum(map(len, listed)) + 3 * count) >= _LIMIT:  # the blocks and their places
        return None
    places = []
    for block in listed:
        encoded = _pack(block)
        places += [len(body), len(encoded), zlib.crc32(encoded)]
        body += encoded
    packed = _pack(places)
    blocks = [len(body), len(packed), zlib.crc32(packed)]
    body += packed
    header = json.dumps({"size": len(body), "catalogs": catalogs, "blocks": blocks}).encode("utf-8")
    first = b"%s %d %d\n" % (_MAGIC, _VERSION, zlib.crc32(header))
    return first + header + b"\n" + bytes(body)


class _CacheFile:
    """One open cache file: its rows, read, decoded and checked when first asked for, and what
    to do when they are damaged (parse the catalogs again, once, and write the file).

    The file stays open while its tables are in use, and is read with ``os.pread``: a writer
    that replaces it meanwhile (a rename) leaves this one as it was, and a lookup reads only
    the header, the places of the blocks, one block and its rows, not the whole file.
    """

    def __init__(self, path: Path, descriptor: int, size: int, body: int, parse: Parse) -> None:
        self.path = path
        self._descriptor = descriptor
        self._close = weakref.finalize(self, os.close, descriptor)
        self._size = size
        self._body = body
        self._parse = parse
        #: Offset, length and CRC-32 of each block, one after the other.
        self._places: tuple[int, ...] = ()
        #: Each catalog's (columns, number of rows, place of its rows), in the header's order.
        self._shapes: list[tuple[int, int, list[int]]] = []
        #: Decoded blocks (decoding one twice, in two threads at once, is harmless).
        self._decoded: dict[int, dict[tuple[int, int], list[tuple[int, ...]]]] = {}
        self._parsed: dict[str, CatalogTable] | None = None
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path, descriptor: int, parse: Parse) -> dict[str, CatalogTable] | None:
        """The tables of the file open as ``descriptor`` (which they then own), their rows not
        read yet; None (with a warning, unless the file names another version, and the file
        closed) when it is not such a file."""
        try:
            size = os.fstat(descriptor).st_size
            data = os.pread(descriptor, min(size, _FIRST_READ), 0)
            if data.count(b"\n") < 2 and len(data) < size:  # a header longer than the first read
                data = os.pread(descriptor, size, 0)
        except OSError as error:
            os.close(descriptor)
            logger.warning("ignoring unreadable catalog cache %s: %s", path, error)
            return None
        tables = cls._read(path, descriptor, size, data, parse)
        if tables is None:
            os.close(descriptor)
        return tables

    @classmethod
    def _read(cls, path: Path, descriptor: int, size: int, data: bytes, parse: Parse) -> dict[str, CatalogTable] | None:
        """The tables of a file of ``size`` bytes that begins with ``data``, or None (with a
        warning, unless the file names another version)."""
        first_end = data.find(b"\n")
        first = data[:first_end].split(b" ") if first_end >= 0 else []
        if first[:-2] == _MAGIC.split(b" ") and first[-2:-1] != [b"%d" % _VERSION]:
            return None
        header_end = data.find(b"\n", first_end + 1)
        header = data[first_end + 1 : header_end] if first_end >= 0 and header_end >= 0 else b""
        if first[:-2] != _MAGIC.split(b" ") or not first[-1].isdigit():
            problem = "not a catalog cache file"
        elif zlib.crc32(header) != int(first[-1]):
            problem = "its header's CRC-32 does not match (a damaged or truncated file)"
        else:
            file = cls(path, descriptor, size, header_end + 1, parse)
            tables = file._tables(_json(header))
            if not isinstance(tables, str):
                return tables
            file._close.detach()  # the caller closes it
            problem = tables
        logger.warning("ignoring unreadable catalog cache %s: %s", path, problem)
        return None

    def _tables(self, header: object) -> dict[str, CatalogTable] | str:
        """The tables of the file's ``header``, or what is wrong with it."""
        if not isinstance(header, dict) or not isinstance(header.get("catalogs"), dict):
            return "its header is not an object with catalogs"
        size = self._size - self._body
        if header.get("size") != size:
            return f"{size} bytes after the header, not {header.get('size')!r} (a truncated file?)"
        place = header.get("blocks")
        table = self._bytes(*place[:2]) if self._is_place(place) else b""  # type: ignore[index]  # a place
        if not table or len(table) % (3 * _FIELD_BYTES) or zlib.crc32(table) != place[2]:  # type: ignore[index]
            return "the places of its blocks are missing, or their CRC-32 does not match"
        self._places = _unpack(table)
        tables = {}
        for position, (name, entry) in enumerate(header["catalogs"].items()):
            entry = entry if isinstance(entry, dict) else {}
            columns, count, place, bad_data = (entry.get(key) for key in ("columns", "rows", "place", "bad_rows"))
            if not are_catalog_columns(columns) or type(count) is not int or count < 0 or not self._is_place(place):
                return f"catalog {name!r} has no valid columns, number of rows or place"
            read = [BadRow.from_json(bad, columns) for bad in bad_data] if isinstance(bad_data, list) else [None]
            bad_rows = tuple(bad for bad in read if bad is not None)
            if len(bad_rows) != len(read):
                return f"catalog {name!r} has malformed bad rows"
            self._shapes.append((len(columns), count, place))  # type: ignore[arg-type]  # a place, checked
            blocks = _Blocks(self, position, name, tuple(columns), bad_rows, count)
            rows, index = _LazyRows(blocks), _LazyIndex(blocks)
            tables[name] = CatalogTable(name, tuple(columns), rows, index=index, bad_rows=bad_rows, blocks=blocks)
        return tables

    def _is_place(self, place: object) -> bool:
        if not isinstance(place, list) or len(place) != 3 or not set(map(type, place)) <= {int}:
            return False
        offset, length, crc = place
        return offset >= 0 and length >= 0 and offset + length <= self._size - self._body and crc >= 0

    def _bytes(self, offset: int, length: int) -> bytes:
        """``length`` bytes at ``offset`` after the header (fewer if the file has fewer)."""
        try:
            return os.pread(self._descriptor, length, self._body + offset)
        except OSError:  # closed, once the catalogs were parsed again
            return b""

    def rows_of(self, position: int, identifier: str, at: int) -> list[tuple[int, list[str]]] | str:
        """The (row number, row)s that the catalog at ``position`` has of ``identifier`` (in
        column ``at``), or what is wrong with the file ("" once the catalogs were parsed again
        instead: the file is not read any more)."""
        code = _code(identifier)
        block = code % (len(self._places) // 3)
        listed = self._block(block)
        if isinstance(listed, str):
            return listed
        entries = listed.get((code, position))
        if entries is None:
            return []
        width, count, (start, extent, _) = self._shapes[position]
        found = []
        for number, offset, length, crc in entries:  # one row, or two (a stimulus set's)
            piece = self._bytes(offset, length) if start <= offset <= offset + length <= start + extent else b""
            row = _json(piece) if 0 <= number < count and zlib.crc32(piece) == crc else None
            if type(row) is not list or len(row) != width:
                return f"block {block}: a row of catalog {position} not where it says, or not of its {width} fields"
            if row[at] == identifier:
                found.append((number, row))
            elif not isinstance(row[at], str) or _code(row[at]) != code:  # (else: another identifier, same code)
                return f"block {block}: a row listed under another identifier's code"
        return found if len(found) < 2 else sorted(found, key=lambda entry: entry[0])

    def _block(self, block: int) -> dict[tuple[int, int], list[tuple[int, ...]]] | str:
        """The entries of ``block``, (number, offset, length, CRC-32) by identifier code and
        catalog, or what is wrong with the file ("": parsed again)."""
        found = self._decoded.get(block)
        if found is None:
            if self._parsed is not None:
                return ""
            offset, length, crc = self._places[3 * block : 3 * block + 3]
            data = self._bytes(offset, length) if offset + length <= self._size - self._body else b"-"
            if len(data) % (_ENTRY * _FIELD_BYTES) or zlib.crc32(data) != crc:
                return f"block {block}: its CRC-32 does not match, or it is not entries of {_ENTRY} fields"
            listed, blocks, catalogs = _unpack(data), len(self._places) // 3, len(self._shapes)
            found = {}
            for entry in range(0, len(listed), _ENTRY):
                code, position = listed[entry], listed[entry + 1]
                if code % blocks != block or position >= catalogs:
                    return f"block {block}: rows of identifiers of another block, or of catalogs not in the header"
                found.setdefault((code, position), []).append(listed[entry + 2 : entry + _ENTRY])
            self._decoded[block] = found
        return found

    def rows(self, position: int) -> list[list[str]] | str:
        """Every row of the catalog at ``position``, or what is wrong with the file ("": the
        catalogs were parsed again instead)."""
        if self._parsed is not None:
            return ""
        width, count, (offset, length, crc) = self._shapes[position]
        data = self._bytes(offset, length)
        rows = _json(data) if zlib.crc32(data) == crc else None
        if not are_catalog_rows(rows, width) or len(rows) != count:
            return f"catalog {position}: its CRC-32 does not match, or not {count} rows of {width} fields"
        return rows

    def parsed(self, name: str, columns: tuple[str, ...], bad_rows: tuple[BadRow, ...], problem: str) -> CatalogTable:
        """Catalog ``name`` parsed again because of the file's ``problem`` (warned about once):
        it must have the ``columns`` and ``bad_rows`` that the header gave."""
        with self._lock:
            if self._parsed is None:
                logger.warning("ignoring unreadable catalog cache %s: %s", self.path, problem)
                self._parsed = self._parse()
                _write(self.path, self._parsed)
                self._close()  # nothing more is read from it
        table = self._parsed.get(name)
        if table is None or (table.columns, table.bad_rows) != (columns, bad_rows):
            found = "no such catalog" if table is None else f"columns {list(table.columns)}"
            found += "" if table is None or table.bad_rows == bad_rows else f" and {len(table.bad_rows)} bad rows"
            raise CatalogFormatError(
                str(self.path), f"catalog {name!r} with the columns and bad rows of the catalog at its commit", found
            )
        return table


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """The garbage collector paused: the ~100,000 lists and strings of 10,000 rows, and their
    index, otherwise set off collections that add a quarter to reading them."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _json(data: bytes) -> object:
    """The JSON value of ``data``; None when it is not JSON (a damaged file)."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError):  # not UTF-8 or not JSON; nested beyond what Python parses
        return None


class _Blocks:
    """The rows of one catalog of a cache file, decoded as they are asked for."""

    def __init__(
        self,
        file: _CacheFile,
        position: int,
        name: str,
        columns: tuple[str, ...],
        bad_rows: tuple[BadRow, ...],
        count: int,
    ) -> None:
        self._file = file
        self._position = position
        self._name = name
        self._columns = columns
        self._bad_rows = bad_rows
        self._count = count
        self._identifier_at = columns.index("identifier")
        self._lookup_type_at = columns.index("lookup_type")
        self._rows: Sequence[Sequence[str]] | None = None
        self._index: Mapping[str, Mapping[str, list[int]]] | None = None
        #: The table parsed again when the file turned out damaged, which answers instead.
        self._parsed: CatalogTable | None = None

    def __len__(self) -> int:
        return self._count if self._parsed is None else len(self._parsed.rows)

    def rows_of(self, lookup_type: str, identifier: str) -> list[Sequence[str]]:
        if self._parsed is not None:
            return self._parsed.rows_of(lookup_type, identifier)
        found = self._file.rows_of(self._position, identifier, self._identifier_at)
        if isinstance(found, str):
            return self._reparsed(found).rows_of(lookup_type, identifier)
        at, lookup_type_at = self._identifier_at, self._lookup_type_at
        return [row for _, row in found if row[at] == identifier and row[lookup_type_at] == lookup_type]

    def rows(self) -> Sequence[Sequence[str]]:
        """Every row, in order."""
        if self._rows is None:
            with _gc_paused():
                found = self._file.rows(self._position) if self._parsed is None else ""
                self._rows = self._reparsed(found).rows if isinstance(found, str) else found
        return self._rows

    def index(self) -> Mapping[str, Mapping[str, list[int]]]:
        """{lookup_type: {identifier: [row numbers]}} of every row, as a parsed table's."""
        if self._index is None:
            with _gc_paused():
                rows = self.rows()
                self._index = index_rows(self._columns, rows) if self._parsed is None else self._parsed.index or {}
        return self._index

    def _reparsed(self, problem: str) -> CatalogTable:
        """The table parsed again, which answers from now on, because of ``problem`` ("": the
        file's catalogs were parsed again already)."""
        if self._parsed is None:
            self._parsed = self._file.parsed(self._name, self._columns, self._bad_rows, problem)
        return self._parsed


class _LazyRows(Sequence[Sequence[str]]):
    """A cached catalog's rows, all read when first used (their number is known at once)."""

    def __init__(self, blocks: _Blocks) -> None:
        self._blocks = blocks

    def __len__(self) -> int:
        return len(self._blocks)

    @overload
    def __getitem__(self, position: int) -> Sequence[str]: ...
    @overload
    def __getitem__(self, position: slice) -> Sequence[Sequence[str]]: ...
    def __getitem__(self, position: int | slice) -> Sequence[str] | Sequence[Sequence[str]]:
        return self._blocks.rows()[position]

    def __iter__(self) -> Iterator[Sequence[str]]:
        return iter(self._blocks.rows())

    def __eq__(self, other: object) -> bool:
        return list(self) == (list(other) if isinstance(other, _LazyRows) else other)

    __hash__ = None  # type: ignore[assignment]  # a list's, which is unhashable

    def __repr__(self) -> str:
        return repr(list(self))


class _LazyIndex(Mapping[str, Mapping[str, list[int]]]):
    """A cached catalog's index, made from every row when first used."""

    def __init__(self, blocks: _Blocks) -> None:
        self._blocks = blocks

    def __getitem__(self, lookup_type: str) -> Mapping[str, list[int]]:
        return self._blocks.index()[lookup_type]

    def __iter__(self) -> Iterator[str]:
        return iter(self._blocks.index())

    def __len__(self) -> int:
        return len(self._blocks.index())
