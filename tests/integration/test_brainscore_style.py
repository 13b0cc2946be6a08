"""Brain-Score-style analyses of data loaded by identifier from a real registry.

The files of tests/differential/make_data.py are packaged into a fresh registry (git + DVC,
local remote), as a Brain-Score packaging script would; then tests/differential/
brainscore_scripts.py loads them by identifier, as Brain-Score's data plugins do, and runs
region selection, I2n's group-mean subtraction, multi_groupby then sel, similarity matrices and
extras on them.  Every result must be what BrainIO 1.1 gave on the same files.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from brainio_dvc.assemblies import (
    BehavioralAssembly,
    MetadataAssembly,
    NeuronRecordingAssembly,
    SpikeTimesAssembly,
)
from brainio_dvc.packaging import package_data_assembly, package_stimulus_set
from brainio_dvc.stimuli import StimulusSet

from ..differential.test_differential import HERE, RECORDED, differences, run
from .conftest import git, init_registry

STIMULUS_SET = "dicarlo.Example2024"


def package_example(data: Path, registry: Path) -> None:
    """Package make_data.py's files: the stimulus set, then its three assemblies."""
    frame = pd.read_csv(data / "stimuli.csv")
    proto = StimulusSet(frame.drop(columns="filename"))
    proto.stimulus_paths = {row.stimulus_id: data / "images" / row.filename for row in frame.itertuples()}
    package_stimulus_set("dicarlo", proto, STIMULUS_SET, registry=registry)
    git(registry, "merge", "--quiet", f"package/{STIMULUS_SET}")
    for name, cls in (("neural", NeuronRecordingAssembly), ("behavior", BehavioralAssembly)):
        package_data_assembly("dicarlo", cls.from_files(data / f"{name}.nc"), f"{STIMULUS_SET}.{name}",
                              STIMULUS_SET, cls.__name__, registry=registry)
    spikes = SpikeTimesAssembly.from_files(data / "spikes.nc")
    meta = MetadataAssembly.from_files(data / "spikes.nc", group="neuroid_meta")
    package_data_assembly("dicarlo", spikes, f"{STIMULUS_SET}.spikes", STIMULUS_SET, "SpikeTimesAssembly",
                          registry=registry, extras={"neuroid_meta": meta})
    for branch in git(registry, "branch", "--format=%(refname:short)", "--list", "package/*").split():
        git(registry, "merge", "--quiet", "--no-edit", branch)


def test_brainscore_analyses_of_registry_data_match_brainio(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run(sys.executable, "make_data.py", "brainio_dvc", data)
    registry = init_registry(tmp_path / "registry", str(tmp_path / "storage"))
    package_example(data, registry)
    completed = subprocess.run(
        [sys.executable, str(HERE / "brainscore_scripts.py"), "brainio_dvc", str(data), str(registry)],
        capture_output=True, text=True, check=True,
    )
    problems = differences(json.loads(RECORDED.read_text()), json.loads(completed.stdout))
    assert not problems, "\n".join(problems[:20])
