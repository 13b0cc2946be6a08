"""Stimulus ZIPs checked at load and extracted on the first use of the stimulus paths.

A cold load checks the ZIP whole (md5, member names, local headers, sizes, CRC-32, every CSV
filename among the members) and leaves its extraction to the first use of the paths: whatever
reads them (an item, iteration, ``values()``, a selection or copy of the set, pickling) finds
the files there.  A bad ZIP still fails the load.
"""

from __future__ import annotations

import io
import json
import pickle
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import brainio_dvc
from brainio_dvc import config
from brainio_dvc.exceptions import ValidationError

from .conftest import ASSEMBLY, STIMULI, Registry
from .test_reliability import (
    ROOT,
    STIMULUS_DIR,
    STIMULUS_IDS,
    artifacts,
    files_under,
    finish,
    hidden_leftovers,
    start_child,
    stimuli_dir,
    track_new_bytes,
)

#: A fresh process loads cold, then uses the paths in every way BrainIO offers, reporting
#: whether the stimuli were extracted before each use and whether every path named a file.
USES = """
import json, pickle, sys
from pathlib import Path
import brainio_dvc
assembly = brainio_dvc.get_assembly(sys.argv[1], registry=sys.argv[2])
target = Path(sys.argv[3])
stimuli = assembly.attrs["stimulus_set"]
report = {"after_load": target.exists()}
selected = stimuli[stimuli["stimulus_id"] != "s0"]
copied = stimuli.copy()
report["after_selection_and_copy"] = target.exists()
use = sys.argv[4]
if use == "get_stimulus":
    paths = [selected.get_stimulus("s1")]
elif use == "iteration":
    paths = [copied.stimulus_paths[key] for key in copied.stimulus_paths]
elif use == "values":
    paths = list(stimuli.stimulus_paths.values())
elif use == "pickle":
    paths = list(pickle.loads(pickle.dumps(selected)).stimulus_paths.values())
report["files"] = [Path(path).is_file() for path in paths]
report["every_path"] = all(Path(path).is_file() for path in stimuli.stimulus_paths.values())
print(json.dumps(report))
"""


@pytest.mark.parametrize("use", ["get_stimulus", "iteration", "values", "pickle"])
def test_a_fresh_process_finds_every_stimulus_on_first_use(registry: Registry, use: str) -> None:
    target = stimuli_dir(artifacts(registry)["zip"])
    completed = subprocess.run([sys.executable, "-c", USES, ASSEMBLY, str(registry.root), str(target), use],
                               capture_output=True, text=True, check=True, cwd=ROOT)
    report = json.loads(completed.stdout.splitlines()[-1])
    assert report["after_load"] is False and report["after_selection_and_copy"] is False
    assert report["files"] and all(report["files"]) and report["every_path"]
    assert sorted(p.stem for p in target.iterdir()) == STIMULUS_IDS
    assert hidden_leftovers(config.home()) == []
    # A warm load after it: the stimuli are there, and nothing is checked or extracted again.
    stimuli = brainio_dvc.get_stimulus_set(STIMULI, registry=str(registry.root))
    assert all(Path(stimuli.get_stimulus(i)).read_bytes().startswith(b"\x89PNG") for i in STIMULUS_IDS)


def test_the_paths_of_a_loaded_set_are_those_of_a_warm_one(registry: Registry) -> None:
    cold = brainio_dvc.get_stimulus_set(STIMULI, registry=str(registry.root))
    target = stimuli_dir(artifacts(registry)["zip"])
    assert not target.exists()
    assert isinstance(cold.stimulus_paths, dict) and len(cold.stimulus_paths) == len(STIMULUS_IDS)
    assert target.is_dir()
    warm = brainio_dvc.get_stimulus_set(STIMULI, registry=str(registry.root))
    assert cold.stimulus_paths == warm.stimulus_paths == {i: target / f"{i}.png" for i in STIMULUS_IDS}
    assert pickle.loads(pickle.dumps(cold)).stimulus_paths == warm.stimulus_paths


