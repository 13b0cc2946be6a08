"""DVC remotes of a registry: where its content-addressed objects can be downloaded from.

:func:`default_remote` reads the remote's name and URL from DVC config text (pure).
:func:`open_remote` turns that into something that can test for and download objects:

- a local directory (absolute, or relative to the registry's ``.dvc/`` as DVC resolves it);
- a directory committed inside the registry, read from git objects (a clone of a registry
  whose remote is a relative directory, such as this repository's demo registry);
- any other URL (s3://, ...) through DVC's own remote filesystem, so DVC's configuration,
  ``.dvc/config.local`` and environment credentials all apply.

S3 remotes get bounded timeouts and retries (:func:`bound_retries`): left to themselves, s3fs
and botocore multiply their retries (5 x 5 attempts of 15 s reads), so that a server that
accepts connections and never answers took seven minutes to fail; now it takes about 40 s.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .exceptions import RegistryError, RemoteError
from .progress import ProgressEvent, report, tracker
from .registry import Registry

__all__ = ["Remote", "RemoteSpec", "bound_repo", "bound_retries", "default_remote", "object_path", "open_remote"]

logger = logging.getLogger(__name__)

_SECTION = re.compile(r'^remote\s+"(?P<name>[^"]+)"$')
_CHUNK = 1 << 20

#: Seconds to wait for a connection, and for each read, unless the remote's DVC config sets
#: ``connect_timeout`` / ``read_timeout``.
S3_CONNECT_TIMEOUT = 5
S3_READ_TIMEOUT = 10
#: botocore attempts per request (the first one included), unless AWS_MAX_ATTEMPTS or
#: AWS_RETRY_MODE is set; and s3fs's attempts around botocore's.  At most 2 x 2 reads time
#: out before an error: about 40 s for a server that never answers.
S3_TOTAL_ATTEMPTS = 2
S3FS_RETRIES = 2


def _fsspec_progress(description: str) -> Any:
    """An fsspec callback (what DVC's filesystems take) that reports download progress."""
    from fsspec.callbacks import Callback

    class _Progress(Callback):
        def call(self, *args: Any, **kwargs: Any) -> None:
            report(ProgressEvent("download", description, int(self.value), self.size))

    return _Progress()


def bound_retries(fs: Any) -> Any:
    """Cap the timeouts and retries of a DVC S3 filesystem (others are returned unchanged).

    Settings from the remote's DVC config (``connect_timeout``, ``read_timeout``) and from
    the environment (``AWS_MAX_ATTEMPTS``, ``AWS_RETRY_MODE``) win over these defaults.
    """
    if getattr(fs, "protocol", None) != "s3" or not hasattr(fs, "fs_args"):
        return fs
    settings = fs.fs_args.setdefault("config_kwargs", {})
    settings.setdefault("connect_timeout", S3_CONNECT_TIMEOUT)
    settings.setdefault("read_timeout", S3_READ_TIMEOUT)
    if not (os.environ.get("AWS_MAX_ATTEMPTS") or os.environ.get("AWS_RETRY_MODE")):
        settings.setdefault("retries", {"total_max_attempts": S3_TOTAL_ATTEMPTS, "mode": "standard"})
    s3 = fs.fs  # created here, with the settings above
    s3.retries = min(int(getattr(s3, "retries", S3FS_RETRIES)), S3FS_RETRIES)
    return fs


def bound_repo(repo: Any) -> Any:
    """Make every remote filesystem that a DVC ``Repo`` opens from now on go through
    :func:`bound_retries`, and return the repo.

    ``repo.push`` (and fetch, status, gc) open a remote filesystem of their own at each call,
    with DVC's defaults; this bounds those too, so that a push to a remote that is down, or
    that hangs, fails within a bounded time (the same bound as cold loads).
    """
    cloud = repo.cloud
    if getattr(cloud, "_brainio_dvc_bounded", False):
        return repo
    unbounded = cloud.get_remote

    def get_remote(*args: Any, **kwargs: Any) -> Any:
        remote = unbounded(*args, **kwargs)
        bound_retries(remote.fs)
        return remote

    cloud.get_remote = get_remote  # get_remote_odb and DVC's index both call it
    cloud._brainio_dvc_bounded = True
    return repo


def object_path(md5: str) -> str:
    """Where DVC 3 stores an object in a remote, relative to the remote's root."""
    return f"files/md5/{md5[:2]}/{md5[2:]}"


@dataclass(frozen=True)
class RemoteSpec:
    """A DVC remote as configured: its name and URL."""

    name: str
    url: str

    @property
    def is_local(self) -> bool:
        return "://" not in self.url or self.url.startswith("file://")


def _sections(text: str) -> dict[str, dict[str, str]]:
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
    return RemoteSpec(name=name, url=remotes[name]["url"])


class Remote(Protocol):
    """What loading and checking need of a remote."""

    spec: RemoteSpec

    def exists(self, md5: str) -> bool: ...

    def download(self, md5: str, destination: Path, identifier: str | None = None) -> None: ...


@dataclass
class LocalRemote:
    """A DVC remote that is a directory on this machine."""

    registry: str
    spec: RemoteSpec
    directory: Path

    def exists(self, md5: str) -> bool:
        return (self.directory / object_path(md5)).is_file()

    def download(self, md5: str, destination: Path, identifier: str | None = None) -> None:
        source = self.directory / object_path(md5)
        try:
            reader = open(source, "rb")  # noqa: SIM115 - closed below
        except OSError as error:
            problem = "is missing from" if isinstance(error, FileNotFoundError) else f"cannot be read ({error}) from"
            raise RemoteError(self.registry, self.spec.name, f"object {md5} {problem} {self.directory}", identifier) from error
        with reader, open(destination, "wb") as writer, \
                tracker("download", identifier or md5, os.fstat(reader.fileno()).st_size) as advance:
            while chunk := reader.read(_CHUNK):
                writer.write(chunk)
                advance(len(chunk))


@dataclass
class GitTreeRemote:
    """A relative DVC remote directory that is committed in the registry's git history."""

    registry: Registry
    commit: str
    spec: RemoteSpec
    tree_path: str

    def _blob_path(self, md5: str) -> str:
        return f"{self.tree_path}/{object_path(md5)}"

    def exists(self, md5: str) -> bool:
        return self.registry.read_bytes(self.commit, self._blob_path(md5)) is not None

    def download(self, md5: str, destination: Path, identifier: str | None = None) -> None:
        data = self.registry.read_bytes(self.commit, self._blob_path(md5))
        if data is None:
            raise RemoteError(
                self.registry.label,
                self.spec.name,
                f"object {md5} is not in the registry's committed {self.tree_path}/",
                identifier,
            )
        destination.write_bytes(data)


class DvcRemote:
    """Any other remote (S3, ...), through DVC's remote filesystem at the registry's commit."""

    def __init__(self, registry: Registry, commit: str, spec: RemoteSpec) -> None:
        self.registry = registry
        self.commit = commit
        self.spec = spec
        self._odb = None

    def _open(self):  # noqa: ANN202 - a DVC object database
        if self._odb is None:
            from dvc.repo import Repo

            with Repo(str(self.registry.root), rev=self.commit) as repo:
                odb = repo.cloud.get_remote_odb(self.spec.name)
            bound_retries(odb.fs)
            self._odb = odb
        return self._odb

    def _error(self, error: Exception, identifier: str | None) -> RemoteError:
        return RemoteError(self.registry.label, f"{self.spec.name} ({self.spec.url})", describe_remote_failure(error), identifier)

    def exists(self, md5: str) -> bool:
        try:
            odb = self._open()
            return bool(odb.fs.exists(odb.oid_to_path(md5)))
        except Exception as error:  # noqa: BLE001 - DVC and its filesystems raise many kinds
            raise self._error(error, None) from error

    def download(self, md5: str, destination: Path, identifier: str | None = None) -> None:
        try:
            odb = self._open()
            odb.fs.get_file(odb.oid_to_path(md5), str(destination), callback=_fsspec_progress(identifier or md5))
        except Exception as error:  # noqa: BLE001
            raise self._error(error, identifier) from error


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
    if any(isinstance(e, ConnectionError | TimeoutError) for e in chain) or any(word in lowered for word in _UNREACHABLE):
        return f"the remote is unreachable ({text}); check the endpoint and the network"
    if any(isinstance(e, FileNotFoundError) for e in chain) or any(word in lowered for word in _MISSING):
        return f"the object is missing from the remote ({text}); was it pushed?"
    return text


def open_remote(registry: Registry, commit: str, name: str | None = None) -> Remote:
    """The registry's remote ``name`` (by default its default remote) as of ``commit``."""
    committed, local = registry.dvc_config_texts(commit)
    spec = default_remote(committed, local, registry.label, name)
    if not spec.is_local:
        return DvcRemote(registry, commit, spec)
    url = spec.url.removeprefix("file://")
    if Path(url).is_absolute():
        return LocalRemote(registry.label, spec, Path(url))
    if registry.is_local:
        return LocalRemote(registry.label, spec, (registry.root / ".dvc" / url).resolve())
    origin = registry.origin_path()
    if origin is not None and (origin / ".dvc" / url).is_dir():
        return LocalRemote(registry.label, spec, (origin / ".dvc" / url).resolve())
    tree_path = posixpath.normpath(posixpath.join(".dvc", url))
    if tree_path.startswith(".."):
        raise RegistryError(
            registry.label,
            f"remote {spec.name!r} is the directory {url!r} relative to a clone's .dvc/, outside the "
            "repository: it can only be read from a local registry; use an absolute path or a URL",
        )
    return GitTreeRemote(registry, commit, spec, tree_path)
