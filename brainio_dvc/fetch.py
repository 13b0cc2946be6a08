"""From a catalog row to local files (BrainIO API).

Rows of registry catalogs (``location_type`` ``dvc``) are fetched by their MD5 from the
registry's DVC remote; rows of classic BrainIO catalogs by their SHA-1: ``S3`` locations
through boto3 (:mod:`brainio_dvc.s3`: anonymous first, then signed, at boto3's endpoint, so
``AWS_ENDPOINT_URL`` applies, and at a pinned ``version_id`` if one is given), ``http``
locations by URL.  Either way the file lands in the shared content-addressed cache
(:class:`brainio_dvc.store.cache.DataCache`) and is only downloaded when it is not there yet.

BrainIO's other public names are here too: :class:`Fetcher`, :class:`BotoFetcher`,
:func:`get_fetcher`, :func:`filename_from_link`, :func:`unzip`, :func:`fullname`, and
``get_assembly``, ``get_stimulus_set``, ``StimulusSetLoader``, ``lookup_assembly``,
``lookup_stimulus_set``, ``assemblies`` and ``stimuli``, imported on first use.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import shutil
import threading
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import config
from .catalogs import LOCATION_TYPE_DVC
from .exceptions import IntegrityError, RemoteError, ValidationError
from .formats.atomic import atomic_path, publish, remove_stale_temporaries, temporary_path
from .formats.hashes import DIGEST_LENGTHS, check_digest, is_digest, sha1_hash
from .formats.values import is_missing
from .store.cache import DataCache, data_cache
from .store.file_lock import file_lock
from .store.references import LOCATION_TYPE_REFERENCE
from .store.state import REMOTES

if TYPE_CHECKING:
    from . import assemblies, stimuli
    from .assemblies import resolve_assembly_class
    from .loading import get_assembly, get_stimulus_set
    from .lookup import lookup_assembly, lookup_stimulus_set
    from .stimuli import StimulusSetLoader, resolve_stimulus_set_class
    from .store.remote_spec import Remote

__all__ = [
    "BRAINIO_HOME",
    "BotoFetcher",
    "Fetcher",
    "StimulusSetLoader",
    "assemblies",
    "data_cache",
    "fetch_file",
    "fetch_row",
    "filename_from_link",
    "fullname",
    "get_assembly",
    "get_fetcher",
    "extracted_stimuli",
    "get_local_data_path",
    "cached_files",
    "cache_objects",
    "is_cached",
    "get_stimulus_set",
    "lookup_assembly",
    "lookup_stimulus_set",
    "resolve_assembly_class",
    "resolve_stimulus_set_class",
    "sha1_hash",
    "stimuli",
    "stimuli_directory",
    "stimuli_root",
    "stimuli_target",
    "unzip",
    "verify_sha1",
    "verify_stimuli_directory",
]

#: BrainIO's name of the environment variable of the local data directory.
BRAINIO_HOME = "BRAINIO_HOME"

#: Names imported on first use, from the module that defines them: ``loading`` imports this
#: module, and the data model is heavy.
_LAZY = {
    "get_assembly": ("loading", "get_assembly"),
    "get_stimulus_set": ("loading", "get_stimulus_set"),
    "StimulusSetLoader": ("stimuli", "StimulusSetLoader"),
    "lookup_assembly": ("lookup", "lookup_assembly"),
    "lookup_stimulus_set": ("lookup", "lookup_stimulus_set"),
    "assemblies": ("assemblies", None),
    "stimuli": ("stimuli", None),
    "resolve_assembly_class": ("assemblies", "resolve_assembly_class"),
    "resolve_stimulus_set_class": ("stimuli", "resolve_stimulus_set_class"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module_name, attribute = _LAZY[name]
        module = importlib.import_module(f".{module_name}", __package__)
        value = module if attribute is None else getattr(module, attribute)
        globals()[name] = value
        return value
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


logger = logging.getLogger(__name__)

_URL_TIMEOUT_SECONDS = 60
_remotes_lock = threading.Lock()


def get_local_data_path() -> Path:
    """The local data directory, ``BRAINIO_HOME`` (default ``~/.brainio``), read at call time."""
    return config.home()


def _remote(registry_spec: str, commit: str) -> Remote:
    from .store.registry import open_registry
    from .store.remotes import open_remote

    key = (registry_spec, commit)
    with _remotes_lock:  # the files of one load are fetched from several threads: open it once
        found: Remote | None = REMOTES.get(key)
        if found is None:
            found = REMOTES[key] = open_remote(open_registry(registry_spec), commit)
        return found


def _download_url(url: str, destination: Path) -> None:
    """An ``http`` location (not S3: those go through boto3)."""
    import urllib.error  # imported here: only legacy URL locations need them
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=_URL_TIMEOUT_SECONDS) as response, open(destination, "wb") as out:
            shutil.copyfileobj(response, out, length=1 << 20)
    except (urllib.error.URLError, OSError) as error:
        raise RemoteError(url, url, f"download failed: {error}") from error


def fetch_file(
    location_type: str,
    location: str,
    sha1: str | None = None,
    version_id: str | None = None,
    *,
    md5: str | None = None,
    registry: str | None = None,
    rev: str | None = None,
    identifier: str | None = None,
) -> Path:
    """The local path of a catalog entry's file, downloading it into the cache if needed.

    As in BrainIO, ``fetch_file(location_type, location, sha1, version_id=None)``: ``S3``
    locations (``s3://bucket/key``, virtual-hosted or path-style URLs) are read with boto3 at
    the S3 object version ``version_id`` (None, ``""`` or ``"null"``: the latest); ``http``
    locations by URL.  Both need the ``sha1``, which is checked before the file is kept.
    Registry rows (``location_type='dvc'``) need ``md5``, ``registry`` and ``rev`` (the commit);
    references to S3 objects (``'s3-reference'``, see :mod:`brainio_dvc.store.references`) need
    ``sha1``, ``registry`` and ``rev``.
    """
    from .s3 import fetch_s3_object, parse_s3_url, pinned_version

    cache = data_cache()
    description = f"{identifier} ({location})" if identifier else location
    kind = str(location_type).lower()
    version = pinned_version(version_id)
    if version is not None and kind != "s3":
        raise ValidationError(
            subject=f"catalog row of {description}", expected="a version_id only for location_type 'S3'",
            found=f"version_id={version_id!r} with location_type {location_type!r}",
        )
    if location_type == LOCATION_TYPE_REFERENCE:
        from .store.references import fetch_reference

        return fetch_reference(location, sha1, registry, rev, identifier)
    if location_type == LOCATION_TYPE_DVC:
        if not (md5 and registry and rev):
            raise ValidationError(
                subject=f"catalog row of {description}", expected="md5, registry and rev for location_type 'dvc'",
                found=f"md5={md5!r}, registry={registry!r}, rev={rev!r}",
            )
        return cache.fetch(
            "md5",
            md5,
            lambda destination: _remote(registry, rev).download(md5, destination, identifier),
            description=description,
            resumable=True,  # a killed download of a large object resumes where it stopped
        )
    if kind == "s3":
        obj = parse_s3_url(location)
        if version is not None:
            obj = type(obj)(obj.bucket, obj.key, version)
        return fetch_s3_object(obj, sha1, identifier)
    if not sha1:
        raise ValidationError(subject=f"catalog row of {description}", expected="a sha1", found="none")
    if kind not in ("http", "https"):
        raise ValidationError(
            subject=f"catalog row of {description}",
            expected="location_type 'dvc', 'S3' or 'http'",
            found=repr(location_type),
        )
    if location.startswith("s3://"):
        return fetch_s3_object(parse_s3_url(location), sha1, identifier)
    return cache.fetch(
        "sha1", sha1, lambda destination: _download_url(location, destination), description
    )


def is_cached(row: Mapping[str, Any]) -> bool:
    """Whether a catalog row's file is in the data cache already (by its md5, else its sha1):
    then :func:`fetch_row` needs no download."""
    return cached_files([row])[0] is not None


def cached_files(rows: Sequence[Mapping[str, Any]], home: Path | None = None) -> list[Path | None]:
    """The data cache's file of each row when it is there and intact (what :func:`fetch_row`
    would return without downloading), else None: by its md5 for a registry row, else its
    sha1.  ``home`` is ``BRAINIO_HOME``, by default read from the settings."""
    cache, objects = cache_objects(rows, home)
    return cache.lookup_all(objects)


def cache_objects(
    rows: Sequence[Mapping[str, Any]], home: Path | None = None
) -> tuple[DataCache, list[tuple[str, str, Path] | None]]:
    """The data cache of ``home`` and, for each row, the object that would hold its file
    (algorithm, digest, path; None when the row names no digest), for :meth:`DataCache.lookup_all`."""
    cache = data_cache(home)
    found: list[tuple[str, str, Path] | None] = []
    for row in rows:
        algorithm = "md5" if row.get("location_type") == LOCATION_TYPE_DVC and row.get("md5") else "sha1"
        digest = row.get(algorithm)
        try:
            path = cache.path_for(algorithm, digest) if isinstance(digest, str) and digest else None
        except ValidationError:  # not a digest: no file of the cache, and fetch_row says why
            path = None
        found.append(None if path is None else (algorithm, str(digest), path))
    return cache, found


def fetch_row(row: Mapping[str, Any], identifier: str | None = None) -> Path:
    """:func:`fetch_file` for one catalog row."""

    def value(column: str) -> str | None:
        found = row.get(column)
        return None if is_missing(found) else str(found)

    return fetch_file(
        str(row["location_type"]),
        str(row["location"]),
        value("sha1"),
        value("version_id"),
        md5=value("md5"),
        registry=value("registry"),
        rev=value("rev"),
        identifier=identifier or value("identifier"),
    )


def verify_sha1(path: str | os.PathLike[str], sha1: str) -> None:
    """Raise :class:`IntegrityError` unless the file's SHA-1 is ``sha1``."""
    found = sha1_hash(path)
    if found != sha1.lower():
        raise IntegrityError(os.fspath(path), "sha1", sha1.lower(), found)


