"""Child processes for the reliability tests, run as ``python -m tests.integration.children``.

Each child does one real load or packaging run in its own interpreter, with the environment
(BRAINIO_HOME, git and DVC config) it inherits from the test, and reports what it did as JSON
on stdout.  Crashes are made to land mid-operation deterministically: the child subscribes to
brainio_dvc's progress events or packaging step log records and SIGKILLs itself at the first
one of the kind asked for.

    load REGISTRY IDENTIFIER BARRIER_DIR PARTIES
        wait until PARTIES children reached the barrier, then load (cold) and report the
        downloads this process made, the loaded md5 and a checksum of the values
    die-at TASK MIN_DONE REGISTRY IDENTIFIER [DESCRIPTION]
        load, use the stimulus paths (which extracts the ZIP), and SIGKILL at the first
        progress event of TASK with done >= MIN_DONE
    package-die-at STEP REGISTRY IDENTIFIER VERSION
        package an assembly (make_assembly(VERSION)) and SIGKILL when packaging reaches STEP
        (a step name of brainio_dvc.contribute.transaction, or "write" for the netCDF write's progress)
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

_BARRIER_SECONDS = 120
#: How long a child holds on to its first download and unzip event, to widen the windows in
#: which another process could see a partial file or download the same object again.
_HOLD_SECONDS = 0.3


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class _Recorder(logging.Handler):
    """Keeps the messages of one logger at INFO and above."""

    def __init__(self, name: str) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []
        target = logging.getLogger(name)
        target.setLevel(logging.INFO)
        target.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _barrier(directory: Path, parties: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / str(os.getpid())).touch()
    deadline = time.monotonic() + _BARRIER_SECONDS
    while len(list(directory.iterdir())) < parties:
        if time.monotonic() > deadline:
            msg = "barrier timed out"
            raise SystemExit(msg)
        time.sleep(0.01)


def _load(registry: str, identifier: str, barrier: str, parties: str) -> dict[str, Any]:
    import numpy as np

    import brainio_dvc
    from brainio_dvc import progress

    downloads = _Recorder("brainio_dvc.store.cache")
    held: set[str] = set()
    started: list[str] = []

    def hold(event: progress.ProgressEvent) -> None:
        if event.task == "download" and event.done == 0:
            started.append(event.description)
        # Downloads are held as they start (their file is open and empty), extractions after
        # the first file (their directory is incomplete).
        first = {"download": 0, "unzip": 1}.get(event.task)
        if first is not None and event.done == first and event.task not in held:
            held.add(event.task)
            time.sleep(_HOLD_SECONDS)

    _barrier(Path(barrier), int(parties))
    with progress.subscribe(hold):
        assembly = brainio_dvc.get_assembly(identifier, registry=registry)
    stimuli = assembly.attrs["stimulus_set"]
    images = {str(i): Path(stimuli.get_stimulus(i)).read_bytes()[:8].hex() for i in stimuli["stimulus_id"]}
    return {
        "downloads": [m.removeprefix("downloading ") for m in downloads.messages if m.startswith("downloading ")],
        "download_events": started,
        "md5": assembly.attrs["md5"],
        "checksum": float(np.asarray(assembly.values, dtype=float).sum()),
        "images": images,
    }


def _die_at(task: str, min_done: str, registry: str, identifier: str, description: str = "") -> dict[str, Any]:
    import brainio_dvc
    from brainio_dvc import progress

    def kill(event: progress.ProgressEvent) -> None:
        # A load downloads its files side by side: DESCRIPTION picks whose progress kills.
        if event.task == task and event.done >= int(min_done) and description in ("", event.description):
            _die()

    with progress.subscribe(kill):
        assembly = brainio_dvc.get_assembly(identifier, registry=registry)
        len(assembly.attrs["stimulus_set"].stimulus_paths)  # first use: the ZIP is extracted now
    return {"survived": True}


class _KillAtStep(logging.Handler):
    def __init__(self, step: str) -> None:
        super().__init__(logging.INFO)
        self.step = step

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().endswith(f": {self.step}"):
            _die()


def _package_die_at(step: str, registry: str, identifier: str, version: str) -> dict[str, Any]:
    from brainio_dvc import progress
    from brainio_dvc.packaging import package_data_assembly

    from .conftest import CATALOG, STIMULI, make_assembly

    transaction_logger = logging.getLogger("brainio_dvc.contribute.transaction")
    transaction_logger.setLevel(logging.INFO)
    transaction_logger.addHandler(_KillAtStep(step))

    def kill(event: progress.ProgressEvent) -> None:
        if event.task == step:
            _die()

    with progress.subscribe(kill):
        package_data_assembly(CATALOG, make_assembly(int(version)), identifier, STIMULI, registry=registry)
    return {"survived": True}


_COMMANDS = {"load": _load, "die-at": _die_at, "package-die-at": _package_die_at}


def main(arguments: list[str]) -> None:
    command, *rest = arguments
    result = _COMMANDS[command](*rest)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
