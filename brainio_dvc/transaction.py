"""One packaging run against a registry, all or nothing.

The work happens in a detached ``git worktree`` of the registry, so the user's working tree,
index and current branch are never touched.  The branch appears only after the commit
succeeded; until then a failure (or a crash) leaves no branch behind.  Objects pushed to the
remote during a run that then fails are deleted again if they were not there before.  Runs on
the same registry wait for each other.

A run killed outright (SIGKILL, power loss) cannot clean up after itself, so the next run does
it first, under the same lock: it removes the worktrees that earlier runs left behind, and the
remote objects that a journal (``.git/brainio-dvc-package.journal``, written before pushing and
removed once the branch exists) records as pushed by a run that never created its branch.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from . import config
from .cache import atomic_write_text, file_lock
from .catalog_build import write_catalogs
from .dvcmeta import parse_dvc_file, with_meta
from .exceptions import BrainioDvcError, PackagingError
from .remotes import bound_retries, describe_remote_failure

__all__ = ["PackagingTransaction", "quiet_dvc"]

logger = logging.getLogger(__name__)

#: Prefix of the temporary directory that holds each run's worktree (in ``tree/``).
_TEMPORARY_PREFIX = "brainio-dvc-package-"
_JOURNAL = "brainio-dvc-package.journal"


class _ErrorCollector(logging.Handler):
    """Keeps the exceptions DVC logs while it carries on (a push reports only a count)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.errors: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.errors.append(record.exc_info[1])


@contextlib.contextmanager
def _collect_dvc_errors() -> Iterator[_ErrorCollector]:
    collector = _ErrorCollector()
    loggers = [logging.getLogger(name) for name in ("dvc", "dvc_data", "dvc_objects")]
    for each in loggers:
        each.addHandler(collector)
    try:
        yield collector
    finally:
        for each in loggers:
            each.removeHandler(collector)


@contextlib.contextmanager
def quiet_dvc() -> Iterator[None]:
    """Keep DVC's advice for command-line users ("To track the changes with git...") out of logs."""
    dvc_logger = logging.getLogger("dvc")
    level = dvc_logger.level
    dvc_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        dvc_logger.setLevel(level)


def _git(cwd: Path, *args: str) -> str:
    completed = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
    )
    if completed.returncode != 0:
        message = (completed.stderr or completed.stdout).strip()
        raise BrainioDvcError(f"git {' '.join(args[:2])} failed in {cwd}: {message}")
    return completed.stdout


