"""Hex digests (brainio_dvc.formats.hashes): the one place that says what a digest looks like."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from brainio_dvc.exceptions import ValidationError
from brainio_dvc.formats.hashes import check_digest, copy_hashing, file_hash, is_digest, is_hex, read_chunks

MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"


@pytest.mark.parametrize(("algorithm", "digest", "any_case", "lower_case"), [
    ("md5", MD5, True, True),
    ("md5", MD5.upper(), True, False),
    ("sha1", SHA1, True, True),
    ("sha1", SHA1[:-1], False, False),
    ("md5", SHA1, False, False),
    ("md5", MD5[:-1] + "g", False, False),
    ("md5", None, False, False),
    ("sha256", MD5, False, False),
])
def test_is_digest(algorithm: str, digest: object, any_case: bool, lower_case: bool) -> None:
    assert is_digest(algorithm, digest) is any_case
    assert is_digest(algorithm, digest, lowercase=True) is lower_case


def test_is_hex() -> None:
    assert is_hex("0a1b2c") and is_hex("0A1B") and not is_hex("0A1B", lowercase=True)
    assert not is_hex("") and not is_hex("xyz") and not is_hex(12)


def test_check_digest_lowers_the_case_and_refuses_paths() -> None:
    assert check_digest("md5", MD5.upper()) == MD5
    with pytest.raises(ValidationError):
        check_digest("md5", "../" + MD5[3:])


class _ReadOnly:
    """A stream with ``read`` but no ``readinto`` (some fsspec files)."""

    def __init__(self, data: bytes) -> None:
        self._stream = io.BytesIO(data)

    def read(self, size: int) -> bytes:
        return self._stream.read(size)


@pytest.mark.parametrize("length", [0, 1, 4095, 4096, 4097, 3 * 4096 + 5])
def test_read_chunks_and_copy_hashing_give_every_byte_once(length: int) -> None:
    data = bytes(range(256)) * (length // 256 + 1)
    data = data[:length]
    for stream in (io.BytesIO(data), _ReadOnly(data)):
        written = io.BytesIO()
        digests = copy_hashing(read_chunks(stream, 4096), written, ["md5", "sha1"])  # type: ignore[arg-type]
        assert written.getvalue() == data
        assert digests == {"md5": hashlib.md5(data).hexdigest(), "sha1": hashlib.sha1(data).hexdigest()}


def test_read_chunks_reuses_one_buffer(tmp_path: Path) -> None:
    """Each chunk is a view of the same memory (no new allocation per chunk): a caller must use
    a chunk before it reads the next, as copy_hashing and file_hash do."""
    path = tmp_path / "data"
    path.write_bytes(b"a" * 4096 + b"b" * 10)
    with open(path, "rb") as stream:
        chunks = read_chunks(stream, 4096)
        first = next(chunks)
        assert bytes(first) == b"a" * 4096
        second = next(chunks)
        assert bytes(second) == b"b" * 10
        assert second.obj is first.obj
    assert file_hash(path, "md5") == hashlib.md5(path.read_bytes()).hexdigest()
