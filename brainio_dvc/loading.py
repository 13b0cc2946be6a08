"""Loading stimulus sets and assemblies by identifier, at a revision of a registry."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from . import config
from .catalogs import LOCATION_TYPE_DVC, TYPE_ASSEMBLY, TYPE_STIMULUS_SET
from .contribute.completeness import check_loaded_stimuli
from .exceptions import PinError, UnsafeArchiveError, ValidationError
from .fetch import (
    cache_objects,
    fetch_row,
    stimuli_directory,
    stimuli_target,
)
from .formats.atomic import atomic_write_text
from .formats.zip_extraction import check_zip, is_extracted
from .lookup import AssemblyRows, find_assembly_rows, find_stimulus_set_rows
from .parallel import Background, awaited, side_by_side
from .store import pins
from .store.cache import DataCache, data_cache

if TYPE_CHECKING:
    from .arrays.loaders import AssemblyLoader
    from .assemblies import DataAssembly
    from .stimuli import StimulusSet

__all__ = ["get_assembly", "get_stimulus_set", "provenance"]

_PROVENANCE = ("catalog", "registry", "rev", "md5", "sha1")

logger = logging.getLogger(__name__)
_T = TypeVar("_T")


def _again_if_removed(load: Callable[[], _T], identifier: str) -> _T:
    """``load()``, and once more if a file of the data cache vanished under it.

    Another process may remove a cached file between this load's fetch and its read
    (``brainio-dvc verify`` removing a corrupt file, a cache cleanup, a user's ``rm``); the
    second attempt fetches it again, verified, rather than fail with a bare FileNotFoundError.
    """
    try:
        return load()
    except FileNotFoundError as error:
        removed = Path(str(error.filename or ""))
        if not error.filename or not removed.is_relative_to(data_cache().root):
            raise
        logger.info("%s was removed while %r loaded; loading it again", removed, identifier)
        return load()


def provenance(row: Mapping[str, Any], identifier: str) -> dict[str, str]:
    """Where a loaded object came from: identifier, catalog, registry, rev, path, md5, sha1."""
    found = {"identifier": identifier, "path": str(row["location"])}
    for key in _PROVENANCE:
        value = row.get(key)
        if value is not None and value == value and value != "":
            found[key] = str(value)
    if "catalog" not in found and row.get("source_catalog"):
        found["catalog"] = str(row["source_catalog"])
    return found


def _origin(row: Mapping[str, Any]) -> str:
    """Where a catalog row points: its location, and the registry and commit when it has them."""
    origin = str(row["location"])
    if row.get("registry"):
        origin += f" in {row['registry']} at {str(row.get('rev', ''))[:10]}"
    return origin


def _in_context(error: ValidationError, context: str) -> ValidationError:
    """``error`` with ``context`` (what was being loaded) before its subject (a cached file)."""
    if type(error) in (ValidationError, UnsafeArchiveError):
        return type(error)(f"{context}: {error.subject}", error.expected, error.found, error.hint)
    return error


def _check_pin(identifier: str, decision: pins.Decision, rows: tuple[Mapping[str, Any], ...]) -> None:
    """Refuse rows that disagree with the md5 the pin (lock entry or dvc import) recorded."""
    found = {str(row["location"]): str(row.get("md5") or "") for row in rows}
    for path, md5 in decision.expected.items():
        if found.get(path) != md5:
            at = f"{decision.registry} at {str(decision.rev)[:10]}"
            what = f"md5 {found[path]}" if path in found else f"no such file (its files: {', '.join(sorted(found))})"
            raise PinError(identifier, decision.source, f"{path} has md5 {md5} in the pin, but {at} has {what}",
                           hint="`brainio-dvc lock --check` lists every such problem")


def _fetch(row: Mapping[str, Any], identifier: str, decision: pins.Decision) -> Path:
    """A row's file: for a pinned load, the repository's own copy when it holds one (checked)."""
    md5 = row.get("md5")
    if row.get("location_type") == LOCATION_TYPE_DVC and isinstance(md5, str) and md5 and decision.pinned:
        local = pins.local_file(str(row["location"]), md5)
        if local is not None:
            return local
    return fetch_row(row, identifier)


def _resolution(decision: pins.Decision) -> dict[str, str]:
    return {"resolved_by": decision.rule, "resolved_from": decision.source}


def get_stimulus_set(identifier: str, rev: str | None = None, registry: str | None = None) -> StimulusSet:
    """Load a stimulus set; ``rev`` and ``registry`` as in :mod:`brainio_dvc.lookup`.

    Without them, the pins of the repository around the current directory decide
    (:mod:`brainio_dvc.store.pins`); ``attrs['resolved_by']`` names the rule that did.  The
    ZIP is checked now and extracted on the first use of the stimulus paths.
    """
    return _again_if_removed(partial(_load_stimulus_set, identifier, rev, registry), identifier)


def _load_stimulus_set(identifier: str, rev: str | None, registry: str | None) -> StimulusSet:
    home = config.home()
    decision = pins.resolve(TYPE_STIMULUS_SET, identifier, rev, registry)
    csv_row, zip_row = _stimulus_set_rows(identifier, decision, home)
    files = _files((csv_row, zip_row), home)
    target = stimuli_target(_zip_digest(zip_row), home)
    extracted = is_extracted(target)
    csv_path, zip_path = _fetch_all([(csv_row, identifier, decision), (zip_row, identifier, decision)], files)
    members = None if extracted else _check_zip(identifier, csv_row, zip_row, zip_path, home)
    extract = None if extracted else partial(_extract, identifier, csv_row, zip_row, zip_path, home)
    stimulus_set = _stimulus_set(identifier, decision, csv_row, zip_row, csv_path, target, extract)
    _check_pair(identifier, decision, csv_row, zip_row, stimulus_set, csv_path, zip_path, members)
    pins.loaded(_stimulus_set_load(identifier, decision, csv_row, zip_row))
    return stimulus_set


def _stimulus_set_rows(identifier: str, decision: pins.Decision, home: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    csv_row, zip_row = find_stimulus_set_rows(identifier, rev=decision.rev, registry=decision.registry, home=home)
    _check_pin(identifier, decision, (csv_row, zip_row))
    return csv_row, zip_row


@dataclass(frozen=True)
class _Files:
    """A load's rows, and the objects of the data cache that would hold their files."""

    rows: tuple[Mapping[str, Any], ...]
    cache: DataCache
    objects: tuple[tuple[str, str, Path] | None, ...]


def _files(rows: tuple[Mapping[str, Any], ...], home: Path) -> _Files:
    cache, objects = cache_objects(rows, home)
    return _Files(rows, cache, tuple(objects))


def _cached_files(files: _Files) -> list[Path | None]:
    """The file of each of ``files.rows`` that the data cache holds, intact (None: to fetch)."""
    return files.cache.lookup_all(files.objects)


@dataclass
class _Plan:
    """What a load of an assembly works out from its rows, once per set of rows (kept with the
    rows of a registry at a commit, :class:`~brainio_dvc.lookup.AssemblyRows`, which never
    change): the classes, the data cache's objects of the three files, the directory of the
    ZIP's stimuli, and whether the CSV's filenames were found in the ZIP."""

    assembly_class: type[DataAssembly]
    files: _Files
    stimuli: Path
    loader_class: type[AssemblyLoader] | None = None
    stimulus_set_class: type[StimulusSet] | None = None
    pair_checked: bool = False


def _fetch_all(
    jobs: list[tuple[Mapping[str, Any], str, pins.Decision]], files: _Files,
    then: Mapping[int, Callable[[Path], None]] | None = None,
) -> list[Path]:
    """The files of several rows (``files``: theirs); when more than one must be downloaded,
    side by side.

    Each row's file is looked up in the data cache once: a cached file is used as it is (a
    pinned load's rows go through :func:`_fetch`, for the repository's own copies).
    ``then[i]``, if given, is called with the file of job ``i`` as soon as it is there, in the
    thread that fetched it.
    """
    then = then or {}
    pinned = any(decision.pinned for _, _, decision in jobs)
    cached: list[Path | None] = [None] * len(jobs) if pinned else _cached_files(files)

    def fetch(number: int) -> Path:
        row, identifier, decision = jobs[number]
        path = cached[number] or _fetch(row, identifier, decision)
        if number in then:
            then[number](path)
        return path

    if sum(path is None for path in cached) <= 1:
        return [fetch(number) for number in range(len(jobs))]
    return side_by_side([partial(fetch, number) for number in range(len(jobs))])


def _zip_digest(zip_row: Mapping[str, Any]) -> str:
    return str(zip_row.get("md5") or "") or str(zip_row["sha1"])


def _check_zip(
    identifier: str, csv_row: Mapping[str, Any], zip_row: Mapping[str, Any], zip_path: Path, home: Path
) -> list[str] | None:
    """Refuse a bad stimulus ZIP at load, although it is extracted only on first use: check it as
    its extraction would, writing nothing (:func:`~brainio_dvc.formats.zip_extraction.check_zip`).

    The verdict depends on the ZIP's content only, which its digest names, so a ZIP that passed
    is recorded under ``$BRAINIO_HOME/checks/stimulus-zips/`` and not read again: then None is
    returned, else the ZIP's member names.
    """
    marker = home / "checks" / "stimulus-zips" / stimuli_target(_zip_digest(zip_row), home).name
    if marker.exists():
        return None
    try:
        members = check_zip(zip_path)
    except ValidationError as error:
        raise _in_context(error, f"stimulus set {identifier!r} ({_origin(csv_row)})") from error
    atomic_write_text(marker, f"{len(members)} members, every one readable with its CRC-32\n")
    return members


def _extract(
    identifier: str, csv_row: Mapping[str, Any], zip_row: Mapping[str, Any], zip_path: Path, home: Path
) -> Path:
    """The directory of the stimulus set's extracted ZIP, extracting it first if needed; a ZIP
    removed from the data cache since the load is fetched again (and checked) first."""
    try:
        try:
            return stimuli_directory(zip_path, _zip_digest(zip_row), home)
        except FileNotFoundError as error:
            if not error.filename or Path(str(error.filename)) != zip_path:
                raise
            logger.info("%s was removed since %r was loaded; fetching it again", zip_path, identifier)
            with config.set(home=home):
                zip_path = fetch_row(zip_row, identifier)
            return stimuli_directory(zip_path, _zip_digest(zip_row), home)
    except ValidationError as error:
        raise _in_context(error, f"stimulus set {identifier!r} ({_origin(csv_row)})") from error


def _check_pair(identifier: str, decision: pins.Decision, csv_row: Mapping[str, Any], zip_row: Mapping[str, Any],
                stimulus_set: StimulusSet, csv_path: Path, zip_path: Path, members: list[str] | None,
                plan: _Plan | None = None) -> None:
    """Every filename of the CSV must be a file of the ZIP (checked once per pair of contents:
    :mod:`brainio_dvc.contribute.completeness`, and once per ``plan``; ``members`` are the
    ZIP's, if read already), so that no stimulus path leads nowhere."""
    if not (plan is not None and plan.pair_checked):
        try:
            csv_digest = str(csv_row.get("md5") or csv_row.get("sha1") or "")
            check_loaded_stimuli(stimulus_set["filename"].tolist(), str(csv_path), csv_digest, zip_path,
                                 _zip_digest(zip_row), members)
        except ValidationError as error:
            raise _in_context(error, f"stimulus set {identifier!r} ({_origin(csv_row)})") from error
        if plan is not None:
            plan.pair_checked = True


def _stimulus_set_load(identifier: str, decision: pins.Decision, csv_row: Mapping[str, Any],
                       zip_row: Mapping[str, Any]) -> pins.Load:
    """What :func:`pins.loaded` is told of a stimulus set loaded from these rows."""
    return (TYPE_STIMULUS_SET, identifier, [dict(csv_row), dict(zip_row)], decision)


def _read_stimulus_set(
    identifier: str, csv_row: Mapping[str, Any], csv_path: Path, directory: Path, plan: _Plan | None = None
) -> StimulusSet:
    """The stimulus set of a CSV whose stimuli are (or will be) in ``directory``, as read."""
    from .stimuli import resolve_stimulus_set_class

    cls = plan.stimulus_set_class if plan is not None else None
    if cls is None:
        cls = resolve_stimulus_set_class(str(csv_row["class"]))
    try:
        stimulus_set = cls.from_files(csv_path, directory)
    except ValidationError as error:
        raise _in_context(error, f"stimulus set {identifier!r} ({_origin(csv_row)})") from error
    if plan is not None:
        plan.stimulus_set_class = cls
    return stimulus_set


def _stimulus_set(
    identifier: str,
    decision: pins.Decision,
    csv_row: Mapping[str, Any],
    zip_row: Mapping[str, Any],
    csv_path: Path,
    directory: Path,
    extract: Callable[[], object] | None,
    plan: _Plan | None = None,
    read: StimulusSet | None = None,
) -> StimulusSet:
    """The stimulus set of a CSV whose stimuli are in ``directory``, or, with ``extract``, are
    put there by ``extract()`` on the first use of the stimulus paths (the caller checks the ZIP,
    and the pair: :func:`_check_pair`).  ``read``: the CSV's :func:`_read_stimulus_set`, when
    the caller read it already."""
    from .stimuli import StimulusPaths

    stimulus_set = read if read is not None else _read_stimulus_set(identifier, csv_row, csv_path, directory, plan)
    if extract is not None:
        paths = stimulus_set.stimulus_paths
        if not (isinstance(paths, StimulusPaths) and paths.prepare_with(extract)):
            extract()  # a loader of its own gave paths already: their files must be there now
    stimulus_set.identifier = identifier
    stimulus_set.attrs.update(provenance(csv_row, identifier))
    stimulus_set.attrs.update(_resolution(decision))
    stimulus_set.attrs["zip"] = provenance(zip_row, identifier)
    return stimulus_set


def get_assembly(
    identifier: str, rev: str | None = None, registry: str | None = None, *, lazy: bool = False
) -> DataAssembly:
    """Load an assembly with its stimulus set attached (``assembly.attrs['stimulus_set']``).

    The stimulus set comes from the same registry and commit as the assembly.  Without ``rev``
    and ``registry``, the pins of the repository around the current directory decide
    (:mod:`brainio_dvc.store.pins`); ``attrs['resolved_by']`` names the rule that did.

    A cold load downloads the netCDF file, the stimulus CSV and the ZIP side by side, and
    checks the ZIP (every member's name and CRC-32, every CSV filename among them) while the
    netCDF file is read, so that a bad ZIP fails the load; the ZIP is extracted on first use
    of the stimulus paths (:class:`~brainio_dvc.stimuli.StimulusPaths`).

    ``lazy=True`` opens the netCDF file with dask in the chunks it is stored in (as
    ``BRAINIO_CHUNKS`` does with chunks of its own): values are read when they are used, so
    ``get_assembly(..., lazy=True).sel(region="IT").load()`` reads the chunks of those
    neuroids only.  It needs dask (``pip install 'brainio-dvc[dask]'``).
    """
    return _again_if_removed(partial(_load_assembly, identifier, rev, registry, lazy), identifier)


def _load_assembly(identifier: str, rev: str | None, registry: str | None, lazy: bool) -> DataAssembly:
    home = config.home()  # once per load
    decision = pins.resolve(TYPE_ASSEMBLY, identifier, rev, registry)
    found = find_assembly_rows(identifier, rev=decision.rev, registry=decision.registry, home=home)
    row = found.assembly
    _check_pin(identifier, decision, (row,))
    plan: _Plan | None = found.plan  # worked out by an earlier load of these rows
    if plan is not None:
        cls = plan.assembly_class
    else:
        from .assemblies import resolve_assembly_class

        cls = resolve_assembly_class(str(row["class"]))
    stimulus_set_identifier = str(row["stimulus_set_identifier"])
    source_registry = row.get("registry")
    if isinstance(source_registry, str) and source_registry:
        stimulus_decision = decision.for_stimulus_set(identifier, source_registry, str(row["rev"]))
    else:
        stimulus_decision = pins.resolve(TYPE_STIMULUS_SET, stimulus_set_identifier, None, None)
    if found.stimulus_set is not None:  # from the catalogs of the assembly's registry and commit
        csv_row, zip_row = found.stimulus_set
        _check_pin(stimulus_set_identifier, stimulus_decision, found.stimulus_set)
    else:
        csv_row, zip_row = _stimulus_set_rows(stimulus_set_identifier, stimulus_decision, home)
    if plan is None:
        plan = _new_plan(found, cls, (row, csv_row, zip_row), home)
    extracted = is_extracted(plan.stimuli)
    started: list[Background[list[str] | None]] = []
    read: list[StimulusSet] = []

    def read_csv(path: Path) -> None:
        # As soon as the CSV is there, in its thread, while the netCDF file downloads.
        read.append(_read_stimulus_set(stimulus_set_identifier, csv_row, path, plan.stimuli, plan))

    def start_checking(path: Path) -> None:
        # As soon as the ZIP is there, while the netCDF file downloads and is read: a bad ZIP
        # fails the load, though it is extracted only on first use of the stimulus paths.
        started.append(Background(partial(_check_zip, stimulus_set_identifier, csv_row, zip_row, path, home)))

    try:
        file_path, csv_path, zip_path = _fetch_all([
            (row, identifier, decision),
            (csv_row, stimulus_set_identifier, stimulus_decision),
            (zip_row, stimulus_set_identifier, stimulus_decision),
        ], plan.files, then={1: read_csv} if extracted else {1: read_csv, 2: start_checking})
    except BaseException:
        for background in started:  # nothing is left running
            background.join()
        raise
    checking: contextlib.AbstractContextManager[Any] = awaited(started[0]) if started else contextlib.nullcontext()
    extract = None if extracted else partial(_extract, stimulus_set_identifier, csv_row, zip_row, zip_path, home)
    with checking:
        stimulus_set = _stimulus_set(stimulus_set_identifier, stimulus_decision, csv_row, zip_row, csv_path,
                                     plan.stimuli, extract, plan, read[0])
        loader_class = plan.loader_class = plan.loader_class or cls.get_loader_class()
        loader = loader_class(
            cls=cls,
            file_path=file_path,
            stimulus_set_identifier=stimulus_set_identifier,
            stimulus_set=stimulus_set,
            chunks={} if lazy else None,
        )
        assembly = loader.load()
    _check_pair(stimulus_set_identifier, stimulus_decision, csv_row, zip_row, stimulus_set, csv_path, zip_path,
                started[0].result() if started else None, plan)
    assembly.attrs.update(provenance(row, identifier))
    assembly.attrs.update(_resolution(decision))
    assembly.attrs["stimulus_set_identifier"] = stimulus_set_identifier
    assembly.attrs["stimulus_set"] = stimulus_set
    pins.loaded(_stimulus_set_load(stimulus_set_identifier, stimulus_decision, csv_row, zip_row),
                (TYPE_ASSEMBLY, identifier, [dict(row)], decision))
    return assembly


def _new_plan(found: AssemblyRows, cls: type[DataAssembly], rows: tuple[Mapping[str, Any], ...], home: Path) -> _Plan:
    """The plan of a load of ``rows``; kept with ``found`` when they are its own (a registry's
    at a commit), else made again by the next load."""
    plan = _Plan(cls, _files(rows, home), stimuli_target(_zip_digest(rows[2]), home))
    if found.stimulus_set is not None:
        found.plan = plan
    return plan
