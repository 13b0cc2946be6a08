"""The checks the CLI reports: a registry's pull-request check (``brainio-dvc catalog check``,
with ``--remote`` whether every artifact is on the DVC remote) and the data cache's
(``brainio-dvc verify``).  Each returns what it found; the CLI prints it and sets the exit code."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CheckReport",
    "Verification",
    "check_registry",
    "default_base",
    "remote_problems",
    "verify_cache",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckReport:
    """What ``catalog check`` found in a registry's working tree."""

    registry: Path
    artifacts: int  # rows of the catalogs generated from the .dvc files
    problems: list[str]  # each fails the check
    warnings: list[str]  # advice only

    @property
    def ok(self) -> bool:
        return not self.problems


def remote_problems(root: Path, rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The artifacts of ``rows`` that are not on the default DVC remote of the working tree
    ``root`` (and the references whose source is gone), or why the remote cannot be checked."""
    from dvc.repo import Repo

    from ..store.dvc_remote import open_remote_odb
    from ..store.references import source_problems
    from ..store.remote_spec import describe_remote_failure

    rows = list(rows)
    references = source_problems(rows)  # their bytes are at their source, not on the remote
    rows = [row for row in rows if row.get("md5")]
    if not rows:
        return references
    try:
        with Repo(str(root)) as repo:
            odb = open_remote_odb(repo)
            present = odb.oids_exist({str(row["md5"]) for row in rows})
    except Exception as error:  # noqa: BLE001 - any remote failure is a problem to report
        return [*references, f"cannot check the remote: {describe_remote_failure(error)}"]
    return references + [
        f"{row['location']} (md5 {row['md5']}) is not on the remote; run `dvc push`"
        for row in rows
        if str(row["md5"]) not in present
    ]


def default_base(root: Path) -> str | None:
    """The revision ``catalog check --strict`` compares with when given none: ``origin/HEAD``,
    else ``main``, else ``master``, the first that names a commit; None when none does."""
    from ..store.git import Git

    git = Git(root)
    for candidate in ("origin/HEAD", "main", "master"):
        if git.commit_of(candidate) is not None:
            return candidate
    return None


def check_registry(
    root: Path,
    *,
    remote: bool = False,
    strict: bool = False,
    base: str | Callable[[], str] | None = None,
) -> CheckReport:
    """Every problem of the registry working tree ``root``: catalogs out of sync with the .dvc
    files, duplicates, missing files, unknown classes, stimulus CSVs naming files their ZIP
    lacks, and cards; with ``remote``, artifacts not on the DVC remote, and the stimulus CSV/ZIP
    pairs read from the remote (or a reference's source) where they are not on this machine.

    Identifiers that break the naming convention are warnings; with ``strict``, those not at
    revision ``base`` (a revision, or a callable giving one when it is needed; default
    :func:`default_base`) are problems.

    :raises RegistryError: with ``strict`` and no ``base``, when :func:`default_base` finds none.
    """
    from ..assemblies import ASSEMBLY_CLASSES
    from ..cards import check_cards
    from ..stimuli import STIMULUS_SET_CLASSES
    from .catalog_build import find_problems, identifiers_at, naming_advice, scan_registry
    from .completeness import registry_pair_problems

    scan = scan_registry(root)
    problems = find_problems(scan, sorted(ASSEMBLY_CLASSES), sorted(STIMULUS_SET_CLASSES))
    advice = naming_advice(scan.rows)
    if strict and advice:
        before = identifiers_at(root, _base_revision(root, base))
        problems += [
            f"new identifier breaks the naming convention: {text}"
            for identifier, text in advice.items()
            if identifier not in before
        ]
    if remote:
        problems += remote_problems(root, scan.rows)
    # Every CSV filename in its ZIP: where both are here, and with ``remote`` from the remote.
    problems += registry_pair_problems(root, scan.rows, from_remote=remote)
    warnings = [f"naming convention (advice): {text}" for text in advice.values()]
    card_problems, card_warnings = check_cards(root, scan.rows)
    problems += card_problems
    warnings += card_warnings
    return CheckReport(
        registry=root, artifacts=len(scan.rows), problems=problems, warnings=warnings
    )


def _base_revision(root: Path, base: str | Callable[[], str] | None) -> str:
    if callable(base):
        return base()
    if base:
        return base
    found = default_base(root)
    if found is None:
        from ..exceptions import RegistryError

        raise RegistryError(
            str(root), "--strict needs --base REV: no origin/HEAD, main or master to compare with"
        )
    return found


@dataclass(frozen=True)
class Verification:
    """The outcome of re-hashing one thing in the data cache."""

    kind: str  # "file", "stimuli" (a ZIP's extraction) or "stimulus files" (a CSV against its ZIP)
    algorithm: str  # "" for "stimulus files"
    digest: str  # the stimulus set's identifier for "stimulus files"
    status: str  # "ok", "corrupt (removed)", "not cached", or "corrupt: <problem>"

    @property
    def corrupt(self) -> bool:
        return self.status.startswith("corrupt")


_STATUS = {True: "ok", False: "corrupt (removed)", None: "not cached"}


def verify_cache(
    rows: Sequence[Mapping[str, Any]] | None = None,
    pair_rows: Iterable[Mapping[str, Any]] | None = None,
) -> list[Verification]:
    """Re-hash the cached files of the catalog ``rows`` (default: every file in the cache);
    corrupt ones are removed, so that the next load fetches them again.  The stimuli extracted
    from an intact stimulus set ZIP are compared with it file by file (corrupt extractions are
    removed), and every stimulus set of ``pair_rows`` (default: ``rows``, or none without them)
    whose CSV and ZIP are cached is checked as a pair: every filename of its CSV must be a file
    of its ZIP."""
    from ..fetch import verify_stimuli_directory
    from ..store.cache import data_cache
    from .completeness import cached_pair_problems

    cache = data_cache()
    if rows is None:
        targets = list(cache.entries())
    else:
        targets = [
            ("md5", str(row["md5"])) if row.get("md5") else ("sha1", str(row["sha1"]))
            for row in rows
        ]
    results = []
    for algorithm, digest in dict.fromkeys(targets):
        intact = cache.verify(algorithm, digest)
        results.append(Verification("file", algorithm, digest, _STATUS[intact]))
        if intact:  # then the stimuli extracted from it, if it is a stimulus set's ZIP
            extracted = verify_stimuli_directory(cache.path_for(algorithm, digest), digest)
            if extracted is not None:
                results.append(Verification("stimuli", algorithm, digest, _STATUS[extracted]))
    pairs = (rows or []) if pair_rows is None else pair_rows
    for identifier, problem in cached_pair_problems(pairs).items():  # every CSV filename in its ZIP
        results.append(
            Verification(
                "stimulus files", "", identifier, f"corrupt: {problem}" if problem else "ok"
            )
        )
    return results
