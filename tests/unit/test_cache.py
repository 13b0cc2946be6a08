"""The content-addressed data cache: verified fetches, trusted lookups, eviction, concurrency."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import brainio_dvc.store.cache as cache_module
from brainio_dvc.exceptions import IntegrityError
from brainio_dvc.formats.atomic import temporary_path
from brainio_dvc.store.cache import DataCache, FileState
from brainio_dvc.store.file_lock import file_lock

PAYLOAD = b"brainio bytes\n" * 100
MD5 = hashlib.md5(PAYLOAD).hexdigest()
SHA1 = hashlib.sha1(PAYLOAD).hexdigest()


class CountingDownloader:
    """Writes ``payload`` to the path it is given and counts its calls."""

    def __init__(self, payload: bytes = PAYLOAD) -> None:
        self.payload = payload
        self.calls = 0

    def __call__(self, path: Path) -> None:
        self.calls += 1
        path.write_bytes(self.payload)


@pytest.fixture
def cache(tmp_path: Path) -> DataCache:
    return DataCache(tmp_path / "cache")


@pytest.fixture
def hash_calls(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every path that the cache hashes, in order.

    A private seam, kept because it is the thing under test: that the cache reads no bytes of a
    file it trusts, which nothing else shows without timing."""
    calls: list[Path] = []
    original = cache_module.file_hash

    def counting(path: Path, algorithm: str) -> str:
        calls.append(Path(path))
        return original(path, algorithm)

    monkeypatch.setattr(cache_module, "file_hash", counting)
    return calls


def files_under(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if p.is_file())


def change_bytes(path: Path, data: bytes) -> None:
    """Overwrite a cached (read-only) file in place and move its mtime, as an editor would."""
    before = path.stat().st_mtime_ns
    path.chmod(0o644)
    path.write_bytes(data)
    os.utime(path, ns=(before + 5_000_000_000, before + 5_000_000_000))


# --- fetch ----------------------------------------------------------------------------------


def test_fetch_downloads_once_and_returns_the_same_path(cache: DataCache) -> None:
    download = CountingDownloader()
    first = cache.fetch("md5", MD5, download)
    second = cache.fetch("md5", MD5, download)
    assert first == second == cache.path_for("md5", MD5)
    assert download.calls == 1
    assert first.read_bytes() == PAYLOAD


def test_path_for_shards_by_the_first_two_hex_digits(cache: DataCache) -> None:
    assert cache.path_for("md5", MD5.upper()) == cache.root / "files" / "md5" / MD5[:2] / MD5[2:]


def test_fetched_file_is_read_only(cache: DataCache) -> None:
    path = cache.fetch("md5", MD5, CountingDownloader())
    assert stat.S_IMODE(path.stat().st_mode) & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) == 0


def test_fetch_works_for_sha1_too(cache: DataCache) -> None:
    path = cache.fetch("sha1", SHA1, CountingDownloader())
    assert path == cache.root / "files" / "sha1" / SHA1[:2] / SHA1[2:]
    assert list(cache.entries()) == [("sha1", SHA1)]


def test_fetch_hash_checks_the_download(cache: DataCache) -> None:
    wrong = CountingDownloader(b"something else")
    with pytest.raises(IntegrityError) as caught:
        cache.fetch("md5", MD5, wrong, description="demo.Gabor2024")
    error = caught.value
    assert error.expected == MD5
    assert error.found == hashlib.md5(b"something else").hexdigest()
    assert "demo.Gabor2024" in str(error) and "md5" in str(error)
    assert not cache.path_for("md5", MD5).exists()
    # only the lock file may remain: no target, no temporary, no state record
    assert [name for name in files_under(cache.root) if not name.endswith(".lock")] == []
    assert cache.lookup("md5", MD5) is None


def test_fetch_after_a_corrupt_download_tries_again(cache: DataCache) -> None:
    with pytest.raises(IntegrityError):
        cache.fetch("md5", MD5, CountingDownloader(b"bad"))
    good = CountingDownloader()
    assert cache.fetch("md5", MD5, good).read_bytes() == PAYLOAD
    assert good.calls == 1


