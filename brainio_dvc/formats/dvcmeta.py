"""The ``meta`` block of a registry's ``.dvc`` files: the catalog row of the tracked file.

A tracked file's ``.dvc`` file looks like this (DVC writes ``outs``; brainio_dvc adds ``meta``)::

    outs:
    - md5: 0f343b0931126a20f133d67c2b018a3b
      size: 1024
      hash: md5
      path: demo.Gabor2024.nc
    meta:
      identifier: demo.Gabor2024
      lookup_type: assembly
      class: NeuronRecordingAssembly
      sha1: 5b7a0b3c...
      stimulus_set_identifier: demo.Gabor2024
      catalog: demo

Parsing is pure: text in, row out.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from ..catalogs import LOCATION_TYPE_DVC
from ..exceptions import ValidationError
from .hashes import is_digest

__all__ = ["META_FIELDS", "load_dvc_document", "parse_dvc_file", "with_meta"]

#: What each ``.dvc`` file's ``meta`` block must carry.
META_FIELDS = ("identifier", "lookup_type", "class", "sha1", "stimulus_set_identifier", "catalog")


def _yaml(kind: str = "safe") -> Any:
    from ruamel.yaml import YAML  # DVC's own YAML library, loaded only when .dvc files are read

    yaml = YAML(typ=kind)
    yaml.default_flow_style = False
    return yaml


def _load(text: str, source: str) -> Mapping[str, Any]:
    from ruamel.yaml import YAMLError

    try:
        document = _yaml().load(text)
    except (YAMLError, ValueError, TypeError, OverflowError) as error:
        # ValueError and friends: scalars YAML cannot construct, e.g. "2001-02-30" or "!!int x".
        raise ValidationError(source, "a YAML .dvc file", f"invalid YAML ({error})") from error
    if not isinstance(document, Mapping):
        raise ValidationError(source, "a YAML mapping with 'outs' and 'meta'", type(document).__name__)
    return document


def load_dvc_document(text: str, source: str) -> Mapping[str, Any]:
    """The YAML mapping of any ``.dvc`` file (``dvc import``s too); ValidationError if it is not one."""
    return _load(text, source)


def _single_out(document: Mapping[str, Any], source: str) -> Mapping[str, Any]:
    outs = document.get("outs")
    if not isinstance(outs, list) or len(outs) != 1 or not isinstance(outs[0], Mapping):
        raise ValidationError(source, "'outs' with exactly one tracked file", repr(outs))
    out = outs[0]
    md5, size, path = out.get("md5"), out.get("size"), out.get("path")
    if not is_digest("md5", md5, lowercase=True):
        raise ValidationError(source, "outs[0].md5 of 32 hex digits (a file, not a directory)", repr(md5))
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValidationError(source, "outs[0].size as a number of bytes", repr(size))
    if not isinstance(path, str) or not path or "/" in path or "\\" in path or path in (".", ".."):
        raise ValidationError(source, "outs[0].path naming a file beside the .dvc file", repr(path))
    return out


def _meta(document: Mapping[str, Any], source: str) -> dict[str, str]:
    meta = document.get("meta")
    if not isinstance(meta, Mapping):
        raise ValidationError(source, "a 'meta' block with " + ", ".join(META_FIELDS), repr(meta))
    missing = [field for field in META_FIELDS if field not in meta]
    if missing:
        raise ValidationError(source, "meta fields " + ", ".join(META_FIELDS), "no " + ", ".join(missing))
    values = {field: "" if meta[field] is None else meta[field] for field in META_FIELDS}
    wrong = [field for field, value in values.items() if not isinstance(value, str)]
    if wrong:
        raise ValidationError(source, "text values in meta", "non-text " + ", ".join(wrong))
    if not is_digest("sha1", values["sha1"], lowercase=True):
        raise ValidationError(source, "meta.sha1 of 40 hex digits", repr(values["sha1"]))
    return values


def parse_dvc_file(text: str, dvc_path: str) -> dict[str, object]:
    """The catalog row described by a ``.dvc`` file at ``dvc_path`` (relative to the registry).

    A reference to an S3 object (a ``.dvc`` file with ``deps``, written by ``migrate
    --reference``) gives a row of ``location_type`` ``s3-reference``: see
    :mod:`brainio_dvc.store.references`.
    """
    document = _load(text, dvc_path)
    from ..store.references import is_reference, parse_reference  # noqa: PLC0415 - references import this module

    if is_reference(document):
        return parse_reference(document, dvc_path, _meta(document, dvc_path))
    out = _single_out(document, dvc_path)
    meta = _meta(document, dvc_path)
    location = PurePosixPath(dvc_path).parent / out["path"]
    return {
        **meta,
        "location_type": LOCATION_TYPE_DVC,
        "location": location.as_posix(),
        "md5": out["md5"],
        "size": out["size"],
    }


def with_meta(dvc_text: str, meta: Mapping[str, str]) -> str:
    """``dvc_text`` with its ``meta`` block replaced by ``meta`` (DVC's fields kept as they are)."""
    yaml = _yaml("rt")
    document = yaml.load(dvc_text)
    document["meta"] = {field: str(meta.get(field) or "") for field in META_FIELDS}
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    return buffer.getvalue()
