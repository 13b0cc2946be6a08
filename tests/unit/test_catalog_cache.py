"""The on-disk catalog cache (store/catalog_cache): what it gives back is what parsing gives,
read one block at a time; damaged, truncated or foreign files are ignored with a warning."""

from __future__ import annotations

import csv
import functools
import io
import json
import logging
import re
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brainio_dvc.catalogs import CATALOG_COLUMNS, CatalogTable, parse_catalog_table, tables_from_json, tables_to_json
from brainio_dvc.exceptions import CatalogFormatError, CatalogRowError
from brainio_dvc.store.catalog_cache import cached_tables

COMMIT = "c0ffee" + "0" * 34
WARNING = "ignoring unreadable catalog cache"
REPOSITORY = Path(__file__).resolve().parents[2]


def row(identifier: str, lookup_type: str = "assembly", **values: str) -> dict[str, str]:
    base = {"identifier": identifier, "lookup_type": lookup_type, "class": "NeuronRecordingAssembly",
            "location_type": "dvc", "location": f"registry/{identifier}.nc", "sha1": "ab" * 20,
            "stimulus_set_identifier": "", "md5": "cd" * 16, "size": "10"}
    return {**base, **values}


def stimulus_rows(identifier: str) -> list[dict[str, str]]:
    return [row(identifier, "stimulus_set", **{"class": "StimulusSet", "location": f"{identifier}.csv"}),
            row(identifier, "stimulus_set", **{"class": "", "location": f"{identifier}.zip"})]


def csv_text(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CATALOG_COLUMNS)
    writer.writerows([[values[column] for column in CATALOG_COLUMNS] for values in rows])
    return buffer.getvalue()


def catalog_texts(groups: int = 60) -> dict[str, str]:
    """Three catalogs (one empty) with stimulus sets, assemblies and two malformed rows."""
    lab = [r for number in range(groups) for r in
           (*stimulus_rows(f"lab.set{number}"), row(f"lab.set{number}.a", stimulus_set_identifier=f"lab.set{number}"))]
    lab.insert(7, row("lab.Bad", md5="zz"))
    other = [row(f"other.é{number}") for number in range(groups)] + [row("other.odd", "images")]
    return {"lab": csv_text(lab), "other": csv_text(other), "empty": csv_text([])}


class Parser:
    """Parses catalog texts as a registry would, counting the calls."""

    def __init__(self, texts: dict[str, str]) -> None:
        self.texts = texts
        self.calls = 0

    def __call__(self) -> dict[str, CatalogTable]:
        self.calls += 1
        return {name: parse_catalog_table(text, f"{name}.csv", name) for name, text in self.texts.items()}


def cache_file(home: Path) -> Path:
    return home / "catalog-cache" / f"{COMMIT}.v6"


def assert_same(found: dict[str, CatalogTable], expected: dict[str, CatalogTable]) -> None:
    """Everything a reader can ask of the tables is what the parsed tables answer."""
    assert list(found) == list(expected)
    for name, table in expected.items():
        cached = found[name]
        assert (cached.name, cached.columns, cached.bad_rows) == (table.name, table.columns, table.bad_rows)
        for lookup_type in ("assembly", "stimulus_set", "images"):
            assert list(cached.identifiers(lookup_type)) == list(table.identifiers(lookup_type))
            for identifier in [*table.identifiers(lookup_type), "absent"]:
                assert [list(r) for r in cached.rows_of(lookup_type, identifier)] == [
                    list(r) for r in table.rows_of(lookup_type, identifier)]
        assert len(cached.rows) == len(table.rows)
        assert [list(r) for r in cached.rows] == [list(r) for r in table.rows]
        assert {k: dict(v) for k, v in (cached.index or {}).items()} == table.index
        assert cached.to_catalog().equals(table.to_catalog())
        assert [cached.record(r) for r in cached.rows] == [table.record(r) for r in table.rows]


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]


def header_and_body(path: Path) -> tuple[dict, int]:
    data = path.read_bytes()
    first = data.index(b"\n")
    second = data.index(b"\n", first + 1)
    return json.loads(data[first + 1 : second]), second + 1


