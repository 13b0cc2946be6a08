"""Reliability against real git, DVC and SeaweedFS: concurrency, crashes, corruption, remotes.

Children run in their own interpreters (:mod:`tests.integration.children`) with this test's
environment, so they share its BRAINIO_HOME.  Crashes are SIGKILLs that a child sends itself at
a progress event or packaging step, so they land mid-operation every time.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np
import pytest

import brainio_dvc
import brainio_dvc.exceptions
import brainio_dvc.packaging
from brainio_dvc import config
from brainio_dvc.exceptions import RemoteError
from brainio_dvc.fetch import data_cache
from brainio_dvc.lookup import lookup_assembly, lookup_stimulus_set

from .conftest import (
    ASSEMBLY,
    CATALOG,
    STIMULI,
    Registry,
    dvc,
    git,
    make_assembly,
    template_environment,
)

ROOT = Path(__file__).resolve().parents[2]
CHILD_SECONDS = 120
STIMULUS_IDS = [f"s{n}" for n in range(6)]


# --- helpers ----------------------------------------------------------------------------------


def start_child(*arguments: str) -> subprocess.Popen[str]:
    """``python -m tests.integration.children ARGUMENTS`` with this test's environment.

    Its output goes to files, so that a chatty child never blocks on a full pipe.
    """
    stdout, stderr = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.children", *arguments],
        cwd=ROOT, stdout=stdout, stderr=stderr, text=True,
    )
    child.outputs = (stdout, stderr)  # type: ignore[attr-defined]
    return child


def finish(child: subprocess.Popen[str]) -> tuple[int, dict, str]:
    """The child's exit code, its JSON report (empty if it died) and its stderr."""
    child.wait(timeout=CHILD_SECONDS)
    stdout, stderr = (_read_and_close(stream) for stream in child.outputs)  # type: ignore[attr-defined]
    report = json.loads(stdout.splitlines()[-1]) if stdout.strip() else {}
    return child.returncode, report, stderr


def _read_and_close(stream: IO[str]) -> str:
    with stream:
        stream.seek(0)
        return stream.read()


def run_child(*arguments: str) -> tuple[int, dict, str]:
    return finish(start_child(*arguments))


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def artifacts(registry: Registry) -> dict[str, str]:
    """The md5 of each file that loading the assembly fetches, by its role."""
    csv_row, zip_row = lookup_stimulus_set(STIMULI, registry=str(registry.root))
    return {
        "assembly": lookup_assembly(ASSEMBLY, registry=str(registry.root))["md5"],
        "csv": csv_row["md5"],
        "zip": zip_row["md5"],
    }


def stimuli_dir(digest: str) -> Path:
    return config.home() / "stimuli" / digest


def hidden_leftovers(directory: Path) -> list[str]:
    """Temporary files and directories (hidden names) under ``directory``, lock files aside."""
    if not directory.exists():
        return []
    return sorted(str(p.relative_to(directory)) for p in directory.rglob(".*") if not p.name.endswith(".lock"))


