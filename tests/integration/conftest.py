"""Real git repositories and real DVC registries in temporary directories."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brainio_dvc.assemblies import NeuronRecordingAssembly
from brainio_dvc.packaging import package_data_assembly, package_stimulus_set
from brainio_dvc.stimuli import StimulusSet

from ..gitdvc import dvc, git, init_registry  # noqa: F401 - the test modules import them from here

CATALOG = "lab"
STIMULI = "lab.Tester2024"
ASSEMBLY = "lab.Tester2024.rates"


def make_stimulus_set(directory: Path, count: int = 6) -> StimulusSet:
    from PIL import Image

    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for number in range(count):
        stimulus_id = f"s{number}"
        path = directory / f"{stimulus_id}.png"
        Image.fromarray(np.full((8, 8), number * 20, dtype=np.uint8)).save(path)
        paths[stimulus_id] = path
    stimuli = StimulusSet(pd.DataFrame({
        "stimulus_id": list(paths), "category": ["a", "b"] * (count // 2), "size_deg": np.arange(count, dtype=float),
    }))
    stimuli.stimulus_paths = paths
    stimuli.identifier = STIMULI
    return stimuli


def make_assembly(version: int, count: int = 6) -> NeuronRecordingAssembly:
    rng = np.random.default_rng(version)
    return NeuronRecordingAssembly(
        rng.normal(size=(count * 2, 3, 1)).astype(np.float32),
        coords={
            "stimulus_id": ("presentation", [f"s{n}" for n in range(count)] * 2),
            "repetition": ("presentation", [0] * count + [1] * count),
            "neuroid_id": ("neuroid", ["n0", "n1", "n2"]),
            "region": ("neuroid", ["IT", "IT", "V4"]),
            "time_bin_start": ("time_bin", [70]),
            "time_bin_end": ("time_bin", [170]),
        },
        dims=["presentation", "neuroid", "time_bin"],
    )


@dataclass
class Registry:
    root: Path
    storage: Path
    v1: str
    v2: str

    @property
    def url(self) -> str:
        return f"file://{self.root}"


def merge(root: Path, result: dict) -> str:
    git(root, "merge", "--quiet", "--ff-only", result["branch"])
    git(root, "branch", "--quiet", "-d", result["branch"])
    return result["commit"]


def build_registry(base: Path) -> Registry:
    """A registry with a stimulus set and an assembly in two versions, tagged v1 and v2."""
    storage = base / "storage"
    # Relative, so that a copy of ``base`` is a self-contained registry with its own remote.
    root = init_registry(base / "registry", "../storage")
    merge(root, package_stimulus_set(CATALOG, make_stimulus_set(base / "stimuli"), STIMULI, registry=root))
    v1 = merge(root, package_data_assembly(CATALOG, make_assembly(1), ASSEMBLY, STIMULI, registry=root))
    git(root, "tag", "v1")
    v2 = merge(
        root, package_data_assembly(CATALOG, make_assembly(2), ASSEMBLY, STIMULI, registry=root, new_version=True)
    )
    git(root, "tag", "v2")
    return Registry(root=root, storage=storage, v1=v1, v2=v2)


@contextlib.contextmanager
def template_environment(base: Path) -> Iterator[None]:
    """A HOME, git identity, BRAINIO_HOME and DVC directories of their own under ``base``, for
    building a template registry in a fixture wider than a test (so outside the autouse one)."""
    home = base / "home"
    home.mkdir()
    gitconfig = home / ".gitconfig"
    gitconfig.write_text("[user]\n\tname = T\n\temail = t@example.org\n[init]\n\tdefaultBranch = main\n")
    with pytest.MonkeyPatch.context() as patch:
        for variable, value in {
            "HOME": home, "GIT_CONFIG_GLOBAL": gitconfig, "BRAINIO_HOME": base / "brainio-home",
            "DVC_NO_ANALYTICS": "1", "DVC_GLOBAL_CONFIG_DIR": home / "dvc",
            "DVC_SITE_CACHE_DIR": base / "dvc-site-cache",
        }.items():
            patch.setenv(variable, str(value))
        yield


@pytest.fixture(scope="session")
def _registry_template(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    base = tmp_path_factory.mktemp("template")
    with template_environment(base):
        return build_registry(base)


@pytest.fixture
def registry(_registry_template: Registry, tmp_path: Path) -> Registry:
    """A private copy of the two-version registry (its remote directory copied too)."""
    import shutil

    base = tmp_path / "copy"
    shutil.copytree(_registry_template.root.parent, base, symlinks=True,
                    ignore=shutil.ignore_patterns("brainio-home", "home", "dvc-site-cache"))
    root, storage = base / "registry", base / "storage"
    return Registry(root=root, storage=storage, v1=_registry_template.v1, v2=_registry_template.v2)
