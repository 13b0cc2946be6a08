"""Atomic writes (brainio_dvc.formats.atomic): temporaries beside the target, renamed on success,
removed on failure, and what crashed writers left removed by the next writer, with real files
and real processes killed mid-write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from brainio_dvc.formats.atomic import (
    STALE_AFTER_SECONDS,
    atomic_path,
    atomic_write_text,
    remove_stale_temporaries,
    resumable_partial,
    temporary_path,
)


def names(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def dead_pid() -> int:
    """The id of a process of this machine that has exited (and was reaped)."""
    code = "import os; print(os.getpid())"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(child.stdout)


def other_host(temporary: Path) -> Path:
    """``temporary`` as a writer on another machine (a shared file system) would have named it."""
    import re

    match = re.fullmatch(r"(.*\.[0-9]+)-([0-9a-f]{6})(\.[0-9a-f]{8}\.tmp)", temporary.name)
    assert match is not None, temporary.name
    other = "ffffff" if match[2] != "ffffff" else "000000"
    return temporary.with_name(f"{match[1]}-{other}{match[3]}")


def start_writer(target: Path, directory: bool = False) -> subprocess.Popen[str]:
    """A process that writes half of ``target`` through atomic_path, says so, and waits."""
    code = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from brainio_dvc.formats.atomic import atomic_path
        with atomic_path(Path({str(target)!r}), directory={directory}) as temporary:
            if {directory}:
                (temporary / "half").write_bytes(b"half")
            else:
                temporary.write_bytes(b"half")
            print(temporary, flush=True)
            time.sleep(600)
    """)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def started(writer: subprocess.Popen[str]) -> Path:
    assert writer.stdout is not None
    line = writer.stdout.readline().strip()
    assert line, "the writer died before writing"
    return Path(line)


def kill(writer: subprocess.Popen[str]) -> None:
    writer.send_signal(signal.SIGKILL)
    assert writer.wait() == -signal.SIGKILL
    assert writer.stdout is not None
    writer.stdout.close()


# --- names ------------------------------------------------------------------------------------


def test_temporary_path_is_a_unique_hidden_sibling_naming_its_writer(tmp_path: Path) -> None:
    target = tmp_path / "object"
    first, second = temporary_path(target), temporary_path(target)
    assert first != second
    assert first.parent == target.parent
    assert first.name.startswith(f".object.{os.getpid()}-") and first.name.endswith(".tmp")
    assert not first.exists()


def test_the_resumable_partial_keeps_its_name(tmp_path: Path) -> None:
    assert resumable_partial(tmp_path / "object") == tmp_path / ".object.resume.tmp"


# --- writing ----------------------------------------------------------------------------------


def test_atomic_write_text_creates_parents_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "file.txt"
    atomic_write_text(target, "first")
    atomic_write_text(target, "second\nline", fsync=True)
    assert target.read_text(encoding="utf-8") == "second\nline"
    assert os.listdir(target.parent) == ["file.txt"]


def test_atomic_write_text_keeps_the_old_content_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    atomic_write_text(target, "old")
    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(target, "bad \ud800 surrogate")
    assert target.read_text(encoding="utf-8") == "old"
    assert os.listdir(tmp_path) == ["file.txt"]


def test_an_exception_in_the_block_leaves_the_target_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "file.bin"
    target.write_bytes(b"old")
    message = "midway"
    with pytest.raises(RuntimeError, match=message), atomic_path(target) as temporary:
        temporary.write_bytes(b"half")
        raise RuntimeError(message)
    assert target.read_bytes() == b"old"
    assert names(tmp_path) == ["file.bin"]


