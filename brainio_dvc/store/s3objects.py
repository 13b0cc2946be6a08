"""S3 objects, addressed and read: where an object is (pure: bucket, key and version from a
Brain-Score bucket and identifier, or from a BrainIO ``S3`` location), and the requests that
read it (HEAD, and a versioned GET streamed to a file and hashed as it is written), anonymous
first, then signed when refused.

:mod:`brainio_dvc.s3` (Brain-Score's loaders and BrainIO's upload) is built on this module and
re-exports its public names; its docstring says how clients, endpoints and retries are chosen.
boto3 is imported on first use.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..exceptions import S3ObjectError, ValidationError

__all__ = [
    "ASSEMBLY_PREFIX",
    "STIMULUS_SET_PREFIX",
    "UNPINNED_VERSION_IDS",
    "S3Head",
    "S3Object",
    "download_s3_object",
    "head_s3_object",
    "object_key",
    "parse_s3_url",
    "pinned_version",
    "s3_client",
    "split_bucket",
]

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

#: Version ids that mean "the latest version" in Brain-Score's plugins.
UNPINNED_VERSION_IDS = frozenset({"", "null"})
ASSEMBLY_PREFIX = "assy_"
STIMULUS_SET_PREFIX = "stimulus_"
_CHUNK = 1 << 20
#: HTTP statuses after which an anonymous request is retried with credentials.
_RETRY_SIGNED = frozenset({401, 403})
#: ``bucket.s3.amazonaws.com``, ``bucket.s3.region.amazonaws.com``, ``bucket.s3-region...``.
_VIRTUAL_HOST = re.compile(r"^(?P<bucket>.+?)\.s3[.-]")


# ---------------------------------------------------------------------------------------------
# Deciding: where an object is (pure)


@dataclass(frozen=True)
class S3Object:
    """One object of a bucket, at a version (None: the latest)."""

    bucket: str
    key: str
    version_id: str | None = None

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def __str__(self) -> str:
        return (
            f"{self.url} ({f'version {self.version_id}' if self.version_id else 'latest version'})"
        )


def pinned_version(version_id: str | None) -> str | None:
    """The version id to request: None for ``None``, ``""`` and ``"null"`` (the latest)."""
    if version_id is None or str(version_id).strip() in UNPINNED_VERSION_IDS:
        return None
    return str(version_id).strip()


def split_bucket(bucket: str) -> tuple[str, str]:
    """``'bucket/folder/sub'`` -> ``('bucket', 'folder/sub/')``; a plain bucket: ``''``."""
    name, _, folder = str(bucket).strip().partition("/")
    if not name:
        msg = "S3 bucket"
        raise ValidationError(
            msg, "a bucket name, optionally followed by /folder", repr(bucket)
        )
    folder = folder.strip("/")
    return name, f"{folder}/" if folder else ""


def object_key(
    identifier: str, extension: str, folder: str = "", filename_prefix: str | None = None
) -> str:
    """Brain-Score's key of a file: ``<folder><prefix><identifier>.<extension>``.

    Dots in the identifier become underscores.

    The default prefix is ``assy_`` for ``nc`` and ``stimulus_`` for ``csv`` and ``zip``.
    """
    if filename_prefix is None:
        filename_prefix = ASSEMBLY_PREFIX if extension == "nc" else STIMULUS_SET_PREFIX
    return f"{folder}{filename_prefix}{identifier.replace('.', '_')}.{extension}"


def parse_s3_url(location: str) -> S3Object:
    """The object a BrainIO ``S3`` location names.

    Accepts ``s3://bucket/key``, virtual-hosted URLs (``https://bucket.s3.amazonaws.com/key``,
    also with a region) and path-style URLs (``https://s3.amazonaws.com/bucket/key``, or any
    host: ``http://host:port/bucket/key``).  As in BrainIO the host only tells the bucket apart:
    requests go to boto3's endpoint.  A ``versionId`` query parameter is kept.
    """
    parsed = urllib.parse.urlparse(str(location))
    path = urllib.parse.unquote(parsed.path).lstrip("/")
    host = (parsed.hostname or "").lower()
    if parsed.scheme == "s3":
        bucket, key = parsed.netloc, path
    elif (match := _VIRTUAL_HOST.match(host)) and not host.startswith(("s3.", "s3-")):
        bucket, key = match.group("bucket"), path
    else:
        bucket, _, key = path.partition("/")
    if parsed.scheme not in ("s3", "http", "https") or not bucket or not key:
        msg = "S3 location"
        raise ValidationError(
            msg,
            "s3://bucket/key or an http(s) URL naming a bucket and a key",
            repr(location),
        )
    version = urllib.parse.parse_qs(parsed.query).get("versionId", [None])[0]
    return S3Object(bucket, key, pinned_version(version))


# ---------------------------------------------------------------------------------------------
# Doing: clients, HEAD and GET


def _aws_settings() -> tuple[tuple[str, str], ...]:
    """The environment that boto3 reads its endpoint, region, credentials and retries from."""
    return tuple(sorted((name, value) for name, value in os.environ.items() if name.startswith("AWS_")))


@functools.lru_cache(maxsize=16)
def _cached_client(signed: bool, service: str, settings: tuple[tuple[str, str], ...]) -> Any:
    import boto3

    from .dvc_remote import bounded_client_config

    del settings  # part of the cache key only: a changed environment gets a new client
    return boto3.session.Session().client(service, config=bounded_client_config(signed))


def s3_client(signed: bool = True, service: str = "s3") -> Any:
    """A boto3 client with bounded timeouts and retries; unsigned (anonymous) if not ``signed``.

    The endpoint, region and credentials are boto3's own (environment, AWS config files).
    Clients are thread-safe and costly to make (about 0.1 s), so one is kept per kind and
    ``AWS_*`` environment: a changed environment is honoured at the next call.
    """
    return _cached_client(signed, service, _aws_settings())


@functools.lru_cache(maxsize=16)
def _credentials_found(settings: tuple[tuple[str, str], ...]) -> bool:
    import boto3

    del settings
    return boto3.session.Session().get_credentials() is not None


def _has_credentials() -> bool:
    return _credentials_found(_aws_settings())


def _status(error: Exception) -> int | None:
    response = getattr(error, "response", None) or {}
    return response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def _describe(error: Exception, obj: S3Object) -> str:
    """One line on why a request failed, with the likely fix."""
    response = getattr(error, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", "") or type(error).__name__)
    status = _status(error)
    if code in ("NoSuchVersion", "InvalidArgument") and obj.version_id:
        return f"no version {obj.version_id!r} of this key ({code}); check the version id"
    if code in ("NoSuchKey", "404", "NotFound") or status == 404:
        return f"no such key ({code}); check the bucket, folder, identifier and filename prefix"
    if code == "NoSuchBucket":
        return f"no such bucket ({code})"
    if status in _RETRY_SIGNED:
        return f"access denied ({code})"
    return f"{type(error).__name__}: {error}".replace("\n", " ")


def _stream_to(
    client: Any, obj: S3Object, destination: Path, description: str, algorithms: Sequence[str]
) -> dict[str, str]:
    from ..formats.hashes import copy_hashing
    from ..progress import tracker

    arguments = {"Bucket": obj.bucket, "Key": obj.key}
    if obj.version_id:
        arguments["VersionId"] = obj.version_id
    response = client.get_object(**arguments)
    body = response["Body"]
    with (
        body,
        open(destination, "wb") as out,
        tracker("download", description, response.get("ContentLength")) as advance,
    ):
        # Hashed as written: no second pass over the file.
        return copy_hashing(body.iter_chunks(_CHUNK), out, algorithms, advance)


def _reason(error: Exception) -> str | None:
    """``"missing"`` or ``"denied"`` when S3's answer says so, else None."""
    response = getattr(error, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = _status(error)
    if code in ("NoSuchKey", "NoSuchVersion", "NoSuchBucket", "404", "NotFound") or status == 404:
        return "missing"
    if code == "InvalidArgument" and "version" in str(error).lower():
        return "missing"
    if status in _RETRY_SIGNED:
        return "denied"
    return None


def _anonymous_then_signed(obj: S3Object, identifier: str | None, action: Callable[[Any], _T]) -> _T:
    """``action(client)`` with an anonymous client, then a signed one if that is refused.

    Raises :class:`S3ObjectError` naming the bucket, key, version id and endpoint, with what
    each attempt was told (and ``reason`` ``"missing"`` or ``"denied"`` when S3 said so).  An
    unreachable endpoint is not tried twice.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    attempts: list[str] = []
    endpoint = None
    reason = None
    for signed in (False, True):
        if signed and not _has_credentials():
            attempts.append(
                "signed: not tried, no AWS credentials found (environment, ~/.aws or AWS_PROFILE)"
            )
            break
        client = s3_client(signed=signed)
        endpoint = client.meta.endpoint_url
        mode = "signed" if signed else "anonymous"
        try:
            logger.debug("%s at %s (%s)", obj, endpoint, mode)
            return action(client)
        except ClientError as error:
            attempts.append(f"{mode}: {_describe(error, obj)}")
            reason = _reason(error)
            if _status(error) not in _RETRY_SIGNED:
                break
        except (BotoCoreError, OSError) as error:
            problem = (
                f"the endpoint is unreachable or the transfer failed ({type(error).__name__}: "
                f"{error}); check AWS_ENDPOINT_URL and the network"
            )
            raise S3ObjectError(
                obj.bucket, obj.key, obj.version_id, problem, endpoint, identifier
            ) from error
    raise S3ObjectError(
        obj.bucket, obj.key, obj.version_id, "; ".join(attempts), endpoint, identifier, reason
    )


def download_s3_object(
    obj: S3Object, destination: Path, identifier: str | None = None, algorithms: Sequence[str] = ("sha1",)
) -> dict[str, str]:
    """Write ``obj`` to ``destination``: anonymously, then signed if that is refused.

    Returns the digests (``{algorithm: hex}``) of the bytes written, computed while writing.
    Raises :class:`S3ObjectError` naming the bucket, key, version id and endpoint, with what
    each attempt was told.  An unreachable endpoint is not tried twice.
    """
    return _anonymous_then_signed(
        obj, identifier, lambda client: _stream_to(client, obj, destination, obj.url, algorithms)
    )


@dataclass(frozen=True)
class S3Head:
    """What a HEAD request says about an object: its size, ETag (unquoted) and version id."""

    size: int
    etag: str
    version_id: str | None


def head_s3_object(obj: S3Object, identifier: str | None = None) -> S3Head:
    """HEAD ``obj`` (at its version), anonymously then signed; :class:`S3ObjectError` if refused.

    ``version_id`` is None when the object has none (an unversioned bucket says ``"null"``).
    """

    def head(client: Any) -> S3Head:
        arguments = {"Bucket": obj.bucket, "Key": obj.key}
        if obj.version_id:
            arguments["VersionId"] = obj.version_id
        response = client.head_object(**arguments)
        return S3Head(
            int(response.get("ContentLength") or 0),
            str(response.get("ETag") or "").strip('"'),
            pinned_version(response.get("VersionId")),
        )

    return _anonymous_then_signed(obj, identifier, head)
