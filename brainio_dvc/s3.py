"""S3 objects through the shared data cache: Brain-Score's loaders and BrainIO's upload.

Brain-Score data plugins load their data with ``load_stimulus_set_from_s3`` and
``load_assembly_from_s3`` (from ``brainscore_core.supported_data_standards.brainio.s3``, or
``brainscore_vision.data_helpers.s3`` before that).  The same functions, with the same
signatures, live here; a plugin ports by changing that one import line::

    from brainio_dvc.s3 import load_assembly_from_s3, load_stimulus_set_from_s3

What they do, as in Brain-Score:

* ``bucket`` is a bucket name or ``bucket/folder``: the part after the first ``/`` is a key
  prefix.  Keys are ``<prefix><identifier with dots as underscores>.<nc|csv|zip>``, the prefix
  being ``assy_`` for assemblies and ``stimulus_`` (or ``filename_prefix``) for stimulus sets.
* A version id pins the S3 object version (GetObject with ``VersionId``); ``None``, ``""``
  and ``"null"`` mean the latest version.
* Every file's SHA-1 is checked: it is required, and it addresses the file in the data cache
  (:class:`brainio_dvc.store.cache.DataCache`), so a file is downloaded once, to a temporary name,
  and kept only if its SHA-1 matches.
* ``cls`` is an assembly class; ``stimulus_set_loader`` a callable returning the stimulus set,
  merged into the presentation coordinates (or, with ``merge_stimulus_set_meta=False``, only
  attached as ``attrs['stimulus_set']``).

Requests go first without credentials (public buckets), then signed with whatever boto3 finds
(environment, ``~/.aws``, ``AWS_PROFILE``) when the anonymous request is refused.  The endpoint
is boto3's: ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3`` or ``endpoint_url`` in the AWS config,
else AWS.  Timeouts and retries are bounded as for DVC remotes (5 s to connect, 10 s per read,
two attempts), unless ``AWS_MAX_ATTEMPTS`` or ``AWS_RETRY_MODE`` is set.  boto3 is imported on
first use.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .exceptions import IntegrityError, S3ObjectError, ValidationError
from .formats.hashes import check_digest

if TYPE_CHECKING:
    from .assemblies import DataAssembly
    from .stimuli import StimulusSet

__all__ = [
    "S3Head",
    "S3Object",
    "download_s3_object",
    "fetch_s3_object",
    "get_user_info",
    "head_s3_object",
    "load_assembly_from_s3",
    "load_stimulus_set_from_s3",
    "object_key",
    "parse_s3_url",
    "pinned_version",
    "s3_client",
    "split_bucket",
    "upload_to_s3",
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
        raise ValidationError(
            "S3 bucket", "a bucket name, optionally followed by /folder", repr(bucket)
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
        raise ValidationError(
            "S3 location",
            "s3://bucket/key or an http(s) URL naming a bucket and a key",
            repr(location),
        )
    version = urllib.parse.parse_qs(parsed.query).get("versionId", [None])[0]
    return S3Object(bucket, key, pinned_version(version))


# ---------------------------------------------------------------------------------------------
# Doing: clients, downloads, uploads


def _aws_settings() -> tuple[tuple[str, str], ...]:
    """The environment that boto3 reads its endpoint, region, credentials and retries from."""
    return tuple(sorted((name, value) for name, value in os.environ.items() if name.startswith("AWS_")))


@functools.lru_cache(maxsize=16)
def _cached_client(signed: bool, service: str, settings: tuple[tuple[str, str], ...]) -> Any:
    import boto3

    from .store.remotes import bounded_client_config

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
    from .formats.hashes import copy_hashing
    from .store.progress import tracker

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


def _download_verified(
    obj: S3Object,
    destination: Path,
    identifier: str | None,
    sha1: str,
    also: Sequence[str],
    verified: Callable[[Path, Mapping[str, str]], None] | None,
) -> dict[str, str]:
    digests = download_s3_object(obj, destination, identifier, ("sha1", *also))
    if verified is not None and digests["sha1"] == sha1:
        verified(destination, digests)
    return digests


def fetch_s3_object(
    obj: S3Object,
    sha1: str | None,
    identifier: str | None = None,
    *,
    also: Sequence[str] = (),
    verified: Callable[[Path, Mapping[str, str]], None] | None = None,
) -> Path:
    """The cached path of ``obj``, downloading it if no file of this SHA-1 is cached yet.

    The SHA-1 is required: it is checked on the download, which is discarded (nothing enters
    the cache) when it does not match.  It is also the cache's address: a file of this SHA-1
    that is cached already is returned without asking S3, whatever the version id.

    The download is hashed as it is written (SHA-1, and the algorithms in ``also``): no second
    pass over the file.  ``verified``, if given, is called with the downloaded file and its
    digests once its SHA-1 matched, before it is moved into the cache (to link it elsewhere,
    say); it is not called when the file was cached already.
    """
    from .fetch import data_cache

    subject = f"sha1 of {obj}" + (f" for {identifier!r}" if identifier else "")
    if not sha1:
        raise ValidationError(
            subject,
            "the file's SHA-1 (40 hex digits)",
            "none",
            hint="compute it with brainio_dvc.formats.hashes.sha1_hash on the uploaded file",
        )
    sha1 = check_digest("sha1", sha1, subject)
    description = str(obj) + (f" of {identifier!r}" if identifier else "")
    try:
        return data_cache().fetch(
            "sha1",
            sha1,
            lambda destination: _download_verified(obj, destination, identifier, sha1, also, verified),
            description,
        )
    except IntegrityError as error:
        hint = (
            "check the sha1 and version id given for it"
            if obj.version_id
            else "the key may have been overwritten since the sha1 was recorded: "
            "pin its version_id, or check the sha1"
        )
        raise IntegrityError(
            error.path, error.algorithm, error.expected, error.found, hint=hint
        ) from error


def get_user_info(sts_client: Any) -> tuple[str, str]:
    """The account id and user name of the caller, from STS ``GetCallerIdentity`` (as BrainIO).

    Raises :class:`S3ObjectError` when STS cannot answer (SeaweedFS and some other S3 servers
    do not implement it).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        identity = sts_client.get_caller_identity()
    except (BotoCoreError, ClientError) as error:
        endpoint = getattr(getattr(sts_client, "meta", None), "endpoint_url", None)
        problem = f"STS GetCallerIdentity failed ({type(error).__name__}: {error})"
        raise S3ObjectError("(sts)", "GetCallerIdentity", None, problem, endpoint) from error
    return str(identity["Account"]), str(identity["Arn"]).split("/")[-1]


