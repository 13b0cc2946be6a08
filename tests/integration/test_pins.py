"""Analysis repositories pin their data: real git, real DVC, real `dvc import`s and lock files."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import brainio_dvc
import brainio_dvc.lock
from brainio_dvc.cli import cli
from brainio_dvc.exceptions import LockFileError, PinError
from brainio_dvc.fetch import data_cache

from .conftest import ASSEMBLY, CATALOG, STIMULI, Registry, dvc, git, make_assembly

NC = f"registry/{CATALOG}/assemblies/{ASSEMBLY}/{ASSEMBLY}.nc"
STIMULI_DIR = f"registry/{CATALOG}/stimulus_sets/{STIMULI}"


def run(*args: str, expect: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == expect, result.output
    return result.output


@pytest.fixture
def analysis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty analysis repository (git + DVC), the current directory."""
    root = tmp_path / "analysis"
    root.mkdir()
    git(root, "init", "--quiet")
    dvc(root, "init", "--quiet")
    dvc(root, "config", "core.analytics", "false")
    git(root, "add", "-A")
    git(root, "commit", "--quiet", "-m", "Empty analysis")
    monkeypatch.chdir(root)
    return root


def dvc_import(analysis: Path, registry: Registry, path: str, rev: str, out: str | None = None) -> Path:
    dvc(analysis, "import", str(registry.root), path, "--rev", rev, *(["-o", out] if out else []))
    return analysis / f"{out or Path(path).name}.dvc"


def cached(md5: str) -> bool:
    return data_cache().lookup("md5", md5) is not None


def test_imports_at_different_revs_pin_what_loads_from_the_imported_files(analysis: Path, registry: Registry) -> None:
    dvc_import(analysis, registry, NC, "v1")
    dvc_import(analysis, registry, STIMULI_DIR, "v2", out="stimuli")

    assembly = brainio_dvc.get_assembly(ASSEMBLY)
    expected = brainio_dvc.get_assembly(ASSEMBLY, rev="v1", registry=str(registry.root))
    assert (assembly.attrs["resolved_by"], assembly.attrs["rev"]) == ("import", registry.v1)
    assert assembly.attrs["resolved_from"] == str(analysis / f"{ASSEMBLY}.nc.dvc")
    np.testing.assert_array_equal(assembly.values, make_assembly(1).values)
    assert assembly.attrs["md5"] == expected.attrs["md5"]
    # The assembly's stimulus set comes from the assembly's commit, not from its own import.
    assert assembly.attrs["stimulus_set"].attrs["rev"] == registry.v1

    stimuli = brainio_dvc.get_stimulus_set(STIMULI)
    assert (stimuli.attrs["resolved_by"], stimuli.attrs["rev"]) == ("import", registry.v2)
    assert stimuli.get_stimulus("s0").is_file()


def test_imported_files_are_used_in_place_after_their_md5_is_checked(analysis: Path, registry: Registry) -> None:
    dvc_import(analysis, registry, NC, "v1")
    dvc_import(analysis, registry, STIMULI_DIR, "v1", out="stimuli")
    assembly = brainio_dvc.get_assembly(ASSEMBLY)
    stimuli = assembly.attrs["stimulus_set"]
    # Nothing was downloaded a second time: the data cache holds none of the files.
    for md5 in (assembly.attrs["md5"], stimuli.attrs["md5"], stimuli.attrs["zip"]["md5"]):
        assert not cached(md5)
    # A workspace file that no longer holds the imported bytes is not used: the load downloads.
    imported = analysis / f"{ASSEMBLY}.nc"
    imported.chmod(0o644)
    imported.write_bytes(b"not the imported netCDF")
    shutil.rmtree(analysis / ".dvc" / "cache")
    again = brainio_dvc.get_assembly(ASSEMBLY)
    np.testing.assert_array_equal(again.values, make_assembly(1).values)
    assert cached(again.attrs["md5"])


def test_dvc_update_rev_moves_what_loads(analysis: Path, registry: Registry) -> None:
    dvc_file = dvc_import(analysis, registry, NC, "v1")
    assert brainio_dvc.get_assembly(ASSEMBLY).attrs["rev"] == registry.v1
    dvc(analysis, "update", "--rev", "v2", dvc_file.name)
    moved = brainio_dvc.get_assembly(ASSEMBLY)  # the same process: the changed .dvc file is seen
    assert moved.attrs["rev"] == registry.v2
    np.testing.assert_array_equal(moved.values, make_assembly(2).values)


