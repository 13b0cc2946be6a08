"""Real git and DVC commands for tests and benchmarks, and an empty registry made with them.

Importable without pytest: the benchmarks build their registries with these too.
"""

from __future__ import annotations

import os
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


def git_commands(trace: Path) -> list[str]:
    """The git subcommands that ran, in order, from a ``GIT_TRACE`` file (none if it is absent)."""
    if not trace.exists():
        return []
    marker = "trace: built-in: git "
    lines = trace.read_text().splitlines()
    return [line.split(marker, 1)[1].split()[0] for line in lines if marker in line]


def in_a_new_process(code: str, trace: Path | None = None, **settings: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with this process's environment, ``settings`` added
    (and ``GIT_TRACE=trace``, to see which git commands it runs); it must succeed."""
    env = {**os.environ, **settings, **({"GIT_TRACE": str(trace)} if trace is not None else {})}
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    if completed.returncode != 0:
        msg = f"the child failed ({completed.returncode}):\n{completed.stderr}"
        raise AssertionError(msg)
    return completed