def test_a_failing_downloader_leaves_nothing_behind(cache: DataCache) -> None:
    def half_then_fail(path: Path) -> None:
        path.write_bytes(PAYLOAD[:10])
        message = "connection reset"
        raise ConnectionError(message)

    with pytest.raises(ConnectionError, match="connection reset"):
        cache.fetch("md5", MD5, half_then_fail)
    assert [name for name in files_under(cache.root) if not name.endswith(".lock")] == []
    assert list(cache.entries()) == []


def test_fetch_trusts_its_own_download_without_hashing_again(cache: DataCache, hash_calls: list[Path]) -> None:
    path = cache.fetch("md5", MD5, CountingDownloader())
    assert len(hash_calls) == 1  # the temporary file, before the rename
    assert hash_calls[0] != path and not hash_calls[0].exists()


# --- lookup ---------------------------------------------------------------------------------


def test_lookup_of_an_absent_object_is_none(cache: DataCache) -> None:
    assert cache.lookup("md5", MD5) is None


def test_lookup_trusts_an_unchanged_file_without_hashing(cache: DataCache, hash_calls: list[Path]) -> None:
    path = cache.fetch("md5", MD5, CountingDownloader())
    hash_calls.clear()
    for _ in range(3):
        assert cache.lookup("md5", MD5) == path
    assert hash_calls == []


def test_lookup_detects_changed_bytes_evicts_and_returns_none(cache: DataCache, hash_calls: list[Path]) -> None:
    path = cache.fetch("md5", MD5, CountingDownloader())
    change_bytes(path, b"X" * len(PAYLOAD))  # same size: only the mtime betrays it
    hash_calls.clear()
    assert cache.lookup("md5", MD5) is None
    assert hash_calls == [path]
    assert not path.exists()
    assert [name for name in files_under(cache.root) if not name.endswith(".lock")] == []  # nor what it knew
    download = CountingDownloader()
    assert cache.fetch("md5", MD5, download).read_bytes() == PAYLOAD
    assert download.calls == 1


def test_lookup_all_answers_as_lookup_does_for_each_object(cache: DataCache, hash_calls: list[Path]) -> None:
    intact = cache.fetch("md5", MD5, CountingDownloader())
    changed = cache.fetch("sha1", SHA1, CountingDownloader())
    change_bytes(changed, b"X" * len(PAYLOAD))
    absent = "0" * 32
    hash_calls.clear()
    found = cache.lookup_all([("md5", MD5, intact), None, ("md5", absent, cache.path_for("md5", absent)),
                              ("sha1", SHA1, changed)])
    assert found == [intact, None, None, None]
    assert hash_calls == [changed]  # the intact file trusted, the changed one re-hashed and evicted
    assert not changed.exists()


def test_lookup_rehashes_a_touched_file_once_and_then_trusts_it(cache: DataCache, hash_calls: list[Path]) -> None:
    path = cache.fetch("md5", MD5, CountingDownloader())
    change_bytes(path, PAYLOAD)  # same bytes, new mtime
    hash_calls.clear()
    assert cache.lookup("md5", MD5) == path
    assert cache.lookup("md5", MD5) == path
    assert hash_calls == [path]


def test_lookup_rehashes_a_file_replaced_by_a_copy(cache: DataCache, hash_calls: list[Path]) -> None:
    path = cache.fetch("md5", MD5, CountingDownloader())
    before = FileState.of(path)
    copy = path.with_name("copy")
    copy.write_bytes(PAYLOAD)
    os.utime(copy, ns=(before.mtime_ns, before.mtime_ns))
    os.replace(copy, path)
    assert FileState.of(path).inode != before.inode
    hash_calls.clear()
    assert cache.lookup("md5", MD5) == path
    assert hash_calls == [path]


def kept_beside(path: Path) -> list[Path]:
    """The files that the cache keeps beside an object (what it knows of it), locks aside."""
    return [other for other in path.parent.iterdir()
            if other.is_file() and other != path and not other.name.endswith(".lock")]


