"""write_netcdf, read_data_array and validate_netcdf: the BrainIO netCDF format."""

from __future__ import annotations

import logging
import os

import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from xarray.indexes import PandasMultiIndex

from brainio_dvc.assemblies import DataAssembly, NeuroidAssembly, get_levels
from brainio_dvc.exceptions import ValidationError
from brainio_dvc.formats.hashes import sha1_hash
from brainio_dvc.formats.netcdf import (
    read_assembly_attrs,
    read_data_array,
    read_while_preparing,
    validate_netcdf,
    write_netcdf,
)

IDENTIFIERS = {"identifier": "lab.Author2020", "stimulus_set_identifier": "lab.Author2020.stimuli"}


def make_assembly() -> NeuroidAssembly:
    return NeuroidAssembly(
        np.arange(12, dtype="float32").reshape(4, 3),
        dims=["presentation", "neuroid"],
        coords={
            "stimulus_id": ("presentation", ["a", "b", "c", "d"]),
            "repetition": ("presentation", np.array([0, 1, 0, 1], dtype="int32")),
            "flag": ("presentation", [True, False, True, True]),
            "onset": ("presentation", pd.date_range("2020-01-01", periods=4, unit="ns").values),
            "weight": ("presentation", [0.5, np.nan, 1.5, 2.5]),
            "neuroid_id": ("neuroid", ["n1", "n2", "n3"]),
            "region": ("neuroid", ["IT", "IT", "V4"]),
        },
        attrs=dict(IDENTIFIERS),
    )


def test_write_netcdf_returns_the_files_sha1(tmp_path):
    path = tmp_path / "a.nc"
    sha1 = write_netcdf(make_assembly(), path)
    assert sha1 == sha1_hash(path)
    assert len(sha1) == 40


def test_round_trip_keeps_values_dtypes_levels_and_attrs(tmp_path):
    assembly = make_assembly()
    path = tmp_path / "a.nc"
    write_netcdf(assembly, path)
    loaded = NeuroidAssembly.from_files(path)
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded.values, assembly.values)
    assert get_levels(loaded) == get_levels(assembly)
    for name in get_levels(assembly):
        assert loaded[name].dtype == assembly[name].dtype, name
        np.testing.assert_array_equal(loaded[name].values, assembly[name].values)
    assert loaded.attrs["identifier"] == IDENTIFIERS["identifier"]
    assert read_assembly_attrs(path) == IDENTIFIERS  # the loader's own argument sets the attr
    assert isinstance(loaded.xindexes["presentation"], PandasMultiIndex)


def test_writing_leaves_the_assembly_untouched(tmp_path):
    assembly = make_assembly()
    before = assembly.copy(deep=True)
    write_netcdf(assembly, tmp_path / "a.nc")
    assert assembly.attrs == before.attrs
    assert get_levels(assembly) == get_levels(before)
    for name in get_levels(before):
        np.testing.assert_array_equal(assembly[name].values, before[name].values)
        assert assembly[name].variable.encoding == before[name].variable.encoding
    assert isinstance(assembly.xindexes["presentation"], PandasMultiIndex)


def test_identifiers_are_global_and_on_the_variable(tmp_path):
    path = tmp_path / "a.nc"
    write_netcdf(make_assembly(), path)
    assert read_assembly_attrs(path) == IDENTIFIERS
    with xr.open_dataarray(path) as legacy_reader:  # how BrainIO 1.x reads
        assert legacy_reader.attrs["identifier"] == IDENTIFIERS["identifier"]


def test_unstorable_attrs_are_dropped_with_a_debug_message(tmp_path, caplog):
    assembly = make_assembly()
    assembly.attrs.update(
        stimulus_set=pd.DataFrame({"x": [1]}), other=xr.DataArray([1]), nothing=None,
        mapping={"a": 1}, numbers=[1, 2], flag=True, ratio=0.5,
    )
    path = tmp_path / "a.nc"
    with caplog.at_level(logging.DEBUG, logger="brainio_dvc.formats.netcdf"):
        write_netcdf(assembly, path)
    attrs = read_assembly_attrs(path)
    assert not {"stimulus_set", "other", "nothing", "mapping"} & set(attrs)
    assert list(attrs["numbers"]) == [1, 2] and attrs["flag"] == 1 and attrs["ratio"] == 0.5
    dropped = {record.args[0] for record in caplog.records if "dropping" in record.getMessage()}
    assert dropped == {"stimulus_set", "other", "nothing", "mapping"}


