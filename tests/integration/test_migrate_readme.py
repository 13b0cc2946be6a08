"""The README's walk-through "From S3 and Brain-Score plugins to a registry", run as written.

Its shell block runs in bash with only what the README says to put in substituted: the
registry's DVC remote and endpoint (a SeaweedFS bucket) and its GitHub repository (a bare
repository).  Beside the registry sits ``vision/``, a brain-score/vision-style checkout whose
data plugin registers a stimulus set and an assembly in the SeaweedFS source bucket of
:mod:`.test_migrate`, laid out as Brain-Score's.  The inline copy example then migrates the
same objects, listed in a classic BrainIO ``lookup.csv``, by copy.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

import brainio_dvc

from ..gitdvc import git
from ..seaweed import ADMIN_KEY, ADMIN_SECRET, SeaweedServer
from .test_migrate import (  # noqa: F401 - fixtures, used by name
    ALPHA,
    ALPHA_RATES,
    FOLDER,
    Source,
    assembly_values,
    endpoint,
    input_rows,
    run_cli,
    source,
    write_classic_catalog,
)

pytestmark = pytest.mark.s3

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## From S3 and Brain-Score plugins to a registry"
#: What the README says to replace with one's own.
REMOTE, ENDPOINT, GITHUB = "s3://lab-data/registry", "https://s3.example.org", "https://github.com/lab/lab-registry.git"


def section() -> str:
    return README.read_text().split(SECTION, 1)[1].split("\n## ", 1)[0]


def write_plugin(vision: Path, source: Source) -> None:
    csv_object, zip_object = (source.one(f"{FOLDER}/stimulus_lab_Alpha2024.{ext}") for ext in ("csv", "zip"))
    rates = source.one(f"{FOLDER}/assy_lab_Alpha2024_rates.nc")
    plugin = vision / "brainscore_vision" / "data" / "alpha" / "__init__.py"
    plugin.parent.mkdir(parents=True)
    plugin.write_text(f'''
from brainscore_vision import data_registry, stimulus_set_registry, load_stimulus_set
from brainscore_core.supported_data_standards.brainio.assemblies import NeuronRecordingAssembly
from brainscore_core.supported_data_standards.brainio.s3 import load_assembly_from_s3, load_stimulus_set_from_s3

BIBTEX = """@article{{alpha2024, title={{Alpha}}, year={{2024}}}}"""

stimulus_set_registry["Alpha2024"] = lambda: load_stimulus_set_from_s3(
    identifier="{ALPHA}", bucket="{source.bucket}/{FOLDER}", csv_sha1="{csv_object.sha1}",
    zip_sha1="{zip_object.sha1}", csv_version_id="{csv_object.version_id}", zip_version_id="{zip_object.version_id}")

data_registry["Alpha2024.rates"] = lambda: load_assembly_from_s3(
    identifier="{ALPHA_RATES}", version_id="{rates.version_id}", sha1="{rates.sha1}",
    bucket="{source.bucket}/{FOLDER}", cls=NeuronRecordingAssembly,
    stimulus_set_loader=lambda: load_stimulus_set("Alpha2024"))
''')


def run_bash(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run(["bash", "-c", "set -euo pipefail\n" + script], cwd=cwd, capture_output=True, text=True,
                          env=environment)


def test_the_readmes_migration_walkthrough_works_as_written(
    source: Source, seaweed: SeaweedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = section()
    (shell,) = re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL)
    for placeholder in (REMOTE, ENDPOINT, GITHUB):
        assert placeholder in shell
    remote_bucket = f"lab-data-{uuid.uuid4().hex[:8]}"
    seaweed.client().create_bucket(Bucket=remote_bucket)
    github = tmp_path / "github" / "lab-registry.git"
    git(tmp_path, "init", "--quiet", "--bare", str(github))
    script = (shell.replace(REMOTE, f"s3://{remote_bucket}/registry").replace(ENDPOINT, seaweed.endpoint)
              .replace(GITHUB, str(github)))
    write_plugin(tmp_path / "vision", source)
    # The lab's credentials (pushes to the registry's remote need them; reads go anonymous first).
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ADMIN_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", ADMIN_SECRET)

    completed = run_bash(script, tmp_path)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    root = tmp_path / "lab-registry"
    assert ALPHA in completed.stdout and ALPHA_RATES in completed.stdout  # what `list` shows on the branch
    assert git(github, "branch", "--list", "migrate/*") == "migrate/brainscore"

    # The pull request merged: the references load, verified, from the source.
    git(root, "merge", "--quiet", "--ff-only", "migrate/brainscore")
    code, output = run_cli("--registry", str(root), "--json", "catalog", "check", "--remote")
    assert code == 0, output
    rates = brainio_dvc.get_assembly(ALPHA_RATES, registry=str(root))
    np.testing.assert_array_equal(rates.values, assembly_values(source.one(f"{FOLDER}/assy_lab_Alpha2024_rates.nc")))
    assert rates.attrs["stimulus_set"].identifier == ALPHA

    # "A classic catalog is migrated the same way": by copy, pushed to the registry's remote.
    (command,) = re.findall(r"`(brainio-dvc migrate lookup\.csv --copy)`", text)
    rows = [row for row in input_rows(source)[:5] if row["identifier"] in (ALPHA, ALPHA_RATES)]
    catalog = write_classic_catalog(root / "lookup.csv", [{**row, "identifier": row["identifier"] + ".copy",
                                                          "stimulus_set_identifier": row["stimulus_set_identifier"]
                                                          and ALPHA + ".copy"} for row in rows])
    completed = run_bash(command, root)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    catalog.unlink()
    git(root, "merge", "--quiet", "--ff-only", "migrate/lookup")
    code, output = run_cli("--registry", str(root), "--json", "catalog", "check", "--remote")
    assert code == 0, output
    listing = seaweed.client().list_objects_v2(Bucket=remote_bucket, Prefix="registry/files/md5/")
    assert listing["KeyCount"] == len({row["sha1"] for row in rows})
    monkeypatch.setenv("BRAINIO_HOME", str(tmp_path / "fresh-home"))
    copied = brainio_dvc.get_assembly(ALPHA_RATES + ".copy", registry=str(root))
    np.testing.assert_array_equal(copied.values, rates.values)
