"""``python -m benchmarks --compare REV``: the noise rule, the order of runs, the baseline worktree.

Nothing here is timed: the rule is checked on given numbers, and the worktree and the sides'
import paths with a real git repository in a temporary directory and real child processes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.compare import (
    BASELINE,
    NOT_COMPARABLE,
    WORKING,
    Comparison,
    Metric,
    Run,
    Side,
    baseline_tree,
    check_side,
    order,
    samples_per_side,
    verdict,
    where,
    working_copy,
)
from benchmarks.data import FULL, QUICK
from benchmarks.harness import REPO
from tests.gitdvc import git


@pytest.fixture(autouse=True)
def _no_pause_before_probes(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests run probes for what they do, not for their time (see test_benchmark_harness)."""
    monkeypatch.setenv("BENCHMARK_SETTLE_SECONDS", "0")


@pytest.mark.parametrize(("baseline", "working", "expected"), [
    ([1.0, 1.1, 1.2], [1.3, 1.4, 1.5], "higher"),  # ratio 1.27, ranges apart
    ([1.0, 1.1, 1.2], [1.15, 1.4, 1.5], "within noise"),  # ratio 1.27, but the ranges overlap
    ([1.00, 1.01, 1.02], [1.03, 1.04, 1.05], "within noise"),  # ranges apart, but a ratio of 1.03
    ([1.3, 1.4, 1.5], [1.0, 1.1, 1.2], "lower"),
    ([1.3, 1.4, 1.5], [1.0, 1.1, 1.35], "within noise"),
    ([51.0], [66.0], "higher"),  # a count: one sample a side
    ([66.0], [66.0], "within noise"),
    ([0.0], [0.0], "within noise"),
    ([0.0], [1.0], "higher"),
    ([], [1.0], NOT_COMPARABLE),
    ([1.0], [], NOT_COMPARABLE),
])
def test_the_noise_rule(baseline: list[float], working: list[float], expected: str) -> None:
    assert verdict(baseline, working) == expected


def test_a_figure_with_an_error_is_not_comparable_and_has_no_medians() -> None:
    comparison = Comparison("warm get_stimulus_set", "s", [], [0.01, 0.02], 1.0, error="AttributeError: no lazy")
    found = comparison.as_json()
    assert found["verdict"] == NOT_COMPARABLE
    assert found["baseline_median"] is found["ratio"] is None
    assert found["error"] == "AttributeError: no lazy"
    assert found["slower_beyond_noise"] is False


def test_a_slower_figure_reports_its_medians_and_ratio() -> None:
    found = Comparison("cold get_assembly", "s", [2.0, 1.0, 3.0], [4.0, 5.0, 6.0], 2.5).as_json()
    assert (found["baseline_median"], found["working_median"], found["ratio"]) == (2.0, 5.0, 2.5)
    assert found["slower_beyond_noise"] is True


def test_five_samples_a_side_at_full_scale_three_with_quick() -> None:
    assert (samples_per_side(FULL), samples_per_side(QUICK)) == (5, 3)


def test_the_sides_alternate_which_goes_first() -> None:
    assert order(3) == [(BASELINE, 0), (WORKING, 0), (WORKING, 1), (BASELINE, 1), (BASELINE, 2), (WORKING, 2)]
    assert order(1) == [(BASELINE, 0), (WORKING, 0)]


@pytest.fixture
def old_repo(tmp_path: Path) -> tuple[Path, str]:
    """A repository whose one commit has a brainio_dvc without get_assembly, and a benchmarks package."""
    root = tmp_path / "old"
    (root / "brainio_dvc").mkdir(parents=True)
    (root / "brainio_dvc" / "__init__.py").write_text('"""An old brainio_dvc."""\n\nOLD = True\n')
    (root / "benchmarks").mkdir()
    (root / "benchmarks" / "__init__.py").write_text("")
    git(root, "init", "--quiet")
    git(root, "add", "-A")
    git(root, "commit", "--quiet", "-m", "old")
    return root, git(root, "rev-parse", "HEAD")


def _worktrees(repo: Path) -> list[str]:
    return [line.split(" ", 1)[1] for line in git(repo, "worktree", "list", "--porcelain").splitlines()
            if line.startswith("worktree ")]


def test_the_baseline_worktree_holds_only_the_package_and_is_removed_afterwards(old_repo: tuple[Path, str]) -> None:
    repo, commit = old_repo
    with baseline_tree("HEAD", repo) as (tree, found):
        assert found == commit
        assert str(tree) in _worktrees(repo)
        assert git(tree, "rev-parse", "HEAD") == commit
        assert (tree / "brainio_dvc" / "__init__.py").read_text().endswith("OLD = True\n")
        assert not (tree / "benchmarks").exists()  # the probes come from this tree
        assert list((tree / "brainio_dvc" / "__pycache__").glob("__init__.*.pyc"))
    assert not tree.exists()
    assert not tree.parent.exists()
    assert _worktrees(repo) == [str(repo)]