def check_complete_or_absent(registry_artifacts: dict[str, str]) -> None:
    """What another process could see right now: every object whole, every extraction complete."""
    cache = data_cache()
    for digest in registry_artifacts.values():
        path = cache.path_for("md5", digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        assert hashlib.md5(data).hexdigest() == digest, f"partial or wrong file at {path}"
    extracted = stimuli_dir(registry_artifacts["zip"])
    if extracted.exists():
        assert sorted(p.stem for p in extracted.iterdir()) == STIMULUS_IDS, "incomplete extraction"


# --- 1. concurrency ---------------------------------------------------------------------------


def test_eight_processes_load_one_identifier_downloading_each_object_once(registry: Registry, tmp_path: Path) -> None:
    """From the registry's URL: they also race to make the one persistent clone."""
    expected = artifacts(registry)
    children = [start_child("load", registry.url, ASSEMBLY, str(tmp_path / "barrier"), "8") for _ in range(8)]
    # While they run, anything that exists under a final name must be complete.
    deadline = time.monotonic() + CHILD_SECONDS
    while any(child.poll() is None for child in children) and time.monotonic() < deadline:
        check_complete_or_absent(expected)
        time.sleep(0.005)
    results = [finish(child) for child in children]
    assert [code for code, _, _ in results] == [0] * 8, [stderr[-2000:] for _, _, stderr in results]
    reports = [report for _, report, _ in results]
    downloads = Counter(description for report in reports for description in report["downloads"])
    assert len(downloads) == 3 and set(downloads.values()) == {1}, downloads
    # The remote saw one transfer of each: the assembly, and the stimulus set's CSV and ZIP.
    assert Counter(d for report in reports for d in report["download_events"]) == {ASSEMBLY: 1, STIMULI: 2}
    reference = make_assembly(2)
    for report in reports:
        assert report["md5"] == expected["assembly"]
        assert report["checksum"] == pytest.approx(float(np.asarray(reference.values, dtype=float).sum()), rel=1e-6)
        assert sorted(report["images"]) == STIMULUS_IDS
        assert all(header == b"\x89PNG\r\n\x1a\n".hex() for header in report["images"].values())
    check_complete_or_absent(expected)
    assert hidden_leftovers(config.home()) == []


@pytest.mark.s3
def test_eight_processes_load_one_identifier_from_s3(s3_registry, tmp_path: Path) -> None:
    """Through DVC's remote filesystem (DvcRemote): no DVC repository lock gets in the way."""
    children = [start_child("load", str(s3_registry.root), ASSEMBLY, str(tmp_path / "barrier"), "8") for _ in range(8)]
    results = [finish(child) for child in children]
    assert [code for code, _, _ in results] == [0] * 8, [stderr[-2000:] for _, _, stderr in results]
    downloads = Counter(description for _, report, _ in results for description in report["downloads"])
    assert len(downloads) == 3 and set(downloads.values()) == {1}, downloads
    reference = float(np.asarray(make_assembly(1).values, dtype=float).sum())
    assert [report["checksum"] for _, report, _ in results] == [pytest.approx(reference, rel=1e-6)] * 8


# --- 2. crash safety --------------------------------------------------------------------------


def test_a_download_killed_midway_leaves_nothing_complete_and_the_next_load_finishes(registry: Registry) -> None:
    expected = artifacts(registry)
    code, _, stderr = run_child("die-at", "download", "0", str(registry.root), ASSEMBLY, ASSEMBLY)
    assert code == -signal.SIGKILL, stderr[-2000:]
    target = data_cache().path_for("md5", expected["assembly"])
    assert not target.exists()
    assert [name for name in os.listdir(target.parent) if name.endswith(".tmp")], "the kill did not land mid-download"
    assembly = brainio_dvc.get_assembly(ASSEMBLY, registry=str(registry.root))
    assert md5_of(target) == expected["assembly"] == assembly.attrs["md5"]
    np.testing.assert_allclose(assembly.values, make_assembly(2).values)
    assert hidden_leftovers(config.home()) == []


def test_an_unzip_killed_midway_leaves_nothing_complete_and_the_next_load_finishes(registry: Registry) -> None:
    expected = artifacts(registry)
    code, _, stderr = run_child("die-at", "unzip", "1", str(registry.root), ASSEMBLY)
    assert code == -signal.SIGKILL, stderr[-2000:]
    target = stimuli_dir(expected["zip"])
    assert not target.exists()
    partial = [p for p in target.parent.iterdir() if p.name.startswith(f".{target.name}.") and p.name.endswith(".tmp")]
    assert len(partial) == 1 and 0 < len(list(partial[0].iterdir())) < 6, "the kill did not land mid-extraction"
    stimuli = brainio_dvc.get_stimulus_set(STIMULI, registry=str(registry.root))
    assert all(Path(stimuli.get_stimulus(i)).read_bytes().startswith(b"\x89PNG") for i in STIMULUS_IDS)
    assert sorted(p.stem for p in target.iterdir()) == STIMULUS_IDS
    assert hidden_leftovers(config.home()) == []


def registry_state(registry: Registry) -> dict[str, object]:
    """What packaging may change in the user's registry: tree, index, refs, worktrees, remote."""
    root = registry.root
    return {
        "status": git(root, "status", "--porcelain", "--untracked-files=all"),
        "refs": git(root, "for-each-ref", "--format=%(refname) %(objectname)"),
        "head": git(root, "rev-parse", "HEAD"),
        "worktrees": worktrees(registry),
        "remote": remote_objects(registry),
    }


def worktrees(registry: Registry) -> list[str]:
    listing = git(registry.root, "worktree", "list", "--porcelain")
    return [line.removeprefix("worktree ") for line in listing.splitlines() if line.startswith("worktree ")]


def remote_objects(registry: Registry) -> set[str]:
    files = registry.storage / "files" / "md5"
    return {p.parent.name + p.name for p in files.glob("*/*")}


CRASHED = "lab.Tester2024.crash"


@pytest.mark.parametrize("step", ["write", "push", "commit"])
def test_packaging_killed_at_a_step_leaves_the_registry_clean_for_the_next_run(registry: Registry, step: str) -> None:
    before = registry_state(registry)
    code, _, stderr = run_child("package-die-at", step, str(registry.root), CRASHED, "3")
    assert code == -signal.SIGKILL, stderr[-2000:]
    # Killed: no branch; the user's tree, index and HEAD untouched; its worktree still there.
    after_kill = registry_state(registry)
    keys = ("status", "refs", "head")
    assert tuple(after_kill[key] for key in keys) == tuple(before[key] for key in keys)
    stale = [tree for tree in after_kill["worktrees"] if tree not in before["worktrees"]]
    assert len(stale) == 1
    journal = registry.root / ".git" / "brainio-dvc-package.journal"
    if step == "commit":  # the kill landed after the push: an object nobody references
        assert after_kill["remote"] - before["remote"] and journal.exists()
    pushed_by_killed_run = after_kill["remote"] - before["remote"]
    # The next run cleans up first, then succeeds.
    result = brainio_dvc.packaging.package_data_assembly(
        CATALOG, make_assembly(4), CRASHED, STIMULI, registry=registry.root
    )
    after = registry_state(registry)
    assert after["worktrees"] == before["worktrees"] and not Path(stale[0]).parent.exists()
    # Objects are never deleted by packaging (the same version was pushed again).
    assert after["remote"] == before["remote"] | pushed_by_killed_run | {result["md5"]}
    assert (after["status"], after["head"]) == (before["status"], before["head"])
    assert git(registry.root, "branch", "--list", "package/*") == f"package/{STIMULI}"
    assert not journal.exists()
    loaded = brainio_dvc.get_assembly(CRASHED, rev=result["branch"], registry=str(registry.root))
    np.testing.assert_allclose(loaded.values, make_assembly(4).values)


# --- 3. corruption ----------------------------------------------------------------------------


def _same_size_new_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 16] = b"\xff" * 16
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def _replace_with_a_corrupt_copy_keeping_mtime(path: Path) -> None:
    """A new inode with the same size and mtime: only the inode (and ctime) betray it."""
    status = path.stat()
    copy = path.with_name("corrupt-copy")
    copy.write_bytes(b"\x00" * status.st_size)
    os.utime(copy, ns=(status.st_atime_ns, status.st_mtime_ns))
    os.replace(copy, path)


