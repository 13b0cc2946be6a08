"""Remove remote objects that nothing in the registry refers to any more.

Packaging never deletes remote objects: the remote is content-addressed, so an object may
belong to several branches, and a failed run's objects may be shared (see
:mod:`brainio_dvc.contribute.transaction`).  ``brainio-dvc gc --remote`` removes the garbage instead:
objects of the DVC remote that no ``.dvc`` file of any commit reachable from a branch or tag
references, neither of the registry's ``origin`` (fetched first) nor of the local repository,
nor a packaging run in progress (its journal).  Only objects older than ``older_than_days``
are candidates, so that a run that pushed but has not yet pushed its branch keeps its
objects.  It is a dry run unless ``force``.

:func:`referenced_md5s` and :func:`select_garbage` are pure; the rest is I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..exceptions import BrainioDvcError
from ..store.file_lock import file_lock
from ..store.git import Git
from ..store.layout import REGISTRY_DIR
from .transaction import LOCK, journal_objects

__all__ = ["GarbageReport", "RemoteObject", "collect_garbage", "referenced_md5s", "select_garbage"]

logger = logging.getLogger(__name__)

_DAY = 86400.0


@dataclass(frozen=True)
class RemoteObject:
    """One object of the remote: its md5 (``.dir`` for a directory listing), path, size, mtime."""

    md5: str
    path: str
    size: int
    mtime: float


@dataclass
class GarbageReport:
    remote: str
    referenced: int
    objects: int
    garbage: list[RemoteObject] = field(default_factory=list)
    deleted: bool = False

    @property
    def garbage_bytes(self) -> int:
        return sum(item.size for item in self.garbage)


def referenced_md5s(dvc_texts: Iterable[str]) -> set[str]:
    """The md5 of every ``outs`` entry of these ``.dvc`` file texts (unreadable ones skipped)."""
    from ruamel.yaml import YAML, YAMLError

    yaml = YAML(typ="safe")
    found = set()
    for text in dvc_texts:
        try:
            document = yaml.load(text)
        except (YAMLError, ValueError, TypeError, OverflowError):
            continue
        outs = document.get("outs") if isinstance(document, Mapping) else None
        for out in outs if isinstance(outs, list) else []:
            if isinstance(out, Mapping) and isinstance(out.get("md5"), str):
                found.add(out["md5"])
    return found


def select_garbage(
    objects: Iterable[RemoteObject], referenced: set[str], now: float, older_than_days: float
) -> list[RemoteObject]:
    """The objects that are neither referenced nor younger than ``older_than_days``."""
    cutoff = now - older_than_days * _DAY
    return sorted(
        (item for item in objects if item.md5 not in referenced and item.mtime <= cutoff),
        key=lambda item: item.md5,
    )


def _refs(root: Path) -> list[str]:
    """Every branch and tag: origin's (fetched now) and the local ones."""
    git = Git(root)
    if "origin" in git.run("remote").split():
        git.run("fetch", "--quiet", "--tags", "origin", "+refs/heads/*:refs/remotes/origin/*")
    listing = git.run("for-each-ref", "--format=%(objectname)", "refs/heads", "refs/tags",
                      "refs/remotes/origin")
    return sorted(set(listing.split()))


def _dvc_texts(root: Path, refs: list[str]) -> list[str]:
    """Every distinct ``.dvc`` blob reachable from ``refs``, as text."""
    if not refs:
        return []
    git = Git(root)
    objects = git.run("rev-list", "--objects", *refs)
    blobs = sorted({line.split(" ", 1)[0] for line in objects.splitlines() if line.endswith(".dvc") and " " in line})
    return [found[1].decode("utf-8", errors="replace")
            for found in git.read_objects(blobs) if found is not None]


def _mtime(info: Mapping[str, Any]) -> float:
    value = info.get("mtime", info.get("LastModified", info.get("last_modified")))
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value) if value is not None else 0.0


def _dir_children(odb: Any, md5: str) -> set[str]:
    """The md5s a directory listing object names (DVC's ``.dir`` objects are JSON lists)."""
    import json

    try:
        entries = json.loads(odb.fs.cat_file(odb.oid_to_path(md5)))
    except (OSError, ValueError) as error:
        msg = f"cannot read the directory object {md5} on the remote: {error}"
        raise BrainioDvcError(msg) from error
    return {str(entry["md5"]) for entry in entries if isinstance(entry, Mapping) and "md5" in entry}


def collect_garbage(
    registry_root: Path, older_than_days: float = 7.0, force: bool = False, remote: str | None = None
) -> GarbageReport:
    """Find (and with ``force`` delete) the unreferenced objects of the registry's DVC remote."""
    import time

    from dvc.repo import Repo

    from ..store.dvc_remote import open_remote_odb

    root = Path(registry_root).resolve()
    with file_lock(root / ".git" / LOCK), Repo(str(root)) as repo:
        odb = open_remote_odb(repo, remote)
        name = repo.cloud.get_remote(remote).name
        if odb.fs.protocol in ("local", "file") and Path(odb.path).resolve().is_relative_to(root):
            msg = (
                f"the DVC remote {name!r} ({odb.path}) lies inside the registry, whose commits hold its objects; "
                "gc does not apply to it"
            )
            raise BrainioDvcError(
                msg
            )
        # Committed .dvc files of every branch and tag, the working tree's, and running packaging's.
        texts = _dvc_texts(root, _refs(root)) + [p.read_text(encoding="utf-8", errors="replace")
                                                 for p in (root / REGISTRY_DIR).rglob("*.dvc")]
        referenced = referenced_md5s(texts) | journal_objects(root)
        for md5 in sorted(m for m in referenced if m.endswith(".dir")):
            referenced |= _dir_children(odb, md5)
        paths = list(odb.fs.find(odb.path))
        infos = odb.fs.info(paths, batch_size=64) if paths else []
        objects = []
        for path, info in zip(paths, infos, strict=True):
            try:
                md5 = odb.path_to_oid(path)
            except ValueError:
                continue  # not an object (a stray file in the remote)
            objects.append(RemoteObject(md5=md5, path=path, size=int(info.get("size") or 0), mtime=_mtime(info)))
        report = GarbageReport(remote=name, referenced=len(referenced), objects=len(objects))
        report.garbage = select_garbage(objects, referenced, time.time(), older_than_days)
        if force and report.garbage:
            odb.fs.rm([item.path for item in report.garbage])
            report.deleted = True
            logger.info("removed %d unreferenced objects from remote %s", len(report.garbage), name)
    return report
