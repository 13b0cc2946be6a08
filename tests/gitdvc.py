"""Real git and DVC commands for tests and benchmarks, and an empty registry made with them.

Importable without pytest: the benchmarks build their registries with these too.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_DVC = Path(sys.executable).with_name("dvc")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def dvc(cwd: Path, *args: str) -> str:
    return subprocess.run([str(_DVC), *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def init_registry(root: Path, storage: str) -> Path:
    """An empty registry; ``storage`` is the remote URL as given to `dvc remote add` in ``root``."""
    root.mkdir(parents=True)
    git(root, "init", "--quiet")
    dvc(root, "init", "--quiet")
    dvc(root, "config", "core.analytics", "false")
    dvc(root, "remote", "add", "--default", "storage", storage)
    (root / "catalogs").mkdir()
    (root / "catalogs" / ".gitkeep").touch()
    git(root, "add", "-A")
    git(root, "commit", "--quiet", "-m", "Empty registry")
    return root
