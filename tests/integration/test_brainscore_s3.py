"""Brain-Score's S3 loaders and BrainIO's S3 fetch and upload, against a real SeaweedFS server.

The data plugins below are written as Brain-Score's are (``brainscore_vision/data/<name>/
__init__.py``), with the one import line changed to ``brainio_dvc.s3``.  The bucket is
versioned and holds two versions of every key; each test loads them by version id.
"""

from __future__ import annotations

import logging
import shutil
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from brainio_dvc.assemblies import NeuronRecordingAssembly
from brainio_dvc.exceptions import IntegrityError, S3ObjectError
from brainio_dvc.fetch import data_cache
from brainio_dvc.formats.archives import create_stimulus_csv, create_stimulus_zip
from brainio_dvc.formats.hashes import sha1_hash
from brainio_dvc.formats.netcdf import write_netcdf
from brainio_dvc.s3 import load_assembly_from_s3, load_stimulus_set_from_s3

from ..seaweed import ADMIN_KEY, ADMIN_SECRET, SeaweedServer
from .conftest import ASSEMBLY, STIMULI, make_assembly, make_stimulus_set

pytestmark = pytest.mark.s3

FOLDER = "brainscore-vision"
CSV_KEY = f"{FOLDER}/stimulus_lab_Tester2024.csv"
ZIP_KEY = f"{FOLDER}/stimulus_lab_Tester2024.zip"
NC_KEY = f"{FOLDER}/assy_lab_Tester2024_rates.nc"


@dataclass
class Upload:
    """One version of one key: the bytes uploaded, their SHA-1 and the version id S3 gave."""

    path: Path
    sha1: str
    version_id: str


@dataclass
class VersionedBucket:
    name: str
    server: SeaweedServer
    #: key -> [first version, second version]
    versions: dict[str, list[Upload]] = field(default_factory=dict)

    def put(self, key: str, path: Path) -> Upload:
        with open(path, "rb") as body:
            response = self.server.client().put_object(Bucket=self.name, Key=key, Body=body)
        upload = Upload(path, sha1_hash(path), response["VersionId"])
        self.versions.setdefault(key, []).append(upload)
        return upload


def _write_release(directory: Path, version: int) -> dict[str, Path]:
    """The files of one release of the stimulus set and the assembly (categories differ)."""
    stimuli = make_stimulus_set(directory / "images")
    stimuli["category"] = [f"v{version}-{c}" for c in stimuli["category"]]
    zip_path, csv_path, nc_path = (
        directory / "stimuli.zip",
        directory / "stimuli.csv",
        directory / "rates.nc",
    )
    _, names = create_stimulus_zip(stimuli, zip_path)
    create_stimulus_csv(stimuli, csv_path, names)
    write_netcdf(make_assembly(version), nc_path)
    return {CSV_KEY: csv_path, ZIP_KEY: zip_path, NC_KEY: nc_path}


@pytest.fixture(scope="module")
def bucket(seaweed: SeaweedServer, tmp_path_factory: pytest.TempPathFactory) -> VersionedBucket:
    """A versioned bucket holding two releases of one stimulus set and assembly."""
    name = f"brainscore-{uuid.uuid4().hex[:10]}"
    client = seaweed.client()
    client.create_bucket(Bucket=name)
    client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    found = VersionedBucket(name, seaweed)
    for version in (1, 2):
        for key, path in _write_release(
            tmp_path_factory.mktemp(f"release{version}"), version
        ).items():
            found.put(key, path)
    return found