def integers(data: bytes) -> list[int]:
    """The little-endian unsigned 32-bit integers of the blocks and their places."""
    return list(struct.unpack(f"<{len(data) // 4}I", data))


def block_places(path: Path) -> list[list[int]]:
    """The (offset, length, CRC-32) of each block, as the file says."""
    header, body = header_and_body(path)
    offset, length, _ = header["blocks"]
    places = integers(path.read_bytes()[body + offset : body + offset + length])
    return [places[number : number + 3] for number in range(0, len(places), 3)]


def test_the_cache_gives_back_what_parsing_gives(tmp_path: Path) -> None:
    parse = Parser(catalog_texts())
    written = cached_tables(tmp_path, COMMIT, parse)
    assert parse.calls == 1 and cache_file(tmp_path).is_file()
    read = cached_tables(tmp_path, COMMIT, parse)
    assert parse.calls == 1, "the second read parsed instead of reading the cache"
    assert_same(read, parse())
    assert_same(written, parse())
    with pytest.raises(CatalogRowError, match="lab.csv, line 9"):  # (a registry gives the source)
        read["lab"].with_constants("lab.csv", {}).check_usable("assembly", "lab.Bad")


def test_identifiers_of_the_same_code_are_told_apart(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Two identifiers whose CRC-32s are equal share a block and a code (one registry in a hundred
    of 10,000 identifiers has such a pair); each lookup still finds only its own rows."""
    assert zlib.crc32(b"lab.plumless") == zlib.crc32(b"lab.buckeroo")
    parse = Parser({"lab": csv_text([row("lab.plumless"), *stimulus_rows("lab.buckeroo"), row("lab.other")])})
    cached_tables(tmp_path, COMMIT, parse)
    with caplog.at_level(logging.WARNING):
        tables = cached_tables(tmp_path, COMMIT, parse)
        assert [r[0] for r in tables["lab"].rows_of("assembly", "lab.plumless")] == ["lab.plumless"]
        assert [r[4] for r in tables["lab"].rows_of("stimulus_set", "lab.buckeroo")] == [
            "lab.buckeroo.csv", "lab.buckeroo.zip"]
        assert tables["lab"].rows_of("assembly", "lab.buckeroo") == []
    assert warnings_of(caplog) == [] and parse.calls == 1
    assert_same(tables, parse())


def test_the_same_tables_give_the_same_bytes(tmp_path: Path) -> None:
    cached_tables(tmp_path / "a", COMMIT, Parser(catalog_texts()))
    cached_tables(tmp_path / "b", COMMIT, Parser(catalog_texts()))
    assert cache_file(tmp_path / "a").read_bytes() == cache_file(tmp_path / "b").read_bytes()


_IDENTIFIER = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12).filter(str.strip)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(_IDENTIFIER, st.sampled_from(["assembly", "stimulus_set"]), st.booleans()), max_size=80))
def test_any_rows_come_back_as_parsed(tmp_path_factory: pytest.TempPathFactory, rows: list) -> None:
    texts = {"one": csv_text([row(identifier.strip(), lookup_type, location=f"x{number}")
                              for number, (identifier, lookup_type, _) in enumerate(rows)]),
             "two": csv_text([row(identifier.strip(), location="y") for identifier, _, second in rows if second])}
    home = tmp_path_factory.mktemp("home")
    parse = Parser(texts)
    cached_tables(home, COMMIT, parse)
    assert_same(cached_tables(home, COMMIT, parse), parse())
    assert parse.calls == 2  # one to write the cache, one in assert_same


def test_a_lookup_reads_only_its_block(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Every other byte after the header damaged, a lookup still answers from the cache without
    a warning; a listing then reads the damaged rows, warns, parses again and writes the file."""
    parse = Parser(catalog_texts())
    cached_tables(tmp_path, COMMIT, parse)
    path = cache_file(tmp_path)
    intact = path.read_bytes()
    header, body = header_and_body(path)
    wanted = "lab.set3.a"
    blocks = block_places(path)
    assert len(blocks) > 4
    offset, length, _ = blocks[zlib.crc32(wanted.encode()) % len(blocks)]
    listed = integers(intact[body + offset : body + offset + length])
    places = header["blocks"]
    kept = [(offset, length), (places[0], places[1]), *zip(listed[3::6], listed[4::6], strict=True)]
    damaged = bytearray(intact[:body] + b"#" * (len(intact) - body))
    for start, size in kept:
        damaged[body + start : body + start + size] = intact[body + start : body + start + size]
    path.write_bytes(bytes(damaged))

    with caplog.at_level(logging.WARNING):
        tables = cached_tables(tmp_path, COMMIT, parse)
        rows = tables["lab"].rows_of("assembly", wanted)
        assert [r[0] for r in rows] == [wanted] and tables["other"].rows_of("assembly", wanted) == []
        assert warnings_of(caplog) == [] and parse.calls == 1
        assert path.read_bytes() == bytes(damaged)

        assert sorted(tables["lab"].identifiers("assembly")) == sorted(parse()["lab"].identifiers("assembly"))
    warned = warnings_of(caplog)
    assert len(warned) == 1 and WARNING in warned[0] and str(path) in warned[0], warned
    assert parse.calls == 3  # the cache write, the fall-back, the expectation above
    assert path.read_bytes() == intact, "the damaged file was not written again"
    assert_same(tables, parse())  # every catalog answers from the parsed tables now
    assert len(warnings_of(caplog)) == 1


def truncations(data: bytes) -> list[bytes]:
    first = data.index(b"\n")
    second = data.index(b"\n", first + 1)
    return [b"", data[:10], data[: first + 1], data[: first + 20], data[:second], data[: second + 1],
            data[: second + 50], data[:-1]]


@pytest.mark.parametrize("cut", range(8))
def test_a_truncated_file_is_ignored_with_a_warning_and_written_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, cut: int
) -> None:
    parse = Parser(catalog_texts())
    cached_tables(tmp_path, COMMIT, parse)
    path = cache_file(tmp_path)
    intact = path.read_bytes()
    path.write_bytes(truncations(intact)[cut])
    with caplog.at_level(logging.WARNING):
        tables = cached_tables(tmp_path, COMMIT, parse)
        assert_same(tables, parse())
    warned = warnings_of(caplog)
    assert len(warned) == 1 and WARNING in warned[0] and str(path) in warned[0], warned
    assert path.read_bytes() == intact


