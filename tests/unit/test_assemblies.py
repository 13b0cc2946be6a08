"""DataAssembly: index gathering, subclass survival, grouping, selection, metadata, loaders."""

from __future__ import annotations

import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from xarray.indexes import PandasMultiIndex

from brainio_dvc.assemblies import (
    ASSEMBLY_CLASSES,
    AssemblyLoader,
    BehavioralAssembly,
    DataAssembly,
    GroupAppendAssemblyLoader,
    MetadataAssembly,
    ModelFeaturesAssembly,
    NeuroidAssembly,
    NeuronRecordingAssembly,
    PropertyAssembly,
    SpikeTimesAssembly,
    StimulusMergeAssemblyLoader,
    StimulusReferenceAssemblyLoader,
    array_is_element,
    coords_for_dim,
    gather_indexes,
    get_levels,
    get_metadata,
    is_fastpath,
    merge_data_arrays,
    walk_coords,
)
from brainio_dvc.exceptions import ConfigurationError, ValidationError
from brainio_dvc.formats.netcdf import write_netcdf


def make_assembly(cls: type[DataAssembly] = NeuroidAssembly) -> DataAssembly:
    """6 presentations (3 stimuli x 2 repetitions) by 4 neuroids (2 regions)."""
    return cls(
        np.arange(24, dtype=float).reshape(6, 4),
        dims=["presentation", "neuroid"],
        coords={
            "stimulus_id": ("presentation", ["a", "a", "b", "b", "c", "c"]),
            "repetition": ("presentation", [0, 1, 0, 1, 0, 1]),
            "neuroid_id": ("neuroid", ["n1", "n2", "n3", "n4"]),
            "region": ("neuroid", ["IT", "IT", "V4", "V4"]),
        },
    )


def levels_of(assembly: xr.DataArray, dim: str) -> list[str]:
    index = assembly.xindexes[dim]
    assert isinstance(index, PandasMultiIndex)
    return list(index.index.names)


# --- construction -------------------------------------------------------------------------------


def test_coords_of_each_dim_are_gathered_into_one_multiindex():
    assembly = make_assembly()
    assert levels_of(assembly, "presentation") == ["stimulus_id", "repetition"]
    assert levels_of(assembly, "neuroid") == ["neuroid_id", "region"]


def test_a_single_coord_becomes_the_plain_index_of_its_dim_as_in_brainio():
    assembly = DataAssembly(
        [1, 2, 3], dims=["presentation"], coords={"stimulus_id": ("presentation", list("xyz"))}
    )
    assert not isinstance(assembly.xindexes["presentation"], PandasMultiIndex)
    assert list(assembly["presentation"].values) == ["x", "y", "z"]
    assert get_levels(assembly) == []
    assert "stimulus_id" not in assembly.coords  # BrainIO's set_index left only the dim's name
    assert coords_for_dim(assembly, "presentation") == {}
    reset = assembly.reset_index("presentation")
    assert list(reset["presentation_"].values) == ["x", "y", "z"]
    assert "presentation" not in reset.xindexes


def test_plain_dim_coord_becomes_level_0_when_other_coords_exist():
    assembly = DataAssembly(
        [1, 2],
        dims=["presentation"],
        coords={"presentation": [10, 20], "stimulus_id": ("presentation", ["a", "b"])},
    )
    assert levels_of(assembly, "presentation") == ["presentation_level_0", "stimulus_id"]
    assert list(assembly["presentation_level_0"].values) == [10, 20]


def test_plain_dim_coord_alone_stays_a_plain_index():
    assembly = DataAssembly([1, 2], dims=["x"], coords={"x": [5, 6]})
    assert not isinstance(assembly.xindexes["x"], PandasMultiIndex)
    assert list(assembly["x"].values) == [5, 6]


def test_existing_multiindex_is_extended_with_new_coords():
    assembly = make_assembly()
    plain = xr.DataArray(assembly).assign_coords(session=("presentation", [1, 1, 1, 2, 2, 2]))
    regathered = DataAssembly(plain)
    assert levels_of(regathered, "presentation") == ["stimulus_id", "repetition", "session"]


def test_sel_works_on_any_level():
    assembly = make_assembly()
    assert assembly.sel(region="IT").sizes["neuroid_id"] == 2
    selected = assembly.sel(stimulus_id="b")
    np.testing.assert_array_equal(selected.values, assembly.values[2:4])
    assert assembly.sel(repetition=1).sizes["stimulus_id"] == 3


