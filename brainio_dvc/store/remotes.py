"""DVC remotes of a registry: where its content-addressed objects can be downloaded from.

:func:`open_remote` turns the registry's DVC config (:func:`~.remote_spec.default_remote`)
into something that can test for and download objects (a :class:`~.remote_spec.Remote`):

- a local directory (absolute, or relative to the registry's ``.dvc/`` as DVC resolves it);
- a directory committed inside the registry, read from git objects (a clone of a registry
  whose remote is a relative directory, such as this repository's demo registry);
- an ``s3://`` remote with options boto3 understands, read with boto3 directly
  (:mod:`.direct_remotes`);
- any other URL through DVC's own remote filesystem (:mod:`.dvc_remote`), so DVC's
  configuration, ``.dvc/config.local`` and environment credentials all apply.

:func:`open_worktree_remote` does the same for a working tree as it is on disk.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from ..exceptions import RegistryError
from .direct_remotes import GitTreeRemote, LocalRemote, S3Remote
from .dvc_remote import DvcRemote
from .registry import Registry
from .remote_spec import Remote, default_remote

__all__ = ["open_remote", "open_worktree_remote"]


def open_worktree_remote(root: Path, name: str | None = None) -> Remote:
    """The remote ``name`` (by default the default remote) as the working tree at ``root``
    configures it now (``.dvc/config`` and ``.dvc/config.local`` on disk, committed or not)."""
    root = Path(root)
    texts = []
    for file_name in ("config", "config.local"):
        path = root / ".dvc" / file_name
        texts.append(path.read_text(encoding="utf-8") if path.exists() else None)
    spec = default_remote(texts[0] or "", texts[1], str(root), name)
    if not spec.is_local:
        if S3Remote.reads(spec):
            return S3Remote(str(root), spec)
        return DvcRemote(Registry(root), None, spec)
    url = spec.url.removeprefix("file://")
    return LocalRemote(str(root), spec, Path(url) if Path(url).is_absolute() else (root / ".dvc" / url).resolve())


def open_remote(registry: Registry, commit: str, name: str | None = None) -> Remote:
    """The registry's remote ``name`` (by default its default remote) as of ``commit``."""
    committed, local = registry.dvc_config_texts(commit)
    spec = default_remote(committed, local, registry.label, name)
    if not spec.is_local:
        if S3Remote.reads(spec):
            return S3Remote(registry.label, spec)
        return DvcRemote(registry, commit, spec)
    url = spec.url.removeprefix("file://")
    if Path(url).is_absolute():
        return LocalRemote(registry.label, spec, Path(url))
    if registry.is_local:
        return LocalRemote(registry.label, spec, (registry.root / ".dvc" / url).resolve())
    origin = registry.origin_path()
    if origin is not None and (origin / ".dvc" / url).is_dir():
        return LocalRemote(registry.label, spec, (origin / ".dvc" / url).resolve())
    tree_path = posixpath.normpath(posixpath.join(".dvc", url))
    if tree_path.startswith(".."):
        raise RegistryError(
            registry.label,
            f"remote {spec.name!r} is the directory {url!r} relative to a clone's .dvc/, outside the "
            "repository: it can only be read from a local registry; use an absolute path or a URL",
        )
    return GitTreeRemote(registry, commit, spec, tree_path)
