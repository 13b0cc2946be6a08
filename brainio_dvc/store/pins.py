"""Which registry and commit a load without ``rev=`` or ``registry=`` reads: the pins of the
analysis repository around the current directory.

One precedence, highest first:

1. ``explicit``: the call's ``rev=`` or ``registry=``;
2. ``lock``: the repository's ``brainio.lock`` (:mod:`brainio_dvc.formats.lockfile`);
3. ``import``: the repository's ``dvc import`` of the artifact (its ``.dvc`` file's
   ``deps[0].repo``: the source registry's ``url`` at its ``rev_lock`` commit);
4. ``config``: the configured registries and ``rev`` (:mod:`brainio_dvc.config`);
5. ``default``: the registry around the current directory, at its default branch.

:func:`decide` is pure: it takes the repository's facts (:class:`RepositoryFacts`) and the
settings and returns a :class:`Decision`.  :func:`repository_facts` gathers the facts: it walks
up from the current directory to the repository (``.git`` or ``.dvc``), reads its lock file
and finds its ``dvc import`` files, once per process; later calls only ``stat`` what was read
(so a ``dvc update`` or a new lock is seen), and :func:`refresh` forgets everything.  Nothing
here imports DVC or starts git.

The files of a pinned artifact that the repository already holds (the imported file in the
workspace, or the object in the repository's DVC cache) are used in place by
:func:`local_file`, once their md5 has been checked.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import config
from ..exceptions import PinError, ValidationError
from ..formats.atomic import atomic_write_text
from ..formats.hashes import file_hash, is_digest
from ..formats.lockfile import (
    ASSEMBLY,
    LOCK_FILE_NAME,
    STIMULUS_SET,
    LockEntry,
    LockFile,
    lock_signature,
    read_lock,
)
from .cache import FileState
from .registry import is_git_url
from .state import REPOSITORY_FACTS, Memo

__all__ = [
    "RULES",
    "Decision",
    "Import",
    "RepositoryFacts",
    "Settings",
    "decide",
    "find_repository_root",
    "local_file",
    "refresh",
    "repository_facts",
    "resolve",
]

logger = logging.getLogger(__name__)

#: The rules, highest precedence first.
RULES = ("explicit", "lock", "import", "config", "default")
#: A registry's artifact path: registry/<catalog>/<kind dir>/<identifier>[/<file>].
_ARTIFACT = re.compile(
    r"^registry/(?P<catalog>[^/]+)/(?P<kind>assemblies|stimulus_sets)/(?P<identifier>[^/]+)(?:/(?P<file>[^/]+))?$"
)
_KIND_OF_DIR = {"assemblies": ASSEMBLY, "stimulus_sets": STIMULUS_SET}
_SUFFIXES = {ASSEMBLY: (".nc",), STIMULUS_SET: (".csv", ".zip")}
_SKIPPED_DIRS = frozenset({"__pycache__", "node_modules", "site-packages"})


@dataclass(frozen=True)
class Import:
    """One ``dvc import`` of a registry artifact (a file, or an artifact's directory)."""

    dvc_file: Path
    kind: str
    identifier: str
    url: str  # the source registry: a git URL, or an absolute local path
    rev: str | None  # what was asked for (``--rev``), if anything
    commit: str  # ``rev_lock``
    registry_path: str  # the imported path in the registry
    output: Path  # the imported file or directory in the workspace
    md5: str | None  # the imported file's md5 (None for a directory)


@dataclass(frozen=True)
class RepositoryFacts:
    """What an analysis repository says about its data."""

    root: Path | None = None
    lock: LockFile | None = None
    imports: tuple[Import, ...] = ()
    dvc_cache: Path | None = None

    def imports_of(self, kind: str, identifier: str) -> list[Import]:
        return [found for found in self.imports if found.kind == kind and found.identifier == identifier]


@dataclass(frozen=True)
class Settings:
    """The configured registries and revision (the ``config`` rule), if any."""

    registries: tuple[str, ...] = ()
    rev: str | None = None


@dataclass(frozen=True)
class Decision:
    """Where a load reads from, and which rule said so.

    ``registry`` and ``rev`` are what the lookup gets (None: the configured or default
    search); for ``lock`` and ``import`` the rev is a commit.  ``expected`` maps the registry
    paths of files the pin records to their md5, which the registry's catalog must agree with.
    """

    rule: str
    registry: str | None
    rev: str | None
    source: str
    expected: Mapping[str, str] = field(default_factory=dict)
    #: The revision as it was asked for (a tag or branch; for a pin, what the pin recorded).
    requested: str | None = None
    #: Whether a pin decided (``lock`` or ``import``): a plain attribute, read on every load.
    pinned: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pinned", self.rule in ("lock", "import"))

    def for_stimulus_set(self, assembly: str, registry: str | None, commit: str | None) -> Decision:
        """The decision for the stimulus set of an assembly loaded by this one: its commit."""
        return Decision(self.rule, registry, commit, f"{self.source}, through assembly {assembly!r}",
                        requested=self.requested)


# -- deciding (pure) ------------------------------------------------------------------------------
def decide(
    kind: str,
    identifier: str,
    rev: str | None,
    registry: str | None,
    facts: RepositoryFacts,
    settings: Settings,
) -> Decision:
    """The rule that decides a load of ``identifier`` (an ``assembly`` or ``stimulus_set``)."""
    if rev is not None or registry is not None:
        given = " and ".join(f"{name}={value!r}" for name, value in (("registry", registry), ("rev", rev)) if value)
        return Decision("explicit", registry, rev, f"the call's {given}", requested=rev)
    entry = facts.lock.get(kind, identifier) if facts.lock is not None else None
    if entry is not None:
        return _locked(entry, facts.lock.path)  # type: ignore[union-attr]
    imports = facts.imports_of(kind, identifier)
    if imports:
        return _imported(kind, identifier, imports)
    if settings.registries or settings.rev:
        parts = [f"registries {list(settings.registries)}" if settings.registries else "",
                 f"rev {settings.rev!r}" if settings.rev else ""]
        source = "configuration: " + ", ".join(part for part in parts if part)
        return Decision("config", None, None, source, requested=settings.rev)
    return Decision("default", None, None, "the registry around the current directory, at its default branch")


def _locked(entry: LockEntry, path: Path) -> Decision:
    expected = {locked.path: locked.md5 for locked in entry.files}
    return Decision("lock", entry.registry, entry.commit, str(path), expected, requested=entry.rev)


def _imported(kind: str, identifier: str, imports: list[Import]) -> Decision:
    sources = {(found.url, found.commit) for found in imports}
    if len(sources) > 1:
        listed = "; ".join(f"{found.dvc_file} ({found.url} at {found.commit[:10]})" for found in imports)
        raise PinError(identifier, "dvc import", f"imported from different registries or commits: {listed}",
                       hint="`dvc update --rev REV` the imports to one revision")
    first = imports[0]
    expected = {found.registry_path: found.md5 for found in imports if found.md5}
    source = ", ".join(str(found.dvc_file) for found in imports)
    return Decision("import", first.url, first.commit, source, expected, requested=first.rev)


# -- gathering the facts --------------------------------------------------------------------------
def find_repository_root(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` holding ``.git`` or ``.dvc``."""
    for directory in (start, *start.parents):
        if (directory / ".git").exists() or (directory / ".dvc").is_dir():
            return directory
    return None


@dataclass
class _Memo:
    signature: tuple[Any, ...]
    facts: RepositoryFacts


#: By repository root (bounded and emptied by :func:`brainio_dvc.store.state.refresh`).
_facts_memo: Memo[Path, _Memo] = REPOSITORY_FACTS


def refresh() -> None:
    """Forget the repository facts read in this process (they are also re-read when files change)."""
    _facts_memo.clear()


def repository_facts(start: Path | None = None) -> RepositoryFacts:
    """The facts of the repository around ``start`` (default: the current directory)."""
    root = find_repository_root((start or Path.cwd()).absolute())
    if root is None:
        return RepositoryFacts()
    memo = _facts_memo.get(root)
    if memo is not None and _still_valid(memo.signature):
        return memo.facts
    lock_path = root / LOCK_FILE_NAME
    lock_state = lock_signature(lock_path)
    lock = read_lock(lock_path) if lock_state is not None else None
    scanned: list[tuple[Any, ...]] = [("lock", str(lock_path), lock_state)]
    imports: list[Import] = []
    dvc_cache = None
    if (root / ".dvc").is_dir():
        dvc_cache = _dvc_cache_dir(root)
        for dvc_file in _walk_dvc_files(root, scanned):
            found = _read_import(dvc_file, root)
            if found is not None:
                imports.append(found)
    facts = RepositoryFacts(root=root, lock=lock, imports=tuple(imports), dvc_cache=dvc_cache)
    _facts_memo[root] = _Memo(tuple(scanned), facts)
    return facts


def _stat_key(path: str) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (status.st_mtime_ns, status.st_size)


def _still_valid(signature: tuple[Any, ...]) -> bool:
    """Whether nothing that the facts were read from changed (directories: files added or removed)."""
    for kind, path, known in signature:
        now = lock_signature(Path(path)) if kind == "lock" else _stat_key(path)
        if now != known:
            return False
    return True


def _walk_dvc_files(root: Path, scanned: list[tuple[Any, ...]]) -> Iterator[Path]:
    """Every ``*.dvc`` file of the work tree, recording each directory and file in ``scanned``.

    Hidden directories (``.git``, ``.dvc``, ``.venv``, ...), caches of tools, and directories
    that DVC tracks (``data`` beside ``data.dvc``) are not entered.
    """
    pending = [str(root)]
    while pending:
        directory = pending.pop()
        scanned.append(("dir", directory, _stat_key(directory)))
        try:
            entries = list(os.scandir(directory))
        except OSError as error:
            logger.debug("cannot list %s: %s", directory, error)
            continue
        names = {entry.name for entry in entries}
        # A registry's own artifacts are tracked data, never imports.
        skipped = _SKIPPED_DIRS | ({"registry"} if directory == str(root) and "catalogs" in names else set())
        for entry in entries:
            name = entry.name
            if name.startswith(".") or name in skipped:
                continue
            if name.endswith(".dvc") and entry.is_file():
                scanned.append(("file", entry.path, _stat_key(entry.path)))
                yield Path(entry.path)
            elif entry.is_dir(follow_symlinks=False) and f"{name}.dvc" not in names:
                pending.append(entry.path)


def _read_import(dvc_file: Path, root: Path) -> Import | None:
    """The registry artifact a ``.dvc`` file imports, or None when it is no such import."""
    from ..formats.dvcmeta import load_dvc_document

    try:
        text = dvc_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        logger.warning("cannot read %s (%s); it pins nothing", dvc_file, error)
        return None
    if "repo:" not in text or "rev_lock" not in text:
        return None  # a .dvc file of tracked data, not an import: skip the YAML parser
    try:
        document = load_dvc_document(text, str(dvc_file))
        return _import_of(document, dvc_file, root)
    except ValidationError as error:
        logger.warning("ignoring the dvc import %s: %s", dvc_file, error)
        return None


def _import_of(document: Mapping[str, Any], dvc_file: Path, root: Path) -> Import | None:
    deps, outs = document.get("deps"), document.get("outs")
    if not (isinstance(deps, list) and len(deps) == 1 and isinstance(deps[0], Mapping)
            and isinstance(outs, list) and len(outs) == 1 and isinstance(outs[0], Mapping)):
        return None
    dep, out = deps[0], outs[0]
    repo = dep.get("repo")
    registry_path = dep.get("path")
    if not isinstance(repo, Mapping) or not isinstance(registry_path, str):
        return None
    match = _ARTIFACT.match(registry_path.strip("/"))
    if match is None:
        logger.debug("%s imports %s, which is not one registry artifact", dvc_file, registry_path)
        return None
    kind, identifier, file_name = _KIND_OF_DIR[match["kind"]], match["identifier"], match["file"]
    if file_name is not None and file_name not in {identifier + suffix for suffix in _SUFFIXES[kind]}:
        return None
    url, commit, rev = repo.get("url"), repo.get("rev_lock"), repo.get("rev")
    output = out.get("path")
    if not isinstance(url, str) or not isinstance(commit, str) or not is_digest("sha1", commit, lowercase=True) \
            or not isinstance(output, str):
        raise ValidationError(str(dvc_file), "deps[0].repo with url and a 40-hex rev_lock, and outs[0].path",
                              f"url {url!r}, rev_lock {commit!r}, path {output!r}")
    md5 = out.get("md5")
    md5 = md5 if file_name is not None and is_digest("md5", md5, lowercase=True) else None
    return Import(
        dvc_file=dvc_file, kind=kind, identifier=identifier, url=_registry_spec(url, dvc_file.parent, root),
        rev=rev if isinstance(rev, str) else None, commit=commit, registry_path=registry_path.strip("/"),
        output=dvc_file.parent / output, md5=md5,
    )


def _registry_spec(url: str, directory: Path, root: Path) -> str:
    """An import's URL as a registry spec: a git URL as it is, a local path made absolute."""
    if is_git_url(url):
        return url
    path = Path(url).expanduser()
    if path.is_absolute():
        return str(path)
    for base in (directory, root):
        if (base / path).is_dir():
            return str((base / path).resolve())
    return str((directory / path).resolve())


def _dvc_cache_dir(root: Path) -> Path:
    """The repository's DVC cache: ``cache.dir`` of its DVC config (local config wins), else .dvc/cache."""
    found = root / ".dvc" / "cache"
    for name in ("config", "config.local"):
        try:
            text = (root / ".dvc" / name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if "[cache]" not in text:
            continue
        from configobj import ConfigObj  # DVC's config parser

        directory = ConfigObj(text.splitlines(), list_values=False, interpolation=False).get("cache", {}).get("dir")
        if isinstance(directory, str) and directory:
            found = (root / ".dvc" / Path(directory).expanduser()).resolve()
    return found


# -- the current process's view -------------------------------------------------------------------
def current_settings() -> Settings:
    return Settings(tuple(config.registries()), config.rev())


def resolve(kind: str, identifier: str, rev: str | None = None, registry: str | None = None) -> Decision:
    """:func:`decide` for the current directory and settings (explicit arguments read nothing)."""
    if rev is not None or registry is not None:
        return decide(kind, identifier, rev, registry, RepositoryFacts(), Settings())
    return decide(kind, identifier, rev, registry, repository_facts(), current_settings())


def local_file(registry_path: str, md5: str) -> Path | None:
    """A copy of a registry file that the repository around the current directory holds: the
    imported file in its workspace, else the object in its DVC cache; only once its md5 is checked."""
    facts = repository_facts()
    candidates = []
    for found in facts.imports:
        if found.registry_path == registry_path:
            candidates.append(found.output)
        elif registry_path.startswith(found.registry_path + "/"):
            candidates.append(found.output / registry_path[len(found.registry_path) + 1:])
    if facts.dvc_cache is not None:
        candidates.append(facts.dvc_cache / "files" / "md5" / md5[:2] / md5[2:])
    for candidate in candidates:
        if candidate.is_file() and _verified(candidate, md5):
            logger.debug("using %s (md5 %s) from the repository", candidate, md5)
            return candidate
    return None


def _verified(path: Path, md5: str) -> bool:
    """Whether ``path`` holds ``md5``: hashed once, then trusted while its size, times and inode
    stay the same (recorded under ``$BRAINIO_HOME/verified``, never beside the file)."""
    absolute = path.resolve()
    record = config.home() / "verified" / hashlib.sha256(os.fsencode(absolute)).hexdigest()[:32]
    state = FileState.of(absolute)
    try:
        known = json.loads(record.read_text(encoding="utf-8"))
        if known.get("md5") == md5 and FileState(**known["state"]) == state:
            return True
    except (OSError, ValueError, TypeError, KeyError):
        pass
    found = file_hash(absolute, "md5")
    if found != md5:
        logger.warning("%s has md5 %s, but its pin says %s; it is not used", path, found, md5)
        return False
    atomic_write_text(record, json.dumps({"path": str(absolute), "md5": md5, "state": state.__dict__}))
    return True


# -- who is told about loads ----------------------------------------------------------------------
#: What the listeners are told of one artifact a load read: (kind, identifier, rows, decision).
Load = tuple[str, str, list[Mapping[str, Any]], Decision]
#: Called for every artifact loaded, with the four fields of its Load; see brainio_dvc.lock.record.
_listeners: list[Callable[[str, str, list[Mapping[str, Any]], Decision], None]] = []


def add_listener(listener: Callable[[str, str, list[Mapping[str, Any]], Decision], None]) -> None:
    _listeners.append(listener)


def remove_listener(listener: Callable[[str, str, list[Mapping[str, Any]], Decision], None]) -> None:
    _listeners.remove(listener)


def loaded(*loads: Load) -> None:
    """Tell the listeners what one load read, once it succeeded: each artifact in order (an
    assembly's load: its stimulus set, then the assembly)."""
    for kind, identifier, rows, decision in loads:
        for listener in list(_listeners):
            listener(kind, identifier, rows, decision)