def test_lookup_rehashes_when_the_state_record_is_unreadable(cache: DataCache, hash_calls: list[Path]) -> None:
    path = cache.fetch("md5", MD5, CountingDownloader())
    records = kept_beside(path)
    assert records
    for record in records:
        record.chmod(0o644)
        record.write_text("{not json", encoding="utf-8")
    hash_calls.clear()
    assert cache.lookup("md5", MD5) == path
    assert hash_calls == [path]


# --- verify, evict, entries -----------------------------------------------------------------


def test_verify_reports_intact_corrupt_and_absent(cache: DataCache) -> None:
    assert cache.verify("md5", MD5) is None
    path = cache.fetch("md5", MD5, CountingDownloader())
    assert cache.verify("md5", MD5) is True
    assert path.exists()
    path.chmod(0o644)
    path.write_bytes(b"rot")
    assert cache.verify("md5", MD5) is False
    assert not path.exists()
    assert cache.verify("md5", MD5) is None


def test_verify_hashes_even_an_unchanged_file(cache: DataCache, hash_calls: list[Path]) -> None:
    path = cache.fetch("md5", MD5, CountingDownloader())
    hash_calls.clear()
    assert cache.verify("md5", MD5) is True
    assert hash_calls == [path]


def test_evict_removes_the_object_and_its_state(cache: DataCache) -> None:
    path = cache.fetch("md5", MD5, CountingDownloader())
    assert kept_beside(path)
    cache.evict("md5", MD5)
    assert not path.exists()
    assert kept_beside(path) == []
    cache.evict("md5", MD5)  # evicting twice is harmless


def test_entries_lists_objects_but_not_state_lock_or_temporary_files(cache: DataCache) -> None:
    assert list(cache.entries()) == []
    other = b"other payload"
    other_md5 = hashlib.md5(other).hexdigest()
    cache.fetch("md5", MD5, CountingDownloader())
    cache.fetch("md5", other_md5, CountingDownloader(other))
    stray = temporary_path(cache.path_for("md5", MD5))
    stray.write_bytes(b"partial")
    assert len(files_under(cache.root)) > 3  # besides the two objects: what the cache keeps, and the stray
    assert sorted(cache.entries()) == sorted([("md5", MD5), ("md5", other_md5)])


# --- concurrency ----------------------------------------------------------------------------


def _slow_download(counter: Path) -> Callable[[Path], None]:
    def download(path: Path) -> None:
        with counter.open("a", encoding="utf-8") as stream:
            stream.write(f"{os.getpid()}\n")
        time.sleep(0.5)
        path.write_bytes(PAYLOAD)

    return download


def _fetch_in_process(root: str, counter: str, start: float) -> str:
    time.sleep(max(0.0, start - time.time()))
    return str(DataCache(Path(root)).fetch("md5", MD5, _slow_download(Path(counter))))


def test_concurrent_processes_download_once(tmp_path: Path) -> None:
    root, counter = tmp_path / "cache", tmp_path / "downloads.txt"
    start = time.time() + 0.3  # all four begin together, while none has finished
    context = multiprocessing.get_context("fork")
    with context.Pool(4) as pool:
        paths = pool.starmap(_fetch_in_process, [(str(root), str(counter), start)] * 4)
    assert len(set(paths)) == 1
    assert Path(paths[0]) == DataCache(root).path_for("md5", MD5)
    assert Path(paths[0]).read_bytes() == PAYLOAD
    assert len(counter.read_text(encoding="utf-8").splitlines()) == 1


# --- what crashed downloads left --------------------------------------------------------------

def _exited_pid() -> int:
    import subprocess
    import sys

    code = "import os; print(os.getpid())"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(child.stdout)


