"""A real ``brainio-dvc migrate`` in a child process that SIGKILLs itself at a named point.

    python -m tests.integration.migrate_child POINT -- BRAINIO-DVC ARGUMENTS...

runs the command line (``brainio_dvc.cli.main``) with those arguments, in the environment it
inherits, and SIGKILLs itself at POINT:

``transfer:N``
    mid-transfer: at the first bytes written of download N + 1 (run it with ``--jobs 1``: then
    N objects are complete, and the next one is written but neither verified nor in a cache);
``step:NAME``
    as the migration's transaction reaches step NAME (``push``, ``catalog build``, ``commit``);
``git-commit``
    mid-commit: just after ``git commit`` wrote the commit in the run's worktree, before the
    branch is moved to it.

If the command finishes instead, the child exits with its code and prints ``survived``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
from pathlib import Path

from .children import _die, _KillAtStep

#: Real git; after a successful ``git commit`` it SIGKILLs its parent (this process, which ran it
#: without a shell in between) before that can go on.  Options before the subcommand are skipped.
_GIT_THAT_KILLS_AFTER_COMMIT = """#!/bin/sh
skip=0
subcommand=
for argument in "$@"; do
  if [ "$skip" = 1 ]; then skip=0; continue; fi
  case "$argument" in
    -C|-c|--git-dir|--work-tree|--namespace) skip=1 ;;
    -*) ;;
    *) subcommand=$argument; break ;;
  esac
done
"{real}" "$@"
status=$?
if [ "$subcommand" = commit ] && [ "$status" = 0 ]; then kill -9 "$PPID"; fi
exit $status
"""


def _put_git_that_kills_after_commit_on_path() -> None:
    real = shutil.which("git")
    if real is None:
        msg = "git is not on PATH"
        raise SystemExit(msg)
    directory = Path(os.environ["HOME"]) / ".migrate-child-bin"  # the test's own HOME
    directory.mkdir(exist_ok=True)
    wrapper = directory / "git"
    wrapper.write_text(_GIT_THAT_KILLS_AFTER_COMMIT.format(real=real), encoding="utf-8")
    wrapper.chmod(0o755)
    os.environ["PATH"] = f"{directory}{os.pathsep}{os.environ['PATH']}"


def _arm(point: str) -> contextlib.AbstractContextManager[None]:
    """Install the kill at ``point``; what it returns must stay entered while the command runs."""
    from brainio_dvc import progress

    kind, _, argument = point.partition(":")
    if kind == "transfer":
        started = {"downloads": 0}

        def kill(event: progress.ProgressEvent) -> None:
            if event.task != "download":
                return
            if event.done == 0:
                started["downloads"] += 1
            elif started["downloads"] > int(argument):
                _die()

        return progress.subscribe(kill)
    if kind == "step":
        transaction_logger = logging.getLogger("brainio_dvc.contribute.transaction")
        transaction_logger.setLevel(logging.INFO)
        transaction_logger.addHandler(_KillAtStep(argument))
    elif kind == "git-commit":
        _put_git_that_kills_after_commit_on_path()
    else:
        msg = f"unknown kill point {point!r}"
        raise SystemExit(msg)
    return contextlib.nullcontext()


def main(arguments: list[str]) -> None:
    point, separator, *rest = arguments
    if separator != "--":
        msg = "usage: migrate_child POINT -- ARGUMENTS..."
        raise SystemExit(msg)
    from brainio_dvc.cli import cli

    code = 0
    with _arm(point):
        try:
            cli.main(rest, prog_name="brainio-dvc", standalone_mode=False)
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    sys.stderr.write("survived\n")
    sys.exit(code)


if __name__ == "__main__":
    main(sys.argv[1:])
