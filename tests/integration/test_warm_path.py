"""The warm path of a load: how many module boundaries a warm ``get_assembly`` crosses.

A count, not a timing (:func:`benchmarks.probes.count_crossings`, which the benchmark's
``warm_crossings`` probe reports too).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import brainio_dvc
from benchmarks.probes import count_crossings

from .conftest import ASSEMBLY, Registry, git

#: The issue's target for a warm get_assembly.
TARGET = 25
#: What a warm get_assembly crosses today (102 before the direct warm path, 66 before the load's
#: rows were resolved once per commit, 24 before the memory the merge freed was handed back to
#: the operating system, a call into ``memory``): no more.
TODAY = 25


def _warm_crossings(registry: Registry) -> int:
    cold = brainio_dvc.get_assembly(ASSEMBLY, registry=str(registry.root))  # fetches: cold
    len(cold.attrs["stimulus_set"].stimulus_paths)  # their first use extracts the stimuli
    brainio_dvc.get_assembly(ASSEMBLY, registry=str(registry.root))  # warm, first in the process
    crossings, assembly = count_crossings(lambda: brainio_dvc.get_assembly(ASSEMBLY, registry=str(registry.root)))
    assert assembly.attrs["stimulus_set_identifier"]
    return crossings


def test_a_warm_get_assembly_crosses_no_more_module_boundaries_than_today(registry: Registry) -> None:
    crossings = _warm_crossings(registry)
    assert crossings <= TODAY, crossings


def test_a_warm_get_assembly_crosses_at_most_25_module_boundaries(registry: Registry) -> None:
    crossings = _warm_crossings(registry)
    assert crossings <= TARGET, crossings


def test_what_warm_loads_remember_follows_the_branch_the_settings_and_refresh(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = str(registry.root)
    brainio_dvc.get_assembly(ASSEMBLY, registry=root)  # cold: the rows and their plan are remembered
    assert brainio_dvc.get_assembly(ASSEMBLY, registry=root).attrs["rev"] == registry.v2
    git(registry.root, "reset", "--hard", "--quiet", "v1")  # the default branch moves back
    moved = brainio_dvc.get_assembly(ASSEMBLY, registry=root)
    assert (moved.attrs["rev"], moved.attrs["stimulus_set"].attrs["rev"]) == (registry.v1, registry.v1)
    with brainio_dvc.config.set(rev="v2"):
        assert brainio_dvc.get_assembly(ASSEMBLY, registry=root).attrs["rev"] == registry.v2
    assert brainio_dvc.get_assembly(ASSEMBLY, registry=root).attrs["rev"] == registry.v1
    other_home = tmp_path / "other-home"
    monkeypatch.setenv("BRAINIO_HOME", str(other_home))  # a new home: fetched there, cold
    stimulus_set = brainio_dvc.get_assembly(ASSEMBLY, registry=root).attrs["stimulus_set"]
    stimulus_id = stimulus_set["stimulus_id"].iloc[0]
    assert stimulus_set.get_stimulus(stimulus_id).is_relative_to(other_home)
    assert any((other_home / "cache").rglob("*.state"))
    brainio_dvc.lookup.refresh()
    git(registry.root, "reset", "--hard", "--quiet", "v2")
    assert brainio_dvc.get_assembly(ASSEMBLY, registry=root).attrs["rev"] == registry.v2
