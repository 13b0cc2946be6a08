"""Artifacts whose bytes stay in S3: a ``.dvc`` file that references a source object at a version.

``brainio-dvc migrate --reference`` writes, per file, what DVC's ``import-url --no-download
--version-aware`` records (the source's URL, version id, ETag and size under ``deps``; an
``outs`` entry without a hash that is never pushed), plus the ``meta`` block with the catalog
row and its SHA-1::

    frozen: true
    deps:
    - path: s3://brainscore-storage/brainscore-vision/assy_dicarlo_MajajHong2015_public.nc
      version_id: 2H7x...            # absent when the source is not versioned ("null")
      etag: 5eb63bbbe01eeed093cb22bb8f5acdc3
      size: 1048576
      fs_config:
        version_aware: true
    outs:
    - path: dicarlo.MajajHong2015.public.nc
      hash: md5
      push: false
    meta:
      identifier: dicarlo.MajajHong2015.public
      ...                             # the catalog row, as for any artifact
      verified: false                 # only when recorded with --no-head (no HEAD request)

In the generated catalog such a file is a row of ``location_type`` ``s3-reference`` whose
``location`` is the file's path in the registry (as for ``dvc`` rows, so ``log``, ``show`` and
``diff`` work alike), ``md5`` empty and ``size`` the source's.  Loading it
(:func:`fetch_reference`) reads the ``.dvc`` file at the row's commit, checks an unversioned
source's ETag and size with a HEAD request, fetches the recorded version, verifies the SHA-1
and keeps the file in the data cache by that SHA-1; a source that changed raises
:class:`~brainio_dvc.exceptions.SourceChangedError` and nothing is loaded.

:func:`reference_dvc_text` and :func:`parse_reference` are pure; the rest is I/O.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ..exceptions import (
    BrainioDvcError,
    IntegrityError,
    S3ObjectError,
    SourceChangedError,
    ValidationError,
)

__all__ = [
    "LOCATION_TYPE_REFERENCE",
    "Source",
    "dvc_file_text",
    "fetch_reference",
    "is_reference",
    "parse_reference",
    "reference_dvc_document",
    "reference_dvc_text",
    "source_problems",
]

logger = logging.getLogger(__name__)

LOCATION_TYPE_REFERENCE = "s3-reference"
_CHECK_JOBS = 16


@dataclass(frozen=True)
class Source:
    """Where a referenced file's bytes are: an S3 URL at a version, with what a HEAD said of it."""

    url: str
    version_id: str | None
    etag: str | None
    size: int | None

    @property
    def verified(self) -> bool:
        """Whether a HEAD request confirmed the object when it was recorded (not ``--no-head``)."""
        return self.etag is not None and self.size is not None

    def describe(self) -> str:
        return f"{self.url} ({f'version {self.version_id}' if self.version_id else 'unversioned'})"


def is_reference(document: Mapping[str, Any]) -> bool:
    """Whether a parsed ``.dvc`` document is a reference (has ``deps``) rather than a tracked file."""
    return "deps" in document


def reference_dvc_text(file_name: str, source: Source, meta: Mapping[str, str], extra_meta: Mapping[str, str]) -> str:
    """The ``.dvc`` file of a reference (see the module's documentation)."""
    return dvc_file_text(reference_dvc_document(file_name, source, meta, extra_meta))


def reference_dvc_document(file_name: str, source: Source, meta: Mapping[str, str],
                           extra_meta: Mapping[str, str]) -> dict[str, Any]:
    """The document that :func:`reference_dvc_text` writes as YAML."""
    dependency: dict[str, Any] = {}
    if source.etag is not None:
        dependency["etag"] = source.etag
    if source.size is not None:
        dependency["size"] = source.size
    if source.version_id:
        dependency["version_id"] = source.version_id
    dependency["path"] = source.url
    if source.version_id:
        dependency["fs_config"] = {"version_aware": True}
    block: dict[str, str | bool] = {**{key: str(value or "") for key, value in meta.items()}, **dict(extra_meta)}
    if not source.verified:
        block["verified"] = False
    return {
        "frozen": True,
        "deps": [dependency],
        "outs": [{"path": file_name, "hash": "md5", "push": False}],
        "meta": block,
    }