def test_wrapping_does_not_share_attrs_with_the_wrapped_array():
    plain = xr.DataArray([1, 2], dims=["x"], attrs={"a": 1})
    assembly = DataAssembly(plain)
    assembly.attrs["a"] = 2
    assert plain.attrs["a"] == 1


def test_is_fastpath_recognises_keyword_and_positional_fastpath():
    assert is_fastpath(None, fastpath=True)
    assert is_fastpath(1, 2, 3, 4, 5, 6, True)
    assert not is_fastpath(1, 2, 3)
    assert not is_fastpath(data=1, fastpath=False)


# --- subclass survival --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "operation",
    [
        pytest.param(lambda a: a.sel(region="IT"), id="sel"),
        pytest.param(lambda a: a.isel(presentation=[0, 2]), id="isel"),
        pytest.param(lambda a: a[0], id="getitem"),
        pytest.param(lambda a: a[:, 1:], id="getitem-slice"),
        pytest.param(lambda a: a + 1, id="add"),
        pytest.param(lambda a: a * a, id="multiply"),
        pytest.param(lambda a: a.mean("presentation"), id="mean"),
        pytest.param(lambda a: a.sum("neuroid"), id="sum"),
        pytest.param(lambda a: a.groupby("stimulus_id").mean(), id="groupby-mean"),
        pytest.param(lambda a: a.transpose(), id="transpose"),
        pytest.param(lambda a: a.copy(), id="copy"),
        pytest.param(lambda a: a.copy(deep=True), id="deepcopy"),
        pytest.param(lambda a: type(a)(xr.DataArray(a)), id="rewrap"),
        pytest.param(
            lambda a: NeuronRecordingAssembly(xr.DataArray(a.values, dims=a.dims)), id="wrap-plain"
        ),
    ],
)
def test_subclass_survives(operation):
    result = operation(make_assembly(NeuronRecordingAssembly))
    assert type(result) is NeuronRecordingAssembly


def test_groupby_mean_averages_over_the_level():
    result = make_assembly().groupby("stimulus_id").mean()
    assert list(result["stimulus_id"].values) == ["a", "b", "c"]
    np.testing.assert_allclose(result.sel(stimulus_id="a").values, [2, 3, 4, 5])


def test_wrapping_keeps_multiindexes_and_values():
    assembly = make_assembly()
    rewrapped = NeuroidAssembly(xr.DataArray(assembly))
    assert levels_of(rewrapped, "presentation") == ["stimulus_id", "repetition"]
    xr.testing.assert_identical(xr.DataArray(rewrapped), xr.DataArray(assembly))


# --- validate and registry ----------------------------------------------------------------------


def test_neuroid_assembly_validates_its_dims():
    make_assembly().validate()
    NeuroidAssembly(np.zeros((2, 3, 1)), dims=["presentation", "neuroid", "time_bin"]).validate()
    with pytest.raises(ValidationError) as raised:
        NeuroidAssembly(np.zeros((2, 3)), dims=["presentation", "channel"]).validate()
    message = str(raised.value)
    assert "NeuroidAssembly" in message
    assert "neuroid, presentation" in message
    assert "(presentation, channel)" in message


def test_spike_times_assembly_requires_event_dim():
    SpikeTimesAssembly([0.1, 0.2], dims=["event"]).validate()
    with pytest.raises(ValidationError, match="SpikeTimesAssembly.*event"):
        SpikeTimesAssembly([0.1, 0.2], dims=["time"]).validate()


def test_unconstrained_classes_accept_any_dims():
    for cls in (DataAssembly, BehavioralAssembly, PropertyAssembly, MetadataAssembly):
        assert cls([1], dims=["anything"]).validate() is None


def test_class_registry_maps_every_name_to_its_class():
    assert ASSEMBLY_CLASSES == {
        cls.__name__: cls
        for cls in (
            DataAssembly,
            BehavioralAssembly,
            NeuroidAssembly,
            NeuronRecordingAssembly,
            ModelFeaturesAssembly,
            PropertyAssembly,
            SpikeTimesAssembly,
            MetadataAssembly,
        )
    }


