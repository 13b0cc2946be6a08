"""``migrate --copy`` without ``dvc add``: each object's bytes are read once, as they download.

The download is hashed as it is written (SHA-1, checked against the input, and MD5, DVC's
address), so nothing reads the file again:

* the verified download is hard-linked into the registry's DVC cache under its MD5 (copied when
  the data cache is on another file system), before the data cache renames it into place;
* the ``.dvc`` file is written from the MD5 and size, as ``dvc add`` writes it, with the
  ``meta`` block;
* the push sends those cache objects by MD5 while the other downloads run (:class:`ObjectPusher`,
  through :meth:`PackagingTransaction.object_pusher`).

The downloads of one run enter the data cache as one :class:`~brainio_dvc.store.cache.CacheBatch`
(no ``fsync`` and state record on the downloads' path: one thread of the batch flushes each
file to disk, then trusts it).

Every step is safe to kill: a cache object appears by one ``link`` (or ``rename``) of a
verified file, ``.dvc`` files exist only in the run's worktree until the commit, and objects a
killed run pushed are listed in the journal.  A re-run finds finished downloads in the data
cache (their MD5 is computed then, once).

:func:`tracked_dvc_text` is pure; the rest is I/O.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...parallel import Batches
from .manifest import Entry

if TYPE_CHECKING:
    from ...store.cache import CacheBatch

__all__ = [
    "Copied",
    "ObjectPusher",
    "copy_object",
    "dvc_cache_root",
    "place_in_dvc_cache",
    "tracked_dvc_document",
    "tracked_dvc_text",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Copied:
    """A verified copy: the data cache's file, its MD5 (the DVC cache has it) and its size."""

    cached: Path
    md5: str
    size: int


def dvc_cache_root(tree: Path) -> Path:
    """Where the DVC repository at ``tree`` keeps its objects (``.../files/md5``)."""
    from dvc.repo import Repo

    with Repo(str(tree)) as repo:
        return Path(repo.cache.local.path)


def place_in_dvc_cache(source: Path, md5: str, root: Path) -> Path:
    """Make the verified file ``source`` the DVC cache object ``md5`` under ``root``, once.

    A hard link when both are on one file system (no bytes copied), else a copy written beside
    the object and renamed into place.  Either way the object appears whole or not at all.
    """
    target = root / md5[:2] / md5[2:]
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
        return target
    except FileExistsError:
        return target
    except OSError as error:  # another file system (EXDEV), or links refused
        logger.debug("cannot hard-link %s into the DVC cache (%s); copying it", source, error)
    from ...formats.atomic import atomic_path

    with atomic_path(target) as temporary:
        shutil.copyfile(source, temporary)
        temporary.chmod(0o444)
    return target


def copy_object(entry: Entry, dvc_cache: Path, batch: CacheBatch | None = None) -> Copied:
    """Download ``entry`` at its version into the data cache (SHA-1 checked; through ``batch``
    if given) and the DVC cache."""
    from ...formats.hashes import md5_hash
    from ...s3 import S3Object, fetch_s3_object

    found: dict[str, str] = {}

    def verified(path: Path, digests: Mapping[str, str]) -> None:
        found.update(digests)
        place_in_dvc_cache(path, digests["md5"], dvc_cache)

    obj = S3Object(entry.bucket, entry.key, entry.version_id)
    cached = fetch_s3_object(obj, entry.sha1, entry.identifier, also=("md5",), verified=verified, batch=batch)
    md5 = found.get("md5")
    if md5 is None:  # cached already (a killed run downloaded it): hash it this once
        md5 = md5_hash(cached)
        place_in_dvc_cache(cached, md5, dvc_cache)
    return Copied(cached, md5, cached.stat().st_size)


def tracked_dvc_text(
    file_name: str, md5: str, size: int, meta: Mapping[str, str], extra_meta: Mapping[str, str]
) -> str:
    """The ``.dvc`` file of a tracked file, as ``dvc add`` writes it, with its ``meta`` block."""
    from ...store.references import dvc_file_text

    return dvc_file_text(tracked_dvc_document(file_name, md5, size, meta, extra_meta))


def tracked_dvc_document(file_name: str, md5: str, size: int, meta: Mapping[str, str],
                         extra_meta: Mapping[str, str]) -> dict[str, Any]:
    """The document that :func:`tracked_dvc_text` writes as YAML."""
    return {
        "outs": [{"md5": md5, "size": size, "hash": "md5", "path": file_name}],
        "meta": {**{key: str(value or "") for key, value in meta.items()}, **dict(extra_meta)},
    }


class ObjectPusher:
    """Pushes the DVC cache objects of finished downloads while the others still download.

    One thread sends what has arrived since its last batch (:meth:`PackagingTransaction.object_pusher`:
    DVC and the remote opened once, each batch journaled before it is sent); :meth:`finish` sends
    the rest and raises what a batch raised.  Objects of entries that fail afterwards (a stimulus
    set whose other file failed) may have gone up already: they stay, journaled, until
    ``gc --remote``, as any object of a failed run.
    """

    def __init__(self, transaction: Any, jobs: int) -> None:
        self._transaction, self._jobs = transaction, jobs
        self._queued: set[str] = set()
        self._batches: Batches[str] = Batches(self._push)

    def add(self, md5: str) -> None:
        if md5 not in self._queued:  # added from the caller's thread only
            self._queued.add(md5)
            self._batches.add(md5)

    def _push(self, batches: Iterator[list[str]]) -> None:
        with self._transaction.object_pusher(self._jobs) as push:  # DVC and the remote opened once
            for batch in batches:
                push(batch)

    def stop(self, send: bool = True) -> None:
        """End the thread once it has sent what is queued (``send=False``: once the batch it is
        sending is done), and wait for it."""
        self._batches.close(send)

    def finish(self, md5s: Sequence[str]) -> None:
        """Push ``md5s`` too (those not sent yet), wait for every batch, and raise a batch's error."""
        for md5 in md5s:
            self.add(md5)
        error = self._batches.close()
        if error is not None:
            raise error
