"""Generate a registry's lookup CSVs from its ``.dvc`` files, and find what is wrong with them.

:func:`scan_registry`, :func:`write_catalogs` and :func:`identifiers_at` do the I/O;
:func:`generate_catalogs`, :func:`find_problems` and :func:`naming_advice` are pure.

A catalog on disk is in sync when it has the generated header and rows, in any order: two
review branches that add different datasets each add their own lines, and the registry's
``.gitattributes`` (``catalogs/*/lookup.csv merge=union``) lets a plain ``git merge`` keep
both sides' lines.  ``catalog build`` writes the canonical order again.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..exceptions import BrainioDvcError, CatalogFormatError, ValidationError
from ..formats.atomic import atomic_write_text
from ..formats.catalog_csv import TYPE_ASSEMBLY, TYPE_STIMULUS_SET, parse_catalog_table, render_catalog_csv
from ..formats.dvcmeta import parse_dvc_file
from ..formats.identifiers import naming_problem
from ..store.file_lock import file_lock
from ..store.git import Git
from ..store.layout import CATALOG_FILE, CATALOGS_DIR, REGISTRY_DIR, catalog_csv_path

__all__ = [
    "RegistryScan",
    "find_problems",
    "generate_catalogs",
    "identifiers_at",
    "naming_advice",
    "same_catalog",
    "scan_registry",
    "write_catalogs",
]

logger = logging.getLogger(__name__)

Row = Mapping[str, object]


@dataclass
class RegistryScan:
    """What a registry's working tree holds: rows from its ``.dvc`` files and its catalog CSVs."""

    rows: list[dict[str, object]] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    catalogs_on_disk: dict[str, str] = field(default_factory=dict)


#: ``.dvc`` path (relative to the registry) -> the text written there and its catalog row.
KnownRows = Mapping[str, tuple[str, Mapping[str, object]]]


def scan_registry(root: Path, known: KnownRows | None = None) -> RegistryScan:
    """Read every ``.dvc`` file under ``registry/`` and every ``catalogs/*/lookup.csv``.

    ``known`` holds rows a caller just wrote: a file whose text is still exactly the text
    given there gets that row without being parsed again (YAML parsing is most of a scan).
    """
    root = Path(root)
    scan = RegistryScan()
    known = known or {}
    for dvc_file in sorted((root / REGISTRY_DIR).rglob("*.dvc")):
        relative = dvc_file.relative_to(root).as_posix()
        try:
            text = dvc_file.read_text(encoding="utf-8")
            written = known.get(relative)
            scan.rows.append(dict(written[1]) if written and written[0] == text else parse_dvc_file(text, relative))
        except (BrainioDvcError, UnicodeDecodeError) as error:
            scan.unreadable.append(str(error))
    for csv_file in sorted((root / CATALOGS_DIR).glob(f"*/{CATALOG_FILE}")):
        scan.catalogs_on_disk[csv_file.parent.name] = csv_file.read_text(encoding="utf-8")
    return scan


def generate_catalogs(rows: Iterable[Row]) -> dict[str, str]:
    """Catalog name -> lookup CSV text, deterministic."""
    by_catalog: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_catalog[str(row["catalog"])].append(row)
    return {name: render_catalog_csv(rows) for name, rows in sorted(by_catalog.items())}


def _catalog_lock(root: Path) -> Path:
    """The lock that runs of :func:`write_catalogs` on one working tree share: in DVC's
    untracked ``.dvc/tmp`` (each worktree has its own), else under ``$BRAINIO_HOME/locks``."""
    if (root / ".dvc").is_dir():
        return root / ".dvc" / "tmp" / "brainio-dvc-catalog"
    from .. import config

    return config.home() / "locks" / hashlib.sha1(os.fsencode(root.absolute())).hexdigest()


def write_catalogs(root: Path, known: KnownRows | None = None) -> dict[str, Path]:
    """Regenerate ``catalogs/<catalog>/lookup.csv`` from the ``.dvc`` files; remove stale ones.

    Refuses (ValidationError) when a ``.dvc`` file cannot be read, writing nothing.  Runs on
    the same working tree wait for each other (two at once give one valid catalog).  ``known``:
    as for :func:`scan_registry`.
    """
    root = Path(root)
    with file_lock(_catalog_lock(root)):
        return _write_catalogs(root, known)


def _write_catalogs(root: Path, known: KnownRows | None = None) -> dict[str, Path]:
    scan = scan_registry(root, known)
    if scan.unreadable:
        msg = f"registry {root}"
        raise ValidationError(
            msg, "readable .dvc files with a meta block", "; ".join(scan.unreadable)
        )
    generated = generate_catalogs(scan.rows)
    written = {}
    for name, text in generated.items():
        path = root / catalog_csv_path(name)
        if scan.catalogs_on_disk.get(name) != text:
            atomic_write_text(path, text)
            logger.info("wrote %s", path)
        written[name] = path
    for stale in scan.catalogs_on_disk.keys() - generated.keys():
        path = root / catalog_csv_path(stale)
        path.unlink(missing_ok=True)
        logger.info("removed %s: no .dvc file belongs to catalog %r any more", path, stale)
    return written