def test_lock_overrides_an_import_and_update_moves_it(analysis: Path, registry: Registry) -> None:
    dvc_import(analysis, registry, NC, "v1")
    output = run("lock", f"{ASSEMBLY}@v2")  # the registry is the import's
    assert ASSEMBLY in output and STIMULI in output
    lock_text = (analysis / "brainio.lock").read_text()
    assert f'[assemblies."{ASSEMBLY}"]' in lock_text and f'[stimulus_sets."{STIMULI}"]' in lock_text
    assert registry.v2 in lock_text and 'rev = "v2"' in lock_text

    assembly = brainio_dvc.get_assembly(ASSEMBLY)
    assert (assembly.attrs["resolved_by"], assembly.attrs["rev"]) == ("lock", registry.v2)
    assert assembly.attrs["stimulus_set"].attrs["resolved_by"] == "lock"
    assert brainio_dvc.get_stimulus_set(STIMULI).attrs["resolved_by"] == "lock"
    # Explicit arguments still win over the lock.
    assert brainio_dvc.get_assembly(ASSEMBLY, rev="v1", registry=str(registry.root)).attrs["resolved_by"] == "explicit"

    why = json.loads(run("--json", "why", ASSEMBLY))
    assert (why["rule"], why["commit"], why["registry"]) == ("lock", registry.v2, str(registry.root))
    assert why["files"][0]["path"] == NC and why["files"][0]["local"]
    assert "decided by lock" in run("why", ASSEMBLY)

    run("lock", "--update", f"{ASSEMBLY}@v1")
    assert brainio_dvc.get_assembly(ASSEMBLY).attrs["rev"] == registry.v1
    run("lock", "--update")  # to the registry's default branch
    assert brainio_dvc.get_assembly(ASSEMBLY).attrs["rev"] == registry.v2
    assert 'rev = "main"' in (analysis / "brainio.lock").read_text()


def test_locking_without_a_revision_keeps_an_existing_pin(analysis: Path, registry: Registry) -> None:
    run("--registry", str(registry.root), "lock", f"{ASSEMBLY}@v1")
    before = (analysis / "brainio.lock").read_bytes()
    assert "nothing changed" in run("lock", ASSEMBLY)
    assert (analysis / "brainio.lock").read_bytes() == before


def test_warm_loads_from_a_lock_work_offline_without_dvc(analysis: Path, registry: Registry) -> None:
    run("--registry", registry.url, "lock", f"{ASSEMBLY}@v1")
    brainio_dvc.get_assembly(ASSEMBLY)  # cold: clones and downloads
    shutil.rmtree(registry.root.parent)  # the registry and its remote are gone: offline
    code = (
        "import sys, brainio_dvc\n"
        f"assembly = brainio_dvc.get_assembly({ASSEMBLY!r})\n"
        "print(assembly.attrs['resolved_by'], assembly.attrs['rev'], 'dvc' in sys.modules)\n"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=analysis)
    assert output.returncode == 0, output.stderr
    assert output.stdout.split() == ["lock", registry.v1, "False"]


def test_lock_check_fails_after_a_tag_moves(analysis: Path, registry: Registry) -> None:
    run("--registry", registry.url, "lock", f"{ASSEMBLY}@v1")
    assert "ok: 2 locked artifacts" in run("lock", "--check")
    git(registry.root, "tag", "--force", "v1", registry.v2)
    output = run("lock", "--check", expect=1)
    assert f"assembly '{ASSEMBLY}': tag 'v1' moved" in output
    assert f"stimulus_set '{STIMULI}': tag 'v1' moved" in output


def test_lock_check_fails_after_a_branch_is_rewritten(analysis: Path, registry: Registry) -> None:
    run("--registry", registry.url, "lock", f"{ASSEMBLY}@main")
    run("lock", "--check")
    git(registry.root, "update-ref", "refs/heads/main", registry.v1)  # v2 is no longer on main
    output = run("lock", "--check", expect=1)
    assert "branch 'main' was rewritten" in output and registry.v2[:10] in output


def test_lock_check_names_objects_gone_and_md5_mismatches(analysis: Path, registry: Registry) -> None:
    run("--registry", str(registry.root), "lock", f"{ASSEMBLY}@v2")
    md5 = brainio_dvc.get_assembly(ASSEMBLY).attrs["md5"]
    stimulus_md5 = brainio_dvc.get_stimulus_set(STIMULI).attrs["md5"]
    (registry.storage / "files" / "md5" / md5[:2] / md5[2:]).unlink()
    lock_file = analysis / "brainio.lock"
    lock_file.write_text(lock_file.read_text().replace(stimulus_md5, "0" * 32))
    output = run("lock", "--check", expect=1)
    assert f"object {md5} is gone from the DVC remote" in output
    assert f"md5 mismatch: locked {'0' * 32}" in output
    with pytest.raises(PinError, match=f"has md5 {'0' * 32} in the pin"):
        brainio_dvc.get_stimulus_set(STIMULI)