def _rewrite_in_place_keeping_mtime(path: Path) -> None:
    """The same inode, size and mtime: only the ctime betrays it."""
    status = path.stat()
    with open(path, "r+b") as stream:
        stream.seek(status.st_size // 2)
        stream.write(b"\xa5" * 16)
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))


CORRUPTIONS = {
    "bytes": _same_size_new_bytes,
    "size": _truncate,
    "inode": _replace_with_a_corrupt_copy_keeping_mtime,
    "in place, mtime kept": _rewrite_in_place_keeping_mtime,
}


def corrupt(path: Path, how) -> None:
    path.chmod(0o644)
    how(path)


@pytest.mark.parametrize("how", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_a_corrupted_cached_assembly_is_fetched_again_never_loaded(registry: Registry, how) -> None:
    expected = artifacts(registry)
    brainio_dvc.get_assembly(ASSEMBLY, registry=str(registry.root))
    cached = data_cache().path_for("md5", expected["assembly"])
    corrupt(cached, how)
    assert md5_of(cached) != expected["assembly"]
    assembly = brainio_dvc.get_assembly(ASSEMBLY, registry=str(registry.root))
    np.testing.assert_allclose(assembly.values, make_assembly(2).values)
    assert md5_of(cached) == expected["assembly"]


def test_a_corrupted_cached_stimulus_csv_is_fetched_again(registry: Registry) -> None:
    expected = artifacts(registry)
    brainio_dvc.get_stimulus_set(STIMULI, registry=str(registry.root))
    cached = data_cache().path_for("md5", expected["csv"])
    corrupt(cached, lambda path: path.write_text("stimulus_id,filename\ns0,s0.png\n" + "#" * 200))
    stimuli = brainio_dvc.get_stimulus_set(STIMULI, registry=str(registry.root))
    assert sorted(stimuli["stimulus_id"]) == STIMULUS_IDS
    assert md5_of(cached) == expected["csv"]


def _rot_silently(path: Path) -> None:
    """Bit rot: different bytes, while everything the cache checks on load looks unchanged."""
    from brainio_dvc.store.cache import FileState

    corrupt(path, _same_size_new_bytes)
    # The cache's state record is the thing under test: rot that it cannot see is forged there.
    state = path.with_name(path.name + ".state")
    state.write_text(json.dumps(FileState.of(path).__dict__))


def test_verify_finds_and_repairs_what_loading_trusts(registry: Registry) -> None:
    from click.testing import CliRunner

    from brainio_dvc.cli import cli

    expected = artifacts(registry)
    brainio_dvc.get_assembly(ASSEMBLY, registry=str(registry.root)).attrs["stimulus_set"].get_stimulus("s0")
    cached = data_cache().path_for("md5", expected["assembly"])
    _rot_silently(cached)
    image = stimuli_dir(expected["zip"]) / "s3.png"
    image.write_bytes(image.read_bytes()[:-1] + b"\x00")
    runner = CliRunner()
    by_identifier = runner.invoke(cli, ["--registry", str(registry.root), "--json", "verify", ASSEMBLY])
    assert by_identifier.exit_code == 1
    assert [(r["kind"], r["digest"], r["status"]) for r in json.loads(by_identifier.output)] == [
        ("file", expected["assembly"], "corrupt (removed)")]
    everything = runner.invoke(cli, ["--json", "verify"])
    assert everything.exit_code == 1, everything.output
    statuses = {(r["kind"], r["digest"]): r["status"] for r in json.loads(everything.output)}
    assert statuses == {
        ("file", expected["csv"]): "ok",
        ("file", expected["zip"]): "ok",
        ("stimuli", expected["zip"]): "corrupt (removed)",
    }
    assert not cached.exists() and not stimuli_dir(expected["zip"]).exists()
    # Repaired: the next load fetches and extracts again, and verify is happy.
    assembly = brainio_dvc.get_assembly(ASSEMBLY, registry=str(registry.root))
    np.testing.assert_allclose(assembly.values, make_assembly(2).values)
    assert assembly.attrs["stimulus_set"].get_stimulus("s3") == image  # its first use extracts again
    assert image.read_bytes().startswith(b"\x89PNG") and md5_of(cached) == expected["assembly"]
    assert runner.invoke(cli, ["verify"]).exit_code == 0
    assert hidden_leftovers(config.home()) == []


# --- 4. remote trouble ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def _s3_template(tmp_path_factory: pytest.TempPathFactory, seaweed):
    """One S3 registry per module (building one pushes and commits twice: seconds)."""
    from .test_s3 import build_s3_registry

    base = tmp_path_factory.mktemp("s3-template")
    with template_environment(base):
        return build_s3_registry(base, seaweed)


@pytest.fixture
def s3_registry(_s3_template, tmp_path: Path):
    """A private copy of the module's S3 registry (its remote, the bucket, is shared)."""
    from dataclasses import replace

    root = tmp_path / "copy" / "registry"
    shutil.copytree(_s3_template.root, root, symlinks=True)
    return replace(_s3_template, root=root)


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung server or a black hole)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield listener.getsockname()[1]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def point_remote_at(root: Path, endpoint: str, *settings: tuple[str, str]) -> None:
    dvc(root, "remote", "modify", "--local", "storage", "endpointurl", endpoint)
    for name, value in settings:
        dvc(root, "remote", "modify", "--local", "storage", name, value)