def test_loader_classes():
    assert DataAssembly.get_loader_class() is StimulusMergeAssemblyLoader
    assert NeuroidAssembly.get_loader_class() is StimulusMergeAssemblyLoader
    assert SpikeTimesAssembly.get_loader_class() is GroupAppendAssemblyLoader
    assert PropertyAssembly.get_loader_class() is StimulusReferenceAssemblyLoader


# --- multi_groupby, multi_dim_apply, multisel ---------------------------------------------------


def test_multi_groupby_single_coord_is_plain_groupby():
    result = make_assembly().multi_groupby(["stimulus_id"]).mean()
    assert result.dims == ("stimulus_id", "neuroid")
    np.testing.assert_allclose(result.sel(stimulus_id="c").values, [18, 19, 20, 21])


def test_multi_groupby_several_coords_restores_dim_with_levels():
    assembly = make_assembly().assign_coords(
        session=("presentation", [1, 1, 2, 2, 2, 2])
    )
    assembly = DataAssembly(xr.DataArray(assembly))
    result = assembly.multi_groupby(["session", "repetition"]).mean()
    assert type(result) is DataAssembly
    assert set(result.dims) == {"presentation", "neuroid"}
    assert levels_of(result, "presentation") == ["session", "repetition"]
    assert result.sizes["presentation"] == 4
    np.testing.assert_allclose(
        result.sel(session=2, repetition=0).values, assembly.values[[2, 4]].mean(axis=0)
    )


def test_multi_groupby_iterates_with_tuple_keys():
    groups = dict(iter(make_assembly().multi_groupby(["stimulus_id", "repetition"])))
    assert ("b", 1) in groups
    assert groups[("b", 1)].sizes["presentation"] == 1


def test_multi_groupby_refuses_coords_of_different_dims():
    with pytest.raises(ValidationError, match="one and the same single dimension"):
        make_assembly().multi_groupby(["stimulus_id", "region"])


def test_multi_dim_apply_subtracts_group_means_keeping_shape_and_coords():
    """BrainIO's own example: the function receives each whole group."""
    d = DataAssembly(
        [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]],
        coords={"a": ["a", "b", "c", "d"], "aa": ("a", ["a", "a", "b", "b"]), "b": ["x", "y", "z"]},
        dims=["a", "b"],
    )
    result = d.multi_dim_apply(["aa", "b"], lambda x, **_: x - x.mean())
    assert result.equals(DataAssembly(
        [[-1.5, -1.5, -1.5], [1.5, 1.5, 1.5], [-1.5, -1.5, -1.5], [1.5, 1.5, 1.5]],
        coords={"a": ["a", "b", "c", "d"], "aa": ("a", ["a", "a", "b", "b"]), "b": ["x", "y", "z"]},
        dims=["a", "b"],
    ))


def test_multi_dim_apply_with_unique_values_is_the_identity():
    d = DataAssembly(
        [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]],
        coords={"a": ["a", "b", "c", "d"], "b": ["x", "y", "z"], "c": "remnant"}, dims=["a", "b"],
    )
    assert d.multi_dim_apply(["b", "a"], lambda x, **_: x).equals(d)


def test_multi_dim_apply_passes_cells_and_coords_and_broadcasts_scalars():
    assembly = make_assembly()
    seen = []

    def apply(cells, stimulus_id, region, repetition, **_):
        seen.append((np.shape(cells), list(stimulus_id), list(region), list(repetition)))
        return float(np.mean(cells))

    result = assembly.multi_dim_apply(["stimulus_id", "region"], apply)
    assert type(result) is type(assembly)
    assert result.shape == assembly.shape  # one value per position, as in BrainIO
    assert levels_of(result, "presentation") == ["stimulus_id", "repetition"]
    # Every coordinate at the cells' positions, the group coordinates too, as BrainIO passes them.
    assert len(seen) == 6 and ((2, 2), ["a", "a"], ["IT", "IT"], [0, 1]) in seen
    np.testing.assert_allclose(result.values[:2, :2], np.mean(assembly.values[:2, :2]))


def test_multi_dim_apply_on_one_group_keeps_the_other_dim_whole():
    assembly = make_assembly()
    result = assembly.multi_dim_apply(["stimulus_id"], lambda cells, **_: cells - cells.mean(axis=0))
    assert result.shape == (6, 4)
    np.testing.assert_allclose(result.values[:2], assembly.values[:2] - assembly.values[:2].mean(axis=0))


