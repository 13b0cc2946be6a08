"""From a catalog row to local files (BrainIO API).

Rows of registry catalogs (``location_type`` ``dvc``) are fetched by their MD5 from the
registry's DVC remote; rows of classic BrainIO catalogs (``S3`` or ``http`` with a SHA-1) by
their URL.  Either way the file lands in the shared content-addressed cache
(:class:`brainio_dvc.cache.DataCache`) and is only downloaded when it is not there yet.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import config
from .cache import DataCache, file_lock
from .catalogs import LOCATION_TYPE_DVC
from .exceptions import IntegrityError, RemoteError, UnknownClassError, ValidationError
from .hashes import DIGEST_LENGTHS, check_digest, sha1_hash

if TYPE_CHECKING:
    from .assemblies import DataAssembly
    from .remotes import Remote
    from .stimuli import StimulusSet

__all__ = [
    "data_cache",
    "fetch_file",
    "fetch_row",
    "get_local_data_path",
    "resolve_assembly_class",
    "resolve_stimulus_set_class",
    "stimuli_directory",
    "stimuli_root",
    "unzip",
    "verify_sha1",
    "verify_stimuli_directory",
]

logger = logging.getLogger(__name__)

_URL_TIMEOUT_SECONDS = 60
_remotes: dict[tuple[str, str], Remote] = {}


def get_local_data_path() -> Path:
    """The local data directory, ``BRAINIO_HOME`` (default ``~/.brainio``), read at call time."""
    return config.home()


def data_cache() -> DataCache:
    """The content-addressed cache under the current ``BRAINIO_HOME``."""
    return DataCache(config.home() / "cache")


def _remote(registry_spec: str, commit: str) -> Remote:
    from .registry import open_registry
    from .remotes import open_remote

    key = (registry_spec, commit)
    if key not in _remotes:
        _remotes[key] = open_remote(open_registry(registry_spec), commit)
    return _remotes[key]


def _download_url(url: str, destination: Path) -> None:
    import urllib.error  # imported here: only legacy URL locations need them
    import urllib.parse
    import urllib.request

    if url.startswith("s3://"):
        bucket, _, key = url.removeprefix("s3://").partition("/")
        url = f"https://{bucket}.s3.amazonaws.com/{urllib.parse.quote(key)}"
    try:
        with urllib.request.urlopen(url, timeout=_URL_TIMEOUT_SECONDS) as response, open(destination, "wb") as out:
            shutil.copyfileobj(response, out, length=1 << 20)
    except (urllib.error.URLError, OSError) as error:
        raise RemoteError(url, url, f"download failed: {error}") from error


def fetch_file(
    location_type: str,
    location: str,
    sha1: str | None = None,
    *,
    md5: str | None = None,
    registry: str | None = None,
    rev: str | None = None,
    identifier: str | None = None,
) -> Path:
    """The local path of a catalog entry's file, downloading it into the cache if needed.

    Registry rows (``location_type='dvc'``) need ``md5``, ``registry`` and ``rev`` (the commit);
    classic rows need ``sha1`` and an http(s) or s3 URL as ``location``.
    """
    cache = data_cache()
    description = f"{identifier} ({location})" if identifier else location
    if location_type == LOCATION_TYPE_DVC:
        if not (md5 and registry and rev):
            raise ValidationError(
                f"catalog row of {description}", "md5, registry and rev for location_type 'dvc'",
                f"md5={md5!r}, registry={registry!r}, rev={rev!r}",
            )
        return cache.fetch(
            "md5",
            md5,
            lambda destination: _remote(registry, rev).download(md5, destination, identifier),
            description=description,
        )
    if not sha1:
        raise ValidationError(f"catalog row of {description}", "a sha1", "none")
    if location_type.lower() not in ("s3", "http", "https"):
        raise ValidationError(
            f"catalog row of {description}", "location_type 'dvc', 'S3' or 'http'", repr(location_type)
        )
    return cache.fetch("sha1", sha1, lambda destination: _download_url(location, destination), description)


def fetch_row(row: Mapping[str, Any], identifier: str | None = None) -> Path:
    """:func:`fetch_file` for one catalog row."""

    def value(column: str) -> str | None:
        found = row.get(column)
        return None if found is None or found == "" or found != found else str(found)

    return fetch_file(
        str(row["location_type"]),
        str(row["location"]),
        value("sha1"),
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


def unzip(zip_path: str | os.PathLike[str], target_dir: str | os.PathLike[str] | None = None) -> Path:
    """Extract a ZIP safely and atomically; by default beside it, into a folder named after it."""
    from .archives import extract_zip

    zip_path = Path(zip_path)
    target = Path(target_dir) if target_dir is not None else zip_path.with_name(zip_path.stem)
    return extract_zip(zip_path, target)


def stimuli_directory(zip_path: Path, digest: str) -> Path:
    """The extracted stimuli of a cached ZIP, under ``$BRAINIO_HOME/stimuli/<digest>``.

    Extraction happens once, under a lock that waits: concurrent loads wait for it, and
    whatever an interrupted extraction left behind is removed first.
    """
    from .archives import extract_zip, is_extracted, remove_partial_extractions

    target = _stimuli_target(digest)
    if is_extracted(target):
        return target
    with file_lock(target):
        remove_partial_extractions(target)
        return extract_zip(zip_path, target)


def verify_stimuli_directory(zip_path: Path, digest: str) -> bool | None:
    """Check the extracted stimuli of a cached ZIP against it, file by file.

    True if they match, False if they did not (the directory is removed, so that the next load
    extracts again), None if the ZIP was never extracted.
    """
    from .archives import discard_extraction, extraction_problems, is_extracted

    target = _stimuli_target(digest)
    if not is_extracted(target):
        return None
    with file_lock(target):
        problems = extraction_problems(zip_path, target)
        if not problems:
            return True
        logger.warning("extracted stimuli in %s are corrupt: %s", target, "; ".join(problems[:5]))
        discard_extraction(target)
        return False


def stimuli_root() -> Path:
    """Where extracted stimuli live: ``$BRAINIO_HOME/stimuli``, one directory per ZIP digest."""
    return config.home() / "stimuli"


def _stimuli_target(digest: str) -> Path:
    """The directory of a ZIP's stimuli; the digest (md5, or a classic row's sha1) is checked,
    since it comes from a catalog and becomes a directory name."""
    algorithm = "md5" if len(digest) == DIGEST_LENGTHS["md5"] else "sha1"
    return stimuli_root() / check_digest(algorithm, digest, "stimulus ZIP digest")


def resolve_assembly_class(name: str) -> type[DataAssembly]:
    """The assembly class of a catalog's ``class`` column; only known classes resolve."""
    from .assemblies import ASSEMBLY_CLASSES

    if name not in ASSEMBLY_CLASSES:
        raise UnknownClassError(name, "assembly", sorted(ASSEMBLY_CLASSES))
    return ASSEMBLY_CLASSES[name]


def resolve_stimulus_set_class(name: str) -> type[StimulusSet]:
    """The stimulus set class of a catalog's ``class`` column; only known classes resolve."""
    from .stimuli import STIMULUS_SET_CLASSES

    if name not in STIMULUS_SET_CLASSES:
        raise UnknownClassError(name, "stimulus set", sorted(STIMULUS_SET_CLASSES))
    return STIMULUS_SET_CLASSES[name]
