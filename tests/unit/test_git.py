"""store/git.py against real git repositories, with GitPython as an independent check."""

from __future__ import annotations

import ast
import logging
import subprocess
from pathlib import Path

import git as gitpython
import pytest

import brainio_dvc
from brainio_dvc.exceptions import GitError, RegistryError
from brainio_dvc.store.git import Git, clone
from brainio_dvc.store.registry import Registry


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "dir").mkdir(parents=True)
    git(root, "init", "--quiet", "--initial-branch", "main")
    (root / "a.txt").write_bytes(b"alpha\n")
    (root / "dir" / "b.bin").write_bytes(bytes(range(256)))
    git(root, "add", ".")
    git(root, "commit", "--quiet", "-m", "first")
    git(root, "tag", "light")
    git(root, "tag", "-a", "-m", "annotated", "v1")
    git(root, "tag", "-a", "-m", "nested", "v1-again", "v1")
    git(root, "tag", "tree", "HEAD^{tree}")
    git(root, "commit", "--quiet", "--allow-empty", "-m", "second")
    git(root, "tag", "-a", "-m", "second", "release/v2")
    return root


def test_a_failed_command_raises_git_error_with_command_repository_and_stderr(repo: Path) -> None:
    with pytest.raises(GitError) as raised:
        Git(repo).run("rev-parse", "--verify", "no-such-rev")
    error = raised.value
    assert isinstance(error, RegistryError) and isinstance(error, brainio_dvc.BrainioDvcError)
    assert error.command == ["git", "rev-parse", "--verify", "no-such-rev"]
    assert error.repository == str(repo) and error.returncode != 0
    assert "no-such-rev" in error.stderr or "Needed a single revision" in error.stderr
    assert "cannot rev-parse" in str(error) and error.stderr in str(error)


def test_a_bare_git_directory_is_named_by_its_label(repo: Path) -> None:
    bare = Git(repo / ".git", bare=True, label="https://example.org/registry.git")
    assert bare.run("rev-parse", "HEAD").strip() == git(repo, "rev-parse", "HEAD")
    with pytest.raises(GitError) as raised:
        bare.run("log", "no-such-rev")
    assert raised.value.command[:3] == ["git", "--git-dir", str(repo / ".git")]
    assert str(raised.value).startswith("registry https://example.org/registry.git: cannot log:")


def test_succeeds_output_or_none_and_commit_of(repo: Path) -> None:
    g = Git(repo)
    assert g.succeeds("rev-parse", "--verify", "--quiet", "main") is True
    assert g.succeeds("rev-parse", "--verify", "--quiet", "nothing") is False
    assert g.output_or_none("symbolic-ref", "--short", "HEAD") == "main"
    assert g.output_or_none("symbolic-ref", "--quiet", "nothing") is None
    checked = gitpython.Repo(repo)
    for rev in ("HEAD", "main", "light", "v1", "v1-again", "release/v2", "HEAD~1"):
        assert g.commit_of(rev) == checked.commit(rev).hexsha
    assert g.commit_of("tree") is None and g.commit_of("nothing") is None
    assert g.commit_of("--all") is None  # never taken as an option


def test_read_objects_in_one_batch(repo: Path) -> None:
    found = Git(repo).read_objects(
        ["HEAD:a.txt", "HEAD:dir/b.bin", "HEAD:missing.txt", "HEAD:dir", "light"]
    )
    assert found[0] == ("blob", b"alpha\n")
    assert found[1] == ("blob", bytes(range(256)))
    assert found[2] is None
    assert found[3] is not None and found[3][0] == "tree"
    assert found[4] is not None and found[4][0] == "commit"
    assert Git(repo).read_objects([]) == []


def test_list_tree(repo: Path) -> None:
    assert Git(repo).list_tree("HEAD:") == ["a.txt", "dir"]
    assert Git(repo).list_tree("HEAD:dir") == ["b.bin"]
    assert Git(repo).list_tree("HEAD:nothing") is None