def assert_clear_remote_error(error: RemoteError, root: Path, why: str) -> None:
    message = str(error)
    assert str(root) in message and "storage" in message and ASSEMBLY in message, message
    assert why in message and "\n" not in message, message


@pytest.mark.s3
def test_a_remote_that_is_down_is_a_clear_error_within_seconds(s3_registry) -> None:
    for endpoint in (f"http://127.0.0.1:{closed_port()}", "http://registry.nonexistent.invalid:8333"):
        point_remote_at(s3_registry.root, endpoint)
        started = time.monotonic()
        with pytest.raises(RemoteError) as raised:
            brainio_dvc.get_assembly(ASSEMBLY, registry=str(s3_registry.root))
        assert time.monotonic() - started < 20, endpoint
        assert_clear_remote_error(raised.value, s3_registry.root, "unreachable")
    assert list(data_cache().entries()) == [] and hidden_leftovers(config.home()) == []


@pytest.mark.s3
def test_a_remote_that_never_answers_fails_after_a_few_read_timeouts(s3_registry) -> None:
    """The remote's read_timeout applies, and retries are few (before: 5 x 5 attempts).

    Loading, and the pull-request check of the remote, both end with a clear error.
    """
    from click.testing import CliRunner

    from brainio_dvc.cli import cli

    with silent_server() as port:
        point_remote_at(s3_registry.root, f"http://127.0.0.1:{port}", ("read_timeout", "1"))
        started = time.monotonic()
        with pytest.raises(RemoteError) as raised:
            brainio_dvc.get_assembly(ASSEMBLY, registry=str(s3_registry.root))
        loading = time.monotonic() - started
        started = time.monotonic()
        check = CliRunner().invoke(cli, ["--registry", str(s3_registry.root), "catalog", "check", "--remote"])
        checking = time.monotonic() - started
    assert loading < 20 and checking < 20, f"{loading:.0f} s, {checking:.0f} s"
    assert_clear_remote_error(raised.value, s3_registry.root, "unreachable")
    assert check.exit_code == 1 and "unreachable" in check.output, check.output


