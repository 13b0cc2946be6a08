"""Progress events during long work, and their rendering only on terminals."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

import brainio_dvc
from brainio_dvc import progress
from brainio_dvc.cli import cli
from brainio_dvc.packaging import package_stimulus_set

from .conftest import ASSEMBLY, CATALOG, STIMULI, Registry, make_stimulus_set


def test_cold_load_reports_download_and_unzip(registry: Registry) -> None:
    events: list[progress.ProgressEvent] = []
    with progress.subscribe(events.append):
        assembly = brainio_dvc.get_assembly(ASSEMBLY, registry=str(registry.root))
        downloads = [e for e in events if e.task == "download" and e.description == ASSEMBLY]
        assert downloads and downloads[-1].finished and downloads[-1].done == downloads[-1].total > 0
        assert not [e for e in events if e.task == "unzip"]  # the ZIP is extracted on first use of a path
        stimulus_set = assembly.attrs["stimulus_set"]
        assert Path(stimulus_set.get_stimulus(stimulus_set["stimulus_id"].iloc[0])).is_file()
    unzips = [e for e in events if e.task == "unzip"]
    assert unzips[-1].done == unzips[-1].total == 6 and unzips[-1].unit == "files"
    # Nothing is reported outside the block, and a warm load has nothing to download.
    events.clear()
    brainio_dvc.get_assembly(ASSEMBLY, registry=str(registry.root))
    assert events == []


def test_packaging_reports_zip_and_write(registry: Registry, tmp_path: Path) -> None:
    events: list[progress.ProgressEvent] = []
    with progress.subscribe(events.append):
        package_stimulus_set(
            CATALOG, make_stimulus_set(tmp_path / "s", count=4), "lab.Progress2024", registry=registry.root
        )
    zips = [e for e in events if e.task == "zip"]
    assert zips[0].done == 0 and zips[-1].done == 4 and zips[-1].finished


def test_cli_output_in_a_pipe_has_no_progress(registry: Registry, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--registry", str(registry.root), "get", STIMULI, "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "\r" not in result.output and "download" not in result.output