class PackagingTransaction:
    """Stage files into a registry's layout, track them with DVC, push, commit on a branch."""

    def __init__(
        self,
        registry_root: Path,
        identifier: str,
        branch: str,
        base: str | None = None,
        push: bool = True,
    ) -> None:
        self.registry_root = Path(registry_root).resolve()
        self.identifier = identifier
        self.branch = branch
        self.base = base or "HEAD"
        self.push_enabled = push
        self.tree: Path = Path()
        self.current_step = "prepare"
        self._pushed: list[str] = []
        self._committed_storage: str | None = None

    # -- life cycle ----------------------------------------------------------------------
    @contextlib.contextmanager
    def run(self) -> Iterator[PackagingTransaction]:
        """Open the transaction; on any error roll back and raise :class:`PackagingError`."""
        with file_lock(self.registry_root / ".git" / "brainio-dvc-package"):
            parent = Path(tempfile.mkdtemp(prefix=_TEMPORARY_PREFIX))
            self.tree = parent / "tree"
            try:
                with self.step("prepare"):
                    self._prepare()
                yield self
            except BaseException as error:
                self._rollback()
                if isinstance(error, PackagingError) or not isinstance(error, Exception):
                    raise
                raise PackagingError(self.identifier, self.current_step, error) from error
            else:
                _drop_journal_entry(self._journal, self.branch)
            finally:
                self._remove_worktree()
                shutil.rmtree(parent, ignore_errors=True)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Name the step that is running, for the error message if it fails."""
        self.current_step = name
        logger.info("packaging %s: %s", self.identifier, name)
        yield

    @property
    def _journal(self) -> Path:
        return self.registry_root / ".git" / _JOURNAL

    def _prepare(self) -> None:
        if not (self.registry_root / ".dvc").is_dir():
            raise BrainioDvcError(f"{self.registry_root} is not a DVC registry (no .dvc/ directory)")
        _remove_stale_worktrees(self.registry_root)
        _recover_journal(self.registry_root, self._journal)
        existing = _git(self.registry_root, "branch", "--list", self.branch).strip()
        if existing:
            raise BrainioDvcError(
                f"branch {self.branch!r} already exists; delete it (`git branch -D {self.branch}`) or choose another"
            )
        _git(self.registry_root, "worktree", "add", "--quiet", "--detach", str(self.tree), self.base)
        self._configure_dvc()

    def _configure_dvc(self) -> None:
        """Give the worktree the registry's DVC cache, local config (credentials) and remote.

        A local remote directory committed inside the registry (like the demo registry's) is
        pushed to inside the worktree and committed with the rest; any other local directory
        is pointed to by its absolute path, since a relative path would now resolve elsewhere.
        """
        from dvc.repo import Repo

        main_local = self.registry_root / ".dvc" / "config.local"
        if main_local.exists():
            shutil.copyfile(main_local, self.tree / ".dvc" / "config.local")
        with Repo(str(self.registry_root)) as main:
            remote = main.cloud.get_remote(None)
            local_path = Path(remote.path) if remote.fs.protocol in ("local", "file") else None
            remote_name = remote.name
        with Repo(str(self.tree)) as repo, repo.config.edit("local") as local:
            local.setdefault("cache", {})["dir"] = str(self.registry_root / ".dvc" / "cache")
            if local_path is None:
                return
            if local_path.is_relative_to(self.registry_root):
                relative = local_path.relative_to(self.registry_root).as_posix()
                ignored = subprocess.run(
                    ["git", "check-ignore", "-q", relative], cwd=self.registry_root, check=False
                ).returncode == 0
                if not ignored:
                    self._committed_storage = relative
                    return
            local.setdefault("remote", {}).setdefault(remote_name, {})["url"] = str(local_path)

    # -- steps ---------------------------------------------------------------------------
    def path(self, relative: PurePosixPath | str) -> Path:
        """A path inside the worktree."""
        return self.tree / str(relative)

    def exists_at_base(self, relative: PurePosixPath | str) -> bool:
        return Path(f"{self.path(relative)}.dvc").exists()

    def track(self, files: Mapping[PurePosixPath, Mapping[str, str]]) -> dict[PurePosixPath, dict[str, Any]]:
        """``dvc add`` each file, write its meta block, and return its catalog row."""
        from dvc.repo import Repo

        targets = [str(self.path(relative)) for relative in files]
        with quiet_dvc(), Repo(str(self.tree)) as repo:
            repo.add(targets)
        rows = {}
        for relative, meta in files.items():
            dvc_file = Path(f"{self.path(relative)}.dvc")
            dvc_file.write_text(with_meta(dvc_file.read_text(encoding="utf-8"), meta), encoding="utf-8")
            rows[relative] = parse_dvc_file(dvc_file.read_text(encoding="utf-8"), f"{relative}.dvc")
        return rows

    def build_catalogs(self) -> None:
        write_catalogs(self.tree)

    def push(self, relatives: Sequence[PurePosixPath], md5s: Sequence[str]) -> None:
        """Push the tracked files to the registry's default remote."""
        if not self.push_enabled:
            return
        from dvc.repo import Repo

        with Repo(str(self.tree)) as repo:
            odb = repo.cloud.get_remote_odb()
            bound_retries(odb.fs)  # for the checks; DVC's push makes its own filesystem
            self._pushed = [md5 for md5 in md5s if not odb.fs.exists(odb.oid_to_path(md5))]
            if self._committed_storage is None:
                _write_journal(self._journal, self.branch, self._pushed)
            jobs = config.jobs() or None
            with quiet_dvc(), _collect_dvc_errors() as collector:
                try:
                    repo.push(targets=[f"{self.path(r)}.dvc" for r in relatives], jobs=jobs)
                except Exception as error:
                    cause = collector.errors[0] if collector.errors else error
                    remote = repo.config["core"].get("remote")
                    raise BrainioDvcError(
                        f"push to DVC remote {remote!r} failed: {describe_remote_failure(cause)}"
                    ) from error
            missing = [md5 for md5 in md5s if not odb.fs.exists(odb.oid_to_path(md5))]
        if missing:
            raise BrainioDvcError(f"the remote does not have {missing} after the push")

    def commit(self, message: str, paths: Sequence[PurePosixPath | str]) -> str:
        """Commit ``paths`` (and committed remote storage), then create the branch."""
        to_add = [str(p) for p in paths]
        if self._committed_storage and self.push_enabled:
            to_add.append(self._committed_storage)
        _git(self.tree, "add", "--", *to_add)
        if not _git(self.tree, "diff", "--cached", "--name-only").strip():
            raise BrainioDvcError("nothing changed: the registry already holds exactly these files")
        _git(self.tree, "commit", "--quiet", "-m", message)
        commit = _git(self.tree, "rev-parse", "HEAD").strip()
        _git(self.tree, "branch", self.branch, commit)
        return commit

    # -- rollback ------------------------------------------------------------------------
    def _rollback(self) -> None:
        if self._pushed and self._committed_storage is None and not _remove_remote_objects(self.tree, self._pushed):
            return  # the journal keeps them, for the next run to try again
        _drop_journal_entry(self._journal, self.branch)

    def _remove_worktree(self) -> None:
        if self.tree and self.tree.exists():
            with contextlib.suppress(BrainioDvcError):
                _git(self.registry_root, "worktree", "remove", "--force", str(self.tree))
        with contextlib.suppress(BrainioDvcError):
            _git(self.registry_root, "worktree", "prune")


# -- recovery from runs that were killed ---------------------------------------------------


def _remove_remote_objects(repo_dir: Path, md5s: Sequence[str]) -> bool:
    """Delete objects from the default remote of the DVC repository at ``repo_dir``.

    Best effort: False (with a warning) when the remote could not be cleaned.
    """
    try:
        from dvc.repo import Repo

        with Repo(str(repo_dir)) as repo:
            odb = repo.cloud.get_remote_odb()
            bound_retries(odb.fs)
            for md5 in md5s:
                object_path = odb.oid_to_path(md5)
                if odb.fs.exists(object_path):
                    odb.fs.rm(object_path)
                if odb.fs.protocol == "local":
                    # A local remote also gets a prefix directory per object.
                    with contextlib.suppress(OSError):
                        os.rmdir(os.path.dirname(object_path))
                logger.info("removed %s from the remote again", md5)
    except Exception:  # noqa: BLE001 - best effort; the objects are unreferenced anyway
        logger.warning("could not remove pushed objects %s from the remote", list(md5s), exc_info=True)
        return False
    return True


# The journal lists, per run that pushed, its branch and the objects it added to the remote.
# Entries are removed once their branch exists or their objects are gone again; an entry whose
# objects could not be removed (the remote was down) stays for the next run to retry.


def _journal_entries(journal: Path) -> list[dict[str, Any]]:
    try:
        entries = json.loads(journal.read_text(encoding="utf-8"))["runs"]
        return [{"branch": str(e["branch"]), "pushed": [str(md5) for md5 in e["pushed"]]} for e in entries]
    except FileNotFoundError:
        return []
    except (ValueError, KeyError, TypeError):
        logger.warning("ignoring the unreadable packaging journal %s", journal)
        return []


def _save_journal(journal: Path, entries: list[dict[str, Any]]) -> None:
    if entries:
        atomic_write_text(journal, json.dumps({"runs": entries}))
    else:
        journal.unlink(missing_ok=True)


def _write_journal(journal: Path, branch: str, pushed: Sequence[str]) -> None:
    """Record, before pushing, which objects this run is about to add to the remote."""
    others = [entry for entry in _journal_entries(journal) if entry["branch"] != branch]
    _save_journal(journal, [*others, {"branch": branch, "pushed": list(pushed)}])


def _drop_journal_entry(journal: Path, branch: str) -> None:
    if journal.exists():
        _save_journal(journal, [entry for entry in _journal_entries(journal) if entry["branch"] != branch])


def _recover_journal(registry_root: Path, journal: Path) -> None:
    """Undo the pushes of runs that were killed before they created their branch."""
    kept = []
    for entry in _journal_entries(journal):
        branch, pushed = entry["branch"], entry["pushed"]
        if _git(registry_root, "branch", "--list", branch).strip():
            logger.info("the interrupted run of %s had created its branch; keeping its objects", branch)
            continue
        if not pushed:
            continue
        logger.warning("removing %d objects that an interrupted packaging run pushed for %s", len(pushed), branch)
        if not _remove_remote_objects(registry_root, pushed):
            kept.append(entry)
    _save_journal(journal, kept)


def _stale_worktrees(registry_root: Path) -> list[Path]:
    """Worktrees of earlier packaging runs (runs wait for each other, so those are all dead)."""
    listing = _git(registry_root, "worktree", "list", "--porcelain")
    paths = [Path(line.removeprefix("worktree ")) for line in listing.splitlines() if line.startswith("worktree ")]
    return [path for path in paths if path.name == "tree" and path.parent.name.startswith(_TEMPORARY_PREFIX)]


def _remove_stale_worktrees(registry_root: Path) -> None:
    """Remove what killed runs left: their worktrees (even half-made, locked ones) and directories."""
    for tree in _stale_worktrees(registry_root):
        logger.warning("removing the worktree %s of an interrupted packaging run", tree)
        with contextlib.suppress(BrainioDvcError):
            _git(registry_root, "worktree", "remove", "--force", "--force", str(tree))
        shutil.rmtree(tree.parent, ignore_errors=True)
    _git(registry_root, "worktree", "prune")