@pytest.mark.parametrize(("replace", "by", "line", "problem"), [
    ("version = 1", "version = = 1", 3, "invalid TOML"),
    ('rev = "v1"', 'rev = "v1"\ncolour = "blue"', 8, "unknown key 'colour'"),
    ("md5 = ", 'md5 = "XYZ"\nunused = ', 11, "is not 32 lower-case hex digits"),
])
def test_a_bad_lock_file_names_the_file_and_line_and_nothing_is_written(
    analysis: Path, registry: Registry, replace: str, by: str, line: int, problem: str
) -> None:
    run("--registry", str(registry.root), "lock", f"{ASSEMBLY}@v1")
    lock_file = analysis / "brainio.lock"
    text = lock_file.read_text()
    if replace == "md5 = ":  # the assembly's md5, on its own line
        start = text.index("md5 = ", text.index("[assemblies."))
        bad = text[:start] + 'md5 = "XYZ"' + text[text.index("\n", start):]
    else:
        bad = text.replace(replace, by, 1)
    lock_file.write_text(bad)
    with pytest.raises(LockFileError) as raised:
        brainio_dvc.get_assembly(ASSEMBLY)
    assert (raised.value.path, raised.value.line) == (str(lock_file), line), bad
    assert problem in str(raised.value) and f"{lock_file}, line {line}" in str(raised.value)
    result = CliRunner().invoke(cli, ["lock", f"{ASSEMBLY}@v2"])
    assert result.exit_code == 1 and f"line {line}" in result.output
    assert lock_file.read_text() == bad


def test_record_pins_everything_a_run_loads(analysis: Path, registry: Registry) -> None:
    with brainio_dvc.lock.record("brainio.lock"):
        brainio_dvc.get_assembly(ASSEMBLY, rev="v1", registry=str(registry.root))
    lock = brainio_dvc.lock.read("brainio.lock")
    assert {key: entry.commit for key, entry in lock.entries.items()} == {
        ("assembly", ASSEMBLY): registry.v1, ("stimulus_set", STIMULI): registry.v1}
    assert lock.entries[("assembly", ASSEMBLY)].rev == "v1"
    assert brainio_dvc.get_assembly(ASSEMBLY).attrs["resolved_by"] == "lock"

    before = (analysis / "brainio.lock").read_bytes()
    with pytest.raises(RuntimeError), brainio_dvc.lock.record("brainio.lock"):
        brainio_dvc.get_assembly(ASSEMBLY, rev="v2", registry=str(registry.root))
        msg = "the analysis failed"
        raise RuntimeError(msg)
    assert (analysis / "brainio.lock").read_bytes() == before


def test_export_citations_pins_each_artifact_to_its_commit(analysis: Path, registry: Registry) -> None:
    run("--registry", str(registry.root), "lock", f"{ASSEMBLY}@v1")
    run("lock", "--export-citations", "refs.bib")
    bibtex = (analysis / "refs.bib").read_text()
    assert bibtex.count("@misc{") == 2
    assert f"version = {{{registry.v1}}}" in bibtex
    assert brainio_dvc.get_assembly(ASSEMBLY).attrs["md5"] in bibtex


# -- the README's walk-through, as written --------------------------------------------------------
README = Path(__file__).resolve().parents[2] / "README.md"


def readme_blocks() -> dict[str, list[str]]:
    section = README.read_text().split("## Reproducible analyses", 1)[1].split("\n## ", 1)[0]
    blocks: dict[str, list[str]] = {}
    for language, code in re.findall(r"```(\w+)\n(.*?)```", section, flags=re.DOTALL):
        blocks.setdefault(language, []).append(code)
    return blocks


def test_the_readmes_reproducible_analysis_walkthrough_works_as_written(
    tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = readme_blocks()
    shell = blocks["bash"][0]
    settings = {"REGISTRY": str(registry.root), "CATALOG": CATALOG, "ID": ASSEMBLY}
    lines = shell.splitlines()
    assert [line.split("=", 1)[0] for line in lines[:3]] == list(settings)
    script = "set -euo pipefail\n" + "".join(f"{name}={value}\n" for name, value in settings.items())
    script += "\n".join(lines[3:]) + "\n"
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    completed = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "decided by import" in completed.stdout and "ok: 2 locked artifacts" in completed.stdout
    analysis = tmp_path / "my-analysis"
    assert "@misc{" in (analysis / "refs.bib").read_text()
    lock = brainio_dvc.lock.read(analysis / "brainio.lock")
    assert lock.entries[("assembly", ASSEMBLY)].commit == registry.v2

    (python,) = blocks["python"]
    code = python.replace("demo.Gabor2024.neural", ASSEMBLY)
    completed = subprocess.run([sys.executable, "-c", code], cwd=analysis, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["lock", registry.v2]

    (toml,) = blocks["toml"]
    example = tmp_path / "example" / "brainio.lock"
    example.parent.mkdir()
    example.write_text(toml)
    assert set(brainio_dvc.lock.read(example).entries) == {("assembly", "demo.Gabor2024.neural"),
                                                          ("stimulus_set", "demo.Gabor2024")}