def find_problems(
    scan: RegistryScan,
    assembly_classes: Sequence[str],
    stimulus_set_classes: Sequence[str],
) -> list[str]:
    """Everything wrong with a registry's catalogs, one readable line per problem."""
    problems = list(scan.unreadable)
    problems += _sync_problems(generate_catalogs(scan.rows), scan.catalogs_on_disk)
    problems += _format_problems(scan.catalogs_on_disk)
    problems += _identifier_problems(scan.rows)
    problems += _completeness_problems(scan.rows)
    problems += _class_problems(scan.rows, assembly_classes, stimulus_set_classes)
    return problems


def same_catalog(generated: str, on_disk: str) -> bool:
    """Whether two catalog CSV texts have the same header and the same rows, in any order."""
    first, second = generated.splitlines(), on_disk.splitlines()
    return first[:1] == second[:1] and sorted(first[1:]) == sorted(second[1:])


def _sync_problems(generated: Mapping[str, str], on_disk: Mapping[str, str]) -> list[str]:
    problems = []
    for name in sorted(generated.keys() | on_disk.keys()):
        path = catalog_csv_path(name)
        if name not in on_disk:
            problems.append(f"{path} is missing; run `brainio-dvc catalog build`")
        elif name not in generated:
            problems.append(f"{path} has no .dvc files behind it; run `brainio-dvc catalog build`")
        elif not same_catalog(generated[name], on_disk[name]):
            problems.append(f"{path} is out of sync with the .dvc files; run `brainio-dvc catalog build`")
    return problems


def _format_problems(on_disk: Mapping[str, str]) -> list[str]:
    """What makes a catalog CSV unreadable, and each malformed row that lookups set aside."""
    problems = []
    for name, text in sorted(on_disk.items()):
        path = catalog_csv_path(name).as_posix()
        try:
            table = parse_catalog_table(text, path, name)
        except CatalogFormatError as error:
            problems.append(f"unreadable catalog: {error}")
            continue
        problems += [f"malformed catalog row: {bad.format_error(path)}" for bad in table.bad_rows]
    return problems


def _role(row: Row) -> str:
    if row["lookup_type"] == TYPE_ASSEMBLY:
        return "assembly"
    return "stimulus set CSV" if row["class"] else "stimulus set ZIP"


def _identifier_problems(rows: Sequence[Row]) -> list[str]:
    problems = []
    counts = Counter((row["identifier"], _role(row)) for row in rows)
    for (identifier, role), count in sorted(counts.items()):
        if count > 1:
            locations = sorted(str(r["location"]) for r in rows if (r["identifier"], _role(r)) == (identifier, role))
            problems.append(f"duplicate identifier {identifier!r}: {count} {role} files ({', '.join(locations)})")
    return problems


def naming_advice(rows: Iterable[Row]) -> dict[str, str]:
    """Identifier -> how it breaks the naming convention, for the identifiers that do.

    Advice, not a problem: BrainIO never refused such names, and one identifier may name both
    an assembly and its stimulus set, as in BrainIO's catalogs.
    """
    advice = {}
    for identifier in sorted({str(row["identifier"]) for row in rows}):
        problem = naming_problem(identifier)
        if problem:
            advice[identifier] = problem
    return advice


def identifiers_at(root: Path, rev: str) -> set[str]:
    """The identifiers that the registry at ``root`` holds at ``rev``, from its layout's paths."""
    listed = Git(root).run("ls-tree", "-r", "--name-only", rev, "--", REGISTRY_DIR)
    # registry/<catalog>/<kind>/<identifier>/<file>.dvc
    return {parts[3] for line in listed.splitlines() if len(parts := line.split("/")) == 5 and line.endswith(".dvc")}


def _completeness_problems(rows: Sequence[Row]) -> list[str]:
    problems = []
    stimulus_roles: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        if row["lookup_type"] == TYPE_STIMULUS_SET:
            stimulus_roles[str(row["identifier"])].add(_role(row))
    for identifier, roles in sorted(stimulus_roles.items()):
        for role in ("stimulus set CSV", "stimulus set ZIP"):
            if role not in roles:
                problems.append(f"stimulus set {identifier!r} has no {role.split()[-1]} file")
    for row in rows:
        if row["lookup_type"] != TYPE_ASSEMBLY:
            continue
        wanted = str(row["stimulus_set_identifier"] or "")
        if not wanted:
            problems.append(f"assembly {row['identifier']!r} names no stimulus_set_identifier")
        elif wanted not in stimulus_roles:
            problems.append(
                f"assembly {row['identifier']!r} refers to stimulus set {wanted!r}, which the registry does not have"
            )
    return problems


def _class_problems(
    rows: Sequence[Row], assembly_classes: Sequence[str], stimulus_set_classes: Sequence[str]
) -> list[str]:
    problems = []
    for row in rows:
        name = str(row["class"] or "")
        if row["lookup_type"] == TYPE_ASSEMBLY and name not in assembly_classes:
            problems.append(
                f"assembly {row['identifier']!r} has unknown class {name!r}; known: {', '.join(assembly_classes)}"
            )
        elif row["lookup_type"] == TYPE_STIMULUS_SET and name and name not in stimulus_set_classes:
            problems.append(
                f"stimulus set {row['identifier']!r} has unknown class {name!r}; "
                f"known: {', '.join(stimulus_set_classes)}"
            )
    return problems
