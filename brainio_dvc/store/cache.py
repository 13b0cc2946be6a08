"""The content-addressed data cache shared by every registry.

Layout under ``$BRAINIO_HOME/cache``: ``files/<algorithm>/<first two hex>/<rest>``, the same
shape as DVC's own cache.  Beside each file, ``<file>.state`` records the size, mtime, ctime
and inode the file had when its hash was last checked; while those are unchanged the file is
trusted without hashing it again.  (The ctime catches a write whose mtime was set back: no
system call sets it.)  ``brainio-dvc verify`` hashes everything regardless.

A downloaded file is not flushed to disk (``fsync``) before it is renamed into place, which
cost a cold load about a second per gigabyte.  What that flush guards against is a crash of the
*system* (a power cut, a kernel panic) between the rename and the kernel's own write-back: the
file may then come back empty, truncated or full of zeros under its final name, with a state
record that still matches it.  Without the flush, the state record names the boot it was
written in (Linux's ``/proc/sys/kernel/random/boot_id``, new at every boot); such a file is
trusted only within that boot.  A process that is killed loses nothing that was written (the
kernel still holds it), and any system crash is followed by a new boot, after which the file
is hashed again before it is used (and flushed, and recorded as such, if it is intact; removed
if not).  Where there is no boot id, files are flushed before the rename, as before.

Files enter the cache only through :meth:`DataCache.fetch`, which downloads to a temporary
file, checks the hash and renames atomically, all under a lock that waits, so that concurrent
processes download an object once and never see a partial file.  What a killed download left
behind is removed by the next fetch of the same object, under the same lock.  A migration's
downloads go through :class:`CacheBatch`: the same steps, flushed and recorded by one thread.

A *resumable* fetch (DVC remotes: large objects) downloads into a fixed partial file instead,
``.<file>.resume.tmp``, which a killed download leaves behind: the next fetch completes it from
where it stopped (range requests), then hashes the whole file as always.  A partial file that
turns out not to match is discarded and the object downloaded whole once more.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import config
from ..exceptions import IntegrityError
from ..formats.atomic import (
    atomic_path,
    atomic_write_text,
    flush_to_disk,
    publish,
    remove_stale_temporaries,
    resumable_partial,
)
from ..formats.hashes import check_digest, file_hash, is_digest
from ..parallel import Batches
from .file_lock import file_lock
from .state import DATA_CACHES

__all__ = [
    "CacheBatch",
    "DataCache",
    "FileState",
    "data_cache",
]

logger = logging.getLogger(__name__)

#: Called with the path to download into; must leave the complete object there.  It may
#: return the digests it computed of the bytes it wrote ({algorithm: hex}), which spares
#: :meth:`DataCache.fetch` a second pass over the file to hash it.
Downloader = Callable[[Path], Mapping[str, str] | None]


@dataclass(frozen=True)
class FileState:
    """What identifies an unchanged file without reading it.  ``boot`` is the boot id of the
    system that wrote the file without flushing it to disk, '' when it was flushed."""

    size: int
    mtime_ns: int
    inode: int
    ctime_ns: int = 0
    boot: str = ""

    @classmethod
    def of(cls, path: Path, boot: str = "") -> FileState:
        status = path.stat()
        return cls(
            size=status.st_size, mtime_ns=status.st_mtime_ns, inode=status.st_ino, ctime_ns=status.st_ctime_ns,
            boot=boot,
        )

    def describes(self, current: FileState) -> bool:
        """Whether this record vouches for a file found as ``current``: the same file, unchanged,
        and on disk (flushed, or written since this system booted)."""
        same = (self.size, self.mtime_ns, self.inode, self.ctime_ns) == (
            current.size, current.mtime_ns, current.inode, current.ctime_ns)
        return same and (not self.boot or self.boot == boot_id())


@functools.cache
def boot_id() -> str | None:
    """This boot's id (Linux), or None where the system has none: then files are flushed."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as stream:
            return stream.read().strip() or None
    except OSError:
        return None


def _digest_of(path: Path, algorithm: str, computed: Mapping[str, str] | None) -> str:
    """The digest a downloader computed while writing ``path``, else the file's, hashed now."""
    if computed and algorithm in computed:
        return computed[algorithm].lower()
    return file_hash(path, algorithm)


def _download_checked(path: Path, algorithm: str, digest: str, download: Downloader, description: str) -> None:
    """Download into ``path`` and raise :class:`IntegrityError` unless its hash is ``digest``."""
    found = _digest_of(path, algorithm, download(path))
    if found != digest.lower():
        raise IntegrityError(description, algorithm, digest.lower(), found)


