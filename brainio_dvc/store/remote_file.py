"""A remote object as a seekable file that transfers only what is read (ranged reads)."""

from __future__ import annotations

import io
from typing import Any

from ..exceptions import RemoteError
from .remote_spec import Remote

__all__ = ["TAIL_BYTES", "RemoteObjectFile"]

#: Bytes at the end of an object that :class:`RemoteObjectFile` reads in its first request: a
#: ZIP's end records, a comment of the longest length, and (for small archives) the whole
#: central directory.
TAIL_BYTES = 128 << 10



class RemoteObjectFile(io.RawIOBase):
    """A remote object as a read-only, seekable binary file that transfers only what is read.

    The first read near the end fetches the last :data:`TAIL_BYTES` in one request (where a
    ZIP's end records, comment and, for small archives, central directory are); any other read
    is one range request of its own.  So :mod:`zipfile` lists an archive's members, ZIP64 and
    comments included, in one or two requests after the size, whatever the archive's length.
    """

    def __init__(self, remote: Remote, md5: str, tail_bytes: int = TAIL_BYTES) -> None:
        super().__init__()
        self.remote = remote
        self.md5 = md5
        self.name = f"object {md5} of the remote {remote.spec.name!r}"
        self.length = remote.size(md5)
        self.requests = 0
        self._tail_start = max(self.length - tail_bytes, 0)
        self._tail: bytes | None = None
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.length}[whence]
        if base + offset < 0:
            msg = f"negative seek position {base + offset} in {self.name}"
            raise ValueError(msg)
        self._position = base + offset
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        start = min(self._position, self.length)
        end = self.length if size is None or size < 0 else min(start + size, self.length)
        if end <= start:
            return b""
        if start >= self._tail_start:
            if self._tail is None:
                self._tail = self._fetch(self._tail_start, self.length)
            data = self._tail[start - self._tail_start:end - self._tail_start]
        else:
            data = self._fetch(start, end)
        self._position = start + len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def _fetch(self, start: int, end: int) -> bytes:
        self.requests += 1
        data = self.remote.read_range(self.md5, start, end)
        if len(data) != end - start:
            registry = getattr(self.remote, "registry", "")
            raise RemoteError(str(getattr(registry, "label", registry)), self.remote.spec.name,
                              f"object {self.md5}: asked for bytes {start} to {end} of {self.length}, got {len(data)}")
        return data
