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
import signal
import sys


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class _KillAtStep(logging.Handler):
    def __init__(self, step: str) -> None:
        super().__init__(logging.INFO)
        self.step = step

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().endswith(f": {self.step}"):
            _die()


def _arm(point: str) -> contextlib.AbstractContextManager[None]:
    """Install the kill at ``point``; what it returns must stay entered while the command runs."""
    from brainio_dvc.store import progress
    from brainio_dvc.store.git import Git

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
        real_run = Git.run

        def git_then_die(self: Git, *args: str, stdin: str | None = None) -> str:
            output = real_run(self, *args, stdin=stdin)
            if args[:1] == ("commit",):
                _die()
            return output

        Git.run = git_then_die  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown kill point {point!r}")
    return contextlib.nullcontext()


def main(arguments: list[str]) -> None:
    point, separator, *rest = arguments
    if separator != "--":
        raise SystemExit("usage: migrate_child POINT -- ARGUMENTS...")
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
