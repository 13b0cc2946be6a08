"""Catalog CSVs: parsing with line-numbered errors, deterministic rendering, the Catalog frame."""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brainio_dvc.catalogs import (
    BRAINIO_COLUMNS,
    CATALOG_COLUMNS,
    Catalog,
    parse_catalog_csv,
    parse_catalog_table,
    render_catalog_csv,
    tables_from_json,
    tables_to_json,
    with_appended_row,
)
from brainio_dvc.exceptions import BrainioDvcError, CatalogFormatError, CatalogRowError
from tests.unit import rows

SOURCE = "catalogs/demo/lookup.csv"
HEADER = ",".join(CATALOG_COLUMNS)
ASSEMBLY = {**rows.ASSEMBLY, "md5": "", "size": "1024"}
STIMULUS_CSV = {**rows.STIMULUS_CSV, "md5": "", "size": "10"}
STIMULUS_ZIP = {**rows.STIMULUS_ZIP, "md5": "", "size": "20"}

def csv_text(rows: list[dict[str, str]], columns: tuple[str, ...] = CATALOG_COLUMNS) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([[row.get(column, "") for column in columns] for row in rows])
    return buffer.getvalue()


def format_error(text: str) -> CatalogFormatError:
    """The error of the whole file, or else of its one malformed row (set aside, not raised)."""
    try:
        table = parse_catalog_table(text, SOURCE)
    except CatalogFormatError as error:
        return error
    assert len(table.bad_rows) == 1, table.bad_rows
    return table.bad_rows[0].format_error(SOURCE)


# --- parse_catalog_csv: valid input ---------------------------------------------------------


def test_parse_gives_a_catalog_with_the_rows_as_text() -> None:
    catalog = parse_catalog_csv(csv_text([ASSEMBLY, STIMULUS_CSV, STIMULUS_ZIP]), source=SOURCE)
    assert isinstance(catalog, Catalog)
    assert list(catalog.columns) == list(CATALOG_COLUMNS)
    assert catalog.to_dict(orient="records") == [ASSEMBLY, STIMULUS_CSV, STIMULUS_ZIP]


def test_parse_accepts_brainio_columns_alone_and_extra_columns() -> None:
    columns = (*BRAINIO_COLUMNS, "note")
    row = {**{c: ASSEMBLY[c] for c in BRAINIO_COLUMNS}, "note": "kept"}
    catalog = parse_catalog_csv(csv_text([row], columns), source=SOURCE)
    assert list(catalog.columns) == list(columns)
    assert catalog.iloc[0]["note"] == "kept"


def test_parse_of_a_header_only_file_is_an_empty_catalog_with_the_columns() -> None:
    catalog = parse_catalog_csv(HEADER + "\n", source=SOURCE)
    assert isinstance(catalog, Catalog)
    assert catalog.empty
    assert list(catalog.columns) == list(CATALOG_COLUMNS)


def test_parse_skips_blank_lines_but_counts_them_in_line_numbers() -> None:
    good = csv_text([ASSEMBLY]).splitlines()[1]
    bad = good.replace("assembly", "model", 1)
    text = "\n".join([HEADER, "", good, "   ,  ,", "", bad]) + "\n"
    error = format_error(text)
    # header 1, blank 2, good 3, whitespace-only 4, blank 5, bad 6
    assert error.line == 6
    assert parse_catalog_csv("\n".join([HEADER, "", good, ""]), source=SOURCE).shape[0] == 1


def test_parse_strips_whitespace_around_header_names() -> None:
    header = ", ".join(CATALOG_COLUMNS)
    text = header + "\n" + csv_text([ASSEMBLY]).splitlines()[1] + "\n"
    assert list(parse_catalog_csv(text, source=SOURCE).columns) == list(CATALOG_COLUMNS)


def test_parse_accepts_crlf_line_ends_and_quoted_commas() -> None:
    row = {**ASSEMBLY, "location": "https://example.org/a,b.nc"}
    text = csv_text([row]).replace("\n", "\r\n")
    assert parse_catalog_csv(text, source=SOURCE).iloc[0]["location"] == "https://example.org/a,b.nc"


