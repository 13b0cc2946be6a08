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

import io
import logging
import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..exceptions import RegistryError, RemoteError
from ..formats.hashes import copy_hashing, read_chunks
from .progress import ProgressEvent, report, tracker
from .registry import Registry

__all__ = [
    "Remote",
    "RemoteObjectFile",
    "RemoteSpec",
    "S3Remote",
    "bound_retries",
    "default_remote",
    "object_path",
    "open_remote",
    "open_worktree_remote",
]

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
#: Bytes per range request when a download through DVC's filesystem resumes.
RANGE_BYTES = 16 << 20
#: Bytes at the end of an object that :class:`RemoteObjectFile` reads in its first request: a
#: ZIP's end records, a comment of the longest length, and (for small archives) the whole
#: central directory.
TAIL_BYTES = 128 << 10


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


def _resume_offset(destination: Path, total: int) -> int:
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


def _write_from(
    chunks: Any, destination: Path, offset: int, total: int | None, description: str
) -> dict[str, str] | None:
    """Write ``chunks`` (the object from byte ``offset``) after the first ``offset`` bytes of
    ``destination``; the digests when the whole object was written here, else None."""
    with open(destination, "ab" if offset else "wb") as writer, tracker("download", description, total) as advance:
        if offset:
            advance(offset)
        digests = copy_hashing(chunks, writer, ["md5"], advance)
    return None if offset else digests


@dataclass
class LocalRemote:
    """A DVC remote that is a directory on this machine."""

    registry: str
    spec: RemoteSpec
    directory: Path

    def exists(self, md5: str) -> bool:
        return (self.directory / object_path(md5)).is_file()

    def _open(self, md5: str, identifier: str | None = None) -> Any:
        try:
            return open(self.directory / object_path(md5), "rb")  # noqa: SIM115 - the caller closes it
        except OSError as error:
            problem = "is missing from" if isinstance(error, FileNotFoundError) else f"cannot be read ({error}) from"
            raise RemoteError(self.registry, self.spec.name, f"object {md5} {problem} {self.directory}", identifier) from error

    def size(self, md5: str) -> int:
        with self._open(md5) as reader:
            return os.fstat(reader.fileno()).st_size

    def read_range(self, md5: str, start: int, end: int) -> bytes:
        with self._open(md5) as reader:  # a seek: only the bytes asked for are read
            reader.seek(start)
            return reader.read(max(end - start, 0))

    def download(self, md5: str, destination: Path, identifier: str | None = None) -> dict[str, str]:
        reader = self._open(md5, identifier)
        with reader:
            total = os.fstat(reader.fileno()).st_size
            offset = _resume_offset(destination, total)
            reader.seek(offset)
            return _write_from(read_chunks(reader, _CHUNK), destination, offset, total, identifier or md5)


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

    def _read(self, md5: str, identifier: str | None = None) -> bytes:
        data = self.registry.read_bytes(self.commit, self._blob_path(md5))
        if data is None:
            raise RemoteError(
                self.registry.label,
                self.spec.name,
                f"object {md5} is not in the registry's committed {self.tree_path}/",
                identifier,
            )
        return data

    def size(self, md5: str) -> int:
        return len(self._read(md5))

    def read_range(self, md5: str, start: int, end: int) -> bytes:
        return self._read(md5)[start:end]  # a local git object: nothing is transferred

    def download(self, md5: str, destination: Path, identifier: str | None = None) -> dict[str, str]:
        data = self._read(md5, identifier)
        with open(destination, "wb") as writer:
            return copy_hashing([data], writer, ["md5"])


#: The S3 remote options :class:`S3Remote` understands; a remote with any other option is read
#: through DVC (:class:`DvcRemote`), which knows them all.  The others that only matter when
#: writing (ACLs, server-side encryption, listing) change nothing for reads.
_S3_READ_OPTIONS = frozenset({
    "endpointurl", "region", "profile", "access_key_id", "secret_access_key", "session_token",
    "connect_timeout", "read_timeout", "use_ssl", "ssl_verify", "allow_anonymous_login",
})
_S3_WRITE_ONLY_OPTIONS = frozenset({"acl", "grant_read", "grant_read_acp", "grant_write_acp", "grant_full_control",
                                     "sse", "sse_kms_key_id", "sse_customer_key", "sse_customer_algorithm",
                                     "listobjects", "jobs"})


def _true(value: str | None) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes")


