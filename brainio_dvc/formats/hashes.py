"""File hashes: SHA-1 (BrainIO's catalogs) and MD5 (DVC's content addresses)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from os import PathLike
from typing import BinaryIO

from ..exceptions import ValidationError

__all__ = [
    "DIGEST_LENGTHS", "check_digest", "copy_hashing", "file_hash", "is_digest", "is_hex", "md5_hash", "read_chunks",
    "sha1_hash",
]

_CHUNK_SIZE = 4 << 20
"""Bytes read at a time from a file: large enough that a read costs little beside the hashing."""
#: Hex digits of a digest, by algorithm: the only algorithms the cache stores objects under.
DIGEST_LENGTHS = {"md5": 32, "sha1": 40}
_HEX = re.compile(r"[0-9a-fA-F]+")
_LOWER_HEX = re.compile(r"[0-9a-f]+")


def is_hex(text: object, lowercase: bool = False) -> bool:
    """Whether ``text`` is a non-empty string of hex digits (only lower-case ones with ``lowercase``)."""
    return isinstance(text, str) and bool((_LOWER_HEX if lowercase else _HEX).fullmatch(text))


def is_digest(algorithm: str, digest: object, lowercase: bool = False) -> bool:
    """Whether ``digest`` is a hex digest of ``algorithm`` (md5 or sha1; a git commit id is a
    sha1), in either case, or in lower case only with ``lowercase`` (as git and DVC write them)."""
    length = DIGEST_LENGTHS.get(algorithm)
    return isinstance(digest, str) and len(digest) == length and is_hex(digest, lowercase)


def check_digest(algorithm: str, digest: object, subject: str = "digest") -> str:
    """``digest`` in lower case, if it is a hex digest of ``algorithm``; else ValidationError.

    Digests name files in the cache, so anything else (``..``, ``/``, NUL) must never get there.
    """
    length = DIGEST_LENGTHS.get(algorithm)
    if length is None:
        raise ValidationError(subject, "algorithm " + " or ".join(DIGEST_LENGTHS), repr(algorithm))
    if not isinstance(digest, str) or not is_digest(algorithm, digest):
        raise ValidationError(subject, f"an {algorithm} digest of {length} hex digits", repr(digest))
    return digest.lower()


def file_hash(path: str | PathLike[str], algorithm: str) -> str:
    """Hex digest of a file's bytes, read in 4 MiB chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as stream:
        for chunk in read_chunks(stream):
            digest.update(chunk)
    return digest.hexdigest()


def sha1_hash(path: str | PathLike[str]) -> str:
    """SHA-1 of a file, as BrainIO catalogs record it."""
    return file_hash(path, "sha1")


def md5_hash(path: str | PathLike[str]) -> str:
    """MD5 of a file, as DVC addresses it."""
    return file_hash(path, "md5")


def copy_hashing(
    chunks: Iterable[bytes | memoryview],
    destination: BinaryIO,
    algorithms: Iterable[str],
    advance: Callable[[int], None] | None = None,
) -> dict[str, str]:
    """Write ``chunks`` to ``destination`` and return their digests: one pass over the bytes.

    Downloads hash what they write this way instead of reading the file again afterwards.
    """
    digests = {algorithm: hashlib.new(algorithm) for algorithm in algorithms}
    for chunk in chunks:
        destination.write(chunk)
        for digest in digests.values():
            digest.update(chunk)
        if advance is not None:
            advance(len(chunk))
    return {algorithm: digest.hexdigest() for algorithm, digest in digests.items()}


def read_chunks(stream: BinaryIO, size: int = _CHUNK_SIZE) -> Iterator[memoryview]:
    """The bytes of an open binary stream, ``size`` at a time, read into one buffer.

    Each chunk is a view of that buffer, valid until the next one is read: use it (write it,
    hash it) before asking for the next.  Reading into the same memory, rather than into a new
    ``bytes`` of a megabyte each time, spares the allocation and the page faults of every
    chunk, which cost a copy of a local file a third of the time it took to hash it.
    """
    readinto = getattr(stream, "readinto", None)
    if readinto is None:  # a stream that can only return new bytes
        while chunk := stream.read(size):
            yield memoryview(chunk)
        return
    view = memoryview(bytearray(size))
    while filled := readinto(view):
        yield view[:filled]
