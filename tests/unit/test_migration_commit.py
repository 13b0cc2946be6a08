"""store/git.stage_packed, with which a migration commits its files: what ``git add`` stages, as one pack."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from brainio_dvc.store.git import Git, stage_packed


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def _tree(root: Path, count: int) -> None:
    git(root, "init", "--quiet", "--initial-branch", "main")
    (root / "kept.txt").write_text("kept\n")
    (root / "gone.txt").write_text("gone\n")
    (root / "changed.txt").write_text("before\n")
    git(root, "add", ".")
    git(root, "commit", "--quiet", "-m", "first")
    (root / "gone.txt").unlink()
    (root / "changed.txt").write_text("after\n")
    for number in range(count):
        directory = root / "registry" / f"d{number % 7}" / f"e{number}"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"f{number}.dvc").write_text(f"outs:\n- md5: {number:032x}\n")
        (directory / ".gitignore").write_text(f"/f{number}\n")
        (directory / f"f{number}").write_bytes(b"ignored data")
    (root / "registry" / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(root / "registry" / "run.sh", 0o755)
    (root / "untouched.txt").write_text("not staged: not named\n")


@pytest.mark.parametrize("count", [3, 150])  # fast-import unpacks fewer than 100 objects
def test_stage_packed_stages_exactly_what_git_add_stages(tmp_path: Path, count: int) -> None:
    paths = ["registry", "gone.txt", "changed.txt", "kept.txt"]
    staged = {}
    for how in ("add", "packed"):
        root = tmp_path / how
        root.mkdir()
        _tree(root, count)
        if how == "add":
            git(root, "add", "--", *paths)
        else:
            stage_packed(Git(root), paths)
        staged[how] = (git(root, "write-tree"), git(root, "ls-files", "--stage"), git(root, "status", "--porcelain"))
        assert git(root, "fsck", "--strict") == ""
    assert staged["packed"] == staged["add"]


def test_stage_packed_writes_the_new_blobs_as_one_pack(tmp_path: Path) -> None:
    _tree(tmp_path, 150)
    loose_before = git(tmp_path, "count-objects", "-v")
    stage_packed(Git(tmp_path), ["registry"])
    counts = dict(line.split(": ") for line in git(tmp_path, "count-objects", "-v").splitlines())
    assert counts["count"] == dict(line.split(": ") for line in loose_before.splitlines())["count"]
    assert int(counts["in-pack"]) >= 301


def test_stage_packed_leaves_a_symbolic_link_to_git_add(tmp_path: Path) -> None:
    _tree(tmp_path, 2)
    (tmp_path / "registry" / "link").symlink_to("run.sh")
    stage_packed(Git(tmp_path), ["registry"])
    assert "120000" in git(tmp_path, "ls-files", "--stage", "registry/link")


@pytest.mark.parametrize("setup", [
    ("attributes", "*.dvc text eol=crlf\n"),
    ("attributes", "*.dvc filter=upper\n"),
    ("config", "core.autocrlf=true"),
    ("config", "core.fileMode=false"),
])
def test_stage_packed_leaves_files_git_would_convert_to_git_add(tmp_path: Path, setup: tuple[str, str]) -> None:
    kind, value = setup
    staged = {}
    for how in ("add", "packed"):
        root = tmp_path / how
        root.mkdir()
        _tree(root, 3)
        git(root, "config", "filter.upper.clean", "tr a-z A-Z")
        (root / "registry" / "windows.dvc").write_bytes(b"outs:\r\n- md5: x\r\n")  # git add makes it LF
        if kind == "attributes":
            (root / "registry" / ".gitattributes").write_text(value)
        else:
            git(root, "config", *value.split("="))
        if how == "add":
            git(root, "add", "--", "registry")
        else:
            stage_packed(Git(root), ["registry"])
        staged[how] = git(root, "ls-files", "--stage")
    assert staged["packed"] == staged["add"]
