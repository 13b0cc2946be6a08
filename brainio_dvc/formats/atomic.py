"""Atomic writes: a temporary sibling, renamed over the target once it is complete.

Every file and directory the package writes for others to read goes through :func:`atomic_path`
(or :func:`atomic_write_text`), so a reader sees the old content or the new, never half, and
a crash never leaves a truncated file under the final name.

One naming scheme for the temporaries, ``.<name>.<pid>-<host>.<random>.tmp`` beside the
target: hidden, tied to one target (nothing else's temporaries match it), and naming its
writer, so that :func:`remove_stale_temporaries` can tell a crashed writer's leftovers from a
running writer's work:

- a temporary of this machine (``<host>`` is a short hash of the host name) whose process is
  gone is stale at once;
- one of this machine whose process is running is never removed (even if that process id was
  reused since: it is then removed once that process is gone too);
- one of another machine (a shared file system) is stale once it has not changed for
  :data:`STALE_AFTER_SECONDS`;
- one of the data cache's older scheme, ``.<name>.<pid>.<random>.tmp`` (no host), is judged as
  this machine's.

The next writer of a target removes what crashed writers of it left (:func:`atomic_path` calls
:func:`remove_stale_temporaries` first), with no lock needed.

A resumable download's partial file, ``.<name>.resume.tmp`` (:func:`resumable_partial`), is kept
on purpose across crashes so that the next download continues it: the scheme above never
matches it, so no cleanup removes it by accident.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "STALE_AFTER_SECONDS",
    "atomic_path",
    "atomic_write_text",
    "flush_to_disk",
    "is_nonempty_directory",
    "publish",
    "remove_stale_temporaries",
    "resumable_partial",
    "temporary_path",
]

logger = logging.getLogger(__name__)

#: How long a temporary of another machine (or of an older naming scheme) may stay unchanged
#: before it counts as abandoned: a day, far beyond any write.
STALE_AFTER_SECONDS = 24 * 3600.0

#: What follows ``.<name>.`` in a temporary's name: pid, host tag (absent in the data cache's
#: older scheme), random part.  A resumable partial (``resume.tmp``) never matches.
_SUFFIX = re.compile(r"(?P<pid>[0-9]+)(?:-(?P<host>[0-9a-f]{6}))?\.[0-9a-f]{8}\.tmp")


@functools.cache
def _host_tag() -> str:
    """Six hex digits of this machine's name: which machine's process ids a name holds."""
    import hashlib
    import socket

    name = socket.gethostname().encode("utf-8", "replace")
    return hashlib.sha1(name, usedforsecurity=False).hexdigest()[:6]


def temporary_path(target: Path) -> Path:
    """A unique hidden sibling of ``target`` (not created), for writing before an atomic rename."""
    token = secrets.token_hex(4)
    return target.with_name(f".{target.name}.{os.getpid()}-{_host_tag()}.{token}.tmp")


def resumable_partial(target: Path) -> Path:
    """Where a resumable download of ``target`` accumulates; kept when it is interrupted, and
    never removed by :func:`remove_stale_temporaries`."""
    return target.with_name(f".{target.name}.resume.tmp")


def _process_is_running(pid: int) -> bool | None:
    """Whether process ``pid`` of this machine runs (a zombie counts); None if unknowable."""
    if pid == os.getpid():
        return True
    if pid <= 0 or os.name != "posix":  # os.kill(pid, 0) terminates the process on Windows
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    except (OSError, OverflowError):  # a pid beyond what the system call takes
        return None
    return True


def _is_stale(path: Path, pid: int, host: str | None, now: float) -> bool:
    if host is None or host == _host_tag():
        running = _process_is_running(pid)
        if running is not None:
            return not running
    try:
        return now - path.lstat().st_mtime > STALE_AFTER_SECONDS
    except FileNotFoundError:
        return False


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Remove the temporaries of ``target`` that crashed writers left; return them.

    Only names of :func:`temporary_path`'s scheme for exactly ``target`` are considered, and
    only stale ones removed (see the module's docstring), files and directories alike; a
    :func:`resumable_partial` is never touched.  Safe while other processes write ``target``.
    """
    prefix = f".{target.name}."
    removed: list[Path] = []
    now = time.time()
    try:
        entries = list(os.scandir(target.parent))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        match = _SUFFIX.fullmatch(entry.name, len(prefix))
        if match is None:
            continue
        stale = Path(entry.path)
        if not _is_stale(stale, int(match["pid"]), match["host"], now):
            continue
        logger.info("removing %s, left by an interrupted write", stale)
        _remove(stale)
        removed.append(stale)
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def flush_to_disk(path: Path) -> None:
    """fsync ``path``: after a power cut, a renamed file must not turn out to hold zeros."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def publish(source: Path, target: Path, fsync: bool = False) -> None:
    """Rename the complete file or directory ``source`` to ``target`` (atomically); with
    ``fsync``, flush the file to disk first."""
    if fsync and not source.is_dir():
        flush_to_disk(source)
    os.replace(source, target)


@contextlib.contextmanager
def atomic_path(target: Path, *, fsync: bool = False, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it to ``target`` if the block succeeds.

    The block writes the file (it is not created beforehand: ``open()`` gives it the mode it
    would give ``target``); with ``directory``, an empty directory is made (mode 0o777 minus the
    umask) for the block to fill.  What crashed writers of ``target`` left is removed first.
    With ``fsync``, the file is flushed to disk before the rename.  If the block raises, the
    temporary is removed and ``target`` is untouched.

    A directory ``target`` that another writer completed meanwhile (it is not empty, so the
    rename fails) is kept, and this block's directory discarded: the first complete one wins.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    temporary = temporary_path(target)
    if directory:
        os.mkdir(temporary, 0o777)
    try:
        yield temporary
        try:
            publish(temporary, target, fsync=fsync)
        except OSError:
            if not (directory and is_nonempty_directory(target)):
                raise
            logger.debug("another writer completed %s first; discarding %s", target, temporary)
    finally:
        _remove(temporary)


def is_nonempty_directory(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a directory with something in it (a published directory target)."""
    try:
        with os.scandir(path) as entries:
            return any(True for _ in entries)
    except (FileNotFoundError, NotADirectoryError):
        return False


def atomic_write_text(target: Path, text: str, fsync: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``target``: readers see the old or the new content, never half."""
    with atomic_path(target, fsync=fsync) as temporary:
        temporary.write_text(text, encoding="utf-8")