def dvc_file_text(document: Mapping[str, Any]) -> str:
    """A ``.dvc`` document as YAML, in block style, keys in the order given (as ruamel.yaml
    writes it: directly when :func:`~brainio_dvc.formats.dvcmeta.dvc_yaml` can, else with ruamel)."""
    from ..formats.dvcmeta import dvc_yaml

    fast = dvc_yaml(document)
    if fast is not None:
        return fast
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    # ruamel initialises this flag to None, so its inferred type is None.
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    return buffer.getvalue()


def _source(document: Mapping[str, Any], where: str) -> Source:
    deps = document.get("deps")
    if not isinstance(deps, list) or len(deps) != 1 or not isinstance(deps[0], Mapping):
        raise ValidationError(where, "'deps' with exactly one source", repr(deps))
    dependency = deps[0]
    url, version, etag, size = (dependency.get(key) for key in ("path", "version_id", "etag", "size"))
    if not isinstance(url, str) or not url.startswith("s3://"):
        raise ValidationError(where, "deps[0].path as an s3:// URL", repr(url))
    if version is not None and not isinstance(version, str):
        raise ValidationError(where, "deps[0].version_id as text", repr(version))
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise ValidationError(where, "deps[0].size as a number of bytes", repr(size))
    return Source(url, version or None, None if etag is None else str(etag), size)


def parse_reference(document: Mapping[str, Any], dvc_path: str, meta: Mapping[str, str]) -> dict[str, object]:
    """The catalog row of a reference's parsed ``.dvc`` document (``meta`` already validated).

    Besides the catalog columns the row has ``source`` (a :class:`Source`), which catalogs leave out.
    """
    source = _source(document, dvc_path)
    outs = document.get("outs")
    out = outs[0] if isinstance(outs, list) and len(outs) == 1 and isinstance(outs[0], Mapping) else None
    path = out.get("path") if out is not None else None
    if not isinstance(path, str) or not path or "/" in path or "\\" in path or path in (".", ".."):
        raise ValidationError(dvc_path, "outs[0].path naming a file beside the .dvc file", repr(path))
    return {
        **meta,
        "location_type": LOCATION_TYPE_REFERENCE,
        "location": (PurePosixPath(dvc_path).parent / path).as_posix(),
        "md5": "",
        "size": "" if source.size is None else source.size,
        "source": source,
    }


def _read_source(registry: str, rev: str, location: str) -> Source:
    from ..formats.dvcmeta import parse_dvc_file
    from .registry import open_registry

    dvc_path = f"{location}.dvc"
    data = open_registry(registry).read_bytes(rev, dvc_path)
    if data is None:
        msg = f"registry {registry} at {rev[:10]} has no {dvc_path} for its catalog row"
        raise BrainioDvcError(msg)
    source = parse_dvc_file(data.decode("utf-8"), dvc_path).get("source")
    if not isinstance(source, Source):
        msg = f"{dvc_path} in registry {registry} at {rev[:10]} is not a reference to an S3 object"
        raise BrainioDvcError(msg)
    return source


def _s3_object(source: Source) -> Any:
    from .s3objects import parse_s3_url

    obj = parse_s3_url(source.url)
    return type(obj)(obj.bucket, obj.key, source.version_id)