def unzip(
    zip_path: str | os.PathLike[str], target_dir: str | os.PathLike[str] | None = None
) -> Path:
    """Extract a ZIP safely and atomically, and return the directory that holds its files.

    As in BrainIO, ``unzip(zip_path)`` extracts beside the ZIP, into the directory that holds
    it, and returns that directory (members already there are not extracted again).  A ZIP of
    the data cache (what :func:`fetch_file` returns) shares its directory with other objects,
    so its files go to its own directory of extracted stimuli,
    ``$BRAINIO_HOME/stimuli/<digest>``, the one :func:`get_stimulus_set` uses, which holds the
    ZIP's files and nothing else.  With ``target_dir``, the files go there.

    Entries that would escape the directory, and symlinks, are refused
    (:class:`UnsafeArchiveError`); no file is ever seen half-written.
    """
    from .formats.zip_extraction import extract_zip

    zip_path = Path(zip_path)
    if target_dir is not None:
        return extract_zip(zip_path, target_dir)
    digest = _cached_digest(zip_path)
    if digest is not None:
        return stimuli_directory(zip_path, digest)
    return _extract_beside(zip_path)


def _cached_digest(path: Path) -> str | None:
    """The digest of a file of the data cache (``files/<algorithm>/<ab>/<rest>``), else None."""
    files = data_cache().root / "files"
    try:
        algorithm, prefix, rest = path.absolute().relative_to(files.absolute()).parts
    except ValueError:
        return None
    return (prefix + rest).lower() if is_digest(algorithm, prefix + rest) else None


