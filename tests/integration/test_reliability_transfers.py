"""Reliability of transfers: bounded pushes, resumable large transfers, no silent loss, many
hands at once, and a soak of loads with SIGKILLs and corruption alongside.

S3 tests go through a real SeaweedFS server, some of them through :mod:`tests.integration.faults`,
a proxy that answers with errors or hangs.  Children (:mod:`tests.integration.hands`) run in
interpreters of their own with this test's environment and are killed with real SIGKILLs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import brainio_dvc
from brainio_dvc import config, progress
from brainio_dvc.exceptions import PackagingError, RemoteError
from brainio_dvc.fetch import data_cache
from brainio_dvc.lookup import lookup_assembly
from brainio_dvc.packaging import package_data_assembly

from .conftest import ASSEMBLY, CATALOG, STIMULI, Registry, dvc, git, make_assembly
from .faults import FaultProxy
from .test_reliability import (  # noqa: F401 - fixtures
    CHILD_SECONDS,
    _s3_template,
    finish,
    hidden_leftovers,
    md5_of,
    run_child,
    s3_registry,
    start_child,
)

#: Generous bounds, so that a loaded machine never fails them; what matters is that they are
#: bounded at all (DVC's defaults retry a hung upload for many minutes).
PUSH_BOUND_SECONDS = 60


# --- S3 registries ------------------------------------------------------------------------------


# The module's S3 registry and private copies of it: test_reliability's fixtures.


def point_remote_at(root: Path, endpoint: str, *settings: tuple[str, str]) -> None:
    dvc(root, "remote", "modify", "--local", "storage", "endpointurl", endpoint)
    for name, value in settings:
        dvc(root, "remote", "modify", "--local", "storage", name, value)


def _object_puts(method: str, path: str) -> bool:
    return method == "PUT" and "/files/md5/" in path


def _branches(root: Path) -> str:
    return git(root, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads")


# --- 1. bounded pushes ----------------------------------------------------------------------------

PUSHED = "lab.Tester2024.pushed"


@pytest.mark.s3
def test_a_push_to_a_remote_that_hangs_fails_within_bounded_time_naming_registry_remote_and_identifier(
    s3_registry,
) -> None:
    """Uploads that are never answered: DVC's own defaults retried them for many minutes."""
    before = _branches(s3_registry.root)
    with FaultProxy(s3_registry.server.endpoint, lambda m, p, n: "hang" if _object_puts(m, p) else None) as proxy:
        point_remote_at(s3_registry.root, proxy.endpoint, ("read_timeout", "2"))
        started = time.monotonic()
        with pytest.raises(PackagingError) as raised:
            package_data_assembly(CATALOG, make_assembly(7), PUSHED, STIMULI, registry=s3_registry.root)
        elapsed = time.monotonic() - started
    assert elapsed < PUSH_BOUND_SECONDS, f"{elapsed:.0f} s"
    assert any(_object_puts(m, p) for m, p, _ in proxy.log), "the push never reached the proxy"
    error = raised.value
    assert error.step == "push" and isinstance(error.cause, RemoteError), repr(error.cause)
    message = str(error)
    assert str(s3_registry.root) in message and "'storage" in message and repr(PUSHED) in message, message
    assert "pushing" in message and "unreachable" in message, message
    assert _branches(s3_registry.root) == before


def _transient(method: str, path: str, attempt: int):
    """Each upload of an object fails twice: first 500 InternalError, then 503 SlowDown."""
    if not _object_puts(method, path):
        return None
    return {1: ("error", 500, "InternalError"), 2: ("error", 503, "SlowDown")}.get(attempt)


@pytest.mark.s3
def test_transient_errors_during_a_push_are_retried_and_the_push_succeeds(s3_registry) -> None:
    with FaultProxy(s3_registry.server.endpoint, _transient) as proxy:
        point_remote_at(s3_registry.root, proxy.endpoint)
        result = package_data_assembly(CATALOG, make_assembly(8), PUSHED, STIMULI, registry=s3_registry.root)
    uploads = {key: count for key, count in proxy.attempts.items() if _object_puts(*key)}
    assert uploads and all(count == 3 for count in uploads.values()), proxy.log
    point_remote_at(s3_registry.root, s3_registry.server.endpoint)
    loaded = brainio_dvc.get_assembly(PUSHED, rev=result["branch"], registry=str(s3_registry.root))
    np.testing.assert_allclose(loaded.values, make_assembly(8).values)