def test_the_baseline_worktree_is_removed_when_the_comparison_fails(old_repo: tuple[Path, str]) -> None:
    repo, _ = old_repo
    with pytest.raises(RuntimeError, match="probe failed"), baseline_tree("HEAD", repo) as (tree, _):
        msg = "probe failed"
        raise RuntimeError(msg)
    assert not tree.exists()
    assert _worktrees(repo) == [str(repo)]


def test_an_unknown_revision_is_named(old_repo: tuple[Path, str]) -> None:
    repo, _ = old_repo
    with pytest.raises(ValueError, match=r"'no-such-rev'.*found no such revision"), \
            baseline_tree("no-such-rev", repo):
        pass
    assert _worktrees(repo) == [str(repo)]


def test_a_revision_without_the_package_is_named_and_leaves_no_worktree(old_repo: tuple[Path, str]) -> None:
    repo, _ = old_repo
    git(repo, "rm", "--quiet", "-r", "brainio_dvc")
    git(repo, "commit", "--quiet", "-m", "no package")
    with pytest.raises(ValueError, match="expected a brainio_dvc package in commit"), baseline_tree("HEAD", repo):
        pass
    assert _worktrees(repo) == [str(repo)]


def test_each_side_imports_its_own_package_under_this_trees_probes(old_repo: tuple[Path, str], tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCHMARK_CWD", str(tmp_path))  # as benchmarks.registries.isolate sets it
    with baseline_tree("HEAD", old_repo[0]) as (tree, _):
        baseline = Side(BASELINE, "old", tree, (tree,))
        assert where(baseline) == (tree.resolve() / "brainio_dvc", REPO / "benchmarks")
        check_side(baseline)
        check_side(Side(WORKING, "this tree", REPO))
        with pytest.raises(RuntimeError, match="would import brainio_dvc from"):
            check_side(Side(BASELINE, "not on the path", tree))
    broken = tmp_path / "broken"
    (broken / "brainio_dvc").mkdir(parents=True)
    (broken / "brainio_dvc" / "__init__.py").write_text("raise ImportError('an old import error')\n")
    with pytest.raises(RuntimeError, match="cannot import brainio_dvc and benchmarks: ImportError: an old import"):
        check_side(Side(BASELINE, "broken", broken, (broken,)))


def test_the_working_side_imports_a_copy_of_this_trees_package_removed_afterwards(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCHMARK_CWD", str(tmp_path))
    with working_copy() as copy:
        sources = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "brainio_dvc").rglob("*")
                         if p.is_file() and "__pycache__" not in p.parts)
        copied = sorted(p.relative_to(copy).as_posix() for p in (copy / "brainio_dvc").rglob("*")
                        if p.is_file() and "__pycache__" not in p.parts)
        assert copied == sources
        assert (copy / "brainio_dvc" / "loading.py").read_bytes() == (REPO / "brainio_dvc" / "loading.py").read_bytes()
        assert list((copy / "brainio_dvc" / "__pycache__").glob("loading.*.pyc"))
        working = Side(WORKING, "this tree", copy, (copy,))
        assert where(working)[0] == copy.resolve() / "brainio_dvc"
        check_side(working)
    assert not copy.exists()


def test_a_probe_that_fails_against_the_baseline_makes_its_figures_not_comparable(
        old_repo: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCHMARK_CWD", str(tmp_path))
    with baseline_tree("HEAD", old_repo[0]) as (tree, _):
        run = Run({BASELINE: Side(BASELINE, "old", tree, (tree,)), WORKING: Side(WORKING, "this tree", REPO)},
                  QUICK, tmp_path)
        # import_library reads brainio_dvc.get_assembly, which the old package lacks.
        run.compare("import_library", [Metric("import brainio_dvc"),
                                       Metric("first access", "first_use_seconds")], {}, runs=2)
    assert [c.figure for c in run.comparisons] == ["import brainio_dvc", "first access"]
    for comparison in run.comparisons:
        assert comparison.verdict == NOT_COMPARABLE
        assert "AttributeError" in comparison.error
        assert comparison.baseline == []
        assert len(comparison.working) == 2


def test_the_compare_option_names_an_unknown_revision(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--compare", "no-such-rev", "--quick", "--only", "import",
         "--output", str(tmp_path / "compare.json")],
        cwd=REPO, capture_output=True, text=True, check=False)
    assert completed.returncode != 0
    assert "'no-such-rev': expected a commit of the repository" in completed.stderr
    assert not (tmp_path / "compare.json").exists()