def test_multisel_keeps_dims_and_levels_for_scalars_and_lists():
    assembly = make_assembly()
    result = assembly.multisel(region="IT", stimulus_id=["a", "c"])
    assert result.dims == ("presentation", "neuroid")
    assert result.shape == (4, 2)
    assert levels_of(result, "neuroid") == ["neuroid_id", "region"]
    assert list(result["stimulus_id"].values) == ["a", "a", "c", "c"]
    scalar = assembly.multisel(repetition=0)
    assert levels_of(scalar, "presentation") == ["stimulus_id", "repetition"]
    assert list(scalar["repetition"].values) == [0, 0, 0]


def test_multisel_combines_conditions_on_the_same_dim():
    result = make_assembly().multisel(stimulus_id=["a", "b"], repetition=1)
    assert list(result["stimulus_id"].values) == ["a", "b"]


# --- merge and metadata -------------------------------------------------------------------------


def test_merge_data_arrays_along_neuroid_keeps_class_and_levels():
    assembly = make_assembly(NeuronRecordingAssembly)
    merged = merge_data_arrays([assembly.isel(neuroid=[0, 1]), assembly.isel(neuroid=[2, 3])])
    assert type(merged) is NeuronRecordingAssembly
    assert levels_of(merged, "neuroid") == ["neuroid_id", "region"]
    assert merged.sizes == assembly.sizes
    np.testing.assert_allclose(
        merged.sel(neuroid_id="n3").values, assembly.sel(neuroid_id="n3").values
    )


def test_merge_data_arrays_along_presentation():
    assembly = make_assembly()
    merged = merge_data_arrays(
        [assembly.isel(presentation=[0, 1, 2]), assembly.isel(presentation=[3, 4, 5])]
    )
    assert merged.sizes["presentation"] == 6
    assert not np.isnan(merged.values).any()


def test_get_metadata_switches():
    assembly = make_assembly().assign_coords(
        note="scalar", grid=(("presentation", "neuroid"), np.zeros((6, 4)))
    )
    assembly = DataAssembly(assembly)
    names = lambda **kwargs: list(get_metadata(assembly, names_only=True, **kwargs))  # noqa: E731
    levels = ["stimulus_id", "repetition", "neuroid_id", "region"]
    assert set(names()) == set(levels) | {"note", "grid"}
    everything = set(levels) | {"note", "grid", "presentation", "neuroid"}
    assert set(names(include_multi_indexes=True)) == everything
    assert set(names(include_levels=False)) == {"note", "grid"}
    assert set(names(include_coords=False)) == set(levels)
    multi_indexes = names(include_coords=False, include_levels=False, include_multi_indexes=True)
    assert multi_indexes == ["presentation", "neuroid"]
    assert names(dims=["neuroid"], include_coords=False) == ["neuroid_id", "region"]
    assert names(dims=[None]) == ["note"]
    assert names(dims=["presentation", "neuroid"], include_levels=False) == ["grid"]
    first = next(get_metadata(assembly))
    assert first[0] == "stimulus_id" and first[1] == ("presentation",)
    np.testing.assert_array_equal(first[2], ["a", "a", "b", "b", "c", "c"])


def test_get_metadata_classifies_plain_indexes():
    data = xr.DataArray([1, 2], dims=["x"], coords={"x": [3, 4], "y": ("x", [5, 6])})
    assert list(get_metadata(data, names_only=True, include_coords=False)) == ["x"]
    assert list(get_metadata(data, names_only=True, include_indexes=False)) == ["y"]


def test_walk_coords_yields_levels_and_coords_but_not_multiindexes():
    assembly = make_assembly()
    walked = {name: (dims, list(values)) for name, dims, values in walk_coords(assembly)}
    assert set(walked) == {"stimulus_id", "repetition", "neuroid_id", "region"}
    assert walked["region"] == (("neuroid",), ["IT", "IT", "V4", "V4"])


def test_get_levels():
    assert get_levels(make_assembly()) == ["stimulus_id", "repetition", "neuroid_id", "region"]
    assert get_levels(xr.DataArray([1], dims=["x"], coords={"y": ("x", [1])})) == []


