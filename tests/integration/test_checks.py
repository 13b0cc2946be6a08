"""contribute.checks, the library behind ``catalog check`` and ``verify``, on real registries."""

from __future__ import annotations

import shutil

import pytest

from brainio_dvc.contribute.catalog_build import scan_registry
from brainio_dvc.contribute.checks import (
    CheckReport,
    Verification,
    check_registry,
    default_base,
    remote_problems,
    verify_cache,
)
from brainio_dvc.exceptions import RegistryError
from brainio_dvc.lookup import lookup_identifier

from .conftest import ASSEMBLY, CATALOG, STIMULI, Registry, git


def test_a_sound_registry_has_no_problems(registry: Registry) -> None:
    report = check_registry(registry.root, remote=True)
    assert isinstance(report, CheckReport) and report.ok
    assert (
        report.registry == registry.root and report.artifacts == 3
    )  # the CSV, the ZIP, the netCDF


def test_artifacts_off_the_remote_are_problems_only_with_remote(registry: Registry) -> None:
    shutil.rmtree(registry.storage / "files")
    assert check_registry(registry.root).ok
    problems = check_registry(registry.root, remote=True).problems
    assert len(problems) == 3 and all("is not on the remote; run `dvc push`" in p for p in problems)
    assert remote_problems(registry.root, scan_registry(registry.root).rows) == problems


def test_a_remote_that_cannot_be_opened_is_one_problem(registry: Registry) -> None:
    (registry.root / ".dvc" / "config").write_text("[core]\n    remote = gone\n")
    problems = remote_problems(registry.root, scan_registry(registry.root).rows)
    assert len(problems) == 1 and problems[0].startswith("cannot check the remote: ")


def test_remote_problems_of_no_rows_do_not_open_the_remote(registry: Registry) -> None:
    (registry.root / ".dvc" / "config").write_text("[core]\n    remote = gone\n")
    assert remote_problems(registry.root, []) == []


def test_a_broken_catalog_lists_each_problem(registry: Registry) -> None:
    lookup = registry.root / "catalogs" / CATALOG / "lookup.csv"
    lookup.write_text(lookup.read_text() + "\n")
    dvc_file = registry.root / f"registry/{CATALOG}/assemblies/{ASSEMBLY}/{ASSEMBLY}.nc.dvc"
    dvc_file.write_text(dvc_file.read_text().replace("NeuronRecordingAssembly", "os.system"))
    report = check_registry(registry.root)
    problems = "\n".join(report.problems)
    assert not report.ok and "out of sync" in problems and "unknown class 'os.system'" in problems


def test_default_base_is_main_without_origin(registry: Registry) -> None:
    assert default_base(registry.root) == "main"
    git(registry.root, "branch", "-m", "main", "trunk")
    assert default_base(registry.root) is None


BADLY_NAMED = "lab.tester.rates"  # no <FirstAuthorYYYY>


def add_badly_named_assembly(registry: Registry) -> None:
    """A copy of the assembly's .dvc file under an identifier that breaks the naming convention,
    in the working tree only (so new since HEAD), with the catalogs rebuilt."""
    from brainio_dvc.contribute.catalog_build import write_catalogs

    source = registry.root / f"registry/{CATALOG}/assemblies/{ASSEMBLY}/{ASSEMBLY}.nc.dvc"
    target = registry.root / f"registry/{CATALOG}/assemblies/{BADLY_NAMED}/{BADLY_NAMED}.nc.dvc"
    target.parent.mkdir()
    target.write_text(source.read_text().replace(ASSEMBLY, BADLY_NAMED))
    write_catalogs(registry.root)


def test_strict_without_a_base_anywhere_is_a_registry_error(registry: Registry) -> None:
    add_badly_named_assembly(registry)
    assert any(BADLY_NAMED in warning for warning in check_registry(registry.root).warnings)
    git(registry.root, "branch", "-m", "main", "trunk")
    with pytest.raises(RegistryError, match="--base"):
        check_registry(registry.root, strict=True)


def test_strict_fails_on_names_new_since_the_base(registry: Registry) -> None:
    add_badly_named_assembly(registry)
    problems = check_registry(registry.root, strict=True).problems  # base: main
    assert [
        p
        for p in problems
        if p.startswith("new identifier breaks the naming convention") and BADLY_NAMED in p
    ]


def test_strict_asks_a_callable_base_only_when_it_needs_one(registry: Registry) -> None:
    asked: list[str] = []

    def base() -> str:
        asked.append("HEAD")
        return "HEAD"

    assert (
        check_registry(registry.root, strict=True, base=base).ok and asked == []
    )  # names all good
    add_badly_named_assembly(registry)
    check_registry(registry.root, strict=True, base=base)
    assert asked == ["HEAD"]


def test_verify_cache_rehashes_the_files_of_rows_and_removes_corrupt_ones(
    registry: Registry,
) -> None:
    from brainio_dvc import get_assembly
    from brainio_dvc.fetch import data_cache

    rows = lookup_identifier(ASSEMBLY, registry=str(registry.root))
    assert verify_cache(rows) == [Verification("file", "md5", rows[0]["md5"], "not cached")]
    get_assembly(ASSEMBLY, registry=str(registry.root))
    assert [v.status for v in verify_cache(rows)] == ["ok"]
    cached = data_cache().path_for("md5", rows[0]["md5"])
    cached.chmod(0o644)
    with open(cached, "r+b") as stream:
        stream.seek(100)
        stream.write(b"\x00\x01\x02")
    everything = verify_cache()  # every file in the cache (the stimulus set's CSV too)
    corrupt = [v for v in everything if v.corrupt]
    assert corrupt == [Verification("file", "md5", rows[0]["md5"], "corrupt (removed)")]
    assert not cached.exists()


def test_verify_cache_checks_a_stimulus_sets_extraction_and_pair(registry: Registry) -> None:
    from brainio_dvc import get_stimulus_set

    stimuli = get_stimulus_set(STIMULI, registry=str(registry.root))
    stimuli.get_stimulus(stimuli["stimulus_id"].iloc[0])  # extracts the ZIP
    rows = lookup_identifier(STIMULI, registry=str(registry.root))
    kinds = {(v.kind, v.status) for v in verify_cache(rows)}
    assert ("file", "ok") in kinds and ("stimulus files", "ok") in kinds
    assert not any(v.corrupt for v in verify_cache(rows))
    assert all(v.kind != "stimulus files" for v in verify_cache(rows, pair_rows=[]))


def test_verify_an_empty_cache_finds_nothing() -> None:
    assert verify_cache() == []
