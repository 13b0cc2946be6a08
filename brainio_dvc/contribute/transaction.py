"""One packaging run against a registry, all or nothing.

The work happens in a detached ``git worktree`` of the registry, so the user's working tree,
index and current branch are never touched.  The branch appears (or moves) only after the
commit succeeded; until then a failure (or a crash) leaves every branch as it was.  Runs on the
same registry wait for each other.

**Branches.**  A run commits on its branch (``package/<stimulus set identifier>`` by default,
see :mod:`brainio_dvc.packaging`).  If that branch exists and is still pending review (it has
changes that the base does not), the run starts from the branch's tip and adds a commit on top,
so a stimulus set and its assemblies end up on one branch, for one pull request.  If the branch
was merged already (its tip is in the base, or the base holds all of its ``registry/`` changes,
as after a squash merge), the run starts from the base and moves the branch.

**Remote objects are never deleted.**  The remote is content-addressed and shared: an object
that a failed run pushed may also belong to another branch, so it stays.  Unreferenced objects
are removed by ``brainio-dvc gc --remote`` (:mod:`brainio_dvc.contribute.gc`).  A journal
(``.git/brainio-dvc-package.journal``, written before pushing and cleared when the run ends)
lists the objects of a run in progress, which gc keeps; a run killed outright leaves its entry,
which the next run reports and clears, and its worktree, which the next run removes.  A journal
that cannot be read is refused (:class:`~brainio_dvc.exceptions.JournalError`), never taken as
empty.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from .. import config
from ..exceptions import BrainioDvcError, GitError, JournalError, PackagingError, RemoteError
from ..formats.atomic import atomic_write_text
from ..formats.dvcmeta import parse_dvc_file, with_meta
from ..store.dvc_remote import open_remote_odb
from ..store.file_lock import file_lock
from ..store.git import Git, stage_packed
from ..store.layout import REGISTRY_DIR
from ..store.remote_spec import describe_remote_failure
from .catalog_build import write_catalogs

__all__ = ["JOURNAL", "LOCK", "PackagingTransaction", "journal_objects", "quiet_dvc"]

logger = logging.getLogger(__name__)

#: Prefix of the temporary directory that holds each run's worktree (in ``tree/``).
_TEMPORARY_PREFIX = "brainio-dvc-package-"
#: The journal and the lock, relative to the registry's ``.git`` directory.
JOURNAL = "brainio-dvc-package.journal"
LOCK = "brainio-dvc-package"
_NO_COMMIT = "0" * 40


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


def _branch_tip(root: Path, branch: str) -> str | None:
    return Git(root).output_or_none("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}")


def _is_merged(root: Path, tip: str, base: str) -> bool:
    """Whether the base already holds everything the branch at ``tip`` changed in ``registry/``."""
    if Git(root).succeeds("merge-base", "--is-ancestor", tip, base):
        return True
    fork = Git(root).run("merge-base", tip, base).strip()
    changed = Git(root).run("diff", "--name-only", fork, tip, "--", REGISTRY_DIR).split()
    return not changed or Git(root).succeeds("diff", "--quiet", tip, base, "--", *changed)


def _checked_out(root: Path, branch: str) -> bool:
    listing = Git(root).run("worktree", "list", "--porcelain")
    return f"branch refs/heads/{branch}" in listing.splitlines()


class PackagingTransaction:
    """Stage files into a registry's layout, track them with DVC, push, commit on a branch."""

    def __init__(
        self,
        registry_root: Path,
        identifier: str,
        branch: str,
        base: str | None = None,
        push: bool = True,
        remote: str | None = None,
    ) -> None:
        self.registry_root = Path(registry_root).resolve()
        self.identifier = identifier
        self.branch = branch
        self.base = base or "HEAD"
        self.push_enabled = push
        #: The DVC remote asked for (BrainIO's ``bucket_name``); used if the registry has it.
        self.requested_remote = remote
        #: The DVC remote pushed to, known after prepare.
        self.remote: str | None = None
        self.tree: Path = Path()
        self.current_step = "prepare"
        self.base_commit = ""
        #: The tip of the pending review branch this run builds on, or None.
        self.pending_tip: str | None = None
        self._old_tip: str | None = None
        self._pushed: list[str] = []
        self._committed_storage: str | None = None

    # -- life cycle ----------------------------------------------------------------------
    @contextlib.contextmanager
    def run(self) -> Iterator[PackagingTransaction]:
        """Open the transaction; on any error roll back and raise :class:`PackagingError`."""
        with file_lock(self.registry_root / ".git" / LOCK):
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
        return self.registry_root / ".git" / JOURNAL

    def _prepare(self) -> None:
        if not (self.registry_root / ".dvc").is_dir():
            msg = f"{self.registry_root} is not a DVC registry (no .dvc/ directory)"
            raise BrainioDvcError(msg)
        _remove_stale_worktrees(self.registry_root)
        _recover_journal(self._journal)
        base_commit = Git(self.registry_root).commit_of(self.base)
        if base_commit is None:
            raise BrainioDvcError(
                f"base revision {self.base!r} does not exist in {self.registry_root}"
                + ("; the repository has no commit yet: commit once (`git commit --allow-empty -m 'Empty registry'`)"
                   if self.base == "HEAD" else "")
            )
        self.base_commit = base_commit
        start = self._choose_start()
        Git(self.registry_root).run("worktree", "add", "--quiet", "--detach", str(self.tree), start)
        self._configure_dvc()

    def _choose_start(self) -> str:
        """Build on the branch if it is pending review, else on the base (the branch will move)."""
        self._old_tip = _branch_tip(self.registry_root, self.branch)
        if self._old_tip is None:
            return self.base_commit
        if _checked_out(self.registry_root, self.branch):
            msg = (
                f"branch {self.branch!r} is checked out in a working tree; switch to another branch "
                f"(`git switch main`) so that packaging can add commits to it"
            )
            raise BrainioDvcError(
                msg
            )
        if _is_merged(self.registry_root, self._old_tip, self.base_commit):
            logger.info("branch %s was merged into %s; starting it again from there", self.branch, self.base)
            return self.base_commit
        logger.info("branch %s is pending review; adding to it", self.branch)
        self.pending_tip = self._old_tip
        return self._old_tip

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
            names = list(main.config.get("remote", {}))
            if self.requested_remote and self.requested_remote in names:
                self.remote = self.requested_remote
            else:
                if self.requested_remote:
                    logger.info("the registry has no DVC remote %r; using its default remote", self.requested_remote)
                self.remote = main.config["core"].get("remote")
            if not self.push_enabled and not self.remote:
                local_path = None
            else:
                remote = main.cloud.get_remote(self.remote)
                local_path = Path(remote.path) if remote.fs.protocol in ("local", "file") else None
                self.remote = remote.name
        with Repo(str(self.tree)) as repo, repo.config.edit("local") as local:
            local.setdefault("cache", {})["dir"] = str(self.registry_root / ".dvc" / "cache")
            if local_path is None:
                return
            if local_path.is_relative_to(self.registry_root):
                relative = local_path.relative_to(self.registry_root).as_posix()
                if not Git(self.registry_root).succeeds("check-ignore", "-q", relative):
                    self._committed_storage = relative
                    return
            local.setdefault("remote", {}).setdefault(self.remote, {})["url"] = str(local_path)

    # -- steps ---------------------------------------------------------------------------
    def path(self, relative: PurePosixPath | str) -> Path:
        """A path inside the worktree."""
        return self.tree / str(relative)

    def exists_at_base(self, relative: PurePosixPath | str) -> bool:
        """Whether ``relative`` is tracked at the base revision (not just on the pending branch)."""
        return Git(self.registry_root).succeeds("cat-file", "-e",
                                                f"{self.base_commit}:{relative}.dvc")

    def exists_in_tree(self, relative: PurePosixPath | str) -> bool:
        """Whether ``relative`` is tracked where this run starts (the base or the pending branch)."""
        return Path(f"{self.path(relative)}.dvc").exists()

    def track(self, files: Mapping[PurePosixPath, Mapping[str, str]]) -> dict[PurePosixPath, dict[str, Any]]:
        """``dvc add`` each file, write its meta block, and return its catalog row."""
        from dvc.repo import Repo

        from .completeness import check_staged_pairs

        # No silent loss: a stimulus CSV must list only files of its ZIP.
        check_staged_pairs(
            (self.path(r), str(m.get("lookup_type", "")), str(m.get("class", ""))) for r, m in files.items()
        )
        targets = [str(self.path(relative)) for relative in files]
        with quiet_dvc(), Repo(str(self.tree)) as repo:
            repo.add(targets)
        rows = {}
        for relative, meta in files.items():
            dvc_file = Path(f"{self.path(relative)}.dvc")
            dvc_file.write_text(with_meta(dvc_file.read_text(encoding="utf-8"), meta), encoding="utf-8")
            rows[relative] = parse_dvc_file(dvc_file.read_text(encoding="utf-8"), f"{relative}.dvc")
        return rows

    def build_catalogs(self, known: Mapping[str, tuple[str, Mapping[str, object]]] | None = None) -> None:
        """Regenerate the worktree's catalogs (``known``: rows of ``.dvc`` files just written,
        see :func:`~brainio_dvc.contribute.catalog_build.scan_registry`)."""
        write_catalogs(self.tree, known)

    def push(self, relatives: Sequence[PurePosixPath], md5s: Sequence[str]) -> None:
        """Push the tracked files to the chosen DVC remote (the default one unless asked).

        Every request has the bounded timeouts and retries of cold loads
        (:func:`~brainio_dvc.store.dvc_remote.open_remote_odb`): a remote that is down or hangs fails within
        a bounded time, with a :class:`RemoteError` naming the registry, the remote and the
        identifier; transient errors (5xx, throttling) are retried with backoff.  Files of
        100 MiB and more go up in 50 MiB parts (s3fs's multipart upload).
        """
        if not self.push_enabled:
            return
        from dvc.repo import Repo

        with Repo(str(self.tree)) as repo:
            with _collect_dvc_errors() as collector:
                try:
                    odb = open_remote_odb(repo, self.remote)  # push's own filesystem: bounded too
                    self._pushed = [md5 for md5 in md5s if not odb.fs.exists(odb.oid_to_path(md5))]
                    if self._committed_storage is None:
                        _write_journal(self._journal, self.branch, self._pushed)
                    jobs = config.jobs() or None
                    with quiet_dvc():
                        repo.push(targets=[f"{self.path(r)}.dvc" for r in relatives], jobs=jobs, remote=self.remote)
                    missing = [md5 for md5 in md5s if not odb.fs.exists(odb.oid_to_path(md5))]
                except JournalError:
                    raise
                except Exception as error:
                    cause = collector.errors[0] if collector.errors else error
                    raise self._remote_error(repo, describe_remote_failure(cause)) from error
        if missing:
            msg = f"the remote does not have {missing} after the push"
            raise BrainioDvcError(msg)

    def push_objects(self, md5s: Sequence[str], jobs: int | None = None) -> None:
        """Push objects of the DVC cache by md5, without reading any ``.dvc`` file.

        For runs that wrote their ``.dvc`` files themselves (``migrate --copy``): only the
        objects the remote lacks are sent (one batched status query), ``jobs`` at a time, after
        the journal lists them; then the remote is checked to hold them all.  A run may call it
        more than once (in batches, as objects arrive): the journal keeps every call's objects.
        """
        with self.object_pusher(jobs) as push:
            push(md5s)

    @contextlib.contextmanager
    def object_pusher(self, jobs: int | None = None) -> Iterator[Callable[[Sequence[str]], None]]:
        """:meth:`push_objects` as a function to call once per batch, with the worktree's DVC
        repository and the remote opened once for every batch (opening them costs about 0.1 s)."""
        if not self.push_enabled:
            yield lambda md5s: None
            return
        from dvc.repo import Repo

        with Repo(str(self.tree)) as repo:
            opened: list[Any] = []  # the remote, opened at the first batch

            def push(md5s: Sequence[str]) -> None:
                if md5s:
                    self._push_batch(repo, opened, md5s, jobs)

            yield push

    def _push_batch(self, repo: Any, opened: list[Any], md5s: Sequence[str], jobs: int | None) -> None:
        from dvc_data.hashfile.hash_info import HashInfo
        from dvc_data.hashfile.transfer import transfer

        wanted = {HashInfo("md5", md5) for md5 in md5s}

        def journal(status: Any) -> None:  # what earlier calls of this run pushed stays listed
            self._pushed = sorted({*self._pushed, *(info.value for info in status.new)})
            if self._committed_storage is None:
                _write_journal(self._journal, self.branch, self._pushed)

        with _collect_dvc_errors() as collector:
            try:
                if not opened:
                    opened.append(open_remote_odb(repo, self.remote))  # the transfer uses its filesystem
                odb = opened[0]
                jobs = jobs or config.jobs() or None
                result = transfer(repo.cache.local, odb, wanted, jobs=jobs, validate_status=journal)
                missing = sorted(set(md5s) - set(odb.oids_exist(list(md5s), jobs=jobs)))
            except JournalError:
                raise
            except Exception as error:
                cause = collector.errors[0] if collector.errors else error
                raise self._remote_error(repo, describe_remote_failure(cause)) from error
        if result.failed or missing:
            # A HashInfo's value is typed str | None; key=str sorts the (always str) values as before.
            failed: list[str | None] = sorted((i.value for i in result.failed), key=str)
            msg = f"the remote does not have {missing or failed} after the push"
            raise BrainioDvcError(msg)

    def _remote_error(self, repo: Any, problem: str) -> RemoteError:
        """A push failure naming the registry, the remote (and its URL) and the identifier."""
        url = str(repo.config.get("remote", {}).get(self.remote or "", {}).get("url", ""))
        remote = f"{self.remote} ({url})" if url else str(self.remote)
        return RemoteError(
            str(self.registry_root), remote, f"push failed: {problem}", self.identifier, action="pushing"
        )

    def commit(self, message: str, paths: Sequence[PurePosixPath | str]) -> str:
        """Commit ``paths`` (and committed remote storage), then create or move the branch.

        On a pending branch that already holds exactly these files (a script run again), no
        commit is made and the branch's tip is returned.
        """
        stage_packed(Git(self.tree), [str(p) for p in paths])  # one pack, not a loose object per file
        if self._committed_storage and self.push_enabled:
            Git(self.tree).run("add", "--", self._committed_storage)
        if not Git(self.tree).run("diff", "--cached", "--name-only").strip():
            if self.pending_tip:
                logger.info("branch %s already holds %s unchanged", self.branch, self.identifier)
                return self.pending_tip
            msg = "nothing changed: the registry already holds exactly these files"
            raise BrainioDvcError(msg)
        Git(self.tree).run("commit", "--quiet", "-m", message)
        commit = Git(self.tree).run("rev-parse", "HEAD").strip()
        # Compare and swap: fails if someone moved the branch meanwhile.
        Git(self.registry_root).run("update-ref", "-m", f"brainio-dvc: {message}",
             f"refs/heads/{self.branch}", commit, self._old_tip or _NO_COMMIT)
        return commit

    # -- rollback ------------------------------------------------------------------------
    def _rollback(self) -> None:
        if self._pushed and self._committed_storage is None:
            logger.warning(
                "packaging %s failed after pushing %d objects; they stay on the remote (objects may be shared); "
                "`brainio-dvc gc --remote` removes them once no branch refers to them",
                self.identifier, len(self._pushed))
        with contextlib.suppress(JournalError):
            _drop_journal_entry(self._journal, self.branch)

    def _remove_worktree(self) -> None:
        if self.tree and self.tree.exists():
            with contextlib.suppress(GitError):
                Git(self.registry_root).run("worktree", "remove", "--force", str(self.tree))
        with contextlib.suppress(GitError):
            Git(self.registry_root).run("worktree", "prune")