@pytest.mark.s3
@pytest.mark.slow
def test_a_remote_that_never_answers_fails_within_a_minute_by_default(s3_registry) -> None:
    with silent_server() as port:
        point_remote_at(s3_registry.root, f"http://127.0.0.1:{port}")
        started = time.monotonic()
        with pytest.raises(RemoteError) as raised:
            brainio_dvc.get_assembly(ASSEMBLY, registry=str(s3_registry.root))
        elapsed = time.monotonic() - started
    assert elapsed < 60, f"{elapsed:.0f} s"
    assert_clear_remote_error(raised.value, s3_registry.root, "unreachable")


@pytest.mark.s3
def test_a_warm_cache_loads_with_the_s3_server_gone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ..seaweed import ADMIN_KEY, ADMIN_SECRET, SeaweedServer
    from .test_s3 import build_s3_registry

    server = SeaweedServer(tmp_path / "own-seaweedfs").start()
    try:
        s3 = build_s3_registry(tmp_path, server)
        with monkeypatch.context() as credentials:
            credentials.setenv("AWS_ACCESS_KEY_ID", ADMIN_KEY)
            credentials.setenv("AWS_SECRET_ACCESS_KEY", ADMIN_SECRET)
            cold = brainio_dvc.get_assembly(ASSEMBLY, registry=s3.url)
    finally:
        server.process.kill()  # the server is gone, not shut down politely
        server.process.wait()
    warm = brainio_dvc.get_assembly(ASSEMBLY, registry=s3.url)
    np.testing.assert_array_equal(cold.values, warm.values)
    # A new process too, with the registry's origin gone as well.
    shutil.rmtree(s3.root)
    code, report, stderr = run_child("load", s3.url, ASSEMBLY, str(tmp_path / "barrier"), "1")
    assert code == 0, stderr[-2000:]
    assert report["downloads"] == [] and report["md5"] == cold.attrs["md5"]


# --- 5. bad input, end to end -----------------------------------------------------------------
# (Unit tests cover each check; these go through loading, packaging and the CLI on real
# registries, and check that nothing was written.)


def files_under(directory: Path) -> list[str]:
    """Every file under ``directory``, lock files aside."""
    if not directory.exists():
        return []
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file() and p.suffix != ".lock")


def data_written() -> list[str]:
    """Files in the data cache and the extracted stimuli (lock files aside)."""
    return files_under(config.home() / "cache") + files_under(config.home() / "stimuli")