def test_a_fetch_removes_a_dead_downloads_leftovers_and_resumes_the_partial(cache: DataCache) -> None:
    target = cache.path_for("md5", MD5)
    target.parent.mkdir(parents=True)
    ours = f".{os.getpid()}-"
    dead = target.with_name(temporary_path(target).name.replace(ours, f".{_exited_pid()}-"))
    dead.write_bytes(b"half")
    partial = cache.partial_path(target)
    partial.write_bytes(PAYLOAD[:10])  # a resumable download of the same object, to be continued

    def complete(path: Path) -> None:
        assert path == partial and path.read_bytes() == PAYLOAD[:10]
        with open(path, "ab") as stream:
            stream.write(PAYLOAD[10:])

    assert cache.fetch("md5", MD5, complete, resumable=True).read_bytes() == PAYLOAD
    assert not dead.exists() and not partial.exists()


def _hold_lock(path: str, log: str, held, release) -> None:
    with file_lock(Path(path)):
        with open(log, "a") as out:
            out.write("child in\n")
        held.set()
        release.wait(30)
        with open(log, "a") as out:
            out.write("child out\n")


def test_file_lock_makes_another_process_and_thread_wait(tmp_path: Path) -> None:
    import threading

    log = tmp_path / "log"
    context = multiprocessing.get_context("spawn")
    held, release = context.Event(), context.Event()
    child = context.Process(target=_hold_lock, args=(str(tmp_path / "object"), str(log), held, release))
    child.start()
    assert held.wait(60)

    def take() -> None:
        with file_lock(tmp_path / "object"), open(log, "a") as out:
            out.write("parent in\n")

    waiter = threading.Thread(target=take)
    waiter.start()
    time.sleep(0.3)  # the waiter has tried by now; it must still be waiting
    release.set()
    waiter.join(60)
    child.join(60)
    assert log.read_text().splitlines() == ["child in", "child out", "parent in"]
    assert (tmp_path / "object.lock").exists()  # left in place, as filelock leaves it


@pytest.mark.skipif(cache_module.boot_id() is None, reason="needs a boot id (Linux)")
def test_a_download_is_not_flushed_and_its_state_names_the_boot(
    cache: DataCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No fsync per download: the state record says which boot wrote the file instead."""
    flushed: list[int] = []
    original = os.fsync
    monkeypatch.setattr(os, "fsync", lambda descriptor: (flushed.append(descriptor), original(descriptor))[1])
    path = cache.fetch("md5", MD5, CountingDownloader())
    assert flushed == []
    import json

    recorded = json.loads(path.with_name(path.name + ".state").read_text())
    assert recorded["boot"] == cache_module.boot_id()


@pytest.mark.skipif(cache_module.boot_id() is None, reason="needs a boot id (Linux)")
def test_an_unflushed_file_of_an_earlier_boot_is_hashed_again_then_flushed(
    cache: DataCache, hash_calls: list[Path]
) -> None:
    """After a reboot (a crash may have lost what was not flushed), the file is hashed before it
    is trusted; intact, it is flushed and trusted from then on; damaged, it is removed."""
    import dataclasses
    import json

    path = cache.fetch("md5", MD5, CountingDownloader())
    state_path = path.with_name(path.name + ".state")
    state = FileState(**json.loads(state_path.read_text()))
    earlier = json.dumps(dataclasses.asdict(dataclasses.replace(state, boot="an-earlier-boot")))
    state_path.write_text(earlier)
    hash_calls.clear()
    assert cache.lookup("md5", MD5) == path
    assert hash_calls == [path]
    assert json.loads(state_path.read_text())["boot"] == ""  # flushed: trusted across boots now
    assert cache.lookup("md5", MD5) == path and hash_calls == [path]
    # The same record over bytes a crash turned to zeros (size, times and inode unchanged).
    path.chmod(0o644)
    with open(path, "r+b") as stream:
        stream.write(b"\0" * len(PAYLOAD))
    os.utime(path, ns=(state.mtime_ns, state.mtime_ns))
    zeroed = dataclasses.replace(FileState.of(path), boot="an-earlier-boot")
    state_path.write_text(json.dumps(dataclasses.asdict(zeroed)))
    assert cache.lookup("md5", MD5) is None and not path.exists()
