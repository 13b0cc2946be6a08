"""Reading git references straight from a git directory, without starting git.

Resolving ``HEAD``, a branch or a tag is on the path of every load, and starting ``git`` costs
far more than the load of a small catalog row.  The answers come from git's own files:

- loose refs (``refs/heads/*``, ``refs/tags/*``) and ``packed-refs``, with its ``^peeled``
  lines, which give the object an annotated tag names;
- the object a tag names, to tell a commit from a tag object (whose ``object`` line is then
  followed) or from a tree: a loose object (zlib), or an entry of a pack found through the
  pack's ``.idx`` (version 2); a delta has the type of its base.

Anything these files cannot answer with certainty (a name that another ref shadows, an
abbreviated or relative revision, a deltified tag object, a tag of something other than a
commit, an alternate object store, the reftable format, a worktree whose ``.git`` is a file)
gives ``None``, and the caller asks git (:mod:`.git`).
"""

from __future__ import annotations

import glob
import mmap
import os
import re
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from ..formats.hashes import is_digest

__all__ = ["RefResolution", "is_branch", "resolve_ref"]

_SYMBOLIC_PREFIX = "ref: "
_MAX_DEPTH = 5
#: Pack object types (``OBJ_COMMIT`` ... ``OBJ_TAG``), then the two kinds of delta.
_PACK_TYPES = {1: "commit", 2: "tree", 3: "blob", 4: "tag"}
_OFS_DELTA, _REF_DELTA = 6, 7
#: Longer delta chains than this (git's default depth is 50) are left to git.
_MAX_DELTA_CHAIN = 100
_IDX_V2 = b"\xfftOc\x00\x00\x00\x02"
#: Enough of an object to hold its header and, for a tag, its ``object`` and ``type`` lines.
_HEAD_BYTES = 512


@dataclass(frozen=True)
class RefResolution:
    """The commit a reference names, and the full name of that reference (``HEAD``,
    ``refs/heads/...`` or ``refs/tags/...``)."""

    commit: str
    ref: str


def resolve_ref(git_dir: str | os.PathLike[str], rev: str) -> RefResolution | None:
    """``HEAD``, a tag or a branch name resolved from files, as ``git rev-parse REV^{commit}``
    would, or None when git has to decide.

    git's order is ``<rev>``, ``refs/<rev>``, ``refs/tags/<rev>``, ``refs/heads/<rev>``: a tag
    wins over a branch of the same name, and a name that a ref earlier in that order would
    shadow is left to git.
    """
    git_dir = os.fspath(git_dir)
    if rev == "HEAD":
        return _follow(git_dir, "HEAD", None, depth=0)
    if not _is_plain_name(rev) or is_digest("sha1", rev, lowercase=True) or _is_unusual(git_dir):
        return None
    packed, peeled = _packed_refs(git_dir)
    if any(_exists(git_dir, shadowing, packed) for shadowing in (rev, f"refs/{rev}")):
        return None
    tag = f"refs/tags/{rev}"
    if _exists(git_dir, tag, packed):
        commit = _tag_commit(git_dir, tag, packed, peeled)
        return RefResolution(commit, tag) if commit else None
    return _follow(git_dir, f"refs/heads/{rev}", packed, depth=0)


def is_branch(git_dir: str | os.PathLike[str], rev: str) -> bool | None:
    """Whether ``rev`` is ``HEAD`` or a branch exists by that name (``refs/heads/<rev>``);
    None when the files cannot tell."""
    git_dir = os.fspath(git_dir)
    if rev == "HEAD":
        return True
    if not _is_plain_name(rev) or _is_unusual(git_dir):
        return None
    return _exists(git_dir, f"refs/heads/{rev}", _packed_refs(git_dir)[0])


def _is_plain_name(rev: str) -> bool:
    if not rev or rev.startswith(("-", "/", ".")) or rev.endswith((".lock", "/", ".")):
        return False
    if any(character in rev for character in " ~^:?*[\\@\x7f") or ".." in rev or "//" in rev:
        return False
    return all(" " < character for character in rev)


def _is_unusual(git_dir: str) -> bool:
    """Not a plain files-backed git directory: no HEAD file, reftable, or a worktree's."""
    return (
        not os.path.isfile(os.path.join(git_dir, "HEAD"))
        or os.path.exists(os.path.join(git_dir, "reftable"))
        or os.path.exists(os.path.join(git_dir, "commondir"))
    )


def _exists(git_dir: str, ref: str, packed: dict[str, str]) -> bool:
    return ref in packed or os.path.exists(os.path.join(git_dir, ref))


