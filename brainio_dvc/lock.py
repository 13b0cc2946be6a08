"""Locking the data of an analysis repository: ``brainio.lock`` (format: :mod:`brainio_dvc.formats.lockfile`).

- :func:`lock` pins identifiers (``ID`` or ``ID@REV``) to the commit they resolve to now; an
  assembly brings its stimulus set, from the same commit.
- :func:`update` moves pins to the default revision of their registry, or to a given one.
- :func:`check` lists every locked artifact that no longer resolves as locked: a tag that
  moved, a branch whose history no longer holds the commit, a commit or remote object that is
  gone, an md5 that differs.  ``brainio-dvc lock --check`` is the CI check of an analysis.
- :func:`record` pins everything a block of code loads, like ``pip freeze`` for data.
- :func:`export_citations` writes BibTeX for everything locked, pinned to its commit.

Loads in the repository follow the lock (:mod:`brainio_dvc.store.pins`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from . import config
from .catalogs import TYPE_ASSEMBLY, TYPE_STIMULUS_SET, csv_first
from .exceptions import BrainioDvcError, PinError, RegistryError, ValidationError
from .formats.hashes import is_hex
from .formats.lockfile import LOCK_FILE_NAME, LockedFile, LockEntry, LockFile, read_lock, write_lock
from .store import pins
from .store.registry import Registry, open_registry

__all__ = [
    "check",
    "default_lock_path",
    "export_citations",
    "lock",
    "read",
    "record",
    "update",
    "why",
]

logger = logging.getLogger(__name__)


def default_lock_path(start: Path | None = None) -> Path:
    """``brainio.lock`` at the root of the repository around ``start`` (else in ``start``)."""
    start = (start or Path.cwd()).absolute()
    return (pins.find_repository_root(start) or start) / LOCK_FILE_NAME


def read(path: Path | str | None = None) -> LockFile:
    """The lock file at ``path`` (default: :func:`default_lock_path`); empty when there is none."""
    path = Path(path) if path is not None else default_lock_path()
    return read_lock(path) if path.exists() else LockFile(path)


def _split(spec: str) -> tuple[str, str | None]:
    identifier, _, rev = spec.partition("@")
    if not identifier or (spec.endswith("@") and not rev):
        msg = f"lock argument {spec!r}"
        raise ValidationError(msg, "ID or ID@REV", repr(spec))
    return identifier, rev or None


def _default_branch(registry: Registry) -> str | None:
    return registry.git.output_or_none("symbolic-ref", "--quiet", "--short", "HEAD")


# -- resolving identifiers to entries ---------------------------------------------------------------
def _file(row: Mapping[str, Any]) -> LockedFile:
    return LockedFile(path=str(row["location"]), md5=str(row["md5"]), sha1=str(row["sha1"]), size=int(row["size"]))


def entries_from_rows(kind: str, identifier: str, rows: Sequence[Mapping[str, Any]], rev: str | None) -> LockEntry:
    """The lock entry of a load's or lookup's catalog rows (a registry's: with registry and rev)."""
    first = rows[0]
    registry, commit = first.get("registry"), first.get("rev")
    if not registry or not commit or any(not row.get("md5") for row in rows):
        raise PinError(identifier, "the lock", "its catalog is not a registry's (an installed package's), so it "
                       "has no commit to pin", hint="only registry artifacts can be locked")
    ordered = csv_first(rows) if kind == TYPE_STIMULUS_SET else rows[:1]
    return LockEntry(
        kind=kind, identifier=identifier, registry=str(registry), commit=str(commit),
        files=tuple(_file(row) for row in ordered), rev=rev,
        stimulus_set=str(first.get("stimulus_set_identifier") or "") if kind == TYPE_ASSEMBLY else None,
    )


def _resolved(identifier: str, rev: str | None, registry: str | None) -> list[LockEntry]:
    """The entries that pin ``identifier`` at ``rev`` of ``registry`` (None: its import, else the
    configured or default registries): itself and, for an assembly, its stimulus set."""
    from .lookup import find_stimulus_set_rows, lookup_identifier

    if registry is None:
        facts = pins.repository_facts()
        imported = facts.imports_of(TYPE_ASSEMBLY, identifier) or facts.imports_of(TYPE_STIMULUS_SET, identifier)
        if imported:
            registry = imported[0].url
            if rev is None:
                rev = imported[0].rev or imported[0].commit
    rows = lookup_identifier(identifier, rev=rev, registry=registry)
    kind = str(rows[0]["lookup_type"])
    label = rev or config.rev()
    if label is None and rows[0].get("registry"):
        label = _default_branch(open_registry(str(rows[0]["registry"])))
    entry = entries_from_rows(kind, identifier, rows, label)
    if kind != TYPE_ASSEMBLY or not entry.stimulus_set:
        return [entry]
    stimulus_rows = find_stimulus_set_rows(entry.stimulus_set, rev=entry.commit, registry=entry.registry)
    return [entry, entries_from_rows(TYPE_STIMULUS_SET, entry.stimulus_set, stimulus_rows, label)]


def _write(current: LockFile, entries: list[LockEntry]) -> LockFile:
    updated = current.with_entries(entries)
    write_lock(updated)
    pins.refresh()
    for entry in entries:
        logger.info("locked %s %r: %s at %s (%s)", entry.kind, entry.identifier, entry.registry,
                    entry.commit[:10], entry.rev or "commit")
    return updated


def lock(
    specs: Sequence[str], path: Path | str | None = None, registry: str | None = None, rev: str | None = None
) -> list[LockEntry]:
    """Pin each ``ID`` or ``ID@REV`` (``rev``: the REV of those without one) and write the lock.

    An identifier already locked stays as it is unless a revision is given (then it moves, as
    with :func:`update`).  Everything is resolved before the file is written: one failure
    writes nothing.  Returns the entries written.
    """
    current = read(path)
    entries: list[LockEntry] = []
    for spec in specs:
        identifier, spec_rev = _split(spec)
        wanted = spec_rev or rev
        if wanted is None and registry is None and any(key[1] == identifier for key in current.entries):
            logger.info("%r is already locked; `brainio-dvc lock --update %s` moves it", identifier, identifier)
            continue
        entries.extend(_resolved(identifier, wanted, registry))
    if entries:
        _write(current, entries)
    return entries


def update(specs: Sequence[str] = (), path: Path | str | None = None, rev: str | None = None) -> list[LockEntry]:
    """Move the pins of ``specs`` (``ID`` or ``ID@REV``; none: every locked identifier) to REV,
    else ``rev``, else the default revision of their registry.  Returns the entries written."""
    current = read(path)
    targets = [_split(spec) for spec in specs] or sorted(
        {(identifier, None) for _, identifier in current.entries})
    entries: list[LockEntry] = []
    for identifier, spec_rev in targets:
        locked = [entry for key, entry in sorted(current.entries.items()) if key[1] == identifier]
        if not locked:
            raise PinError(
                identifier, str(current.path), "not locked", hint=f"`brainio-dvc lock {identifier}` locks it"
            )
        entries.extend(_resolved(identifier, spec_rev or rev or config.rev(), locked[0].registry))
    written = list({entry.key: entry for entry in entries}.values())  # each identifier once
    if written:
        _write(current, written)
    return written


# -- checking ---------------------------------------------------------------------------------------
def check(path: Path | str | None = None) -> list[str]:
    """Every problem of the locked artifacts, one line each (empty: everything is as locked).

    The registries are fetched first, so that moved tags and rewritten branches are seen.
    """
    current = read(path)
    problems: list[str] = []
    fetched: dict[str, str | None] = {}
    for key in sorted(current.entries):
        entry = current.entries[key]
        name = f"{entry.kind} {entry.identifier!r}"
        try:
            registry = open_registry(entry.registry)
            if entry.registry not in fetched:
                fetched[entry.registry] = _fetch_problem(registry)
            if fetched[entry.registry]:
                problems.append(f"{name}: {fetched[entry.registry]}")
                continue
            problems.extend(f"{name}: {problem}" for problem in _entry_problems(registry, entry))
        except BrainioDvcError as error:
            problems.append(f"{name}: {error}")
    return problems


def _fetch_problem(registry: Registry) -> str | None:
    try:
        registry.fetch()
    except RegistryError as error:
        return f"cannot fetch the registry {registry.label} ({error.problem})"
    return None


def _entry_problems(registry: Registry, entry: LockEntry) -> list[str]:
    from .lookup import lookup_identifier
    from .store.remotes import open_remote

    commit = entry.commit
    if not registry.git.succeeds("cat-file", "-e", f"{commit}^{{commit}}"):
        return [f"commit {commit} is gone from {registry.label} (its history was rewritten)"]
    problems = _rev_problems(registry, entry)
    try:
        rows = lookup_identifier(entry.identifier, rev=commit, registry=entry.registry)
    except KeyError:
        return [*problems, f"not in {registry.label} at {commit[:10]}"]
    found = {str(row["location"]): str(row.get("md5") or "") for row in rows if row.get("lookup_type") == entry.kind}
    remote = None
    for locked in entry.files:
        if found.get(locked.path) != locked.md5:
            now = f"md5 {found[locked.path]}" if locked.path in found else "no such file"
            problems.append(f"{locked.path}: md5 mismatch: locked {locked.md5}, {registry.label} at {commit[:10]} "
                            f"has {now}")
            continue
        remote = remote or open_remote(registry, commit)
        if not remote.exists(locked.md5):
            problems.append(f"{locked.path}: object {locked.md5} is gone from the DVC remote "
                            f"{remote.spec.name!r} ({remote.spec.url})")
    return problems


def _rev_problems(registry: Registry, entry: LockEntry) -> list[str]:
    """A tag that no longer names the locked commit, a branch whose history lost it."""
    rev, commit = entry.rev, entry.commit
    if not rev or rev == commit:
        return []
    git = registry.git
    if git.succeeds("show-ref", "--verify", "--quiet", f"refs/tags/{rev}"):
        now = git.commit_of(f"refs/tags/{rev}")
        return [] if now == commit else [f"tag {rev!r} moved: locked at {commit[:10]}, now {str(now)[:10]}"]
    if git.succeeds("show-ref", "--verify", "--quiet", f"refs/heads/{rev}"):
        if not git.succeeds("merge-base", "--is-ancestor", commit, f"refs/heads/{rev}"):
            return [f"branch {rev!r} was rewritten: the locked commit {commit[:10]} is no longer in its history"]
        return []
    if 7 <= len(rev) <= 40 and is_hex(rev, lowercase=True) and commit.startswith(rev):  # an abbreviated commit
        return []
    return [f"{rev!r} is no longer a tag or branch of {registry.label}"]


# -- explaining -------------------------------------------------------------------------------------
def why(identifier: str, rev: str | None = None, registry: str | None = None) -> dict[str, Any]:
    """Which rule decides a load of ``identifier`` here, and the registry, commit and files it
    leads to (each with the local copy a load would use, if there is one yet)."""
    from .lookup import lookup_identifier
    from .store.cache import data_cache

    decisions = {kind: pins.resolve(kind, identifier, rev, registry) for kind in (TYPE_ASSEMBLY, TYPE_STIMULUS_SET)}
    pinned = [kind for kind, decision in decisions.items() if decision.pinned]
    decision = decisions[pinned[0]] if pinned else decisions[TYPE_ASSEMBLY]
    rows = lookup_identifier(identifier, rev=decision.rev, registry=decision.registry)
    kind = pinned[0] if pinned else str(rows[0]["lookup_type"])
    rows = [row for row in rows if row.get("lookup_type") == kind]
    files = []
    for row in rows:
        md5 = str(row.get("md5") or "")
        local = pins.local_file(str(row["location"]), md5) if decision.pinned and md5 else None
        cached = data_cache().lookup("md5", md5) if md5 and local is None else None
        files.append({"path": str(row["location"]), "md5": md5,
                      "expected_md5": decision.expected.get(str(row["location"])),
                      "local": str(local or cached or "")})
    return {"identifier": identifier, "kind": kind, "rule": decision.rule, "source": decision.source,
            "registry": rows[0].get("registry") or rows[0].get("source_catalog"), "commit": rows[0].get("rev"),
            "requested": decision.requested, "files": files}


# -- recording --------------------------------------------------------------------------------------
@contextlib.contextmanager
def record(path: Path | str | None = None) -> Iterator[LockFile]:
    """Pin everything loaded inside the block: written to the lock file when the block ends.

    Entries of the same identifier are replaced; the others stay.  A block that raises
    writes nothing.  Loads from catalogs of installed packages (no registry) are skipped
    with a warning.

    >>> with brainio_dvc.lock.record("brainio.lock"):  # doctest: +SKIP
    ...     run_analysis()
    """
    current = read(path)
    seen: dict[tuple[str, str], LockEntry] = {}
    labels: dict[str, str | None] = {}

    def listener(kind: str, identifier: str, rows: list[Mapping[str, Any]], decision: pins.Decision) -> None:
        if not rows[0].get("registry"):
            logger.warning("%s %r comes from an installed package's catalog; it is not recorded", kind, identifier)
            return
        label = decision.requested
        if label is None:
            spec = str(rows[0]["registry"])
            if spec not in labels:
                labels[spec] = _default_branch(open_registry(spec))
            label = labels[spec]
        entry = entries_from_rows(kind, identifier, rows, label)
        seen[entry.key] = entry

    pins.add_listener(listener)
    try:
        yield current
    finally:
        pins.remove_listener(listener)
    if seen:
        _write(current, list(seen.values()))


# -- citations --------------------------------------------------------------------------------------
def _citation_of(entry: LockEntry) -> str:
    """The BibTeX of one locked artifact: its card's paper, then the data at the locked commit."""
    from .browse.citations import citation

    return citation(entry.identifier, rev=entry.commit, registry=entry.registry).format("bibtex")


def export_citations(output: Path | str, path: Path | str | None = None) -> int:
    """Write the BibTeX of every locked artifact to ``output``; returns how many were written."""
    from .formats.atomic import atomic_write_text

    current = read(path)
    parts = list(dict.fromkeys(_citation_of(current.entries[key]) for key in sorted(current.entries)))
    atomic_write_text(Path(output), "\n".join(parts))
    return len(parts)
