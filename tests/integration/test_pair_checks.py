"""Every stimulus CSV/ZIP pair is checked by ``catalog check --remote`` and by ``verify``, even
where neither file is on this machine (a pull-request check in CI starts with an empty cache).

Remotes are real: a local directory, and a SeaweedFS server behind a proxy that records every
request, so that the tests can see that a ZIP is read by its central directory only.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from brainio_dvc import config
from brainio_dvc.cli import cli
from brainio_dvc.contribute.completeness import zip_member_files
from brainio_dvc.store.direct_remotes import LocalRemote
from brainio_dvc.store.remote_spec import RemoteSpec, object_path

from .conftest import CATALOG, STIMULI, Registry, dvc, git
from .faults import FaultProxy
from .test_reliability import _s3_template, s3_registry, track_new_bytes  # noqa: F401 - fixtures
from .test_reliability_transfers import CSV_WITH_A_LOST_FILE, point_remote_at

STIMULUS_DIR = f"registry/{CATALOG}/stimulus_sets/{STIMULI}"
#: More members than a classic end record can count: the archive needs ZIP64 end records.
ZIP64_MEMBERS = 0xFFFF + 10


def zip_bytes(path: Path, zip64: bool, comment: bytes, pad_bytes: int = 0) -> list[str]:
    """Write a ZIP with the registry's stimuli s0.png..s5.png first; return its member names."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for n in range(6):
            archive.writestr(f"s{n}.png", b"\x89PNG" + bytes([n]))
        if pad_bytes:  # data that a central-directory read must not transfer
            archive.writestr("pad.bin", os.urandom(pad_bytes))
        for n in range(ZIP64_MEMBERS if zip64 else 0):
            archive.writestr(f"more/{n}", b"")
        archive.comment = comment
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def local_remote(directory: Path, data: bytes) -> tuple[LocalRemote, str]:
    md5 = hashlib.md5(data).hexdigest()
    path = directory / object_path(md5)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return LocalRemote("a registry", RemoteSpec("storage", str(directory)), directory), md5


@pytest.mark.parametrize(("zip64", "comment", "pad"), [
    (False, b"", 0),  # smaller than the tail: one request
    (False, b"c" * 0xFFFF, 3 << 20),  # the longest comment, the central directory in the tail
    (True, b"a comment", 1 << 20),  # ZIP64 end records, a central directory far beyond the tail
    (True, b"x" * 0xFFFF, 0),  # both
])
def test_a_remote_zip_is_listed_from_its_central_directory_alone(
    tmp_path: Path, zip64: bool, comment: bytes, pad: int
) -> None:
    from brainio_dvc.store.remote_file import TAIL_BYTES, RemoteObjectFile

    names = zip_bytes(tmp_path / "a.zip", zip64, comment, pad)
    remote, md5 = local_remote(tmp_path / "remote", (tmp_path / "a.zip").read_bytes())
    with RemoteObjectFile(remote, md5) as stream:
        assert zip_member_files(stream) == names
    # the tail, then (when the central directory begins before it) the central directory
    assert stream.requests == (1 if stream.length <= TAIL_BYTES or not zip64 else 2), stream.requests


def clone_for_ci(registry_root: Path, clone: Path) -> Path:
    """A fresh clone with an empty data cache, as a pull-request check in CI has."""
    git(clone.parent, "clone", "--quiet", str(registry_root), str(clone))
    local = registry_root / ".dvc" / "config.local"
    if local.exists():  # the credentials, never committed
        shutil.copy(local, clone / ".dvc" / "config.local")
    shutil.rmtree(config.home(), ignore_errors=True)
    return clone


def check(root: Path, *options: str) -> tuple[int, dict]:
    result = CliRunner().invoke(cli, ["--registry", str(root), "--json", "catalog", "check", *options])
    return result.exit_code, json.loads(result.output)


