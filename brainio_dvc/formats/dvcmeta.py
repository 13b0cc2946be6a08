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
import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from ..exceptions import ValidationError
from .catalog_csv import LOCATION_TYPE_DVC
from .hashes import is_digest

__all__ = [
    "META_FIELDS", "dvc_row", "dvc_yaml", "load_dvc_document", "parse_dvc_file", "read_dvc_yaml", "with_meta",
]

#: What each ``.dvc`` file's ``meta`` block must carry.
META_FIELDS = ("identifier", "lookup_type", "class", "sha1", "stimulus_set_identifier", "catalog")


def _yaml(kind: str = "safe") -> Any:
    from ruamel.yaml import YAML  # DVC's own YAML library, loaded only when .dvc files are read

    yaml = YAML(typ=kind)
    yaml.default_flow_style = False
    return yaml


def _load(text: str, source: str) -> Mapping[str, Any]:
    fast = read_dvc_yaml(text)
    if fast is not None:
        return fast
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
    return dvc_row(_load(text, dvc_path), dvc_path)


def dvc_row(document: Mapping[str, Any], dvc_path: str) -> dict[str, object]:
    """The catalog row of a ``.dvc`` document already parsed (or about to be written): what
    :func:`parse_dvc_file` gives for its YAML text, without reading YAML."""
    from ..store.references import is_reference, parse_reference

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


# -- writing .dvc files ------------------------------------------------------------------------
# ruamel.yaml's pure-Python emitter takes about 3 ms a file (its C extension is not installed).
# .dvc files have one small shape (mappings, lists of mappings, short scalars), so
# :func:`dvc_yaml` writes them directly, byte for byte as ``YAML(typ="safe")`` with block style
# writes them, for the scalars it can be sure of; for anything else it gives None and the caller
# falls back to ruamel.  Tests compare the two outputs and load the text back with ruamel.

_WIDTH = 80  # ruamel's best_width: a plain value that would end past it goes on a line of its own
_PLAIN_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.:/?=&%+~-]*")
_PLAIN_HEX = re.compile(r"[0-9][0-9a-f]*")
_NUMBER_LIKE = re.compile(r"[0-9]+(?:e[0-9]+)?|0b[0-9a-f]*")
#: Words some YAML version reads as a boolean or null (1.2 and 1.1, any case): never written plain here.
_SPECIAL_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


def _plain_scalar(text: str) -> bool:
    """Whether ``text`` is certainly written plain by ruamel and read back as this string."""
    if _PLAIN_WORD.fullmatch(text):
        return not text.endswith(":") and "::" not in text and text.lower() not in _SPECIAL_WORDS
    return bool(_PLAIN_HEX.fullmatch(text)) and not _NUMBER_LIKE.fullmatch(text)


def _scalar(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if value == "":
            return "''"
        return value if _plain_scalar(value) else None
    return None


def _emit_mapping(mapping: Mapping[Any, Any], indent: int, lines: list[str], first_prefix: str | None) -> bool:
    """Append the block mapping at ``indent`` to ``lines`` (its first line starting with
    ``first_prefix`` instead of the indent: ``- `` in a list); False if it cannot be sure."""
    if not mapping:
        return False
    for number, (key, value) in enumerate(mapping.items()):
        if not isinstance(key, str) or not _PLAIN_WORD.fullmatch(key) or len(key) > 64 or _scalar(key) != key:
            return False
        prefix = (first_prefix if number == 0 and first_prefix is not None else " " * indent) + key + ":"
        if isinstance(value, Mapping):
            lines.append(prefix)
            if not _emit_mapping(value, indent + 2, lines, None):
                return False
        elif isinstance(value, list):
            lines.append(prefix)
            if not value:
                return False
            for item in value:
                if not isinstance(item, Mapping) or not _emit_mapping(item, indent + 2, lines, " " * indent + "- "):
                    return False
        else:
            text = _scalar(value)
            if text is None:
                return False
            if len(prefix) + 1 + len(text) > _WIDTH:  # ruamel breaks the line after "key: "
                lines += [prefix + " ", " " * (indent + 2) + text]
            else:
                lines.append(f"{prefix} {text}")
    return True


def dvc_yaml(document: Mapping[str, Any]) -> str | None:
    """``document`` as ruamel.yaml (``typ="safe"``, block style, keys in order) writes it, or
    None when it holds a value this writer leaves to ruamel (quoted or multi-line text, floats,
    None, empty collections)."""
    lines: list[str] = []
    if not _emit_mapping(document, 0, lines, None):
        return None
    return "\n".join(lines) + "\n"


# -- reading them back -------------------------------------------------------------------------
# A re-run of a migration reads every .dvc file of the branch; ruamel reads one in about 3 ms.
# :func:`read_dvc_yaml` reads the shape :func:`dvc_yaml` writes and keeps what it read only if
# :func:`dvc_yaml` writes it back to exactly the same text: what ruamel writes for a document, it
# reads back as that document (tested), so the result is what ruamel would have read.  Any other
# text is left to ruamel.

_INTEGER = re.compile(r"-?[0-9]+")


def _read_scalar(text: str) -> object:
    if text == "''":
        return ""
    if text in ("true", "false"):
        return text == "true"
    return int(text) if _INTEGER.fullmatch(text) else text


def _read_mapping(lines: list[str], start: int, indent: int, in_list: bool) -> tuple[dict[str, Any], int] | None:
    """The block mapping at ``indent`` from ``lines[start]`` (in a list: its first line starts
    with ``- ``), and the line after it; None if the lines do not have the shape written."""
    mapping: dict[str, Any] = {}
    position = start
    while position < len(lines):
        line = lines[position]
        prefix = " " * (indent - 2) + "- " if in_list and position == start else " " * indent
        if not line.startswith(prefix) or line[len(prefix):len(prefix) + 1] in ("", " ", "-"):
            break
        rest = line[len(prefix):]
        position += 1
        if rest.endswith(": "):  # a long value, on the next line
            if position == len(lines) or not lines[position].startswith(" " * (indent + 2)):
                return None
            mapping[rest[:-2]] = _read_scalar(lines[position][indent + 2:])
            position += 1
        elif rest.endswith(":"):
            following = lines[position] if position < len(lines) else ""
            if following.startswith(" " * indent + "- "):
                items: list[Any] = []
                while position < len(lines) and lines[position].startswith(" " * indent + "- "):
                    read = _read_mapping(lines, position, indent + 2, True)
                    if read is None or read[1] == position:
                        return None
                    items.append(read[0])
                    position = read[1]
                mapping[rest[:-1]] = items
            else:
                read = _read_mapping(lines, position, indent + 2, False)
                if read is None or read[1] == position:
                    return None
                mapping[rest[:-1]], position = read
        else:
            key, separator, value = rest.partition(": ")
            if not separator:
                return None
            mapping[key] = _read_scalar(value)
    return mapping, position


def read_dvc_yaml(text: str) -> dict[str, Any] | None:
    """The document of ``text`` if it is exactly what :func:`dvc_yaml` writes for it (hence what
    ruamel reads from it), else None: the caller reads it with ruamel."""
    if not text.endswith("\n"):
        return None
    lines = text[:-1].split("\n")
    read = _read_mapping(lines, 0, 0, False)
    if read is None or read[1] != len(lines) or dvc_yaml(read[0]) != text:
        return None
    return read[0]
