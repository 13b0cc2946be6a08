"""Identifier rules: BrainIO's naming convention, and safety as a path component.

Pure functions; nothing here touches the file system.
"""

from __future__ import annotations

import re

from .exceptions import IdentifierError

__all__ = [
    "NAMING_CONVENTION",
    "check_naming_convention",
    "check_safe_identifier",
    "check_stimulus_id",
    "relative_path_problem",
]

#: ``<lab>.<FirstAuthorYYYY>[.<variant>...]``, e.g. ``dicarlo.MajajHong2015.public``.
NAMING_CONVENTION = re.compile(
    r"[a-z][a-z0-9]*\.[A-Z][A-Za-z]*[0-9]{4}[a-z]?(\.[A-Za-z0-9][A-Za-z0-9_-]*)*"
)
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_STIMULUS_ID = re.compile(r"[A-Za-z0-9]+")
_DRIVE = re.compile(r"^[A-Za-z]:")


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


def check_safe_identifier(identifier: object, what: str = "identifier") -> str:
    """Refuse an identifier that is empty, not a string, or could escape a directory."""
    if not isinstance(identifier, str) or not identifier:
        raise IdentifierError(what, "a non-empty string", repr(identifier))
    if "\x00" in identifier or "/" in identifier or "\\" in identifier or ".." in identifier:
        raise IdentifierError(
            f"{what} {identifier!r}",
            "letters, digits, '.', '_' and '-' only, without '..', '/' or NUL",
            "a path separator, '..' or NUL",
            hint="identifiers become directory names in the registry",
        )
    if not _SAFE.fullmatch(identifier):
        raise IdentifierError(
            f"{what} {identifier!r}",
            "letters, digits, '.', '_' and '-', starting with a letter or digit",
            "other characters",
        )
    return identifier


def check_naming_convention(identifier: object) -> str:
    """Refuse an identifier that is not ``<lab>.<FirstAuthorYYYY>[.<variant>]``."""
    name = check_safe_identifier(identifier)
    if not NAMING_CONVENTION.fullmatch(name):
        raise IdentifierError(
            f"identifier {name!r}",
            "<lab>.<FirstAuthorYYYY>[.<variant>], e.g. 'dicarlo.MajajHong2015.public'",
            repr(name),
            hint="lab in lower case, then authors in CamelCase followed by the 4-digit year",
        )
    return name


def check_stimulus_id(stimulus_id: object) -> str:
    """Refuse a stimulus_id that is not alphanumeric."""
    if not isinstance(stimulus_id, str) or not _STIMULUS_ID.fullmatch(stimulus_id):
        raise IdentifierError(
            "stimulus_id", "an alphanumeric string (letters and digits only)", repr(stimulus_id)
        )
    return stimulus_id