# --- parse_catalog_csv: errors (of the file or of a row) name the source and the 1-based line


@pytest.mark.parametrize("text", ["", "\n", "  ,  \n", "\n\n"])
def test_parse_refuses_an_empty_file_at_line_1(text: str) -> None:
    error = format_error(text)
    assert error.line == 1
    assert error.path == SOURCE
    assert f"{SOURCE}, line 1" in str(error)
    assert "empty file" in str(error)


def test_parse_names_the_missing_columns() -> None:
    columns = tuple(c for c in CATALOG_COLUMNS if c not in ("sha1", "location"))
    error = format_error(",".join(columns) + "\n")
    assert error.line == 1
    assert "no location, sha1" in error.found
    assert SOURCE in str(error)


def test_parse_names_the_duplicated_columns() -> None:
    error = format_error(HEADER + ",class,size\n")
    assert error.line == 1
    assert "duplicates ['class', 'size']" in str(error)


@pytest.mark.parametrize("extra", [",surplus", ""])
def test_parse_refuses_a_row_with_the_wrong_field_count_naming_its_line(extra: str) -> None:
    good = csv_text([ASSEMBLY]).splitlines()[1]
    bad = good + extra if extra else good.rsplit(",", 1)[0]
    error = format_error("\n".join([HEADER, good, good.replace("MajajHong", "Other"), bad]) + "\n")
    assert error.line == 4
    assert f"{SOURCE}, line 4" in str(error)
    assert error.expected == f"{len(CATALOG_COLUMNS)} fields as in the header"
    assert error.found == f"{len(CATALOG_COLUMNS) + (1 if extra else -1)} fields"


@pytest.mark.parametrize("column", ["identifier", "lookup_type", "location_type", "location"])
def test_parse_refuses_an_empty_required_value(column: str) -> None:
    error = format_error(csv_text([ASSEMBLY, {**ASSEMBLY, column: "  "}]))
    assert error.line == 3
    assert f"empty {column}" in str(error)


@pytest.mark.parametrize("column", ["class", "sha1", "stimulus_set_identifier", "md5", "size"])
def test_parse_allows_empty_optional_values(column: str) -> None:
    catalog = parse_catalog_csv(csv_text([{**ASSEMBLY, column: ""}]), source=SOURCE)
    assert catalog.iloc[0][column] == ""


@pytest.mark.parametrize("lookup_type", ["model", "Assembly", " assembly", "stimulus set"])
def test_parse_refuses_an_unknown_lookup_type(lookup_type: str) -> None:
    error = format_error(csv_text([{**ASSEMBLY, "lookup_type": lookup_type}]))
    assert error.line == 2
    assert repr(lookup_type) in str(error)
    assert "'assembly' or 'stimulus_set'" in str(error)


@pytest.mark.parametrize("size", ["1.5", "-1", "12kB", "1e3", " 7"])
def test_parse_refuses_a_size_that_is_not_a_whole_number(size: str) -> None:
    error = format_error(csv_text([{**ASSEMBLY, "size": size}]))
    assert error.line == 2
    assert repr(size) in str(error)


@pytest.mark.parametrize(
    ("column", "digest"),
    [("md5", "..//tmp/x/victim"), ("md5", "a" * 31), ("sha1", "g" * 40), ("sha1", "a" * 39 + "\x00"),
     ("md5", "a" * 33)],
)
def test_parse_refuses_a_digest_that_is_not_hex_of_its_length(column: str, digest: str) -> None:
    # Digests name files in the cache: a catalog must not be able to point one elsewhere.
    error = format_error(csv_text([ASSEMBLY, {**ASSEMBLY, "identifier": "other", column: digest}]))
    assert error.line == 3
    assert repr(digest) in str(error) and column in str(error)


def test_parse_accepts_upper_case_hex_digests() -> None:
    catalog = parse_catalog_csv(csv_text([{**ASSEMBLY, "md5": "AB" * 16}]), source=SOURCE)
    assert catalog.iloc[0]["md5"] == "AB" * 16


def test_parse_refuses_a_superscript_digit_as_size() -> None:
    # '²'.isdigit() is True, yet int('²') fails: the catalog claims a size no one can read.
    error = format_error(csv_text([{**ASSEMBLY, "size": "\u00b2"}]))
    assert error.line == 2


