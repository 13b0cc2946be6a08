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

Addressing objects and reading them (clients, HEAD, versioned GET) is
:mod:`brainio_dvc.store.s3objects`, whose public names are re-exported here; this module adds
the data cache (:func:`fetch_s3_object`), the upload and Brain-Score's loaders.
"""

from __future__ import annotations

import logging
import os
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .exceptions import IntegrityError, S3ObjectError, ValidationError
from .formats.hashes import check_digest
from .store.s3objects import (
    ASSEMBLY_PREFIX,  # noqa: F401 - importable from here, as before the split
    STIMULUS_SET_PREFIX,  # noqa: F401
    UNPINNED_VERSION_IDS,  # noqa: F401
    S3Head,
    S3Object,
    _describe,
    _has_credentials,
    download_s3_object,
    head_s3_object,
    object_key,
    parse_s3_url,
    pinned_version,
    s3_client,
    split_bucket,
)

if TYPE_CHECKING:
    from .assemblies import DataAssembly
    from .stimuli import StimulusSet
    from .store.cache import CacheBatch

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


# ---------------------------------------------------------------------------------------------
# Through the data cache, and uploads


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
    batch: CacheBatch | None = None,
) -> Path:
    """The cached path of ``obj``, downloading it if no file of this SHA-1 is cached yet.

    The SHA-1 is required: it is checked on the download, which is discarded (nothing enters
    the cache) when it does not match.  It is also the cache's address: a file of this SHA-1
    that is cached already is returned without asking S3, whatever the version id.

    The download is hashed as it is written (SHA-1, and the algorithms in ``also``): no second
    pass over the file.  ``verified``, if given, is called with the downloaded file and its
    digests once its SHA-1 matched, before it is moved into the cache (to link it elsewhere,
    say); it is not called when the file was cached already.  With ``batch``, the file enters
    the data cache through that batch (:class:`~brainio_dvc.store.cache.CacheBatch`: trusted once
    the batch is flushed).
    """
    from .store.cache import data_cache

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
        return (batch or data_cache()).fetch(
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
        msg = "(sts)"
        raise S3ObjectError(msg, "GetCallerIdentity", None, problem, endpoint) from error
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

    from .progress import tracker

    source = Path(source_file_path)
    if not source.is_file():
        msg = "upload source"
        raise ValidationError(msg, "an existing file", str(source))
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
        msg = "cls of load_assembly_from_s3"
        raise ValidationError(msg, "an assembly class", repr(cls))
    logger.debug("using brainio_dvc's %s for %r", name, cls)
    return resolve_assembly_class(name)


def _files_in(directory: Path) -> set[Path]:
    found: set[Path] = set()
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
    listed, extracted = set((stimulus_set.stimulus_paths or {}).values()), _files_in(directory)
    if listed != extracted:
        missing, extra = sorted(listed - extracted), sorted(extracted - listed)
        msg = f"stimulus set {identifier!r} ({csv.url}, {archive.url})"
        raise ValidationError(
            msg,
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
