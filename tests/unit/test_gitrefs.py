"""Resolving HEAD, branches and tags from the files of real git repositories, checked by git."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from brainio_dvc.store.gitrefs import is_branch, resolve_ref


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


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


@pytest.fixture
def tagged(repo: Path) -> Path:
    """Lightweight and annotated tags, a tag of a tag, and a tag of a tree."""
    git(repo, "tag", "light", "HEAD~1")
    git(repo, "tag", "-a", "-m", "annotated", "annotated", "HEAD")
    git(repo, "tag", "-a", "-m", "nested", "nested", "annotated")
    git(repo, "tag", "-a", "-m", "release", "release/v1", "HEAD~1")
    git(repo, "tag", "tree", "HEAD^{tree}")
    git(repo, "tag", "-a", "-m", "of a tree", "annotated-tree", "HEAD^{tree}")
    return repo


COMMIT_TAGS = ["light", "annotated", "nested", "release/v1"]
TREE_TAGS = ["tree", "annotated-tree"]


def _peeled(repo: Path, rev: str) -> str:
    return git(repo, "rev-parse", "--verify", f"{rev}^{{commit}}")


def _assert_tags_match_git(repo: Path) -> None:
    for tag in COMMIT_TAGS:
        found = resolve_ref(repo / ".git", tag)
        assert found is not None, tag
        assert found.commit == _peeled(repo, tag) and found.ref == f"refs/tags/{tag}"
    for tag in TREE_TAGS:  # git cannot peel them to a commit: left to git, which says so
        assert resolve_ref(repo / ".git", tag) is None


def test_head_and_branches_match_git(repo: Path) -> None:
    git_dir = repo / ".git"
    head = resolve_ref(git_dir, "HEAD")
    assert (
        head is not None
        and head.commit == git(repo, "rev-parse", "HEAD")
        and head.ref == "refs/heads/main"
    )
    assert resolve_ref(git_dir, "main").commit == git(repo, "rev-parse", "main")
    assert resolve_ref(git_dir, "feature").commit == git(repo, "rev-parse", "feature")


def test_packed_refs_are_read(repo: Path) -> None:
    git(repo, "pack-refs", "--all", "--prune")
    assert not (repo / ".git" / "refs" / "heads" / "feature").exists()
    assert resolve_ref(repo / ".git", "feature").commit == git(repo, "rev-parse", "feature")
    assert resolve_ref(repo / ".git", "HEAD").commit == git(repo, "rev-parse", "HEAD")


def test_a_new_commit_is_seen_at_once(repo: Path) -> None:
    before = resolve_ref(repo / ".git", "HEAD").commit
    git(repo, "commit", "--quiet", "--allow-empty", "-m", "another")
    after = resolve_ref(repo / ".git", "HEAD").commit
    assert after != before and after == git(repo, "rev-parse", "HEAD")


def test_detached_head(repo: Path) -> None:
    git(repo, "checkout", "--quiet", "--detach", "feature")
    head = resolve_ref(repo / ".git", "HEAD")
    assert head.commit == git(repo, "rev-parse", "feature") and head.ref == "HEAD"


def test_loose_tags_and_loose_tag_objects(tagged: Path) -> None:
    assert (tagged / ".git" / "refs" / "tags" / "annotated").is_file()
    _assert_tags_match_git(tagged)


def test_packed_tags_with_peeled_lines(tagged: Path) -> None:
    git(tagged, "pack-refs", "--all", "--prune")
    packed = (tagged / ".git" / "packed-refs").read_text()
    assert "^" in packed and not (tagged / ".git" / "refs" / "tags" / "annotated").exists()
    _assert_tags_match_git(tagged)


def test_tags_after_gc_objects_in_a_pack(tagged: Path) -> None:
    git(tagged, "gc", "--quiet", "--prune=now")
    assert not list((tagged / ".git" / "objects").glob("[0-9a-f][0-9a-f]/*"))  # every object packed
    _assert_tags_match_git(tagged)


def test_tag_objects_read_from_a_pack_when_packed_refs_has_no_peeled_lines(tagged: Path) -> None:
    git(tagged, "gc", "--quiet", "--prune=now")
    packed_refs = tagged / ".git" / "packed-refs"
    # As an older git writes it: no peeled trait, no ^ lines; the tag objects must be read.
    lines = [
        line for line in packed_refs.read_text().splitlines() if not line.startswith(("^", "#"))
    ]
    packed_refs.write_text("\n".join(lines) + "\n")
    _assert_tags_match_git(tagged)


@pytest.mark.parametrize("offset_deltas", ["true", "false"], ids=["ofs-delta", "ref-delta"])
def test_tags_of_deltified_commits_in_a_pack(repo: Path, offset_deltas: str) -> None:
    for number in range(12):
        git(
            repo,
            "commit",
            "--quiet",
            "--allow-empty",
            "-m",
            f"a long similar message, number {number}\n" * 8,
        )
        git(repo, "tag", f"t{number}")
    git(
        repo,
        "-c",
        f"repack.useDeltaBaseOffset={offset_deltas}",
        "repack",
        "-a",
        "-d",
        "-f",
        "--quiet",
        "--depth=50",
        "--window=50",
    )
    git(repo, "pack-refs", "--all", "--prune")
    (index,) = (repo / ".git" / "objects" / "pack").glob("*.idx")
    listing = git(repo, "verify-pack", "-v", str(index))
    deltified = {
        line.split()[0]
        for line in listing.splitlines()
        if " commit " in line and len(line.split()) == 7
    }
    tags = {f"t{number}": git(repo, "rev-parse", f"t{number}") for number in range(12)}
    assert deltified & set(tags.values())  # the delta path is taken
    for tag, commit in tags.items():
        assert resolve_ref(repo / ".git", tag).commit == commit


def test_a_loose_ref_wins_over_its_stale_packed_line(tagged: Path) -> None:
    git(tagged, "pack-refs", "--all", "--prune")
    git(tagged, "tag", "--force", "-a", "-m", "moved", "annotated", "HEAD~1")
    assert "refs/tags/annotated" in (tagged / ".git" / "packed-refs").read_text()
    assert resolve_ref(tagged / ".git", "annotated").commit == _peeled(tagged, "annotated")
    assert resolve_ref(tagged / ".git", "annotated").commit == git(tagged, "rev-parse", "HEAD~1")


def test_a_tag_shadowing_a_branch_wins_as_in_git(repo: Path) -> None:
    git(repo, "tag", "-a", "-m", "tag", "feature", "main")
    # git prefers the tag (with a warning), and so do the files.
    found = resolve_ref(repo / ".git", "feature")
    assert found.commit == _peeled(repo, "refs/tags/feature") == git(repo, "rev-parse", "main")
    assert found.ref == "refs/tags/feature"
    assert is_branch(repo / ".git", "feature") is True  # a branch of that name exists all the same


def test_is_branch(tagged: Path) -> None:
    git_dir = tagged / ".git"
    assert is_branch(git_dir, "HEAD") is True
    assert is_branch(git_dir, "main") is True and is_branch(git_dir, "feature") is True
    assert is_branch(git_dir, "annotated") is False and is_branch(git_dir, "nothing") is False
    git(tagged, "pack-refs", "--all", "--prune")
    assert is_branch(git_dir, "feature") is True and is_branch(git_dir, "light") is False
    assert is_branch(git_dir, "main~1") is None  # not a name: git decides


@pytest.mark.parametrize(
    "rev",
    [
        "main~1",
        "HEAD^",
        "abc123",
        "../main",
        "-main",
        "main.lock",
        "ma in",
        "",
        "light@{0}",
        "tags/light",
        "heads/main",
    ],
)
def test_what_is_not_a_plain_existing_name_is_left_to_git(tagged: Path, rev: str) -> None:
    assert resolve_ref(tagged / ".git", rev) is None


def test_a_full_sha_is_left_to_git(tagged: Path) -> None:
    sha = git(tagged, "rev-parse", "HEAD")
    assert re.fullmatch(r"[0-9a-f]{40}", sha) and resolve_ref(tagged / ".git", sha) is None


def test_a_worktree_whose_git_is_a_file_is_left_to_git(repo: Path, tmp_path: Path) -> None:
    git(repo, "worktree", "add", "--quiet", "--detach", str(tmp_path / "tree"), "main")
    assert (tmp_path / "tree" / ".git").is_file()
    assert resolve_ref(tmp_path / "tree" / ".git", "HEAD") is None
    assert resolve_ref(tmp_path / "tree" / ".git", "main") is None
    assert is_branch(tmp_path / "tree" / ".git", "main") is None


def test_a_missing_directory_is_left_to_git(tmp_path: Path) -> None:
    assert resolve_ref(tmp_path / "nothing", "HEAD") is None
    assert resolve_ref(tmp_path / "nothing", "main") is None
    assert is_branch(tmp_path / "nothing", "main") is None
