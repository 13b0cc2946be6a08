"""Cold loads: S3 remotes read with boto3 directly, files fetched side by side, ZIPs extracted
while the netCDF file is read, and every failure still a failure of the load."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import brainio_dvc
from brainio_dvc import config, progress
from brainio_dvc.exceptions import IntegrityError, RemoteError, UnsafeArchiveError
from brainio_dvc.fetch import data_cache
from brainio_dvc.store.remote_spec import object_path

from .conftest import ASSEMBLY, STIMULI, Registry, dvc, make_assembly
from .test_reliability import (  # noqa: F401 - fixtures
    STIMULUS_DIR,
    _s3_template,
    _stimulus_zip,
    artifacts,
    files_under,
    hidden_leftovers,
    s3_registry,
    track_new_bytes,
)
from .test_s3 import S3Registry

PROBE = """
import json, sys
import brainio_dvc
assembly = brainio_dvc.get_assembly(sys.argv[1], registry=sys.argv[2])
heavy = sorted(name for name in ("dvc", "s3fs", "aiobotocore", "git", "filelock") if name in sys.modules)
print(json.dumps({"heavy": heavy, "sum": float(assembly.sum()), "stimuli": len(assembly.attrs["stimulus_set"])}))
"""


@pytest.mark.s3
def test_a_cold_s3_load_reads_the_remote_with_boto3_alone(s3_registry: S3Registry) -> None:
    """No DVC repository is opened and neither s3fs, aiobotocore nor GitPython is imported: the
    bucket is read with boto3, from the remote's options in .dvc/config and .dvc/config.local."""
    completed = subprocess.run([sys.executable, "-c", PROBE, ASSEMBLY, str(s3_registry.root)],
                               capture_output=True, text=True, check=True)
    result = json.loads(completed.stdout.splitlines()[-1])
    assert result["heavy"] == []  # nor GitPython: the registry's files are read with git cat-file
    assert result["sum"] == pytest.approx(float(make_assembly(1).sum()), rel=1e-5)
    assert result["stimuli"] == 6


CLIENTS = """
import json, sys
import boto3.session
made = []
original = boto3.session.Session.client
def client(self, *args, **kwargs):
    made.append(args[0] if args else kwargs.get("service_name"))
    return original(self, *args, **kwargs)
boto3.session.Session.client = client
import brainio_dvc
assembly = brainio_dvc.get_assembly(sys.argv[1], registry=sys.argv[2])
print(json.dumps({"clients": made}))
"""


@pytest.mark.s3
def test_a_cold_s3_load_makes_one_client_for_its_three_downloads(s3_registry: S3Registry) -> None:
    """The three downloads run side by side and share the remote's one boto3 client (each
    costs a session and its service model): a spy on boto3, the S3 server is real."""
    completed = subprocess.run([sys.executable, "-c", CLIENTS, ASSEMBLY, str(s3_registry.root)],
                               capture_output=True, text=True, check=True)
    assert json.loads(completed.stdout.splitlines()[-1])["clients"] == ["s3"]


def test_a_cold_load_from_a_local_remote_imports_neither_dvc_nor_filelock(registry: Registry) -> None:
    completed = subprocess.run([sys.executable, "-c", PROBE, ASSEMBLY, str(registry.root)],
                               capture_output=True, text=True, check=True)
    result = json.loads(completed.stdout.splitlines()[-1])
    assert result["heavy"] == []
    assert result["stimuli"] == 6


@pytest.mark.s3
def test_an_s3_remote_with_wrong_credentials_is_a_clear_error(s3_registry: S3Registry) -> None:
    dvc(s3_registry.root, "remote", "modify", "--local", "storage", "secret_access_key", "wrong")
    with pytest.raises(RemoteError) as raised:
        brainio_dvc.get_assembly(ASSEMBLY, registry=str(s3_registry.root))
    assert "refused the credentials" in str(raised.value) and "storage" in str(raised.value)
    assert hidden_leftovers(config.home()) == []


