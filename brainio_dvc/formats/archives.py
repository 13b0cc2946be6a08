"""Stimulus archives: deterministic ZIP and CSV writing, and safe, atomic ZIP extraction.

Writing is deterministic so that packaging unchanged stimuli gives byte-identical files and DVC
sees no change: entries in stimulus-set row order, fixed 1980-01-01 timestamps, fixed
``rw-r--r--`` permissions, Unix as the creating system, no compression.  Stimuli are stored
uncompressed (``ZIP_STORED``) because PNG and JPEG data are already compressed.  Measured on
200 noisy 256x256 images (half PNG, half JPEG, 16.55 MB): deflate saved 0.13% (16.57 MB stored,
16.55 MB deflated) and made writing 15 times slower (25 ms -> 375 ms).

Every file is written to a temporary sibling and renamed into place (:mod:`.atomic`), so a crash
never leaves a truncated file under the final name.  Extraction goes to a temporary sibling
directory that is renamed into place once complete; entries that could escape it, symlinks and
repeated names are refused, and anything a damaged archive makes :mod:`zipfile` raise becomes a
:class:`ValidationError`.  A killed extraction leaves only a hidden temporary directory, which
the next extraction into the same directory removes; :func:`check_zip` reads and checks an
archive as extraction does, without writing; :func:`extraction_problems` compares an extraction
with its archive (``brainio-dvc verify``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import struct
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..exceptions import UnsafeArchiveError, ValidationError
from ..progress import tracker
from .atomic import atomic_path, is_nonempty_directory, temporary_path
from .describe import describe_stimulus_set, metadata_attribute, preview
from .hashes import sha1_hash
from .identifiers import relative_path_problem

__all__ = [
    "check_zip",
    "create_stimulus_csv",
    "create_stimulus_zip",
    "discard_extraction",
    "extract_zip",
    "extraction_problems",
    "is_extracted",
    "stimulus_zip_member_names",
]

logger = logging.getLogger(__name__)

#: The earliest timestamp a ZIP entry can hold; used for every entry.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
#: Regular file, rw-r--r--, in the high 16 bits of ``external_attr`` as Unix zip tools write it.
_FILE_ATTRIBUTES = (stat.S_IFREG | 0o644) << 16
_CREATE_SYSTEM_UNIX = 3
_COPY_BUFFER = 1 << 20
#: What a damaged or hostile ZIP can make :mod:`zipfile` raise while reading.
_ZIP_READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    NotImplementedError,
    RuntimeError,
    ValueError,
    OverflowError,
    struct.error,
)
#: Column that, when present, names each stimulus inside the ZIP (before the extension).
PATH_WITHIN_STORE = "stimulus_path_within_store"


# ---------------------------------------------------------------------------------------------
# Member names


def _parts(name: str) -> list[str]:
    """The path components of a member name as :mod:`zipfile` extracts it ('' and '.' dropped)."""
    return [part for part in name.split("/") if part not in ("", ".")]


#: Why a member name is unsafe as a relative path inside an archive, or None if it is safe.
_unsafe_reason = relative_path_problem


def stimulus_zip_member_names(proto_stimulus_set: Any) -> list[str]:
    """The ZIP member name of every stimulus, in row order (pure: no file is read).

    A stimulus is stored under its ``stimulus_path_within_store`` value when that column
    exists, else under its ``stimulus_id``; the extension of its local file is appended.
    """
    ids = proto_stimulus_set["stimulus_id"].tolist()
    if PATH_WITHIN_STORE in proto_stimulus_set.columns:
        stems = proto_stimulus_set[PATH_WITHIN_STORE].tolist()
    else:  # integer ids (BrainIO accepted them) are stored under their decimal form
        stems = [str(i) if isinstance(i, int) and not isinstance(i, bool) else i for i in ids]
    names = []
    for stimulus_id, stem in zip(ids, stems, strict=True):
        if not isinstance(stem, str) or not stem:
            raise ValidationError(
                subject=f"stimulus {stimulus_id!r}",
                expected=f"a non-empty string as its {PATH_WITHIN_STORE} or stimulus_id",
                found=repr(stem),
            )
        name = stem + os.path.splitext(_stimulus_path(proto_stimulus_set, stimulus_id))[1]
        reason = _unsafe_reason(name)
        if reason:
            raise UnsafeArchiveError(
                subject=f"stimulus {stimulus_id!r}",
                expected="a relative path inside the ZIP",
                found=f"{name!r}, {reason}",
            )
        names.append(name)
    _check_unique_names(names)
    return names


def _stimulus_path(stimulus_set: Any, stimulus_id: str) -> str:
    """The local path of one stimulus, through ``get_stimulus`` when the object has it."""
    getter = metadata_attribute(stimulus_set, "get_stimulus")
    if getter is not None:
        return os.fspath(getter(stimulus_id))
    paths = metadata_attribute(stimulus_set, "stimulus_paths")
    if paths is None:
        raise ValidationError(
            subject=describe_stimulus_set(stimulus_set),
            expected="a stimulus_paths dict or a get_stimulus method",
            found="neither",
        )
    return os.fspath(paths[stimulus_id])


def _check_unique_names(names: list[str]) -> None:
    """Refuse two stimuli stored under the same member name."""
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise ValidationError(
            subject="stimulus ZIP",
            expected="one member name per stimulus",
            found=f"names given to several stimuli {preview(repeated)}",
            hint=f"make {PATH_WITHIN_STORE} (or stimulus_id) unique",
        )


# ---------------------------------------------------------------------------------------------
# Writing


def _write_member(archive: zipfile.ZipFile, source: str, name: str) -> None:
    """Copy ``source`` into ``archive`` as ``name``, with fixed metadata."""
    info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
    info.compress_type = zipfile.ZIP_STORED
    info.create_system = _CREATE_SYSTEM_UNIX
    info.external_attr = _FILE_ATTRIBUTES
    info.file_size = os.path.getsize(source)  # decides ZIP64 up front, deterministically
    with open(source, "rb") as stream, archive.open(info, mode="w") as member:
        shutil.copyfileobj(stream, member, _COPY_BUFFER)


def create_stimulus_zip(
    proto_stimulus_set: Any, target_zip_path: str | os.PathLike[str]
) -> tuple[str, list[str]]:
    """Write the stimuli of ``proto_stimulus_set`` into a deterministic ZIP.

    Returns the ZIP's SHA-1 and its member names in row order (the ``filename`` column of the
    packaged CSV).  Same stimuli and metadata give a byte-identical file.
    """
    target = Path(target_zip_path)
    names = stimulus_zip_member_names(proto_stimulus_set)
    ids = proto_stimulus_set["stimulus_id"].tolist()
    with atomic_path(target) as temporary:
        with zipfile.ZipFile(temporary, mode="w", compression=zipfile.ZIP_STORED) as archive, \
                tracker("zip", target.name, len(names), unit="files") as advance:
            for stimulus_id, name in zip(ids, names, strict=True):
                _write_member(archive, _stimulus_path(proto_stimulus_set, stimulus_id), name)
                advance(1)
        sha1 = sha1_hash(temporary)
    logger.info("wrote %d stimuli to %s (sha1 %s)", len(names), target, sha1)
    return sha1, names


#: Columns that only tell packaging where a stimulus comes from and goes: never in the CSV.
PACKAGING_COLUMNS = ("stimulus_current_local_file_path", PATH_WITHIN_STORE)


def extract_specific(proto_stimulus_set: Any) -> list[str]:
    """The columns of a proto stimulus set that describe its stimuli, in order (BrainIO's name):
    all but :data:`PACKAGING_COLUMNS`."""
    return [column for column in proto_stimulus_set.columns if column not in PACKAGING_COLUMNS]


def create_stimulus_csv(
    proto_stimulus_set: Any,
    target_path: str | os.PathLike[str],
    zip_filenames: list[str] | None = None,
) -> str:
    """Write the stimulus metadata CSV (no index, UTF-8, ``\\n`` line ends); return its SHA-1.

    The CSV has the :func:`extract_specific` columns, as BrainIO's.  With ``zip_filenames`` (as
    :func:`create_stimulus_zip` returns them), the ``filename`` column is set to them, replacing
    any existing one; ``proto_stimulus_set`` is not modified.
    """
    target = Path(target_path)
    frame = proto_stimulus_set[extract_specific(proto_stimulus_set)]
    if zip_filenames is not None:
        if len(zip_filenames) != len(frame):
            raise ValidationError(
                subject=f"CSV {target}",
                expected=f"one zip filename per stimulus ({len(frame)})",
                found=f"{len(zip_filenames)} filenames",
            )
        frame = frame.assign(filename=list(zip_filenames))
    with atomic_path(target) as temporary:
        frame.to_csv(temporary, index=False, encoding="utf-8", lineterminator="\n")
        sha1 = sha1_hash(temporary)
    logger.info("wrote the metadata of %d stimuli to %s (sha1 %s)", len(frame), target, sha1)
    return sha1


# ---------------------------------------------------------------------------------------------
# Extraction


def _check_members(zip_path: Path, members: list[zipfile.ZipInfo]) -> None:
    """Refuse entries that could land outside the target, symlinks, and file/directory clashes."""
    for info in members:
        reason = _unsafe_reason(info.filename)
        if reason is None and stat.S_ISLNK(info.external_attr >> 16):
            reason = "a symbolic link"
        if reason:
            raise UnsafeArchiveError(
                subject=f"ZIP {zip_path}",
                expected="relative paths of regular files and directories only",
                found=f"entry {info.filename!r}, {reason}",
                hint="the archive was not extracted",
            )
    names = ["/".join(_parts(info.filename)) for info in members if not _is_directory(info)]
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise ValidationError(
            subject=f"ZIP {zip_path}",
            expected="each file once",
            found=f"entries that name the same file {preview(repeated)}",
            hint="the archive was not extracted",
        )
    files = set(names)
    directories = {name for info in members for name in _directories_of(info)}
    clashes = sorted(files & directories)
    if clashes:
        raise ValidationError(
            subject=f"ZIP {zip_path}",
            expected="each path to be either a file or a directory",
            found=f"files that are also directories {preview(clashes)}",
            hint="the archive was not extracted",
        )


def _is_directory(info: zipfile.ZipInfo) -> bool:
    """``ZipInfo.is_dir``, which raises IndexError on an empty name."""
    return info.filename.endswith("/")


def _directories_of(info: zipfile.ZipInfo) -> list[str]:
    """The directories an entry creates: its parents, and itself if it is a directory entry."""
    parts = _parts(info.filename)
    last = len(parts) if _is_directory(info) else len(parts) - 1
    return ["/".join(parts[:end]) for end in range(1, last + 1)]


def _is_complete(directory: Path) -> bool:
    """Whether ``directory`` holds an extraction.

    Only a finished extraction is ever renamed to the target, so a non-empty directory is a
    complete one.  An empty directory (made by hand, or from an empty ZIP) is extracted into
    again, which is cheap.
    """
    return is_nonempty_directory(directory)


def is_extracted(directory: str | os.PathLike[str]) -> bool:
    """Whether ``directory`` holds a finished extraction (see :func:`extract_zip`)."""
    return _is_complete(Path(directory))


def extraction_problems(zip_path: str | os.PathLike[str], directory: str | os.PathLike[str]) -> list[str]:
    """How ``directory`` differs from an extraction of ``zip_path``; empty when it matches.

    Every file of the archive must be there as a regular file with the archive's size and
    CRC-32, and nothing else may be.  Reads every file: this is for ``brainio-dvc verify``.
    """
    zip_path, directory = Path(zip_path), Path(directory)
    try:
        with open(zip_path, "rb") as stream, _reading(zip_path), zipfile.ZipFile(stream) as archive:
            expected = {"/".join(_parts(i.filename)): i for i in archive.infolist() if not _is_directory(i)}
    except _DamagedArchive as damage:
        error = damage.__cause__
        return [f"{zip_path} cannot be read ({type(error).__name__}: {error})"]
    found = {
        path.relative_to(directory).as_posix(): path
        for path in directory.rglob("*")
        if not path.is_dir() or path.is_symlink()
    }
    problems = [f"{name} is missing" for name in sorted(expected.keys() - found.keys())]
    problems += [f"{name} is not in the ZIP" for name in sorted(found.keys() - expected.keys())]
    for name in sorted(expected.keys() & found.keys()):
        if not _same_file(found[name], expected[name]):
            problems.append(f"{name} differs from the ZIP")
    return problems


def _same_file(path: Path, info: zipfile.ZipInfo) -> bool:
    """Whether ``path`` is a regular file with the size and CRC-32 of ``info``."""
    if path.is_symlink() or not path.is_file() or path.stat().st_size != info.file_size:
        return False
    crc = 0
    with open(path, "rb") as stream:
        while chunk := stream.read(_COPY_BUFFER):
            crc = zlib.crc32(chunk, crc)
    return crc == info.CRC


def discard_extraction(directory: str | os.PathLike[str]) -> None:
    """Remove an extraction so that the next load extracts again.

    It is renamed out of the way first, so that nobody sees a half-deleted directory.
    """
    directory = Path(directory)
    doomed = temporary_path(directory)  # a crash while deleting leaves what the next writer removes
    try:
        os.replace(directory, doomed)
    except FileNotFoundError:
        return
    shutil.rmtree(doomed, ignore_errors=True)
    logger.warning("removed the extraction %s", directory)


class _DamagedArchive(Exception):
    """Reading the archive (not writing the extraction) failed."""


@contextlib.contextmanager
def _reading(zip_path: Path) -> Iterator[None]:
    """Turn what a damaged archive makes :mod:`zipfile` raise into :class:`_DamagedArchive`.

    Within these blocks only the archive is read, from a stream that is already open, so an
    OSError there is damage too (a negative offset, say), not trouble with the disk.
    """
    try:
        yield
    except (*_ZIP_READ_ERRORS, OSError) as error:
        raise _DamagedArchive(error) from error


def _damaged(zip_path: Path, error: BaseException) -> ValidationError:
    return ValidationError(
        subject=f"ZIP {zip_path}",
        expected="a readable ZIP archive",
        found=f"{type(error).__name__}: {error}",
        hint="the file may be truncated or corrupted; fetching it again usually helps",
    )


#: A ZIP local file header: signature, versions, flags, method, time, date, CRC-32, sizes, lengths.
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_LOCAL_SIGNATURE = b"PK\x03\x04"
_ENCRYPTED = 0x1
_UTF8_NAME = 0x800


def _stored_bytes(descriptor: int, info: zipfile.ZipInfo) -> bytes | None:
    """The bytes of a small uncompressed entry, read with two ``pread`` calls and checked as
    :mod:`zipfile` checks them (local header, name, size, CRC-32); None when the entry is not
    such an entry or any check fails: :mod:`zipfile` then reads it, and says what is wrong.

    Stimulus ZIPs are thousands of small stored images; opening each through ``ZipFile.open``
    costs several times the copy.
    """
    if (info.compress_type != zipfile.ZIP_STORED or info.flag_bits & _ENCRYPTED
            or info.compress_size != info.file_size or info.file_size > _COPY_BUFFER):
        return None
    try:
        header = os.pread(descriptor, _LOCAL_HEADER.size, info.header_offset)
        if len(header) != _LOCAL_HEADER.size:
            return None
        fields = _LOCAL_HEADER.unpack(header)
        if fields[0] != _LOCAL_SIGNATURE:
            return None
        name_length, extra_length = fields[10], fields[11]
        start = info.header_offset + _LOCAL_HEADER.size
        name = os.pread(descriptor, name_length, start)
        encoding = "utf-8" if fields[3] & _UTF8_NAME else "cp437"
        if name.decode(encoding) != info.orig_filename:
            return None
        data = os.pread(descriptor, info.file_size, start + name_length + extra_length)
    except (OSError, OverflowError, UnicodeDecodeError):
        return None
    if len(data) != info.file_size or zlib.crc32(data) != info.CRC:
        return None
    return data


def _write_new(destination: str, data: bytes) -> None:
    """Write ``data`` to a file that must not exist yet (as ``open(destination, "xb")``)."""
    descriptor = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(descriptor, view):]
    finally:
        os.close(descriptor)


def _extract_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, directory: Path | None, zip_path: Path, made: set[Path],
    descriptor: int | None = None,
) -> None:
    """Write one checked entry under ``directory`` (None: read and check it only), at once when it
    is small, else in chunks.

    ``made`` holds the directories created so far, so that each is made once (stimulus ZIPs
    hold thousands of small files, and a system call less per file shows).  With the archive's
    ``descriptor``, small stored entries are read directly (:func:`_stored_bytes`).
    """
    destination = None if directory is None else directory.joinpath(*_parts(info.filename))
    if _is_directory(info):
        if destination is not None:
            destination.mkdir(parents=True, exist_ok=True)
            made.add(destination)
        return
    if destination is not None and destination.parent not in made:
        destination.parent.mkdir(parents=True, exist_ok=True)
        made.add(destination.parent)
    data = _stored_bytes(descriptor, info) if descriptor is not None else None
    if data is not None:
        if destination is not None:
            _write_new(str(destination), data)
        return
    with _reading(zip_path):
        source = archive.open(info)
    written = 0
    with source, open(destination or os.devnull, "xb" if destination else "wb") as target:
        while True:
            with _reading(zip_path):
                chunk = source.read(max(info.file_size, 1) if info.file_size <= _COPY_BUFFER else _COPY_BUFFER)
            if not chunk:
                break
            target.write(chunk)
            written += len(chunk)
            if written == info.file_size:
                with _reading(zip_path):  # reading past the end is what checks the CRC
                    if source.read(1):
                        written += 1
                break
    if written != info.file_size:
        # zipfile checks the CRC of what it read, not that it read all the entry claims to hold.
        damage = zipfile.BadZipFile(f"entry {info.filename!r} holds {written} bytes; the archive says {info.file_size}")
        raise _DamagedArchive(damage) from damage


def _extract_into(zip_path: Path, directory: Path | None) -> list[str]:
    """Validate every entry of ``zip_path``, then extract them into ``directory`` (None: only read
    and check them); the entries' names."""
    try:
        with open(zip_path, "rb") as stream:
            with _reading(zip_path):
                archive = zipfile.ZipFile(stream)
                members = archive.infolist()
            with archive:
                _check_members(zip_path, members)
                made = set() if directory is None else {directory}
                descriptor = stream.fileno() if hasattr(os, "pread") else None
                progress = contextlib.nullcontext(lambda _: None) if directory is None else \
                    tracker("unzip", directory.name, len(members), unit="files")  # only extraction reports
                with progress as advance:
                    for member in members:
                        _extract_member(archive, member, directory, zip_path, made, descriptor)
                        advance(1)
    except _DamagedArchive as damage:
        raise _damaged(zip_path, damage.__cause__ or damage) from damage.__cause__
    return [member.filename for member in members]


