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
import json
import logging
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from .. import config
from ..formats.atomic import atomic_write_text, remove_stale_temporaries, temporary_path
from ..formats.hashes import is_digest
from .cache import file_lock
from ..catalogs import Catalog, CatalogTable, log_bad_rows, parse_catalog_table, tables_from_json, tables_to_json
from ..exceptions import CatalogFormatError, RegistryError, RevisionNotFoundError
from .gitrefs import resolve_branch_ref
from .layout import CATALOG_FILE, CATALOGS_DIR

if TYPE_CHECKING:
    import git

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
#: Validated catalog rows by commit, shared by all registries: a commit fixes its tree, so
#: entries never go stale.  Version 5 holds {"catalogs": {name: {"columns": [...], "rows":
#: [[...], ...], "index": {lookup_type: {identifier: [row numbers]}}, "bad_rows": [{"line",
#: "expected", "found", "cells"}, ...]}}}: each catalog's CSV, indexed so that a lookup reads
#: one entry rather than every row, and its malformed rows, set aside.
_CATALOG_CACHE_DIR = "catalog-cache"
_CATALOG_CACHE_VERSION = 5  # bump whenever parsing or validation of catalogs changes
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

    _tables_memo: dict[str, dict[str, CatalogTable]] = {}
    _catalog_memo: dict[tuple[str, str], dict[str, Catalog]] = {}

    def __init__(self, spec: str | os.PathLike[str], home: Path | None = None) -> None:
        spec = os.fspath(spec)
        self.home = home or config.home()
        #: Commits seen to exist in this process: objects are never removed from under us.
        self._known_commits: set[str] = set()
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
    def repo(self) -> git.Repo:
        import git

        if not self.is_local:
            self._ensure_clone()
        return git.Repo(self.root if self.is_local else self.git_dir)

    def _git(self, *args: str) -> str:
        """Run git in this registry; failures become RegistryError."""
        completed = subprocess.run(
            ["git", "--git-dir", str(self.git_dir), *args],
            capture_output=True,
            text=True,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        )
        if completed.returncode != 0:
            raise RegistryError(self.label, f"git {args[0]} failed: {completed.stderr.strip()}")
        return completed.stdout

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
                completed = subprocess.run(
                    ["git", "clone", "--bare", "--quiet", self.label, str(staging)],
                    capture_output=True,
                    text=True,
                    env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
                )
                if completed.returncode != 0:
                    raise RegistryError(self.label, f"cannot clone: {completed.stderr.strip()}")
                subprocess.run(
                    ["git", "--git-dir", str(staging), "config", "remote.origin.fetch",
                     "+refs/heads/*:refs/heads/*"],
                    check=True,
                )
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
            self._git("fetch", "--quiet", "--prune", "--tags", "--force", "origin")
            # The default branch may have changed on the remote.
            for line in self._git("ls-remote", "--symref", "origin", "HEAD").splitlines():
                if line.startswith("ref: ") and line.endswith("\tHEAD"):
                    self._git("symbolic-ref", "HEAD", line.removeprefix("ref: ").split("\t")[0])
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
        branch = resolve_branch_ref(self.git_dir, rev)
        if branch is not None:
            commit = branch.commit
        else:
            completed = subprocess.run(
                ["git", "--git-dir", str(self.git_dir), "rev-parse", "--verify", "--quiet",
                 "--end-of-options", f"{rev}^{{commit}}"],
                capture_output=True,
                text=True,
            )
            if completed.returncode != 0:
                return None
            commit = completed.stdout.strip()
        self._known_commits.add(commit)
        return commit

    def is_unborn(self) -> bool:
        """Whether this is a local repository without a single commit yet (``git init`` +
        ``dvc init``): an empty registry, which has no catalogs to read."""
        return self.is_local and self._local_commit("HEAD") is None and not any(
            (self.git_dir / "refs" / "heads").rglob("*")
        )

    def _is_moving(self, rev: str) -> bool:
        """Branches and HEAD move; commits and tags do not."""
        if rev == "HEAD" or resolve_branch_ref(self.git_dir, rev) is not None:
            return True
        try:
            self._git("show-ref", "--verify", "--quiet", f"refs/heads/{rev}")
        except RegistryError:
            return False
        return True

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
        needs_fetch = known is None or (not is_digest("sha1", rev, lowercase=True) and self._is_moving(rev) and not self._fetched_recently())
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

        Read with ``git cat-file`` rather than GitPython: importing GitPython costs a cold load
        a fifth of a second, more than the few git processes a load starts.
        """
        if not self.is_local:
            self._ensure_clone()
        completed = subprocess.run(
            ["git", "--git-dir", str(self.git_dir), "cat-file", "--batch"],
            input=f"{commit}:{path}\n".encode(), capture_output=True, check=False,
        )
        header, _, rest = completed.stdout.partition(b"\n")
        fields = header.split()
        if completed.returncode != 0 or len(fields) != 3:
            if completed.returncode == 0 and header.endswith(b" missing"):
                return None
            raise RegistryError(self.label, f"git cat-file {commit}:{path} failed: {completed.stderr.decode().strip()}")
        if fields[1] != b"blob":
            return None
        return rest[: int(fields[2])]

    def list_dir(self, commit: str, path: str) -> list[str]:
        """Names directly under ``path`` at ``commit`` (empty when it is not a directory)."""
        if not self.is_local:
            self._ensure_clone()
        completed = subprocess.run(
            ["git", "--git-dir", str(self.git_dir), "ls-tree", "--name-only", "-z", f"{commit}:{path}"],
            capture_output=True, check=False,
        )
        if completed.returncode != 0:
            return []
        return sorted(name.decode() for name in completed.stdout.split(b"\0") if name)

    def catalog_tables(self, commit: str) -> dict[str, CatalogTable]:
        """Every catalog of the registry at ``commit``, by name, with provenance columns.

        The validated rows of a commit's catalogs are cached on disk, so a process that loads
        from a commit seen before reads one file instead of starting git and parsing CSV.
        """
        memo = Registry._tables_memo.setdefault(self.label, {})
        if commit not in memo:
            memo[commit] = {
                name: self._with_provenance(table, commit) for name, table in self._parsed_tables(commit).items()
            }
            for table in memo[commit].values():
                log_bad_rows(table)  # once per commit and process, whether parsed or cached
        return memo[commit]

    def catalogs(self, commit: str) -> dict[str, Catalog]:
        """Every catalog of the registry at ``commit``, by name, as DataFrames."""
        key = (self.label, commit)
        memo = Registry._catalog_memo
        if key not in memo:
            memo[key] = {name: self._catalog(table) for name, table in self.catalog_tables(commit).items()}
        return memo[key]

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
        cache_file = self.home / _CATALOG_CACHE_DIR / f"{commit}.json"
        try:
            cached = _tables_from_cache(json.loads(cache_file.read_text(encoding="utf-8")))
        except FileNotFoundError:
            cached = None
        except (OSError, ValueError) as error:
            logger.warning("ignoring unreadable catalog cache %s: %s", cache_file, error)
            cached = None
        if cached is not None:
            return cached
        tables = {}
        for name in self.list_dir(commit, CATALOGS_DIR):
            data = self.read_bytes(commit, f"{CATALOGS_DIR}/{name}/{CATALOG_FILE}")
            if data is not None:
                source = self._catalog_source(commit, name)
                tables[name] = parse_catalog_table(_decode(data, source), source, name)
        cached_form = {"version": _CATALOG_CACHE_VERSION, "catalogs": tables_to_json(tables)}
        atomic_write_text(cache_file, json.dumps(cached_form))
        return tables

    def log(self, path: str, rev: str | None = None) -> list[Commit]:
        """The commits up to ``rev`` that changed ``path``, newest first."""
        commit = self.resolve(rev)
        output = self._git("log", "--format=%H%x09%cI%x09%an%x09%s", commit, "--", path)
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


def _tables_from_cache(cached: object) -> dict[str, CatalogTable] | None:
    """The catalog tables of a catalog cache file's JSON, or None when it is not one."""
    if not isinstance(cached, dict) or cached.get("version") != _CATALOG_CACHE_VERSION:
        return None
    return tables_from_json(cached.get("catalogs"))


_registries: dict[tuple[str, str], Registry] = {}


def open_registry(spec: str | os.PathLike[str]) -> Registry:
    """The :class:`Registry` for ``spec``, one per spec and ``BRAINIO_HOME`` in a process."""
    home = config.home()
    key = (os.fspath(spec), str(home))
    if key not in _registries:
        _registries[key] = Registry(spec, home)
    return _registries[key]
