"""Loading from real git + DVC registries at pinned revisions."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import brainio_dvc
from brainio_dvc import config
from brainio_dvc.exceptions import AssemblyLookupError, RegistryError, RevisionNotFoundError
from brainio_dvc.store.registry import Registry as GitRegistry

from ..gitdvc import git_commands, in_a_new_process
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


def print_md5(registry: str, rev: str) -> str:
    """Code that loads the assembly at ``rev`` and prints its md5."""
    return (f"import brainio_dvc\n"
            f"print(brainio_dvc.get_assembly({ASSEMBLY!r}, rev={rev!r}, registry={registry!r}).attrs['md5'])\n")


def test_clone_is_persistent_and_not_refetched_for_known_commits(registry: Registry, tmp_path: Path) -> None:
    first = brainio_dvc.get_assembly(ASSEMBLY, rev=registry.v1, registry=registry.url)
    second = brainio_dvc.get_assembly(ASSEMBLY, rev=registry.v2, registry=registry.url)
    # Another process loads both known commits from the clone this one made: no clone, no fetch.
    trace = tmp_path / "known.trace"
    output = in_a_new_process(print_md5(registry.url, registry.v1) + print_md5(registry.url, registry.v2), trace=trace)
    assert output.stdout.split() == [first.attrs["md5"], second.attrs["md5"]]
    assert not {"clone", "fetch"} & set(git_commands(trace)), git_commands(trace)
    # The trace does see a fetch where there is one: a stale moving branch.
    stale = tmp_path / "stale.trace"
    in_a_new_process(print_md5(registry.url, "main"), trace=stale, BRAINIO_DVC_FETCH_INTERVAL="0")
    assert "fetch" in git_commands(stale) and "clone" not in git_commands(stale), git_commands(stale)


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


def test_registry_around_the_current_directory_is_the_default(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
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


def files_and_bytes(directory: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in directory.rglob("*") if path.is_file()}


def test_catalogs_of_a_commit_are_cached_on_disk_and_bad_cache_files_are_replaced(
    registry: Registry, tmp_path: Path
) -> None:
    before = files_and_bytes(config.home())
    row = brainio_dvc.lookup.lookup_assembly(ASSEMBLY, rev="v1", registry=str(registry.root))
    written = {path: data for path, data in files_and_bytes(config.home()).items()
               if path not in before and not path.name.endswith(".lock")}
    assert written, "the lookup wrote no cache"

    # Another process answers from what this one wrote, reading no catalog from git.
    code = ("import brainio_dvc.lookup as lookup\n"
            f"print(lookup.lookup_assembly({ASSEMBLY!r}, rev='v1', registry={str(registry.root)!r})['md5'])\n")
    reads = {"cat-file", "ls-tree", "show"}
    trace = tmp_path / "warm.trace"
    assert in_a_new_process(code, trace=trace).stdout.strip() == row["md5"]
    assert not reads & set(git_commands(trace)), git_commands(trace)
    # (where nothing is cached, the catalog is read from git: the trace sees it)
    cold = tmp_path / "cold.trace"
    in_a_new_process(code, trace=cold, BRAINIO_HOME=str(tmp_path / "another-home"))
    assert reads & set(git_commands(cold)), git_commands(cold)

    # Damaged, the cache is ignored with a warning naming the file, and written again.
    for path in written:
        path.write_text("{not json")
    logged = ("import logging\nlogging.basicConfig(level=logging.WARNING)\n" + code)
    output = in_a_new_process(logged)
    assert output.stdout.strip() == row["md5"]
    assert "ignoring unreadable catalog cache" in output.stderr
    assert any(str(path) in output.stderr for path in written), output.stderr
    assert files_and_bytes(config.home()).items() >= written.items()


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


def git_repositories_under(directory: Path) -> list[Path]:
    """Every git directory (bare or not) under ``directory``."""
    return sorted(head.parent for head in directory.rglob("HEAD") if (head.parent / "objects").is_dir())


def test_a_clone_killed_midway_leaves_nothing_after_the_next_clone(registry: Registry, tmp_path: Path) -> None:
    """A load killed (SIGKILL) the moment its `git clone` finishes leaves a whole clone where it
    staged it; the next load, under the lock, removes it and clones again."""
    real_git = shutil.which("git")
    assert real_git is not None
    wrapper = tmp_path / "bin" / "git"
    wrapper.parent.mkdir()
    # Real git, then the loading process is killed before it can move the clone into place.
    wrapper.write_text(f'#!/bin/sh\n"{real_git}" "$@"\nstatus=$?\n'
                       f'[ "$1" = clone ] && kill -9 "$PPID"\nexit $status\n')
    wrapper.chmod(0o755)
    env = {**os.environ, "PATH": f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}"}
    killed = subprocess.run([sys.executable, "-c", print_md5(registry.url, "main")], env=env,
                            capture_output=True, text=True, check=False)
    assert killed.returncode == -9, killed.stderr
    (left,) = git_repositories_under(config.home())  # the staged clone, never moved into place

    assembly = brainio_dvc.get_assembly(ASSEMBLY, registry=registry.url)

    assert assembly.attrs["rev"] == registry.v2
    assert not left.exists()
    (clone,) = git_repositories_under(config.home())
    assert clone != left


def test_read_many_reads_several_files_of_a_commit_with_one_git_process(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = GitRegistry(registry.root)
    commit = source.resolve("v1")
    expected = git(registry.root, "show", "v1:catalogs/lab/lookup.csv").encode() + b"\n"
    started: list[list[str]] = []
    run = subprocess.run

    def counting(command, *args, **kwargs):
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