def test_parse_reports_an_oversized_field_as_a_format_error() -> None:
    # csv's field size limit (131072 characters) must not escape as csv.Error
    error = format_error(HEADER + '\n"' + "x" * 200_000 + '"\n')
    assert SOURCE in str(error)


def test_parse_reports_the_line_of_an_oversized_field() -> None:
    good = csv_text([ASSEMBLY]).splitlines()[1]
    error = format_error("\n".join([HEADER, good, '"' + "x" * 200_000 + '"']) + "\n")
    assert error.line == 3


# --- render_catalog_csv ---------------------------------------------------------------------


def test_render_header_is_the_catalog_columns() -> None:
    text = render_catalog_csv([])
    assert text == HEADER + "\n"


def test_render_is_byte_identical_for_shuffled_rows() -> None:
    rows = [
        ASSEMBLY,
        STIMULUS_CSV,
        STIMULUS_ZIP,
        {**ASSEMBLY, "identifier": "dicarlo.Alpha2001", "location": "https://example.org/z.nc"},
        {**STIMULUS_ZIP, "identifier": "dicarlo.beta"},
        {**STIMULUS_CSV, "identifier": "dicarlo.beta"},
    ]
    expected = render_catalog_csv(rows)
    generator = random.Random(0)
    for _ in range(20):
        shuffled = rows[:]
        generator.shuffle(shuffled)
        assert render_catalog_csv(shuffled).encode() == expected.encode()


def test_render_puts_a_stimulus_set_csv_row_before_its_zip_row() -> None:
    # the ZIP's location sorts first, yet the CSV row (class set) must come first
    zip_row = {**STIMULUS_ZIP, "location": "a.zip"}
    csv_row = {**STIMULUS_CSV, "location": "z.csv"}
    lines = render_catalog_csv([zip_row, csv_row]).splitlines()
    assert [line.split(",")[2] for line in lines[1:]] == ["StimulusSet", ""]


def test_render_writes_none_and_missing_columns_as_empty_and_uses_newline_ends() -> None:
    row = {**ASSEMBLY, "sha1": None, "md5": None}
    del row["size"]
    text = render_catalog_csv([row])
    assert "\r" not in text
    assert text.endswith("\n")
    fields = text.splitlines()[1].split(",")
    assert dict(zip(CATALOG_COLUMNS, fields, strict=True))["sha1"] == ""
    assert fields[-2:] == ["", ""]


def test_render_output_parses_back_to_the_same_rows() -> None:
    rows = [ASSEMBLY, STIMULUS_CSV, STIMULUS_ZIP, {**ASSEMBLY, "location": 'has "quote", comma'}]
    catalog = parse_catalog_csv(render_catalog_csv(rows), source=SOURCE)
    assert sorted(map(tuple, catalog.astype(str).to_numpy().tolist())) == sorted(
        tuple(str(row[c]) for c in CATALOG_COLUMNS) for row in rows
    )


def test_render_is_order_independent_even_for_rows_tied_on_the_sort_key() -> None:
    first = {**ASSEMBLY, "sha1": "a" * 40}
    second = {**ASSEMBLY, "sha1": "b" * 40}
    assert render_catalog_csv([first, second]) == render_catalog_csv([second, first])


# --- Catalog --------------------------------------------------------------------------------


def test_from_files_keeps_identifier_url_and_source_path(tmp_path: Path) -> None:
    path = tmp_path / "lookup.csv"
    path.write_text(csv_text([ASSEMBLY, STIMULUS_CSV, STIMULUS_ZIP]), encoding="utf-8")
    catalog = Catalog.from_files("dicarlo", path, url="https://example.org/lookup.csv")
    assert isinstance(catalog, Catalog)
    assert catalog.identifier == "dicarlo"
    assert catalog.url == "https://example.org/lookup.csv"
    assert catalog.attrs["source_path"] == str(path)
    assert len(catalog) == 3


