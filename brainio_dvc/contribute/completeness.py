"""Every stimulus that a stimulus CSV lists must be a file of its ZIP: no silent loss.

A CSV row whose ``filename`` is not in the ZIP would load as a path that does not exist.  So
the pair is checked wherever it meets:

- at packaging (:meth:`~brainio_dvc.contribute.transaction.PackagingTransaction.track`, which
  ``package_stimulus_set`` and ``migrate --copy`` both go through): refused;
- at load: refused, checked once per (CSV, ZIP) pair against the ZIP's member list (its
  central directory only) and recorded under ``$BRAINIO_HOME/checks/stimulus-files/``, so that
  a warm load costs one ``stat``;
- by ``brainio-dvc catalog check`` (the pull-request check) and ``brainio-dvc verify``: reported.

:func:`missing_files` decides (pure); the other functions read files.
"""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from ..exceptions import BrainioDvcError, ValidationError
from .validation import preview

__all__ = [
    "cached_pair_problems",
    "check_loaded_stimuli",
    "check_staged_pairs",
    "check_stimulus_files",
    "missing_files",
    "registry_pair_problems",
    "stimulus_files_problem",
    "zip_member_files",
]

logger = logging.getLogger(__name__)


def _normal(name: str) -> str:
    """A member name as extraction lays it out: '' and '.' components dropped."""
    return "/".join(part for part in str(name).replace("\\", "/").split("/") if part not in ("", "."))


def missing_files(filenames: Iterable[object], members: Iterable[str]) -> list[str]:
    """The ``filenames`` (in order, each once) that are not files among the ZIP ``members``."""
    files = {_normal(member) for member in members if not member.endswith("/")}
    missing: dict[str, None] = {}
    for name in filenames:
        if _normal(str(name)) not in files:
            missing[str(name)] = None
    return list(missing)


