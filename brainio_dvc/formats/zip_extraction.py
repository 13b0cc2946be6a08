"""Reading stimulus ZIPs: safe, atomic extraction, and checks that write nothing.

Extraction goes to a temporary sibling directory that is renamed into place once complete
(:mod:`.atomic`); entries that could escape it, symlinks and repeated names are refused, and
anything a damaged archive makes :mod:`zipfile` raise becomes a :class:`ValidationError`.  A
killed extraction leaves only a hidden temporary directory, which the next extraction into the
same directory removes; :func:`check_zip` reads and checks an archive as extraction does,
without writing; :func:`extraction_problems` compares an extraction with its archive
(``brainio-dvc verify``).
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

from ..exceptions import UnsafeArchiveError, ValidationError
from ..progress import tracker
from .archives import COPY_BUFFER
from .atomic import atomic_path, is_nonempty_directory, temporary_path
from .describe import preview
from .identifiers import unsafe_relative_paths

__all__ = [
    "check_zip",
    "discard_extraction",
    "extract_zip",
    "extraction_problems",
    "is_extracted",
]

logger = logging.getLogger(__name__)

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


def _parts(name: str) -> list[str]:
    """The path components of a member name as :mod:`zipfile` extracts it ('' and '.' dropped)."""
    return [part for part in name.split("/") if part not in ("", ".")]


def _refused(
    zip_path: Path, expected: str, found: str, kind: type[ValidationError] = ValidationError
) -> ValidationError:
    """The error of an archive :func:`_check_members` refuses before anything is extracted."""
    return kind(subject=f"ZIP {zip_path}", expected=expected, found=found, hint="the archive was not extracted")


def _check_members(zip_path: Path, members: list[zipfile.ZipInfo]) -> None:
    """Refuse entries that could land outside the target, symlinks, and file/directory clashes."""
    unsafe = dict(unsafe_relative_paths([info.filename for info in members]))  # all names screened at once
    for info in members:
        reason = unsafe.get(info.filename)
        if reason is None and stat.S_ISLNK(info.external_attr >> 16):
            reason = "a symbolic link"
        if reason:
            raise _refused(zip_path, "relative paths of regular files and directories only",
                           f"entry {info.filename!r}, {reason}", UnsafeArchiveError)
    names = ["/".join(_parts(info.filename)) for info in members if not _is_directory(info)]
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise _refused(zip_path, "each file once", f"entries that name the same file {preview(repeated)}")
    directories = {name for info in members for name in _directories_of(info)}
    clashes = sorted(set(names) & directories)
    if clashes:
        raise _refused(zip_path, "each path to be either a file or a directory",
                       f"files that are also directories {preview(clashes)}")


def _is_directory(info: zipfile.ZipInfo) -> bool:
    """``ZipInfo.is_dir``, which raises IndexError on an empty name."""
    return info.filename.endswith("/")


def _directories_of(info: zipfile.ZipInfo) -> list[str]:
    """The directories an entry creates: its parents, and itself if it is a directory entry."""
    parts = _parts(info.filename)
    last = len(parts) if _is_directory(info) else len(parts) - 1
    return ["/".join(parts[:end]) for end in range(1, last + 1)]


#: Whether a directory holds a finished extraction (see :func:`extract_zip`).  Only a finished
#: extraction is ever renamed to the target, so a non-empty directory is a complete one.  An
#: empty directory (made by hand, or from an empty ZIP) is extracted into again, which is cheap.
#: (The function itself, not a wrapper of it: every load asks.)
is_extracted = is_nonempty_directory


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
        while chunk := stream.read(COPY_BUFFER):
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


#: Bytes of the archive :class:`_StoredEntries` reads at a time.
_WINDOW_BYTES = 1 << 20


class _StoredEntries:
    """The small uncompressed entries of an archive, read a window of it at a time and checked as
    :mod:`zipfile` checks them (local header, name, size, CRC-32).

    Stimulus ZIPs are thousands of small stored images, one after another: opening each through
    ``ZipFile.open`` costs several times the copy, and even three ``pread`` calls an entry show.
    Entries in the order they are stored take one read per window.
    """

    def __init__(self, descriptor: int) -> None:
        self._descriptor = descriptor
        self._window = memoryview(b"")
        self._start = 0

    def _view(self, start: int, length: int) -> memoryview | None:
        """Bytes ``start`` to ``start + length`` of the archive; None past its end."""
        offset = start - self._start
        if offset < 0 or offset + length > len(self._window):
            self._window = memoryview(os.pread(self._descriptor, max(length, _WINDOW_BYTES), start))
            self._start, offset = start, 0
        return self._window[offset:offset + length] if offset + length <= len(self._window) else None

    def read(self, info: zipfile.ZipInfo) -> memoryview | None:
        """The bytes of a small stored entry; None when it is not one, or when any check fails:
        :mod:`zipfile` then reads it, and says what is wrong."""
        if (info.compress_type != zipfile.ZIP_STORED or info.flag_bits & _ENCRYPTED
                or info.compress_size != info.file_size or info.file_size > COPY_BUFFER):
            return None
        try:
            header = self._view(info.header_offset, _LOCAL_HEADER.size)
            if header is None:
                return None
            fields = _LOCAL_HEADER.unpack(header)
            if fields[0] != _LOCAL_SIGNATURE:
                return None
            name_length, extra_length = fields[10], fields[11]
            rest = self._view(info.header_offset + _LOCAL_HEADER.size, name_length + extra_length + info.file_size)
            if rest is None:
                return None
            # Equal bytes, rather than equal decoded names: cp437 maps every byte, and UTF-8
            # decodes each valid sequence one way only, so the two tests agree.
            name = info.orig_filename
            encoding = "ascii" if name.isascii() else ("utf-8" if fields[3] & _UTF8_NAME else "cp437")
            if rest[:name_length] != name.encode(encoding):
                return None
        except (OSError, OverflowError, ValueError):  # ValueError: a name that does not encode
            return None
        data = rest[name_length + extra_length:]
        return data if zlib.crc32(data) == info.CRC else None


def _write_new(destination: str, data: bytes | memoryview) -> None:
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
    stored: _StoredEntries | None = None,
) -> None:
    """Write one checked entry under ``directory`` (None: read and check it only), at once when it
    is small, else in chunks.

    ``made`` holds the directories created so far, so that each is made once (stimulus ZIPs
    hold thousands of small files, and a system call less per file shows).  With ``stored``,
    small stored entries are read directly.
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
    data = stored.read(info) if stored is not None else None
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
                chunk = source.read(max(info.file_size, 1) if info.file_size <= COPY_BUFFER else COPY_BUFFER)
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
                stored = _StoredEntries(stream.fileno()) if hasattr(os, "pread") else None
                progress = contextlib.nullcontext(lambda _: None) if directory is None else \
                    tracker("unzip", directory.name, len(members), unit="files")  # only extraction reports
                with progress as advance:
                    for member in members:
                        _extract_member(archive, member, directory, zip_path, made, stored)
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
    if is_extracted(target):
        logger.debug("%s is already extracted in %s", zip_path, target)
        return target
    with atomic_path(target, directory=True) as temporary:
        count = len(_extract_into(zip_path, temporary))
    logger.info("extracted %d entries of %s into %s", count, zip_path, target)
    return target