def _internal_errors(failures: int):
    def policy(method: str, path: str, attempt: int):
        return ("error", 500, "InternalError") if _object_puts(method, path) and attempt <= failures else None

    return policy


@pytest.mark.s3
@pytest.mark.parametrize(("max_attempts", "failures", "succeeds", "version"), [
    (None, 1, True, 11),    # the default: two attempts
    (None, 2, False, 12),   # ... and no more: the push fails, bounded
    ("1", 1, False, 13),    # AWS_MAX_ATTEMPTS=1: no retry at all
    ("4", 3, True, 14),     # AWS_MAX_ATTEMPTS=4: three retries
], ids=["default-retries", "default-bound", "max-attempts-1", "max-attempts-4"])
def test_push_retries_follow_aws_max_attempts(
    s3_registry, monkeypatch: pytest.MonkeyPatch, max_attempts: str | None, failures: int, succeeds: bool,
    version: int,
) -> None:
    """Versions differ so that every case uploads an object the shared bucket does not have."""
    if max_attempts:
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", max_attempts)
    before = _branches(s3_registry.root)
    with FaultProxy(s3_registry.server.endpoint, _internal_errors(failures)) as proxy:
        point_remote_at(s3_registry.root, proxy.endpoint)
        try:
            package_data_assembly(CATALOG, make_assembly(version), PUSHED, STIMULI, registry=s3_registry.root)
        except PackagingError as error:
            failed: PackagingError | None = error
        else:
            failed = None
    uploads = {key: count for key, count in proxy.attempts.items() if _object_puts(*key)}
    assert uploads, proxy.log
    if succeeds:
        assert failed is None, str(failed)
        assert all(count == failures + 1 for count in uploads.values()), uploads
    else:
        assert failed is not None and failed.step == "push" and isinstance(failed.cause, RemoteError)
        assert "InternalError" in str(failed) and str(s3_registry.root) in str(failed), str(failed)
        assert all(count == int(max_attempts or 2) for count in uploads.values()), uploads
        assert _branches(s3_registry.root) == before


# --- 2. resumable large transfers -------------------------------------------------------------

LARGE = "lab.Tester2024.large"


def large_assembly(megabytes: int):
    """An assembly of about ``megabytes`` MB of incompressible values (a long time_bin axis)."""
    from brainio_dvc.assemblies import NeuronRecordingAssembly

    bins = megabytes * (1 << 20) // (4 * 12 * 3)
    values = np.random.default_rng(megabytes).random((12, 3, bins), dtype=np.float32)
    return NeuronRecordingAssembly(
        values,
        coords={
            "stimulus_id": ("presentation", [f"s{n}" for n in range(6)] * 2),
            "repetition": ("presentation", [0] * 6 + [1] * 6),
            "neuroid_id": ("neuroid", ["n0", "n1", "n2"]),
            "region": ("neuroid", ["IT", "IT", "V4"]),
            "time_bin_start": ("time_bin", np.arange(bins, dtype=np.int32)),
            "time_bin_end": ("time_bin", np.arange(1, bins + 1, dtype=np.int32)),
        },
        dims=["presentation", "neuroid", "time_bin"],
    )


def _package_large(root: Path, megabytes: int) -> tuple[dict, np.ndarray]:
    assembly = large_assembly(megabytes)
    result = package_data_assembly(CATALOG, assembly, LARGE, STIMULI, registry=root)
    git(root, "merge", "--quiet", "--ff-only", result["branch"])
    return result, assembly.values