@pytest.mark.s3
def test_an_object_missing_from_an_s3_remote_is_named(s3_registry: S3Registry) -> None:
    md5 = artifacts_of(s3_registry)["nc"]
    s3_registry.server.client().delete_object(Bucket=s3_registry.bucket, Key=f"store/files/md5/{md5[:2]}/{md5[2:]}")
    with pytest.raises(RemoteError) as raised:
        brainio_dvc.get_assembly(ASSEMBLY, registry=str(s3_registry.root))
    assert "missing from the remote" in str(raised.value) and ASSEMBLY in str(raised.value)


def artifacts_of(registry: S3Registry) -> dict[str, str]:
    from brainio_dvc.lookup import lookup_assembly

    return {"nc": str(lookup_assembly(ASSEMBLY, registry=str(registry.root))["md5"])}


def test_a_cold_load_downloads_its_three_files_and_reports_each(registry: Registry) -> None:
    """The files come side by side, in threads that report to the caller's subscribers."""
    events: list[progress.ProgressEvent] = []
    with progress.subscribe(events.append):
        assembly = brainio_dvc.get_assembly(ASSEMBLY, registry=str(registry.root))
    finished = {event.description for event in events if event.task == "download" and event.finished}
    assert finished == {ASSEMBLY, STIMULI}
    assert sum(1 for e in events if e.task == "download" and e.finished and e.description == STIMULI) == 2
    for path in assembly.attrs["stimulus_set"].stimulus_paths.values():
        assert Path(path).is_file()
    expected = artifacts(registry)
    for key in ("assembly", "csv", "zip"):
        assert data_cache().lookup("md5", expected[key]) is not None


@pytest.mark.parametrize("entry", [zipfile.ZipInfo("../escaped.png")], ids=["parent"])
def test_a_bad_zip_fails_the_assembly_load_not_a_later_use(registry: Registry, entry: zipfile.ZipInfo) -> None:
    """The ZIP is extracted while the netCDF is read; its failure is still the load's."""
    track_new_bytes(registry, f"{STIMULUS_DIR}/{STIMULI}.zip", _stimulus_zip(entry))
    with pytest.raises(UnsafeArchiveError) as raised:
        brainio_dvc.get_assembly(ASSEMBLY, registry=str(registry.root))
    assert STIMULI in str(raised.value) and repr(entry.filename) in str(raised.value)
    assert files_under(config.home() / "stimuli") == [] and hidden_leftovers(config.home()) == []


def _damage_on_the_remote(registry: Registry, md5: str, damage: Callable[[bytes], bytes]) -> None:
    """Replace the bytes of the object ``md5`` in the registry's local-directory remote by ``damage(bytes)``."""
    stored = registry.storage / object_path(md5)
    stored.chmod(0o644)
    stored.write_bytes(damage(stored.read_bytes()))


def test_a_download_whose_bytes_do_not_match_is_refused_while_others_complete(registry: Registry) -> None:
    """A corrupt object on the remote fails the load, names the object, and leaves the cache
    with only verified files (the other downloads, side by side, complete)."""
    expected = artifacts(registry)
    _damage_on_the_remote(registry, expected["csv"], lambda data: data + b"tampered\n")
    with pytest.raises(IntegrityError) as raised:
        brainio_dvc.get_assembly(ASSEMBLY, registry=str(registry.root))
    assert expected["csv"] in str(raised.value)
    assert data_cache().lookup("md5", expected["csv"]) is None
    assert data_cache().lookup("md5", expected["assembly"]) is not None
    assert hidden_leftovers(config.home()) == []