def check_zip(zip_path: str | os.PathLike[str]) -> list[str]:
    """Read and check every entry of ``zip_path`` as :func:`extract_zip` does, and raise what it
    would, writing nothing: an archive that passes extracts (disk aside).  Its member names."""
    return _extract_into(Path(zip_path), None)


def extract_zip(zip_path: str | os.PathLike[str], target_dir: str | os.PathLike[str]) -> Path:
    """Extract ``zip_path`` into ``target_dir`` safely and atomically; return ``target_dir``.

    A complete ``target_dir`` is returned as it is.  Otherwise every entry is checked first
    (absolute paths, ``..``, backslashes, drive letters and symlinks raise
    :class:`UnsafeArchiveError`; a damaged file raises :class:`ValidationError`), the archive
    is extracted into a temporary sibling directory, and that directory is renamed to
    ``target_dir``.  When two processes race, the second rename fails, and its extraction is
    discarded in favour of the first.  On error nothing is left behind.
    """
    zip_path = Path(zip_path)
    target = Path(target_dir)
    if _is_complete(target):
        logger.debug("%s is already extracted in %s", zip_path, target)
        return target
    with atomic_path(target, directory=True) as temporary:
        count = len(_extract_into(zip_path, temporary))
    logger.info("extracted %d entries of %s into %s", count, zip_path, target)
    return target