@contextlib.contextmanager
def _messages(*names: str) -> Iterator[list[str]]:
    """The messages these loggers log at INFO and above within the block."""
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    handler, loggers = Keep(logging.INFO), [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        yield records
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


def _kill_halfway_then_resume(registry: str, md5: str, size: int) -> tuple[int, list[str]]:
    """A child loads and is SIGKILLed halfway through the download; returns the partial size
    and the messages of the load that resumes it (in this process)."""
    code, _, stderr = run_child_hands("die-at-bytes", str(size // 2), registry, LARGE)
    assert code == -signal.SIGKILL, stderr[-2000:]
    target = data_cache().path_for("md5", md5)
    partial = data_cache().partial_path(target)
    assert not target.exists() and partial.exists(), "the kill did not land mid-download"
    kept = partial.stat().st_size
    # A local remote's copy runs ahead of its hash (store.file_copy): the kill, at half the bytes
    # hashed, may find every byte copied; the resuming load then only hashes them.
    assert size // 2 <= kept <= size
    with _messages("brainio_dvc.store.cache", "brainio_dvc.store.remote_spec") as records:
        loaded = brainio_dvc.get_assembly(LARGE, registry=registry)
    assert loaded.attrs["md5"] == md5 and md5_of(target) == md5
    assert not partial.exists()
    # A kill can land in any write: only temporaries (never taken for complete) may remain.
    assert all(name.endswith(".tmp") for name in hidden_leftovers(config.home()))
    return kept, records


def run_child_hands(*arguments: str) -> tuple[int, dict, str]:
    return finish(start_hands(*arguments))


def start_hands(*arguments: str):
    import subprocess
    import sys
    import tempfile

    from .test_reliability import ROOT

    stdout, stderr = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
    child = subprocess.Popen([sys.executable, "-m", "tests.integration.hands", *arguments],
                             cwd=ROOT, stdout=stdout, stderr=stderr, text=True)
    child.outputs = (stdout, stderr)  # type: ignore[attr-defined]
    return child


def test_a_cold_load_killed_halfway_resumes_where_it_stopped(registry: Registry) -> None:
    result, values = _package_large(registry.root, 24)
    size = lookup_assembly(LARGE, registry=str(registry.root))["size"]
    kept, messages = _kill_halfway_then_resume(str(registry.root), result["md5"], int(size))
    assert any(f"resuming at byte {kept}" in m for m in messages), messages
    np.testing.assert_array_equal(brainio_dvc.get_assembly(LARGE, registry=str(registry.root)).values, values)


def test_a_partial_copy_from_a_local_remote_is_completed_from_where_it_stopped(registry: Registry) -> None:
    result, values = _package_large(registry.root, 4)
    stored = registry.storage / "files" / "md5" / result["md5"][:2] / result["md5"][2:]
    target = data_cache().path_for("md5", result["md5"])
    partial = data_cache().partial_path(target)
    partial.parent.mkdir(parents=True, exist_ok=True)
    kept = stored.stat().st_size // 3
    partial.write_bytes(stored.read_bytes()[:kept])  # what a killed copy leaves
    done: list[int] = []
    with _messages("brainio_dvc.store.cache") as records, progress.subscribe(lambda event: done.append(event.done)):
        loaded = brainio_dvc.get_assembly(LARGE, registry=str(registry.root))
    assert any(f"resuming at byte {kept})" in message for message in records), records
    assert kept in done and not any("whole again" in message for message in records), (done, records)
    np.testing.assert_array_equal(loaded.values, values)
    assert md5_of(target) == result["md5"] and not partial.exists()


def test_a_partial_download_that_does_not_match_is_downloaded_whole_again(registry: Registry) -> None:
    result, values = _package_large(registry.root, 4)
    target = data_cache().path_for("md5", result["md5"])
    partial = data_cache().partial_path(target)
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(b"\x00" * (1 << 20))  # what a disk error or a tampered file could leave
    loaded = brainio_dvc.get_assembly(LARGE, registry=str(registry.root))
    np.testing.assert_array_equal(loaded.values, values)
    assert md5_of(target) == result["md5"] and not partial.exists()


def _s3_resume(s3_registry, megabytes: int) -> None:
    result, values = _package_large(s3_registry.root, megabytes)
    size = int(lookup_assembly(LARGE, registry=str(s3_registry.root))["size"])
    with FaultProxy(s3_registry.server.endpoint, lambda m, p, n: None) as proxy:
        point_remote_at(s3_registry.root, proxy.endpoint)
        kept, _ = _kill_halfway_then_resume(str(s3_registry.root), result["md5"], size)
    key = f"/files/md5/{result['md5'][:2]}/{result['md5'][2:]}"
    gets = [(header or "") for method, path, header in proxy.ranges if method == "GET" and path.endswith(key)]
    assert gets[-1] == f"bytes={kept}-", gets  # the resuming load asked only for the rest
    if megabytes >= 100:  # s3fs uploads files of 100 MiB and more in 50 MiB parts
        from .test_s3 import S3Registry  # noqa: F401 - for the type of s3_registry

        head = s3_registry.server.client().head_object(Bucket=s3_registry.bucket, Key=f"store{key}")
        assert "-" in head["ETag"], head["ETag"]  # a multipart upload's ETag: <md5 of md5s>-<parts>
    point_remote_at(s3_registry.root, s3_registry.server.endpoint)
    np.testing.assert_array_equal(brainio_dvc.get_assembly(LARGE, registry=str(s3_registry.root)).values, values)


@pytest.mark.s3
def test_a_cold_load_from_s3_killed_halfway_resumes_with_a_range_request(s3_registry) -> None:
    _s3_resume(s3_registry, 24)


@pytest.mark.s3
@pytest.mark.slow
def test_a_few_hundred_mb_push_is_multipart_and_its_killed_load_resumes(s3_registry) -> None:
    _s3_resume(s3_registry, 300)


# --- 3. no silent loss -------------------------------------------------------------------------

STIMULUS_DIR = f"registry/{CATALOG}/stimulus_sets/{STIMULI}"
#: The registry's CSV with one more row, whose file the ZIP does not have.
CSV_WITH_A_LOST_FILE = "stimulus_id,category,size_deg,filename\n" + "".join(
    f"s{n},{'ab'[n % 2]},{float(n)},s{n}.png\n" for n in range(6)) + "s9,a,9.0,s9.png\n"


def test_a_stimulus_csv_listing_files_its_zip_lacks_is_refused_at_packaging(registry: Registry, tmp_path: Path) -> None:
    """Through the transaction's public methods, as ``migrate --copy`` stages a CSV and a ZIP."""
    import zipfile

    from brainio_dvc.contribute.transaction import PackagingTransaction

    before = _branches(registry.root)
    identifier = "lab.Lost2024"
    csv_path = f"registry/{CATALOG}/stimulus_sets/{identifier}/{identifier}.csv"
    zip_path = csv_path.removesuffix(".csv") + ".zip"
    transaction = PackagingTransaction(registry.root, identifier, f"package/{identifier}")
    with pytest.raises(PackagingError) as raised, transaction.run():
        with transaction.step("write"):
            transaction.path(csv_path).parent.mkdir(parents=True)
            transaction.path(csv_path).write_text(CSV_WITH_A_LOST_FILE)
            with zipfile.ZipFile(transaction.path(zip_path), "w") as archive:
                for n in range(6):
                    archive.writestr(f"s{n}.png", b"\x89PNG")
        with transaction.step("track"):
            meta = {"identifier": identifier, "lookup_type": "stimulus_set", "sha1": "0" * 40,
                    "stimulus_set_identifier": "", "catalog": CATALOG}
            transaction.track({csv_path: {**meta, "class": "StimulusSet"}, zip_path: {**meta, "class": ""}})
    message = str(raised.value)
    assert raised.value.step == "track" and "'s9.png'" in message and "not in the ZIP" in message, message
    assert _branches(registry.root) == before


def test_a_stimulus_csv_listing_files_its_zip_lacks_is_refused_at_load_and_reported(registry: Registry) -> None:
    from click.testing import CliRunner

    from brainio_dvc.cli import cli
    from brainio_dvc.exceptions import ValidationError

    from .test_reliability import track_new_bytes

    track_new_bytes(registry, f"{STIMULUS_DIR}/{STIMULI}.csv", CSV_WITH_A_LOST_FILE.encode())
    for load in (lambda: brainio_dvc.get_stimulus_set(STIMULI, registry=str(registry.root)),
                 lambda: brainio_dvc.get_assembly(ASSEMBLY, registry=str(registry.root))):
        with pytest.raises(ValidationError) as raised:
            load()
        message = str(raised.value)
        assert f"stimulus set {STIMULI!r}" in message and "'s9.png'" in message and "not in the ZIP" in message, message
    runner = CliRunner()
    check = runner.invoke(cli, ["--registry", str(registry.root), "catalog", "check"])
    assert check.exit_code == 1 and "'s9.png'" in check.output and STIMULI in check.output, check.output
    verify = runner.invoke(cli, ["--registry", str(registry.root), "--json", "verify", STIMULI])
    assert verify.exit_code == 1, verify.output
    statuses = {r["kind"]: r["status"] for r in json.loads(verify.output)}
    assert statuses["stimulus files"].startswith("corrupt") and "'s9.png'" in statuses["stimulus files"], statuses


def test_a_good_pair_is_checked_once_then_trusted(registry: Registry) -> None:
    stimuli = brainio_dvc.get_stimulus_set(STIMULI, registry=str(registry.root))
    assert all(Path(stimuli.get_stimulus(i)).is_file() for i in stimuli["stimulus_id"])
    # The record of a checked pair is the thing under test; nothing else shows a check skipped.
    markers = list((config.home() / "checks" / "stimulus-files").glob("*/*"))
    assert [m.parent.name for m in markers] == [stimuli.attrs["zip"]["md5"]]
    assert [m.name for m in markers] == [stimuli.attrs["md5"]]


# --- 4. many hands at once ----------------------------------------------------------------------


def _all_succeed(children) -> list[dict]:
    results = [finish(child) for child in children]
    assert [code for code, _, _ in results] == [0] * len(children), [stderr[-3000:] for _, _, stderr in results]
    return [report for _, report, _ in results]


def _remote_intact(storage: Path) -> None:
    """Every object of a local remote holds the bytes its name says; no temporaries remain."""
    objects = [p for p in (storage / "files" / "md5").glob("*/*")]
    assert objects
    for path in objects:
        assert md5_of(path) == path.parent.name + path.name, f"corrupt remote object {path}"


def test_two_processes_packaging_different_datasets_into_one_clone_both_succeed(
    registry: Registry, tmp_path: Path
) -> None:
    names = ["lab.Left2024", "lab.Right2024"]
    children = [
        start_hands("package-stimuli", str(registry.root), name, str(tmp_path / "barrier"), "2") for name in names
    ]
    reports = _all_succeed(children)
    assert sorted(report["branch"] for report in reports) == [f"package/{name}" for name in names]
    git(registry.root, "fsck", "--no-progress")
    assert git(registry.root, "worktree", "list").count("\n") == 0  # only the main working tree
    assert not (registry.root / ".git" / "brainio-dvc-package.journal").exists()
    for name, report in zip(names, reports, strict=True):
        stimuli = brainio_dvc.get_stimulus_set(name, rev=report["branch"], registry=str(registry.root))
        assert stimuli.attrs["md5"] == report["md5"] and len(stimuli) == 6
        assert all(Path(stimuli.get_stimulus(i)).read_bytes().startswith(b"\x89PNG") for i in stimuli["stimulus_id"])
    _remote_intact(registry.storage)


def test_two_clones_pushing_the_same_objects_to_one_remote_at_once_both_succeed(
    registry: Registry, tmp_path: Path
) -> None:
    """Both push the same ZIP (same images) and CSVs of their own, at the same moment."""
    clones = []
    for side in ("a", "b"):
        clone = tmp_path / f"clone-{side}"
        git(tmp_path, "clone", "--quiet", str(registry.root), str(clone))
        dvc(clone, "remote", "modify", "--local", "storage", "url", str(registry.storage))
        clones.append(clone)
    children = [start_hands("package-stimuli", str(clone), f"lab.Twin{side}2024", str(tmp_path / "barrier"), "2")
                for clone, side in zip(clones, "AB", strict=True)]
    reports = _all_succeed(children)
    assert reports[0]["zip_md5"] == reports[1]["zip_md5"]
    _remote_intact(registry.storage)
    for clone, side, report in zip(clones, "AB", reports, strict=True):
        git(clone, "fsck", "--no-progress")
        shutil.rmtree(config.home(), ignore_errors=True)  # a cold load: from the remote
        stimuli = brainio_dvc.get_stimulus_set(f"lab.Twin{side}2024", rev=report["branch"], registry=str(clone))
        assert len(stimuli) == 6


def test_catalog_build_run_twice_at_once_gives_one_valid_catalog(registry: Registry, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from brainio_dvc.cli import cli
    from brainio_dvc.contribute.catalog_build import scan_registry, write_catalogs

    expected = write_catalogs(registry.root) and (registry.root / "catalogs" / CATALOG / "lookup.csv").read_text()
    for round_number in range(4):  # each round: a stale catalog to remove and one to rewrite
        for stale in range(20):
            (registry.root / "catalogs" / f"stale{stale}").mkdir(exist_ok=True)
            (registry.root / "catalogs" / f"stale{stale}" / "lookup.csv").write_text("identifier\n")
        (registry.root / "catalogs" / CATALOG / "lookup.csv").write_text("out of date\n")
        barrier = tmp_path / f"barrier-{round_number}"
        _all_succeed([start_hands("catalog-build", str(registry.root), str(barrier), "2") for _ in range(2)])
        assert sorted(scan_registry(registry.root).catalogs_on_disk) == [CATALOG]
        assert (registry.root / "catalogs" / CATALOG / "lookup.csv").read_text() == expected
        check = CliRunner().invoke(cli, ["--registry", str(registry.root), "catalog", "check"])
        assert check.exit_code == 0, check.output
    assert [p for p in (registry.root / "catalogs").rglob(".*") if p.name != ".gitkeep"] == []


# --- 5. soak --------------------------------------------------------------------------------------


def _soak_plan(registry: Registry) -> tuple[dict[str, dict], dict[str, list[str]]]:
    """Every (kind, identifier, rev) a worker may load, with its expected result (computed in a
    BRAINIO_HOME of its own) and the md5 of the objects its load reads."""
    from brainio_dvc.lookup import lookup_stimulus_set

    from .hands import soak_load

    revs = ["v1", "v2", "main", registry.v1, registry.v2]
    keys = [f"assembly|{ASSEMBLY}|{rev}" for rev in revs] + [f"stimulus_set|{STIMULI}|{rev}" for rev in revs[:3]]
    expected, objects = {}, {}
    home = os.environ["BRAINIO_HOME"]
    os.environ["BRAINIO_HOME"] = home + "-reference"
    try:
        for key in keys:
            kind, identifier, rev = key.split("|")
            expected[key] = soak_load(kind, identifier, rev, registry.url)
            csv_row, zip_row = lookup_stimulus_set(STIMULI, rev=rev, registry=registry.url)
            objects[key] = [str(csv_row["md5"]), str(zip_row["md5"])]
            if kind == "assembly":
                objects[key].append(str(lookup_assembly(ASSEMBLY, rev=rev, registry=registry.url)["md5"]))
    finally:
        os.environ["BRAINIO_HOME"] = home
    assert len({json.dumps(v, sort_keys=True) for k, v in expected.items() if k.startswith("assembly")}) == 2
    return expected, objects


class _Injector:
    """Corrupts, deletes and litters the shared cache at random, recording what it did when."""

    def __init__(self, seed: int, digests: list[str]) -> None:
        import random
        import threading

        self.random = random.Random(seed)
        self.digests = digests
        self.done: list[tuple[int, int, str, str]] = []  # (started, ended, md5, what)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        cache = data_cache()
        while not self.stop.wait(self.random.uniform(0.05, 0.25)):
            md5 = self.random.choice(self.digests)
            path = cache.path_for("md5", md5)
            what = self.random.choice(["replace", "in place", "delete", "state", "temporary", "partial"])
            started = time.time_ns()
            try:
                self._inject(what, path)
            except OSError:
                continue  # the object is not there (yet), or is being replaced
            self.done.append((started, time.time_ns(), md5, what))

    def _inject(self, what: str, path: Path) -> None:
        if what == "replace":  # a new inode, same size and mtime, different bytes
            status = path.stat()
            copy = path.with_name(f"injected-{os.getpid()}")
            copy.write_bytes(bytes(b ^ 0x5A for b in path.read_bytes()))
            os.utime(copy, ns=(status.st_atime_ns, status.st_mtime_ns))
            os.replace(copy, path)
        elif what == "in place":  # same inode, size and mtime: only the ctime changes
            status = path.stat()
            path.chmod(0o644)
            with open(path, "r+b") as stream:
                stream.seek(status.st_size // 2)
                stream.write(b"\xa5" * 8)
            os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))
        elif what == "delete":
            path.unlink()
        elif what == "state":  # the cache's own records and temporaries are what this injects into
            path.with_name(path.name + ".state").write_text("{not json")
        elif what == "temporary":  # what a writer killed long ago left
            path.parent.mkdir(parents=True, exist_ok=True)
            path.with_name(f".{path.name}.99999.deadbeef.tmp").write_bytes(b"half")
        elif what == "partial" and not path.exists():  # a resumable download whose bytes are wrong
            path.parent.mkdir(parents=True, exist_ok=True)
            data_cache().partial_path(path).write_bytes(b"\x00" * 512)

    def touched(self, md5s: list[str], started: int, ended: int) -> bool:
        """Whether an injection that can break a read or a download in progress (not stale
        temporaries or state records: those must never matter) hit one of ``md5s`` meanwhile."""
        return any(md5 in md5s and what in ("replace", "in place", "delete", "partial")
                   and begin <= ended and end >= started
                   for begin, end, md5, what in self.done)


def soak_seconds(loads: int) -> int:
    """How long a soak of ``loads`` loads per worker may take before it counts as hung: a
    generous bound (200 loads took about 60 s on a shared 2-core machine)."""
    return CHILD_SECONDS + 3 * loads


def soak(registry: Registry, tmp_path: Path, workers: int, loads: int, kills: int, seed: int) -> None:
    import random

    from brainio_dvc.formats.zip_extraction import extraction_problems

    expected, objects = _soak_plan(registry)
    plan = tmp_path / "expected.json"
    plan.write_text(json.dumps(expected))
    log = tmp_path / "loads.jsonl"
    generator = random.Random(seed)
    injector = _Injector(seed, sorted({md5 for md5s in objects.values() for md5 in md5s}))

    def start(worker_seed: int, count: int):
        return start_hands("soak", str(worker_seed), str(count), registry.url, str(plan), str(log))

    # SIGKILLs at random points of the run's progress (loads logged), not of the clock: on a
    # fast machine the loads could all end before a clock-paced schedule had killed `kills`.
    kill_at = sorted(generator.sample(range(workers * loads // 10, workers * loads * 8 // 10), kills))
    deadline = time.monotonic() + soak_seconds(loads)
    running = {n: (start(seed * 1000 + n, loads), loads) for n in range(workers)}
    injector.thread.start()
    killed = 0
    try:
        while any(child.poll() is None for child, _ in running.values()):
            if time.monotonic() > deadline:  # a hang, never a slow machine: the bound is generous
                for child, _ in running.values():
                    child.kill()
                stuck = [finish(child)[2][-2000:] for child, _ in running.values()]
                pytest.fail(f"the soak did not end within {soak_seconds(loads)} s; stderr of the children: {stuck}")
            time.sleep(generator.uniform(0.02, 0.2))
            alive = [n for n, (child, _) in running.items() if child.poll() is None]
            logged = len(log.read_text().splitlines()) if log.exists() else 0
            if killed < kills and alive and logged >= kill_at[killed]:  # a real SIGKILL, mid-run
                victim = generator.choice(alive)
                child, count = running[victim]
                child.send_signal(signal.SIGKILL)
                finish(child)
                done = sum(1 for line in log.read_text().splitlines() if json.loads(line)["pid"] == child.pid)
                killed += 1
                running[victim] = (start(seed * 1000 + workers + killed, max(count - done, 1)), max(count - done, 1))
    finally:
        injector.stop.set()
        injector.thread.join()
    for child, _ in running.values():
        code, _, stderr = finish(child)
        assert code == 0, stderr[-3000:]
    records = [json.loads(line) for line in log.read_text().splitlines()]
    completed = [r for r in records if r["outcome"] == "ok"]
    unexplained = [r for r in records if r["outcome"] != "ok"
                   and not injector.touched(objects[r["key"]], r["started"], r["ended"])]
    assert unexplained == [], unexplained[:5]
    assert len(completed) >= workers * loads // 2, f"{len(completed)} of {len(records)} loads completed"
    assert killed == kills and injector.done
    # Nothing left that a later load mistakes for complete: fresh loads are all correct, and
    # every extraction matches its ZIP.
    final = tmp_path / "final.jsonl"
    code, _, stderr = run_child_hands("soak", str(seed), str(3 * len(expected)), registry.url, str(plan), str(final))
    assert code == 0, stderr[-3000:]
    outcomes = [json.loads(line)["outcome"] for line in final.read_text().splitlines()]
    assert outcomes == ["ok"] * len(outcomes), final.read_text()[-3000:]
    for directory in (config.home() / "stimuli").iterdir():
        if directory.is_dir() and not directory.name.startswith("."):
            zip_path = data_cache().lookup("md5", directory.name)
            if zip_path is not None:
                assert extraction_problems(zip_path, directory) == [], directory


def test_soak_short(registry: Registry, tmp_path: Path) -> None:
    """8 processes, random identifiers and revs, SIGKILLs and cache corruption alongside."""
    soak(registry, tmp_path, workers=8, loads=8, kills=3, seed=17)


@pytest.mark.slow
def test_soak_long(registry: Registry, tmp_path: Path) -> None:
    soak(registry, tmp_path, workers=8, loads=200, kills=40, seed=1717)
