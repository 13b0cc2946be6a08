"""Identifier rules: what is safe as a path component, and BrainIO's naming convention (advice).

Pure functions; nothing here touches the file system.

Packaging refuses only what would escape a directory or break the registry layout
(:func:`check_safe_identifier`, :func:`check_stimulus_id`).  The naming convention
``<lab>.<FirstAuthorYYYY>[.<variant>]`` is advice: :func:`naming_problem` says how a name
breaks it, and ``brainio-dvc catalog check`` warns about it (``--strict`` fails on new names).
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Sequence

from ..exceptions import IdentifierError

__all__ = [
    "DEFAULT_CATALOG",
    "NAMING_CONVENTION",
    "check_naming_convention",
    "check_safe_identifier",
    "check_stimulus_id",
    "default_catalog",
    "naming_problem",
    "relative_path_problem",
    "unsafe_relative_paths",
]

#: ``<lab>.<FirstAuthorYYYY>[.<variant>...]``, e.g. ``dicarlo.MajajHong2015.public``.
NAMING_CONVENTION = re.compile(
    r"[a-z][a-z0-9]*\.[A-Z][A-Za-z]*[0-9]{4}[a-z]?(\.[A-Za-z0-9][A-Za-z0-9_-]*)*"
)
#: The catalog of an identifier without a ``<lab>.`` prefix when no catalog is given.
DEFAULT_CATALOG = "brainscore"
#: ASCII letters, digits, '.', '_' and '-'; first a letter or digit, last not a '.' (Windows
#: drops trailing dots from directory names).  Everything else could be a path separator, a
#: glob or comment character in .gitignore, or a character some file system refuses.
_SAFE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9_-])?")
_DRIVE = re.compile(r"^[A-Za-z]:")
#: What may not appear in a stimulus id, which becomes a file name inside the stimulus ZIP.
_STIMULUS_ID_FORBIDDEN = re.compile(r"[/\\\x00-\x1f\x7f:*?\"<>|]")


def relative_path_problem(name: str) -> str | None:
    """Why ``name`` cannot be a relative path that stays inside its directory, or None.

    Used for ZIP entries and the ``filename`` column of stimulus CSVs: both are joined to a
    directory, so absolute paths, drive letters, ``..``, backslashes and NUL are refused.
    """
    if not [part for part in name.split("/") if part not in ("", ".")]:
        return "no file name"
    if "\x00" in name:
        return "a NUL character"
    if "\\" in name:
        return "a backslash (a Windows path separator)"
    if name.startswith("/"):
        return "an absolute path"
    if _DRIVE.match(name):
        return "a drive letter"
    if ".." in name.split("/"):
        return "a '..' component"
    return None


def _suspicious(name: str) -> bool:
    """A fast screen: every name :func:`relative_path_problem` refuses has a backslash, NUL,
    '..', a leading '/' or drive letter, or nothing but dots and slashes."""
    return (
        "\\" in name or "\x00" in name or ".." in name or name[:1] == "/" or name[1:2] == ":"
        or not name.strip("./")
    )


#: The part of :func:`_suspicious` that looks at the start of a name, for every line of a text
#: at once (a name per line, none with a newline).  Each alternative starts with the anchor, so
#: the expression fails at once wherever a line does not start.
_SUSPICIOUS_LINE_START = re.compile(r"^(?:/|.:|[./]*$)", re.MULTILINE)


def unsafe_relative_paths(names: Sequence[str]) -> list[tuple[str, str]]:
    """The names of ``names`` that :func:`relative_path_problem` refuses, with its reason, in order.

    The names are screened all at once, as the lines of one text: substring searches for what
    may not appear anywhere in a name, and one anchored regular expression for what may not
    start one (about 3 ms for 5,760 names of 44 characters, the files of a stimulus set).  Only
    when that flags something are they screened one by one and the flagged ones examined.
    """
    lines = "\n".join(names)
    if (lines.count("\n") == len(names) - 1 and "\\" not in lines and "\x00" not in lines and ".." not in lines
            and not _SUSPICIOUS_LINE_START.search(lines)):
        return []
    return [(name, reason) for name in names
            if _suspicious(name) and (reason := relative_path_problem(name)) is not None]


def check_safe_identifier(identifier: object, what: str = "identifier") -> str:
    """Refuse an identifier that is empty, not a string, or unsafe as a directory name.

    Accepts every name made of ASCII letters, digits, ``.``, ``_`` and ``-`` that starts
    with a letter or digit and does not end with ``.``: ``dicarlo.hvm-public``,
    ``BMD_2024_texture_1`` and ``Lonnqvist2024_train`` are all fine.
    """
    if not isinstance(identifier, str) or not identifier:
        raise IdentifierError(what, "a non-empty string", repr(identifier))
    if "\x00" in identifier or "/" in identifier or "\\" in identifier or identifier in (".", ".."):
        msg = f"{what} {identifier!r}"
        raise IdentifierError(
            msg,
            "a name without '/', '\\' or NUL that is not '.' or '..'",
            "a path separator, '..' or NUL",
            hint="identifiers become directory names in the registry",
        )
    if not _SAFE.fullmatch(identifier):
        msg = f"{what} {identifier!r}"
        raise IdentifierError(
            msg,
            "ASCII letters, digits, '.', '_' and '-', starting with a letter or digit and not ending with '.'",
            "other characters",
            hint="identifiers become directory and file names in the registry",
        )
    return identifier


def naming_problem(identifier: str) -> str | None:
    """How ``identifier`` breaks the naming convention, or None when it follows it."""
    if NAMING_CONVENTION.fullmatch(identifier):
        return None
    return (
        f"{identifier!r} does not follow <lab>.<FirstAuthorYYYY>[.<variant>], e.g. 'dicarlo.MajajHong2015.public' "
        "(lab in lower case, then authors in CamelCase followed by the 4-digit year)"
    )


def check_naming_convention(identifier: object) -> str:
    """Refuse an identifier that is unsafe or not ``<lab>.<FirstAuthorYYYY>[.<variant>]``.

    Packaging does not call this (BrainIO's ``package_*`` never did); it is for those who
    want the convention enforced.
    """
    name = check_safe_identifier(identifier)
    if naming_problem(name):
        msg = f"identifier {name!r}"
        raise IdentifierError(
            msg,
            "<lab>.<FirstAuthorYYYY>[.<variant>], e.g. 'dicarlo.MajajHong2015.public'",
            repr(name),
            hint="lab in lower case, then authors in CamelCase followed by the 4-digit year",
        )
    return name


def default_catalog(identifier: str) -> str:
    """The catalog of ``identifier`` when none is given (BrainIO's ``catalog_name=None``).

    The part before the first ``.`` (the lab: ``dicarlo.hvm-public`` -> ``dicarlo``), or
    :data:`DEFAULT_CATALOG` for an identifier without one (``Lonnqvist2024_train``).
    """
    lab, dot, _ = identifier.partition(".")
    return lab if dot and _SAFE.fullmatch(lab) else DEFAULT_CATALOG


def check_stimulus_id(stimulus_id: object) -> str:
    """Refuse a stimulus_id that is missing or unsafe as a file name; return it as a string.

    Any non-empty string (``Airplane_11_t1``, ``im-3.v2``) or integer (``12``) is accepted
    unless it holds a path separator, a control character or a character that some file
    system refuses (``:*?"<>|``), is ``.`` or ``..``, or has leading or trailing blanks.
    """
    if isinstance(stimulus_id, numbers.Integral) and not isinstance(stimulus_id, bool):
        return str(stimulus_id)
    if (
        not isinstance(stimulus_id, str)
        or not stimulus_id
        or stimulus_id in (".", "..")
        or stimulus_id != stimulus_id.strip()
        or _STIMULUS_ID_FORBIDDEN.search(stimulus_id)
    ):
        msg = "stimulus_id"
        raise IdentifierError(
            msg,
            "a non-empty string or an integer that is safe as a file name "
            "(no '/', '\\', control characters or :*?\"<>|, not '.' or '..', no leading or trailing blanks)",
            repr(stimulus_id),
        )
    return stimulus_id
