"""File hashes: SHA-1 (BrainIO's catalogs) and MD5 (DVC's content addresses)."""

from __future__ import annotations

import hashlib
from os import PathLike

__all__ = ["file_hash", "md5_hash", "sha1_hash"]

_CHUNK_SIZE = 1 << 20


def file_hash(path: str | PathLike[str], algorithm: str) -> str:
    """Hex digest of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def sha1_hash(path: str | PathLike[str]) -> str:
    """SHA-1 of a file, as BrainIO catalogs record it."""
    return file_hash(path, "sha1")


def md5_hash(path: str | PathLike[str]) -> str:
    """MD5 of a file, as DVC addresses it."""
    return file_hash(path, "md5")