def test_a_failed_download_waits_for_the_extraction_it_started(registry: Registry) -> None:
    """The ZIP is extracted as soon as it is there; when the netCDF download then fails, the
    error is raised once that extraction is over: no thread is left running, nothing half-done."""
    expected = artifacts(registry)
    _damage_on_the_remote(registry, expected["assembly"], lambda data: data + b"tampered\n")
    with pytest.raises(IntegrityError):
        brainio_dvc.get_assembly(ASSEMBLY, registry=str(registry.root))
    assert [thread for thread in threading.enumerate() if thread.name == "brainio-dvc"] == []
    assert hidden_leftovers(config.home()) == []
    assert data_cache().lookup("md5", expected["zip"]) is not None


def test_a_netcdf_copy_damaged_in_the_middle_fails_the_load_as_corrupt_not_as_unreadable(registry: Registry) -> None:
    """A netCDF object damaged on the remote fails the load as a hash mismatch naming the file,
    before anything parses it, and nothing of it is kept."""
    expected = artifacts(registry)
    def overwrite_first_half(data: bytes) -> bytes:  # the header and half the chunks: unreadable
        return b"\xff" * (len(data) // 2) + data[len(data) // 2:]

    _damage_on_the_remote(registry, expected["assembly"], overwrite_first_half)
    with pytest.raises(IntegrityError) as raised:
        brainio_dvc.get_assembly(ASSEMBLY, registry=str(registry.root))
    assert expected["assembly"] in str(raised.value)
    target = data_cache().path_for("md5", expected["assembly"])
    assert not target.exists() and not target.with_name(target.name + ".state").exists()
    assert hidden_leftovers(config.home()) == []
    assert [thread for thread in threading.enumerate() if thread.name == "brainio-dvc"] == []


def test_warm_loads_give_the_cold_load_values(registry: Registry) -> None:
    cold = brainio_dvc.get_assembly(ASSEMBLY, registry=str(registry.root))
    warm = brainio_dvc.get_assembly(ASSEMBLY, registry=str(registry.root))
    np.testing.assert_array_equal(cold.values, warm.values)
    assert list(cold["category"].values) == list(warm["category"].values)


def _bytes_read() -> int:
    """Bytes this process has read through system calls so far (Linux)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    msg = "no rchar in /proc/self/io"
    raise AssertionError(msg)


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux's /proc/self/io")
def test_a_lazy_assembly_reads_only_the_chunks_a_selection_needs(registry: Registry, tmp_path: Path) -> None:
    pytest.importorskip("dask")
    from brainio_dvc.assemblies import NeuronRecordingAssembly
    from brainio_dvc.packaging import package_data_assembly

    rng = np.random.default_rng(0)
    big = NeuronRecordingAssembly(
        rng.normal(size=(6 * 400, 256, 1)).astype(np.float32), dims=["presentation", "neuroid", "time_bin"],
        coords={"stimulus_id": ("presentation", [f"s{n % 6}" for n in range(2400)]),
                "repetition": ("presentation", np.arange(2400) // 6),
                "neuroid_id": ("neuroid", [f"n{n}" for n in range(256)]),
                "region": ("neuroid", ["IT"] * 64 + ["V4"] * 192),
                "time_bin_start": ("time_bin", [70]), "time_bin_end": ("time_bin", [170])},
    )
    result = package_data_assembly("lab", big, "lab.Tester2024.big", STIMULI, registry=registry.root)
    eager = brainio_dvc.get_assembly("lab.Tester2024.big", rev=result["branch"], registry=str(registry.root))
    lazy = brainio_dvc.get_assembly("lab.Tester2024.big", rev=result["branch"], registry=str(registry.root), lazy=True)
    assert lazy.chunks is not None
    before = _bytes_read()
    it = lazy.sel(region="IT").load()
    selected = _bytes_read() - before
    before = _bytes_read()
    whole = lazy.load()
    everything = _bytes_read() - before
    np.testing.assert_array_equal(it.values, eager.sel(region="IT").values)
    np.testing.assert_array_equal(whole.values, eager.values)
    assert selected < everything / 2  # a quarter of the neuroids: about a quarter of the chunks