def test_coords_for_dim():
    data = xr.DataArray(
        np.zeros((2, 2)), dims=["a", "b"],
        coords={
            "a": [1, 2],
            "c": ("a", [3, 4]),
            "d": ("b", [5, 6]),
            "e": (("a", "b"), np.zeros((2, 2))),
        },
    )
    assert list(coords_for_dim(data, "a")) == ["c"]  # neither the index nor the 2-D coordinate
    np.testing.assert_array_equal(coords_for_dim(data, "b")["d"], [5, 6])
    assert isinstance(coords_for_dim(data, "b")["d"], np.ndarray)  # values, as in BrainIO


def test_gather_indexes_returns_a_new_gathered_object():
    data = xr.DataArray([1, 2], dims=["x"], coords={"y": ("x", [1, 2]), "z": ("x", ["a", "b"])})
    gathered = gather_indexes(data)
    assert type(gathered) is xr.DataArray
    assert levels_of(gathered, "x") == ["y", "z"]
    assert "x" not in data.xindexes
    dataset = gather_indexes(data.to_dataset(name="v"))
    assert levels_of(dataset, "x") == ["y", "z"]


def test_array_is_element():
    assert array_is_element(["presentation"], "presentation")
    assert not array_is_element(["presentation", "neuroid"], "presentation")
    assert not array_is_element([], "presentation")


# --- loaders ------------------------------------------------------------------------------------


def write_assembly(path, assembly=None, **attrs) -> str:
    assembly = make_assembly() if assembly is None else assembly
    assembly.attrs.update(
        {
            "identifier": "lab.Author2020",
            "stimulus_set_identifier": "lab.Author2020.stimuli",
            **attrs,
        }
    )
    write_netcdf(assembly, path)
    return str(path)


def stimulus_set() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "stimulus_id": ["c", "b", "a", "unused"],
            "filename": ["c.png", "b.png", "a.png", "u.png"],
            "category": ["cat", "dog", "cat", "cow"],
            "size": [1.5, 2.5, 3.5, 4.5],
            "repetition": [9, 9, 9, 9],  # exists as a coordinate: not merged
        }
    )


def test_from_files_loads_values_levels_and_attrs(tmp_path):
    path = write_assembly(tmp_path / "a.nc")
    loaded = NeuroidAssembly.from_files(path)
    assert type(loaded) is NeuroidAssembly
    np.testing.assert_array_equal(loaded.values, make_assembly().values)
    assert levels_of(loaded, "presentation") == ["stimulus_id", "repetition"]
    assert loaded.attrs["identifier"] == "lab.Author2020"
    # As in BrainIO, the loader's arguments say which stimulus set is attached: none here.
    assert loaded.attrs["stimulus_set_identifier"] is None
    assert loaded.attrs["stimulus_set"] is None


def test_stimulus_merge_adds_columns_by_stimulus_id(tmp_path):
    path = write_assembly(tmp_path / "a.nc")
    stimuli = stimulus_set()
    loaded = NeuroidAssembly.from_files(
        path, stimulus_set_identifier="other.Set", stimulus_set=stimuli
    )
    assert list(loaded["category"].values) == ["cat", "cat", "dog", "dog", "cat", "cat"]
    np.testing.assert_array_equal(loaded["size"].values, [3.5, 3.5, 2.5, 2.5, 1.5, 1.5])
    assert list(loaded["repetition"].values) == [0, 1, 0, 1, 0, 1]
    assert list(loaded["filename"].values) == ["a.png", "a.png", "b.png", "b.png", "c.png", "c.png"]
    assert {"category", "size"} <= set(levels_of(loaded, "presentation"))
    assert loaded.attrs["stimulus_set"] is stimuli
    assert loaded.attrs["stimulus_set_identifier"] == "other.Set"
    assert loaded.sel(category="dog").sizes["presentation"] == 2


def test_stimulus_merge_reports_missing_stimuli(tmp_path):
    path = write_assembly(tmp_path / "a.nc")
    stimuli = stimulus_set().iloc[1:]  # drops "c"
    with pytest.raises(ValidationError) as raised:
        NeuroidAssembly.from_files(path, stimulus_set_identifier="lab.Set", stimulus_set=stimuli)
    message = str(raised.value)
    assert "lab.Set" in message and "a.nc" in message
    assert "2 presentations" in message and "'c'" in message


def test_stimulus_reference_loader_attaches_without_merging(tmp_path):
    path = write_assembly(tmp_path / "a.nc")
    stimuli = stimulus_set()
    loaded = StimulusReferenceAssemblyLoader(NeuroidAssembly, path, stimulus_set=stimuli).load()
    assert loaded.attrs["stimulus_set"] is stimuli
    assert "category" not in loaded.coords


