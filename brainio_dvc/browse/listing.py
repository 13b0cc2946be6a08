"""What the catalogs hold: one entry per identifier (``brainio-dvc list``), the description
of one identifier's files (``brainio-dvc show``), and every row (``brainio-dvc verify``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, cast

from ..exceptions import BrainioDvcError
from .history import Revision, row_history

__all__ = [
    "FileDescription",
    "IdentifierDescription",
    "Listed",
    "catalog_rows",
    "describe_identifier",
    "list_artifacts",
    "parse_size",
]

logger = logging.getLogger(__name__)


def parse_size(value: object) -> int:
    """A catalog's ``size`` entry in bytes: its digits as a number, 0 when it has none
    (empty, missing, or not a whole number of bytes)."""
    text = str(value or "")
    return int(text) if text.isdigit() else 0


@dataclass
class Listed:
    """One identifier of one kind, with its files' sizes summed (a stimulus set's CSV and ZIP)."""

    identifier: str
    type: str  # the lookup type: "assembly" or "stimulus_set"
    class_name: str
    catalog: str | None
    stimulus_set: str  # an assembly's stimulus set identifier; "" for a stimulus set
    size: int  # bytes

    def as_dict(self) -> dict[str, Any]:
        """The entry as ``brainio-dvc list --json`` prints it (the class under ``class``)."""
        return {
            "identifier": self.identifier,
            "type": self.type,
            "class": self.class_name,
            "catalog": self.catalog,
            "stimulus_set": self.stimulus_set,
            "size": self.size,
        }


def list_artifacts(rev: str | None = None, registry: str | None = None) -> list[Listed]:
    """Every stimulus set and assembly of the catalogs at ``rev``, sorted by identifier and type."""
    from ..lookup import combined_catalog

    catalog = combined_catalog(rev=rev, registry=registry)
    entries: dict[tuple[str, str], Listed] = {}
    for row in catalog.to_dict(orient="records"):
        key = (row["identifier"], row["lookup_type"])
        entry = entries.setdefault(
            key,
            Listed(
                identifier=row["identifier"],
                type=row["lookup_type"],
                class_name="",
                catalog=row.get("catalog") or row.get("source_catalog"),
                stimulus_set=row.get("stimulus_set_identifier") or "",
                size=0,
            ),
        )
        entry.class_name = entry.class_name or row.get("class") or ""
        entry.size += parse_size(row.get("size"))
    return [entries[key] for key in sorted(entries)]


@dataclass(frozen=True)
class FileDescription:
    """One file of an identifier: its catalog entries, what is inside it, and its history."""

    file: str
    class_name: str
    size: str  # as the catalog has it
    md5: str
    sha1: str
    contents: dict[str, Any]  # an assembly's dims, shape and dtype; a stimulus CSV's stimuli count
    dvc_import: str | None  # the ``dvc import`` command, None for a file not on a DVC remote
    history: list[Revision] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The file as ``brainio-dvc show --json`` prints it (its revisions without ``file``)."""
        history = [
            {key: value for key, value in asdict(revision).items() if key != "file"}
            for revision in self.history
        ]
        return {
            "file": self.file,
            "class": self.class_name,
            "size": self.size,
            "md5": self.md5,
            "sha1": self.sha1,
            **self.contents,
            "dvc_import": self.dvc_import,
            "history": history,
        }


@dataclass(frozen=True)
class IdentifierDescription:
    """An identifier, the registry and revision it was found at, and its files."""

    identifier: str
    type: str
    class_name: str | None  # of its first file (a stimulus set's CSV)
    registry: str | None
    rev: str | None
    files: list[FileDescription]


def _import_command(row: Mapping[str, Any]) -> str | None:
    if not row.get("registry") or not row.get(
        "md5"
    ):  # a reference (migrate --reference) is not on the remote
        return None
    return f"dvc import {row['registry']} {row['location']} --rev {row['rev']}"


def _contents(row: Mapping[str, Any], identifier: str) -> dict[str, Any]:
    """What is inside the file of ``row``, fetched through the cache."""
    from ..fetch import fetch_row

    path = fetch_row(row, identifier)
    if row["lookup_type"] == "assembly":
        from ..formats.netcdf import describe_netcdf

        return describe_netcdf(path)
    if row.get("class"):
        from ..stimuli import read_stimulus_csv

        return {"stimuli": len(read_stimulus_csv(path))}
    return {}


def describe_identifier(
    identifier: str, rev: str | None = None, registry: str | None = None
) -> IdentifierDescription:
    """Describe ``identifier`` (assembly or stimulus set): each file is fetched (through the
    cache) to read its shape or stimuli count, and its history is read from git.

    :raises IdentifierLookupError: when no catalog has ``identifier``.
    """
    from ..lookup import lookup_identifier

    rows = lookup_identifier(identifier, rev=rev, registry=registry)
    files = [
        FileDescription(
            file=str(row["location"]),
            class_name=row.get("class") or "",
            size=row.get("size") or "",
            md5=row.get("md5") or "",
            sha1=row.get("sha1") or "",
            contents=_contents(row, identifier),
            dvc_import=_import_command(row),
            history=row_history(row),
        )
        for row in rows
    ]
    return IdentifierDescription(
        identifier=identifier,
        type=rows[0]["lookup_type"],
        class_name=rows[0].get("class"),
        registry=rows[0].get("registry"),
        rev=rows[0].get("rev"),
        files=files,
    )


def catalog_rows(rev: str | None = None, registry: str | None = None) -> list[dict[str, object]]:
    """Every row of the catalogs of ``registry`` (default: the configured ones) at ``rev``, for
    ``brainio-dvc verify`` without identifiers to check every cached pair; [] (with a warning)
    when the catalogs cannot be read, since the cache can be verified without them."""
    from ..lookup import combined_catalog

    try:
        # A catalog's column labels are str; pandas-stubs keys to_dict's records by Hashable.
        records = combined_catalog(rev=rev, registry=registry).to_dict(orient="records")
        return list(cast("list[dict[str, object]]", records))
    except (BrainioDvcError, OSError) as error:
        logger.warning("cannot read the catalogs, so no stimulus CSV is checked against its ZIP: %s", error)
        return []
