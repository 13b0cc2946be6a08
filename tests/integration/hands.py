"""Child processes for :mod:`tests.integration.test_reliability_transfers`:
``python -m tests.integration.hands``.

Each child inherits the test's environment (BRAINIO_HOME, git and DVC config), does its work
in its own interpreter and reports JSON on stdout (the last line).

    package-stimuli ROOT IDENTIFIER BARRIER PARTIES
        wait for PARTIES children at the barrier, then package a stimulus set IDENTIFIER
        (its own review branch) into the registry at ROOT
    catalog-build ROOT BARRIER PARTIES
        wait at the barrier, then regenerate ROOT's catalogs
    die-at-bytes MIN_DONE REGISTRY IDENTIFIER
        load an assembly and SIGKILL at the first download progress event with done >= MIN_DONE
    soak SEED COUNT REGISTRY EXPECTED_JSON LOG
        COUNT loads of random (identifier, rev) pairs of EXPECTED_JSON, each checked against
        it; every finished load is appended to LOG as a JSON line (with its start and end times)
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

_BARRIER_SECONDS = 120


def _barrier(directory: str, parties: str) -> None:
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    (path / str(os.getpid())).touch()
    deadline = time.monotonic() + _BARRIER_SECONDS
    while len(list(path.iterdir())) < int(parties):
        if time.monotonic() > deadline:
            msg = "barrier timed out"
            raise SystemExit(msg)
        time.sleep(0.01)


def _package_stimuli(root: str, identifier: str, barrier: str, parties: str) -> dict[str, Any]:
    from brainio_dvc.packaging import package_stimulus_set

    from .conftest import CATALOG, make_stimulus_set

    stimuli = make_stimulus_set(Path(root).parent / f"images-{identifier}-{os.getpid()}")
    stimuli.identifier = identifier
    _barrier(barrier, parties)
    result = package_stimulus_set(CATALOG, stimuli, identifier, registry=root)
    return {"branch": result["branch"], "commit": result["commit"], "md5": result["md5"], "zip_md5": result["zip_md5"]}


def _catalog_build(root: str, barrier: str, parties: str) -> dict[str, Any]:
    from brainio_dvc.contribute.catalog_build import write_catalogs

    _barrier(barrier, parties)
    written = write_catalogs(Path(root))
    return {"written": sorted(written)}


def _die_at_bytes(min_done: str, registry: str, identifier: str) -> dict[str, Any]:
    import brainio_dvc
    from brainio_dvc import progress

    def kill(event: progress.ProgressEvent) -> None:
        if event.task == "download" and event.done >= int(min_done):
            os.kill(os.getpid(), signal.SIGKILL)

    with progress.subscribe(kill):
        brainio_dvc.get_assembly(identifier, registry=registry)
    return {"survived": True}


def _checksum(values: Any) -> str:
    import numpy as np

    return hashlib.md5(np.ascontiguousarray(np.asarray(values, dtype=np.float64)).tobytes()).hexdigest()


def soak_load(kind: str, identifier: str, rev: str, registry: str) -> dict[str, Any]:
    """One load, and what identifies its result: the md5 attr, a checksum of the values (or of
    the stimulus ids), and the first bytes of every stimulus file."""
    import brainio_dvc

    if kind == "assembly":
        loaded = brainio_dvc.get_assembly(identifier, rev=rev, registry=registry)
        stimuli = loaded.attrs["stimulus_set"]
        checksum = _checksum(loaded.values)
    else:
        stimuli = loaded = brainio_dvc.get_stimulus_set(identifier, rev=rev, registry=registry)
        checksum = hashlib.md5(",".join(map(str, stimuli["stimulus_id"])).encode()).hexdigest()
    images = {str(i): Path(stimuli.get_stimulus(i)).read_bytes() for i in stimuli["stimulus_id"]}
    return {
        "md5": loaded.attrs["md5"],
        "checksum": checksum,
        "images": hashlib.md5(b"".join(images[key] for key in sorted(images))).hexdigest(),
    }


def _soak(seed: str, count: str, registry: str, expected_json: str, log: str) -> dict[str, Any]:
    expected = json.loads(Path(expected_json).read_text())
    choices = sorted(expected)
    generator = random.Random(int(seed))
    done = 0
    with open(log, "a", encoding="utf-8") as out:
        for _ in range(int(count)):
            key = generator.choice(choices)
            kind, identifier, rev = key.split("|")
            started = time.time_ns()
            try:
                found: dict[str, Any] = soak_load(kind, identifier, rev, registry)
                outcome = "ok" if found == expected[key] else "wrong"
            except Exception as error:  # noqa: BLE001 - a failed load is reported, not fatal
                found = {"error": f"{type(error).__name__}: {error}"[:500]}
                outcome = "error"
            out.write(json.dumps({"pid": os.getpid(), "key": key, "outcome": outcome, "found": found,
                                  "started": started, "ended": time.time_ns()}) + "\n")
            out.flush()
            done += 1
    return {"done": done}


_COMMANDS = {
    "package-stimuli": _package_stimuli,
    "catalog-build": _catalog_build,
    "die-at-bytes": _die_at_bytes,
    "soak": _soak,
}


def main(arguments: list[str]) -> None:
    command, *rest = arguments
    result = _COMMANDS[command](*rest)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