def _follow(git_dir: str, ref: str, packed: dict[str, str] | None, depth: int) -> RefResolution | None:
    """``ref`` followed to a commit; ``packed`` (None: not read yet) is read only when a loose
    ref is missing, which saves a file read on every lookup of ``HEAD``."""
    if depth > _MAX_DEPTH:
        return None
    content = _read_loose(os.path.join(git_dir, ref))
    if content is None:
        commit = (_packed_refs(git_dir)[0] if packed is None else packed).get(ref)
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
        return _read_file(path).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _read_file(path: str) -> bytes:
    """The bytes of a file, read with os.read: a quarter of the time of ``open()``, whose
    buffered text layers cost more than reading the 41 bytes of a ref."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(descriptor, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(descriptor)


def _packed_refs(git_dir: str) -> tuple[dict[str, str], dict[str, str]]:
    """``packed-refs`` as ({ref: sha}, {ref: peeled sha}); a ``^sha`` line peels the ref above."""
    try:
        text = _read_file(os.path.join(git_dir, "packed-refs")).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return {}, {}
    refs: dict[str, str] = {}
    peeled: dict[str, str] = {}
    last = None
    for line in text.splitlines():
        if line.startswith("^"):
            if last is not None and is_digest("sha1", line[1:], lowercase=True):
                peeled[last] = line[1:]
            continue
        last = None
        if not line or line.startswith("#"):
            continue
        sha, _, name = line.partition(" ")
        if is_digest("sha1", sha, lowercase=True) and name:
            refs[name] = sha
            last = name
    return refs, peeled


def _tag_commit(
    git_dir: str, ref: str, packed: dict[str, str], peeled: dict[str, str]
) -> str | None:
    """The commit the tag ``ref`` names, from files, or None when they cannot tell."""
    content = _read_loose(os.path.join(git_dir, ref))
    if content is None:
        if ref in peeled:  # an annotated tag, peeled: the peeled object may still be a tree
            return peeled[ref] if _object_type(git_dir, peeled[ref]) == "commit" else None
        sha = packed.get(ref)
    else:
        sha = content
    return _peel(git_dir, sha, depth=0) if sha and is_digest("sha1", sha, lowercase=True) else None


def _peel(git_dir: str, sha: str, depth: int) -> str | None:
    """``sha^{commit}`` for a commit or a chain of tag objects ending at one, else None."""
    if depth > _MAX_DEPTH:
        return None
    found = _object_head(git_dir, sha)
    if found is None:
        return None
    kind, head = found
    if kind == "commit":
        return sha
    if kind != "tag" or head is None:  # not a commit, or a deltified tag object: git decides
        return None
    match = re.match(rb"object ([0-9a-f]{40})\ntype (\w+)\n", head)
    if match is None:
        return None
    target, target_kind = match.group(1).decode(), match.group(2).decode()
    if target_kind == "commit":
        return target
    return _peel(git_dir, target, depth + 1) if target_kind == "tag" else None


def _object_type(git_dir: str, sha: str) -> str | None:
    found = _object_head(git_dir, sha)
    return found[0] if found else None


def _object_head(git_dir: str, sha: str) -> tuple[str, bytes | None] | None:
    """The type and the first bytes of the object ``sha``, loose or in a pack (bytes None for
    a delta), or None when the files do not tell."""
    objects = os.path.join(git_dir, "objects")
    try:
        with open(os.path.join(objects, sha[:2], sha[2:]), "rb") as file:
            raw = zlib.decompressobj().decompress(file.read(4 * _HEAD_BYTES), _HEAD_BYTES)
    except FileNotFoundError:
        return _packed_object_head(objects, bytes.fromhex(sha))
    except (OSError, zlib.error):
        return None
    header, separator, body = raw.partition(b"\0")
    kind = header.split(b" ", 1)[0].decode(errors="replace")
    return (kind, body) if separator and kind in _PACK_TYPES.values() else None


def _packed_object_head(objects: str, sha: bytes) -> tuple[str, bytes | None] | None:
    for index in sorted(glob.glob(os.path.join(glob.escape(objects), "pack", "pack-*.idx"))):
        try:
            offset = _pack_offset(index, sha)
            if offset is None:
                continue
            with open(index.removesuffix(".idx") + ".pack", "rb") as pack:
                return _pack_entry_head(pack, index, offset)
        except (OSError, ValueError, IndexError, zlib.error):  # a pack being rewritten, ...
            return None
    return None


def _pack_entry_head(pack: BinaryIO, index: str, offset: int) -> tuple[str, bytes | None] | None:
    """The type and first bytes of the pack entry at ``offset``.  A delta has its base's type;
    its bytes are not rebuilt (None)."""
    deltified = False
    for _ in range(_MAX_DELTA_CHAIN):
        pack.seek(offset)
        entry = pack.read(4 * _HEAD_BYTES)
        if not entry:
            return None
        byte, position = entry[0], 1
        code = (byte >> 4) & 7
        while byte & 0x80:  # the rest of the size, not needed
            byte, position = entry[position], position + 1
        if code in _PACK_TYPES:
            if deltified:
                return _PACK_TYPES[code], None
            return _PACK_TYPES[code], zlib.decompressobj().decompress(entry[position:], _HEAD_BYTES)
        deltified = True
        if code == _OFS_DELTA:  # the base lies this many bytes before, in git's offset encoding
            byte, position = entry[position], position + 1
            distance = byte & 0x7F
            while byte & 0x80:
                byte, position = entry[position], position + 1
                distance = ((distance + 1) << 7) | (byte & 0x7F)
            offset -= distance
        elif code == _REF_DELTA:  # the base is named; it is in the same pack (packs are not thin)
            base = _pack_offset(index, entry[position : position + 20])
            if base is None:
                return None
            offset = base
        else:
            return None
    return None


def _pack_offset(index: str, sha: bytes) -> int | None:
    """The offset of ``sha`` in the pack of ``index``, or None if it is not there (or the index
    is not of version 2)."""
    with open(index, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if data[:8] != _IDX_V2:
            return None  # version 1: left to git

        def word(at: int) -> int:
            return int.from_bytes(data[at : at + 4], "big")

        fanout = 8
        total = word(fanout + 4 * 255)
        low = word(fanout + 4 * (sha[0] - 1)) if sha[0] else 0
        high = word(fanout + 4 * sha[0])
        names = fanout + 4 * 256
        while low < high:
            middle = (low + high) // 2
            name = data[names + 20 * middle : names + 20 * middle + 20]
            if name == sha:
                offsets = names + 24 * total  # past the names and the CRCs
                offset = word(offsets + 4 * middle)
                if offset & 0x80000000:
                    large = offsets + 4 * total + 8 * (offset & 0x7FFFFFFF)
                    offset = int.from_bytes(data[large : large + 8], "big")
                return offset
            if name < sha:
                low = middle + 1
            else:
                high = middle
    return None
