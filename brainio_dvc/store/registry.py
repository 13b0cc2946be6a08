"""A git + DVC registry, read at a revision.

A registry is given as a local path (its working tree is used as it is) or a git URL (file://,
https://, ssh, ``user@host:path``), which gets one persistent bare clone under
``$BRAINIO_HOME/registries``.  Everything is read from git objects at a resolved commit, never
from a checkout.  A commit the clone already holds is never fetched; a branch is fetched when
the last fetch is older than the ``fetch_interval`` setting; when the fetch fails and the
clone already knows the branch, the known commit is used with a warning (offline work).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from .. import config
from ..exceptions import CatalogFormatError, RegistryError, RevisionNotFoundError
from ..formats.atomic import remove_stale_temporaries, temporary_path
from ..formats.catalog_csv import CatalogTable, log_bad_rows, parse_catalog_table
from ..formats.hashes import is_digest
from . import catalog_cache
from .file_lock import file_lock
from .git import Git, clone
from .gitrefs import is_branch, resolve_ref
from .layout import CATALOG_FILE, CATALOGS_DIR
from .state import CATALOG_TABLES, CATALOGS, REGISTRIES, Memo

if TYPE_CHECKING:
    from ..catalogs import Catalog

__all__ = [
    "PROVENANCE_COLUMNS",
    "Commit",
    "Registry",
    "default_registry_specs",
    "find_registry_root",
    "is_git_url",
    "open_registry",
]

logger = logging.getLogger(__name__)

_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:")
_FETCH_STAMP = "brainio-dvc-fetched"
#: Columns a registry adds to each catalog row: where the row came from.
PROVENANCE_COLUMNS = ("catalog", "registry", "rev")


def is_git_url(spec: str) -> bool:
    """Whether ``spec`` is a URL to clone rather than a local path."""
    return "://" in spec or bool(_SCP_LIKE.match(spec))


def find_registry_root(start: Path) -> Path | None:
    """The git working tree containing ``start`` if it is a registry (has .dvc/).

    A repository made by ``git init`` and ``dvc init`` is an empty registry (git does not keep
    the empty ``catalogs/`` directory).
    """
    for directory in (start, *start.parents):
        if (directory / ".git").exists():
            return directory if (directory / ".dvc").is_dir() else None
    return None


def default_registry_specs() -> list[str]:
    """The configured registries; when none are, the registry around the current directory."""
    configured = config.registries()
    if configured:
        return configured
    around = find_registry_root(Path.cwd())
    return [str(around)] if around else []


@dataclass(frozen=True)
class Commit:
    """One commit of a registry's history that touched a path."""

    sha: str
    date: str
    author: str
    subject: str


