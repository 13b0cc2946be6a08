"""Every public module-level name of BrainIO 1.1 imports from the same path in brainio_dvc.

The list is data, taken from BrainIO 1.1.0 itself (``pip download --no-deps
brainscore-brainio==1.1.0``): for each of its modules, the names without a leading underscore
that are defined in BrainIO, are BrainIO modules, or are constants; names of other libraries that
a module happens to import (``np``, ``boto3``, ``DataArray``) are not BrainIO's API.  It was
generated with ``[n for n in vars(module) if not n.startswith('_') and ...]`` under BrainIO 1.1.0.
"""

from __future__ import annotations

import importlib
import inspect

import pytest

BRAINIO_1_1_NAMES = {
    "": [
        "assemblies", "catalogs", "fetch", "get_assembly", "get_catalog", "get_stimulus_set",
        "list_assemblies", "list_catalogs", "list_stimulus_sets", "lookup", "stimuli",
    ],
    "assemblies": [
        "AssemblyLoader", "BRAINIO_CHUNKS", "BehavioralAssembly", "DataAssembly", "DataPoint",
        "GroupAppendAssemblyLoader", "GroupbyBridge", "GroupbyError", "MetadataAssembly",
        "ModelFeaturesAssembly", "NeuroidAssembly", "NeuronRecordingAssembly", "PropertyAssembly",
        "SpikeTimesAssembly", "StimulusMergeAssemblyLoader", "StimulusReferenceAssemblyLoader",
        "array_is_element", "coords_for_dim", "gather_indexes", "get_levels", "get_metadata",
        "get_metadata_after_2022_06", "get_metadata_before_2022_06", "is_fastpath",
        "merge_data_arrays", "walk_coords",
    ],
    "stimuli": ["StimulusSet", "StimulusSetLoader"],
    "catalogs": ["Catalog", "CatalogLoader", "SOURCE_CATALOG"],
    "lookup": [
        "AssemblyLookupError", "Catalog", "ENTRYPOINT", "SOURCE_CATALOG", "StimulusSetLookupError",
        "TYPE_ASSEMBLY", "TYPE_STIMULUS_SET", "append", "combined_catalog", "get_catalog",
        "get_catalogs", "list_assemblies", "list_catalogs", "list_stimulus_sets", "lookup_assembly",
        "lookup_stimulus_set", "sha1_hash",
    ],
    "fetch": [
        "BRAINIO_HOME", "BotoFetcher", "Fetcher", "StimulusSetLoader", "assemblies", "fetch_file",
        "filename_from_link", "fullname", "get_assembly", "get_fetcher", "get_local_data_path",
        "get_stimulus_set", "lookup_assembly", "lookup_stimulus_set", "resolve_assembly_class",
        "resolve_stimulus_set_class", "sha1_hash", "stimuli", "unzip", "verify_sha1",
    ],
    "packaging": [
        "TYPE_ASSEMBLY", "TYPE_STIMULUS_SET", "check_experiment_stimulus_set", "check_image_format",
        "check_naming_convention", "check_stimulus_naming_convention", "check_stimulus_numbers",
        "create_stimulus_csv", "create_stimulus_zip", "extract_specific", "fetch", "get_user_info",
        "list_stimulus_sets", "lookup", "package_data_assembly", "package_stimulus_set",
        "resolve_assembly_class", "sha1_hash", "upload_to_s3", "write_netcdf",
    ],
    "transform": ["index_efficient", "subset", "walk_coords"],
}
#: The BrainIO modules that are modules here too, wherever a BrainIO module re-exported them.
MODULE_NAMES = {"assemblies", "catalogs", "fetch", "lookup", "stimuli"}

CASES = [(module, name) for module, names in BRAINIO_1_1_NAMES.items() for name in names]


@pytest.mark.parametrize(("module", "name"), CASES, ids=[f"{m or 'brainio'}.{n}" for m, n in CASES])
def test_every_brainio_name_imports_from_the_same_path(module: str, name: str) -> None:
    path = f"brainio_dvc.{module}" if module else "brainio_dvc"
    value = getattr(importlib.import_module(path), name)
    if name in MODULE_NAMES:
        assert inspect.ismodule(value) and value.__name__ == f"brainio_dvc.{name}"
    elif name.isupper():
        assert isinstance(value, str)
    else:
        assert callable(value), f"{path}.{name} is {value!r}"


def test_a_name_means_the_same_object_wherever_brainio_re_exported_it() -> None:
    import brainio_dvc

    assert brainio_dvc.fetch.get_assembly is brainio_dvc.get_assembly
    assert brainio_dvc.fetch.StimulusSetLoader is brainio_dvc.stimuli.StimulusSetLoader
    assert brainio_dvc.lookup.Catalog is brainio_dvc.catalogs.Catalog
    assert brainio_dvc.packaging.write_netcdf is importlib.import_module("brainio_dvc.formats.netcdf").write_netcdf
    assert brainio_dvc.transform.walk_coords is brainio_dvc.assemblies.walk_coords
    assert brainio_dvc.assemblies.BRAINIO_CHUNKS == "BRAINIO_CHUNKS"
    # class resolution lives beside the classes; fetch and packaging re-export it
    assert brainio_dvc.fetch.resolve_assembly_class is brainio_dvc.assemblies.resolve_assembly_class
    packaging = importlib.import_module("brainio_dvc.packaging")
    assert packaging.resolve_assembly_class is brainio_dvc.assemblies.resolve_assembly_class
    assert brainio_dvc.fetch.resolve_stimulus_set_class is brainio_dvc.stimuli.resolve_stimulus_set_class
    assert brainio_dvc.fetch.BRAINIO_HOME == "BRAINIO_HOME"
