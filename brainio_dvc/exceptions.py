"""Every exception brainio_dvc raises.

All of them derive from :class:`BrainioDvcError`.  Each subclass carries the facts of the
failure as attributes and formats its own message: what failed, what was expected, what was
found, and how to fix it.  Lookup failures are also :class:`KeyError` subclasses, as in BrainIO.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AssemblyLookupError",
    "BrainioDvcError",
    "CardError",
    "CatalogFormatError",
    "CatalogLookupError",
    "CatalogRowError",
    "ConfigurationError",
    "GitError",
    "GroupbyError",
    "IdentifierError",
    "IdentifierLookupError",
    "IntegrityError",
    "JournalError",
    "LockFileError",
    "MigrationError",
    "PackagingError",
    "PinError",
    "RegistryError",
    "RemoteError",
    "RevisionNotFoundError",
    "S3ObjectError",
    "SourceChangedError",
    "StimulusSetLookupError",
    "UnknownClassError",
    "UnsafeArchiveError",
    "ValidationError",
]


class BrainioDvcError(Exception):
    """Base class of every error raised by brainio_dvc."""


class ConfigurationError(BrainioDvcError, ValueError):
    """A setting has a value that cannot be used."""

    def __init__(self, setting: str, value: object, expected: str, source: str) -> None:
        self.setting = setting
        self.value = value
        self.expected = expected
        self.source = source
        super().__init__(
            f"setting {setting!r} from {source} is {value!r}, but it must be {expected}"
        )


class _LookupKeyError(BrainioDvcError, KeyError):
    """An identifier is not known. ``str()`` gives the message, not its repr as KeyError does."""

    kind = "identifier"

    def __init__(
        self,
        identifier: str,
        searched: Sequence[str] = (),
        suggestions: Sequence[str] = (),
    ) -> None:
        self.identifier = identifier
        self.searched = list(searched)
        self.suggestions = list(suggestions)
        message = f"{self.kind} {identifier!r} not found"
        if self.searched:
            message += " in " + ", ".join(self.searched)
        if self.suggestions:
            message += "; did you mean " + ", ".join(repr(s) for s in self.suggestions) + "?"
        else:
            message += "; `brainio-dvc list` shows the known identifiers"
        self.message = message
        super().__init__(message)

    def __str__(self) -> str:
        return self.message


class AssemblyLookupError(_LookupKeyError):
    """No catalog has an assembly of this identifier."""

    kind = "assembly"


class StimulusSetLookupError(_LookupKeyError):
    """No catalog has a stimulus set of this identifier."""

    kind = "stimulus set"


class IdentifierLookupError(_LookupKeyError):
    """No catalog has an assembly or a stimulus set of this identifier."""

    kind = "identifier"


class CatalogLookupError(_LookupKeyError):
    """No catalog of this identifier is installed or configured."""

    kind = "catalog"


class ValidationError(BrainioDvcError, ValueError):
    """Input breaks the BrainIO format: names the subject, the expectation and the finding."""

    def __init__(self, subject: str, expected: str, found: str, hint: str | None = None) -> None:
        self.subject = subject
        self.expected = expected
        self.found = found
        self.hint = hint
        message = f"{subject}: expected {expected}, found {found}"
        if hint:
            message += f" ({hint})"
        super().__init__(message)


class CardError(ValidationError):
    """A dataset card breaks its schema: names the card, the field (dotted path) and the value."""

    def __init__(self, source: str, field: str, expected: str, found: str) -> None:
        self.source = source
        self.field = field
        where = f"{source}: card field {field!r}" if field else f"{source}: card"
        super().__init__(where, expected, found, hint="see brainio_dvc/card.schema.json")


class IdentifierError(ValidationError):
    """An identifier breaks the naming convention or is unsafe as a path."""


class GroupbyError(ValidationError):
    """Coordinates to group on do not all lie on one and the same dimension (as in BrainIO)."""


class UnknownClassError(ValidationError):
    """A class name is not one of the known assembly or stimulus set classes."""

    def __init__(self, name: str, kind: str, known: Sequence[str]) -> None:
        self.name = name
        self.known = list(known)
        super().__init__(
            subject=f"{kind} class {name!r}",
            expected="one of " + ", ".join(self.known),
            found=repr(name),
        )


class UnsafeArchiveError(ValidationError):
    """A ZIP archive has entries that would escape the target directory, or symlinks."""


class CatalogFormatError(ValidationError):
    """A lookup CSV cannot be read as a catalog. ``line`` is 1-based, counting the header."""

    def __init__(
        self, path: str, expected: str, found: str, line: int | None = None
    ) -> None:
        self.path = path
        self.line = line
        subject = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(subject=subject, expected=expected, found=found)


class CatalogRowError(CatalogFormatError):
    """An identifier's row in a catalog was set aside as malformed, so it cannot be used."""

    def __init__(self, path: str, line: int, expected: str, found: str, identifier: str, kind: str) -> None:
        self.identifier = identifier
        self.kind = kind
        super().__init__(path, expected, found, line=line)
        self.args = (
            f"{kind} {identifier!r} cannot be used: its catalog row at {path}, line {line} is malformed "
            f"(expected {expected}, found {found}); fix or remove that line",
        )