def two_variable_netcdf(path: Path) -> Path:
    """A netCDF file with two data variables, as xarray writes a Dataset."""
    import xarray as xr

    values = np.arange(12, dtype=float).reshape(6, 2)
    coords = {"stimulus_id": ("presentation", STIMULUS_IDS), "neuroid_id": ("neuroid", ["n0", "n1"])}
    dims = ("presentation", "neuroid")
    xr.Dataset({"rates": (dims, values), "spikes": (dims, values * 2)}, coords=coords).to_netcdf(path)
    return path


def commit_all(registry: Registry, message: str) -> None:
    git(registry.root, "add", "-A")
    git(registry.root, "commit", "--quiet", "-m", message)


def edit_catalog(registry: Registry, edit) -> None:
    """Commit a hand-edited catalogs/lab/lookup.csv (what a careless or hostile commit does)."""
    lookup = registry.root / "catalogs" / CATALOG / "lookup.csv"
    lookup.write_text(edit(lookup.read_text()))
    commit_all(registry, "Edit the catalog by hand")


def track_new_bytes(registry: Registry, relative: str, data: bytes) -> None:
    """Replace a tracked file through real DVC: add (meta kept), push, rebuild the catalog, commit."""
    from dvc.repo import Repo

    from brainio_dvc.contribute.catalog_build import write_catalogs
    from brainio_dvc.formats.dvcmeta import parse_dvc_file, with_meta

    path = registry.root / relative
    dvc_file = Path(f"{path}.dvc")
    meta = parse_dvc_file(dvc_file.read_text(), f"{relative}.dvc")
    path.write_bytes(data)
    with Repo(str(registry.root)) as repo:
        repo.add([str(path)])
        meta["sha1"] = hashlib.sha1(data).hexdigest()
        dvc_file.write_text(with_meta(dvc_file.read_text(), meta))
        repo.push()
    write_catalogs(registry.root)
    commit_all(registry, f"New bytes for {relative}")


STIMULUS_DIR = f"registry/{CATALOG}/stimulus_sets/{STIMULI}"


def test_a_malformed_catalog_is_refused_naming_file_and_line(registry: Registry) -> None:
    from brainio_dvc.exceptions import CatalogFormatError

    edit_catalog(registry, lambda text: text.replace("NeuronRecordingAssembly,", "NeuronRecordingAssembly,extra,", 1))
    lookup = (registry.root / "catalogs" / CATALOG / "lookup.csv").read_text().splitlines()
    line = next(number for number, text in enumerate(lookup, start=1) if ",extra," in text)
    with pytest.raises(CatalogFormatError) as raised:
        brainio_dvc.get_assembly(ASSEMBLY, registry=str(registry.root))
    assert raised.value.line == line
    message = str(raised.value)
    assert f"catalogs/{CATALOG}/lookup.csv, line {line}" in message and "expected 9 fields" in message, message
    assert data_written() == []


