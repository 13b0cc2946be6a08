"""Migrate S3 objects into a registry, by copy or by verified reference, on a review branch.

:func:`migrate` runs in one packaging transaction (:class:`~brainio_dvc.contribute.transaction.PackagingTransaction`:
a temporary worktree, all or nothing, one commit on the branch, ``migrate/<input name>`` by
default):

1. **plan** (pure, :func:`plan`): every entry of the input is checked against the others and
   against what the branch (or the base) already holds.  Entries already there with the same
   SHA-1 are *skipped*, so a re-run finishes what an earlier run did not; bad ones *fail* with
   their reason.
2. **transfer**, ``jobs`` at a time: ``copy`` downloads each object at its version into the
   data cache, verifying its SHA-1 and computing its MD5 as it writes, and links it into the
   registry's DVC cache (:mod:`.copying`; a killed run's finished downloads are reused);
   ``reference`` sends one HEAD request per object (none with ``head=False``).
3. **write, push, catalog build, commit**: copies get the ``.dvc`` file ``dvc add`` would write
   and their new objects are pushed to the registry's remote, ``jobs`` at a time; references
   are written as ``.dvc`` files naming their source (:mod:`brainio_dvc.store.references`).

A kill at any point leaves no commit and no branch change: nothing looks migrated that is not.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ...browse.history import role_of
from ...exceptions import BrainioDvcError, IntegrityError, MigrationError, S3ObjectError
from ...formats.catalog_csv import TYPE_ASSEMBLY, TYPE_STIMULUS_SET
from .copying import ObjectPusher
from .manifest import ROLE_CSV, ROLE_NC, ROLE_ZIP, Entry, read_input

if TYPE_CHECKING:
    from ...store.cache import CacheBatch

__all__ = [
    "MODES",
    "MigrationReport",
    "Outcome",
    "migrate",
    "migration_branch",
    "plan",
]

logger = logging.getLogger(__name__)

MODES = ("copy", "reference")
MIGRATED, SKIPPED, FAILED = "migrated", "skipped", "failed"
MISSING, DENIED, SHA1_MISMATCH = "missing object", "access denied", "sha1 mismatch"
UNKNOWN_CLASS, NO_STIMULUS_SET, INVALID = "unknown class", "no stimulus set", "invalid entry"
CONFLICT, INCOMPLETE, DUPLICATE, UNREACHABLE = "conflict", "incomplete stimulus set", "duplicate entry", "unreachable"
#: Flags of migrated entries.
UNVERSIONED, PINNED_LATEST, UNVERIFIED = "unversioned", "pinned latest version", "unverified"
DEFAULT_JOBS = 8

Key = tuple[str, str]


@dataclass
class Outcome:
    """What became of one entry: ``migrated``, ``skipped`` or ``failed`` with its reason."""

    identifier: str
    kind: str
    role: str
    source: str
    status: str
    reason: str = ""
    detail: str = ""
    flags: list[str] = field(default_factory=list)
    path: str = ""
    version_id: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class MigrationReport:
    mode: str
    source: str
    registry: str
    branch: str
    commit: str | None = None
    outcomes: list[Outcome] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counts = {MIGRATED: 0, SKIPPED: 0, FAILED: 0}
        for outcome in self.outcomes:
            counts[outcome.status] += 1
        return counts

    @property
    def failed(self) -> bool:
        return any(outcome.status == FAILED for outcome in self.outcomes)

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "source": self.source, "registry": self.registry, "branch": self.branch,
                "commit": self.commit, "counts": self.counts(), "entries": [o.to_json() for o in self.outcomes]}


def migration_branch(source: str | Path) -> str:
    """The default review branch of a migration: ``migrate/<input file name without extension>``."""
    from ...formats.identifiers import check_safe_identifier

    stem = Path(source).stem or "input"
    try:
        check_safe_identifier(stem)
    except BrainioDvcError:
        stem = "input"
    return f"migrate/{stem}"


def _outcome(entry: Entry, status: str, reason: str = "", detail: str = "") -> Outcome:
    return Outcome(entry.identifier, entry.kind, entry.role, entry.source, status, reason, detail)


# -- deciding ---------------------------------------------------------------------------------


def plan(
    entries: Sequence[Entry],
    existing: Sequence[Mapping[str, Any]],
    assembly_classes: Sequence[str],
    stimulus_set_classes: Sequence[str],
    new_version: bool = False,
) -> tuple[list[Entry], dict[Key, Outcome]]:
    """Which entries to transfer, and the outcome of the others (pure).

    ``existing`` are the catalog rows of the branch the migration commits on.
    """
    from ...formats.identifiers import check_safe_identifier

    decided: dict[Key, Outcome] = {}
    by_key: dict[Key, list[Entry]] = {}
    for entry in entries:
        by_key.setdefault((entry.identifier, entry.role), []).append(entry)
    present = {(str(row["identifier"]), role_of(row)): row for row in existing}
    candidates: dict[Key, Entry] = {}
    for key, group in by_key.items():
        entry = group[0]
        if any(other.manifest_row() != entry.manifest_row() for other in group[1:]):
            decided[key] = _outcome(entry, FAILED, DUPLICATE, "listed more than once with different values: "
                                    + ", ".join(other.origin for other in group))
            continue
        problem = entry.problem
        if not problem:
            try:
                check_safe_identifier(entry.identifier)
                if entry.stimulus_set_identifier:
                    check_safe_identifier(entry.stimulus_set_identifier, "stimulus set identifier")
            except BrainioDvcError as error:
                problem = f"{INVALID}: {error}"
        if problem:
            decided[key] = _outcome(entry, FAILED, INVALID, f"{entry.origin}: {problem}")
        elif entry.kind == TYPE_ASSEMBLY and entry.cls not in assembly_classes:
            decided[key] = _outcome(entry, FAILED, UNKNOWN_CLASS, f"{entry.cls!r} is not one of "
                                    + ", ".join(assembly_classes))
        elif entry.role == ROLE_CSV and entry.cls not in stimulus_set_classes:
            decided[key] = _outcome(entry, FAILED, UNKNOWN_CLASS, f"{entry.cls!r} is not one of "
                                    + ", ".join(stimulus_set_classes))
        elif key in present and str(present[key].get("sha1") or "") == entry.sha1:
            skipped = _outcome(entry, SKIPPED, "", f"the registry has it already ({present[key]['location_type']})")
            skipped.path = str(present[key]["location"])
            decided[key] = skipped
        elif key in present and not new_version:
            decided[key] = _outcome(entry, FAILED, CONFLICT, f"the registry has other content for it (sha1 "
                                    f"{present[key].get('sha1')}); pass --new-version to replace it")
        else:
            candidates[key] = entry
    existing_stimulus_sets = {identifier for identifier, role in present if role in (ROLE_CSV, ROLE_ZIP)}
    _settle(candidates, decided, existing_stimulus_sets)
    return list(candidates.values()), decided


def _settle(candidates: dict[Key, Entry], decided: dict[Key, Outcome], existing_stimulus_sets: set[str]) -> None:
    """Fail, in place, the stimulus set files whose partner failed and the assemblies without a stimulus set."""
    for key in [key for key in candidates if key[1] in (ROLE_CSV, ROLE_ZIP)]:
        partner = (key[0], ROLE_ZIP if key[1] == ROLE_CSV else ROLE_CSV)
        usable = partner in candidates or (partner in decided and decided[partner].status == SKIPPED)
        if not usable:
            failure = decided.get(partner)
            detail = (f"its {partner[1].upper()} failed ({failure.reason})" if failure
                      else f"the input has no {partner[1].upper()} for it")
            decided[key] = _outcome(candidates.pop(key), FAILED, INCOMPLETE, detail)
    available = existing_stimulus_sets | {key[0] for key in candidates if key[1] in (ROLE_CSV, ROLE_ZIP)}
    available |= {key[0] for key, outcome in decided.items() if outcome.status == SKIPPED and key[1] != ROLE_NC}
    for key in [key for key in candidates if key[1] == ROLE_NC]:
        entry = candidates[key]
        wanted = entry.stimulus_set_identifier
        if wanted not in available:
            failure = decided.get((wanted, ROLE_CSV)) or decided.get((wanted, ROLE_ZIP))
            detail = ("it names no stimulus_set_identifier" if not wanted
                      else f"its stimulus set {wanted!r} failed ({failure.reason})" if failure
                      else f"its stimulus set {wanted!r} is neither in the input nor in the registry")
            decided[key] = _outcome(candidates.pop(key), FAILED, NO_STIMULUS_SET, detail)


# -- transferring -----------------------------------------------------------------------------


@dataclass
class _Transferred:
    entry: Entry
    copied: Any = None  # copy: a copying.Copied (the verified file, its md5 and size)
    source: Any = None  # reference: a references.Source
    flags: list[str] = field(default_factory=list)
    path: PurePosixPath | None = None  # where it is written in the registry (set by _write)


def _failure(entry: Entry, error: BrainioDvcError) -> Outcome:
    if isinstance(error, S3ObjectError):
        reason = {"missing": MISSING, "denied": DENIED}.get(str(error.reason), UNREACHABLE)
    elif isinstance(error, IntegrityError):
        reason = SHA1_MISMATCH
    else:
        reason = UNREACHABLE
    return _outcome(entry, FAILED, reason, str(error))


def _copy(entry: Entry, dvc_cache: Path, batch: CacheBatch) -> _Transferred:
    from .copying import copy_object

    return _Transferred(entry, copied=copy_object(entry, dvc_cache, batch),
                        flags=[] if entry.version_id else [UNVERSIONED])


def _reference(entry: Entry, head: bool) -> _Transferred:
    from ...store.references import Source
    from ...store.s3objects import S3Object, head_s3_object

    if not head:
        source = Source(entry.url, entry.version_id, None, None)
        return _Transferred(entry, source=source, flags=[UNVERIFIED] + ([] if entry.version_id else [UNVERSIONED]))
    found = head_s3_object(S3Object(entry.bucket, entry.key, entry.version_id), entry.identifier)
    version = entry.version_id or found.version_id
    flags = [] if entry.version_id else [PINNED_LATEST] if version else [UNVERSIONED]
    return _Transferred(entry, source=Source(entry.url, version, found.etag, found.size), flags=flags)


def _transfer(todo: Sequence[Entry], mode: str, jobs: int, head: bool,
              dvc_cache: Path | None, pusher: ObjectPusher | None = None) -> tuple[list[_Transferred], list[Outcome]]:
    from ...progress import tracker
    from ...store.cache import CacheBatch, data_cache
    from ...store.s3objects import s3_client

    batch = CacheBatch(data_cache())

    def one(entry: Entry) -> _Transferred:
        return _copy(entry, dvc_cache, batch) if mode == "copy" and dvc_cache else _reference(entry, head)

    done, failed = [], []
    verb = "downloading" if mode == "copy" else "checking" if head else "recording"
    if todo:  # made here once, not by every worker at the same time (each costs about 0.1 s of CPU)
        s3_client(signed=False)
        s3_client(signed=True)
    with batch, ThreadPoolExecutor(max_workers=max(1, jobs)) as pool, \
            tracker("migrate", f"{verb} {len(todo)} objects", len(todo), unit="objects") as advance:
        # Each worker runs in a copy of this context: progress subscribers and settings apply there.
        futures = {pool.submit(contextvars.copy_context().run, one, entry): entry for entry in todo}
        for future in as_completed(futures):
            entry = futures[future]
            try:
                done.append(future.result())
                if pusher is not None:
                    pusher.add(done[-1].copied.md5)
            except BrainioDvcError as error:
                logger.info("%s (%s): %s", entry.identifier, entry.role, error)
                failed.append(_failure(entry, error))
            advance(1)
    order = {id(entry): number for number, entry in enumerate(todo)}
    done.sort(key=lambda item: order[id(item.entry)])
    return done, failed


# -- writing ----------------------------------------------------------------------------------


def _relative_path(entry: Entry, catalog: str | None) -> tuple[str, PurePosixPath]:
    from ...formats.identifiers import default_catalog
    from ...store.layout import assembly_path, stimulus_set_paths

    name = catalog or default_catalog(entry.identifier)
    if entry.kind == TYPE_ASSEMBLY:
        return name, assembly_path(name, entry.identifier)
    csv_path, zip_path = stimulus_set_paths(name, entry.identifier)
    return name, csv_path if entry.role == ROLE_CSV else zip_path


def _meta(entry: Entry, catalog: str) -> dict[str, str]:
    return {
        "identifier": entry.identifier,
        "lookup_type": TYPE_STIMULUS_SET if entry.kind == TYPE_STIMULUS_SET else TYPE_ASSEMBLY,
        "class": entry.cls,
        "sha1": entry.sha1,
        "stimulus_set_identifier": entry.stimulus_set_identifier,
        "catalog": catalog,
    }


def _ignore(directory: Path, names: Sequence[str]) -> Path:
    """``/<name>`` for each of ``names`` in the directory's .gitignore (as DVC writes it), once."""
    gitignore = directory / ".gitignore"
    lines = gitignore.read_text(encoding="utf-8").splitlines() if gitignore.exists() else []
    missing = [f"/{name}" for name in names if f"/{name}" not in lines]
    if missing:
        gitignore.write_text("\n".join([*lines, *dict.fromkeys(missing)]) + "\n", encoding="utf-8")
    return gitignore


