"""Handing the memory a load has freed back to the operating system.

glibc's allocator keeps the memory freed in the middle of its heap, and so does the process:
its RSS stays as high as if the memory were still in use. A load frees the file's presentation
coordinates while its values are still being read into a new array, so the values are read
on top of memory that nothing uses. ``malloc_trim`` returns the free pages inside the heap;
other C libraries (macOS, musl) have no such call, and return memory by themselves or not at
all.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable

__all__ = ["release_freed_memory"]

logger = logging.getLogger(__name__)


def release_freed_memory() -> None:
    """Return the C heap's free pages to the operating system where the C library can (glibc's
    ``malloc_trim``); do nothing elsewhere.

    A warm load at 4x MajajHong2015 (0.6 GB of values) that calls it once its coordinates are
    merged peaks 45 MB lower, and is no slower.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # only here: most processes never load an assembly

    try:
        trim = ctypes.CDLL(None).malloc_trim  # the process's own C library
    except (OSError, AttributeError):
        logger.debug("the C library has no malloc_trim: freed memory is left to it")
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim
