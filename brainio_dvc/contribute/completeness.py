"""Every stimulus that a stimulus CSV lists must be a file of its ZIP: no silent loss.

A CSV row whose ``filename`` is not in the ZIP would load as a path that does not exist.  So
the pair is checked wherever it meets:

- at packaging (:meth:`~brainio_dvc.contribute.transaction.PackagingTransaction.track`, which
  ``package_stimulus_set`` and ``migrate --copy`` both go through): refused;
- at load: refused, checked once per (CSV, ZIP) pair against the ZIP's member list (its
  central directory only) and recorded under ``$BRAINIO_HOME/checks/stimulus-files/``, so that
  a warm load costs one ``stat``;
- by ``brainio-dvc catalog check`` (the pull-request check) and ``brainio-dvc verify``: reported.
  ``catalog check --remote`` checks every pair, reading from the registry's DVC remote what is
  not on this machine: a CSV whole, a ZIP's central directory only (range requests).

:func:`missing_files` decides (pure); the other functions read files.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from ..exceptions import BrainioDvcError, ValidationError
from ..formats.describe import preview

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
    filenames, members = list(filenames), [member for member in members if not member.endswith("/")]
    exact = set(members)
    if all(isinstance(name, str) and name in exact for name in filenames):
        return []  # the usual case, decided without normalizing thousands of names
    files = {_normal(member) for member in members}
    missing: dict[str, None] = {}
    for name in filenames:
        if _normal(str(name)) not in files:
            missing[str(name)] = None
    return list(missing)


#: A path, or a seekable binary file (RemoteObjectFile is an io.RawIOBase, which is no typing.IO).
ZipSource = str | os.PathLike[str] | IO[bytes] | io.RawIOBase


def _zip_name(zip_path: ZipSource) -> str:
    return os.fspath(zip_path) if isinstance(zip_path, str | os.PathLike) else str(getattr(zip_path, "name", zip_path))


def zip_member_files(zip_path: ZipSource, name: str | None = None) -> list[str]:
    """The member names of a ZIP (a path, or a seekable binary file such as
    :class:`~brainio_dvc.store.remote_file.RemoteObjectFile`), read from its central directory only."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            return [info.filename for info in archive.infolist()]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError, OverflowError, IndexError) as error:
        msg = f"ZIP {name or _zip_name(zip_path)}"
        raise ValidationError(
            msg, "a readable ZIP archive", f"{type(error).__name__}: {error}",
            hint="the file may be truncated or corrupted; fetching it again usually helps",
        ) from error


def _error(csv: str, zip_path: str, missing: Sequence[str]) -> ValidationError:
    return ValidationError(
        subject=f"stimulus CSV {csv}",
        expected=f"every filename to be a file of the stimulus ZIP {zip_path}",
        found=f"filenames not in the ZIP {preview(missing)}",
        hint="the CSV and the ZIP do not belong together (or the ZIP lost files); package them again",
    )


def check_stimulus_files(
    filenames: Iterable[object], csv: str, zip_path: ZipSource, zip_name: str | None = None
) -> None:
    """Refuse (:class:`ValidationError`) ``filenames`` of the CSV ``csv`` not in the ZIP."""
    zip_name = zip_name or _zip_name(zip_path)
    missing = missing_files(filenames, zip_member_files(zip_path, zip_name))
    if missing:
        raise _error(csv, zip_name, missing)


def stimulus_files_problem(csv_path: str | os.PathLike[str], zip_path: ZipSource,
                           csv_name: str | None = None, zip_name: str | None = None) -> str | None:
    """What is wrong with a stimulus CSV and its ZIP as a pair, or None (for reports)."""
    from ..stimuli import read_stimulus_csv

    try:
        frame = read_stimulus_csv(csv_path)
        if "filename" not in frame.columns:
            return f"stimulus CSV {csv_name or os.fspath(csv_path)} has no column 'filename'"
        check_stimulus_files(frame["filename"].tolist(), csv_name or os.fspath(csv_path), zip_path, zip_name)
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
    filenames: Sequence[object], csv: str, csv_digest: str, zip_path: str | os.PathLike[str], zip_digest: str,
    members: Sequence[str] | None = None,
) -> None:
    """:func:`check_stimulus_files` for a load, once per (CSV, ZIP) pair of contents.

    The verdict depends only on the two files' contents, which their digests name, so a pair
    that passed is recorded and never read again.  ``members``, the ZIP's member names when
    the caller read them already, spares reading its central directory again.
    """
    from ..formats.atomic import atomic_write_text

    marker = _marker(csv_digest, zip_digest)
    if marker is not None and marker.exists():
        return
    if members is None:
        check_stimulus_files(filenames, csv, zip_path)
    elif missing := missing_files(filenames, members):
        raise _error(csv, os.fspath(zip_path), missing)
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
            msg = f"stimulus CSV {path}"
            raise ValidationError(msg, "a column 'filename' naming each stimulus in the ZIP",
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
    from ..store.cache import data_cache

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


def registry_pair_problems(root: Path, rows: Iterable[Mapping[str, object]], from_remote: bool = False) -> list[str]:
    """``catalog check``: every stimulus set of a registry whose CSV and ZIP are on this machine
    (the working tree, the registry's DVC cache, or the data cache) is checked as a pair.

    With ``from_remote``, every other pair too, from the registry's default DVC remote (as the
    working tree configures it): the CSV is downloaded to a temporary file and its md5
    checked, and of the ZIP only the central directory is read (range requests).  A pair that
    a load has checked already (its record under ``$BRAINIO_HOME/checks/``) is not read again.
    """
    from ..store.cache import data_cache

    cache = data_cache()
    found: dict[str, str | None] = {}
    on_remote = []
    for identifier, (csv_row, zip_row) in _pairs(rows).items():
        csv_path, zip_path = (_on_machine(root, cache, row) for row in (csv_row, zip_row))
        if csv_path is not None and zip_path is not None:
            found[identifier] = stimulus_files_problem(csv_path, zip_path, f"{csv_row['location']}")
        elif not from_remote or not all(_md5(row) or _source(row) for row in (csv_row, zip_row)):
            continue  # not here, and neither on the DVC remote nor a reference to an S3 source
        elif (marker := _marker(_digest(csv_row), _digest(zip_row))) is None or not marker.exists():
            on_remote.append((identifier, csv_row, zip_row, csv_path, zip_path))  # else a load checked these contents
    if on_remote:
        found.update(_remote_pair_problems(root, on_remote))
    return [f"stimulus set {identifier!r}: {problem}" for identifier, problem in sorted(found.items()) if problem]


#: Pairs checked at once against a remote (each is a few small requests).
REMOTE_CHECK_JOBS = 8


def _remote_pair_problems(root: Path, pairs: Sequence[tuple[str, Mapping[str, object], Mapping[str, object],
                                                            Path | None, Path | None]]) -> dict[str, str | None]:
    from ..store.remotes import open_worktree_remote

    def cannot(error: Exception) -> str:
        return f"cannot check its CSV against its ZIP on the remote: {error}"

    remote: Any = None
    if any(_md5(row) and path is None for pair in pairs for row, path in ((pair[1], pair[3]), (pair[2], pair[4]))):
        try:  # some file is on the DVC remote (references are read from their sources)
            remote = open_worktree_remote(root)
        except (BrainioDvcError, OSError) as error:
            return {pair[0]: cannot(error) for pair in pairs}

    def check(pair: tuple[str, Mapping[str, object], Mapping[str, object], Path | None, Path | None]
              ) -> tuple[str, str | None]:
        identifier, csv_row, zip_row, csv_path, zip_path = pair
        try:
            return identifier, _remote_pair_problem(remote, csv_row, zip_row, csv_path, zip_path)
        except (BrainioDvcError, OSError) as error:
            return identifier, cannot(error)

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(REMOTE_CHECK_JOBS, len(pairs))) as pool:
        return dict(pool.map(check, pairs))


def _source(row: Mapping[str, object]) -> Any:
    """The S3 source of a reference row (``migrate --reference``), or None."""
    from ..store.references import Source

    source = row.get("source")
    return source if isinstance(source, Source) else None


def _digest(row: Mapping[str, object]) -> str:
    """What loads name a row's file by (the md5, or a reference's SHA-1), for :func:`_marker`."""
    return _md5(row) or str(row.get("sha1") or "")


def _md5(row: Mapping[str, object]) -> str:
    from ..formats.hashes import is_digest

    md5 = str(row.get("md5") or "")
    return md5 if is_digest("md5", md5) else ""


def _on_machine(root: Path, cache: Any, row: Mapping[str, object]) -> Path | None:
    """A file on this machine with the bytes of the artifact of ``row``, or None."""
    from ..formats.hashes import file_hash, is_digest

    md5 = _md5(row)
    if not md5:  # a reference: in the data cache by its SHA-1, if anywhere
        sha1 = str(row.get("sha1") or "")
        return Path(cached) if is_digest("sha1", sha1) and (cached := cache.lookup("sha1", sha1)) is not None else None
    dvc_cache = root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]  # named by its content
    if dvc_cache.is_file():
        return dvc_cache
    if (cached := cache.lookup("md5", md5)) is not None:
        return Path(cached)
    workspace = root / str(row["location"])
    return workspace if workspace.is_file() and file_hash(workspace, "md5") == md5 else None


def _remote_pair_problem(remote: Any, csv_row: Mapping[str, object], zip_row: Mapping[str, object],
                         csv_path: Path | None, zip_path: Path | None) -> str | None:
    """:func:`stimulus_files_problem` for a pair of which at least one file is not on this
    machine: it is read from ``remote`` (the DVC remote) or, for a reference, from its source."""
    from ..formats.hashes import file_hash
    from ..store.references import SourceObject
    from ..store.remote_file import RemoteObjectFile

    def where(row: Mapping[str, object]) -> tuple[Any, str, str, str, str]:
        """(what to read from, its key, the algorithm and digest that name the file, a label)"""
        source = _source(row)
        if _md5(row) or source is None:
            return remote, _md5(row), "md5", _md5(row), f"the remote {remote.spec.name!r}"
        return SourceObject(source, str(row["identifier"])), "", "sha1", str(row.get("sha1") or ""), source.describe()

    with tempfile.TemporaryDirectory(prefix="brainio-dvc-check-") as scratch:
        if csv_path is None:
            reader, key, algorithm, expected, label = where(csv_row)
            csv_path = Path(scratch) / "stimuli.csv"
            digests = reader.download(key, csv_path, str(csv_row["identifier"]))
            found = (digests or {}).get(algorithm) or file_hash(csv_path, algorithm)
            if found != expected:
                return (f"{label} holds other bytes for {csv_row['location']}: "
                        f"expected {algorithm} {expected}, found {found}")
        csv_name = f"{csv_row['location']}"
        if zip_path is not None:
            return stimulus_files_problem(csv_path, zip_path, csv_name)
        reader, key, algorithm, expected, label = where(zip_row)
        with RemoteObjectFile(reader, key) as stream:
            problem = stimulus_files_problem(
                csv_path, stream, csv_name, f"{zip_row['location']} ({algorithm} {expected} on {label})")
            logger.debug("read the central directory of %s in %d range requests", zip_row["location"], stream.requests)
            return problem