class S3Remote:
    """An ``s3://`` remote read with boto3 directly: no DVC repository to open, no s3fs to
    import, and the bytes hashed as they arrive.

    It reads the remote's options as DVC does (``endpointurl``, ``region``, ``profile``, the
    keys in ``.dvc/config.local``, ``allow_anonymous_login``, timeouts, SSL) and boto3's
    environment and AWS config files; timeouts and retries are bounded as :func:`bound_retries`
    bounds DVC's.
    """

    def __init__(self, registry: str, spec: RemoteSpec) -> None:
        self.registry = registry
        self.spec = spec
        bucket_and_prefix = spec.url.removeprefix("s3://")
        self.bucket, _, prefix = bucket_and_prefix.partition("/")
        self.prefix = prefix.strip("/")
        self._client: Any = None

    @staticmethod
    def reads(spec: RemoteSpec) -> bool:
        """Whether an S3 remote of these options can be read here rather than through DVC."""
        settings = spec.settings
        if _true(settings.get("version_aware")) or _true(settings.get("worktree")):
            return False  # such remotes keep files by path, not by content address
        return spec.url.startswith("s3://") and set(settings) <= _S3_READ_OPTIONS | _S3_WRITE_ONLY_OPTIONS

    def key(self, md5: str) -> str:
        return f"{self.prefix}/{object_path(md5)}" if self.prefix else object_path(md5)

    def client(self) -> Any:
        if self._client is None:
            self._client = _s3_remote_client(self.spec.settings)
        return self._client

    def _error(self, error: Exception, identifier: str | None) -> RemoteError:
        return RemoteError(self.registry, f"{self.spec.name} ({self.spec.url})", describe_remote_failure(error), identifier)

    def exists(self, md5: str) -> bool:
        try:
            self.client().head_object(Bucket=self.bucket, Key=self.key(md5))
        except Exception as error:  # noqa: BLE001 - botocore raises many kinds
            if _http_status(error) == 404:
                return False
            raise self._error(error, None) from error
        return True

    def size(self, md5: str) -> int:
        try:
            return int(self.client().head_object(Bucket=self.bucket, Key=self.key(md5))["ContentLength"])
        except Exception as error:  # noqa: BLE001
            raise self._error(_missing_if_404(error, self.bucket, self.key(md5)), None) from error

    def read_range(self, md5: str, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        try:  # one ranged GET
            response = self.client().get_object(Bucket=self.bucket, Key=self.key(md5), Range=f"bytes={start}-{end - 1}")
            return bytes(response["Body"].read())
        except Exception as error:  # noqa: BLE001
            raise self._error(_missing_if_404(error, self.bucket, self.key(md5)), None) from error

    def download(self, md5: str, destination: Path, identifier: str | None = None) -> dict[str, str] | None:
        try:
            offset, total, extra = 0, None, {}
            if destination.exists():  # an interrupted download: ask only for the rest
                total = int(self.client().head_object(Bucket=self.bucket, Key=self.key(md5))["ContentLength"])
                offset = _resume_offset(destination, total)
                if offset and offset == total:
                    return None
                extra = {"Range": f"bytes={offset}-"} if offset else {}
            response = self.client().get_object(Bucket=self.bucket, Key=self.key(md5), **extra)
            if total is None:
                total = response.get("ContentLength")
            return _write_from(response["Body"].iter_chunks(_CHUNK), destination, offset, total, identifier or md5)
        except Exception as error:  # noqa: BLE001
            if _http_status(error) == 404:
                error = FileNotFoundError(f"s3://{self.bucket}/{self.key(md5)}")
            raise self._error(error, identifier) from error


def _http_status(error: Exception) -> int | None:
    response = getattr(error, "response", None) or {}
    return response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def _missing_if_404(error: Exception, bucket: str, key: str) -> Exception:
    return FileNotFoundError(f"s3://{bucket}/{key}") if _http_status(error) == 404 else error


def _s3_remote_client(settings: dict[str, str]) -> Any:
    """A boto3 S3 client configured from a DVC remote's options."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    session = boto3.session.Session(
        profile_name=settings.get("profile"),
        region_name=settings.get("region"),
        aws_access_key_id=settings.get("access_key_id"),
        aws_secret_access_key=settings.get("secret_access_key"),
        aws_session_token=settings.get("session_token"),
    )
    config: dict[str, Any] = {
        "connect_timeout": float(settings.get("connect_timeout", S3_CONNECT_TIMEOUT)),
        "read_timeout": float(settings.get("read_timeout", S3_READ_TIMEOUT)),
    }
    if not (os.environ.get("AWS_MAX_ATTEMPTS") or os.environ.get("AWS_RETRY_MODE")):
        config["retries"] = {"total_max_attempts": S3_TOTAL_ATTEMPTS, "mode": "standard"}
    if _true(settings.get("allow_anonymous_login")) and session.get_credentials() is None:
        config["signature_version"] = UNSIGNED
    verify: bool | str | None = None
    if "ssl_verify" in settings:
        value = settings["ssl_verify"]
        verify = value if value.strip().lower() not in ("true", "false") else _true(value)
    return session.client(
        "s3",
        endpoint_url=settings.get("endpointurl"),
        use_ssl=_true(settings.get("use_ssl", "true")),
        verify=verify,
        config=Config(**config),
    )


class DvcRemote:
    """Any other remote (S3, ...), through DVC's remote filesystem at the registry's commit."""

    def __init__(self, registry: Registry, commit: str | None, spec: RemoteSpec) -> None:
        """``commit`` None: the remote as the registry's working tree configures it."""
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

    def size(self, md5: str) -> int:
        try:
            odb = self._open()
            return int(odb.fs.size(odb.oid_to_path(md5)))
        except Exception as error:  # noqa: BLE001
            raise self._error(error, None) from error

    def read_range(self, md5: str, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        try:
            odb = self._open()
            return bytes(odb.fs.cat_file(odb.oid_to_path(md5), start=start, end=end))
        except Exception as error:  # noqa: BLE001
            raise self._error(error, None) from error

    def download(self, md5: str, destination: Path, identifier: str | None = None) -> dict[str, str] | None:
        try:
            odb = self._open()
            source = odb.oid_to_path(md5)
            if not destination.exists():
                odb.fs.get_file(source, str(destination), callback=_fsspec_progress(identifier or md5))
                return None
            total = int(odb.fs.size(source))  # an interrupted download: read only the rest
            offset = _resume_offset(destination, total)
            if offset and offset == total:
                return None
            with odb.fs.open(source, mode="rb", block_size=RANGE_BYTES) as reader:
                reader.seek(offset)
                return _write_from(read_chunks(reader, _CHUNK), destination, offset, total, identifier or md5)
        except Exception as error:  # noqa: BLE001
            raise self._error(error, identifier) from error


class RemoteObjectFile(io.RawIOBase):
    """A remote object as a read-only, seekable binary file that transfers only what is read.

    The first read near the end fetches the last :data:`TAIL_BYTES` in one request (where a
    ZIP's end records, comment and, for small archives, central directory are); any other read
    is one range request of its own.  So :mod:`zipfile` lists an archive's members, ZIP64 and
    comments included, in one or two requests after the size, whatever the archive's length.
    """

    def __init__(self, remote: Remote, md5: str, tail_bytes: int = TAIL_BYTES) -> None:
        super().__init__()
        self.remote = remote
        self.md5 = md5
        self.name = f"object {md5} of the remote {remote.spec.name!r}"
        self.length = remote.size(md5)
        self.requests = 0
        self._tail_start = max(self.length - tail_bytes, 0)
        self._tail: bytes | None = None
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.length}[whence]
        if base + offset < 0:
            msg = f"negative seek position {base + offset} in {self.name}"
            raise ValueError(msg)
        self._position = base + offset
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        start = min(self._position, self.length)
        end = self.length if size is None or size < 0 else min(start + size, self.length)
        if end <= start:
            return b""
        if start >= self._tail_start:
            if self._tail is None:
                self._tail = self._fetch(self._tail_start, self.length)
            data = self._tail[start - self._tail_start:end - self._tail_start]
        else:
            data = self._fetch(start, end)
        self._position = start + len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def _fetch(self, start: int, end: int) -> bytes:
        self.requests += 1
        data = self.remote.read_range(self.md5, start, end)
        if len(data) != end - start:
            registry = getattr(self.remote, "registry", "")
            raise RemoteError(str(getattr(registry, "label", registry)), self.remote.spec.name,
                              f"object {self.md5}: asked for bytes {start} to {end} of {self.length}, got {len(data)}")
        return data


def open_worktree_remote(root: Path, name: str | None = None) -> Remote:
    """The remote ``name`` (by default the default remote) as the working tree at ``root``
    configures it now (``.dvc/config`` and ``.dvc/config.local`` on disk, committed or not)."""
    root = Path(root)
    texts = []
    for file_name in ("config", "config.local"):
        path = root / ".dvc" / file_name
        texts.append(path.read_text(encoding="utf-8") if path.exists() else None)
    spec = default_remote(texts[0] or "", texts[1], str(root), name)
    if not spec.is_local:
        if S3Remote.reads(spec):
            return S3Remote(str(root), spec)
        return DvcRemote(Registry(root), None, spec)
    url = spec.url.removeprefix("file://")
    return LocalRemote(str(root), spec, Path(url) if Path(url).is_absolute() else (root / ".dvc" / url).resolve())


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
        if S3Remote.reads(spec):
            return S3Remote(registry.label, spec)
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