def flip(data: bytes, position: int) -> bytes:
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


@pytest.mark.parametrize("where", ["first line", "header", "row", "block"])
def test_a_flipped_bit_is_noticed(tmp_path: Path, caplog: pytest.LogCaptureFixture, where: str) -> None:
    parse = Parser(catalog_texts())
    cached_tables(tmp_path, COMMIT, parse)
    path = cache_file(tmp_path)
    intact = path.read_bytes()
    header, body = header_and_body(path)
    block = body + block_places(path)[0][0] + 3
    position = {"first line": 3, "header": intact.index(b'"columns"'), "row": body + 40, "block": block}[where]
    path.write_bytes(flip(intact, position))
    with caplog.at_level(logging.WARNING):
        assert_same(cached_tables(tmp_path, COMMIT, parse), parse())
    warned = warnings_of(caplog)
    assert len(warned) == 1 and str(path) in warned[0], warned
    assert path.read_bytes() == intact


def rewrite_header(path: Path, edit: Callable[[dict], None]) -> None:
    """Change a cache file's header through ``edit``, with its CRC-32 made to match: a file
    that only a writer that ignores the format would make."""
    header, body = header_and_body(path)
    edit(header)
    encoded = json.dumps(header).encode()
    path.write_bytes(b"brainio-dvc catalog cache 6 %d\n" % zlib.crc32(encoded) + encoded + b"\n"
                     + path.read_bytes()[body:])


def shrink_place(header: dict) -> None:
    header["catalogs"]["lab"]["place"][1] -= 10


