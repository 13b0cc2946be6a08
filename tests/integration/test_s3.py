"""Registries whose DVC remote is S3, against a real SeaweedFS server on 127.0.0.1."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import brainio_dvc
from brainio_dvc.cli import cli
from brainio_dvc.exceptions import PackagingError, RemoteError
from brainio_dvc.packaging import package_data_assembly, package_stimulus_set

from ..seaweed import ADMIN_KEY, ADMIN_SECRET, SeaweedServer
from .conftest import (
    ASSEMBLY,
    CATALOG,
    STIMULI,
    dvc,
    git,
    init_registry,
    make_assembly,
    make_stimulus_set,
    merge,
)

pytestmark = pytest.mark.s3


@dataclass
class S3Registry:
    root: Path
    bucket: str
    server: SeaweedServer

    @property
    def url(self) -> str:
        return f"file://{self.root}"


def build_s3_registry(base: Path, server: SeaweedServer, anonymous_read: bool = False) -> S3Registry:
    bucket = f"registry-{uuid.uuid4().hex[:10]}"
    server.client().create_bucket(Bucket=bucket)
    root = init_registry(base / "registry", f"s3://{bucket}/store")
    dvc(root, "remote", "modify", "storage", "endpointurl", server.endpoint)
    dvc(root, "remote", "modify", "storage", "region", "us-east-1")
    if anonymous_read:
        dvc(root, "remote", "modify", "storage", "allow_anonymous_login", "true")
    git(root, "commit", "--quiet", "-am", "S3 remote")
    # The maintainer's credentials: only in the untracked config.local.
    dvc(root, "remote", "modify", "--local", "storage", "access_key_id", ADMIN_KEY)
    dvc(root, "remote", "modify", "--local", "storage", "secret_access_key", ADMIN_SECRET)
    if anonymous_read:
        dvc(root, "remote", "modify", "--local", "storage", "allow_anonymous_login", "false")
    merge(root, package_stimulus_set(CATALOG, make_stimulus_set(base / "stimuli"), STIMULI, registry=root))
    merge(root, package_data_assembly(CATALOG, make_assembly(1), ASSEMBLY, STIMULI, registry=root))
    return S3Registry(root=root, bucket=bucket, server=server)


@pytest.fixture
def s3_registry(tmp_path: Path, seaweed: SeaweedServer) -> S3Registry:
    return build_s3_registry(tmp_path, seaweed)


@pytest.fixture
def public_registry(tmp_path: Path, seaweed: SeaweedServer) -> S3Registry:
    return build_s3_registry(tmp_path, seaweed, anonymous_read=True)


def _objects(registry: S3Registry) -> list[str]:
    listing = registry.server.client().list_objects_v2(Bucket=registry.bucket)
    return sorted(entry["Key"] for entry in listing.get("Contents", []))


def test_packaging_pushes_to_s3_and_commits_no_credentials(s3_registry: S3Registry) -> None:
    row = brainio_dvc.lookup.lookup_assembly(ASSEMBLY, registry=str(s3_registry.root))
    assert f"store/files/md5/{row['md5'][:2]}/{row['md5'][2:]}" in _objects(s3_registry)
    assert len(_objects(s3_registry)) == 3  # the assembly, the stimulus CSV and the ZIP
    tracked = git(s3_registry.root, "ls-files")
    assert ".dvc/config.local" not in tracked
    history = git(s3_registry.root, "log", "-p", "--all")
    assert ADMIN_SECRET not in history and ADMIN_KEY not in history


def test_cold_load_from_s3_with_local_credentials(s3_registry: S3Registry) -> None:
    assembly = brainio_dvc.get_assembly(ASSEMBLY, registry=str(s3_registry.root))
    np.testing.assert_allclose(assembly.values, make_assembly(1).values)
    assert len(assembly.attrs["stimulus_set"]) == 6


def test_cold_load_from_a_clone_with_environment_credentials(
    s3_registry: S3Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ADMIN_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", ADMIN_SECRET)
    assembly = brainio_dvc.get_assembly(ASSEMBLY, registry=s3_registry.url)
    np.testing.assert_allclose(assembly.values, make_assembly(1).values)


def test_public_registry_loads_without_credentials(public_registry: S3Registry) -> None:
    assembly = brainio_dvc.get_assembly(ASSEMBLY, registry=public_registry.url)
    np.testing.assert_allclose(assembly.values, make_assembly(1).values)


def test_pushing_to_a_public_registry_without_credentials_fails_clearly(
    public_registry: S3Registry, tmp_path: Path
) -> None:
    contributor = tmp_path / "contributor"
    git(tmp_path, "clone", "--quiet", str(public_registry.root), str(contributor))
    before = _objects(public_registry)
    with pytest.raises(PackagingError) as raised:
        package_data_assembly(CATALOG, make_assembly(2), "lab.Tester2024.anon", STIMULI, registry=contributor)
    assert raised.value.step == "push"
    assert "credentials" in str(raised.value)
    assert _objects(public_registry) == before
    assert git(contributor, "branch", "--list", "package/*") == ""


def test_wrong_credentials_are_a_clear_error_naming_the_remote(
    s3_registry: S3Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ADMIN_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    started = time.monotonic()
    with pytest.raises(RemoteError) as raised:
        brainio_dvc.get_assembly(ASSEMBLY, registry=s3_registry.url)
    message = str(raised.value)
    assert "refused the credentials" in message and "check the access key" in message
    assert "storage" in message and s3_registry.url in message and ASSEMBLY in message
    assert "\n" not in message
    assert time.monotonic() - started < 60


def test_dvc_import_from_an_s3_registry(public_registry: S3Registry, tmp_path: Path) -> None:
    from brainio_dvc.assemblies import NeuronRecordingAssembly

    analysis = tmp_path / "analysis"
    analysis.mkdir()
    git(analysis, "init", "--quiet")
    dvc(analysis, "init", "--quiet")
    location = brainio_dvc.lookup.lookup_assembly(ASSEMBLY, registry=str(public_registry.root))["location"]
    dvc(analysis, "import", public_registry.url, location)
    loaded = NeuronRecordingAssembly.from_files(analysis / Path(location).name)
    np.testing.assert_allclose(loaded.values, make_assembly(1).values)


def test_catalog_check_remote_against_s3(s3_registry: S3Registry) -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["--registry", str(s3_registry.root), "catalog", "check", "--remote"])
    assert ok.exit_code == 0, ok.output
    row = brainio_dvc.lookup.lookup_assembly(ASSEMBLY, registry=str(s3_registry.root))
    key = f"store/files/md5/{row['md5'][:2]}/{row['md5'][2:]}"
    s3_registry.server.client().delete_object(Bucket=s3_registry.bucket, Key=key)
    broken = runner.invoke(cli, ["--registry", str(s3_registry.root), "--json", "catalog", "check", "--remote"])
    assert broken.exit_code == 1
    assert any(row["location"] in problem for problem in json.loads(broken.output)["problems"])
