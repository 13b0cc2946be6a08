"""An eager load reads an assembly's values in one thread while the loader prepares its
coordinates in another.

netCDF-C decompresses the values without the GIL, so the loaders whose ``_prepare`` is marked
:func:`~brainio_dvc.arrays.loaders.coordinates_only` merge the stimulus set meanwhile.  These
tests pin the order (the prepare can finish before the values are read, off the calling
thread), that the file's coordinates the prepare replaced are freed while the values are read,
the fallback for a loader whose ``_prepare`` is not marked, and the errors: a file whose values
cannot be read, and a prepare that fails, end the load with no thread left running.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from brainio_dvc.arrays import loaders
from brainio_dvc.assemblies import NeuroidAssembly, StimulusMergeAssemblyLoader
from brainio_dvc.exceptions import ValidationError
from brainio_dvc.formats import netcdf
from tests.unit.test_assemblies import make_assembly, stimulus_set, write_assembly

_WAIT_SECONDS = 30


def _background_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("brainio-dvc")]


@pytest.fixture
def values_read_after(monkeypatch):
    """Make the values wait for an event before they are read, and record where they were read:
    the load deadlocks (and the wait times out) unless the prepare runs first, elsewhere."""
    event = threading.Event()
    seen: dict[str, bool] = {}
    real = netcdf._read_values

    def read_once_prepared(*args):
        seen["prepared before the read"] = event.wait(timeout=_WAIT_SECONDS)
        seen["read off the calling thread"] = threading.current_thread() is not threading.main_thread()
        return real(*args)

    monkeypatch.setattr(netcdf, "_read_values", read_once_prepared)
    return event, seen


def test_the_stimulus_set_is_merged_before_the_values_are_read_in_another_thread(tmp_path, monkeypatch,
                                                                                 values_read_after):
    path = write_assembly(tmp_path / "a.nc")
    event, seen = values_read_after
    merge = StimulusMergeAssemblyLoader._merged_index

    def merged_index(self, index, stimuli):
        result = merge(self, index, stimuli)
        event.set()
        return result

    monkeypatch.setattr(StimulusMergeAssemblyLoader, "_merged_index", merged_index)
    loaded = NeuroidAssembly.from_files(path, stimulus_set=stimulus_set())
    assert seen == {"prepared before the read": True, "read off the calling thread": True}
    np.testing.assert_array_equal(loaded.values, make_assembly().values)
    assert list(loaded["category"].values) == ["cat", "cat", "dog", "dog", "cat", "cat"]
    assert type(loaded) is NeuroidAssembly
    assert not _background_threads()


def test_a_subclass_marks_its_own_prepare_coordinates_only(tmp_path, values_read_after):
    path = write_assembly(tmp_path / "a.nc")
    event, seen = values_read_after

    class Labelled(StimulusMergeAssemblyLoader):
        @loaders.coordinates_only
        def _prepare(self, data_array: xr.DataArray) -> xr.DataArray:
            data_array = super()._prepare(data_array).assign_attrs(labelled=True)
            event.set()
            return data_array

    loaded = Labelled(NeuroidAssembly, path, stimulus_set=stimulus_set()).load()
    assert seen == {"prepared before the read": True, "read off the calling thread": True}
    assert loaded.attrs["labelled"] is True
    np.testing.assert_array_equal(loaded.values, make_assembly().values)


def test_the_coordinates_a_prepare_replaced_are_freed_before_the_values_are_in(tmp_path, monkeypatch):
    """The file's presentation coordinates, which the merge turns into index levels, are not
    held until the read ends: that would add their size to the peak of every load."""
    path = write_assembly(tmp_path / "a.nc")
    source: dict[str, weakref.ref] = {}
    seen: dict[str, bool] = {}
    real_merge, real_read = StimulusMergeAssemblyLoader._merged_index, netcdf._read_values

    def merged_index(self, index, stimuli):
        source["repetition"] = weakref.ref(self.file_coordinate.values)
        return real_merge(self, index, stimuli)

    def read_once_freed(*args):
        deadline = time.monotonic() + _WAIT_SECONDS
        while "repetition" not in source or source["repetition"]() is not None:
            if time.monotonic() > deadline:
                break
            gc.collect()
            time.sleep(0.01)
        seen["freed before the read"] = "repetition" in source and source["repetition"]() is None
        return real_read(*args)

    class Watched(StimulusMergeAssemblyLoader):
        @loaders.coordinates_only
        def _prepare(self, data_array: xr.DataArray) -> xr.DataArray:
            self.file_coordinate = data_array["repetition"]
            try:
                return super()._prepare(data_array)
            finally:
                del self.file_coordinate

    monkeypatch.setattr(StimulusMergeAssemblyLoader, "_merged_index", merged_index)
    monkeypatch.setattr(netcdf, "_read_values", read_once_freed)
    loaded = Watched(NeuroidAssembly, path, stimulus_set=stimulus_set()).load()
    assert seen == {"freed before the read": True}
    assert list(loaded["repetition"].values) == list(make_assembly()["repetition"].values)
    np.testing.assert_array_equal(loaded.values, make_assembly().values)


def test_a_prepare_without_the_mark_runs_after_the_read_and_may_reorder_the_values(tmp_path, values_read_after):
    path = write_assembly(tmp_path / "a.nc")
    _, seen = values_read_after

    class Reversed(StimulusMergeAssemblyLoader):
        def _prepare(self, data_array: xr.DataArray) -> xr.DataArray:
            data_array = data_array.isel(presentation=slice(None, None, -1))
            return super()._prepare(data_array)

    loaded = Reversed(NeuroidAssembly, path, stimulus_set=stimulus_set()).load()
    assert seen == {}  # read as a whole, before the prepare
    np.testing.assert_array_equal(loaded.values, make_assembly().values[::-1])
    assert list(loaded["stimulus_id"].values) == ["c", "c", "b", "b", "a", "a"]
    assert list(loaded["category"].values) == ["cat", "cat", "dog", "dog", "cat", "cat"]


def _write_with_damaged_values(path: Path) -> str:
    """An assembly whose values fill most of the file (random, so incompressible), with bytes in
    the middle of the file, inside the values' chunks, overwritten."""
    rng = np.random.default_rng(0)
    assembly = make_assembly()
    presentations = 6 * 400
    assembly = NeuroidAssembly(
        rng.random((presentations, 4)),
        dims=["presentation", "neuroid"],
        coords={
            "stimulus_id": ("presentation", np.repeat(["a", "b", "c"], presentations // 3)),
            "repetition": ("presentation", np.arange(presentations)),
            "neuroid_id": ("neuroid", assembly["neuroid_id"].values),
            "region": ("neuroid", assembly["region"].values),
        },
    )
    written = write_assembly(path, assembly)
    size = path.stat().st_size
    with open(path, "r+b") as file:
        file.seek(size // 2)
        file.write(b"\xff" * (size // 10))
    return written


def test_values_that_cannot_be_read_fail_the_load_naming_the_file_and_leave_no_thread(tmp_path):
    path = _write_with_damaged_values(tmp_path / "damaged.nc")
    with pytest.raises(ValidationError) as raised:
        NeuroidAssembly.from_files(path, stimulus_set=stimulus_set())
    message = str(raised.value)
    assert "damaged.nc" in message and "a netCDF-4 assembly file" in message and "unreadable" in message
    assert not _background_threads()


def test_a_failing_prepare_waits_for_the_read_and_raises_its_own_error(tmp_path):
    path = write_assembly(tmp_path / "a.nc")
    with pytest.raises(ValidationError, match="presentations whose stimulus_id is not"):
        NeuroidAssembly.from_files(path, stimulus_set=stimulus_set().iloc[1:])  # drops "c"
    assert not _background_threads()


def test_an_eager_load_does_not_import_dask(tmp_path):
    pytest.importorskip("dask")  # xarray imports it to check an array's type, where it is installed
    path = write_assembly(tmp_path / "a.nc")
    script = (
        "import sys\n"
        "from brainio_dvc.assemblies import NeuroidAssembly\n"
        f"loaded = NeuroidAssembly.from_files({path!r})\n"
        "print('dask' in sys.modules, float(loaded.values.sum()))\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert completed.stdout.split() == ["False", str(float(np.arange(24).sum()))]