def test_data_and_coordinates_are_compressed(tmp_path):
    path = tmp_path / "a.nc"
    write_netcdf(make_assembly(), path, compression_level=4)
    with netCDF4.Dataset(path) as root:
        data = root["__xarray_dataarray_variable__"].filters()
        assert data["zlib"] and data["shuffle"] and data["complevel"] == 4
        assert root["stimulus_id"].filters()["zlib"]
        assert root["repetition"].filters()["zlib"]


def test_uncompressed_writing(tmp_path):
    path = tmp_path / "a.nc"
    write_netcdf(make_assembly(), path, compress=False)
    with netCDF4.Dataset(path) as root:
        assert not root["__xarray_dataarray_variable__"].filters()["zlib"]


def test_invalid_compression_level_is_refused(tmp_path):
    with pytest.raises(ValueError, match="compression_level"):
        write_netcdf(make_assembly(), tmp_path / "a.nc", compression_level=10)


def test_writing_replaces_atomically_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "a.nc"
    path.write_text("old content")
    write_netcdf(make_assembly(), path)
    assert os.listdir(tmp_path) == ["a.nc"]
    validate_netcdf(path)


def test_a_written_file_gets_the_mode_open_gives_not_a_private_temporarys(tmp_path):
    # It was written to a mkstemp file (mode 0o600) and renamed: others could not read it.
    umask = os.umask(0o022)
    try:
        write_netcdf(make_assembly(), tmp_path / "a.nc")
    finally:
        os.umask(umask)
    assert (tmp_path / "a.nc").stat().st_mode & 0o777 == 0o644


def test_append_adds_a_group_in_place(tmp_path):
    path = tmp_path / "a.nc"
    write_netcdf(make_assembly(), path)
    meta = DataAssembly(
        [1.0, 2.0], dims=["neuroid"], coords={"neuroid_id": ("neuroid", ["n1", "n2"])}
    )
    sha1 = write_netcdf(meta, path, append=True, group="meta")
    assert sha1 == sha1_hash(path)
    group = read_data_array(path, group="meta")
    np.testing.assert_array_equal(group.values, [1.0, 2.0])
    np.testing.assert_array_equal(read_data_array(path).values, make_assembly().values)


def test_named_assemblies_keep_their_name(tmp_path):
    path = tmp_path / "a.nc"
    write_netcdf(make_assembly().rename("rates"), path)
    assert read_data_array(path).name == "rates"
    write_netcdf(make_assembly().rename("region"), path)  # clashes with a coordinate
    assert read_data_array(path).name == "region"


def test_missing_strings_become_empty_strings(tmp_path):
    labels = np.array(["x", None], dtype=object)
    assembly = DataAssembly([1, 2], dims=["p"], coords={"label": ("p", labels), "order": ("p", [0, 1])})
    path = tmp_path / "a.nc"
    write_netcdf(assembly, path)
    assert list(DataAssembly.from_files(path)["label"].values) == ["x", ""]


def test_pandas_string_dtype_coordinates_are_written(tmp_path):
    labels = pd.Series(["x", "y", None], dtype="str")
    assembly = DataAssembly([1, 2, 3], dims=["p"], coords={"label": ("p", labels), "order": ("p", [0, 1, 2])})
    path = tmp_path / "a.nc"
    write_netcdf(assembly, path)
    assert list(DataAssembly.from_files(path)["label"].values) == ["x", "y", ""]


def test_validate_netcdf_accepts_a_written_assembly(tmp_path):
    path = tmp_path / "a.nc"
    write_netcdf(make_assembly(), path)
    assert validate_netcdf(path) is None


def test_validate_netcdf_requires_global_identifiers(tmp_path):
    path = tmp_path / "a.nc"
    assembly = make_assembly()
    assembly.attrs = {"identifier": "lab.Author2020"}
    write_netcdf(assembly, path)
    with pytest.raises(ValidationError) as raised:
        validate_netcdf(path)
    message = str(raised.value)
    assert str(path) in message and "stimulus_set_identifier missing" in message


def test_validate_netcdf_names_variable_only_attrs(tmp_path):
    path = tmp_path / "legacy.nc"
    data = xr.DataArray([1.0], dims=["p"], attrs=IDENTIFIERS)
    data.to_netcdf(path)  # BrainIO 1.x style: attrs on the data variable only
    with pytest.raises(ValidationError, match="only on the data variable"):
        validate_netcdf(path)


def test_validate_netcdf_requires_exactly_one_data_variable(tmp_path):
    path = tmp_path / "two.nc"
    two = xr.Dataset(
        {"a": ("x", [1]), "b": ("x", [2])}, coords={"c": ("x", [3])}, attrs=IDENTIFIERS
    )
    two.to_netcdf(path)
    with pytest.raises(ValidationError) as raised:
        validate_netcdf(path)
    message = str(raised.value)
    assert "exactly one data variable" in message and "2 data variables: a, b" in message