def swap_blocks(header: dict, path: Path) -> None:
    """The places of blocks 0 and 1 swapped (and the CRC-32 of the places made to match)."""
    places = block_places(path)
    places[0], places[1] = places[1], places[0]
    packed = struct.pack(f"<{3 * len(places)}I", *(number for place in places for number in place))
    data = bytearray(path.read_bytes())
    _, body = header_and_body(path)
    offset, length, _ = header["blocks"]
    data[body + offset : body + offset + length] = packed
    path.write_bytes(bytes(data))
    header["blocks"][2] = zlib.crc32(packed)


@pytest.mark.parametrize("edit", [
    lambda header: header["catalogs"]["lab"].update(rows=10**6),
    lambda header: header["catalogs"]["other"].update(rows=0),
    shrink_place,
    swap_blocks,
], ids=["more rows", "no rows", "a shorter place", "blocks swapped"])
def test_well_formed_files_that_do_not_hold_together_are_parsed_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, edit: Callable[[dict], None]
) -> None:
    parse = Parser(catalog_texts())
    cached_tables(tmp_path, COMMIT, parse)
    path = cache_file(tmp_path)
    intact = path.read_bytes()
    rewrite_header(path, functools.partial(edit, path=path) if edit is swap_blocks else edit)
    assert path.read_bytes() != intact
    with caplog.at_level(logging.WARNING):
        assert_same(cached_tables(tmp_path, COMMIT, parse), parse())
    warned = warnings_of(caplog)
    assert len(warned) == 1 and str(path) in warned[0], warned
    assert path.read_bytes() == intact


@pytest.mark.parametrize("edit", [
    lambda header: header["catalogs"]["lab"].update(columns=["identifier"]),
    lambda header: header["catalogs"]["lab"].update(columns=[*header["catalogs"]["lab"]["columns"], "identifier"]),
    lambda header: header["catalogs"]["lab"].update(bad_rows=[{"line": "3"}]),
    lambda header: header["catalogs"]["lab"].update(place=[0, -1, 0]),
    lambda header: header.update(blocks=[]),
    lambda header: header.update(size=5),
    lambda header: header.update(catalogs=[]),
], ids=["columns", "duplicated columns", "bad rows", "place", "no blocks", "size", "catalogs"])
def test_a_header_that_is_not_one_is_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, edit: Callable[[dict], None]
) -> None:
    parse = Parser(catalog_texts())
    cached_tables(tmp_path, COMMIT, parse)
    path = cache_file(tmp_path)
    intact = path.read_bytes()
    rewrite_header(path, edit)
    with caplog.at_level(logging.WARNING):
        assert_same(cached_tables(tmp_path, COMMIT, parse), parse())
    assert len(warnings_of(caplog)) == 1
    assert path.read_bytes() == intact


@pytest.mark.parametrize("edit", [
    lambda header: header["catalogs"]["lab"].update(columns=[*header["catalogs"]["lab"]["columns"], "extra"]),
    lambda header: header["catalogs"]["lab"].update(bad_rows=[]),
], ids=["columns", "bad rows"])
def test_a_header_that_the_catalogs_contradict_is_an_error_naming_the_file(
    tmp_path: Path, edit: Callable[[dict], None]
) -> None:
    """The rows found not to fit the header after it was used, and the catalogs parsed again
    are not the ones the header described: only a file that another writer made up does this."""
    parse = Parser(catalog_texts())
    cached_tables(tmp_path, COMMIT, parse)
    path = cache_file(tmp_path)

    def edited(header: dict) -> None:
        edit(header)
        header["catalogs"]["lab"]["rows"] += 1  # so that reading every row fails

    rewrite_header(path, edited)
    tables = cached_tables(tmp_path, COMMIT, parse)
    expected = re.escape(str(path)) + ".*catalog 'lab' with the columns and bad rows"
    with pytest.raises(CatalogFormatError, match=expected):
        list(tables["lab"].rows)


