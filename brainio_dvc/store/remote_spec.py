"""What a DVC remote is to this package: its configuration, what reading one offers, its errors.

:func:`default_remote` reads the remote's name and URL from DVC config text (pure) into a
:class:`RemoteSpec`; every reader of a remote (:mod:`.direct_remotes`, :mod:`.dvc_remote`) is a
:class:`Remote`, and writes downloads with :func:`write_from`, resuming with
:func:`resume_offset`.  :func:`describe_remote_failure` tells why any of them failed.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..exceptions import RegistryError
from ..formats.hashes import copy_hashing
from ..progress import tracker

__all__ = [
    "CHUNK_BYTES",
    "Remote",
    "RemoteSpec",
    "default_remote",
    "describe_remote_failure",
    "object_path",
    "resume_offset",
    "write_from",
]

logger = logging.getLogger(__name__)

_SECTION = re.compile(r'^remote\s+"(?P<name>[^"]+)"$')
#: Bytes per read while a download is written.
CHUNK_BYTES = 1 << 20


def object_path(md5: str) -> str:
    """Where DVC 3 stores an object in a remote, relative to the remote's root."""
    return f"files/md5/{md5[:2]}/{md5[2:]}"


@dataclass(frozen=True)
class RemoteSpec:
    """A DVC remote as configured: its name, URL and other options (``dvc remote modify``)."""

    name: str
    url: str
    options: tuple[tuple[str, str], ...] = ()

    @property
    def settings(self) -> dict[str, str]:
        return dict(self.options)

    @property
    def is_local(self) -> bool:
        return "://" not in self.url or self.url.startswith("file://")


#: The lines of the DVC config files that DVC itself writes (with configobj): a section header,
#: bare or with its name quoted, or ``key = value`` with a value that holds no quote or comment.
_HEADER_LINE = re.compile(r"""\[\s*(?:'(?P<single>[^']*)'|"(?P<double>[^"]*)"|(?P<bare>[^\[\]'"#]*?))\s*\]""")
_VALUE_LINE = re.compile(r"""(?P<key>[A-Za-z0-9_.-]+)\s*=\s*(?P<value>[^'"#]*?)""")