def test_legacy_image_id_is_copied_to_stimulus_id(tmp_path):
    legacy = xr.DataArray(  # a file whose presentations have image_id only
        [[1.0], [2.0]], dims=["presentation", "neuroid"],
        coords={"image_id": ("presentation", ["i1", "i2"]), "neuroid_id": ("neuroid", ["n"])},
    )
    path = write_assembly(tmp_path / "legacy.nc", legacy)
    loaded = AssemblyLoader(DataAssembly, path).load()
    assert list(loaded["stimulus_id"].values) == ["i1", "i2"]
    assert list(loaded["image_id"].values) == ["i1", "i2"]


def test_loader_closes_the_file(tmp_path):
    path = write_assembly(tmp_path / "a.nc")
    loaded = NeuroidAssembly.from_files(path)
    (tmp_path / "a.nc").unlink()
    assert float(loaded.sum()) == float(np.arange(24).sum())


@pytest.mark.filterwarnings("ignore:The specified chunks separate the stored chunks")
def test_brainio_chunks_opens_lazily_with_dask(tmp_path, monkeypatch):
    pytest.importorskip("dask")
    path = write_assembly(tmp_path / "a.nc")
    monkeypatch.setenv("BRAINIO_CHUNKS", "{'presentation': 2}")
    loaded = NeuroidAssembly.from_files(path)
    assert loaded.chunks is not None
    assert loaded.chunks[0] == (2, 2, 2)
    np.testing.assert_array_equal(loaded.values, make_assembly().values)
    loaded.close()


@pytest.mark.parametrize("value", ["not a literal(", "[1, 2]"])
def test_malformed_brainio_chunks_is_a_configuration_error(tmp_path, monkeypatch, value):
    path = write_assembly(tmp_path / "a.nc")
    monkeypatch.setenv("BRAINIO_CHUNKS", value)
    with pytest.raises(ConfigurationError, match="BRAINIO_CHUNKS"):
        NeuroidAssembly.from_files(path)


def test_spike_times_assembly_loads_groups_as_metadata_assemblies(tmp_path):
    spikes = SpikeTimesAssembly(
        [0.1, 0.5, 0.7], dims=["event"],
        coords={
            "neuroid_id": ("event", ["n1", "n2", "n1"]),
            "stimulus_id": ("event", ["a", "a", "b"]),
        },
    )
    path = write_assembly(tmp_path / "spikes.nc", spikes)
    meta = MetadataAssembly(
        [3.0, 4.0], dims=["neuroid"], coords={"neuroid_id": ("neuroid", ["n1", "n2"])}
    )
    write_netcdf(meta, path, append=True, group="neuroid_meta")
    loaded = SpikeTimesAssembly.from_files(path, stimulus_set_identifier="lab.Set")
    assert type(loaded) is SpikeTimesAssembly
    np.testing.assert_allclose(loaded.values, [0.1, 0.5, 0.7])
    group = loaded.attrs["neuroid_meta"]
    assert type(group) is MetadataAssembly
    assert list(group["neuroid"].values) == ["n1", "n2"]  # a lone coordinate names its dim
    np.testing.assert_allclose(group.values, [3.0, 4.0])
    assert group.attrs["stimulus_set_identifier"] == "lab.Set"


def test_loader_rejects_files_with_several_data_variables(tmp_path):
    path = tmp_path / "two.nc"
    xr.Dataset({"a": ("x", [1]), "b": ("x", [2])}).to_netcdf(path)
    with pytest.raises(ValidationError, match="exactly one data variable"):
        DataAssembly.from_files(path)


# --- stimulus ids of any dtype -------------------------------------------------------------------


def integer_id_assembly() -> NeuroidAssembly:
    return NeuroidAssembly(
        np.arange(8, dtype=float).reshape(4, 2), dims=["presentation", "neuroid"],
        coords={
            "stimulus_id": ("presentation", np.array([3, 1, 3, 1], dtype="int64")),
            "repetition": ("presentation", [0, 0, 1, 1]),
            "neuroid_id": ("neuroid", ["n1", "n2"]), "region": ("neuroid", ["IT", "V4"]),
        },
    )


