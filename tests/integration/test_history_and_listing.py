"""browse.history and browse.listing, the library behind ``log``, ``diff``, ``list`` and ``show``,
on a real two-version registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from brainio_dvc.browse.history import (
    Change,
    Revision,
    diff_revisions,
    identifier_history,
    row_history,
)
from brainio_dvc.browse.listing import describe_identifier, list_artifacts, parse_size
from brainio_dvc.exceptions import IdentifierLookupError, RegistryError

from .conftest import ASSEMBLY, CATALOG, STIMULI, Registry, git


def test_identifier_history_lists_every_commit_that_changed_the_file(registry: Registry) -> None:
    history = identifier_history(ASSEMBLY, registry=str(registry.root))
    assert all(isinstance(revision, Revision) for revision in history)
    assert [revision.commit for revision in history] == [registry.v2, registry.v1]
    assert {revision.file for revision in history} == {
        f"registry/{CATALOG}/assemblies/{ASSEMBLY}/{ASSEMBLY}.nc"
    }
    assert history[0].md5 != history[1].md5 and history[0].author and history[0].subject


def test_identifier_history_stops_at_the_revision(registry: Registry) -> None:
    history = identifier_history(ASSEMBLY, rev="v1", registry=str(registry.root))
    assert [revision.commit for revision in history] == [registry.v1]


def test_stimulus_set_history_has_its_csv_first_then_its_zip(registry: Registry) -> None:
    history = identifier_history(STIMULI, registry=str(registry.root))
    assert [revision.file.rsplit(".", 1)[1] for revision in history] == ["csv", "zip"]


def test_history_of_an_unknown_identifier_suggests_the_close_one(registry: Registry) -> None:
    with pytest.raises(IdentifierLookupError, match=ASSEMBLY):
        identifier_history("lab.Tester2024.rate", registry=str(registry.root))


def test_a_row_of_no_registry_has_no_history() -> None:
    assert row_history({"identifier": "x", "lookup_type": "assembly", "location": "x.nc"}) == []


def test_diff_revisions_reports_the_changed_assembly(registry: Registry) -> None:
    history = identifier_history(ASSEMBLY, registry=str(registry.root))
    assert diff_revisions("v1", "v2", registry=str(registry.root)) == [
        Change("changed", ASSEMBLY, "assembly", "nc", history[1].md5, history[0].md5)
    ]
    before = git(registry.root, "rev-parse", f"{registry.v1}~1")
    added = diff_revisions(before, "v1", registry=str(registry.root))
    assert [(change.status, change.identifier) for change in added] == [("added", ASSEMBLY)]
    assert diff_revisions("v2", "v2", registry=str(registry.root)) == []


def test_diff_revisions_without_any_registry_is_a_registry_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RegistryError, match="no registry given"):
        diff_revisions("v1", "v2")


@pytest.mark.parametrize(
    "value, size",
    [("1234", 1234), (1234, 1234), ("", 0), (None, 0), ("12.5", 0), ("n/a", 0), ("-3", 0)],
)
def test_parse_size(value: object, size: int) -> None:
    assert parse_size(value) == size


def test_list_artifacts_one_entry_per_identifier_with_sizes_summed(registry: Registry) -> None:
    listing = list_artifacts(registry=str(registry.root))
    assert [(entry.identifier, entry.type) for entry in listing] == [
        (STIMULI, "stimulus_set"),
        (ASSEMBLY, "assembly"),
    ]
    by_identifier = {entry.identifier: entry for entry in listing}
    stimuli, assembly = by_identifier[STIMULI], by_identifier[ASSEMBLY]
    assert stimuli.class_name == "StimulusSet" and stimuli.catalog == CATALOG
    assert assembly.class_name == "NeuronRecordingAssembly" and assembly.stimulus_set == STIMULI
    described = describe_identifier(STIMULI, registry=str(registry.root))
    assert stimuli.size == sum(parse_size(file.size) for file in described.files) > 0
    assert stimuli.as_dict()["class"] == "StimulusSet"


def test_list_artifacts_at_a_revision_before_the_assembly(registry: Registry) -> None:
    before = git(registry.root, "rev-parse", f"{registry.v1}~1")
    assert [
        entry.identifier for entry in list_artifacts(rev=before, registry=str(registry.root))
    ] == [STIMULI]


def test_describe_identifier_reads_shape_history_and_import_command(registry: Registry) -> None:
    described = describe_identifier(ASSEMBLY, registry=str(registry.root))
    assert (described.type, described.class_name, described.rev) == (
        "assembly",
        "NeuronRecordingAssembly",
        registry.v2,
    )
    (file,) = described.files
    assert file.contents["dims"] == ["presentation", "neuroid", "time_bin"] and file.contents[
        "shape"
    ] == [12, 3, 1]
    assert [revision.commit for revision in file.history] == [registry.v2, registry.v1]
    assert file.dvc_import == f"dvc import {registry.root} {file.file} --rev {registry.v2}"
    assert "file" not in file.as_dict()["history"][0]


def test_describe_stimulus_set_counts_the_stimuli_of_its_csv(registry: Registry) -> None:
    described = describe_identifier(STIMULI, rev="v1", registry=str(registry.root))
    assert [file.contents.get("stimuli") for file in described.files] == [6, None]
    assert described.rev == registry.v1