def test_from_files_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "lookup.csv"
    path.write_text(csv_text([{**ASSEMBLY, "lookup_type": "model"}]), encoding="utf-8")
    (bad,) = Catalog.from_files("dicarlo", path).attrs["bad_rows"]
    assert f"{path}, line 2" in str(bad.format_error(str(path)))
    path.write_text(HEADER.replace("lookup_type", "kind") + "\n", encoding="utf-8")
    with pytest.raises(CatalogFormatError, match=f"{path}, line 1"):
        Catalog.from_files("dicarlo", path)


def test_from_files_refuses_undecodable_bytes(tmp_path: Path) -> None:
    path = tmp_path / "lookup.csv"
    path.write_bytes(HEADER.encode() + b"\n\xff\xfe\n")
    with pytest.raises(CatalogFormatError, match="UTF-8") as caught:
        Catalog.from_files("dicarlo", path)
    assert caught.value.path == str(path)


def test_catalog_survives_row_selection_and_copy(tmp_path: Path) -> None:
    path = tmp_path / "lookup.csv"
    path.write_text(csv_text([ASSEMBLY, STIMULUS_CSV, STIMULUS_ZIP]), encoding="utf-8")
    catalog = Catalog.from_files("dicarlo", path, url="u")
    for selected in (
        catalog[catalog["lookup_type"] == "stimulus_set"],
        catalog.iloc[:1],
        catalog.loc[catalog["class"] != ""],
        catalog.copy(),
    ):
        assert isinstance(selected, Catalog)
        assert selected.identifier == "dicarlo"
        assert selected.url == "u"
    assert len(catalog[catalog["lookup_type"] == "stimulus_set"]) == 2


# --- fuzz -----------------------------------------------------------------------------------

_CATALOG_ALPHABET = st.sampled_from(list(',"\n\r \t') + ["assembly", "stimulus_set", "a", "1", "-"])
_CATALOG_LIKE = st.lists(_CATALOG_ALPHABET, max_size=60).map(lambda parts: HEADER + "\n" + "".join(parts))


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(), _CATALOG_LIKE))
def test_parse_of_random_text_raises_only_library_errors(text: str) -> None:
    try:
        catalog = parse_catalog_csv(text, source=SOURCE)
    except BrainioDvcError as error:
        assert isinstance(error, CatalogFormatError)
        assert SOURCE in str(error)
        assert error.line is not None and error.line >= 1
    else:
        assert isinstance(catalog, Catalog)
        assert set(BRAINIO_COLUMNS) <= set(catalog.columns)
        assert isinstance(catalog, pd.DataFrame)


# --- tables: what lookups index, and their cached JSON form ---------------------------------


def test_a_table_round_trips_through_json_and_finds_rows_by_identifier() -> None:
    import json

    table = parse_catalog_table(csv_text([ASSEMBLY, {**ASSEMBLY, "identifier": "other"}]), SOURCE, name="demo")
    restored = tables_from_json(json.loads(json.dumps(tables_to_json({"demo": table}))))["demo"]
    assert restored.columns == table.columns and [list(row) for row in restored.rows] == [list(r) for r in table.rows]
    assert restored.rows_of("assembly", "other") == [table.rows[1]]
    assert restored.rows_of("assembly", "missing") == [] and restored.rows_of("stimulus_set", "other") == []
    assert sorted(restored.identifiers("assembly")) == sorted(["other", ASSEMBLY["identifier"]])


@pytest.mark.parametrize("damage", [
    lambda data: [],
    lambda data: {"demo": []},
    lambda data: {"demo": {**data["demo"], "columns": ["identifier"]}},
    lambda data: {"demo": {**data["demo"], "rows": [["too", "short"]]}},
    lambda data: {"demo": {**data["demo"], "index": {"assembly": {"x": [5]}}}},
    lambda data: {"demo": {**data["demo"], "index": {"assembly": {"x": ["0"]}}}},
    lambda data: {"demo": {**data["demo"], "index": []}},
])
def test_json_that_is_not_a_table_is_refused(damage) -> None:
    table = parse_catalog_table(csv_text([ASSEMBLY]), SOURCE, name="demo")
    assert tables_from_json(damage(tables_to_json({"demo": table}))) is None



# --- malformed rows are set aside, with their line and reason -------------------------------


