"""store/cache.CacheBatch, through which a migration's downloads enter the data cache: verified
files under their final names at once, trusted (state recorded) only once the batch is flushed."""

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


def test_a_batch_publishes_verified_files_at_once_and_trusts_them_after_its_flush(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = DataCache(tmp_path / "cache")
    caplog.set_level(logging.INFO, logger="brainio_dvc.store.cache")
    with CacheBatch(cache) as batch:
        path = batch.fetch("sha1", SHA1, writer(), "an object")
        assert path == cache.path_for("sha1", SHA1) and path.read_bytes() == CONTENT
        assert not cache._state_path(path).exists()  # not trusted yet: a lookup would hash it
        assert batch.fetch("sha1", SHA1, writer(b"never called")) == path  # one download per object
    assert cache._state_path(path).exists()
    assert not list(path.parent.glob(".*.tmp"))
    caplog.clear()
    assert cache.lookup("sha1", SHA1) == path
    assert not [r for r in caplog.records if "re-hashing" in r.getMessage()]  # trusted: not hashed again


def test_an_object_of_a_batch_that_never_closed_is_hashed_before_it_is_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = DataCache(tmp_path / "cache")
    batch = CacheBatch(cache)  # a run killed before close(): no state records
    path = batch.fetch("sha1", SHA1, writer())
    caplog.set_level(logging.INFO, logger="brainio_dvc.store.cache")
    calls: list[Path] = []
    assert cache.fetch("sha1", SHA1, writer(calls=calls)) == path
    assert not calls  # reused, not downloaded again
    assert [r for r in caplog.records if "re-hashing" in r.getMessage()]
    assert cache._state_path(path).exists()


def test_a_batch_object_changed_before_the_flush_is_not_trusted_but_removed(tmp_path: Path) -> None:
    cache = DataCache(tmp_path / "cache")
    batch = CacheBatch(cache)
    path = batch.fetch("sha1", SHA1, writer())
    path.chmod(0o644)
    path.write_bytes(b"corrupted")
    assert cache.lookup("sha1", SHA1) is None  # hashed (no state record yet), found wrong, removed
    batch.close()
    assert not path.exists() and not cache._state_path(path).exists()


def test_a_download_of_the_wrong_bytes_enters_nothing(tmp_path: Path) -> None:
    cache = DataCache(tmp_path / "cache")
    with CacheBatch(cache) as batch, pytest.raises(IntegrityError):
        batch.fetch("sha1", SHA1, writer(b"other bytes"), "an object")
    target = cache.path_for("sha1", SHA1)
    assert not target.exists() and not list(target.parent.glob(".*"))