def test_a_file_gets_the_mode_open_gives(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    with atomic_path(tmp_path / "file.bin") as temporary:
        temporary.write_bytes(b"x")
    assert (tmp_path / "file.bin").stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_directory_is_made_filled_and_renamed(tmp_path: Path) -> None:
    target = tmp_path / "extracted"
    with atomic_path(target, directory=True) as temporary:
        assert temporary.is_dir() and not target.exists()
        (temporary / "a.png").write_bytes(b"png")
    assert names(target) == ["a.png"]
    assert names(tmp_path) == ["extracted"]


def test_a_directory_another_writer_completed_first_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "extracted"
    with atomic_path(target, directory=True) as temporary:
        (temporary / "mine").write_bytes(b"second")
        target.mkdir()
        (target / "theirs").write_bytes(b"first")
    assert names(target) == ["theirs"]
    assert names(tmp_path) == ["extracted"]


def test_a_file_over_a_directory_raises(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    (target / "inside").mkdir(parents=True)
    with pytest.raises(OSError), atomic_path(target) as temporary:
        temporary.write_bytes(b"x")
    assert names(tmp_path) == ["taken"]


# --- crashed writers --------------------------------------------------------------------------


@pytest.mark.parametrize("directory", [False, True], ids=["file", "directory"])
def test_a_writer_killed_midway_leaves_the_target_untouched_and_the_next_writer_cleans_up(
    tmp_path: Path, directory: bool
) -> None:
    target = tmp_path / "target"
    if directory:
        with atomic_path(target, directory=True) as temporary:
            (temporary / "old").write_bytes(b"old")
    else:
        target.write_bytes(b"old")
    writer = start_writer(target, directory)
    temporary = started(writer)
    kill(writer)
    assert temporary.exists(), "the kill did not land mid-write"
    assert (names(target) == ["old"]) if directory else (target.read_bytes() == b"old")

    if directory:
        # the first complete directory wins: the next writer cleans up, and keeps the old one
        with atomic_path(target, directory=True) as fresh:
            (fresh / "new").write_bytes(b"new")
        assert names(target) == ["old"]
    else:
        atomic_write_text(target, "new")
        assert target.read_text(encoding="utf-8") == "new"
    assert names(tmp_path) == ["target"]


def test_a_running_writers_temporary_is_not_removed(tmp_path: Path) -> None:
    target = tmp_path / "target"
    writer = start_writer(target)
    try:
        temporary = started(writer)
        assert remove_stale_temporaries(target) == []
        atomic_write_text(target, "meanwhile")  # another writer of the same target
        assert temporary.read_bytes() == b"half"
    finally:
        kill(writer)
    assert remove_stale_temporaries(target) == [temporary]
    assert names(tmp_path) == ["target"]


def test_this_processs_own_temporary_is_not_removed(tmp_path: Path) -> None:
    target = tmp_path / "target"
    with atomic_path(target) as temporary:
        temporary.write_bytes(b"mine")
        assert remove_stale_temporaries(target) == []
        assert temporary.read_bytes() == b"mine"
    assert target.read_bytes() == b"mine"


def test_only_stale_temporaries_of_exactly_the_target_are_removed(tmp_path: Path) -> None:
    target = tmp_path / "object"
    pid, ours = dead_pid(), f"{os.getpid()}-"
    dead_file = tmp_path / temporary_path(target).name.replace(ours, f"{pid}-")
    dead_dir = tmp_path / temporary_path(target).name.replace(ours, f"{pid}-")
    legacy = tmp_path / f".object.{pid}.deadbeef.tmp"  # the data cache's scheme before the host
    dead_file.write_bytes(b"half a download")
    (dead_dir / "objects").mkdir(parents=True)  # half a staged clone
    legacy.write_bytes(b"half")
    kept = [
        resumable_partial(target),  # a resumable download's partial file
        # another target's
        tmp_path / temporary_path(tmp_path / "object.state").name.replace(ours, f"{pid}-"),
        tmp_path / temporary_path(tmp_path / "other").name.replace(ours, f"{pid}-"),
        tmp_path / ".object.notes.tmp",  # not this scheme
    ]
    for path in kept:
        path.write_bytes(b"someone else's")
    target.write_bytes(b"complete")
    assert sorted(remove_stale_temporaries(target)) == sorted([dead_file, dead_dir, legacy])
    assert names(tmp_path) == sorted([p.name for p in kept] + ["object"])


def test_another_machines_temporary_is_removed_only_once_it_is_old(tmp_path: Path) -> None:
    target = tmp_path / "object"
    theirs = other_host(temporary_path(target))
    theirs.write_bytes(b"written on another machine")
    assert remove_stale_temporaries(target) == []
    long_ago = time.time() - STALE_AFTER_SECONDS - 60
    os.utime(theirs, (long_ago, long_ago))
    assert remove_stale_temporaries(target) == [theirs]


def test_cleanup_of_a_target_in_a_missing_directory_is_a_no_op(tmp_path: Path) -> None:
    assert remove_stale_temporaries(tmp_path / "missing" / "object") == []
