"""Lookups through installed packages' ``brainio_lookups`` entry points (no registry involved).

Each test installs a real distribution on ``sys.path``: ``fakepkg/`` with its catalog CSVs and
``fakepkg-0.1.dist-info`` with ``entry_points.txt``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from brainio_dvc import lookup
from brainio_dvc.catalogs import CATALOG_COLUMNS, SOURCE_CATALOG, Catalog
from brainio_dvc.exceptions import (
    AssemblyLookupError,
    CatalogFormatError,
    CatalogLookupError,
    CatalogRowError,
    StimulusSetLookupError,
    ValidationError,
)
from tests.unit.rows import ASSEMBLY, SHA1, STIMULUS_CSV, STIMULUS_ZIP

OTHER_ASSEMBLY = {**ASSEMBLY, "identifier": "dicarlo.Rajalingham2018", "location": "https://example.org/R.nc"}

PACKAGE = '''
from pathlib import Path

import pandas as pd

from brainio_dvc.catalogs import Catalog

_HERE = Path(__file__).parent


def _load(name):
    return Catalog.from_files(name, _HERE / f"{name}.csv", url=f"https://example.org/{name}.csv")


def catalog():
    return _load("fake")


def catalog_second():
    return _load("second")


def bare_catalog():
    return Catalog(pd.read_csv(_HERE / "fake.csv", dtype=str, keep_default_na=False))


def not_a_catalog():
    return ["not", "a", "table"]
'''

Install = Callable[..., Path]


def csv_text(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CATALOG_COLUMNS)
    writer.writerows([[row.get(column, "") for column in CATALOG_COLUMNS] for row in rows])
    return buffer.getvalue()


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Install]:
    """Install fakepkg with the given catalogs and entry points; cwd holds no registry."""
    site = tmp_path / "site"
    monkeypatch.chdir(tmp_path)

    def _install(catalogs: dict[str, list[dict[str, str]]], entry_points: dict[str, str] | None = None) -> Path:
        package = site / "fakepkg"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text(PACKAGE, encoding="utf-8")
        for name, rows in catalogs.items():
            (package / f"{name}.csv").write_text(csv_text(rows), encoding="utf-8")
        if entry_points is None:
            entry_points = {"fake": "fakepkg:catalog"}
        info = site / "fakepkg-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakepkg\nVersion: 0.1\n", encoding="utf-8")
        lines = [f"{name} = {target}" for name, target in entry_points.items()]
        (info / "entry_points.txt").write_text("[brainio_lookups]\n" + "\n".join(lines) + "\n", encoding="utf-8")
        monkeypatch.syspath_prepend(str(site))
        lookup.refresh()
        return package

    sys.modules.pop("fakepkg", None)
    yield _install
    sys.modules.pop("fakepkg", None)
    lookup.refresh()


@pytest.fixture
def fake(install: Install) -> Path:
    """The catalog 'fake', with one assembly and one stimulus set (its ZIP row listed first)."""
    return install({"fake": [ASSEMBLY, STIMULUS_ZIP, STIMULUS_CSV]}) / "fake.csv"


# --- discovery ------------------------------------------------------------------------------


def test_list_catalogs_includes_the_entry_point(fake: Path) -> None:
    assert "fake" in lookup.list_catalogs()
    catalog = lookup.get_catalog("fake")
    assert isinstance(catalog, Catalog)
    assert catalog.identifier == "fake"
    assert catalog.attrs["source_path"] == str(fake)


def test_a_broken_entry_point_warns_and_is_skipped(install: Install) -> None:
    install(
        {"fake": [ASSEMBLY]},
        {"fake": "fakepkg:catalog", "broken": "fakepkg:does_not_exist"},
    )
    with pytest.warns(RuntimeWarning, match=r"'broken' \(fakepkg:does_not_exist\) failed to load"):
        catalogs = lookup.list_catalogs()
    assert "fake" in catalogs
    assert "broken" not in catalogs
    assert lookup.list_assemblies() == ["dicarlo.MajajHong2015"]


def test_an_entry_point_returning_a_non_table_warns_and_is_skipped(install: Install) -> None:
    install({"fake": [ASSEMBLY]}, {"fake": "fakepkg:catalog", "odd": "fakepkg:not_a_catalog"})
    with pytest.warns(RuntimeWarning, match="'odd' returned list"):
        assert "odd" not in lookup.list_catalogs()


def test_entry_points_are_discovered_once_until_refresh(install: Install) -> None:
    package = install({"fake": [ASSEMBLY]})
    assert lookup.list_assemblies() == ["dicarlo.MajajHong2015"]
    (package / "fake.csv").write_text(csv_text([ASSEMBLY, OTHER_ASSEMBLY]), encoding="utf-8")
    assert lookup.list_assemblies() == ["dicarlo.MajajHong2015"]
    lookup.refresh()
    assert lookup.list_assemblies() == ["dicarlo.MajajHong2015", "dicarlo.Rajalingham2018"]


def test_unknown_catalog_suggests_a_close_name(fake: Path) -> None:
    with pytest.raises(CatalogLookupError, match="did you mean 'fake'"):
        lookup.get_catalog("fak")


# --- listing and lookups --------------------------------------------------------------------


def test_list_assemblies_and_stimulus_sets(fake: Path) -> None:
    assert lookup.list_assemblies() == ["dicarlo.MajajHong2015"]
    assert lookup.list_stimulus_sets() == ["dicarlo.hvm"]


def test_lookup_assembly_returns_its_row(fake: Path) -> None:
    row = lookup.lookup_assembly("dicarlo.MajajHong2015")
    assert isinstance(row, pd.Series)
    assert {k: row[k] for k in ASSEMBLY} == ASSEMBLY
    assert row[SOURCE_CATALOG] == "fake"


def test_each_lookup_assembly_returns_a_series_of_its_own(fake: Path) -> None:
    first = lookup.lookup_assembly("dicarlo.MajajHong2015")
    first["location"] = "changed"
    first["added"] = "column"
    again = lookup.lookup_assembly("dicarlo.MajajHong2015")
    assert again is not first and again["location"] == ASSEMBLY["location"] and "added" not in again.index
    assert again.dtype == object


def test_each_row_lookup_returns_dicts_of_its_own(fake: Path) -> None:
    first = lookup.find_assembly_row("dicarlo.MajajHong2015")
    csv_row, _ = lookup.find_stimulus_set_rows("dicarlo.hvm")
    first["location"] = csv_row["location"] = "changed"
    assert lookup.find_assembly_row("dicarlo.MajajHong2015")["location"] == ASSEMBLY["location"]
    assert lookup.find_stimulus_set_rows("dicarlo.hvm")[0]["location"] == STIMULUS_CSV["location"]
    assert lookup.lookup_identifier("dicarlo.MajajHong2015")[0]["location"] == ASSEMBLY["location"]


def test_an_installed_assembly_row_comes_without_stimulus_set_rows(fake: Path) -> None:
    # Its stimulus set is looked up as any other (it is no registry's at a commit).
    found = lookup.find_assembly_rows("dicarlo.MajajHong2015")
    assert found.assembly["location"] == ASSEMBLY["location"] and found.stimulus_set is None
    assert lookup.find_assembly_rows("dicarlo.MajajHong2015") is found  # found once


def test_lookup_stimulus_set_returns_the_csv_row_then_the_zip_row(fake: Path) -> None:
    rows = lookup.lookup_stimulus_set("dicarlo.hvm")
    assert isinstance(rows, tuple) and all(isinstance(row, pd.Series) for row in rows)
    assert [row["location"] for row in rows] == [STIMULUS_CSV["location"], STIMULUS_ZIP["location"]]
    assert [row["class"] for row in rows] == ["StimulusSet", ""]


def test_unknown_assembly_is_a_key_error_suggesting_the_close_match(fake: Path) -> None:
    with pytest.raises(AssemblyLookupError) as caught:
        lookup.lookup_assembly("dicarlo.MajajHong2016")
    error = caught.value
    assert isinstance(error, KeyError)
    assert error.suggestions == ["dicarlo.MajajHong2015"]
    assert "did you mean 'dicarlo.MajajHong2015'?" in str(error)
    assert "catalog 'fake' of https://example.org/fake.csv" in str(error)


def test_an_assembly_is_not_found_as_a_stimulus_set(fake: Path) -> None:
    with pytest.raises(StimulusSetLookupError) as caught:
        lookup.lookup_stimulus_set("dicarlo.MajajHong2015")
    assert isinstance(caught.value, KeyError)
    with pytest.raises(AssemblyLookupError, match="brainio-dvc list"):
        lookup.lookup_assembly("nothing.Like2000")


def test_a_stimulus_set_with_only_one_row_is_refused(install: Install) -> None:
    install({"fake": [STIMULUS_CSV]})
    with pytest.raises(ValidationError, match="two catalog rows"):
        lookup.lookup_stimulus_set("dicarlo.hvm")


def test_identical_rows_in_two_catalogs_count_once(install: Install) -> None:
    install(
        {"fake": [ASSEMBLY, STIMULUS_CSV, STIMULUS_ZIP],
         "second": [STIMULUS_ZIP, ASSEMBLY, STIMULUS_CSV, OTHER_ASSEMBLY]},
        {"fake": "fakepkg:catalog", "second": "fakepkg:catalog_second"},
    )
    assert lookup.list_assemblies() == ["dicarlo.MajajHong2015", "dicarlo.Rajalingham2018"]
    assert len(lookup.lookup_stimulus_set("dicarlo.hvm")) == 2
    combined = lookup.combined_catalog()
    assert len(combined) == 4
    assert combined.set_index("identifier").loc["dicarlo.Rajalingham2018", SOURCE_CATALOG] == "second"


@pytest.mark.parametrize(
    "conflict",
    [
        {**ASSEMBLY, "location": "https://example.org/elsewhere.nc"},
        {**ASSEMBLY, "sha1": "a" * 40},
    ],
)
def test_conflicting_rows_in_two_catalogs_are_refused(install: Install, conflict: dict[str, str]) -> None:
    install(
        {"fake": [ASSEMBLY], "second": [conflict]},
        {"fake": "fakepkg:catalog", "second": "fakepkg:catalog_second"},
    )
    # Listing works; the conflict is an error where it matters, when the identifier is used.
    assert lookup.list_assemblies() == ["dicarlo.MajajHong2015"]
    with pytest.raises(ValidationError) as caught:
        lookup.lookup_assembly("dicarlo.MajajHong2015")
    message = str(caught.value)
    assert "assembly 'dicarlo.MajajHong2015'" in message
    assert "fake (https://example.org/MajajHong2015.nc)" in message
    assert "second (" in message


def test_two_csv_rows_of_one_stimulus_set_conflict(install: Install) -> None:
    install(
        {"fake": [STIMULUS_CSV, STIMULUS_ZIP], "second": [{**STIMULUS_CSV, "location": "https://example.org/v2.csv"}]},
        {"fake": "fakepkg:catalog", "second": "fakepkg:catalog_second"},
    )
    with pytest.raises(ValidationError, match="stimulus_set 'dicarlo.hvm'"):
        lookup.lookup_stimulus_set("dicarlo.hvm")


def test_combined_catalog_has_the_source_catalog_column(fake: Path) -> None:
    combined = lookup.combined_catalog()
    assert isinstance(combined, Catalog)
    assert SOURCE_CATALOG in combined.columns
    assert set(combined[SOURCE_CATALOG]) == {"fake"}
    assert len(combined) == 3


def test_combined_catalog_is_a_copy(fake: Path) -> None:
    first = lookup.combined_catalog()
    first.loc[:, "location"] = "changed"
    assert "changed" not in set(lookup.combined_catalog()["location"])


def test_an_entry_point_catalog_without_url_can_be_searched(install: Install) -> None:
    install({"fake": [ASSEMBLY]}, {"bare": "fakepkg:bare_catalog"})
    assert lookup.list_assemblies() == ["dicarlo.MajajHong2015"]


# --- append ---------------------------------------------------------------------------------


def test_append_adds_a_row_to_the_catalog_csv(fake: Path) -> None:
    before = fake.read_text(encoding="utf-8")
    lookup.append(
        "fake",
        "dicarlo.Rajalingham2018",
        "BehavioralAssembly",
        "assembly",
        "brainio-example",
        SHA1,
        "R.nc",
        stimulus_set_identifier="dicarlo.hvm",
    )
    after = fake.read_text(encoding="utf-8")
    assert after.startswith(before)
    added = next(csv.DictReader(io.StringIO(after.splitlines()[0] + "\n" + after[len(before):])))
    assert added["identifier"] == "dicarlo.Rajalingham2018"
    assert added["class"] == "BehavioralAssembly"
    assert added["md5"] == "" and added["size"] == ""
    assert added["location_type"] == "S3"
    # append refreshes: the new row is found without an explicit refresh
    assert lookup.lookup_assembly("dicarlo.Rajalingham2018")["location"] == "https://brainio-example.s3.amazonaws.com/R.nc"
    assert Catalog.from_files("fake", fake).shape[0] == 4


def test_append_to_a_file_without_a_final_newline(install: Install) -> None:
    path = install({"fake": [ASSEMBLY]}) / "fake.csv"
    path.write_text(path.read_text(encoding="utf-8").rstrip("\n"), encoding="utf-8")
    lookup.refresh()
    lookup.append("fake", "dicarlo.hvm", "StimulusSet", "stimulus_set", "bucket", SHA1, "x.csv")
    assert len(Catalog.from_files("fake", path)) == 2


def test_append_refuses_a_duplicate_assembly(fake: Path) -> None:
    before = fake.read_text(encoding="utf-8")
    with pytest.raises(ValidationError, match="no assembly 'dicarlo.MajajHong2015' yet"):
        lookup.append("fake", "dicarlo.MajajHong2015", "OtherClass", "assembly", "bucket", SHA1, "x.nc")
    assert fake.read_text(encoding="utf-8") == before


def test_append_refuses_a_second_stimulus_csv_but_accepts_the_missing_zip(install: Install) -> None:
    path = install({"fake": [STIMULUS_CSV]}) / "fake.csv"
    with pytest.raises(ValidationError, match="one already"):
        lookup.append("fake", "dicarlo.hvm", "StimulusSet", "stimulus_set", "e", SHA1, "v2.csv")
    lookup.append("fake", "dicarlo.hvm", None, "stimulus_set", "e", SHA1, "hvm.zip")
    assert list(Catalog.from_files("fake", path)["class"]) == ["StimulusSet", ""]
    csv_row, zip_row = lookup.lookup_stimulus_set("dicarlo.hvm")
    assert [csv_row["location"], zip_row["location"]] == [STIMULUS_CSV["location"], "https://e.s3.amazonaws.com/hvm.zip"]


def test_append_to_an_unknown_catalog_is_a_lookup_error(fake: Path) -> None:
    with pytest.raises(CatalogLookupError):
        lookup.append("nope", "dicarlo.X2000", "C", "assembly", "bucket", SHA1, "x.nc")


def test_append_refuses_a_catalog_without_a_csv_file(install: Install) -> None:
    install({"fake": [ASSEMBLY]}, {"fake": "fakepkg:catalog"})
    catalog = lookup.get_catalog("fake")
    Path(catalog.attrs["source_path"]).unlink()
    with pytest.raises(ValidationError, match="no CSV file behind it"):
        lookup.append("fake", "dicarlo.X2000", "C", "assembly", "bucket", SHA1, "x.nc")


# --- BrainIO 1.1's results: lookups, append -------------------------------------------------


def test_lookup_stimulus_set_is_a_tuple_of_two_series_with_their_source_catalog(fake: Path) -> None:
    csv_row, zip_row = lookup.lookup_stimulus_set("dicarlo.hvm")
    assert isinstance(csv_row, pd.Series) and isinstance(zip_row, pd.Series)
    assert {k: csv_row[k] for k in STIMULUS_CSV} == STIMULUS_CSV
    assert {k: zip_row[k] for k in STIMULUS_ZIP} == STIMULUS_ZIP
    assert csv_row[SOURCE_CATALOG] == zip_row[SOURCE_CATALOG] == "fake"


def test_append_takes_brainios_arguments_and_returns_the_updated_catalog(fake: Path) -> None:
    updated = lookup.append(
        "fake", "dicarlo.Rajalingham2018", "BehavioralAssembly", "assembly",
        "brainio-brainscore", SHA1, "assy_dicarlo_Rajalingham2018.nc", "dicarlo.hvm",
    )
    assert isinstance(updated, Catalog)
    assert updated.identifier == "fake" and updated.attrs["source_path"] == str(fake)
    added = updated[updated["identifier"] == "dicarlo.Rajalingham2018"].squeeze()
    assert added["location_type"] == "S3"
    assert added["location"] == "https://brainio-brainscore.s3.amazonaws.com/assy_dicarlo_Rajalingham2018.nc"
    assert added["sha1"] == SHA1 and added["stimulus_set_identifier"] == "dicarlo.hvm"
    # The catalog stays loadable: nothing of it is skipped.
    assert lookup.list_assemblies() == ["dicarlo.MajajHong2015", "dicarlo.Rajalingham2018"]
    assert lookup.lookup_assembly("dicarlo.Rajalingham2018")["class"] == "BehavioralAssembly"


def test_append_of_both_halves_of_a_stimulus_set(install: Install) -> None:
    path = install({"fake": [ASSEMBLY]}) / "fake.csv"
    lookup.append("fake", "dicarlo.hvm", "StimulusSet", "stimulus_set", "bucket", SHA1, "image_hvm.csv")
    lookup.append("fake", "dicarlo.hvm", None, "stimulus_set", "bucket", "a" * 40, "image_hvm.zip")
    csv_row, zip_row = lookup.lookup_stimulus_set("dicarlo.hvm")
    assert csv_row["location"] == "https://bucket.s3.amazonaws.com/image_hvm.csv"
    assert (zip_row["class"], zip_row["sha1"]) == ("", "a" * 40)
    assert len(Catalog.from_files("fake", path)) == 3


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        # The old argument order: location_type and location where bucket and sha1 go.
        (("dicarlo.X2000", "C", "assembly", "http", "https://e/x.nc", SHA1), "sha1 as 40 hex digits"),
        (("dicarlo.X2000", "C", "model", "bucket", SHA1, "x.nc"), "lookup_type 'assembly' or 'stimulus_set'"),
        (("", "C", "assembly", "bucket", SHA1, "x.nc"), "empty identifier"),
    ],
)
def test_append_refuses_a_row_the_catalog_would_set_aside(fake: Path, arguments: tuple, message: str) -> None:
    before = fake.read_text(encoding="utf-8")
    with pytest.raises(CatalogFormatError, match=message) as caught:
        lookup.append("fake", *arguments)
    assert isinstance(caught.value, ValueError)  # as BrainIO's refusals
    assert caught.value.path == str(fake) and caught.value.line == 5
    assert fake.read_text(encoding="utf-8") == before
    assert lookup.list_assemblies() == ["dicarlo.MajajHong2015"]


def test_append_refuses_a_file_whose_last_line_would_swallow_the_row(install: Install) -> None:
    path = install({"fake": [ASSEMBLY]}) / "fake.csv"
    path.write_text(path.read_text(encoding="utf-8") + 'dicarlo.Open2000,assembly,"unterminated', encoding="utf-8")
    before = path.read_text(encoding="utf-8")
    with pytest.raises(CatalogFormatError):
        lookup.append("fake", "dicarlo.X2000", "C", "assembly", "bucket", SHA1, "x.nc")
    assert path.read_text(encoding="utf-8") == before


def test_sha1_hash_takes_brainios_buffer_size(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"brainio")
    assert lookup.sha1_hash(path, buffer_size=4) == lookup.sha1_hash(str(path)) == hashlib.sha1(b"brainio").hexdigest()


# --- a catalog with a malformed row keeps its other rows ------------------------------------


BAD_ASSEMBLY = {**OTHER_ASSEMBLY, "sha1": "not-a-digest"}


def test_a_malformed_row_leaves_the_other_rows_of_the_catalog_usable(
    install: Install, caplog: pytest.LogCaptureFixture
) -> None:
    path = install({"fake": [ASSEMBLY, BAD_ASSEMBLY, STIMULUS_CSV, STIMULUS_ZIP]}) / "fake.csv"
    with caplog.at_level("WARNING", logger="brainio_dvc"):
        assert lookup.list_catalogs() == ["fake"]
        assert lookup.list_assemblies() == ["dicarlo.MajajHong2015"]
        assert lookup.list_stimulus_sets() == ["dicarlo.hvm"]
        assert lookup.lookup_assembly("dicarlo.MajajHong2015")["location"] == ASSEMBLY["location"]
        assert len(lookup.combined_catalog()) == 3
    warned = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert len(warned) == 1, warned
    assert str(path) in warned[0] and "line 3" in warned[0] and "'not-a-digest'" in warned[0]
    (bad,) = lookup.get_catalog("fake").attrs["bad_rows"]
    assert (bad.line, bad.identifier) == (3, "dicarlo.Rajalingham2018")


def test_looking_up_a_malformed_row_names_the_file_the_line_and_the_problem(install: Install) -> None:
    path = install({"fake": [ASSEMBLY, BAD_ASSEMBLY]}) / "fake.csv"
    with pytest.raises(CatalogRowError) as caught:
        lookup.lookup_assembly("dicarlo.Rajalingham2018")
    error = caught.value
    assert (error.path, error.line, error.identifier) == (str(path), 3, "dicarlo.Rajalingham2018")
    message = str(error)
    assert f"{path}, line 3" in message and "sha1 as 40 hex digits" in message and "'not-a-digest'" in message
    with pytest.raises(CatalogRowError):
        lookup.lookup_identifier("dicarlo.Rajalingham2018")


def test_a_row_with_a_bad_lookup_type_or_field_count_blocks_only_its_identifier(install: Install) -> None:
    path = install({"fake": [ASSEMBLY, STIMULUS_CSV, STIMULUS_ZIP]}) / "fake.csv"
    with path.open("a", encoding="utf-8") as stream:
        stream.write("dicarlo.Typo2020,asembly,C,S3,https://e/t.nc,,,,\n")
        stream.write("dicarlo.Short2020,assembly\n")
    lookup.refresh()
    assert lookup.list_assemblies() == ["dicarlo.MajajHong2015"]
    with pytest.raises(CatalogRowError, match="line 5.*'asembly'"):
        lookup.lookup_stimulus_set("dicarlo.Typo2020")
    with pytest.raises(CatalogRowError, match=r"line 6.*2 fields"):
        lookup.lookup_assembly("dicarlo.Short2020")
    assert lookup.lookup_stimulus_set("dicarlo.hvm")[0]["class"] == "StimulusSet"


def test_a_malformed_half_of_a_stimulus_set_is_named_rather_than_a_missing_half(install: Install) -> None:
    install({"fake": [STIMULUS_CSV, {**STIMULUS_ZIP, "location_type": ""}]})
    with pytest.raises(CatalogRowError, match="stimulus set 'dicarlo.hvm'.*line 3.*empty location_type"):
        lookup.lookup_stimulus_set("dicarlo.hvm")


def test_append_refuses_an_identifier_whose_row_is_malformed(install: Install) -> None:
    install({"fake": [ASSEMBLY, BAD_ASSEMBLY]})
    with pytest.raises(CatalogRowError, match="line 3"):
        lookup.append("fake", "dicarlo.Rajalingham2018", "C", "assembly", "bucket", SHA1, "R.nc")


def test_a_catalog_without_brainio_columns_is_skipped_but_one_with_a_bad_row_is_not(install: Install) -> None:
    package = install(
        {"fake": [ASSEMBLY, BAD_ASSEMBLY], "second": [OTHER_ASSEMBLY]},
        {"fake": "fakepkg:catalog", "second": "fakepkg:catalog_second"},
    )
    second = package / "second.csv"
    second.write_text(second.read_text(encoding="utf-8").replace("lookup_type", "kind"), encoding="utf-8")
    with pytest.warns(RuntimeWarning, match="'second'.*failed to load.*line 1"):
        assert lookup.list_catalogs() == ["fake"]
    assert lookup.list_assemblies() == ["dicarlo.MajajHong2015"]


def test_a_frame_catalog_from_another_loader_has_its_rows_checked_too(install: Install) -> None:
    install({"fake": [ASSEMBLY, {**OTHER_ASSEMBLY, "md5": "../../etc/passwd"}]}, {"bare": "fakepkg:bare_catalog"})
    assert lookup.list_assemblies() == ["dicarlo.MajajHong2015"]
    with pytest.raises(CatalogRowError, match="md5 as 32 hex digits"):
        lookup.lookup_assembly("dicarlo.Rajalingham2018")