class Registry:
    """One registry: resolves revisions and reads files and catalogs at commits."""

    def __init__(self, spec: str | os.PathLike[str], home: Path | None = None) -> None:
        spec = os.fspath(spec)
        self.home = home or config.home()
        #: Commits seen to exist in this process: objects are never removed from under us.
        self._known_commits: set[str] = set()
        #: Files read at full commit ids: (commit, path) -> content (None: no such file).
        self._blobs: Memo[tuple[str, str], bytes | None] = Memo("files read", 256)
        self.is_local = not is_git_url(spec)
        if self.is_local:
            path = Path(spec).expanduser().resolve()
            root = find_registry_root(path) if path.exists() else None
            if root is None:
                raise RegistryError(
                    str(path), "not a registry (expected a git working tree with .dvc/; `brainio-dvc init` makes one)"
                )
            self.label = str(root)
            self.root = root
            self.git_dir = root / ".git"
        else:
            self.label = spec
            self.git_dir = self._clone_dir(spec, self.home)
            self.root = self.git_dir

    @staticmethod
    def _clone_dir(url: str, home: Path) -> Path:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", url.rstrip("/").split("/")[-1] or "registry")[:40]
        digest = hashlib.sha256(url.encode()).hexdigest()[:12]
        return home / "registries" / f"{slug}-{digest}"

    def __repr__(self) -> str:
        return f"Registry({self.label!r})"

    # -- git access -----------------------------------------------------------------------
    @cached_property
    def _git(self) -> Git:
        return Git(self.git_dir, bare=True, label=self.label)

    @property
    def git(self) -> Git:
        """git in this registry's git directory (a remote registry is cloned first)."""
        if not self.is_local:
            self._ensure_clone()
        return self._git

    def _ensure_clone(self) -> None:
        if (self.git_dir / "HEAD").exists():
            return
        with file_lock(self.git_dir):
            if (self.git_dir / "HEAD").exists():
                return
            remove_stale_temporaries(self.git_dir)  # what a killed clone left
            staging = temporary_path(self.git_dir)
            logger.info("cloning registry %s into %s", self.label, self.git_dir)
            try:
                clone(self.label, staging, "--bare", "--quiet")
                staged = Git(staging, bare=True, label=self.label)
                staged.run("config", "remote.origin.fetch", "+refs/heads/*:refs/heads/*")
                (staging / _FETCH_STAMP).touch()
                os.replace(staging, self.git_dir)
            finally:
                shutil.rmtree(staging, ignore_errors=True)

    def fetch(self) -> None:
        """Fetch branches and tags from the registry's URL (no-op for a local registry)."""
        if self.is_local:
            return
        self._ensure_clone()
        with file_lock(self.git_dir):
            logger.info("fetching registry %s", self.label)
            self._git.run("fetch", "--quiet", "--prune", "--tags", "--force", "origin")
            # The default branch may have changed on the remote.
            for line in self._git.run("ls-remote", "--symref", "origin", "HEAD").splitlines():
                if line.startswith("ref: ") and line.endswith("\tHEAD"):
                    self._git.run("symbolic-ref", "HEAD", line.removeprefix("ref: ").split("\t")[0])
            (self.git_dir / _FETCH_STAMP).touch()

    def _fetched_recently(self) -> bool:
        try:
            age = time.time() - (self.git_dir / _FETCH_STAMP).stat().st_mtime
        except FileNotFoundError:
            return False
        return age < config.fetch_interval()

    def _local_commit(self, rev: str) -> str | None:
        """The commit ``rev`` names in the local git directory, or None."""
        if rev in self._known_commits:
            return rev
        from_files = resolve_ref(self.git_dir, rev)
        commit = from_files.commit if from_files is not None else self._git.commit_of(rev)
        if commit is None:
            return None
        self._known_commits.add(commit)
        return commit

    def knows_commit(self, commit: str) -> bool:
        """Whether ``commit`` (a full commit id) was resolved in this registry in this process."""
        return commit in self._known_commits

    def is_unborn(self) -> bool:
        """Whether this is a local repository without a single commit yet (``git init`` +
        ``dvc init``): an empty registry, which has no catalogs to read."""
        return self.is_local and self._local_commit("HEAD") is None and not any(
            (self.git_dir / "refs" / "heads").rglob("*")
        )

    def _is_moving(self, rev: str) -> bool:
        """Branches and HEAD move; commits and tags do not."""
        moving = is_branch(self.git_dir, rev)
        if moving is None:
            moving = self._git.succeeds("show-ref", "--verify", "--quiet", f"refs/heads/{rev}")
        return moving

    def resolve(self, rev: str | None = None) -> str:
        """The 40-hex commit of ``rev`` (branch, tag or commit); None means the default branch
        or the ``rev`` setting."""
        rev = rev or config.rev() or "HEAD"
        if rev.startswith("-") or "\x00" in rev:
            raise RevisionNotFoundError(self.label, rev)
        if not self.is_local:
            self._ensure_clone()
        known = self._local_commit(rev)
        if self.is_local:
            if known is None:
                raise RevisionNotFoundError(self.label, rev)
            return known
        needs_fetch = known is None or (
            not is_digest("sha1", rev, lowercase=True) and self._is_moving(rev) and not self._fetched_recently()
        )
        if needs_fetch:
            try:
                self.fetch()
            except RegistryError as error:
                if known is None:
                    raise
                logger.warning("using the commit of %r known locally (%s): %s", rev, known[:10], error)
                return known
            known = self._local_commit(rev)
        if known is None:
            raise RevisionNotFoundError(self.label, rev)
        return known

    # -- reading at a commit ----------------------------------------------------------------
    def read_bytes(self, commit: str, path: str | PurePosixPath) -> bytes | None:
        """The content of ``path`` at ``commit``, or None if it does not exist there.

        One ``git cat-file --batch`` (see :mod:`.git` for why not GitPython).
        """
        key = (commit, str(path))
        if key in self._blobs:
            return self._blobs.get(key)
        return self.read_many(commit, [path])[str(path)]

    def read_many(
        self, commit: str, paths: Sequence[str | PurePosixPath], keep: Sequence[str] = ()
    ) -> dict[str, bytes | None]:
        """:meth:`read_bytes` of several paths, with one git process.

        The contents of the paths in ``keep`` are kept for later :meth:`read_bytes` calls in
        this process when ``commit`` is a full commit id (which fixes them): what a cold load
        needs of one commit (its catalogs, its DVC config) then costs one git process.
        """
        names = [str(path) for path in paths]
        found: dict[str, bytes | None] = {name: None for name in names if "\n" in name}  # not addressable
        names = [name for name in names if name not in found]
        objects = self.git.read_objects([f"{commit}:{name}" for name in names])
        for name, answer in zip(names, objects, strict=True):
            found[name] = answer[1] if answer is not None and answer[0] == "blob" else None
        if is_digest("sha1", commit, lowercase=True):
            for name in keep:
                if name in found:
                    self._blobs[(commit, name)] = found[name]
        return found

    def list_dir(self, commit: str, path: str) -> list[str]:
        """Names directly under ``path`` at ``commit`` (empty when it is not a directory)."""
        return sorted(self.git.list_tree(f"{commit}:{path}") or [])

    def catalog_tables(self, commit: str) -> dict[str, CatalogTable]:
        """Every catalog of the registry at ``commit``, by name, with provenance columns.

        The validated rows of a commit's catalogs are cached on disk, so a process that loads
        from a commit seen before reads one file instead of starting git and parsing CSV.
        """
        key = (self.label, commit)
        tables: dict[str, CatalogTable] | None = CATALOG_TABLES.get(key)
        if tables is None:
            tables = {name: self._with_provenance(table, commit) for name, table in self._parsed_tables(commit).items()}
            for table in tables.values():
                log_bad_rows(table)  # once per commit and process (while remembered), parsed or cached
            CATALOG_TABLES[key] = tables
        return tables

    def catalogs(self, commit: str) -> dict[str, Catalog]:
        """Every catalog of the registry at ``commit``, by name, as DataFrames."""
        key = (self.label, commit)
        catalogs: dict[str, Catalog] | None = CATALOGS.get(key)
        if catalogs is None:
            tables = self.catalog_tables(commit)
            catalogs = CATALOGS[key] = {name: self._catalog(table) for name, table in tables.items()}
        return catalogs

    def _catalog(self, table: CatalogTable) -> Catalog:
        catalog = table.to_catalog()
        catalog.identifier = table.name
        catalog.url = self.label
        catalog.attrs["source_path"] = table.source
        return catalog

    def _catalog_source(self, commit: str, name: str) -> str:
        return f"{self.label}@{commit[:10]}:{CATALOGS_DIR}/{name}/{CATALOG_FILE}"

    def _with_provenance(self, table: CatalogTable, commit: str) -> CatalogTable:
        """``table`` with the constant columns catalog, registry and rev."""
        provenance = dict(zip(PROVENANCE_COLUMNS, (table.name, self.label, commit), strict=True))
        return table.with_constants(self._catalog_source(commit, table.name), provenance)

    def _parsed_tables(self, commit: str) -> dict[str, CatalogTable]:
        return catalog_cache.cached_tables(self.home, commit, lambda: self._parse_tables(commit))

    def _parse_tables(self, commit: str) -> dict[str, CatalogTable]:
        tables = {}
        paths = {name: f"{CATALOGS_DIR}/{name}/{CATALOG_FILE}" for name in self.list_dir(commit, CATALOGS_DIR)}
        # The DVC config comes along: a load that parses the catalogs is a cold one, which
        # reads the remote's settings next.
        contents = self.read_many(commit, [*paths.values(), ".dvc/config"], keep=[".dvc/config"])
        for name, path in paths.items():
            data = contents[path]
            if data is not None:
                source = self._catalog_source(commit, name)
                tables[name] = parse_catalog_table(_decode(data, source), source, name)
        return tables

    def log(self, path: str, rev: str | None = None) -> list[Commit]:
        """The commits up to ``rev`` that changed ``path``, newest first."""
        commit = self.resolve(rev)
        output = self._git.run("log", "--format=%H%x09%cI%x09%an%x09%s", commit, "--", path)
        commits = []
        for line in output.splitlines():
            sha, date, author, subject = line.split("\t", 3)
            commits.append(Commit(sha=sha, date=date, author=author, subject=subject))
        return commits

    def dvc_config_texts(self, commit: str) -> tuple[str, str | None]:
        """``.dvc/config`` at ``commit`` and, for a local registry, its ``.dvc/config.local``."""
        committed = self.read_bytes(commit, ".dvc/config")
        if committed is None:
            raise RegistryError(self.label, f"no .dvc/config at {commit[:10]}: not a DVC repository there")
        local_text = None
        if self.is_local:
            local_file = self.root / ".dvc" / "config.local"
            local_text = local_file.read_text(encoding="utf-8") if local_file.exists() else None
        return committed.decode("utf-8"), local_text

    def origin_path(self) -> Path | None:
        """For a clone of a local URL (file:// or a path), the origin's working tree."""
        if self.is_local:
            return self.root
        url = self.label
        if url.startswith("file://"):
            path = Path(url.removeprefix("file://"))
            return path if path.exists() else None
        return None


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CatalogFormatError(source, "UTF-8 text", f"undecodable bytes ({error.reason})") from error


def open_registry(spec: str | os.PathLike[str], home: Path | None = None) -> Registry:
    """The :class:`Registry` for ``spec``, one per spec and ``BRAINIO_HOME`` (``home``, read
    from the settings when not given) in a process (while :mod:`~brainio_dvc.store.state`
    remembers it)."""
    home = home or config.home()
    key = (os.fspath(spec), home)
    found: Registry | None = REGISTRIES.get(key)
    if found is None:
        found = REGISTRIES[key] = Registry(spec, home)
    return found
