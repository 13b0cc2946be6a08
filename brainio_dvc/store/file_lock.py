"""Inter-process locks on files that wait until they are free (``flock``, else filelock).

Every writer that must not race another process takes one: the data cache per object, a
registry's clone, a packaging transaction, the catalog build and ``gc``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["file_lock"]

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def file_lock(path: Path, timeout: float = -1) -> Iterator[None]:
    """An inter-process lock on ``path`` (a ``.lock`` sibling) that waits until it is free.

    On POSIX systems it is the ``flock`` that :mod:`filelock` takes, taken directly: importing
    filelock (and the asyncio it imports) costs a cold load tens of milliseconds.  With a
    ``timeout``, or where ``flock`` is not supported (some network file systems), filelock
    takes the lock, as before.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = str(path) + ".lock"
    if timeout < 0 and _flock_supported():
        locked = _flocked(lock_path, path)
        if locked is not None:
            with locked:
                yield
            return
    from filelock import FileLock, Timeout  # imported here: only writers need it

    lock = FileLock(lock_path, timeout=timeout)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        logger.info("waiting for another process working on %s", path)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _flock_supported() -> bool:
    try:
        import fcntl
    except ImportError:
        return False
    return hasattr(fcntl, "flock")


class _Flock:
    """An exclusive ``flock`` held on an open lock file until the ``with`` block ends."""

    def __init__(self, descriptor: int) -> None:
        self.descriptor = descriptor

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: object) -> None:
        import fcntl

        try:
            fcntl.flock(self.descriptor, fcntl.LOCK_UN)
        finally:
            os.close(self.descriptor)


def _flocked(lock_path: str, path: Path) -> _Flock | None:
    """The lock file ``lock_path`` opened and locked (waiting for it), or None when this file
    system does not support ``flock``.  The file stays in place, as filelock leaves it, so that
    every waiter locks the same inode."""
    import errno
    import fcntl

    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)  # the umask applies, as with filelock
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as busy:
            if busy.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):  # EACCES: some file systems
                raise
            logger.info("waiting for another process working on %s", path)
            fcntl.flock(descriptor, fcntl.LOCK_EX)
    except OSError as error:
        os.close(descriptor)
        if error.errno in (errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOLCK, errno.EINVAL):
            return None
        raise
    except BaseException:
        os.close(descriptor)
        raise
    return _Flock(descriptor)
