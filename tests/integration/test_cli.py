"""The brainio-dvc command line, on real registries."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from brainio_dvc.cli import cli

from .conftest import ASSEMBLY, CATALOG, STIMULI, Registry, git, make_assembly


def run(*args: str, expect: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == expect, result.output
    return result.output


def test_list_as_table_and_json(registry: Registry) -> None:
    table = run("--registry", str(registry.root), "list")
    assert ASSEMBLY in table and STIMULI in table and "NeuronRecordingAssembly" in table
    listing = json.loads(run("--registry", str(registry.root), "--json", "list"))
    assert {entry["identifier"] for entry in listing} == {ASSEMBLY, STIMULI}
    stimulus_set = next(entry for entry in listing if entry["identifier"] == STIMULI)
    assert stimulus_set["class"] == "StimulusSet" and stimulus_set["size"] > 0


def test_show_assembly(registry: Registry) -> None:
    data = json.loads(run("--registry", str(registry.root), "--json", "show", ASSEMBLY))
    (detail,) = data["files"]
    assert detail["dims"] == ["presentation", "neuroid", "time_bin"] and detail["shape"] == [12, 3, 1]
    assert [entry["commit"] for entry in detail["history"]] == [registry.v2, registry.v1]
    assert detail["dvc_import"] == f"dvc import {registry.root} {detail['file']} --rev {registry.v2}"
    text = run("--registry", str(registry.root), "show", ASSEMBLY)
    assert "presentation=12" in text and "revisions that changed it" in text


def test_show_stimulus_set_counts_stimuli(registry: Registry) -> None:
    data = json.loads(run("--registry", str(registry.root), "--json", "show", STIMULI))
    assert [detail.get("stimuli") for detail in data["files"]] == [6, None]


def test_get_copies_files_at_a_revision(registry: Registry, tmp_path: Path) -> None:
    output = tmp_path / "out"
    run("--registry", str(registry.root), "--rev", "v1", "get", ASSEMBLY, "-o", str(output))
    import numpy as np

    from brainio_dvc.assemblies import NeuronRecordingAssembly

    loaded = NeuronRecordingAssembly.from_files(output / f"{ASSEMBLY}.nc")
    np.testing.assert_allclose(loaded.values, make_assembly(1).values)


def test_log_and_diff(registry: Registry) -> None:
    history = json.loads(run("--registry", str(registry.root), "--json", "log", ASSEMBLY))
    assert [entry["commit"] for entry in history] == [registry.v2, registry.v1]
    assert history[0]["md5"] != history[1]["md5"]
    changes = json.loads(run("--registry", str(registry.root), "--json", "diff", "v1", "v2"))
    assert changes == [{
        "status": "changed", "identifier": ASSEMBLY, "lookup_type": "assembly", "role": "nc",
        "md5_before": history[1]["md5"], "md5_after": history[0]["md5"],
    }]
    before_assembly = git(registry.root, "rev-parse", f"{registry.v1}~1")
    added = json.loads(run("--registry", str(registry.root), "--json", "diff", before_assembly, "v1"))
    assert [(c["status"], c["identifier"]) for c in added] == [("added", ASSEMBLY)]
    assert "no differences" in run("--registry", str(registry.root), "diff", "v2", "v2")


def test_unknown_identifier_exits_1_with_a_suggestion(registry: Registry) -> None:
    output = run("--registry", str(registry.root), "show", "lab.Tester2024.rate", expect=1)
    assert "not found" in output and ASSEMBLY in output


def test_usage_error_exits_2() -> None:
    assert "Usage" in run("show", expect=2)
    assert "No such command" in run("frobnicate", expect=2)


def test_every_command_has_help_with_an_example() -> None:
    commands = [["list"], ["show"], ["get"], ["log"], ["diff"], ["verify"], ["catalog", "build"], ["catalog", "check"],
                ["package", "stimulus-set"], ["package", "assembly"], ["demo"]]
    for command in commands:
        assert "Example" in run(*command, "--help"), command


def test_catalog_check_passes_then_lists_every_problem(registry: Registry) -> None:
    assert "ok:" in run("--registry", str(registry.root), "catalog", "check", "--remote")
    # Break it: an out-of-sync catalog, an unknown class, a missing ZIP, an artifact off the remote.
    lookup = registry.root / "catalogs" / CATALOG / "lookup.csv"
    lookup.write_text(lookup.read_text() + "\n")
    dvc_file = registry.root / f"registry/{CATALOG}/assemblies/{ASSEMBLY}/{ASSEMBLY}.nc.dvc"
    dvc_file.write_text(dvc_file.read_text().replace("NeuronRecordingAssembly", "os.system"))
    (registry.root / f"registry/{CATALOG}/stimulus_sets/{STIMULI}/{STIMULI}.zip.dvc").unlink()
    shutil.rmtree(registry.storage / "files")
    result = json.loads(run("--registry", str(registry.root), "--json", "catalog", "check", "--remote", expect=1))
    problems = "\n".join(result["problems"])
    assert "out of sync" in problems
    assert "unknown class 'os.system'" in problems
    assert "has no ZIP file" in problems
    assert "is not on the remote" in problems


def test_catalog_build_repairs_sync(registry: Registry) -> None:
    lookup = registry.root / "catalogs" / CATALOG / "lookup.csv"
    original = lookup.read_text()
    lookup.write_text("identifier\n")
    run("--registry", str(registry.root), "catalog", "build")
    assert lookup.read_text() == original
    run("--registry", str(registry.root), "catalog", "check")


def test_package_commands(registry: Registry, tmp_path: Path) -> None:
    from .conftest import make_stimulus_set

    stimuli = make_stimulus_set(tmp_path / "images", count=4)
    csv_path = tmp_path / "stimuli.csv"
    stimuli.assign(filename=[f"s{n}.png" for n in range(4)]).to_csv(csv_path, index=False)
    output = run("--registry", str(registry.root), "package", "stimulus-set", str(csv_path), str(tmp_path / "images"),
                 "--identifier", "lab.Cli2025", "--catalog", CATALOG)
    assert "package/lab.Cli2025" in output
    from brainio_dvc.packaging import write_netcdf

    assembly = make_assembly(9)
    assembly.attrs.update(identifier="x", stimulus_set_identifier=STIMULI)
    netcdf_path = tmp_path / "rates.nc"
    write_netcdf(assembly, netcdf_path)
    result = json.loads(run("--registry", str(registry.root), "--json", "package", "assembly", str(netcdf_path),
                            "--identifier", "lab.Tester2024.cli", "--stimulus-set", STIMULI, "--catalog", CATALOG))
    assert result["branch"] == "package/lab.Tester2024"  # its stimulus set's branch
    # An existing identifier without --new-version fails with exit 1 and the step named.
    output = run("--registry", str(registry.root), "package", "assembly", str(netcdf_path), "--identifier", ASSEMBLY,
                 "--stimulus-set", STIMULI, "--catalog", CATALOG, expect=1)
    assert "validate" in output and "--new-version" in output


def test_verify_detects_and_removes_corruption(registry: Registry) -> None:
    from brainio_dvc import get_assembly
    from brainio_dvc.fetch import data_cache

    assembly = get_assembly(ASSEMBLY, registry=str(registry.root))
    assert "ok" in run("--registry", str(registry.root), "verify", ASSEMBLY)
    cached = data_cache().path_for("md5", assembly.attrs["md5"])
    cached.chmod(0o644)
    with open(cached, "r+b") as stream:
        stream.seek(100)
        stream.write(b"\x00\x01\x02")
    assert "corrupt" in run("--registry", str(registry.root), "verify", expect=1)
    assert not cached.exists()
    # The next load fetches it again.
    assert get_assembly(ASSEMBLY, registry=str(registry.root)).attrs["md5"] == assembly.attrs["md5"]


def test_commands_that_change_a_registry_refuse_a_url(registry: Registry) -> None:
    assert "local working tree" in run("--registry", registry.url, "catalog", "build", expect=1)


def test_catalog_check_outside_a_registry_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert "not inside a registry" in run("catalog", "check", expect=1)


def test_list_with_no_registry_and_no_catalogs_is_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert json.loads(run("--json", "list")) == []


def test_python_dash_m_sees_every_command() -> None:
    """``python -m brainio_dvc.cli`` once ran a module whose group lacked the commands that
    other modules register (package, migrate, lock, site, ...)."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "brainio_dvc.cli", "--help"], capture_output=True,
                            text=True, check=True)
    listed = {line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line.strip()}
    assert listed == set(cli.commands)
    assert {"package", "init", "gc", "cite", "search", "site", "migrate", "lock", "why"} <= listed
