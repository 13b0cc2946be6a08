"""A cached file that another process removes between a load's fetch and its read (``verify``
removing a corrupt file, a cleanup; the soak's injected deletions) is fetched again, verified,
rather than failing the load with a bare FileNotFoundError.

The removal is made at that exact moment by wrapping the loader's ``_cached_files`` (a warm
load's one lookup of its cached files; our own code); git, DVC and the remote are real.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import brainio_dvc
from brainio_dvc import loading

from .conftest import ASSEMBLY, STIMULI, Registry


def remove_once_fetched(monkeypatch: pytest.MonkeyPatch, suffix: str) -> list[Path]:
    """Make the first lookup of a cached file ending in ``suffix`` return a path that is then gone."""
    cached_files, removed = loading._cached_files, []

    def look_up_then_remove(files):
        paths = cached_files(files)
        for row, path in zip(files.rows, paths, strict=True):
            if not removed and path is not None and str(row["location"]).endswith(suffix):
                path.unlink()
                removed.append(path)
        return paths

    monkeypatch.setattr(loading, "_cached_files", look_up_then_remove)
    return removed


@pytest.mark.parametrize("suffix", [".nc", ".csv"])
def test_an_assembly_whose_cached_file_is_removed_mid_load_loads(registry: Registry, monkeypatch, suffix: str) -> None:
    expected = brainio_dvc.get_assembly(ASSEMBLY, registry=str(registry.root))  # warm: every file cached
    removed = remove_once_fetched(monkeypatch, suffix)
    loaded = brainio_dvc.get_assembly(ASSEMBLY, registry=str(registry.root))
    assert removed and removed[0].is_file()  # fetched again
    np.testing.assert_array_equal(loaded.values, expected.values)
    assert loaded.attrs["md5"] == expected.attrs["md5"]


def test_a_stimulus_set_whose_cached_csv_is_removed_mid_load_loads(registry: Registry, monkeypatch) -> None:
    expected = brainio_dvc.get_stimulus_set(STIMULI, registry=str(registry.root))
    removed = remove_once_fetched(monkeypatch, ".csv")
    loaded = brainio_dvc.get_stimulus_set(STIMULI, registry=str(registry.root))
    assert removed and removed[0].is_file()
    assert list(loaded["stimulus_id"]) == list(expected["stimulus_id"])
    assert all(Path(loaded.get_stimulus(i)).is_file() for i in loaded["stimulus_id"])
