"""Reading git references straight from a git directory, without starting git.

Resolving ``HEAD`` or a branch is on the path of every load, and starting ``git`` (or importing
GitPython) costs far more than the load of a small catalog row.  Branches always point at
commits, so their files answer directly.  Anything this module cannot answer with certainty
(tags, which may point at tag objects; abbreviated or relative revisions; unusual layouts) gives
``None``, and the caller asks git.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..formats.hashes import is_digest

__all__ = ["RefResolution", "resolve_branch_ref"]

_SYMBOLIC_PREFIX = "ref: "
_MAX_SYMBOLIC_DEPTH = 5


@dataclass(frozen=True)
class RefResolution:
    """The commit a moving reference points at, and the full name of that reference."""

    commit: str
    ref: str


def resolve_branch_ref(git_dir: str | os.PathLike[str], rev: str) -> RefResolution | None:
    """``HEAD`` or a branch name resolved from files, or None when git has to decide.

    A name that is also a tag or some other ref resolves as git would (tags win), so such
    names are left to git as well.
    """
    git_dir = os.fspath(git_dir)
    if rev == "HEAD":
        return _follow(git_dir, "HEAD", _packed_refs(git_dir), depth=0)
    if not _is_plain_branch_name(rev):
        return None
    packed = _packed_refs(git_dir)
    # git's order: <rev>, refs/<rev>, refs/tags/<rev>, refs/heads/<rev>; anything that would
    # shadow the branch sends the question to git.
    for shadowing in (rev, f"refs/{rev}", f"refs/tags/{rev}"):
        if shadowing in packed or os.path.exists(os.path.join(git_dir, shadowing)):
            return None
    return _follow(git_dir, f"refs/heads/{rev}", packed, depth=0)


def _is_plain_branch_name(rev: str) -> bool:
    if not rev or rev.startswith(("-", "/", ".")) or rev.endswith((".lock", "/", ".")):
        return False
    if any(character in rev for character in " ~^:?*[\\@\x7f") or ".." in rev or "//" in rev:
        return False
    return all(" " < character for character in rev)


def _follow(git_dir: str, ref: str, packed: dict[str, str], depth: int) -> RefResolution | None:
    if depth > _MAX_SYMBOLIC_DEPTH:
        return None
    content = _read_loose(os.path.join(git_dir, ref))
    if content is None:
        commit = packed.get(ref)
        return RefResolution(commit, ref) if commit and ref.startswith("refs/heads/") else None
    if content.startswith(_SYMBOLIC_PREFIX):
        target = content.removeprefix(_SYMBOLIC_PREFIX).strip()
        if not target.startswith("refs/heads/"):
            return None
        return _follow(git_dir, target, packed, depth + 1)
    if is_digest("sha1", content, lowercase=True) and (ref == "HEAD" or ref.startswith("refs/heads/")):
        return RefResolution(content, ref)
    return None


def _read_loose(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as file:
            return file.read().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _packed_refs(git_dir: str) -> dict[str, str]:
    """``packed-refs`` as {ref: sha}; peeled lines (``^sha``) are skipped."""
    try:
        with open(os.path.join(git_dir, "packed-refs"), encoding="utf-8") as file:
            text = file.read()
    except (OSError, UnicodeDecodeError):
        return {}
    refs = {}
    for line in text.splitlines():
        if not line or line[0] in "#^":
            continue
        sha, _, name = line.partition(" ")
        if is_digest("sha1", sha, lowercase=True) and name:
            refs[name] = sha
    return refs