def test_another_version_is_never_read(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    parse = Parser(catalog_texts())
    path = cache_file(tmp_path)
    path.parent.mkdir(parents=True)
    old = path.with_name(f"{COMMIT}.json")  # version 5's file
    old.write_text(json.dumps({"version": 5, "catalogs": tables_to_json(parse())}))
    other_commit = path.with_name("f" * 40 + ".json")
    other_commit.write_text(old.read_text())
    with caplog.at_level(logging.WARNING):
        assert_same(cached_tables(tmp_path, COMMIT, parse), parse())
        assert parse.calls == 3  # parsed, not read from version 5's file,
        assert not old.exists() and other_commit.exists()  # which is removed once version 6's is written
        intact = path.read_bytes()
        path.write_bytes(intact.replace(b"cache 6 ", b"cache 7 ", 1))  # a later version's first line
        assert_same(cached_tables(tmp_path, COMMIT, parse), parse())
    assert warnings_of(caplog) == []
    assert path.read_bytes() == intact


def test_a_file_that_is_not_a_cache_is_ignored_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = cache_file(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    parse = Parser(catalog_texts())
    with caplog.at_level(logging.WARNING):
        assert_same(cached_tables(tmp_path, COMMIT, parse), parse())
    warned = warnings_of(caplog)
    assert len(warned) == 1 and "not a catalog cache file" in warned[0] and str(path) in warned[0]


_WRITER = """
import json, sys
from pathlib import Path
from brainio_dvc.catalogs import parse_catalog_table
from brainio_dvc.store.catalog_cache import cached_tables
home = Path(sys.argv[1])
texts = json.loads(Path(sys.argv[2]).read_text())
for _ in range({rounds}):
    (home / "catalog-cache" / "{commit}.v6").unlink(missing_ok=True)
    cached_tables(home, "{commit}", lambda: {{name: parse_catalog_table(text, name + ".csv", name)
                                             for name, text in texts.items()}})
"""


def test_readers_never_see_a_half_written_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Two processes remove the file and write it again, over and over, while this one reads it
    (and writes it too when it finds none)."""
    texts = catalog_texts(groups=300)
    parse = Parser(texts)
    expected = parse()
    cached_tables(tmp_path, COMMIT, parse)
    code = _WRITER.format(rounds=60, commit=COMMIT)
    texts_file = tmp_path / "texts.json"
    texts_file.write_text(json.dumps(texts))
    writers = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), str(texts_file)], cwd=REPOSITORY)
               for _ in range(2)]
    reads = 0
    with caplog.at_level(logging.WARNING):
        while any(writer.poll() is None for writer in writers) or reads < 20:
            tables = cached_tables(tmp_path, COMMIT, parse)
            assert [list(r) for r in tables["lab"].rows] == [list(r) for r in expected["lab"].rows]
            reads += 1
    assert [writer.wait() for writer in writers] == [0, 0]
    assert warnings_of(caplog) == []
    assert not [path for path in cache_file(tmp_path).parent.iterdir() if path.name.endswith(".tmp")]


# --- the JSON form of tables refuses what is not a table (fixed: this was accepted) ----------


def test_json_tables_with_duplicated_columns_are_refused() -> None:
    table = parse_catalog_table(csv_text([row("lab.A")]), "demo.csv", "demo")
    data = tables_to_json({"demo": table})["demo"]
    assert tables_from_json({"demo": data}) is not None
    duplicated = {**data, "columns": [*data["columns"][:-1], "identifier"]}
    assert tables_from_json({"demo": duplicated}) is None


def test_catalogs_beyond_32_bit_offsets_are_not_cached(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(4 GB of rows cannot be made here: the limit is lowered to what a few rows take.)"""
    from brainio_dvc.store import catalog_cache

    monkeypatch.setattr(catalog_cache, "_LIMIT", 1000)
    parse = Parser(catalog_texts())
    with caplog.at_level(logging.WARNING):
        assert_same(cached_tables(tmp_path, COMMIT, parse), parse())
    assert not cache_file(tmp_path).exists()
    assert any("too large for a catalog cache" in message for message in warnings_of(caplog))
