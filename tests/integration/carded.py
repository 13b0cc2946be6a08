"""A registry whose identifiers have dataset cards, for the cite, search and site tests.

``carded_template`` is built once per session (real git, real DVC); ``carded`` gives each test
a private copy.  The stimulus set is packaged with a card given as a mapping, the assembly's
first version with a card file, its second version without one (it keeps the first's fields).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from brainio_dvc.cards import from_bibtex
from brainio_dvc.packaging import package_data_assembly, package_stimulus_set

from .conftest import (
    ASSEMBLY,
    CATALOG,
    STIMULI,
    Registry,
    git,
    init_registry,
    make_assembly,
    make_stimulus_set,
    merge,
    template_environment,
)

BIBTEX = r"""@article{Tester2024,
  title = {Object {IT} responses to {Tester} shapes},
  author = {Tester, Ada and Example, Bob and Sample, Cy},
  journal = {Journal of Testing},
  volume = {7}, pages = {1--10}, year = {2024},
  doi = {10.1234/jot.2024.001}
}"""
STIMULI_CARD = {
    "title": "Tester shapes", "description": "Six grey squares of growing brightness.",
    "license": "CC-BY-4.0", "bibtex": BIBTEX, "keywords": ["squares", "brightness"], "modality": "images",
}
ASSEMBLY_CARD = from_bibtex(
    BIBTEX, species=["Macaca mulatta"], regions=["IT", "V4"], modality="electrophysiology",
    recording_method="Utah arrays", subjects=2, license="CC-BY-4.0", contact="Ada Tester <ada@example.org>",
    data_doi="10.5281/zenodo.0000001", description="Rates of three sites to each square, two repetitions.",
)


def build_carded_registry(base: Path) -> Registry:
    root = init_registry(base / "registry", "../storage")
    merge(root, package_stimulus_set(CATALOG, make_stimulus_set(base / "stimuli"), STIMULI, registry=root,
                                     card=STIMULI_CARD))
    card_file = base / "assembly-card.json"
    card_file.write_text(json.dumps(ASSEMBLY_CARD))
    v1 = merge(root, package_data_assembly(CATALOG, make_assembly(1), ASSEMBLY, STIMULI, registry=root, card=card_file))
    git(root, "tag", "v1")
    v2 = merge(
        root, package_data_assembly(CATALOG, make_assembly(2), ASSEMBLY, STIMULI, registry=root, new_version=True)
    )
    git(root, "tag", "v2")
    return Registry(root=root, storage=base / "storage", v1=v1, v2=v2)


@pytest.fixture(scope="session")
def carded_template(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    base = tmp_path_factory.mktemp("carded")
    with template_environment(base):
        return build_carded_registry(base)


@pytest.fixture
def carded(carded_template: Registry, tmp_path: Path) -> Registry:
    """A private copy of the carded registry (its remote directory too)."""
    base = tmp_path / "carded"
    shutil.copytree(carded_template.root.parent, base, symlinks=True,
                    ignore=shutil.ignore_patterns("brainio-home", "home", "dvc-site-cache"))
    return Registry(root=base / "registry", storage=base / "storage", v1=carded_template.v1, v2=carded_template.v2)
