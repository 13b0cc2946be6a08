"""The ``brainio.lock`` file of an analysis repository: which data its loads get.

A TOML file at the repository's root, written by ``brainio-dvc lock`` (or
:func:`brainio_dvc.lock.record`) and readable by hand::

    # brainio.lock: the data this repository's analyses load (written by `brainio-dvc lock`).
    version = 1

    [assemblies."demo.Gabor2024.neural"]
    registry = "https://github.com/your-lab/registry"   # a git URL or a local path
    rev = "v1"                                          # what was asked for: a tag, branch or commit
    commit = "3f1c...40 hex"                            # what it resolved to: what loads
    stimulus_set = "demo.Gabor2024"
    path = "registry/demo/assemblies/demo.Gabor2024.neural/demo.Gabor2024.neural.nc"
    md5 = "d28d48e96d3f9d0a1a9d757aa9c8fb82"
    sha1 = "14c843f1d5414077f61453f67c16d95f2cf43e64"
    size = 37664

    [stimulus_sets."demo.Gabor2024"]
    registry = "https://github.com/your-lab/registry"
    rev = "v1"
    commit = "3f1c..."
    csv = { path = "registry/demo/stimulus_sets/...csv", md5 = "...", sha1 = "...", size = 1200 }
    zip = { path = "registry/demo/stimulus_sets/...zip", md5 = "...", sha1 = "...", size = 9000 }

Reading is strict: a syntax error, an unknown key, a missing key or a digest that is not hex
raises :class:`~brainio_dvc.exceptions.LockFileError` with the file and the line.  Writing
renders the whole file in a canonical order and replaces it atomically.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..exceptions import IdentifierError, LockFileError
from .atomic import atomic_write_text
from .hashes import is_digest
from .identifiers import check_safe_identifier, relative_path_problem

__all__ = ["LOCK_FILE_NAME", "LockEntry", "LockFile", "LockedFile", "read_lock", "render_lock", "write_lock"]

LOCK_FILE_NAME = "brainio.lock"
LOCK_VERSION = 1
ASSEMBLY = "assembly"
STIMULUS_SET = "stimulus_set"
#: The lock's table of each kind of artifact.
SECTIONS = {ASSEMBLY: "assemblies", STIMULUS_SET: "stimulus_sets"}
_KINDS = {section: kind for kind, section in SECTIONS.items()}
_ROLES = ("csv", "zip")  # a stimulus set's two files, in this order
_HEADER = (
    "# brainio.lock: the data this repository's analyses load, pinned to registry commits.\n"
    "# Written by `brainio-dvc lock`; loads here follow it (see `brainio-dvc why ID`).\n"
)
_FILE_KEYS = ("path", "md5", "sha1", "size")
_ENTRY_KEYS = {
    ASSEMBLY: ("registry", "rev", "commit", "stimulus_set", *_FILE_KEYS),
    STIMULUS_SET: ("registry", "rev", "commit", *_ROLES),
}
_OPTIONAL = frozenset({"rev"})
_TOML_LINE = re.compile(r"at line (\d+)")


@dataclass(frozen=True)
class LockedFile:
    """One locked file: its path in the registry and its content."""

    path: str
    md5: str
    sha1: str
    size: int


@dataclass(frozen=True)
class LockEntry:
    """One locked identifier: where it is and what it holds."""

    kind: str  # "assembly" or "stimulus_set"
    identifier: str
    registry: str
    commit: str
    files: tuple[LockedFile, ...]  # an assembly's netCDF file; a stimulus set's CSV and ZIP
    rev: str | None = None
    stimulus_set: str | None = None  # an assembly's stimulus set

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.identifier)


@dataclass(frozen=True)
class LockFile:
    """A parsed lock file; ``entries`` by (kind, identifier)."""

    path: Path
    entries: Mapping[tuple[str, str], LockEntry] = field(default_factory=dict)

    def get(self, kind: str, identifier: str) -> LockEntry | None:
        return self.entries.get((kind, identifier))

    def with_entries(self, entries: Iterable[LockEntry]) -> LockFile:
        """This lock with ``entries`` added or replacing those of the same identifier and kind."""
        merged = dict(self.entries)
        merged.update((entry.key, entry) for entry in entries)
        return LockFile(self.path, merged)


# -- reading ----------------------------------------------------------------------------------
def read_lock(path: Path) -> LockFile:
    """Parse the lock file at ``path``; LockFileError naming the line for anything wrong."""
    import tomllib  # imported here: most loads happen where there is no lock file

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise LockFileError(str(path), None, f"not UTF-8 text ({error.reason})") from error
    except OSError as error:
        raise LockFileError(str(path), None, f"cannot be read ({error.strerror or error})") from error
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        found = getattr(error, "lineno", None) or _TOML_LINE.search(str(error))
        line = found if isinstance(found, int) else int(found.group(1)) if found else None
        raise LockFileError(str(path), line, f"invalid TOML ({error})") from error
    return _Parser(path, text).lock(document)


class _Parser:
    """Checks a parsed lock document, naming the line of every problem it finds."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def fail(self, problem: str, table: tuple[str, ...] = (), key: str | None = None) -> LockFileError:
        return LockFileError(str(self.path), _line_of(self.lines, table, key), problem)

    def lock(self, document: Mapping[str, Any]) -> LockFile:
        for key in document:
            if key not in ("version", *SECTIONS.values()):
                msg = f"unknown key {key!r} (expected version, assemblies, stimulus_sets)"
                raise self.fail(msg, (), key)
        version = document.get("version")
        if version != LOCK_VERSION:
            msg = f"version is {version!r}, expected {LOCK_VERSION}"
            raise self.fail(msg, (), "version")
        entries: dict[tuple[str, str], LockEntry] = {}
        for section, kind in _KINDS.items():
            table = document.get(section, {})
            if not isinstance(table, Mapping):
                msg = f"{section} must be a table of identifiers"
                raise self.fail(msg, (), section)
            for identifier, values in table.items():
                entry = self.entry(kind, section, identifier, values)
                entries[entry.key] = entry
        return LockFile(self.path, entries)

    def entry(self, kind: str, section: str, identifier: str, values: object) -> LockEntry:
        where = (section, identifier)
        try:
            check_safe_identifier(identifier)
        except IdentifierError as error:
            raise self.fail(str(error), where) from error
        if not isinstance(values, Mapping):
            msg = f"{section}.{identifier} must be a table"
            raise self.fail(msg, (section,), identifier)
        self.check_keys(values, _ENTRY_KEYS[kind], f"{kind} {identifier!r}", where)
        registry = self.text(values, "registry", where)
        rev = self.text(values, "rev", where) if "rev" in values else None
        commit = self.digest(values, "commit", where)
        if kind == ASSEMBLY:
            files: tuple[LockedFile, ...] = (self.file(values, where, None),)
            stimulus_set = self.text(values, "stimulus_set", where)
        else:
            files = tuple(self.file(values, where, role) for role in _ROLES)
            stimulus_set = None
        return LockEntry(kind, identifier, registry, commit, files, rev=rev, stimulus_set=stimulus_set)

    def check_keys(self, values: Mapping[str, Any], known: tuple[str, ...], what: str, where: tuple[str, ...]) -> None:
        for key in values:
            if key not in known:
                msg = f"unknown key {key!r} in {what} (expected {', '.join(known)})"
                raise self.fail(msg, where, key)
        missing = [key for key in known if key not in values and key not in _OPTIONAL]
        if missing:
            msg = f"{what} has no {', '.join(missing)}"
            raise self.fail(msg, where)

    def file(self, values: Mapping[str, Any], where: tuple[str, ...], role: str | None) -> LockedFile:
        if role is not None:
            found = values[role]
            if not isinstance(found, Mapping):
                msg = f"{role} must be a table with {', '.join(_FILE_KEYS)}"
                raise self.fail(msg, where, role)
            self.check_keys(found, _FILE_KEYS, f"{where[1]!r} {role}", where)
            values = found
        key_of = (lambda key: role) if role is not None else (lambda key: key)  # the line to name
        path = values["path"]
        problem = relative_path_problem(path) if isinstance(path, str) else "not text"
        if problem:
            msg = f"path {path!r} must be a relative path in the registry (found {problem})"
            raise self.fail(msg, where, key_of("path"))
        size = values["size"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            msg = f"size {size!r} must be a number of bytes"
            raise self.fail(msg, where, key_of("size"))
        md5 = self.digest(values, "md5", where, key_of("md5"))
        sha1 = self.digest(values, "sha1", where, key_of("sha1"))
        return LockedFile(path=path, md5=md5, sha1=sha1, size=size)

    def text(self, values: Mapping[str, Any], key: str, where: tuple[str, ...]) -> str:
        value = values[key]
        if not isinstance(value, str) or not value:
            msg = f"{key} must be non-empty text, found {value!r}"
            raise self.fail(msg, where, key)
        return value

    def digest(self, values: Mapping[str, Any], key: str, where: tuple[str, ...], line_key: str | None = None) -> str:
        value = values[key]
        if not is_digest("md5" if key == "md5" else "sha1", value, lowercase=True):  # a commit id is a sha1
            digits = 32 if key == "md5" else 40
            msg = f"{key} {value!r} is not {digits} lower-case hex digits"
            raise self.fail(msg, where, line_key or key)
        return value


def _header_path(line: str) -> tuple[str, ...] | None:
    """The keys of a TOML table header line such as ``[assemblies."demo.X"]``, else None."""
    stripped = line.strip()
    if not stripped.startswith("[") or stripped.startswith("[["):
        return None
    inner = stripped[1:].split("]", 1)[0] if '"' not in stripped else stripped[1:stripped.rfind("]")]
    parts, current, quoted = [], "", False
    for char in inner:
        if char == '"':
            quoted = not quoted
        elif char == "." and not quoted:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return tuple(parts)


def _line_of(lines: list[str], table: tuple[str, ...], key: str | None) -> int | None:
    """The 1-based line of ``key`` in ``table`` (or of the table's header), as best as can be told."""
    current: tuple[str, ...] = ()
    headers: dict[tuple[str, ...], int] = {}
    key_pattern = re.compile(rf'^\s*"?{re.escape(key)}"?\s*=') if key else None
    for number, line in enumerate(lines, 1):
        header = _header_path(line)
        if header is not None:
            current = header
            headers.setdefault(current, number)
            continue
        if key_pattern is not None and current == table and key_pattern.match(line):
            return number
    for candidate in ((*table, key) if key else None, table):
        if candidate is not None and candidate in headers:
            return headers[candidate]
    if len(table) > 1:  # an identifier written as a dotted key or an inline table
        for number, line in enumerate(lines, 1):
            if f'"{table[-1]}"' in line or line.strip().startswith(table[-1]):
                return number
    return None


# -- writing ----------------------------------------------------------------------------------
def _string(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's, but for DEL)."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _file_fields(locked: LockedFile) -> list[tuple[str, str]]:
    return [("path", _string(locked.path)), ("md5", _string(locked.md5)), ("sha1", _string(locked.sha1)),
            ("size", str(locked.size))]


def render_lock(lock: LockFile) -> str:
    """The lock file's text, in canonical order: the same entries always give the same bytes."""
    parts = [_HEADER, f"version = {LOCK_VERSION}\n"]
    for kind, section in SECTIONS.items():
        for key in sorted(key for key in lock.entries if key[0] == kind):
            entry = lock.entries[key]
            fields = [("registry", _string(entry.registry))]
            if entry.rev:
                fields.append(("rev", _string(entry.rev)))
            fields.append(("commit", _string(entry.commit)))
            if kind == ASSEMBLY:
                fields.append(("stimulus_set", _string(entry.stimulus_set or "")))
                fields.extend(_file_fields(entry.files[0]))
            else:
                for role, locked in zip(_ROLES, entry.files, strict=True):
                    inline = ", ".join(f"{name} = {value}" for name, value in _file_fields(locked))
                    fields.append((role, "{ " + inline + " }"))
            body = "".join(f"{name} = {value}\n" for name, value in fields)
            parts.append(f"\n[{section}.{_string(entry.identifier)}]\n{body}")
    return "".join(parts)


def write_lock(lock: LockFile) -> None:
    """Write ``lock`` to its path atomically (readers see the old file or the new one)."""
    atomic_write_text(lock.path, render_lock(lock))


def lock_signature(path: Path) -> tuple[int, int, int] | None:
    """What tells that a lock file changed without reading it: (mtime, size, inode), or None if absent."""
    try:
        status = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return (status.st_mtime_ns, status.st_size, status.st_ino)
