"""What a migration reads: classic BrainIO catalogs and manifests of S3 objects (pure parsing).

**The manifest** lists one S3 object per entry, as CSV (a header row with these columns) or
JSON (a list of objects with these keys, or ``{"entries": [...]}``):

=========================== ================================================================
column                      meaning
=========================== ================================================================
``identifier``              the stimulus set's or assembly's identifier, kept verbatim
``kind``                    ``stimulus_set`` or ``assembly``
``class``                   the assembly class; ``StimulusSet`` for a stimulus set's CSV,
                            empty for its ZIP
``bucket``                  the bucket (``bucket/folder`` is accepted: the folder then
                            prefixes ``key``)
``key``                     the object's key; a stimulus set has two entries, its ``.csv``
                            and its ``.zip`` (told apart by the extension, else by ``class``)
``version_id``              the S3 version to take; empty or ``null``: the latest
``sha1``                    the SHA-1 of the object's bytes (40 hex digits)
``stimulus_set_identifier`` an assembly's stimulus set; empty for stimulus sets
``bibtex``                  optional: the citation
=========================== ================================================================

**A classic BrainIO catalog** (``identifier, lookup_type, class, location_type, location,
sha1, stimulus_set_identifier``, optionally ``version_id``) is read as the same entries:
``location`` is the object's URL (``s3://``, virtual-hosted or path-style), ``lookup_type``
its kind.  An input entry that cannot be understood becomes an :class:`Entry` with a
``problem``, reported and never migrated.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ...exceptions import BrainioDvcError, MigrationError
from ...formats.catalog_csv import BRAINIO_COLUMNS, TYPE_ASSEMBLY, TYPE_STIMULUS_SET
from ...formats.hashes import is_digest

__all__ = [
    "MANIFEST_COLUMNS",
    "Entry",
    "parse_catalog_entries",
    "parse_input",
    "parse_manifest_csv",
    "parse_manifest_json",
    "read_input",
    "render_manifest_csv",
    "render_manifest_json",
]

MANIFEST_COLUMNS = (
    "identifier", "kind", "class", "bucket", "key", "version_id", "sha1", "stimulus_set_identifier", "bibtex",
)
_REQUIRED = ("identifier", "kind", "bucket", "key", "sha1")
ROLE_NC, ROLE_CSV, ROLE_ZIP = "nc", "csv", "zip"


@dataclass(frozen=True)
class Entry:
    """One S3 object to migrate, as one file of a stimulus set (``csv``/``zip``) or an assembly (``nc``)."""

    identifier: str
    kind: str
    role: str
    cls: str
    bucket: str
    key: str
    version_id: str | None
    sha1: str
    stimulus_set_identifier: str = ""
    bibtex: str = ""
    #: Where the entry was read, e.g. ``lookup.csv:12``.
    origin: str = ""
    #: Why the entry cannot be migrated as it is, or "" (then it is well-formed).
    problem: str = ""

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def source(self) -> str:
        """The URL with its version (``?versionId=``) when it has one."""
        return self.url + (f"?versionId={self.version_id}" if self.version_id else "")

    def manifest_row(self) -> dict[str, str]:
        return {
            "identifier": self.identifier, "kind": self.kind, "class": self.cls, "bucket": self.bucket,
            "key": self.key, "version_id": self.version_id or "", "sha1": self.sha1,
            "stimulus_set_identifier": self.stimulus_set_identifier, "bibtex": self.bibtex,
        }

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _version(value: object) -> str | None:
    from ...store.s3objects import pinned_version

    return pinned_version(None if value is None else str(value))


def _role(kind: str, key: str, cls: str) -> str:
    if kind == TYPE_ASSEMBLY:
        return ROLE_NC
    if key.lower().endswith(".zip"):
        return ROLE_ZIP
    if key.lower().endswith(".csv"):
        return ROLE_CSV
    return ROLE_CSV if cls else ROLE_ZIP


def _problem(values: Mapping[str, str]) -> str:
    empty = [column for column in _REQUIRED if not values.get(column)]
    if empty:
        return f"invalid entry: no {', '.join(empty)}"
    if values["kind"] not in (TYPE_ASSEMBLY, TYPE_STIMULUS_SET):
        return f"invalid entry: kind {values['kind']!r}, expected 'assembly' or 'stimulus_set'"
    if not is_digest("sha1", values["sha1"]):
        return f"invalid entry: sha1 {values['sha1']!r} is not 40 hex digits"
    return ""


def entry_from_values(values: Mapping[str, object], origin: str) -> Entry:
    """The entry of one manifest row (a CSV row or a JSON object)."""
    text = {
        column: "" if values.get(column) is None else str(values.get(column)).strip() for column in MANIFEST_COLUMNS
    }
    text["sha1"] = text["sha1"].lower()
    bucket, key = text["bucket"], text["key"].lstrip("/")
    if "/" in bucket:
        bucket, _, folder = bucket.partition("/")
        folder = folder.strip("/")
        key = f"{folder}/{key}" if folder and not key.startswith(f"{folder}/") else key
    kind = text["kind"]
    return Entry(
        identifier=text["identifier"], kind=kind, role=_role(kind, key, text["class"]), cls=text["class"],
        bucket=bucket, key=key, version_id=_version(text["version_id"]), sha1=text["sha1"],
        stimulus_set_identifier=text["stimulus_set_identifier"] if kind == TYPE_ASSEMBLY else "",
        bibtex=str(values.get("bibtex")) if values.get("bibtex") else "", origin=origin, problem=_problem(text),
    )


def _csv_rows(text: str, source: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        rows = list(reader)
    except csv.Error as error:
        raise MigrationError(source, f"unreadable CSV at line {reader.line_num}: {error}") from error
    if not rows:
        raise MigrationError(source, "the file is empty")
    header = [cell.strip() for cell in rows[0]]
    numbered = []
    for line, row in enumerate(rows[1:], start=2):
        if any(cell.strip() for cell in row):
            numbered.append((line, dict(zip(header, row, strict=False))))
    return header, numbered


def parse_manifest_csv(text: str, source: str) -> list[Entry]:
    header, rows = _csv_rows(text, source)
    required = _REQUIRED + ("version_id", "class", "stimulus_set_identifier")
    missing = [column for column in required if column not in header]
    if missing:
        raise MigrationError(source, f"a manifest needs the columns {', '.join(MANIFEST_COLUMNS[:8])}; "
                                     f"no {', '.join(missing)} in {header}")
    return [entry_from_values(values, f"{source}:{line}") for line, values in rows]


def parse_manifest_json(text: str, source: str) -> list[Entry]:
    try:
        data = json.loads(text)
    except ValueError as error:
        raise MigrationError(source, f"invalid JSON: {error}") from error
    items = data.get("entries") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise MigrationError(source, 'expected a JSON list of entries, or {"entries": [...]}')
    entries = []
    for number, item in enumerate(items):
        origin = f"{source}[{number}]"
        if not isinstance(item, dict):
            entries.append(
                Entry("", "", "", "", "", "", None, "", origin=origin, problem="invalid entry: not an object")
            )
            continue
        entries.append(entry_from_values(item, origin))
    return entries


def parse_catalog_entries(text: str, source: str) -> list[Entry]:
    """The entries of a classic BrainIO catalog (rows of ``location_type`` ``S3``, or http(s) S3 URLs)."""
    from ...store.s3objects import parse_s3_url

    _, rows = _csv_rows(text, source)
    entries = []
    for line, values in rows:
        origin = f"{source}:{line}"
        row = {column: (values.get(column) or "").strip() for column in (*BRAINIO_COLUMNS, "version_id")}
        lookup_type = row["lookup_type"]
        try:
            obj = parse_s3_url(row["location"])
        except BrainioDvcError as error:
            entries.append(Entry(row["identifier"], lookup_type, "", row["class"], "", row["location"], None,
                                 row["sha1"].lower(), origin=origin,
                                 problem=f"invalid entry: location is not an S3 object ({error})"))
            continue
        entry = entry_from_values({
            "identifier": row["identifier"], "kind": lookup_type, "class": row["class"], "bucket": obj.bucket,
            "key": obj.key, "version_id": row["version_id"] or obj.version_id, "sha1": row["sha1"],
            "stimulus_set_identifier": row["stimulus_set_identifier"],
        }, origin)
        if lookup_type == TYPE_STIMULUS_SET and not entry.problem:
            # BrainIO's rule: the CSV's row has the class, the ZIP's row has none.
            entry = replace(entry, role=ROLE_CSV if row["class"] else ROLE_ZIP)
        entries.append(entry)
    return entries


def parse_input(text: str, source: str) -> list[Entry]:
    """Entries from a manifest (CSV or JSON) or a classic BrainIO catalog, told apart by content."""
    if text.lstrip().startswith(("[", "{")):
        return parse_manifest_json(text, source)
    header, _ = _csv_rows(text, source)
    if "location_type" in header and "location" in header:
        return parse_catalog_entries(text, source)
    return parse_manifest_csv(text, source)


def read_input(path: Path) -> list[Entry]:
    """:func:`parse_input` of a file; :class:`MigrationError` when it cannot be read."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise MigrationError(str(path), f"cannot read it ({error})") from error
    return parse_input(text, Path(path).name)


def render_manifest_csv(entries: Iterable[Entry]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(entry.manifest_row() for entry in entries)
    return buffer.getvalue()


def render_manifest_json(entries: Sequence[Entry]) -> str:
    return json.dumps({"entries": [entry.manifest_row() for entry in entries]}, indent=2) + "\n"
