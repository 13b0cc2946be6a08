"""Package the demo catalog into this repository's registry: the record of how it was made.

Run from the repository root on a clean main:  ``.venv/bin/python registry/scripts/build_demo.py``
Each artifact is packaged on its branch, as a contributor would, then fast-forwarded into
the current branch.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import demo_data  # noqa: E402

from brainio_dvc.packaging import package_data_assembly, package_stimulus_set  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _merge(branch: str) -> None:
    subprocess.run(["git", "merge", "--quiet", "--ff-only", branch], cwd=ROOT, check=True)
    subprocess.run(["git", "branch", "--quiet", "-d", branch], cwd=ROOT, check=True)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory() as scratch:
        stimuli = demo_data.stimulus_set(Path(scratch) / "stimuli")
        _merge(package_stimulus_set(
            demo_data.CATALOG, stimuli, demo_data.STIMULUS_SET_IDENTIFIER, registry=ROOT,
            card=demo_data.CARDS[demo_data.STIMULUS_SET_IDENTIFIER],
        )["branch"])
    _merge(
        package_data_assembly(
            demo_data.CATALOG, demo_data.neural_assembly(), demo_data.NEURAL_IDENTIFIER,
            demo_data.STIMULUS_SET_IDENTIFIER, "NeuronRecordingAssembly", registry=ROOT,
            card=demo_data.CARDS[demo_data.NEURAL_IDENTIFIER],
        )["branch"]
    )
    _merge(
        package_data_assembly(
            demo_data.CATALOG, demo_data.behavioral_assembly(), demo_data.BEHAVIOR_IDENTIFIER,
            demo_data.STIMULUS_SET_IDENTIFIER, "BehavioralAssembly", registry=ROOT,
            card=demo_data.CARDS[demo_data.BEHAVIOR_IDENTIFIER],
        )["branch"]
    )


if __name__ == "__main__":
    main()