class IntegrityError(BrainioDvcError):
    """A file's hash is not the one recorded for it."""

    def __init__(
        self, path: str, algorithm: str, expected: str, found: str, hint: str | None = None
    ) -> None:
        self.path = path
        self.algorithm = algorithm
        self.expected = expected
        self.found = found
        self.hint = hint
        super().__init__(
            f"{algorithm} of {path} is {found}, expected {expected}; the file was not used "
            f"({hint or 'it was corrupted or changed in transit; fetching again usually helps'})"
        )


class RegistryError(BrainioDvcError):
    """A registry cannot be read, cloned or updated."""

    def __init__(self, registry: str, problem: str) -> None:
        self.registry = registry
        self.problem = problem
        super().__init__(f"registry {registry}: {problem}")


def _git_subcommand(command: Sequence[str]) -> str:
    """``fetch`` of ``git --git-dir DIR fetch ...``."""
    words = list(command[1:])
    while words and words[0].startswith("-"):
        del words[: 2 if words[0] in ("--git-dir", "-C", "-c") else 1]
    return words[0] if words else "run git"


class GitError(RegistryError):
    """A git command failed: carries the command, the repository (a path or a registry's URL),
    git's stderr (its stdout when stderr is empty) and its exit code."""

    def __init__(
        self, repository: str, command: Sequence[str], stderr: str, returncode: int
    ) -> None:
        self.repository = repository
        self.command = list(command)
        self.stderr = stderr
        self.returncode = returncode
        subcommand = _git_subcommand(self.command)
        shown = " ".join(self.command)
        if len(shown) > 120:
            shown = shown[:117] + "..."
        said = stderr or "git printed nothing"
        super().__init__(
            repository, f"cannot {subcommand}: `{shown}` exited with {returncode}: {said}"
        )


class RevisionNotFoundError(RegistryError, KeyError):
    """A branch, tag or commit does not exist in a registry."""

    def __init__(self, registry: str, rev: str) -> None:
        self.rev = rev
        super().__init__(
            registry,
            f"revision {rev!r} not found (expected a branch, tag or commit of the registry)",
        )

    def __str__(self) -> str:
        return Exception.__str__(self)


class RemoteError(RegistryError):
    """A DVC remote cannot be reached, refuses the credentials or lacks an object."""

    def __init__(
        self,
        registry: str,
        remote: str,
        problem: str,
        identifier: str | None = None,
        action: str = "fetching",
    ) -> None:
        self.remote = remote
        self.identifier = identifier
        what = f" while {action} {identifier!r}" if identifier else ""
        super().__init__(registry, f"remote {remote!r}{what}: {problem}")