def zip_member_files(zip_path: str | os.PathLike[str]) -> list[str]:
    """The member names of a ZIP, read from its central directory (not its data)."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            return [info.filename for info in archive.infolist()]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError, OverflowError, IndexError) as error:
        raise ValidationError(
            f"ZIP {os.fspath(zip_path)}", "a readable ZIP archive", f"{type(error).__name__}: {error}",
            hint="the file may be truncated or corrupted; fetching it again usually helps",
        ) from error


def _error(csv: str, zip_path: str, missing: Sequence[str]) -> ValidationError:
    return ValidationError(
        subject=f"stimulus CSV {csv}",
        expected=f"every filename to be a file of the stimulus ZIP {zip_path}",
        found=f"filenames not in the ZIP {preview(missing)}",
        hint="the CSV and the ZIP do not belong together (or the ZIP lost files); package them again",
    )


def check_stimulus_files(filenames: Iterable[object], csv: str, zip_path: str | os.PathLike[str]) -> None:
    """Refuse (:class:`ValidationError`) ``filenames`` of the CSV ``csv`` not in the ZIP."""
    missing = missing_files(filenames, zip_member_files(zip_path))
    if missing:
        raise _error(csv, os.fspath(zip_path), missing)


def stimulus_files_problem(csv_path: str | os.PathLike[str], zip_path: str | os.PathLike[str],
                           csv_name: str | None = None) -> str | None:
    """What is wrong with a stimulus CSV and its ZIP as a pair, or None (for reports)."""
    from ..stimuli import read_stimulus_csv

    try:
        frame = read_stimulus_csv(csv_path)
        if "filename" not in frame.columns:
            return f"stimulus CSV {csv_name or os.fspath(csv_path)} has no column 'filename'"
        check_stimulus_files(frame["filename"].tolist(), csv_name or os.fspath(csv_path), zip_path)
    except (BrainioDvcError, OSError, UnicodeDecodeError) as error:
        return str(error)
    return None


def _marker(csv_digest: str, zip_digest: str) -> Path | None:
    from .. import config
    from ..formats.hashes import is_digest

    if not all(any(is_digest(a, d) for a in ("md5", "sha1")) for d in (csv_digest, zip_digest)):
        return None  # never a path from something that is not a digest
    return config.home() / "checks" / "stimulus-files" / zip_digest.lower() / csv_digest.lower()


def check_loaded_stimuli(
    filenames: Sequence[object], csv: str, csv_digest: str, zip_path: str | os.PathLike[str], zip_digest: str
) -> None:
    """:func:`check_stimulus_files` for a load, once per (CSV, ZIP) pair of contents.

    The verdict depends only on the two files' contents, which their digests name, so a pair
    that passed is recorded and never read again.
    """
    from ..formats.atomic import atomic_write_text

    marker = _marker(csv_digest, zip_digest)
    if marker is not None and marker.exists():
        return
    check_stimulus_files(filenames, csv, zip_path)
    if marker is not None:
        atomic_write_text(marker, f"{len(filenames)} filenames, all in the ZIP\n")
        logger.debug("every filename of %s is in %s", csv, zip_path)


def check_staged_pairs(staged: Iterable[tuple[Path, str, str]]) -> None:
    """Refuse staged stimulus CSVs whose filenames are not all files of their ZIP.

    ``staged`` holds ``(path, lookup_type, class)`` of each file about to be tracked; a stimulus
    set's CSV (a class) has its ZIP beside it (``<identifier>.zip``, the registry's layout).
    Pairs whose files are not both here (a reference to S3, say) are left to ``catalog check``.
    """
    from ..stimuli import read_stimulus_csv

    for path, lookup_type, class_name in staged:
        zip_path = path.with_suffix(".zip")
        if lookup_type != "stimulus_set" or not class_name or not (path.is_file() and zip_path.is_file()):
            continue
        frame = read_stimulus_csv(path)
        if "filename" not in frame.columns:
            raise ValidationError(f"stimulus CSV {path}", "a column 'filename' naming each stimulus in the ZIP",
                                  f"the columns {[str(c) for c in frame.columns]}")
        check_stimulus_files(frame["filename"].tolist(), str(path), zip_path)


def _pairs(rows: Iterable[Mapping[str, object]]) -> dict[str, tuple[Mapping[str, object], Mapping[str, object]]]:
    """Stimulus set identifier -> (CSV row, ZIP row), for those that have both."""
    csvs: dict[str, Mapping[str, object]] = {}
    zips: dict[str, Mapping[str, object]] = {}
    for row in rows:
        if row.get("lookup_type") == "stimulus_set":
            (csvs if row.get("class") else zips)[str(row["identifier"])] = row
    return {identifier: (csvs[identifier], zips[identifier]) for identifier in sorted(csvs.keys() & zips.keys())}


def cached_pair_problems(rows: Iterable[Mapping[str, object]]) -> dict[str, str | None]:
    """For each stimulus set among ``rows`` whose CSV and ZIP are both in the data cache (and
    intact), what is wrong with them as a pair, or None (``brainio-dvc verify``)."""
    from ..fetch import data_cache

    cache = data_cache()
    found: dict[str, str | None] = {}
    for identifier, (csv_row, zip_row) in _pairs(rows).items():
        paths = [_cached(cache, row) for row in (csv_row, zip_row)]
        if paths[0] is not None and paths[1] is not None:
            found[identifier] = stimulus_files_problem(paths[0], paths[1], f"of {identifier!r} ({csv_row['location']})")
    return found


def _cached(cache: object, row: Mapping[str, object]) -> Path | None:
    from ..formats.hashes import is_digest

    for algorithm in ("md5", "sha1"):
        digest = row.get(algorithm)
        if is_digest(algorithm, digest):
            path = cache.lookup(algorithm, str(digest))  # type: ignore[attr-defined]
            if path is not None:
                return path
    return None


def registry_pair_problems(root: Path, rows: Iterable[Mapping[str, object]]) -> list[str]:
    """``catalog check``: every stimulus set of a registry whose CSV and ZIP are on this machine
    (the working tree, the registry's DVC cache, or the data cache) is checked as a pair."""
    from ..fetch import data_cache
    from ..formats.hashes import file_hash, is_digest

    cache = data_cache()
    problems = []
    for identifier, (csv_row, zip_row) in _pairs(rows).items():
        paths: list[Path | None] = []
        for row in (csv_row, zip_row):
            md5 = str(row.get("md5") or "")
            if not is_digest("md5", md5):
                paths.append(None)
                continue
            dvc_cache = root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]  # named by its content
            workspace = root / str(row["location"])
            if dvc_cache.is_file():
                paths.append(dvc_cache)
            elif (cached := cache.lookup("md5", md5)) is not None:
                paths.append(cached)
            else:
                paths.append(workspace if workspace.is_file() and file_hash(workspace, "md5") == md5 else None)
        if paths[0] is not None and paths[1] is not None:
            problem = stimulus_files_problem(paths[0], paths[1], f"{csv_row['location']}")
            if problem:
                problems.append(f"stimulus set {identifier!r}: {problem}")
    return problems