def _extract_beside(zip_path: Path) -> Path:
    """BrainIO's ``unzip``: the ZIP's files into its own directory, each renamed into place.

    The archive is extracted into a hidden temporary directory beside it first (checked, as
    every extraction), then each file is renamed into the ZIP's directory.  A lock under
    ``$BRAINIO_HOME/locks`` (not beside the ZIP: that directory is the caller's listing)
    serializes processes extracting the same ZIP; what an interrupted one left is removed.
    """
    from .formats.zip_extraction import extract_zip

    directory = zip_path.absolute().parent
    lock = config.home() / "locks" / hashlib.sha1(os.fsencode(zip_path.absolute())).hexdigest()
    with file_lock(lock):
        remove_stale_temporaries(directory / zip_path.name)
        names = _member_files(zip_path)
        if names and all((directory / name).is_file() for name in names):
            logger.debug("%s is already extracted in %s", zip_path, directory)
            return directory
        staging = temporary_path(directory / zip_path.name)
        try:
            extract_zip(zip_path, staging)
            for root, _, files in os.walk(staging):
                for name in files:
                    source = Path(root) / name
                    target = directory / source.relative_to(staging)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    publish(source, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    logger.info("extracted %s into %s", zip_path, directory)
    return directory


def _member_files(zip_path: Path) -> list[str]:
    """The file entries of a ZIP; none when it cannot be read (extraction then says why)."""
    import zipfile

    try:
        with zipfile.ZipFile(zip_path) as archive:
            return [info.filename for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return []


def extracted_stimuli(digest: str, home: Path | None = None) -> Path | None:
    """The directory of a ZIP's extracted stimuli if it was extracted completely, else None."""
    from .formats.zip_extraction import is_extracted

    target = stimuli_target(digest, home)
    return target if is_extracted(target) else None


def stimuli_directory(zip_path: Path, digest: str, home: Path | None = None) -> Path:
    """The extracted stimuli of a cached ZIP, under ``$BRAINIO_HOME/stimuli/<digest>`` (``home``,
    by default read from the settings).  Extraction happens once, under a lock that waits:
    concurrent loads wait for it, and what an interrupted extraction left is removed first."""
    from .formats.zip_extraction import extract_zip, is_extracted

    target = stimuli_target(digest, home)
    if is_extracted(target):
        return target
    with file_lock(target):
        return extract_zip(zip_path, target)  # which removes what interrupted ones left


def verify_stimuli_directory(zip_path: Path, digest: str) -> bool | None:
    """Check the extracted stimuli of a cached ZIP against it, file by file.

    True if they match, False if they did not (the directory is removed, so that the next load
    extracts again), None if the ZIP was never extracted.
    """
    from .formats.zip_extraction import discard_extraction, extraction_problems, is_extracted

    target = stimuli_target(digest)
    if not is_extracted(target):
        return None
    with file_lock(target):
        problems = extraction_problems(zip_path, target)
        if not problems:
            return True
        logger.warning("extracted stimuli in %s are corrupt: %s", target, "; ".join(problems[:5]))
        discard_extraction(target)
        return False


def stimuli_root(home: Path | None = None) -> Path:
    """Where extracted stimuli live: ``$BRAINIO_HOME/stimuli`` (``home``, by default read from
    the settings), one directory per ZIP digest."""
    return (home or config.home()) / "stimuli"


def stimuli_target(digest: str, home: Path | None = None) -> Path:
    """The directory of a ZIP's stimuli; the digest (md5, or a classic row's sha1) is checked,
    since it comes from a catalog and becomes a directory name."""
    algorithm = "md5" if len(digest) == DIGEST_LENGTHS["md5"] else "sha1"
    return stimuli_root(home) / check_digest(algorithm, digest, "stimulus ZIP digest")


class Fetcher:
    """BrainIO's base class of what obtains the file at ``location`` (see :class:`BotoFetcher`).

    ``local_dir_path`` is ``$BRAINIO_HOME/<local_filename>``.
    """

    def __init__(self, location: str, local_filename: str | os.PathLike[str]) -> None:
        self.location = location
        self.local_filename = local_filename
        self.local_dir_path = os.path.join(get_local_data_path(), os.fspath(local_filename))

    def fetch(self) -> str:
        """Fetch the resource and return its local path."""
        msg = f"{fullname(self)} does not implement fetch(); use a subclass such as BotoFetcher"
        raise NotImplementedError(msg)


class BotoFetcher(Fetcher):
    """BrainIO's S3 fetcher: the object at ``location`` into ``local_dir_path``, by its name.

    ``location`` is ``s3://bucket/key``, a virtual-hosted URL (``https://bucket.s3.amazonaws.com/key``)
    or a path-style one (``https://host/bucket/key``).  :meth:`fetch` downloads
    ``output_filename`` (which callers may set) unless it exists, through boto3 (anonymous,
    then signed; ``AWS_ENDPOINT_URL`` applies), to a temporary name renamed into place.  It
    has no hash to check: :func:`fetch_file` does check one, and caches by it.
    """

    def __init__(
        self, location: str, local_filename: str | os.PathLike[str], version_id: str | None = None
    ) -> None:
        from .s3 import parse_s3_url, pinned_version

        super().__init__(location, local_filename)
        parsed = parse_s3_url(location)
        self.bucketname = parsed.bucket
        self.relative_path = parsed.key
        self.version_id = pinned_version(version_id) or parsed.version_id
        self.extra_args = {"VersionId": self.version_id} if self.version_id else None
        basename = os.path.basename(self.relative_path)
        self.output_filename = os.path.join(self.local_dir_path, basename)
        self._logger = logging.getLogger(fullname(self))

    def fetch(self) -> str:
        if not os.path.exists(self.output_filename):
            self.download_boto()
        return str(self.output_filename)

    def download_boto(self) -> None:
        """Download the object to ``output_filename`` (anonymously, then signed)."""
        from .s3 import S3Object, download_s3_object

        target = Path(self.output_filename)
        with atomic_path(target) as temporary:
            download_s3_object(S3Object(self.bucketname, self.relative_path, self.version_id), temporary)
        self._logger.debug("downloaded %s to %s", self.location, target)


_FETCHER_TYPES: dict[str, type[BotoFetcher]] = {"S3": BotoFetcher}


def get_fetcher(
    type: str = "S3",
    location: str | None = None,
    local_filename: str | os.PathLike[str] | None = None,
    version_id: str | None = None,
) -> Fetcher:
    """BrainIO's fetcher of a location type (only ``S3``)."""
    fetcher_class = _FETCHER_TYPES.get(type)
    if fetcher_class is None:
        raise ValidationError(
            subject="fetcher type", expected="one of " + ", ".join(_FETCHER_TYPES), found=repr(type)
        )
    if location is None:
        raise ValidationError(subject="fetcher location", expected="an S3 URL", found="none")
    if local_filename is None:
        local_filename = filename_from_link(location)
    return fetcher_class(location, local_filename, version_id=version_id)


def filename_from_link(location: str) -> str:
    """The file name of a URL without its extension (BrainIO's local folder name)."""
    return os.path.splitext(os.path.basename(urllib.parse.urlparse(location).path))[0]


def fullname(obj: object) -> str:
    """``module.ClassName`` of an object."""
    return f"{type(obj).__module__}.{type(obj).__name__}"