def _complete_resumable(partial: Path, algorithm: str, digest: str, download: Downloader, description: str) -> None:
    """Complete ``partial`` (resuming where it stops) and check the whole file's hash.

    A mismatch after resuming downloads the object whole once more; a mismatch then raises
    :class:`IntegrityError`, and ``partial`` is gone.  Any other failure keeps ``partial``, for
    the next fetch to resume.
    """
    try:
        done = partial.stat().st_size
    except FileNotFoundError:
        done = 0
    if done:
        logger.info("downloading %s (resuming at byte %d)", description, done)
    else:
        logger.info("downloading %s", description)
    for attempt in ("resumed", "whole") if done else ("whole",):
        found = _digest_of(partial, algorithm, download(partial))
        if found == digest.lower():
            return
        partial.unlink(missing_ok=True)
        if attempt == "resumed":
            logger.warning("the resumed download of %s has %s %s, expected %s; downloading it whole again",
                           description, algorithm, found, digest.lower())
            continue
        raise IntegrityError(description, algorithm, digest.lower(), found)


class DataCache:
    """Files addressed by their hash, verified when they enter and re-verified when they change."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, algorithm: str, digest: str) -> Path:
        """Where the object of this hash lives (whether or not it is there).

        Anything but a hex digest of md5 or sha1 is refused (:class:`ValidationError`): a
        digest read from a catalog must never name a path outside the cache.
        """
        digest = check_digest(algorithm, digest, f"cache object {algorithm}")
        return self.root / "files" / algorithm / digest[:2] / digest[2:]

    @staticmethod
    def _state_path(path: Path) -> Path:
        return path.with_name(path.name + ".state")

    def _recorded_state(self, path: Path) -> FileState | None:
        try:
            recorded = json.loads(self._state_path(path).read_text(encoding="utf-8"))
            return FileState(**recorded)
        except (OSError, ValueError, TypeError):
            return None

    def _record_state(self, path: Path, boot: str = "") -> None:
        state = FileState.of(path, boot)
        atomic_write_text(self._state_path(path), json.dumps(state.__dict__))

    def lookup(self, algorithm: str, digest: str) -> Path | None:
        """The cached path if the object is present and intact, else None.

        A file whose size, mtime, ctime or inode changed since it was last verified is hashed again
        (under the object's lock, so that no other process is replacing it meanwhile); if its
        bytes no longer match it is removed, so that the next fetch replaces it.
        """
        return self.lookup_all([(algorithm, digest, self.path_for(algorithm, digest))])[0]

    def lookup_all(self, objects: Sequence[tuple[str, str, Path] | None]) -> list[Path | None]:
        """:meth:`lookup` of several objects, each given as (algorithm, digest, its
        :meth:`path_for`), or None for no object (None in the result): a warm load checks all
        its files with one call, and their digests once, when it works out their paths."""
        found: list[Path | None] = []
        for known in objects:
            if known is None:
                found.append(None)
                continue
            algorithm, digest, path = known
            state = self._trusted_state(path)
            if state is None:
                found.append(None)
            elif state:
                found.append(path)
            else:
                with file_lock(path):
                    found.append(self._lookup_locked(algorithm, digest))
        return found

    def _trusted_state(self, path: Path) -> bool | None:
        """None if ``path`` is absent, True if it is unchanged since it was verified, else False."""
        try:
            current = FileState.of(path)
        except FileNotFoundError:
            return None
        recorded = self._recorded_state(path)
        return recorded is not None and recorded.describes(current)

    def _lookup_locked(self, algorithm: str, digest: str) -> Path | None:
        """:meth:`lookup` for a caller that holds the object's lock."""
        path = self.path_for(algorithm, digest)
        state = self._trusted_state(path)
        if state is None:
            return None
        if state or self._reverify(path, algorithm, digest):
            return path
        return None

    def _reverify(self, path: Path, algorithm: str, digest: str) -> bool:
        """Hash ``path`` now; record its state if intact, else remove it. Needs the lock."""
        logger.info("re-hashing %s: it changed since it was last verified", path)
        found = file_hash(path, algorithm)
        if found == digest.lower():
            flush_to_disk(path)  # rare: so that it is trusted across reboots from now on
            self._record_state(path)
            return True
        logger.warning(
            "cached %s is corrupt (%s %s, expected %s); removing it", path, algorithm, found, digest
        )
        self.evict(algorithm, digest)
        return False

    def verify(self, algorithm: str, digest: str) -> bool | None:
        """Hash a cached object now. True if intact, False if it was corrupt (and removed),
        None if it is not cached."""
        path = self.path_for(algorithm, digest)
        if not path.exists():
            return None
        with file_lock(path):
            if not path.exists():
                return None
            return self._reverify(path, algorithm, digest)

    def evict(self, algorithm: str, digest: str) -> None:
        """Remove an object and its state record."""
        path = self.path_for(algorithm, digest)
        self._state_path(path).unlink(missing_ok=True)
        with contextlib.suppress(FileNotFoundError):
            path.chmod(0o644)
        path.unlink(missing_ok=True)

    @staticmethod
    def partial_path(target: Path) -> Path:
        """Where a resumable download of ``target`` accumulates (kept when it is interrupted)."""
        return resumable_partial(target)

    def fetch(
        self,
        algorithm: str,
        digest: str,
        download: Downloader,
        description: str | None = None,
        resumable: bool = False,
    ) -> Path:
        """The cached path of the object, downloading it first if needed.

        Concurrent callers wait for one another: the object is downloaded once.  The download
        goes to a temporary file whose hash is checked before it is renamed into place, so a
        crash or a corrupt transfer never leaves anything that looks complete.

        With ``resumable``, ``download`` must *complete* the file it is given, which may hold
        the first bytes of the object already (what an interrupted download left): it is
        kept across failures and crashes, so that the next fetch resumes it.
        """
        cached = self.lookup(algorithm, digest)
        if cached is not None:
            return cached
        target = self.path_for(algorithm, digest)
        with file_lock(target):
            cached = self._lookup_locked(algorithm, digest)
            if cached is not None:
                return cached
            partial = self.partial_path(target)
            boot = boot_id()  # with one, no fsync: the state record names the boot (module docstring)
            if resumable:
                remove_stale_temporaries(target)  # what killed whole downloads left
                _complete_resumable(partial, algorithm, digest, download, description or str(target))
                partial.chmod(0o444)
                publish(partial, target, fsync=boot is None)
            else:
                partial.unlink(missing_ok=True)  # a resumable download's leftovers, unused now
                with atomic_path(target, fsync=boot is None) as temporary:
                    logger.info("downloading %s", description or digest)
                    _download_checked(temporary, algorithm, digest, download, description or str(target))
                    temporary.chmod(0o444)
            self._record_state(target, boot or "")
        return target

    def entries(self) -> Iterator[tuple[str, str]]:
        """Every cached object as ``(algorithm, digest)``."""
        files = self.root / "files"
        if not files.is_dir():
            return
        for algorithm_dir in sorted(files.iterdir()):
            for prefix_dir in sorted(p for p in algorithm_dir.iterdir() if p.is_dir()):
                for path in sorted(prefix_dir.iterdir()):
                    name = path.name
                    if name.startswith(".") or name.endswith((".state", ".lock")):
                        continue
                    if is_digest(algorithm_dir.name, prefix_dir.name + name):
                        yield algorithm_dir.name, prefix_dir.name + name


def data_cache(home: Path | None = None) -> DataCache:
    """The content-addressed cache under ``home`` (by default the current ``BRAINIO_HOME``)."""
    home = home or config.home()
    found: DataCache | None = DATA_CACHES.get(home)
    if found is None:
        found = DATA_CACHES[home] = DataCache(home / "cache")
    return found


class CacheBatch:
    """Many objects entering one :class:`DataCache` together (a migration's downloads), flushed
    to disk and recorded by one thread of the batch, off the downloads' path.

    :meth:`fetch` is :meth:`DataCache.fetch` (same arguments; per-object lock, download to a
    temporary, hash checked, atomic rename), except that the verified file is renamed into place
    without an ``fsync`` and without its state record: it is then in the cache but not trusted
    (a lookup, in any process, hashes it before using it, and removes it if it does not match).
    The batch's thread takes what has been published since its last round, puts it on disk
    (``fsync`` of each file) and only then records each object's state, which makes it trusted;
    :meth:`close` (the end of the ``with`` block, also after an error) waits for it.

    So a kill at any point leaves only complete, verified files under final names, and a power
    cut trusts nothing that might not have reached the disk; what a killed batch downloaded is
    reused by the next fetch, after one hash.  Resumable downloads are :meth:`DataCache.fetch`'s.
    """

    def __init__(self, cache: DataCache) -> None:
        self.cache = cache
        self._published: Batches[Path] = Batches(self._trust_batches)

    def __enter__(self) -> CacheBatch:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def fetch(self, algorithm: str, digest: str, download: Downloader, description: str | None = None) -> Path:
        """The cached path of the object, downloading it first if needed (see the class)."""
        cached = self.cache.lookup(algorithm, digest)
        if cached is not None:
            return cached
        target = self.cache.path_for(algorithm, digest)
        with file_lock(target):
            cached = self.cache._lookup_locked(algorithm, digest)
            if cached is not None:
                return cached
            self.cache.partial_path(target).unlink(missing_ok=True)  # a resumable download's leftovers
            with atomic_path(target) as temporary:
                logger.info("downloading %s", description or digest)
                _download_checked(temporary, algorithm, digest, download, description or str(target))
                temporary.chmod(0o444)
        self._published.add(target)
        return target

    def _trust_batches(self, batches: Iterator[list[Path]]) -> None:
        for published in batches:
            self._trust(published)

    def _trust(self, published: list[Path]) -> None:
        """Put ``published`` on disk, then record their state (trust them)."""
        for target in published:
            try:
                flush_to_disk(target)
                self.cache._record_state(target)
            except FileNotFoundError:  # evicted meanwhile (it changed): nothing to trust
                continue
            except OSError as error:  # left untrusted: the next lookup hashes it
                logger.warning("could not flush %s to disk (%s); it will be hashed before it is used", target, error)

    def close(self) -> None:
        """Wait until what this batch published is on disk and trusted."""
        error = self._published.close()
        if error is not None:
            raise error
