"""What changed between revisions of a registry, and the history of one identifier."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ..formats.catalog_csv import TYPE_ASSEMBLY

if TYPE_CHECKING:
    from ..store.registry import Registry

__all__ = [
    "Change",
    "Revision",
    "diff_revisions",
    "diff_rows",
    "file_history",
    "identifier_history",
    "role_of",
    "row_history",
    "tags_by_commit",
]


def role_of(row: Mapping[str, Any]) -> str:
    """Which file of an identifier a row describes: ``nc``, ``csv`` or ``zip``."""
    if row["lookup_type"] == TYPE_ASSEMBLY:
        return "nc"
    return "csv" if row.get("class") else "zip"


@dataclass(frozen=True)
class Change:
    """One identifier's file that was added, removed or changed between two revisions."""

    status: str  # "added", "removed" or "changed"
    identifier: str
    lookup_type: str
    role: str
    md5_before: str
    md5_after: str


def _keyed(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str, str], str]:
    return {
        (str(r["identifier"]), str(r["lookup_type"]), role_of(r)): str(r.get("md5") or r.get("sha1") or "")
        for r in rows
    }


def diff_rows(before: Iterable[Mapping[str, Any]], after: Iterable[Mapping[str, Any]]) -> list[Change]:
    """Changes from the catalog rows ``before`` to ``after``, sorted by identifier (pure)."""
    old, new = _keyed(before), _keyed(after)
    changes = []
    for key in sorted(old.keys() | new.keys()):
        identifier, lookup_type, role = key
        if key not in old:
            status = "added"
        elif key not in new:
            status = "removed"
        elif old[key] != new[key]:
            status = "changed"
        else:
            continue
        changes.append(Change(status, identifier, lookup_type, role, old.get(key, ""), new.get(key, "")))
    return changes


def file_history(registry: Registry, location: str, rev: str | None = None) -> list[dict[str, str]]:
    """Every commit up to ``rev`` that changed the ``.dvc`` file of ``location``, newest first,
    with the file's md5 there (``(removed)`` where the commit deleted it)."""
    from ..formats.dvcmeta import parse_dvc_file

    dvc_path = f"{location}.dvc"
    history = []
    for commit in registry.log(dvc_path, rev=rev):
        data = registry.read_bytes(commit.sha, dvc_path)
        md5 = str(parse_dvc_file(data.decode(), dvc_path)["md5"]) if data else "(removed)"
        history.append({"commit": commit.sha, "date": commit.date, "author": commit.author, "md5": md5,
                        "subject": commit.subject})
    return history


def tags_by_commit(registry: Registry) -> dict[str, list[str]]:
    """Commit -> the names of the tags that point at it (annotated tags peeled), sorted."""
    tags: dict[str, list[str]] = {}
    for name, sha in registry.git.tags().items():
        tags.setdefault(sha, []).append(name)
    return {sha: sorted(names) for sha, names in tags.items()}


@dataclass(frozen=True)
class Revision:
    """One commit that changed a file of an identifier (an entry of ``brainio-dvc log``)."""

    file: str  # the file's location in its registry
    commit: str
    date: str
    author: str
    md5: str  # the file's md5 at that commit, "(removed)" where the commit deleted it
    subject: str


def row_history(row: Mapping[str, Any]) -> list[Revision]:
    """:func:`file_history` of the file a catalog row describes, up to the row's revision,
    newest first; [] for a row of no registry (a configured catalog CSV)."""
    from ..store.registry import open_registry

    if not row.get("registry"):
        return []
    location = str(row["location"])
    registry = open_registry(str(row["registry"]))
    return [
        Revision(file=location, **entry)
        for entry in file_history(registry, location, rev=row["rev"])
    ]


def identifier_history(
    identifier: str, rev: str | None = None, registry: str | None = None
) -> list[Revision]:
    """Every commit that changed a file of ``identifier`` (assembly or stimulus set), file by
    file in catalog order (a stimulus set's CSV first), each file's newest first.

    :raises IdentifierLookupError: when no catalog has ``identifier``.
    """
    from ..lookup import lookup_identifier

    return [revision for row in lookup_identifier(identifier, rev=rev, registry=registry)
            for revision in row_history(row)]


def diff_revisions(rev_a: str, rev_b: str, registry: str | None = None) -> list[Change]:
    """What changed from revision ``rev_a`` to ``rev_b`` of ``registry`` (a path or URL;
    default: every configured registry, else the one around the current directory), registry
    by registry, each sorted by identifier.

    :raises RegistryError: when no registry is given, configured or around the current directory.
    """
    from ..exceptions import RegistryError
    from ..store.registry import default_registry_specs, open_registry

    specs = [registry] if registry else default_registry_specs()
    if not specs:
        msg = "no registry given, configured or around the current directory"
        raise RegistryError(str(Path()), msg)
    changes: list[Change] = []
    for spec in specs:
        opened = open_registry(spec)
        # A catalog's column labels are str; pandas-stubs keys to_dict's records by Hashable.
        rows_a, rows_b = (
            [row for catalog in opened.catalogs(opened.resolve(rev)).values()
             for row in cast("list[dict[str, Any]]", catalog.to_dict(orient="records"))]
            for rev in (rev_a, rev_b)
        )
        changes += diff_rows(rows_a, rows_b)
    return changes