def test_a_catalog_digest_can_never_name_a_file_outside_the_cache(registry: Registry, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    md5 = lookup_assembly(ASSEMBLY, registry=str(registry.root))["md5"]
    edit_catalog(registry, lambda text: text.replace(md5, f"../{victim}"))
    with pytest.raises(brainio_dvc.exceptions.ValidationError) as raised:
        brainio_dvc.get_assembly(ASSEMBLY, registry=str(registry.root))
    assert "32 hex digits" in str(raised.value) and str(victim) in str(raised.value)
    assert victim.read_text() == "precious" and sorted(os.listdir(tmp_path)) == sorted(["victim.txt", "copy"])
    assert data_written() == []


def test_an_unknown_class_in_a_catalog_is_refused_before_anything_is_fetched(registry: Registry) -> None:
    from brainio_dvc.exceptions import UnknownClassError

    edit_catalog(registry, lambda text: text.replace("NeuronRecordingAssembly", "os.system"))
    with pytest.raises(UnknownClassError) as raised:
        brainio_dvc.get_assembly(ASSEMBLY, registry=str(registry.root))
    assert "'os.system'" in str(raised.value) and "NeuronRecordingAssembly" in str(raised.value)
    assert data_written() == []


def _stimulus_zip(extra: zipfile.ZipInfo) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for stimulus_id in STIMULUS_IDS:
            archive.writestr(f"{stimulus_id}.png", b"\x89PNG\r\n\x1a\n")
        archive.writestr(extra, b"/etc/passwd")
    return buffer.getvalue()


def _symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize(("entry", "reason"), [
    (zipfile.ZipInfo("../escaped.png"), "'..'"),
    (_symlink("s6.png"), "symbolic link"),
], ids=["parent", "symlink"])
def test_a_stimulus_zip_that_escapes_is_refused_and_nothing_is_extracted(
    registry: Registry, entry, reason: str
) -> None:
    from brainio_dvc.exceptions import UnsafeArchiveError

    track_new_bytes(registry, f"{STIMULUS_DIR}/{STIMULI}.zip", _stimulus_zip(entry))
    with pytest.raises(UnsafeArchiveError) as raised:
        brainio_dvc.get_stimulus_set(STIMULI, registry=str(registry.root))
    message = str(raised.value)
    zip_md5 = artifacts(registry)["zip"]
    assert str(data_cache().path_for("md5", zip_md5)) in message
    assert repr(entry.filename) in message and reason in message
    assert files_under(config.home() / "stimuli") == [] and hidden_leftovers(config.home()) == []
    assert not (config.home() / "escaped.png").exists() and not (config.home() / "stimuli" / "escaped.png").exists()


CSV_HEADER = "stimulus_id,category,size_deg,filename\n"
BAD_STIMULUS_CSVS = {
    "no filename column": ("stimulus_id,category\ns0,a\ns1,b\n", "no column 'filename'"),
    "no stimulus_id column": ("category,filename\na,s0.png\n", "no column 'stimulus_id'"),
    "duplicate ids": (CSV_HEADER + "s0,a,0,s0.png\ns0,b,1,s1.png\n", "repeated ids 1: 's0'"),
    "filename outside": (CSV_HEADER + "s0,a,0,../../../../etc/passwd\n", "unsafe file names"),
    "absolute filename": (CSV_HEADER + "s0,a,0,/etc/passwd\n", "an absolute path"),
}


@pytest.mark.parametrize(("text", "finding"), BAD_STIMULUS_CSVS.values(), ids=BAD_STIMULUS_CSVS.keys())
def test_a_bad_stimulus_csv_in_a_registry_is_refused_naming_the_file(
    registry: Registry, text: str, finding: str
) -> None:
    track_new_bytes(registry, f"{STIMULUS_DIR}/{STIMULI}.csv", text.encode())
    with pytest.raises(brainio_dvc.exceptions.ValidationError) as raised:
        brainio_dvc.get_stimulus_set(STIMULI, registry=str(registry.root))
    cached_csv = data_cache().path_for("md5", artifacts(registry)["csv"])
    message = str(raised.value)
    assert str(cached_csv) in message and finding in message, message
    # The message also says what was being loaded, from where.
    assert f"stimulus set {STIMULI!r}" in message and str(registry.root) in message, message


def test_an_assembly_file_with_two_data_variables_is_refused_naming_it(registry: Registry, tmp_path: Path) -> None:
    data = two_variable_netcdf(tmp_path / "two.nc").read_bytes()
    track_new_bytes(registry, f"registry/{CATALOG}/assemblies/{ASSEMBLY}/{ASSEMBLY}.nc", data)
    with pytest.raises(brainio_dvc.exceptions.ValidationError) as raised:
        brainio_dvc.get_assembly(ASSEMBLY, registry=str(registry.root))
    message = str(raised.value)
    assert str(data_cache().path_for("md5", artifacts(registry)["assembly"])) in message
    assert "exactly one data variable" in message and "2 data variables: rates, spikes" in message


# The CLI and the Python API refuse bad packaging input, naming it, and change nothing.


def _write_stimuli(directory: Path, csv_text: str) -> tuple[Path, Path]:
    from .conftest import make_stimulus_set

    make_stimulus_set(directory / "images", count=4)
    csv_path = directory / "stimuli.csv"
    csv_path.write_text(csv_text)
    return csv_path, directory / "images"


def _good_netcdf(directory: Path) -> Path:
    from brainio_dvc.formats.netcdf import write_netcdf

    assembly = make_assembly(5)
    assembly.attrs.update(identifier="lab.Tester2024.new", stimulus_set_identifier=STIMULI)
    write_netcdf(assembly, directory / "good.nc")
    return directory / "good.nc"


GOOD_CSV = CSV_HEADER + "".join(f"s{n},a,{n},s{n}.png\n" for n in range(4))
BAD_PACKAGING = {
    "csv without stimulus_id": (
        lambda d: ["stimulus-set", *map(str, _write_stimuli(d, "filename\ns0.png\n")), "--identifier", "lab.Bad2024"],
        ["stimuli.csv", "no column 'stimulus_id'"]),
    "duplicate stimulus ids": (
        lambda d: ["stimulus-set", *map(str, _write_stimuli(d, CSV_HEADER + "s0,a,0,s0.png\ns0,b,1,s1.png\n")),
                   "--identifier", "lab.Bad2024"],
        ["stimuli.csv", "repeated ids"]),
    "listed stimulus missing": (
        lambda d: ["stimulus-set", *map(str, _write_stimuli(d, GOOD_CSV + "s9,b,9,s9.png\n")),
                   "--identifier", "lab.Bad2024"],
        ["s9.png", "every stimulus file to exist"]),
    "csv naming a file outside": (
        lambda d: ["stimulus-set", *map(str, _write_stimuli(d, CSV_HEADER + "s0,a,0,../../secret.png\n")),
                   "--identifier", "lab.Bad2024"],
        ["stimuli.csv", "'../../secret.png'"]),
    "identifier with ..": (
        lambda d: ["stimulus-set", *map(str, _write_stimuli(d, GOOD_CSV)), "--identifier", "../../lab.Bad2024"],
        ["'../../lab.Bad2024'", "without '/', '\\' or NUL"]),
    "absolute identifier": (
        lambda d: ["stimulus-set", *map(str, _write_stimuli(d, GOOD_CSV)), "--identifier", "/tmp/lab.Bad2024"],
        ["'/tmp/lab.Bad2024'"]),
    "identifier unsafe as a directory name": (
        lambda d: ["stimulus-set", *map(str, _write_stimuli(d, GOOD_CSV)), "--identifier", "lab.Bad2024."],
        ["'lab.Bad2024.'", "not ending with '.'"]),
    "catalog with ..": (
        lambda d: ["stimulus-set", *map(str, _write_stimuli(d, GOOD_CSV)), "--identifier", "lab.Bad2024",
                   "--catalog", "../lab"],
        ["catalog identifier '../lab'"]),
    "netCDF with two data variables": (
        lambda d: ["assembly", str(two_variable_netcdf(d / "two.nc")), "--identifier", "lab.Tester2024.two",
                   "--stimulus-set", STIMULI],
        ["two.nc", "2 data variables: rates, spikes"]),
    "unknown class": (
        lambda d: ["assembly", str(_good_netcdf(d)), "--identifier", "lab.Tester2024.new", "--stimulus-set", STIMULI,
                   "--class", "os.system"],
        ["'os.system'", "NeuronRecordingAssembly"]),
}


@pytest.mark.parametrize(("arguments", "findings"), BAD_PACKAGING.values(), ids=BAD_PACKAGING.keys())
def test_bad_packaging_input_is_refused_by_the_cli_and_changes_nothing(
    registry: Registry, tmp_path: Path, arguments, findings: list[str]
) -> None:
    from click.testing import CliRunner

    from brainio_dvc.cli import cli

    command = arguments(tmp_path)
    if "--catalog" not in command:
        command += ["--catalog", CATALOG]
    before = registry_state(registry)
    result = CliRunner().invoke(cli, ["--registry", str(registry.root), "package", *command])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
    for finding in findings:
        assert finding in result.output, result.output
    assert registry_state(registry) == before


def test_a_nul_in_an_identifier_is_refused_and_changes_nothing(registry: Registry, tmp_path: Path) -> None:
    from brainio_dvc.exceptions import PackagingError

    from .conftest import make_stimulus_set

    before = registry_state(registry)
    with pytest.raises(PackagingError, match="NUL") as raised:
        brainio_dvc.packaging.package_stimulus_set(
            CATALOG, make_stimulus_set(tmp_path / "s", count=2), "lab.Nul2024\x00x", registry=registry.root)
    assert raised.value.step == "validate"
    assert registry_state(registry) == before


def test_a_rev_that_does_not_exist_is_a_clear_cli_error(registry: Registry) -> None:
    from click.testing import CliRunner

    from brainio_dvc.cli import cli

    result = CliRunner().invoke(cli, ["--registry", str(registry.root), "--rev", "v999", "show", ASSEMBLY])
    assert result.exit_code == 1
    assert "'v999' not found" in result.output and str(registry.root) in result.output
    assert data_written() == []