class SourceObject:
    """A reference's source read as :class:`~brainio_dvc.store.remote_file.RemoteObjectFile` reads a
    remote's object (``size``, ``read_range``; the key argument is ignored): one HEAD, then
    ranged GETs of the recorded version, anonymously then signed."""

    def __init__(self, source: Source, identifier: str | None = None) -> None:
        from .remote_spec import RemoteSpec

        self.source = source
        self.identifier = identifier
        self.registry = ""
        self.spec = RemoteSpec(name=source.describe(), url=source.url)
        self.object = _s3_object(source)

    def size(self, _key: str = "") -> int:
        from .s3objects import head_s3_object

        return head_s3_object(self.object, self.identifier).size

    def read_range(self, _key: str, start: int, end: int) -> bytes:
        from .s3objects import _anonymous_then_signed

        if end <= start:
            return b""
        arguments = {"Bucket": self.object.bucket, "Key": self.object.key, "Range": f"bytes={start}-{end - 1}"}
        if self.object.version_id:
            arguments["VersionId"] = self.object.version_id
        return _anonymous_then_signed(self.object, self.identifier,
                                      lambda client: bytes(client.get_object(**arguments)["Body"].read()))

    def download(self, _key: str, destination: Path, identifier: str | None = None) -> dict[str, str]:
        from .s3objects import download_s3_object

        return download_s3_object(self.object, destination, identifier or self.identifier, ("sha1",))


def check_source(source: Source, identifier: str | None = None) -> None:
    """HEAD the source at its version; :class:`SourceChangedError` if an unversioned one's ETag or size changed.

    :class:`~brainio_dvc.exceptions.S3ObjectError` when it is missing or refused.
    """
    from .s3objects import head_s3_object

    head = head_s3_object(_s3_object(source), identifier)
    if source.version_id:
        return  # a version never changes; its SHA-1 is still checked on download
    if source.size is not None and head.size != source.size:
        raise SourceChangedError(source.url, None, "size", str(source.size), str(head.size), identifier)
    if source.etag is not None and head.etag != source.etag:
        raise SourceChangedError(source.url, None, "etag", source.etag, head.etag, identifier)


def fetch_reference(location: str, sha1: str | None, registry: str | None, rev: str | None,
                    identifier: str | None = None) -> Path:
    """The cached file of a reference row, fetched from its source if it is not cached yet.

    A file of this SHA-1 in the data cache is used without contacting anything.  Otherwise the
    source is read from the ``.dvc`` file at ``rev``; an unversioned source is checked first
    (ETag, size); the download's SHA-1 is checked.  A source that changed raises
    :class:`SourceChangedError`.
    """
    from ..formats.hashes import check_digest
    from ..s3 import fetch_s3_object
    from .cache import data_cache

    description = f"{identifier} ({location})" if identifier else location
    if not (sha1 and registry and rev):
        msg = f"catalog row of {description}"
        raise ValidationError(msg, "sha1, registry and rev for location_type "
                              f"{LOCATION_TYPE_REFERENCE!r}", f"sha1={sha1!r}, registry={registry!r}, rev={rev!r}")
    sha1 = check_digest("sha1", sha1, f"sha1 of {description}")
    cached = data_cache().lookup("sha1", sha1)
    if cached is not None:
        return cached
    source = _read_source(registry, rev, location)
    if not source.version_id:
        check_source(source, identifier)
    try:
        return fetch_s3_object(_s3_object(source), sha1, identifier)
    except SourceChangedError:
        raise
    except IntegrityError as error:
        raise SourceChangedError(source.url, source.version_id, "sha1", sha1, error.found, identifier) from error


def source_problems(rows: Iterable[Mapping[str, Any]], jobs: int = _CHECK_JOBS) -> list[str]:
    """For ``catalog check --remote``: each reference whose source is missing, refused, changed or unverified."""
    references = [row for row in rows if isinstance(row.get("source"), Source)]

    def check(row: Mapping[str, Any]) -> list[str]:
        source: Source = row["source"]
        found = []
        if not source.verified:
            found.append(f"{row['location']} references {source.describe()} unverified (recorded with --no-head); "
                         "migrate it again without --no-head")
        try:
            check_source(source, str(row["identifier"]))
        except (S3ObjectError, SourceChangedError) as error:
            found.append(f"{row['location']}: {error}")
        return found

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return [problem for problems in pool.map(check, references) for problem in problems]