def _uploader_tag() -> str | None:
    """``uploadedBy=<user>`` for the object's tags, or None when STS cannot tell the user."""
    try:
        account, user = get_user_info(s3_client(signed=True, service="sts"))
    except S3ObjectError as error:
        logger.warning("not tagging the upload with its uploader: %s", error.problem)
        return None
    logger.debug("uploading as user %s of account %s", user, account)
    return urllib.parse.urlencode({"uploadedBy": user})


def upload_to_s3(
    source_file_path: str | os.PathLike[str], bucket_name: str, target_s3_key: str
) -> dict[str, Any]:
    """Upload a file and return the new object's ``head_object`` properties (as BrainIO).

    On a versioned bucket the result has the ``VersionId`` that pins this upload.  The bucket
    may be ``bucket/folder`` (the folder prefixes the key).  The object is tagged
    ``uploadedBy=<STS user name>``; where STS is not available (SeaweedFS, MinIO without
    IAM...) a warning is logged and the object is uploaded without the tag.  Credentials and
    endpoint are boto3's (``AWS_ENDPOINT_URL``, the environment, ``~/.aws``).
    """
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    from .store.progress import tracker

    source = Path(source_file_path)
    if not source.is_file():
        raise ValidationError("upload source", "an existing file", str(source))
    bucket, folder = split_bucket(bucket_name)
    key = f"{folder}{target_s3_key.lstrip('/')}"
    client = s3_client(signed=True)
    endpoint = client.meta.endpoint_url
    if not _has_credentials():
        raise S3ObjectError(
            bucket,
            key,
            None,
            "cannot upload: no AWS credentials found "
            "(set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, ~/.aws or AWS_PROFILE)",
            endpoint,
        )
    tag = _uploader_tag()
    extra = {"Tagging": tag} if tag else None
    logger.info("uploading %s to s3://%s/%s at %s", source, bucket, key, endpoint)
    try:
        with tracker("upload", f"s3://{bucket}/{key}", source.stat().st_size) as advance:
            client.upload_file(
                str(source),
                bucket,
                key,
                ExtraArgs=extra,
                Callback=lambda amount: advance(max(amount, 0)),
            )
        properties: dict[str, Any] = client.head_object(Bucket=bucket, Key=key)
    except (Boto3Error, BotoCoreError, ClientError) as error:
        obj = S3Object(bucket, key)
        raise S3ObjectError(
            bucket, key, None, f"upload failed: {_describe(error, obj)}", endpoint
        ) from error
    logger.info("uploaded s3://%s/%s, version %s", bucket, key, properties.get("VersionId"))
    return properties


# ---------------------------------------------------------------------------------------------
# Brain-Score's loaders


def _assembly_class(cls: type) -> type[DataAssembly]:
    """``cls`` if it is one of ours, else our class of the same name (a plugin's class from
    ``brainio.assemblies`` or ``brainscore_core``), so that porting needs one import line."""
    from .assemblies import DataAssembly, resolve_assembly_class

    if isinstance(cls, type) and issubclass(cls, DataAssembly):
        return cls
    name = getattr(cls, "__name__", None)
    if not isinstance(name, str):
        raise ValidationError("cls of load_assembly_from_s3", "an assembly class", repr(cls))
    logger.debug("using brainio_dvc's %s for %r", name, cls)
    return resolve_assembly_class(name)