# -- the journal ---------------------------------------------------------------------------
# It lists, per run that pushed, its branch and the objects it added to the remote.  An entry
# is removed when its run ends; one left by a killed run is reported and removed by the next.


def _journal_entries(journal: Path) -> list[dict[str, Any]]:
    try:
        text = journal.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    try:
        entries = json.loads(text)["runs"]
        return [{"branch": str(e["branch"]), "pushed": [str(md5) for md5 in e["pushed"]]} for e in entries]
    except (ValueError, KeyError, TypeError) as error:
        raise JournalError(str(journal), f"{type(error).__name__}: {error}") from error


def journal_objects(registry_root: Path) -> set[str]:
    """The md5 of every object that a packaging run in progress (or killed) has pushed."""
    entries = _journal_entries(Path(registry_root) / ".git" / JOURNAL)
    return {md5 for entry in entries for md5 in entry["pushed"]}


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


def _recover_journal(journal: Path) -> None:
    """Report the pushes of runs that were killed, then forget them (gc finds their objects)."""
    for entry in _journal_entries(journal):
        if entry["pushed"]:
            logger.warning(
                "an interrupted packaging run for %s had pushed %d objects; they stay on the remote until "
                "`brainio-dvc gc --remote` finds them unreferenced", entry["branch"], len(entry["pushed"]))
    _save_journal(journal, [])


# -- recovery from runs that were killed ---------------------------------------------------


def _stale_worktrees(registry_root: Path) -> list[Path]:
    """Worktrees of earlier packaging runs (runs wait for each other, so those are all dead)."""
    listing = Git(registry_root).run("worktree", "list", "--porcelain")
    paths = [Path(line.removeprefix("worktree ")) for line in listing.splitlines() if line.startswith("worktree ")]
    return [path for path in paths if path.name == "tree" and path.parent.name.startswith(_TEMPORARY_PREFIX)]


def _remove_stale_worktrees(registry_root: Path) -> None:
    """Remove what killed runs left: their worktrees (even half-made, locked ones) and directories."""
    for tree in _stale_worktrees(registry_root):
        logger.warning("removing the worktree %s of an interrupted packaging run", tree)
        with contextlib.suppress(GitError):
            Git(registry_root).run("worktree", "remove", "--force", "--force", str(tree))
        shutil.rmtree(tree.parent, ignore_errors=True)
    Git(registry_root).run("worktree", "prune")
