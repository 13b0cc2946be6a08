"""The same Brain-Score-style scripts under BrainIO 1.1 and brainio_dvc give the same results.

``brainscore_scripts.py`` runs Brain-Score's kinds of analysis (region selection, I2n's group
means, multi_groupby then sel, similarity matrices, extras) on the files of ``make_data.py``;
only its import line names the library.  ``brainio_1_1_results.json`` is what it printed under
BrainIO 1.1.0 (numpy 1.26, pandas 2.1, xarray 2022.3, netCDF4 1.6) on files BrainIO wrote.

- Without a reference interpreter, brainio_dvc's results are compared with that file.
- With one (``BRAINIO_REFERENCE_PYTHON``, a Python with ``brainscore-brainio==1.1.0``, which
  ``make test`` builds in ``.venv-brainio``), the scripts run live under both libraries, on
  files written by each: the recorded file is checked too, so it cannot go stale unnoticed.
  Regenerate it with ``$BRAINIO_REFERENCE_PYTHON tests/differential/brainscore_scripts.py
  brainio DIR`` on a ``make_data.py brainio DIR``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
RECORDED = HERE / "brainio_1_1_results.json"
REFERENCE_VARIABLE = "BRAINIO_REFERENCE_PYTHON"


def run(python: str, script: str, library: str, directory: Path) -> str:
    completed = subprocess.run(
        [python, str(HERE / script), library, str(directory)],
        capture_output=True, text=True, check=False, cwd=directory.parent,
    )
    if completed.returncode != 0:
        pytest.fail(f"{script} under {library} ({python}) failed:\n{completed.stderr}")
    return completed.stdout


def differences(expected: dict, found: dict, path: str = "") -> list[str]:
    """Where two results differ, as readable paths (the first few)."""
    if isinstance(expected, dict) and isinstance(found, dict):
        return [
            difference
            for key in sorted(set(expected) | set(found))
            for difference in (
                differences(expected[key], found[key], f"{path}/{key}")
                if key in expected and key in found
                else [f"{path}/{key}: only in {'BrainIO' if key in expected else 'brainio_dvc'}"]
            )
        ]
    return [] if expected == found else [f"{path}: BrainIO {str(expected)[:300]} / brainio_dvc {str(found)[:300]}"]


def assert_same(expected: str, found: str) -> None:
    problems = differences(json.loads(expected), json.loads(found))
    assert not problems, "\n".join(problems[:20])


@pytest.fixture(scope="module")
def reference_python() -> str:
    python = os.environ.get(REFERENCE_VARIABLE)
    if not python:
        pytest.skip(f"{REFERENCE_VARIABLE} is not set: no BrainIO 1.1 interpreter to compare with live")
    return python


def test_brainio_dvc_reproduces_the_recorded_brainio_results(tmp_path: Path) -> None:
    run(sys.executable, "make_data.py", "brainio_dvc", tmp_path / "data")
    assert_same(RECORDED.read_text(), run(sys.executable, "brainscore_scripts.py", "brainio_dvc", tmp_path / "data"))


@pytest.mark.parametrize("writer", ["brainio", "brainio_dvc"])
def test_both_libraries_agree_live_on_files_either_wrote(tmp_path: Path, reference_python: str, writer: str) -> None:
    data = tmp_path / "data"
    run(reference_python if writer == "brainio" else sys.executable, "make_data.py", writer, data)
    brainio = run(reference_python, "brainscore_scripts.py", "brainio", data)
    assert_same(brainio, run(sys.executable, "brainscore_scripts.py", "brainio_dvc", data))
    assert_same(RECORDED.read_text(), brainio)
