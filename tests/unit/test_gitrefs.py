"""Resolving HEAD and branches from the files of real git repositories, checked against git."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from brainio_dvc.store.gitrefs import resolve_branch_ref


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "--quiet", "--initial-branch", "main")
    for number in range(2):
        (root / "file.txt").write_text(f"version {number}\n")
        git(root, "add", "file.txt")
        git(root, "commit", "--quiet", "-m", f"commit {number}")
    git(root, "branch", "feature", "HEAD~1")
    return root


def test_head_and_branches_match_git(repo: Path) -> None:
    git_dir = repo / ".git"
    head = resolve_branch_ref(git_dir, "HEAD")
    assert head is not None and head.commit == git(repo, "rev-parse", "HEAD") and head.ref == "refs/heads/main"
    assert resolve_branch_ref(git_dir, "main").commit == git(repo, "rev-parse", "main")
    assert resolve_branch_ref(git_dir, "feature").commit == git(repo, "rev-parse", "feature")


def test_packed_refs_are_read(repo: Path) -> None:
    git(repo, "pack-refs", "--all", "--prune")
    assert not (repo / ".git" / "refs" / "heads" / "feature").exists()
    assert resolve_branch_ref(repo / ".git", "feature").commit == git(repo, "rev-parse", "feature")
    assert resolve_branch_ref(repo / ".git", "HEAD").commit == git(repo, "rev-parse", "HEAD")


def test_a_new_commit_is_seen_at_once(repo: Path) -> None:
    before = resolve_branch_ref(repo / ".git", "HEAD").commit
    git(repo, "commit", "--quiet", "--allow-empty", "-m", "another")
    after = resolve_branch_ref(repo / ".git", "HEAD").commit
    assert after != before and after == git(repo, "rev-parse", "HEAD")


def test_detached_head(repo: Path) -> None:
    git(repo, "checkout", "--quiet", "--detach", "feature")
    head = resolve_branch_ref(repo / ".git", "HEAD")
    assert head.commit == git(repo, "rev-parse", "feature") and head.ref == "HEAD"


def test_a_tag_shadowing_a_branch_is_left_to_git(repo: Path) -> None:
    git(repo, "tag", "-a", "-m", "tag", "feature", "main")
    # git itself prefers the tag (with a warning): this module must not answer with the branch.
    assert resolve_branch_ref(repo / ".git", "feature") is None


@pytest.mark.parametrize("rev", ["v1", "main~1", "HEAD^", "abc123", "../main", "-main", "main.lock", "ma in", ""])
def test_what_is_not_a_plain_existing_branch_is_left_to_git(repo: Path, rev: str) -> None:
    git(repo, "tag", "v1")
    assert resolve_branch_ref(repo / ".git", rev) is None


def test_a_worktree_whose_git_is_a_file_is_left_to_git(repo: Path, tmp_path: Path) -> None:
    git(repo, "worktree", "add", "--quiet", "--detach", str(tmp_path / "tree"), "main")
    assert (tmp_path / "tree" / ".git").is_file()
    assert resolve_branch_ref(tmp_path / "tree" / ".git", "HEAD") is None


def test_a_missing_directory_is_left_to_git(tmp_path: Path) -> None:
    assert resolve_branch_ref(tmp_path / "nothing", "HEAD") is None
