"""store/cache.CacheBatch, through which a migration's downloads enter the data cache: verified
files under their final names at once, trusted (state recorded) only once they are on disk."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest

from brainio_dvc.exceptions import IntegrityError
from brainio_dvc.store.cache import CacheBatch, DataCache

CONTENT = b"migrated bytes\n" * 1000
SHA1 = hashlib.sha1(CONTENT).hexdigest()


def writer(content: bytes = CONTENT, calls: list[Path] | None = None):
    def download(path: Path) -> dict[str, str]:
        if calls is not None:
            calls.append(path)
        path.write_bytes(content)
        return {"sha1": hashlib.sha1(content).hexdigest()}

    return download


class _Unflushed(CacheBatch):
    """A batch whose flushing thread has not got to its objects (or was killed first)."""

    def _trust(self, published: list[Path]) -> None:
        return None


def test_a_batch_publishes_verified_files_and_trusts_them_once_flushed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = DataCache(tmp_path / "cache")
    with CacheBatch(cache) as batch:
        path = batch.fetch("sha1", SHA1, writer(), "an object")
        assert path == cache.path_for("sha1", SHA1) and path.read_bytes() == CONTENT
        assert batch.fetch("sha1", SHA1, writer(b"never called")) == path  # one download per object
    assert cache._state_path(path).exists()
    assert not list(path.parent.glob(".*.tmp"))
    caplog.set_level(logging.INFO, logger="brainio_dvc.store.cache")
    caplog.clear()  # the second fetch above may hash the untrusted file; only what follows counts
    assert cache.lookup("sha1", SHA1) == path
    assert not [r for r in caplog.records if "re-hashing" in r.getMessage()]  # trusted: not hashed again


def test_an_object_not_flushed_yet_is_hashed_before_it_is_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = DataCache(tmp_path / "cache")
    with _Unflushed(cache) as batch:
        path = batch.fetch("sha1", SHA1, writer())
    assert not cache._state_path(path).exists()
    caplog.set_level(logging.INFO, logger="brainio_dvc.store.cache")
    calls: list[Path] = []
    assert cache.fetch("sha1", SHA1, writer(calls=calls)) == path
    assert not calls  # reused, not downloaded again
    assert [r for r in caplog.records if "re-hashing" in r.getMessage()]
    assert cache._state_path(path).exists()


def test_an_object_changed_before_it_was_flushed_is_not_trusted_but_removed(tmp_path: Path) -> None:
    cache = DataCache(tmp_path / "cache")
    with _Unflushed(cache) as batch:
        path = batch.fetch("sha1", SHA1, writer())
    path.chmod(0o644)
    path.write_bytes(b"corrupted")
    assert cache.lookup("sha1", SHA1) is None  # hashed (no state record), found wrong, removed
    assert not path.exists() and not cache._state_path(path).exists()
    CacheBatch(cache)._trust([path])  # the flush of an object evicted meanwhile trusts nothing
    assert not cache._state_path(path).exists()


def test_a_download_of_the_wrong_bytes_enters_nothing(tmp_path: Path) -> None:
    cache = DataCache(tmp_path / "cache")
    with CacheBatch(cache) as batch, pytest.raises(IntegrityError):
        batch.fetch("sha1", SHA1, writer(b"other bytes"), "an object")
    target = cache.path_for("sha1", SHA1)
    assert not target.exists() and not list(target.parent.glob(".*"))