def test_first_uses_in_two_processes_at_once_extract_once(registry: Registry, tmp_path: Path) -> None:
    """Two processes load cold and use the paths at the same moment: one extracts, the other
    waits for it, and both find every file (the children read each stimulus's first bytes)."""
    brainio_dvc.get_stimulus_set(STIMULI, registry=str(registry.root))  # cached, not extracted
    target = stimuli_dir(artifacts(registry)["zip"])
    assert not target.exists()
    children = [start_child("load", str(registry.root), ASSEMBLY, str(tmp_path / "barrier"), "2") for _ in range(2)]
    for child in children:
        code, report, stderr = finish(child)
        assert code == 0, stderr[-2000:]
        assert report["images"] == {i: b"\x89PNG\r\n\x1a\n".hex() for i in STIMULUS_IDS}
    assert sorted(p.stem for p in target.iterdir()) == STIMULUS_IDS
    assert hidden_leftovers(config.home()) == []


def test_a_process_killed_while_extracting_on_first_use_leaves_nothing_half_written(registry: Registry) -> None:
    expected = artifacts(registry)
    code, _, stderr = finish(start_child("die-at", "unzip", "1", str(registry.root), ASSEMBLY))
    assert code == -signal.SIGKILL, stderr[-2000:]
    target = stimuli_dir(expected["zip"])
    assert not target.exists()  # only the hidden temporary directory, which the next extraction removes
    assembly = brainio_dvc.get_assembly(ASSEMBLY, registry=str(registry.root))
    stimuli = assembly.attrs["stimulus_set"]
    assert all(Path(stimuli.get_stimulus(i)).read_bytes().startswith(b"\x89PNG") for i in STIMULUS_IDS)
    assert sorted(p.stem for p in target.iterdir()) == STIMULUS_IDS
    assert hidden_leftovers(config.home()) == []


def _stimuli_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for stimulus_id in STIMULUS_IDS:
            archive.writestr(f"{stimulus_id}.png", b"\x89PNG\r\n\x1a\n" + stimulus_id.encode() * 50)
    return buffer.getvalue()


def _wrong_crc() -> bytes:
    """One member's bytes changed after the ZIP was written: the central directory is intact."""
    data = bytearray(_stimuli_zip())
    at = data.index(b"s3s3s3")
    data[at:at + 2] = b"XX"
    return bytes(data)


def _truncated() -> bytes:
    data = _stimuli_zip()
    return data[: len(data) - 40]


def _claims_more_than_it_holds() -> bytes:
    """A deflated member whose central directory claims 256 bytes more than its data holds."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for stimulus_id in STIMULUS_IDS:
            archive.writestr(f"{stimulus_id}.png", b"\x89PNG" * 50, compress_type=zipfile.ZIP_DEFLATED)
    data = bytearray(buffer.getvalue())
    central = data.rindex(b"PK\x01\x02")
    size = int.from_bytes(data[central + 24:central + 28], "little")
    data[central + 24:central + 28] = (size + 256).to_bytes(4, "little")
    return bytes(data)


@pytest.mark.parametrize("damaged", [_wrong_crc, _truncated, _claims_more_than_it_holds],
                         ids=["wrong CRC", "truncated", "claims more than it holds"])
@pytest.mark.parametrize("load", ["get_assembly", "get_stimulus_set"])
def test_a_damaged_zip_fails_the_load_not_the_first_use(registry: Registry, damaged, load: str) -> None:
    track_new_bytes(registry, f"{STIMULUS_DIR}/{STIMULI}.zip", damaged())
    identifier = ASSEMBLY if load == "get_assembly" else STIMULI
    with pytest.raises(ValidationError) as raised:
        getattr(brainio_dvc, load)(identifier, registry=str(registry.root))
    message = str(raised.value)
    assert STIMULI in message and "a readable ZIP archive" in message, message
    assert files_under(config.home() / "stimuli") == [] and hidden_leftovers(config.home()) == []
    assert not (config.home() / "checks" / "stimulus-zips").exists() or files_under(
        config.home() / "checks" / "stimulus-zips") == []
