"""DVC remotes opened through DVC, and the timeouts and retries of every S3 client here.

:class:`DvcRemote` reads any remote that the direct readers (:mod:`.direct_remotes`) do not, through
DVC's own remote filesystem, so DVC's configuration, ``.dvc/config.local`` and environment
credentials all apply.  :func:`open_remote_odb` is the one way this package opens a DVC remote.

S3 remotes get bounded timeouts and retries (:func:`bound_retries`): left to themselves, s3fs
and botocore multiply their retries (5 x 5 attempts of 15 s reads), so that a server that
accepts connections and never answers took seven minutes to fail; now it takes about 40 s.
boto3 clients get the same bounds (:func:`bounded_client_config`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..exceptions import RemoteError
from ..formats.hashes import read_chunks
from ..progress import ProgressEvent, report
from .registry import Registry
from .remote_spec import CHUNK_BYTES, RemoteSpec, describe_remote_failure, resume_offset, write_from

__all__ = [
    "RANGE_BYTES",
    "S3FS_RETRIES",
    "S3_CONNECT_TIMEOUT",
    "S3_READ_TIMEOUT",
    "S3_TOTAL_ATTEMPTS",
    "DvcRemote",
    "bound_repo",
    "bound_retries",
    "bounded_client_config",
    "open_remote_odb",
]

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


def open_remote_odb(repo: Any, name: str | None = None) -> Any:
    """The object database of the DVC remote ``name`` (by default ``core.remote``) of an open
    DVC ``Repo``, with bounded timeouts and retries.

    The one way this package opens a DVC remote: the repo is bounded first
    (:func:`bound_repo`), so the remote returned and every remote filesystem the repo opens
    later (``push``, ``fetch``, ``gc``) have the bounds of cold loads.
    """
    return bound_repo(repo).cloud.get_remote_odb(name)


def bounded_client_config(
    signed: bool = True,
    connect_timeout: float = S3_CONNECT_TIMEOUT,
    read_timeout: float = S3_READ_TIMEOUT,
) -> Any:
    """The botocore ``Config`` of every S3 client made here: bounded timeouts, and
    :data:`S3_TOTAL_ATTEMPTS` standard-mode attempts unless ``AWS_MAX_ATTEMPTS`` or
    ``AWS_RETRY_MODE`` is set; unsigned (anonymous) requests unless ``signed``."""
    from botocore import UNSIGNED
    from botocore.config import Config

    settings: dict[str, Any] = {"connect_timeout": connect_timeout, "read_timeout": read_timeout}
    if not (os.environ.get("AWS_MAX_ATTEMPTS") or os.environ.get("AWS_RETRY_MODE")):
        settings["retries"] = {"total_max_attempts": S3_TOTAL_ATTEMPTS, "mode": "standard"}
    if not signed:
        settings["signature_version"] = UNSIGNED
    return Config(**settings)


class DvcRemote:
    """Any other remote (S3, ...), through DVC's remote filesystem at the registry's commit."""

    def __init__(self, registry: Registry, commit: str | None, spec: RemoteSpec) -> None:
        """``commit`` None: the remote as the registry's working tree configures it."""
        self.registry = registry
        self.commit = commit
        self.spec = spec
        self._odb = None

    def _open(self):
        if self._odb is None:
            from dvc.repo import Repo

            with Repo(str(self.registry.root), rev=self.commit) as repo:
                self._odb = open_remote_odb(repo, self.spec.name)
        return self._odb

    def _error(self, error: Exception, identifier: str | None) -> RemoteError:
        remote = f"{self.spec.name} ({self.spec.url})"
        return RemoteError(self.registry.label, remote, describe_remote_failure(error), identifier)

    def exists(self, md5: str) -> bool:
        try:
            odb = self._open()
            return bool(odb.fs.exists(odb.oid_to_path(md5)))
        except Exception as error:
            raise self._error(error, None) from error

    def size(self, md5: str) -> int:
        try:
            odb = self._open()
            return int(odb.fs.size(odb.oid_to_path(md5)))
        except Exception as error:
            raise self._error(error, None) from error

    def read_range(self, md5: str, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        try:
            odb = self._open()
            return bytes(odb.fs.cat_file(odb.oid_to_path(md5), start=start, end=end))
        except Exception as error:
            raise self._error(error, None) from error

    def download(self, md5: str, destination: Path, identifier: str | None = None) -> dict[str, str] | None:
        try:
            odb = self._open()
            source = odb.oid_to_path(md5)
            if not destination.exists():
                odb.fs.get_file(source, str(destination), callback=_fsspec_progress(identifier or md5))
                return None
            total = int(odb.fs.size(source))  # an interrupted download: read only the rest
            offset = resume_offset(destination, total)
            if offset and offset == total:
                return None
            with odb.fs.open(source, mode="rb", block_size=RANGE_BYTES) as reader:
                reader.seek(offset)
                return write_from(read_chunks(reader, CHUNK_BYTES), destination, offset, total, identifier or md5)
        except Exception as error:
            raise self._error(error, identifier) from error
