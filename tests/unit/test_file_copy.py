"""store.file_copy.copy_hashing_file: the copy is byte for byte, its digests are of what was
written, and a failed or short copy raises without leaving a thread behind."""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from pathlib import Path

import pytest

from brainio_dvc.store import file_copy
from brainio_dvc.store.file_copy import copy_hashing_file

STEP = 1 << 10


@pytest.fixture
def small_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Steps of a KiB, so that a file of a few KiB is copied and hashed in many rounds."""
    monkeypatch.setattr(file_copy, "COPY_STEP_BYTES", STEP)
    monkeypatch.setattr(file_copy, "_HASH_READ_BYTES", STEP // 2)


def _copy(tmp_path: Path, data: bytes, progress: list[int] | None = None) -> tuple[bytes, dict[str, str]]:
    source, destination = tmp_path / "source", tmp_path / "destination"
    source.write_bytes(data)
    with open(source, "rb") as reader, open(destination, "w+b") as writer:
        digests = copy_hashing_file(reader.fileno(), writer.fileno(), ["md5", "sha1"],
                                    None if progress is None else progress.append)
    return destination.read_bytes(), digests


@pytest.mark.usefixtures("small_steps")
@pytest.mark.parametrize("size", [0, 1, STEP - 1, STEP, STEP + 1, 7 * STEP + 3])
def test_the_copy_is_the_source_and_its_digests_are_its_own(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    progress: list[int] = []
    copied, digests = _copy(tmp_path, data, progress)
    assert copied == data
    assert digests == {"md5": hashlib.md5(data).hexdigest(), "sha1": hashlib.sha1(data).hexdigest()}
    assert sum(progress) == size and all(amount > 0 for amount in progress)


@pytest.mark.usefixtures("small_steps")
def test_without_a_kernel_copy_the_thread_copies_with_pread_and_pwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def refuse(*arguments: int) -> int:
        calls.append(arguments[2])
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "copy_file_range", refuse, raising=False)
    data = os.urandom(5 * STEP + 11)
    copied, digests = _copy(tmp_path, data)
    assert copied == data and digests["md5"] == hashlib.md5(data).hexdigest()
    assert len(calls) == 1  # asked once, then not again for this file


@pytest.mark.usefixtures("small_steps")
def test_a_source_that_ends_early_raises_and_no_thread_is_left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_fstat = os.fstat

    def longer(descriptor: int) -> os.stat_result:  # the length the file had when the copy began
        found = real_fstat(descriptor)
        return os.stat_result((*found[:6], found.st_size + 3 * STEP, *found[7:]))

    monkeypatch.setattr(file_copy.os, "fstat", longer)
    with pytest.raises(OSError, match=r"ended after 4096 of its 7168 bytes"):
        _copy(tmp_path, os.urandom(4 * STEP))
    assert [thread for thread in threading.enumerate() if thread.name == "brainio-dvc"] == []


@pytest.mark.usefixtures("small_steps")
def test_an_error_of_the_copy_is_raised_in_the_caller(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(copier: object, offset: int, count: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(file_copy._RangeCopier, "copy", fail)
    with pytest.raises(OSError, match="No space left"):
        _copy(tmp_path, os.urandom(3 * STEP))
    assert [thread for thread in threading.enumerate() if thread.name == "brainio-dvc"] == []
