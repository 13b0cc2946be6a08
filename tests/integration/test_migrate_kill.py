"""A ``brainio-dvc migrate`` SIGKILLed mid-transfer or mid-commit leaves nothing that looks
migrated, and running it again finishes the migration.

The child is the real command line in its own interpreter (:mod:`.migrate_child`), against the
SeaweedFS source of :mod:`.test_migrate`, with real git and DVC.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import brainio_dvc
from brainio_dvc.config import home
from brainio_dvc.store.cache import DataCache

from ..gitdvc import git, init_registry
from .test_migrate import (  # noqa: F401 - fixtures, used by name
    ALPHA_RATES,
    FOLDER,
    Source,
    assembly_values,
    endpoint,
    input_rows,
    migrate,
    outcomes,
    run_cli,
    source,
    write_manifest,
)

pytestmark = pytest.mark.s3

REPOSITORY = Path(__file__).resolve().parents[2]
#: The valid entries of test_migrate's input: two stimulus sets (CSV + ZIP), three assemblies.
VALID = 7
JOURNAL = ".git/brainio-dvc-package.journal"


def run_killed_child(point: str, *arguments: str) -> tuple[int, str]:
    completed = subprocess.run(
        [sys.executable, "-m", "tests.integration.migrate_child", point, "--", *arguments],
        cwd=REPOSITORY, capture_output=True, text=True, env=dict(os.environ), timeout=300,
    )
    return completed.returncode, completed.stderr


def state(root: Path) -> dict[str, object]:
    """What a user of the registry sees: branches, HEAD, the working tree, what main lists."""
    return {
        "branches": git(root, "branch", "--list", "--format=%(refname:short)"),
        "head": git(root, "rev-parse", "HEAD"),
        "status": git(root, "status", "--porcelain"),
        "assemblies": sorted(brainio_dvc.list_assemblies(registry=str(root))),
    }


def worktrees(root: Path) -> list[str]:
    listing = git(root, "worktree", "list", "--porcelain")
    return [line.removeprefix("worktree ") for line in listing.splitlines() if line.startswith("worktree ")]


def sha1_objects() -> set[str]:
    return {digest for algorithm, digest in DataCache(home() / "cache").entries() if algorithm == "sha1"}


@pytest.mark.parametrize(("mode", "point"), [
    ("copy", "transfer:2"),  # two objects downloaded and verified, the third half written
    ("copy", "step:catalog build"),  # everything pushed, the .dvc files written, no commit
    ("copy", "git-commit"),  # the commit made in the run's worktree, the branch not moved yet
    ("reference", "git-commit"),
])
def test_a_killed_migration_leaves_nothing_migrated_and_a_rerun_finishes(
    source: Source, tmp_path: Path, mode: str, point: str, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    root = init_registry(tmp_path / "registry", "../storage")
    rows = input_rows(source)[:VALID]
    manifest = write_manifest(tmp_path / "brainscore.csv", rows)
    before = state(root)

    code, stderr = run_killed_child(point, "--registry", str(root), "migrate", str(manifest), f"--{mode}",
                                    "--jobs", "1")
    assert code == -signal.SIGKILL, stderr[-3000:]

    # Nothing looks migrated: no branch, HEAD, working tree and catalog as they were.
    assert state(root) == before
    assert len(worktrees(root)) == 2  # the killed run's worktree, on no branch
    code, _ = run_cli("--registry", str(root), "--rev", "migrate/brainscore", "list")
    assert code != 0
    if point == "transfer:2":
        # The two finished downloads are in the data cache (verified) and, hard-linked, in the
        # DVC cache; the one in flight is a temporary file, in neither.
        finished = {row["sha1"] for row in rows[:2]}
        assert sha1_objects() == finished
        dvc_objects = sorted((root / ".dvc" / "cache" / "files" / "md5").glob("*/*"))
        assert len(dvc_objects) == 2
        cached = [DataCache(home() / "cache").path_for("sha1", sha1) for sha1 in finished]
        assert all(any(os.path.samefile(obj, path) for path in cached) for obj in dvc_objects)
        # The temporary's name is what the cache's stale-temporary cleanup keys on: the thing under test.
        assert list((home() / "cache" / "files" / "sha1").glob("*/.*.tmp"))
    if mode == "copy" and point != "transfer:2":
        assert (root / JOURNAL).exists()  # the killed run's pushes, for gc to keep and the next run to report
    if mode == "copy" and point == "step:catalog build":
        # Pushed in batches as downloads finished: the journal lists every batch's objects.
        journaled = {md5 for run in json.loads((root / JOURNAL).read_text())["runs"] for md5 in run["pushed"]}
        pushed = {path.parent.name + path.name for path in (tmp_path / "storage" / "files" / "md5").glob("*/*")}
        assert pushed and journaled == pushed

    # Running it again cleans up, reuses finished downloads and finishes.
    caplog.set_level(logging.INFO, logger="brainio_dvc.store.cache")
    code, report = migrate(root, manifest, f"--{mode}", "--jobs", "2")
    assert code == 0, report
    assert [entry["status"] for entry in report["entries"]] == ["migrated"] * VALID
    downloads = [r.getMessage() for r in caplog.records if r.getMessage().startswith("downloading ")]
    if mode == "copy":  # (the two stimulus sets' ZIPs have the same bytes: one download)
        expected = {row["sha1"] for row in rows} - {row["sha1"] for row in rows[:2]} if point == "transfer:2" else set()
        assert len(downloads) == len(expected)
    assert worktrees(root) == [str(root)]
    assert not (root / JOURNAL).exists()
    assert git(root, "branch", "--list", "migrate/*") == "migrate/brainscore"

    git(root, "merge", "--quiet", "--ff-only", "migrate/brainscore")
    code, output = run_cli("--registry", str(root), "--json", "catalog", "check", "--remote")
    assert code == 0, output
    if mode == "copy":  # the registry stands alone: no S3, an empty data cache
        monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        monkeypatch.setenv("BRAINIO_HOME", str(tmp_path / "fresh-home"))
    rates = brainio_dvc.get_assembly(ALPHA_RATES, registry=str(root))
    np.testing.assert_array_equal(rates.values, assembly_values(source.one(f"{FOLDER}/assy_lab_Alpha2024_rates.nc")))
    assert outcomes(report)[(ALPHA_RATES, "nc")]["path"].endswith(f"{ALPHA_RATES}.nc")
