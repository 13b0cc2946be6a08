"""``access denied``: a bucket that refuses anonymous reads, against a SeaweedFS server of its own.

The shared server lets anonymous requests read every bucket; this one lets them read only
``open-data`` (SeaweedFS's per-bucket actions), so a migration without credentials is refused
``closed-data`` (403) and reports it, while one with credentials reads it signed.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..gitdvc import git, init_registry
from ..seaweed import ADMIN_KEY, ADMIN_SECRET, SeaweedServer
from .test_migrate import outcomes, run_cli, write_manifest

pytestmark = pytest.mark.s3

OPEN, CLOSED = "open-data", "closed-data"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SeaweedServer, list[dict[str, str]]]]:
    """A server whose anonymous identity reads only OPEN, and the manifest rows of its objects."""
    server = SeaweedServer(tmp_path_factory.mktemp("guarded-seaweedfs"),
                           anonymous_actions=(f"Read:{OPEN}", f"List:{OPEN}")).start()
    try:
        client = server.client()
        rows = []
        for bucket in (OPEN, CLOSED):
            client.create_bucket(Bucket=bucket)
            client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        objects = [("lab.Open2024", "stimulus_set", "StimulusSet", OPEN, "stimulus_lab_Open2024.csv", ""),
                   ("lab.Open2024", "stimulus_set", "", OPEN, "stimulus_lab_Open2024.zip", ""),
                   ("lab.Open2024.rates", "assembly", "DataAssembly", CLOSED, "assy_lab_Open2024_rates.nc",
                    "lab.Open2024")]
        for identifier, kind, cls, bucket, key, stimulus_set in objects:
            body = os.urandom(4096) + uuid.uuid4().bytes
            version = client.put_object(Bucket=bucket, Key=key, Body=body)["VersionId"]
            rows.append({"identifier": identifier, "kind": kind, "class": cls, "bucket": bucket, "key": key,
                         "version_id": version, "sha1": hashlib.sha1(body).hexdigest(),
                         "stimulus_set_identifier": stimulus_set, "bibtex": ""})
        yield server, rows
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def guarded_endpoint(guarded: tuple[SeaweedServer, list[dict[str, str]]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", guarded[0].endpoint)


def test_the_anonymous_identity_is_refused_the_closed_bucket_only(
    guarded: tuple[SeaweedServer, list[dict[str, str]]]
) -> None:
    from botocore.exceptions import ClientError

    server, rows = guarded
    anonymous = server.client(anonymous=True)
    anonymous.head_object(Bucket=OPEN, Key=rows[0]["key"])
    with pytest.raises(ClientError) as refused:
        anonymous.head_object(Bucket=CLOSED, Key=rows[2]["key"])
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


@pytest.mark.parametrize("mode", ["reference", "copy"])
def test_an_object_refused_to_anonymous_requests_fails_as_access_denied_without_credentials(
    guarded: tuple[SeaweedServer, list[dict[str, str]]], tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, rows = guarded
    root = init_registry(tmp_path / "registry", "../storage")
    manifest = write_manifest(tmp_path / "guarded.csv", rows)
    code, output = run_cli("--registry", str(root), "--json", "migrate", str(manifest), f"--{mode}")
    report = json.loads(output)
    assert code == 1
    found = outcomes(report)
    assert found[("lab.Open2024", "csv")]["status"] == found[("lab.Open2024", "zip")]["status"] == "migrated"
    refused = found[("lab.Open2024.rates", "nc")]
    assert (refused["status"], refused["reason"]) == ("failed", "access denied")
    assert "anonymous: access denied" in refused["detail"] and "no AWS credentials found" in refused["detail"]
    assert CLOSED in refused["detail"]
    # What could be read is committed; the refused entry is not.
    assert git(root, "ls-tree", "-r", "--name-only", "migrate/guarded").count("lab.Open2024.rates") == 0

    # With credentials, the refused object is read signed, and a re-run finishes the migration.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ADMIN_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", ADMIN_SECRET)
    code, output = run_cli("--registry", str(root), "--json", "migrate", str(manifest), f"--{mode}")
    again = outcomes(json.loads(output))
    assert code == 0, output
    assert again[("lab.Open2024.rates", "nc")]["status"] == "migrated"
    assert again[("lab.Open2024", "csv")]["status"] == "skipped"
