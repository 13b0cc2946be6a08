"""Memory a load has freed goes back to the operating system.

Two things keep freed memory in a process: glibc's heap, which keeps the free pages between
blocks still in use (:func:`~brainio_dvc.memory.release_freed_memory` returns them), and
Python's allocator, which keeps a page of small objects while any one of them lives (an index
level's unique strings, copied, no longer hold the pages of the values they were found in).
Each scenario runs in a fresh interpreter, so that its resident size is its own, and measures
it with ``/proc/self/statm``; these memory figures are deterministic, unlike times.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from brainio_dvc import memory
from brainio_dvc.arrays import indexes

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")

_RESIDENT_MB = """
def resident_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * __import__("os").sysconf("SC_PAGE_SIZE") / 1e6
"""


def _run(script: str) -> dict[str, float]:
    completed = subprocess.run([sys.executable, "-c", _RESIDENT_MB + textwrap.dedent(script)],
                               capture_output=True, text=True, check=True)
    return json.loads(completed.stdout)


@linux_only
def test_release_freed_memory_returns_the_free_pages_between_blocks_in_use() -> None:
    # 2,000 blocks of 64 kB sit in glibc's heap (below its mmap threshold); one block allocated
    # after them stays, so the freed ones are not at the heap's top, which glibc trims itself.
    found = _run("""
        import json
        from brainio_dvc.memory import release_freed_memory
        start = resident_mb()
        blocks = [bytearray(b"x" * 65536) for _ in range(2000)]
        kept = bytearray(b"x" * 65536)
        filled = resident_mb()
        del blocks
        freed = resident_mb()
        release_freed_memory()
        print(json.dumps({"used": filled - start, "after_free": freed - start,
                          "after_release": resident_mb() - start}))
    """)
    assert found["used"] > 100, found
    assert found["after_free"] > 0.8 * found["used"], f"glibc returned the memory by itself: {found}"
    assert found["after_release"] < 0.2 * found["used"], found


@linux_only
def test_a_level_keeps_little_of_the_memory_of_the_values_it_was_found_in() -> None:
    # A file's stimulus_id coordinate at 4x MajajHong2015: 593,920 strings, 23,040 distinct.
    found = _run("""
        import gc, json
        import numpy as np
        from brainio_dvc.arrays.indexes import _multi_index
        from brainio_dvc.memory import release_freed_memory
        distinct = np.array([f"stim_{number:07d}" for number in range(23040)])
        encoded = distinct[np.random.default_rng(0).integers(0, 23040, 593920)].astype("S")
        del distinct
        start = resident_mb()
        values = np.array([value.decode() for value in encoded], dtype=object)  # as xarray decodes
        used = resident_mb() - start
        index = _multi_index({"stimulus_id": values})
        del values
        gc.collect()
        release_freed_memory()
        print(json.dumps({"used": used, "kept": resident_mb() - start, "levels": len(index.levels[0])}))
    """)
    assert found["levels"] == 23040
    # What stays: the codes (4.8 MB) and the level (1.5 MB of strings); 20 MB when the level
    # held the values' own strings.
    assert found["kept"] < 0.25 * found["used"], found


def test_a_level_of_few_strings_has_their_values_in_new_objects() -> None:
    values = np.array(["a" * 20, "b" * 20, "a" * 20, "b" * 20, 7, None, 7], dtype=object)
    index = indexes._multi_index({"name": values})
    level = index.levels[0]
    assert list(level) == ["a" * 20, "b" * 20, 7]
    assert level[0] is not values[0] and level[1] is not values[1]
    assert list(index.get_level_values(0)[:4]) == list(values[:4])
    assert pd.isna(index.get_level_values(0)[5])


def test_a_level_of_mostly_distinct_values_keeps_them() -> None:
    values = np.array([f"trial {number}" for number in range(10)] + ["trial 0"], dtype=object)
    index = indexes._multi_index({"trial": values})
    assert index.levels[0][0] is values[0]


def test_release_freed_memory_does_nothing_without_malloc_trim(monkeypatch: pytest.MonkeyPatch) -> None:
    memory._malloc_trim.cache_clear()
    monkeypatch.setattr(sys, "platform", "darwin")
    try:
        assert memory._malloc_trim() is None
        memory.release_freed_memory()  # nothing to call, and no error
    finally:
        memory._malloc_trim.cache_clear()