@pytest.fixture(autouse=True)
def endpoint(seaweed: SeaweedServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """boto3 talks to SeaweedFS through the standard variable; no credentials are set."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", seaweed.endpoint)
    return seaweed.endpoint


def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ADMIN_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", ADMIN_SECRET)


def brainscore_plugin(
    bucket: VersionedBucket, release: int
) -> tuple[dict[str, Callable], dict[str, Callable]]:
    """A Brain-Score data plugin pinned to one release (0 or 1) of the bucket's keys."""
    csv, archive, netcdf = (bucket.versions[key][release] for key in (CSV_KEY, ZIP_KEY, NC_KEY))
    stimulus_set_registry: dict[str, Callable] = {}
    data_registry: dict[str, Callable] = {}

    # stimulus set
    stimulus_set_registry["Tester2024"] = lambda: load_stimulus_set_from_s3(
        identifier=STIMULI,
        bucket=f"{bucket.name}/{FOLDER}",
        csv_sha1=csv.sha1,
        zip_sha1=archive.sha1,
        csv_version_id=csv.version_id,
        zip_version_id=archive.version_id,
    )

    # assembly
    data_registry["Tester2024.rates"] = lambda: load_assembly_from_s3(
        identifier=ASSEMBLY,
        version_id=netcdf.version_id,
        sha1=netcdf.sha1,
        bucket=f"{bucket.name}/{FOLDER}",
        cls=NeuronRecordingAssembly,
        stimulus_set_loader=lambda: stimulus_set_registry["Tester2024"](),
    )
    return stimulus_set_registry, data_registry


def test_a_plugin_loads_each_release_by_its_version_ids_anonymously(
    bucket: VersionedBucket,
) -> None:
    for release, version in ((0, 1), (1, 2)):
        _, data_registry = brainscore_plugin(bucket, release)
        assembly = data_registry["Tester2024.rates"]()
        assert isinstance(assembly, NeuronRecordingAssembly)
        np.testing.assert_allclose(assembly.values, make_assembly(version).values)
        assert assembly.attrs["identifier"] == ASSEMBLY
        assert assembly.attrs["version_id"] == bucket.versions[NC_KEY][release].version_id
        assert assembly.attrs["stimulus_set_identifier"] == STIMULI
        stimuli = assembly.attrs["stimulus_set"]
        assert stimuli.identifier == STIMULI and len(stimuli) == 6
        assert set(assembly["category"].values) == {f"v{version}-a", f"v{version}-b"}  # merged
        assert Path(stimuli.get_stimulus("s3")).read_bytes().startswith(b"\x89PNG")


def test_unpinned_version_ids_load_the_latest_version(bucket: VersionedBucket) -> None:
    latest = bucket.versions[NC_KEY][1]
    for unpinned in (None, "", "null"):
        assembly = load_assembly_from_s3(
            ASSEMBLY, unpinned, latest.sha1, f"{bucket.name}/{FOLDER}", NeuronRecordingAssembly
        )
        np.testing.assert_allclose(assembly.values, make_assembly(2).values)
        assert "stimulus_set" not in assembly.attrs and "version_id" not in assembly.attrs


def test_without_merging_the_stimulus_set_is_only_attached(bucket: VersionedBucket) -> None:
    stimulus_set_registry, _ = brainscore_plugin(bucket, 0)
    netcdf = bucket.versions[NC_KEY][0]
    assembly = load_assembly_from_s3(
        ASSEMBLY,
        netcdf.version_id,
        netcdf.sha1,
        f"{bucket.name}/{FOLDER}",
        NeuronRecordingAssembly,
        stimulus_set_loader=stimulus_set_registry["Tester2024"],
        merge_stimulus_set_meta=False,
    )
    assert "category" not in assembly.coords
    assert list(assembly.attrs["stimulus_set"]["category"].unique()) == ["v1-a", "v1-b"]
    # A plugin that still imports its classes from brainio gets brainio_dvc's class of that name.
    foreign = type("NeuronRecordingAssembly", (), {"__module__": "brainio.assemblies"})
    assembly = load_assembly_from_s3(ASSEMBLY, netcdf.version_id, netcdf.sha1, f"{bucket.name}/{FOLDER}", foreign)
    assert type(assembly) is NeuronRecordingAssembly


def test_a_wrong_sha1_is_refused_clearly_and_nothing_enters_the_cache(
    bucket: VersionedBucket,
) -> None:
    first, second = bucket.versions[NC_KEY]
    with pytest.raises(
        IntegrityError
    ) as raised:  # the second release's sha1 with the first's version
        load_assembly_from_s3(
            ASSEMBLY,
            first.version_id,
            second.sha1,
            f"{bucket.name}/{FOLDER}",
            NeuronRecordingAssembly,
        )
    message = str(raised.value)
    assert f"s3://{bucket.name}/{NC_KEY}" in message and f"version {first.version_id}" in message
    assert f"expected {second.sha1}" in message and f"is {first.sha1}" in message
    assert "version id" in message  # what to check
    cache = data_cache()
    assert cache.lookup("sha1", second.sha1) is None
    assert not cache.path_for("sha1", second.sha1).exists()
    leftovers = [
        p for p in (cache.root / "files").rglob("*") if p.is_file() and not p.name.endswith(".lock")
    ]
    assert leftovers == []


def test_a_missing_version_is_an_error_naming_bucket_key_and_version(
    bucket: VersionedBucket,
) -> None:
    with pytest.raises(S3ObjectError) as raised:
        load_assembly_from_s3(
            ASSEMBLY,
            "no-such-version",
            bucket.versions[NC_KEY][0].sha1,
            f"{bucket.name}/{FOLDER}",
            NeuronRecordingAssembly,
        )
    message = str(raised.value)
    assert f"s3://{bucket.name}/{NC_KEY}" in message and "no-such-version" in message
    assert "check the version id" in message
    with pytest.raises(S3ObjectError, match="no such key"):  # no folder: keys are not at the root
        load_assembly_from_s3(
            ASSEMBLY, None, bucket.versions[NC_KEY][0].sha1, bucket.name, NeuronRecordingAssembly
        )


def test_a_plain_bucket_and_a_filename_prefix(bucket: VersionedBucket, tmp_path: Path) -> None:
    files = _write_release(tmp_path, 1)
    csv = bucket.put("set_lab_Tester2024.csv", files[CSV_KEY])
    archive = bucket.put("set_lab_Tester2024.zip", files[ZIP_KEY])
    stimuli = load_stimulus_set_from_s3(
        STIMULI,
        bucket.name,
        csv.sha1,
        archive.sha1,
        csv.version_id,
        archive.version_id,
        filename_prefix="set_",
    )
    assert stimuli.identifier == STIMULI and len(stimuli) == 6
    assert stimuli.attrs["location"] == f"s3://{bucket.name}/set_lab_Tester2024.csv"
    assert stimuli.attrs["zip"]["version_id"] == archive.version_id


def test_fetch_file_downloads_the_given_s3_version_by_any_url_style(
    bucket: VersionedBucket, endpoint: str
) -> None:
    from brainio_dvc.fetch import fetch_file

    first, second = bucket.versions[NC_KEY]
    with pytest.raises(IntegrityError):
        fetch_file("S3", f"s3://{bucket.name}/{NC_KEY}", second.sha1, version_id=first.version_id)
    virtual_hosted = f"https://{bucket.name}.s3.amazonaws.com/{NC_KEY}"  # sent to AWS_ENDPOINT_URL
    path = fetch_file("S3", virtual_hosted, first.sha1, version_id=first.version_id)
    assert path.read_bytes() == first.path.read_bytes()
    path = fetch_file("S3", f"{endpoint}/{bucket.name}/{NC_KEY}", second.sha1, second.version_id)
    assert path.read_bytes() == second.path.read_bytes()


def test_loads_are_anonymous_without_credentials_and_signed_with_them(
    bucket: VersionedBucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    from brainio_dvc.fetch import fetch_file

    first = bucket.versions[CSV_KEY][0]
    assert fetch_file("S3", f"s3://{bucket.name}/{CSV_KEY}", first.sha1, first.version_id).exists()
    monkeypatch.setenv("BRAINIO_HOME", str(Path(data_cache().root).parent / "other-home"))
    _credentials(monkeypatch)
    assert fetch_file("S3", f"s3://{bucket.name}/{CSV_KEY}", first.sha1, first.version_id).exists()


def test_upload_to_s3_returns_the_version_and_loads_back(
    bucket: VersionedBucket,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from brainio_dvc.packaging import upload_to_s3

    _credentials(monkeypatch)
    files = _write_release(tmp_path, 3)
    with caplog.at_level(logging.WARNING, logger="brainio_dvc.s3"):
        properties = upload_to_s3(
            files[NC_KEY], f"{bucket.name}/uploads", "assy_lab_Tester2024_rates.nc"
        )
    assert properties["VersionId"] and properties["ContentLength"] == files[NC_KEY].stat().st_size
    assert "not tagging the upload" in caplog.text  # SeaweedFS has no STS: uploaded all the same
    again = upload_to_s3(files[NC_KEY], bucket.name, "uploads/assy_lab_Tester2024_rates.nc")
    assert again["VersionId"] != properties["VersionId"]
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    assembly = load_assembly_from_s3(
        ASSEMBLY,
        properties["VersionId"],
        sha1_hash(files[NC_KEY]),
        f"{bucket.name}/uploads",
        NeuronRecordingAssembly,
    )
    np.testing.assert_allclose(assembly.values, make_assembly(3).values)


def test_upload_without_credentials_fails_clearly(bucket: VersionedBucket, tmp_path: Path) -> None:
    from brainio_dvc.packaging import upload_to_s3

    source = tmp_path / "file.txt"
    source.write_text("data")
    with pytest.raises(S3ObjectError, match="no AWS credentials"):
        upload_to_s3(source, bucket.name, "anonymous/file.txt")


def test_unzip_returns_a_directory_beside_the_zip_holding_its_files(
    bucket: VersionedBucket, tmp_path: Path
) -> None:
    """As Brain-Score's S3 helper and BrainIO's get_stimulus_set use it: list the directory."""
    from brainio_dvc.fetch import fetch_file, unzip

    archive = bucket.versions[ZIP_KEY][0]
    zip_path = fetch_file("S3", f"s3://{bucket.name}/{ZIP_KEY}", archive.sha1, archive.version_id)
    with zipfile.ZipFile(archive.path) as opened:
        members = set(opened.namelist())
    directory = unzip(zip_path)  # a cached ZIP: its own directory of extracted stimuli
    assert {p.name for p in Path(directory).iterdir()} == members
    assert unzip(zip_path) == directory

    plain = tmp_path / "download" / "stimulus_lab_Tester2024.zip"  # a ZIP elsewhere: BrainIO's way
    plain.parent.mkdir()
    shutil.copy(archive.path, plain)
    assert unzip(plain) == plain.parent
    listed = {p.name for p in plain.parent.iterdir() if not p.name.endswith((".zip", ".csv"))}
    assert listed == members
    assert unzip(plain) == plain.parent


def test_boto_fetcher_downloads_a_version(bucket: VersionedBucket) -> None:
    from brainio_dvc.fetch import BotoFetcher, get_fetcher, get_local_data_path

    first = bucket.versions[NC_KEY][0]
    fetcher = get_fetcher(
        "S3",
        f"https://{bucket.name}.s3.amazonaws.com/{NC_KEY}",
        "assy_rates",
        version_id=first.version_id,
    )
    assert isinstance(fetcher, BotoFetcher)
    assert (fetcher.bucketname, fetcher.relative_path) == (bucket.name, NC_KEY)
    path = Path(fetcher.fetch())
    assert path == get_local_data_path() / "assy_rates" / "assy_lab_Tester2024_rates.nc"
    assert path.read_bytes() == first.path.read_bytes()


def test_every_public_name_of_brainio_fetch_exists() -> None:
    import brainio_dvc.fetch as fetch

    names = [
        "BRAINIO_HOME",
        "Fetcher",
        "BotoFetcher",
        "get_fetcher",
        "fetch_file",
        "filename_from_link",
        "unzip",
        "verify_sha1",
        "resolve_assembly_class",
        "resolve_stimulus_set_class",
        "get_assembly",
        "get_stimulus_set",
        "get_local_data_path",
        "fullname",
        "StimulusSetLoader",
        "lookup_assembly",
        "lookup_stimulus_set",
        "sha1_hash",
        "assemblies",
        "stimuli",
    ]
    missing = [name for name in names if not hasattr(fetch, name)]
    assert missing == []
    assert fetch.BRAINIO_HOME == "BRAINIO_HOME"
    assert fetch.filename_from_link("https://b.s3.amazonaws.com/assy_a_b.nc") == "assy_a_b"
    assert fetch.assemblies.NeuronRecordingAssembly is NeuronRecordingAssembly


def test_an_unreachable_endpoint_fails_within_seconds_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket
    import time

    with socket.socket() as probe:  # a port that nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed)
    started = time.monotonic()
    with pytest.raises(S3ObjectError) as raised:
        load_assembly_from_s3(ASSEMBLY, "v1", "0" * 40, "bucket/folder", NeuronRecordingAssembly)
    assert time.monotonic() - started < 20
    message = str(raised.value)
    assert "unreachable" in message and closed in message and "s3://bucket/folder/assy_" in message
