"""A local file copied into the data cache while the copy is hashed, on two cores at once.

A cold load from a local-directory remote must hash every byte it copies before the file is
opened, and MD5 runs at about half a gigabyte a second on one core: it is most of the copy's
cost.  :func:`copy_hashing_file` lets the kernel copy (``os.copy_file_range``: no bytes pass
through Python) in one thread while the calling thread hashes what has arrived in the
destination, a stretch behind the copy.  What is hashed is the destination itself, the file
that will be read, so whatever the source does meanwhile, a file whose digest matched is the
one a load reads.  Where the kernel cannot copy between the two files, the thread copies with
``pread``/``pwrite`` instead.
"""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from collections.abc import Callable, Iterable

from ..parallel import Background

__all__ = ["COPY_STEP_BYTES", "copy_hashing_file"]

#: Bytes the copying thread copies before it lets the hashing thread at them.
COPY_STEP_BYTES = 16 << 20
_HASH_READ_BYTES = 16 << 20

#: What ``copy_file_range`` raises where the kernel cannot copy between these two files
#: (another file system on an old kernel, a file system without it, no such system call).
_NO_KERNEL_COPY = frozenset({errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EPERM})


class _Copied:
    """How many bytes the copying thread has written, for the hashing thread to wait on."""

    def __init__(self) -> None:
        self.bytes = 0
        self.finished = False
        self._condition = threading.Condition()

    def advance(self, total: int) -> None:
        with self._condition:
            self.bytes = total
            self._condition.notify()

    def finish(self) -> None:
        with self._condition:
            self.finished = True
            self._condition.notify()

    def wait_beyond(self, done: int) -> int:
        """The bytes copied, once there are more than ``done`` or the copy has ended."""
        with self._condition:
            while self.bytes <= done and not self.finished:
                self._condition.wait()
            return self.bytes


class _RangeCopier:
    """Copies stretches of one open file into another: with the kernel while it can, and
    through Python (``pread``/``pwrite``) once the kernel has refused these two files."""

    def __init__(self, source: int, destination: int) -> None:
        self.source = source
        self.destination = destination
        self.kernel_copies = hasattr(os, "copy_file_range")

    def copy(self, offset: int, count: int) -> int:
        """Copy up to ``count`` bytes at ``offset``; the bytes copied (0 at the source's end)."""
        if self.kernel_copies:
            try:
                return os.copy_file_range(self.source, self.destination, count, offset, offset)
            except OSError as error:
                if error.errno not in _NO_KERNEL_COPY:
                    raise
                self.kernel_copies = False
        data = os.pread(self.source, count, offset)  # count is at most one step
        written = 0
        while written < len(data):
            written += os.pwrite(self.destination, data[written:], offset + written)
        return len(data)


def copy_hashing_file(
    source: int,
    destination: int,
    algorithms: Iterable[str],
    advance: Callable[[int], None] | None = None,
) -> dict[str, str]:
    """Copy the file open as ``source`` (a descriptor, from its start) to the empty file open for
    writing as ``destination``, and return the digests of the bytes written.

    :raises OSError: when the copy fails, or when the source ended before the length it had
        when the copy began (it was truncated meanwhile).
    """
    total = os.fstat(source).st_size
    copied = _Copied()

    def copy() -> None:
        copier = _RangeCopier(source, destination)
        try:
            while copied.bytes < total:
                count = copier.copy(copied.bytes, min(COPY_STEP_BYTES, total - copied.bytes))
                if count == 0:
                    msg = f"the file ended after {copied.bytes} of its {total} bytes while it was copied"
                    raise OSError(errno.EIO, msg)
                copied.advance(copied.bytes + count)
        finally:
            copied.finish()

    copying = Background(copy)
    digests = {algorithm: hashlib.new(algorithm) for algorithm in algorithms}
    buffer = bytearray(min(_HASH_READ_BYTES, max(total, 1)))  # a small file needs no more
    view = memoryview(buffer)
    hashed = 0
    try:
        while (available := copied.wait_beyond(hashed)) > hashed:
            while hashed < available:
                count = os.preadv(destination, [view[:min(len(buffer), available - hashed)]], hashed)
                if count == 0:
                    msg = f"the copy's bytes {hashed} to {available} could not be read back"
                    raise OSError(errno.EIO, msg)
                for digest in digests.values():
                    digest.update(view[:count])
                hashed += count
                if advance is not None:
                    advance(count)
    finally:
        copying.join()
    copying.result()  # the copy's own error, if it failed
    return {algorithm: digest.hexdigest() for algorithm, digest in digests.items()}