def test_validate_netcdf_rejects_non_netcdf_files(tmp_path):
    path = tmp_path / "not.nc"
    path.write_text("plain text")
    with pytest.raises(ValidationError, match="netCDF-4"):
        validate_netcdf(path)


# --- property test ------------------------------------------------------------------------------

_SIZE = 5
_texts = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=8
)


def _column(elements: st.SearchStrategy, dtype: str | type) -> st.SearchStrategy:
    return st.lists(elements, min_size=_SIZE, max_size=_SIZE).map(lambda v: np.array(v, dtype))


_COLUMNS = {
    "int64": _column(st.integers(-(2**62), 2**62), "int64"),
    "int32": _column(st.integers(-(2**31), 2**31 - 1), "int32"),
    "float64": _column(st.floats(allow_nan=True, allow_infinity=True), "float64"),
    "float32": _column(st.floats(width=32), "float32"),
    "bool": _column(st.booleans(), bool),
    "str": _column(_texts, object),
    "datetime": _column(st.integers(0, 2**50), "datetime64[ns]"),
}


@st.composite
def assemblies(draw) -> DataAssembly:
    kinds = draw(st.lists(st.sampled_from(sorted(_COLUMNS)), min_size=1, max_size=4))
    coords = {
        f"c{i}_{kind}": ("presentation", draw(_COLUMNS[kind])) for i, kind in enumerate(kinds)
    }
    data_kind = draw(st.sampled_from(["float32", "float64", "int64", "bool"]))
    data = np.stack([draw(_COLUMNS[data_kind]) for _ in range(2)], axis=1)
    return DataAssembly(
        data, dims=["presentation", "neuroid"],
        coords={**coords, "neuroid_id": ("neuroid", ["n1", "n2"])}, attrs=dict(IDENTIFIERS),
    )


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(assembly=assemblies())
def test_write_and_load_round_trip(tmp_path, assembly):
    path = tmp_path / "property.nc"
    write_netcdf(assembly, path)
    loaded = DataAssembly.from_files(path)
    assert loaded.dtype == assembly.dtype
    np.testing.assert_array_equal(loaded.values, assembly.values)
    assert get_levels(loaded) == get_levels(assembly)
    for name in get_levels(assembly):
        expected, found = assembly[name].values, loaded[name].values
        assert found.dtype == expected.dtype, name
        np.testing.assert_array_equal(found, expected)
    assert read_data_array(path).attrs == IDENTIFIERS


def test_data_is_chunked_along_every_dimension_so_selections_read_little(tmp_path):
    """Neuroids are chunked too (at most 64 a chunk), not only presentations."""
    assembly = NeuroidAssembly(
        np.zeros((3000, 256), dtype="float32"), dims=["presentation", "neuroid"],
        coords={"stimulus_id": ("presentation", np.arange(3000) % 100),
                "repetition": ("presentation", np.arange(3000) // 100),
                "neuroid_id": ("neuroid", np.arange(256)), "region": ("neuroid", ["IT"] * 128 + ["V4"] * 128)},
    )
    path = tmp_path / "a.nc"
    write_netcdf(assembly, path)
    with netCDF4.Dataset(path) as root:
        data = next(
            variable for variable in root.variables.values() if variable.dimensions == ("presentation", "neuroid")
        )
        assert data.chunking() == [3000, 64]


#: The two eager reads of a file: whole, and coordinates first while the values are read.
EAGER_READS = [
    pytest.param(read_data_array, id="read_data_array"),
    pytest.param(lambda path: read_while_preparing(path, None, lambda data_array: data_array), id="while_preparing"),
]


@pytest.mark.parametrize("read", EAGER_READS)
def test_a_file_netcdf_cannot_open_is_named_once_with_what_netcdf_said(tmp_path, read) -> None:
    path = tmp_path / "not-netcdf.nc"
    path.write_bytes(b"not a netCDF file")
    with pytest.raises(ValidationError) as raised:
        read(path)
    message = str(raised.value)
    assert message.count("not-netcdf.nc") == 2  # the subject, and netCDF's own words
    assert "found an unreadable file (OSError:" in message and "Unknown file format" in message
    assert "ValidationError" not in message


@pytest.mark.parametrize("read", EAGER_READS)
def test_an_eager_read_does_not_scan_the_installed_packages_for_xarray_engines(tmp_path, read) -> None:
    """Without an engine named, xarray lists every installed distribution's entry points to
    guess one, once per process: about a ninth of a small assembly's warm load."""
    from xarray.backends.plugins import list_engines

    path = tmp_path / "assembly.nc"
    write_netcdf(make_assembly(), path)
    list_engines.cache_clear()
    read(path)
    assert list_engines.cache_info().misses == 0