def _simple_sections(text: str) -> dict[str, dict[str, str]] | None:
    """What configobj reads from ``text`` (``list_values=False``), for the plain files DVC writes;
    None for anything else (nested sections, quotes or comments in values, repeated names...)."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if header := _HEADER_LINE.fullmatch(line):
            name = next(group for group in header.group("single", "double", "bare") if group is not None)
            if not name or name in sections:
                return None
            current = sections[name] = {}
        elif (value := _VALUE_LINE.fullmatch(line)) and current is not None and value["key"] not in current:
            current[value["key"]] = value["value"]
        else:
            return None
    return sections


def _sections(text: str) -> dict[str, dict[str, str]]:
    """The sections of DVC config text as configobj (DVC's parser) reads it.  The plain files
    DVC writes are read here, since importing configobj costs a cold load ~10 ms; any other
    text is left to configobj itself."""
    simple = _simple_sections(text)
    if simple is not None:
        return simple
    from configobj import ConfigObj  # DVC's config parser

    parsed = ConfigObj(text.splitlines(), list_values=False, interpolation=False)
    return {name: dict(values) for name, values in parsed.items() if isinstance(values, dict)}


def default_remote(
    committed: str, local: str | None, source: str, name: str | None = None
) -> RemoteSpec:
    """The remote ``name`` (by default ``core.remote``) from DVC config text; local overrides win."""
    merged: dict[str, dict[str, str]] = {}
    for text in (committed, local or ""):
        for section, values in _sections(text).items():
            merged.setdefault(section, {}).update(values)
    name = name or merged.get("core", {}).get("remote")
    if not name:
        raise RegistryError(
            source, "no default DVC remote (expected `dvc remote add -d <name> <url>` in .dvc/config)"
        )
    remotes = {
        match["name"]: values
        for section, values in merged.items()
        if (match := _SECTION.match(section.strip()))
    }
    if name not in remotes or "url" not in remotes[name]:
        raise RegistryError(source, f"remote {name!r} is not configured (known: {sorted(remotes)})")
    options = tuple(sorted((key, str(value)) for key, value in remotes[name].items() if key != "url"))
    return RemoteSpec(name=name, url=remotes[name]["url"], options=options)


class Remote(Protocol):
    """What loading and checking need of a remote."""

    spec: RemoteSpec

    def exists(self, md5: str) -> bool: ...

    def size(self, md5: str) -> int:
        """The object's length in bytes."""

    def read_range(self, md5: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive) of the object, and only those are transferred."""

    def download(self, md5: str, destination: Path, identifier: str | None = None) -> dict[str, str] | None:
        """Write the object to ``destination``; return the digests computed while writing, if any.

        If ``destination`` holds the first bytes of the object already (a download that was
        interrupted), only the rest is transferred (a range request), and None is returned: the
        caller hashes the whole file.  A destination longer than the object is started again.
        """


def resume_offset(destination: Path, total: int) -> int:
    """How many bytes of an object of ``total`` bytes ``destination`` holds already (0: none)."""
    try:
        done = destination.stat().st_size
    except FileNotFoundError:
        return 0
    if done > total:
        logger.warning("%s is longer than the object (%d > %d bytes); downloading it again", destination, done, total)
        destination.unlink()
        return 0
    if done:
        logger.info("resuming the download into %s at byte %d of %d", destination, done, total)
    return done


def write_from(
    chunks: Any, destination: Path, offset: int, total: int | None, description: str
) -> dict[str, str] | None:
    """Write ``chunks`` (the object from byte ``offset``) after the first ``offset`` bytes of
    ``destination``; the digests when the whole object was written here, else None."""
    with open(destination, "ab" if offset else "wb") as writer, tracker("download", description, total) as advance:
        if offset:
            advance(offset)
        digests = copy_hashing(chunks, writer, ["md5"], advance)
    return None if offset else digests


def _chain(error: BaseException) -> list[BaseException]:
    """The error and its causes, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


_REFUSED = ("signature we calculated does not match", "signaturedoesnotmatch", "invalidaccesskeyid",
            "the aws access key id you provided does not exist")
_DENIED = ("access denied", "accessdenied", "forbidden")
_NO_CREDENTIALS = ("unable to locate credentials", "nocredentialserror", "no credentials")
_UNREACHABLE = ("could not connect", "connect timeout", "connection refused", "name or service not known",
                "temporary failure in name resolution", "endpointconnectionerror", "cannot connect to host",
                "network is unreachable", "timed out")
_MISSING = ("nosuchkey", "no such file", "not found")


def describe_remote_failure(error: BaseException) -> str:
    """A one-line account of why a remote operation failed, with the likely fix."""
    chain = _chain(error)
    text = " | ".join(f"{type(e).__name__}: {e}" for e in chain[:3]).replace("\n", " ")
    lowered = text.lower()
    if any(word in lowered for word in _REFUSED):
        return f"the remote refused the credentials ({text}); check the access key and secret"
    if any(word in lowered for word in _NO_CREDENTIALS):
        return f"no credentials were found ({text}); set them in .dvc/config.local or the environment"
    if any(isinstance(e, PermissionError) for e in chain) or any(word in lowered for word in _DENIED):
        return (f"access denied by the remote ({text}); the credentials are missing, wrong or lack "
                "permission: set them in .dvc/config.local or the environment")
    unreachable = any(isinstance(e, ConnectionError | TimeoutError) for e in chain)
    if unreachable or any(word in lowered for word in _UNREACHABLE):
        return f"the remote is unreachable ({text}); check the endpoint and the network"
    if any(isinstance(e, FileNotFoundError) for e in chain) or any(word in lowered for word in _MISSING):
        return f"the object is missing from the remote ({text}); was it pushed?"
    return text