def test_tags_match_gitpython(repo: Path) -> None:
    expected = {}
    for tag in gitpython.Repo(repo).tags:
        try:
            expected[tag.name] = tag.commit.hexsha
        except ValueError:  # a tag of a tree
            continue
    assert "tree" not in expected
    assert Git(repo).tags() == {
        name: git(repo, "rev-parse", f"{name}^{{commit}}") for name in expected
    }
    assert set(Git(repo).tags()) == {"light", "v1", "v1-again", "release/v2"}


def test_commit_date_and_config_match_gitpython(repo: Path) -> None:
    checked = gitpython.Repo(repo)
    for rev in ("HEAD", "HEAD~1"):
        commit = checked.commit(rev)
        assert Git(repo).commit_date(commit.hexsha) == commit.committed_datetime.isoformat()
    assert Git(repo).config_value("remote.origin.url") is None
    git(repo, "remote", "add", "origin", "https://example.org/registry.git")
    assert Git(repo).config_value("remote.origin.url") == "https://example.org/registry.git"


def test_clone_and_its_failure(repo: Path, tmp_path: Path) -> None:
    clone(str(repo), tmp_path / "copy", "--quiet")
    assert git(tmp_path / "copy", "rev-parse", "HEAD") == git(repo, "rev-parse", "HEAD")
    with pytest.raises(GitError, match="cannot clone") as raised:
        clone(f"file://{tmp_path}/nothing-here", tmp_path / "other", "--bare")
    assert raised.value.repository == f"file://{tmp_path}/nothing-here" and raised.value.stderr


def test_git_that_cannot_start_is_a_git_error(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-git-here"))
    with pytest.raises(GitError, match="could not be started") as raised:
        Git(repo).run("status")
    assert raised.value.returncode == 127
    assert Git(repo).succeeds("status") is False and Git(repo).commit_of("HEAD") is None


def test_a_registry_resolves_tags_without_starting_git(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / ".dvc").mkdir()
    registry = Registry(repo, home=tmp_path / "home")
    expected = {
        tag: git(repo, "rev-parse", f"{tag}^{{commit}}") for tag in ("light", "v1", "release/v2")
    }
    git(repo, "gc", "--quiet")  # packed refs, packed objects
    monkeypatch.setenv("PATH", str(tmp_path / "no-git-here"))  # git cannot start
    for tag, commit in expected.items():
        assert registry.resolve(tag) == commit


def test_a_clone_fetches_for_a_branch_but_not_for_a_tag(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (repo / ".dvc").mkdir()
    registry = Registry(f"file://{repo}", home=tmp_path / "home")
    tag, branch = git(repo, "rev-parse", "release/v2^{commit}"), git(repo, "rev-parse", "main")
    assert registry.resolve("v1") == git(repo, "rev-parse", "v1^{commit}")  # clones
    monkeypatch.setenv("PATH", str(tmp_path / "no-git-here"))  # a fetch now fails
    with brainio_dvc.config.set(fetch_interval=0), caplog.at_level(logging.WARNING):
        assert registry.resolve("release/v2") == tag
        assert not caplog.records  # a tag does not move: no fetch
        assert registry.resolve("main") == branch
    # The branch moves: the fetch was tried, it failed, and the commit known locally is used.
    (warning,) = caplog.records
    assert (
        "known locally" in warning.getMessage() and "could not be started" in warning.getMessage()
    )


def test_the_package_does_not_import_gitpython() -> None:
    """GitPython stays a dependency (DVC's scmrepo needs it), but brainio_dvc never imports it."""
    package = Path(brainio_dvc.__file__).parent
    importers = []
    for source in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and node.level == 0
                else []
            )
            if any(name == "git" or name.startswith("git.") for name in names):
                importers.append(str(source.relative_to(package)))
    assert importers == []