class S3ObjectError(RemoteError):
    """An S3 object cannot be read or written: names the bucket, key, version id and endpoint.

    ``version_id`` None means the latest version; ``endpoint`` None means AWS's default.
    """

    def __init__(
        self,
        bucket: str,
        key: str,
        version_id: str | None,
        problem: str,
        endpoint: str | None = None,
        identifier: str | None = None,
        reason: str | None = None,
    ) -> None:
        #: ``"missing"`` (no such bucket, key or version), ``"denied"`` (401/403), or None.
        self.reason = reason
        self.bucket = bucket
        self.key = key
        self.version_id = version_id
        self.endpoint = endpoint
        self.registry = endpoint or "AWS S3"
        self.remote = f"s3://{bucket}/{key}"
        self.problem = problem
        self.identifier = identifier
        version = f"version {version_id}" if version_id else "latest version"
        where = f", endpoint {endpoint}" if endpoint else ""
        what = f" of {identifier!r}" if identifier else ""
        BrainioDvcError.__init__(self, f"s3://{bucket}/{key} ({version}{where}){what}: {problem}")


class SourceChangedError(IntegrityError):
    """The S3 object that a registry references is no longer what was recorded for it.

    Raised at load for a reference (``brainio-dvc migrate --reference``) whose source differs
    from its ``.dvc`` file in ``field`` (``etag``, ``size`` or ``sha1``); nothing is loaded.
    """

    def __init__(self, url: str, version_id: str | None, field: str, expected: str, found: str,
                 identifier: str | None = None) -> None:
        self.url = url
        self.version_id = version_id
        self.field = field
        self.identifier = identifier
        what = f" of {identifier!r}" if identifier else ""
        version = f"version {version_id}" if version_id else "no version id: the latest version"
        hint = (
            "the object was overwritten after it was recorded and its source is not versioned, so the recorded "
            "bytes are gone from there; migrate it again with --copy from a copy that has the recorded SHA-1, or "
            "record the new content (and check that it is what the identifier should mean)"
            if not version_id else "the recorded version no longer has the recorded content; check the source"
        )
        BrainioDvcError.__init__(
            self,
            f"the source {url} ({version}){what} changed since it was recorded: {field} is {found}, "
            f"expected {expected}; it was not loaded ({hint})",
        )
        self.path, self.algorithm, self.expected, self.found, self.hint = url, field, expected, found, hint


class MigrationError(BrainioDvcError):
    """A migration cannot start: its input cannot be read, or its options do not fit."""

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"migration from {source}: {problem}")


class PackagingError(BrainioDvcError):
    """A packaging step failed; no branch was created or moved (pushed objects stay: gc removes them)."""

    def __init__(self, identifier: str, step: str, cause: BaseException | str) -> None:
        self.identifier = identifier
        self.step = step
        self.cause = cause
        super().__init__(
            f"packaging {identifier!r} failed at step {step!r}: {cause}; "
            "the registry's branches and working tree were left as they were before"
        )


class JournalError(BrainioDvcError):
    """The packaging journal cannot be read; it is never taken as empty."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(
            f"the packaging journal {path} cannot be read ({problem}); it lists the remote objects of "
            "packaging runs in progress. Check that no packaging run is active on this registry, then "
            "delete the file; `brainio-dvc gc --remote` finds any objects it listed"
        )


class LockFileError(BrainioDvcError, ValueError):
    """A ``brainio.lock`` file cannot be used; ``line`` is 1-based (None when unknown)."""

    def __init__(self, path: str, line: int | None, problem: str) -> None:
        self.path = path
        self.line = line
        self.problem = problem
        where = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(
            f"{where}: {problem}; fix the lock file by hand or rewrite it with `brainio-dvc lock` "
            "(nothing was loaded or written)"
        )


class PinError(BrainioDvcError):
    """An identifier's pin (a lock entry or a ``dvc import``) does not match its registry."""

    def __init__(self, identifier: str, source: str, problem: str, hint: str | None = None) -> None:
        self.identifier = identifier
        self.source = source
        self.problem = problem
        self.hint = hint
        message = f"{identifier!r} as pinned by {source}: {problem}"
        if hint:
            message += f" ({hint})"
        super().__init__(message)
