"""Loading from real git + DVC registries at pinned revisions."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import brainio_dvc
from brainio_dvc import config
from brainio_dvc.exceptions import AssemblyLookupError, RegistryError, RevisionNotFoundError
from brainio_dvc.registry import Registry as GitRegistry

from .conftest import ASSEMBLY, STIMULI, Registry, git


def test_two_revisions_give_different_content(registry: Registry) -> None:
    first = brainio_dvc.get_assembly(ASSEMBLY, rev="v1", registry=str(registry.root))
    second = brainio_dvc.get_assembly(ASSEMBLY, rev="v2", registry=str(registry.root))
    assert first.attrs["rev"] == registry.v1
    assert second.attrs["rev"] == registry.v2
    assert first.attrs["md5"] != second.attrs["md5"]
    assert not np.allclose(first.values, second.values)
    # The default branch is the newest version.
    assert brainio_dvc.get_assembly(ASSEMBLY, registry=str(registry.root)).attrs["md5"] == second.attrs["md5"]


def test_provenance_attrs(registry: Registry) -> None:
    assembly = brainio_dvc.get_assembly(ASSEMBLY, rev=registry.v1, registry=str(registry.root))
    for key in ("identifier", "catalog", "registry", "rev", "path", "md5", "sha1"):
        assert assembly.attrs[key], key
    assert len(assembly.attrs["rev"]) == 40
    assert assembly.attrs["path"].endswith(f"{ASSEMBLY}.nc")
    stimuli = assembly.attrs["stimulus_set"]
    assert stimuli.identifier == STIMULI
    assert stimuli.attrs["rev"] == registry.v1
    # The stimulus set's columns were merged into the presentation coordinates.
    assert set(assembly["category"].values) == {"a", "b"}
    assert type(assembly).__name__ == "NeuronRecordingAssembly"


def test_stimulus_set_files_are_local_images(registry: Registry) -> None:
    stimuli = brainio_dvc.get_stimulus_set(STIMULI, registry=str(registry.root))
    assert len(stimuli) == 6
    path = Path(stimuli.get_stimulus("s3"))
    assert path.is_file() and path.read_bytes().startswith(b"\x89PNG")


def test_file_url_and_path_load_the_same_bytes(registry: Registry) -> None:
    by_path = brainio_dvc.get_assembly(ASSEMBLY, rev="v1", registry=str(registry.root))
    by_url = brainio_dvc.get_assembly(ASSEMBLY, rev="v1", registry=registry.url)
    assert by_url.attrs["registry"] == registry.url
    assert by_url.attrs["md5"] == by_path.attrs["md5"]
    np.testing.assert_array_equal(by_url.values, by_path.values)


def test_warm_load_survives_the_remote_directory_being_deleted(registry: Registry) -> None:
    cold = brainio_dvc.get_assembly(ASSEMBLY, rev="v2", registry=str(registry.root))
    shutil.rmtree(registry.storage)
    warm = brainio_dvc.get_assembly(ASSEMBLY, rev="v2", registry=str(registry.root))
    np.testing.assert_array_equal(cold.values, warm.values)


def test_cold_load_without_remote_names_registry_remote_and_identifier(registry: Registry) -> None:
    shutil.rmtree(registry.storage)
    with pytest.raises(RegistryError) as raised:
        brainio_dvc.get_assembly(ASSEMBLY, rev="v1", registry=str(registry.root))
    message = str(raised.value)
    assert str(registry.root) in message and "storage" in message and ASSEMBLY in message


def test_warm_load_from_url_works_with_origin_and_remote_gone(registry: Registry) -> None:
    brainio_dvc.get_assembly(ASSEMBLY, registry=registry.url)
    shutil.rmtree(registry.root.parent)
    # A commit the clone holds is never fetched; a branch falls back to the known commit.
    pinned = brainio_dvc.get_assembly(ASSEMBLY, rev=registry.v2, registry=registry.url)
    with config.set(fetch_interval=0):
        moving = brainio_dvc.get_assembly(ASSEMBLY, registry=registry.url)
    assert pinned.attrs["md5"] == moving.attrs["md5"]


def test_clone_is_persistent_and_not_refetched_for_known_commits(registry: Registry) -> None:
    brainio_dvc.get_assembly(ASSEMBLY, rev=registry.v1, registry=registry.url)
    clone = GitRegistry(registry.url).git_dir
    stamp = clone / "brainio-dvc-fetched"
    before = stamp.stat().st_mtime_ns
    brainio_dvc.get_assembly(ASSEMBLY, rev=registry.v2, registry=registry.url)
    assert stamp.stat().st_mtime_ns == before
    assert len(list(clone.parent.glob("*-*"))) >= 1


def test_moving_branch_is_fetched_when_stale(registry: Registry, tmp_path: Path) -> None:
    assert brainio_dvc.get_assembly(ASSEMBLY, registry=registry.url).attrs["rev"] == registry.v2
    git(registry.root, "commit", "--quiet", "--allow-empty", "-m", "A newer commit")
    newest = git(registry.root, "rev-parse", "HEAD")
    # Within the fetch interval the known commit is used; with an interval of 0, it is fetched.
    assert brainio_dvc.get_assembly(ASSEMBLY, registry=registry.url).attrs["rev"] == registry.v2
    with config.set(fetch_interval=0):
        assert brainio_dvc.get_assembly(ASSEMBLY, registry=registry.url).attrs["rev"] == newest


def test_unknown_rev_is_an_error_naming_registry_and_rev(registry: Registry) -> None:
    with pytest.raises(RevisionNotFoundError) as raised:
        brainio_dvc.get_assembly(ASSEMBLY, rev="v999", registry=str(registry.root))
    assert "v999" in str(raised.value) and str(registry.root) in str(raised.value)
    with pytest.raises(RevisionNotFoundError):
        brainio_dvc.get_assembly(ASSEMBLY, rev="v999", registry=registry.url)


def test_unknown_identifier_suggests_close_matches(registry: Registry) -> None:
    with pytest.raises(AssemblyLookupError) as raised:
        brainio_dvc.get_assembly("lab.Tester2024.rate", registry=str(registry.root))
    assert isinstance(raised.value, KeyError)
    assert ASSEMBLY in str(raised.value)


def test_lists_and_catalogs_at_a_revision(registry: Registry) -> None:
    before_assembly = git(registry.root, "rev-list", "--max-count=1", f"{registry.v1}~1")
    assert brainio_dvc.list_assemblies(rev=before_assembly, registry=str(registry.root)) == []
    assert brainio_dvc.list_assemblies(rev="v1", registry=str(registry.root)) == [ASSEMBLY]
    assert brainio_dvc.list_stimulus_sets(registry=str(registry.root)) == [STIMULI]
    assert brainio_dvc.list_catalogs(registry=str(registry.root)) == ["lab"]
    catalog = brainio_dvc.get_catalog("lab", rev="v1", registry=str(registry.root))
    assert set(catalog["identifier"]) == {ASSEMBLY, STIMULI}


def test_configured_registries_and_pinned_rev(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRAINIO_DVC_REGISTRIES", registry.url)
    monkeypatch.setenv("BRAINIO_DVC_REV", "v1")
    assert brainio_dvc.get_assembly(ASSEMBLY).attrs["rev"] == registry.v1


def test_registry_around_the_current_directory_is_the_default(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(registry.root / "registry")
    assert brainio_dvc.list_assemblies() == [ASSEMBLY]


def test_a_directory_that_is_not_a_registry_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="not a registry"):
        brainio_dvc.list_assemblies(registry=str(tmp_path))


def test_unreachable_git_url_is_a_registry_error(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="cannot clone"):
        brainio_dvc.list_assemblies(registry=f"file://{tmp_path}/nothing-here")


def test_warm_load_does_not_import_dvc(registry: Registry) -> None:
    """A warm load reads git objects and the cache; DVC is only needed to download."""
    brainio_dvc.get_assembly(ASSEMBLY, registry=str(registry.root))
    code = (
        "import sys, brainio_dvc\n"
        f"brainio_dvc.get_assembly({ASSEMBLY!r}, registry={str(registry.root)!r})\n"
        "print('dvc' in sys.modules)\n"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "False"


def test_catalogs_of_a_commit_are_cached_on_disk_and_bad_cache_files_are_replaced(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    row = brainio_dvc.lookup.lookup_assembly(ASSEMBLY, rev="v1", registry=str(registry.root))
    cache_file = config.home() / "catalog-cache" / f"{registry.v1}.json"
    cached = json.loads(cache_file.read_text())
    committed = list(csv.reader(io.StringIO(git(registry.root, "show", "v1:catalogs/lab/lookup.csv"))))
    assert [cached["catalogs"]["lab"]["columns"], *cached["catalogs"]["lab"]["rows"]] == committed

    code = (
        "import brainio_dvc.lookup as lookup\n"
        f"print(lookup.lookup_assembly({ASSEMBLY!r}, rev='v1', registry={str(registry.root)!r})['md5'])\n"
    )
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert fresh.strip() == row["md5"]

    cache_file.write_text("{not json")
    GitRegistry._tables_memo.clear()
    with caplog.at_level("WARNING"):
        again = brainio_dvc.lookup.lookup_assembly(ASSEMBLY, rev="v1", registry=str(registry.root))
    assert again["md5"] == row["md5"]
    assert "ignoring unreadable catalog cache" in caplog.text and str(cache_file) in caplog.text
    assert json.loads(cache_file.read_text())["catalogs"] == cached["catalogs"]


def test_a_new_commit_on_a_local_registry_is_seen_at_once(registry: Registry) -> None:
    before = brainio_dvc.lookup.list_assemblies(registry=str(registry.root))
    git(registry.root, "mv", "catalogs/lab", "catalogs/renamed")
    git(registry.root, "commit", "--quiet", "-m", "rename the catalog")
    assert brainio_dvc.lookup.list_catalogs(registry=str(registry.root)) == ["renamed"]
    assert brainio_dvc.lookup.list_assemblies(registry=str(registry.root)) == before


def test_load_of_an_assembly_in_memory_does_not_import_dask(registry: Registry) -> None:
    """xarray's load() asks every variable whether it is a dask array, importing dask to do so."""
    brainio_dvc.get_assembly(ASSEMBLY, registry=str(registry.root))
    code = (
        "import sys, brainio_dvc\n"
        f"assembly = brainio_dvc.get_assembly({ASSEMBLY!r}, registry={str(registry.root)!r})\n"
        "loaded = assembly.load()\n"
        "print(loaded is assembly, 'dask' in sys.modules, type(loaded).__name__)\n"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.split() == ["True", "False", "NeuronRecordingAssembly"]


def test_a_clone_killed_midway_leaves_nothing_after_the_next_clone(registry: Registry) -> None:
    """A killed `git clone` leaves its staging directory; the next clone, under the lock, removes it."""
    clone_dir = GitRegistry._clone_dir(registry.url, config.home())
    stale = clone_dir.with_name(f".{clone_dir.name}.4242.deadbeef.tmp")
    (stale / "objects").mkdir(parents=True)
    (stale / "objects" / "half-written").write_bytes(b"\0" * 100)

    brainio_dvc.get_assembly(ASSEMBLY, registry=registry.url)

    assert (clone_dir / "HEAD").is_file()
    assert not stale.exists()
    assert sorted(path.name for path in clone_dir.parent.iterdir() if path.name.endswith(".tmp")) == []


def test_read_many_reads_several_files_of_a_commit_with_one_git_process(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = GitRegistry(registry.root)
    commit = source.resolve("v1")
    expected = git(registry.root, "show", "v1:catalogs/lab/lookup.csv").encode() + b"\n"
    started: list[list[str]] = []
    run = subprocess.run

    def counting(command, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202 - subprocess.run's
        started.append(list(command))
        return run(command, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", counting)
    found = source.read_many(commit, ["catalogs/lab/lookup.csv", "no/such/file", "catalogs", "a\nb"])
    assert found["catalogs/lab/lookup.csv"] == expected
    assert found["no/such/file"] is None and found["catalogs"] is None and found["a\nb"] is None
    assert len(started) == 1
    # Parsing the catalogs reads the DVC config in the same process; the remote then needs none.
    started.clear()
    source.catalog_tables(commit)
    committed, _ = source.dvc_config_texts(commit)
    assert "remote" in committed and [command[3] for command in started] == ["ls-tree", "cat-file"]