def _write(transaction: Any, done: Sequence[_Transferred], mode: str,
           catalog: str | None) -> tuple[list[PurePosixPath], dict[str, tuple[str, dict[str, object]]]]:
    """Write every transferred entry's ``.dvc`` file into the worktree; return the paths to
    commit and, per ``.dvc`` file, its text and catalog row (so that the catalog build need not
    parse them again)."""
    from ...formats.dvcmeta import dvc_row
    from ...store.references import dvc_file_text, reference_dvc_document
    from .copying import tracked_dvc_document

    committed: list[PurePosixPath] = []
    known: dict[str, tuple[str, dict[str, object]]] = {}
    ignored: dict[PurePosixPath, list[str]] = {}
    for item in done:
        entry = item.entry
        name, relative = _relative_path(entry, catalog)
        item.path = relative
        target = transaction.path(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        dvc_file = Path(f"{target}.dvc")
        dvc_file.unlink(missing_ok=True)  # a new version replaces what was there, copy or reference
        extra = {"bibtex": entry.bibtex} if entry.bibtex else {}
        if mode == "copy":
            copied = item.copied
            document = tracked_dvc_document(relative.name, copied.md5, copied.size, _meta(entry, name),
                                            {"source": entry.source, **extra})
        else:
            document = reference_dvc_document(relative.name, item.source, _meta(entry, name), extra)
        text = dvc_file_text(document)
        dvc_file.write_text(text, encoding="utf-8")
        ignored.setdefault(relative.parent, []).append(relative.name)
        committed += [PurePosixPath(f"{relative}.dvc"), relative.parent / ".gitignore"]
        try:
            known[f"{relative}.dvc"] = (text, dvc_row(document, f"{relative}.dvc"))
        except BrainioDvcError:  # the catalog build parses it and reports what is wrong
            pass
    for directory, names in ignored.items():
        _ignore(transaction.path(directory), names)
    return committed, known


# -- the whole run ----------------------------------------------------------------------------


def migrate(
    source: str | Path,
    registry: str | Path = ".",
    mode: str = "copy",
    *,
    jobs: int = DEFAULT_JOBS,
    head: bool = True,
    branch: str | None = None,
    base: str | None = None,
    catalog: str | None = None,
    new_version: bool = False,
    push: bool = True,
) -> MigrationReport:
    """Migrate the objects that ``source`` lists (a manifest or a classic catalog) into ``registry``.

    :param mode: ``"copy"`` (download, verify, track, push) or ``"reference"`` (record the
        source; loads fetch and verify it).
    :param jobs: parallel transfers.
    :param head: reference mode: HEAD each object (False: record only what the input says,
        marked unverified).
    :param branch: the review branch (default ``migrate/<input name>``).
    :param catalog: the catalog of every entry (default: by identifier, as packaging).
    :param new_version: replace identifiers that the registry holds with other content.
    :return: every entry's outcome, the branch and the commit (None when nothing was written).
    """
    from ...assemblies import ASSEMBLY_CLASSES
    from ...stimuli import STIMULUS_SET_CLASSES
    from ...store.layout import CATALOGS_DIR
    from ..catalog_build import scan_registry
    from ..transaction import PackagingTransaction
    from .copying import dvc_cache_root

    if mode not in MODES:
        raise MigrationError(str(source), f"mode {mode!r}, expected one of {', '.join(MODES)}")
    if mode == "copy" and not head:
        raise MigrationError(str(source), "--no-head records references only; a copy downloads every object")
    entries = read_input(Path(source))
    root = Path(registry).resolve()
    branch = branch or migration_branch(source)
    report = MigrationReport(mode, str(source), str(root), branch)
    transaction = PackagingTransaction(root, f"migration from {Path(source).name}", branch, base=base, push=push)
    with transaction.run():
        with transaction.step("plan"):
            existing = scan_registry(transaction.tree).rows
            todo, decided = plan(entries, existing, sorted(ASSEMBLY_CLASSES), sorted(STIMULUS_SET_CLASSES),
                                 new_version)
        pusher: ObjectPusher | None = None
        try:
            with transaction.step("transfer"):
                dvc_cache = dvc_cache_root(transaction.tree) if mode == "copy" and todo else None
                pusher = ObjectPusher(transaction, jobs) if dvc_cache is not None else None
                done, failed = _transfer(todo, mode, jobs, head, dvc_cache, pusher)
            for outcome in failed:
                decided[(outcome.identifier, outcome.role)] = outcome
            candidates = {(item.entry.identifier, item.entry.role): item.entry for item in done}
            _settle(candidates, decided,
                    {str(r["identifier"]) for r in existing if r["lookup_type"] == TYPE_STIMULUS_SET})
            done = [item for item in done if (item.entry.identifier, item.entry.role) in candidates]
            if done:
                with transaction.step("write"):
                    committed, known = _write(transaction, done, mode, catalog)
            if pusher is not None and done:
                with transaction.step("push"):
                    pusher.finish(list(dict.fromkeys(item.copied.md5 for item in done)))
        finally:
            if pusher is not None:  # nothing is left after finish(); after a failure, nothing more is sent
                pusher.stop(send=False)
        if done:
            with transaction.step("catalog build"):
                transaction.build_catalogs(known)
            with transaction.step("commit"):
                message = f"Migrate {len(done)} files from {Path(source).name} ({mode})"
                report.commit = transaction.commit(message, [*map(str, dict.fromkeys(committed)), CATALOGS_DIR])
        for item in done:
            outcome = _outcome(item.entry, MIGRATED)
            outcome.flags = item.flags
            outcome.path = str(item.path or _relative_path(item.entry, catalog)[1])
            version = item.source.version_id if item.source is not None else item.entry.version_id
            outcome.version_id = version or ""
            decided[(item.entry.identifier, item.entry.role)] = outcome
    order = {(entry.identifier, entry.role): number for number, entry in reversed(list(enumerate(entries)))}
    report.outcomes = sorted(decided.values(), key=lambda o: order.get((o.identifier, o.role), len(order)))
    logger.info("migration from %s: %s", source, report.counts())
    return report
