"""Every git command brainio_dvc runs goes through this module.

**Why the ``git`` executable rather than GitPython.**  Importing GitPython costs a cold load
0.1-0.2 s (more on a busy machine), more than the few git processes a load starts, and
GitPython starts ``git`` anyway to read objects (a ``cat-file --batch`` process), to log and to
fetch.  Plumbing commands (``rev-parse``, ``cat-file --batch``, ``ls-tree``, ``for-each-ref``,
``log``) give exactly what is asked, in a stable format.  What git's own files answer
(``HEAD``, branches and tags) is read from them by :mod:`.gitrefs`, without starting git at
all, so resolving a revision on the warm path starts no process.  GitPython stays a dependency
of the package only because DVC's ``scmrepo`` needs it.

A :class:`Git` names one repository: a working tree (git runs there) or, with ``bare``, a git
directory (git runs with ``--git-dir``).  A command that fails raises
:class:`~brainio_dvc.exceptions.GitError` with the command, the repository and git's stderr,
except where a method says it answers with None or False.  git never prompts for credentials
(``GIT_TERMINAL_PROMPT=0``): a registry that needs them fails instead of hanging.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..exceptions import GitError

__all__ = ["Git", "clone", "stage_packed"]


_NOT_STARTED = 127  # the shell's exit code for a command it cannot find


def _environment() -> dict[str, str]:
    return {**os.environ, "GIT_TERMINAL_PROMPT": "0"}


def _start(
    command: list[str], cwd: Path | None, stdin: bytes | None
) -> subprocess.CompletedProcess[bytes]:
    """Run ``command``; a git that cannot be started answers like a failed command."""
    try:
        return subprocess.run(
            command, cwd=cwd, input=stdin, capture_output=True, env=_environment(), check=False
        )
    except OSError as error:  # no git on PATH, or ``cwd`` is gone
        said = (
            f"git could not be started ({error.strerror or error}); is git installed and on PATH?"
        )
        return subprocess.CompletedProcess(command, _NOT_STARTED, b"", said.encode())


def _raise(
    repository: str, command: Sequence[str], completed: subprocess.CompletedProcess[bytes]
) -> None:
    said = completed.stderr.strip() or completed.stdout.strip()
    raise GitError(repository, list(command), said.decode(errors="replace"), completed.returncode)


@dataclass(frozen=True)
class Git:
    """git in the repository at ``path``; ``label`` is how errors name it (default: the path)."""

    path: Path
    bare: bool = False
    label: str | None = None

    @property
    def repository(self) -> str:
        return self.label or str(self.path)

    def _command(self, args: Sequence[str]) -> list[str]:
        return ["git", "--git-dir", str(self.path), *args] if self.bare else ["git", *args]

    def _run(self, args: Sequence[str], stdin: bytes | None) -> subprocess.CompletedProcess[bytes]:
        return _start(self._command(args), None if self.bare else self.path, stdin)

    def run_bytes(self, *args: str, stdin: bytes | None = None) -> bytes:
        """git's stdout, as bytes."""
        completed = self._run(args, stdin)
        if completed.returncode != 0:
            _raise(self.repository, self._command(args), completed)
        return completed.stdout

    def run(self, *args: str, stdin: str | None = None) -> str:
        """git's stdout, as text."""
        return self.run_bytes(*args, stdin=None if stdin is None else stdin.encode()).decode()

    def succeeds(self, *args: str) -> bool:
        """Whether git exits with 0 (for commands whose answer is their exit code)."""
        return self._run(args, None).returncode == 0

    def output_or_none(self, *args: str) -> str | None:
        """git's stripped stdout, or None when the command fails."""
        completed = self._run(args, None)
        return completed.stdout.decode().strip() if completed.returncode == 0 else None

    def commit_of(self, rev: str) -> str | None:
        """The 40-hex commit ``rev`` names (tags peeled), or None when it names none."""
        return self.output_or_none(
            "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"
        )

    def read_objects(self, names: Sequence[str]) -> list[tuple[str, bytes] | None]:
        """``(type, content)`` of each object name (``sha``, ``commit:path``, ...), None for each
        one that does not exist, in one ``git cat-file --batch``."""
        if not names:
            return []
        request = "".join(f"{name}\n" for name in names).encode()
        data = self.run_bytes("cat-file", "--batch", stdin=request)
        found: list[tuple[str, bytes] | None] = []
        for _ in names:
            header, _, data = data.partition(b"\n")
            fields = header.split()
            if header.endswith(b" missing"):
                found.append(None)
                continue
            if len(fields) != 3:
                said = f"unexpected answer {header.decode(errors='replace')!r}"
                raise GitError(self.repository, self._command(["cat-file", "--batch"]), said, 0)
            size = int(fields[2])
            found.append((fields[1].decode(), data[:size]))
            data = data[size + 1 :]
        return found

    def list_tree(self, treeish: str) -> list[str] | None:
        """The names directly in the tree ``treeish`` (``commit:path``), or None when it is none."""
        completed = self._run(["ls-tree", "--name-only", "-z", treeish], None)
        if completed.returncode != 0:
            return None
        return [name.decode() for name in completed.stdout.split(b"\0") if name]

    def config_value(self, key: str) -> str | None:
        """The value of the git setting ``key`` in this repository, or None when it is unset."""
        return self.output_or_none("config", "--get", key)

    def commit_date(self, commit: str) -> str:
        """The committer date of ``commit``, ISO 8601 with its offset
        (``2024-05-01T12:00:00+02:00``)."""
        return self.run("show", "--no-patch", "--format=%cI", commit, "--").strip()

    def tags(self) -> dict[str, str]:
        """Every tag's name (without ``refs/tags/``) -> the commit it names (annotated tags
        peeled, as ``TAG^{commit}``); tags of something other than a commit are left out."""
        names = self.run("for-each-ref", "--format=%(refname)", "refs/tags").split()
        if not names:
            return {}
        peeled = self.run(
            "cat-file",
            "--batch-check=%(objectname) %(objecttype)",
            stdin="".join(f"{name}^{{commit}}\n" for name in names),
        ).splitlines()
        tags = {}
        for name, line in zip(names, peeled, strict=True):
            sha, _, kind = line.partition(" ")
            if kind == "commit":
                tags[name.removeprefix("refs/tags/")] = sha
        return tags