def test_catalog_check_remote_checks_pairs_not_on_this_machine_from_a_local_remote(
    registry: Registry, tmp_path: Path
) -> None:
    from brainio_dvc.packaging import package_stimulus_set

    from .conftest import make_stimulus_set, merge

    for other in ("lab.Other2024", "lab.Third2024"):  # pairs checked side by side
        packaged = package_stimulus_set(CATALOG, make_stimulus_set(tmp_path / other), other, registry=registry.root)
        merge(registry.root, packaged)
    clone = clone_for_ci(registry.root, tmp_path / "ci-good")
    dvc(clone, "remote", "modify", "--local", "storage", "url", str(registry.storage))
    code, report = check(clone, "--remote")
    assert code == 0, report["problems"]

    track_new_bytes(registry, f"{STIMULUS_DIR}/{STIMULI}.csv", CSV_WITH_A_LOST_FILE.encode())
    clone = clone_for_ci(registry.root, tmp_path / "ci-bad")
    dvc(clone, "remote", "modify", "--local", "storage", "url", str(registry.storage))
    assert not (clone / STIMULUS_DIR / f"{STIMULI}.csv").exists()
    code, report = check(clone, "--remote")
    assert code == 1, report
    lost = [p for p in report["problems"] if "not in the ZIP" in p]
    assert len(lost) == 1 and STIMULI in lost[0] and "'s9.png'" in lost[0] and "'s0.png'" not in lost[0], lost
    assert not list(config.home().glob("cache/files/md5/*/*")), "the check fetched into the data cache"


@pytest.mark.s3
def test_catalog_check_remote_reads_only_the_central_directory_of_a_zip64_with_a_comment_on_s3(
    s3_registry, tmp_path: Path
) -> None:
    archive = tmp_path / "stimuli.zip"
    zip_bytes(archive, zip64=True, comment=b"z" * 0xFFFF, pad_bytes=8 << 20)
    track_new_bytes(s3_registry, f"{STIMULUS_DIR}/{STIMULI}.zip", archive.read_bytes())
    zip_key = hashlib.md5(archive.read_bytes()).hexdigest()
    zip_key = object_path(zip_key)
    for csv, expected in ((None, 0), (CSV_WITH_A_LOST_FILE, 1)):
        if csv is not None:
            track_new_bytes(s3_registry, f"{STIMULUS_DIR}/{STIMULI}.csv", csv.encode())
        clone = clone_for_ci(s3_registry.root, tmp_path / f"ci-{expected}")
        with FaultProxy(s3_registry.server.endpoint, lambda method, path, attempt: None) as proxy:
            point_remote_at(clone, proxy.endpoint)
            code, report = check(clone, "--remote")
        assert code == expected, report["problems"]
        if expected:
            assert any(STIMULI in p and "'s9.png'" in p and "'s0.png'" not in p for p in report["problems"]), report
        zip_gets = [
            (method, header) for method, path, header in proxy.ranges if method == "GET" and path.endswith(zip_key)
        ]
        assert zip_gets and all(header and header.startswith("bytes=") for _, header in zip_gets), zip_gets
        fetched = sum(int(end) - int(start) + 1 for _, header in zip_gets
                      for start, end in [header.removeprefix("bytes=").split("-")])
        assert fetched < archive.stat().st_size // 2, (fetched, archive.stat().st_size)


def test_verify_without_identifiers_checks_every_cached_pair(registry: Registry) -> None:
    import brainio_dvc
    from brainio_dvc.exceptions import ValidationError

    brainio_dvc.get_stimulus_set(STIMULI, registry=str(registry.root))
    good = CliRunner().invoke(cli, ["--registry", str(registry.root), "--json", "verify"])
    assert good.exit_code == 0, good.output
    assert [r["status"] for r in json.loads(good.output) if r["kind"] == "stimulus files"] == ["ok"], good.output
    track_new_bytes(registry, f"{STIMULUS_DIR}/{STIMULI}.csv", CSV_WITH_A_LOST_FILE.encode())
    with pytest.raises(ValidationError):
        brainio_dvc.get_stimulus_set(STIMULI, registry=str(registry.root))  # fetches both, then refuses
    bad = CliRunner().invoke(cli, ["--registry", str(registry.root), "--json", "verify"])
    assert bad.exit_code == 1, bad.output
    pairs = [r for r in json.loads(bad.output) if r["kind"] == "stimulus files"]
    assert [r["digest"] for r in pairs] == [STIMULI], pairs
    assert pairs[0]["status"].startswith("corrupt") and "'s9.png'" in pairs[0]["status"], pairs