def test_integer_stimulus_ids_in_the_file_match_the_stimulus_set_csv(tmp_path):
    """BrainIO loads these: pandas reads the CSV's ids as integers, as the netCDF holds them."""
    from brainio_dvc.stimuli import StimulusSet

    path = write_assembly(tmp_path / "a.nc", integer_id_assembly())
    (tmp_path / "images").mkdir()
    pd.DataFrame({"stimulus_id": [1, 3], "filename": ["1.png", "3.png"], "label": ["one", "three"]}).to_csv(
        tmp_path / "stimuli.csv", index=False
    )
    stimuli = StimulusSet.from_files(tmp_path / "stimuli.csv", tmp_path / "images")
    assert stimuli["stimulus_id"].dtype == np.int64
    loaded = NeuroidAssembly.from_files(path, stimulus_set_identifier="lab.Ints", stimulus_set=stimuli)
    assert list(loaded["label"].values) == ["three", "one", "three", "one"]
    assert loaded.sel(stimulus_id=3).sizes["presentation"] == 2
    assert stimuli.get_stimulus(3).name == "3.png"


def test_text_ids_of_a_stimulus_set_match_integer_ids_of_the_assembly(tmp_path):
    path = write_assembly(tmp_path / "a.nc", integer_id_assembly())
    stimuli = pd.DataFrame({"stimulus_id": pd.Series(["1", "3"], dtype="str"), "label": ["one", "three"]})
    loaded = NeuroidAssembly.from_files(path, stimulus_set_identifier="lab.Text", stimulus_set=stimuli)
    assert list(loaded["label"].values) == ["three", "one", "three", "one"]


def test_pandas_string_columns_merge_and_select(tmp_path):
    path = write_assembly(tmp_path / "a.nc")
    stimuli = stimulus_set().astype({"stimulus_id": "str", "filename": "str", "category": "str"})
    loaded = NeuroidAssembly.from_files(path, stimulus_set_identifier="lab.Str", stimulus_set=stimuli)
    assert loaded.sel(category="dog").sizes["presentation"] == 2
    assert list(loaded.sel(category="dog")["filename"].values) == ["b.png", "b.png"]


def test_a_presentation_dim_with_stimulus_id_alone_merges_the_stimulus_set(tmp_path):
    lone = xr.DataArray(  # written by another tool: presentations carry stimulus_id only
        np.zeros((3, 2)), dims=["presentation", "neuroid"],
        coords={"stimulus_id": ("presentation", ["a", "b", "c"]), "neuroid_id": ("neuroid", ["n1", "n2"]),
                "region": ("neuroid", ["IT", "IT"])},
    )
    loaded = NeuroidAssembly.from_files(write_assembly(tmp_path / "a.nc", lone), stimulus_set=stimulus_set())
    assert list(loaded["stimulus_id"].values) == ["a", "b", "c"]
    assert list(loaded["category"].values) == ["cat", "dog", "cat"]


def test_sel_on_a_similarity_matrix_selects_both_axes():
    ids, categories = ["s0", "s1", "s2"], ["x", "y", "x"]
    matrix = DataAssembly(
        np.arange(9.0).reshape(3, 3), dims=["presentation", "presentation"],
        coords={"stimulus_id": ("presentation", ids), "category": ("presentation", categories)},
    )
    selected = matrix.sel(category="x")
    np.testing.assert_array_equal(selected.values, [[0.0, 2.0], [6.0, 8.0]])
    assert selected.dims == ("presentation", "presentation")
    assert list(selected["presentation"].values) == ["s0", "s2"]


def test_a_group_that_cannot_be_read_is_an_error_naming_file_and_group(tmp_path):
    spikes = SpikeTimesAssembly(
        [0.1, 0.5], dims=["event"],
        coords={"neuroid_id": ("event", ["n1", "n2"]), "stimulus_id": ("event", ["a", "b"])},
    )
    path = write_assembly(tmp_path / "spikes.nc", spikes)
    with netCDF4.Dataset(path, "a") as root:  # a group with two data variables is no assembly
        group = root.createGroup("broken")
        group.createDimension("x", 1)
        group.createVariable("a", "f8", ("x",))[:] = [1.0]
        group.createVariable("b", "f8", ("x",))[:] = [2.0]
    with pytest.raises(ValidationError) as raised:
        SpikeTimesAssembly.from_files(path)
    assert "'broken'" in str(raised.value) and "spikes.nc" in str(raised.value)
