"""Remotes read without DVC: a local directory, a directory committed in the registry, and S3
read with boto3 directly (no DVC repository to open, no s3fs to import)."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..exceptions import RemoteError
from ..formats.hashes import copy_hashing, read_chunks
from ..progress import tracker
from .dvc_remote import S3_CONNECT_TIMEOUT, S3_READ_TIMEOUT, bounded_client_config
from .file_copy import copy_hashing_file
from .registry import Registry
from .remote_spec import CHUNK_BYTES, RemoteSpec, describe_remote_failure, object_path, resume_offset, write_from

__all__ = ["GitTreeRemote", "LocalRemote", "S3Remote"]


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
            return open(self.directory / object_path(md5), "rb")
        except OSError as error:
            problem = "is missing from" if isinstance(error, FileNotFoundError) else f"cannot be read ({error}) from"
            message = f"object {md5} {problem} {self.directory}"
            raise RemoteError(self.registry, self.spec.name, message, identifier) from error

    def size(self, md5: str) -> int:
        with self._open(md5) as reader:
            return os.fstat(reader.fileno()).st_size

    def read_range(self, md5: str, start: int, end: int) -> bytes:
        with self._open(md5) as reader:  # a seek: only the bytes asked for are read
            reader.seek(start)
            return reader.read(max(end - start, 0))

    def download(self, md5: str, destination: Path, identifier: str | None = None) -> dict[str, str] | None:
        reader = self._open(md5, identifier)
        with reader:
            total = os.fstat(reader.fileno()).st_size
            offset = resume_offset(destination, total)
            if offset:  # the rest of an interrupted copy: the cache hashes the whole file after
                reader.seek(offset)
                return write_from(read_chunks(reader), destination, offset, total, identifier or md5)
            with open(destination, "w+b") as writer, tracker("download", identifier or md5, total) as advance:
                return copy_hashing_file(reader.fileno(), writer.fileno(), ["md5"], advance)


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
        self._client_lock = threading.Lock()

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
        """The boto3 client, made once: a cold load's downloads ask for it from three threads at
        once, and each client costs a session and its service model (~0.3 s)."""
        with self._client_lock:
            if self._client is None:
                self._client = _s3_remote_client(self.spec.settings)
            return self._client

    def _error(self, error: Exception, identifier: str | None) -> RemoteError:
        remote = f"{self.spec.name} ({self.spec.url})"
        return RemoteError(self.registry, remote, describe_remote_failure(error), identifier)

    def exists(self, md5: str) -> bool:
        try:
            self.client().head_object(Bucket=self.bucket, Key=self.key(md5))
        except Exception as error:
            if _http_status(error) == 404:
                return False
            raise self._error(error, None) from error
        return True

    def size(self, md5: str) -> int:
        try:
            return int(self.client().head_object(Bucket=self.bucket, Key=self.key(md5))["ContentLength"])
        except Exception as error:
            raise self._error(_missing_if_404(error, self.bucket, self.key(md5)), None) from error

    def read_range(self, md5: str, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        try:  # one ranged GET
            response = self.client().get_object(Bucket=self.bucket, Key=self.key(md5), Range=f"bytes={start}-{end - 1}")
            return bytes(response["Body"].read())
        except Exception as error:
            raise self._error(_missing_if_404(error, self.bucket, self.key(md5)), None) from error

    def download(self, md5: str, destination: Path, identifier: str | None = None) -> dict[str, str] | None:
        try:
            offset, total, extra = 0, None, {}
            if destination.exists():  # an interrupted download: ask only for the rest
                total = int(self.client().head_object(Bucket=self.bucket, Key=self.key(md5))["ContentLength"])
                offset = resume_offset(destination, total)
                if offset and offset == total:
                    return None
                extra = {"Range": f"bytes={offset}-"} if offset else {}
            response = self.client().get_object(Bucket=self.bucket, Key=self.key(md5), **extra)
            if total is None:
                total = response.get("ContentLength")
            return write_from(response["Body"].iter_chunks(CHUNK_BYTES), destination, offset, total, identifier or md5)
        except Exception as error:
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

    session = boto3.session.Session(
        profile_name=settings.get("profile"),
        region_name=settings.get("region"),
        aws_access_key_id=settings.get("access_key_id"),
        aws_secret_access_key=settings.get("secret_access_key"),
        aws_session_token=settings.get("session_token"),
    )
    config = bounded_client_config(
        signed=not (_true(settings.get("allow_anonymous_login")) and session.get_credentials() is None),
        connect_timeout=float(settings.get("connect_timeout", S3_CONNECT_TIMEOUT)),
        read_timeout=float(settings.get("read_timeout", S3_READ_TIMEOUT)),
    )
    verify: bool | str | None = None
    if "ssl_verify" in settings:
        value = settings["ssl_verify"]
        verify = value if value.strip().lower() not in ("true", "false") else _true(value)
    return session.client(
        "s3",
        endpoint_url=settings.get("endpointurl"),
        use_ssl=_true(settings.get("use_ssl", "true")),
        verify=verify,
        config=config,
    )
