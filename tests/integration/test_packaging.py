"""Packaging into real registries: results, new versions, and all-or-nothing failures."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import brainio_dvc
from brainio_dvc.exceptions import PackagingError
from brainio_dvc.formats.dvcmeta import parse_dvc_file
from brainio_dvc.packaging import package_data_assembly, package_stimulus_set

from .conftest import ASSEMBLY, CATALOG, STIMULI, Registry, git, make_assembly, make_stimulus_set


def snapshot(registry: Registry) -> dict[str, object]:
    """Everything packaging may touch: working tree, index, branches, catalog, remote."""
    root = registry.root
    storage = (
        sorted(str(p.relative_to(registry.storage)) for p in registry.storage.rglob("*"))
        if registry.storage.exists() else None
    )
    return {
        "status": git(root, "status", "--porcelain", "--untracked-files=all"),
        "branches": git(root, "for-each-ref", "--format=%(refname) %(objectname)"),
        "head": git(root, "rev-parse", "HEAD"),
        "catalog": (root / "catalogs" / CATALOG / "lookup.csv").read_text(),
        "remote": storage,
        "worktrees": git(root, "worktree", "list", "--porcelain").count("worktree "),
    }


def test_package_assembly_returns_description_and_commits_on_a_branch(registry: Registry) -> None:
    result = package_data_assembly(CATALOG, make_assembly(3), "lab.Tester2024.more", STIMULI, registry=registry.root)
    assert result["branch"] == "package/lab.Tester2024"  # its stimulus set's branch
    assert git(registry.root, "rev-parse", result["branch"]) == result["commit"]
    assert result["path"] == "registry/lab/assemblies/lab.Tester2024.more/lab.Tester2024.more.nc"
    assert len(result["md5"]) == 32 and len(result["sha1"]) == 40
    # The branch holds the .dvc file with its meta, and the regenerated catalog.
    dvc_text = git(registry.root, "show", f"{result['commit']}:{result['path']}.dvc")
    row = parse_dvc_file(dvc_text, result["path"] + ".dvc")
    assert row["identifier"] == "lab.Tester2024.more" and row["md5"] == result["md5"]
    assert "lab.Tester2024.more" in git(registry.root, "show", f"{result['commit']}:catalogs/lab/lookup.csv")
    # The user's branch did not move, and the data is on the remote.
    assert git(registry.root, "rev-parse", "HEAD") == registry.v2
    assert (registry.storage / "files" / "md5" / result["md5"][:2] / result["md5"][2:]).is_file()
    loaded = brainio_dvc.get_assembly("lab.Tester2024.more", rev=result["branch"], registry=str(registry.root))
    np.testing.assert_allclose(loaded.values, make_assembly(3).values)


def test_a_lone_stimulus_id_of_a_plain_data_array_is_packaged_under_its_name(registry: Registry) -> None:
    import xarray as xr

    behavior = xr.DataArray(  # presentations with stimulus_id alone
        np.arange(12.0), dims=["presentation"],
        coords={"stimulus_id": ("presentation", [f"s{n % 6}" for n in range(12)])},
    )
    result = package_data_assembly(CATALOG, behavior, "lab.Tester2024.choices", STIMULI, "BehavioralAssembly",
                                   registry=registry.root)
    loaded = brainio_dvc.get_assembly("lab.Tester2024.choices", rev=result["branch"], registry=str(registry.root))
    assert list(loaded["stimulus_id"].values[:6]) == [f"s{n}" for n in range(6)]
    assert set(loaded["category"].values) == {"a", "b"}  # merged from the stimulus set


def test_an_assembly_whose_presentations_lost_their_stimulus_id_is_refused(registry: Registry) -> None:
    from brainio_dvc.assemblies import BehavioralAssembly

    behavior = BehavioralAssembly(  # the class indexes presentations by stimulus_id, as BrainIO did
        np.arange(6.0), dims=["presentation"], coords={"stimulus_id": ("presentation", [f"s{n}" for n in range(6)])},
    )
    with pytest.raises(PackagingError, match="stimulus_id coordinate on the presentation dimension"):
        package_data_assembly(CATALOG, behavior, "lab.Tester2024.lost", STIMULI, "BehavioralAssembly",
                              registry=registry.root)


def test_package_stimulus_set_description(registry: Registry, tmp_path: Path) -> None:
    stimuli = make_stimulus_set(tmp_path / "other", count=4)
    result = package_stimulus_set(CATALOG, stimuli, "lab.Other2023", registry=registry.root)
    assert result["stimuli"] == 4 and result["class"] == "StimulusSet"
    assert result["path"].endswith("lab.Other2023.csv") and result["zip_path"].endswith("lab.Other2023.zip")
    loaded = brainio_dvc.get_stimulus_set("lab.Other2023", rev=result["commit"], registry=str(registry.root))
    assert sorted(loaded["stimulus_id"]) == ["s0", "s1", "s2", "s3"]
    assert list(loaded["filename"]) == [f"s{n}.png" for n in range(4)]


def test_existing_identifier_needs_new_version(registry: Registry) -> None:
    before = snapshot(registry)
    with pytest.raises(PackagingError, match="new_version=True") as raised:
        package_data_assembly(CATALOG, make_assembly(5), ASSEMBLY, STIMULI, registry=registry.root)
    assert raised.value.step == "validate"
    assert snapshot(registry) == before


def test_new_version_keeps_old_revisions_resolving(registry: Registry) -> None:
    result = package_data_assembly(
        CATALOG, make_assembly(5), ASSEMBLY, STIMULI, registry=registry.root, new_version=True
    )
    old = brainio_dvc.get_assembly(ASSEMBLY, rev="v1", registry=str(registry.root))
    new = brainio_dvc.get_assembly(ASSEMBLY, rev=result["commit"], registry=str(registry.root))
    np.testing.assert_allclose(old.values, make_assembly(1).values)
    np.testing.assert_allclose(new.values, make_assembly(5).values)
    assert "New version" in git(registry.root, "log", "-1", "--format=%s", result["commit"])


def test_identical_new_version_is_refused(registry: Registry) -> None:
    before = snapshot(registry)
    with pytest.raises(PackagingError, match="nothing changed"):
        package_data_assembly(CATALOG, make_assembly(2), ASSEMBLY, STIMULI, registry=registry.root, new_version=True)
    assert snapshot(registry) == before


@pytest.mark.parametrize(
    ("identifier", "stimulus_set", "class_name", "step"),
    [
        ("lab/../../escape2024", STIMULI, "NeuronRecordingAssembly", "validate"),
        ("lab.Tester2024.", STIMULI, "NeuronRecordingAssembly", "validate"),
        ("lab.Tester2024.x", STIMULI, "os.system", "validate"),
        ("lab.Tester2024.x", "lab.Missing2024", "NeuronRecordingAssembly", "validate"),
    ],
)
def test_bad_input_changes_nothing(
    registry: Registry, identifier: str, stimulus_set: str, class_name: str, step: str
) -> None:
    before = snapshot(registry)
    with pytest.raises(PackagingError) as raised:
        package_data_assembly(CATALOG, make_assembly(4), identifier, stimulus_set, class_name, registry=registry.root)
    assert raised.value.step == step
    assert identifier in str(raised.value)
    assert snapshot(registry) == before


def test_missing_stimulus_files_change_nothing(registry: Registry, tmp_path: Path) -> None:
    stimuli = make_stimulus_set(tmp_path / "gone", count=4)
    Path(stimuli.stimulus_paths["s2"]).unlink()
    before = snapshot(registry)
    with pytest.raises(PackagingError, match="s2.png"):
        package_stimulus_set(CATALOG, stimuli, "lab.Gone2024", registry=registry.root)
    assert snapshot(registry) == before


def test_remote_that_refuses_changes_nothing(registry: Registry) -> None:
    shutil.rmtree(registry.storage)
    registry.storage.write_text("not a directory: every push fails")
    before = snapshot(registry)
    with pytest.raises(PackagingError) as raised:
        package_data_assembly(CATALOG, make_assembly(6), "lab.Tester2024.refused", STIMULI, registry=registry.root)
    assert raised.value.step == "push"
    assert snapshot(registry) == before


def test_commit_that_fails_changes_nothing_but_keeps_pushed_objects(registry: Registry) -> None:
    """The remote is shared and content-addressed: a failed run never deletes from it (gc does)."""
    hook = registry.root / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'refused by hook' >&2\nexit 1\n")
    hook.chmod(0o755)
    before = snapshot(registry)
    with pytest.raises(PackagingError, match="refused by hook") as raised:
        package_data_assembly(CATALOG, make_assembly(7), "lab.Tester2024.hooked", STIMULI, registry=registry.root)
    assert raised.value.step == "commit"
    after = snapshot(registry)
    assert set(after["remote"]) > set(before["remote"])
    assert {**after, "remote": None} == {**before, "remote": None}


def test_user_changes_in_the_working_tree_are_untouched(registry: Registry) -> None:
    notes = registry.root / "notes.txt"
    notes.write_text("work in progress")
    git(registry.root, "add", "notes.txt")
    result = package_data_assembly(CATALOG, make_assembly(8), "lab.Tester2024.wip", STIMULI, registry=registry.root)
    assert notes.read_text() == "work in progress"
    assert "A  notes.txt" in git(registry.root, "status", "--porcelain")
    assert "notes.txt" not in git(registry.root, "show", "--name-only", "--format=", result["commit"])


def _dvc(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("dvc")), *args], cwd=cwd, capture_output=True, text=True, check=True
    )


@pytest.fixture
def analysis_repo(tmp_path: Path) -> Path:
    root = tmp_path / "analysis"
    root.mkdir()
    git(root, "init", "--quiet")
    _dvc(root, "init", "--quiet")
    return root


def test_dvc_import_and_update_from_a_packaged_registry(registry: Registry, analysis_repo: Path) -> None:
    from brainio_dvc.assemblies import NeuronRecordingAssembly

    location = brainio_dvc.lookup.lookup_assembly(ASSEMBLY, registry=str(registry.root))["location"]
    _dvc(analysis_repo, "import", str(registry.root), location, "--rev", "v1")
    imported = analysis_repo / Path(location).name
    first = NeuronRecordingAssembly.from_files(imported)
    np.testing.assert_allclose(first.values, make_assembly(1).values)
    assert first.attrs["identifier"] == ASSEMBLY
    _dvc(analysis_repo, "update", "--rev", "v2", f"{imported.name}.dvc")
    second = NeuronRecordingAssembly.from_files(imported)
    np.testing.assert_allclose(second.values, make_assembly(2).values)


def test_dvc_import_from_a_fresh_clone_of_the_embedded_registry(analysis_repo: Path, tmp_path: Path) -> None:
    """The embedded registry's remote travels with it: a clone imports offline, with no cache."""
    from brainio_dvc.stimuli import StimulusSet

    clone = tmp_path / "embedded"
    git(tmp_path, "clone", "--quiet", str(Path(__file__).resolve().parents[2]), str(clone))
    for location in (
        "registry/demo/stimulus_sets/demo.Gabor2024/demo.Gabor2024.csv",
        "registry/demo/stimulus_sets/demo.Gabor2024/demo.Gabor2024.zip",
    ):
        _dvc(analysis_repo, "import", str(clone), location)
    brainio_dvc.fetch.unzip(analysis_repo / "demo.Gabor2024.zip", analysis_repo / "stimuli")
    stimuli = StimulusSet.from_files(analysis_repo / "demo.Gabor2024.csv", analysis_repo / "stimuli")
    assert len(stimuli) == 16
    assert Path(stimuli.get_stimulus("gabor00")).read_bytes().startswith(b"\x89PNG")