def clone(source: str, destination: Path, *options: str) -> None:
    """``git clone [options] source destination``."""
    command = ["git", "clone", *options, source, str(destination)]
    completed = _start(command, None, None)
    if completed.returncode != 0:
        _raise(source, command, completed)


_PACKED_FILE_LIMIT = 16 << 20


def _blob_id(content: bytes) -> str:
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()


_CONVERTING_ATTRIBUTES = ("filter", "text", "eol", "ident", "working-tree-encoding", "crlf")


def _git_would_convert(git: Git, names: Sequence[str]) -> bool:
    """Whether ``git add`` could store other bytes than the files hold, or another mode."""
    settings = git.output_or_none("config", "--get-regexp", r"^core\.(autocrlf|filemode)$") or ""
    for line in settings.lower().splitlines():
        key, _, value = line.partition(" ")
        if (key == "core.autocrlf" and value not in ("false", "0", "no", "off", "")) or (
            key == "core.filemode" and value in ("false", "0", "no", "off")
        ):
            return True
    answer = git.run_bytes("check-attr", "-z", "--stdin", *_CONVERTING_ATTRIBUTES,
                           stdin="".join(f"{name}\0" for name in names).encode())
    values = answer.split(b"\0")[2::3]
    return any(value != b"unspecified" for value in values)


def stage_packed(git: Git, paths: Sequence[str]) -> None:
    """Stage ``paths`` (files or directories) as ``git add -- paths`` does, but with the new
    blobs written as one pack by ``git fast-import`` instead of one loose object file each.

    A commit of hundreds of small files (a migration's ``.dvc`` files) otherwise creates as many
    object files, in as many directories.  What the paths hold is what ``git ls-files`` lists as
    new (not ignored) or changed; files that are gone are removed from the index.  Everything is
    left to ``git add`` when git would not store the bytes as they are or would not take the
    file's mode (``core.autocrlf``, ``core.fileMode`` false, or a ``filter``, ``text``, ``eol``,
    ``ident`` or ``working-tree-encoding`` attribute on any of the files), or when a symbolic
    link, anything else but a regular file, or a file over 16 MiB is among them (they are read
    into memory).
    """
    import stat

    if git.bare:
        msg = "stage_packed needs a working tree"
        raise GitError(git.repository, ["add"], msg, 0)
    listed = git.run_bytes("ls-files", "-z", "--others", "--modified", "--exclude-standard", "--", *paths)
    names = list(dict.fromkeys(name.decode() for name in listed.split(b"\0") if name))
    if names and _git_would_convert(git, names):
        git.run("add", "--", *paths)
        return
    stream: list[bytes] = []
    entries: list[str] = []
    for name in names:
        try:
            status = (git.path / name).lstat()
        except FileNotFoundError:
            entries.append(f"0 {'0' * 40}\t{name}")
            continue
        if not stat.S_ISREG(status.st_mode) or status.st_size > _PACKED_FILE_LIMIT:
            git.run("add", "--", *paths)
            return
        content = (git.path / name).read_bytes()
        mode = "100755" if status.st_mode & stat.S_IXUSR else "100644"
        stream += [b"blob\ndata %d\n" % len(content), content, b"\n"]
        entries.append(f"{mode} {_blob_id(content)}\t{name}")
    if stream:
        git.run_bytes("fast-import", "--quiet", stdin=b"".join(stream))
    if entries:
        git.run_bytes("update-index", "-z", "--add", "--remove", "--index-info",
                      stdin="".join(f"{entry}\0" for entry in entries).encode())