def test_parse_keeps_the_good_rows_and_sets_aside_each_bad_one_with_its_line() -> None:
    text = csv_text([ASSEMBLY, {**ASSEMBLY, "identifier": "dicarlo.Bad2000", "size": "big"}, STIMULUS_CSV,
                     {**STIMULUS_ZIP, "lookup_type": "images"}])
    table = parse_catalog_table(text, SOURCE, name="demo")
    assert [row[0] for row in table.rows] == [ASSEMBLY["identifier"], STIMULUS_CSV["identifier"]]
    assert [(bad.line, bad.identifier, bad.lookup_type) for bad in table.bad_rows] == [
        (3, "dicarlo.Bad2000", "assembly"), (5, "dicarlo.hvm", "images"),
    ]
    assert table.bad_rows[0].reason == "expected size as a whole number of bytes, found 'big'"
    assert sorted(table.identifiers("assembly")) == [ASSEMBLY["identifier"]]
    catalog = parse_catalog_csv(text, source=SOURCE)
    assert len(catalog) == 2 and catalog.attrs["bad_rows"] == table.bad_rows


def test_a_table_says_which_identifiers_a_bad_row_blocks() -> None:
    table = parse_catalog_table(csv_text([ASSEMBLY, {**STIMULUS_CSV, "lookup_type": "images"}]), SOURCE)
    table.check_usable("assembly", ASSEMBLY["identifier"])
    for lookup_type in ("assembly", "stimulus_set"):  # a row without a valid lookup_type blocks both
        with pytest.raises(CatalogRowError, match=f"{SOURCE}, line 3"):
            table.check_usable(lookup_type, "dicarlo.hvm")


def test_header_problems_still_refuse_the_file_even_with_good_rows() -> None:
    text = csv_text([ASSEMBLY], tuple(c for c in CATALOG_COLUMNS if c != "location"))
    with pytest.raises(CatalogFormatError, match="line 1.*no location"):
        parse_catalog_table(text, SOURCE)
    assert parse_catalog_table(csv_text([{**ASSEMBLY, "location": ""}]), SOURCE).rows == []


def test_bad_rows_round_trip_through_json() -> None:
    import json

    table = parse_catalog_table(csv_text([ASSEMBLY, {**ASSEMBLY, "identifier": "x", "md5": "zz"}]), SOURCE, "demo")
    restored = tables_from_json(json.loads(json.dumps(tables_to_json({"demo": table}))))["demo"]
    assert restored.bad_rows == table.bad_rows and len(restored.bad_rows) == 1
    with pytest.raises(CatalogRowError, match="line 3.*md5"):
        restored.with_constants(SOURCE, {}).check_usable("assembly", "x")
    data = tables_to_json({"demo": table})
    for damaged in ({**data["demo"], "bad_rows": None}, {**data["demo"], "bad_rows": [{"line": "3"}]}):
        assert tables_from_json({"demo": damaged}) is None
    assert tables_from_json({"demo": {k: v for k, v in data["demo"].items() if k != "bad_rows"}}) is None


def test_with_appended_row_checks_the_row_as_the_parser_does() -> None:
    text = csv_text([ASSEMBLY])
    table, appended = with_appended_row(text, SOURCE, {**ASSEMBLY, "identifier": "dicarlo.New2001", "md5": None})
    assert table.rows == parse_catalog_table(text, SOURCE).rows
    assert appended.startswith(text) and len(parse_catalog_table(appended, SOURCE).rows) == 2
    with pytest.raises(CatalogFormatError, match=f"{SOURCE}, line 3.*size"):
        with_appended_row(text, SOURCE, {**ASSEMBLY, "size": "-1"})


def test_csv_first_puts_a_stimulus_sets_csv_row_before_its_zip_row() -> None:
    from brainio_dvc.catalogs import csv_first

    zip_row, csv_row = {"location": "s.zip", "class": ""}, {"location": "s.csv", "class": "StimulusSet"}
    assert csv_first([zip_row, csv_row]) == [csv_row, zip_row]
    assert csv_first([csv_row, zip_row]) == [csv_row, zip_row]
    assert csv_first([{"location": "a.nc", "class": "DataAssembly"}]) == [{"location": "a.nc", "class": "DataAssembly"}]