def _files_in(directory: Path) -> set[Path]:
    found = set()
    for root, _, names in os.walk(directory):
        found.update(Path(root) / name for name in names)
    return found


def load_stimulus_set_from_s3(
    identifier: str,
    bucket: str,
    csv_sha1: str,
    zip_sha1: str,
    csv_version_id: str | None,
    zip_version_id: str | None,
    filename_prefix: str | None = None,
) -> StimulusSet:
    """Brain-Score's stimulus set loader: ``<prefix><id>.csv`` and ``.zip`` from ``bucket``.

    The ZIP is extracted once, safely, under ``$BRAINIO_HOME/stimuli/<zip sha1>``; every file
    there must be a stimulus of the CSV and every stimulus must be there.
    """
    from .fetch import stimuli_directory
    from .stimuli import StimulusSet, StimulusSetLoader

    name, folder = split_bucket(bucket)
    csv = S3Object(
        name, object_key(identifier, "csv", folder, filename_prefix), pinned_version(csv_version_id)
    )
    archive = S3Object(
        name, object_key(identifier, "zip", folder, filename_prefix), pinned_version(zip_version_id)
    )
    csv_path = fetch_s3_object(csv, csv_sha1, identifier)
    zip_path = fetch_s3_object(archive, zip_sha1, identifier)
    directory = stimuli_directory(zip_path, zip_sha1.lower())
    stimulus_set = StimulusSetLoader(
        csv_path=csv_path, stimuli_directory=directory, cls=StimulusSet
    ).load()
    stimulus_set.identifier = identifier
    listed, extracted = set(stimulus_set.stimulus_paths.values()), _files_in(directory)
    if listed != extracted:
        missing, extra = sorted(listed - extracted), sorted(extracted - listed)
        raise ValidationError(
            f"stimulus set {identifier!r} ({csv.url}, {archive.url})",
            "the CSV's stimuli and the ZIP's files to be the same",
            f"{len(missing)} stimuli missing from the ZIP {[p.name for p in missing[:3]]}, "
            f"{len(extra)} files of the ZIP not in the CSV {[p.name for p in extra[:3]]}",
        )
    stimulus_set.attrs.update(_provenance(identifier, csv, csv_sha1))
    stimulus_set.attrs["zip"] = _provenance(identifier, archive, zip_sha1)
    return stimulus_set


def load_assembly_from_s3(
    identifier: str,
    version_id: str | None,
    sha1: str,
    bucket: str,
    cls: type,
    stimulus_set_loader: Callable[[], StimulusSet] | None = None,
    merge_stimulus_set_meta: bool = True,
) -> DataAssembly:
    """Brain-Score's assembly loader: ``assy_<id>.nc`` from ``bucket``, as an instance of ``cls``.

    With ``stimulus_set_loader``, the stimulus set it returns is attached as
    ``attrs['stimulus_set']`` (its identifier as ``attrs['stimulus_set_identifier']``) and, with
    ``merge_stimulus_set_meta`` (the default), its columns merged into the presentation
    coordinates.  ``attrs['identifier']`` is ``identifier``.
    """
    from .assemblies import (
        AssemblyLoader,
        StimulusMergeAssemblyLoader,
        StimulusReferenceAssemblyLoader,
    )

    assembly_class = _assembly_class(cls)
    name, folder = split_bucket(bucket)
    obj = S3Object(name, object_key(identifier, "nc", folder), pinned_version(version_id))
    file_path = fetch_s3_object(obj, sha1, identifier)
    loader: AssemblyLoader
    if stimulus_set_loader is not None:
        stimulus_set = stimulus_set_loader()
        loader_class = (
            StimulusMergeAssemblyLoader
            if merge_stimulus_set_meta
            else StimulusReferenceAssemblyLoader
        )
        loader = loader_class(
            cls=assembly_class,
            file_path=file_path,
            stimulus_set_identifier=getattr(stimulus_set, "identifier", None),
            stimulus_set=stimulus_set,
        )
    else:
        loader = AssemblyLoader(cls=assembly_class, file_path=file_path)
    assembly = loader.load()
    assembly.attrs.update(_provenance(identifier, obj, sha1))
    return assembly


def _provenance(identifier: str, obj: S3Object, sha1: str) -> dict[str, str]:
    """Where a loaded object came from, in the ``attrs`` keys of registry loads."""
    found = {"identifier": identifier, "location": obj.url, "sha1": sha1.lower()}
    if obj.version_id:
        found["version_id"] = obj.version_id
    return found
