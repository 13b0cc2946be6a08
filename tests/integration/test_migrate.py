"""Migrating Brain-Score's S3 data into a registry, by copy and by reference, against SeaweedFS.

The source is a versioned bucket in BrainIO lite's layout (``<folder>/stimulus_<id>.csv|zip``,
``<folder>/assy_<id>.nc``) holding two stimulus sets (one with a legacy name that is also its
assembly's), two versions of one assembly key, and an unversioned bucket with one object that
is overwritten after the migration.  The inputs list a missing object, a wrong SHA-1, an
unknown class and an assembly without its stimulus set besides.  Real git, DVC and S3.
"""

from __future__ import annotations

import csv
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import brainio_dvc
from brainio_dvc.cli import cli
from brainio_dvc.contribute.migrate import MANIFEST_COLUMNS
from brainio_dvc.exceptions import SourceChangedError
from brainio_dvc.formats.archives import create_stimulus_csv, create_stimulus_zip
from brainio_dvc.formats.hashes import sha1_hash
from brainio_dvc.formats.netcdf import write_netcdf

from ..gitdvc import dvc, git, init_registry
from ..seaweed import ADMIN_KEY, ADMIN_SECRET, SeaweedServer
from .conftest import make_assembly, make_stimulus_set

pytestmark = pytest.mark.s3

FOLDER = "brainscore-vision"
ALPHA = "lab.Alpha2024"
ALPHA_RATES = "lab.Alpha2024.rates"
LEGACY = "BMD_2024_texture_1"  # a legacy name: no lab, and its assembly has the same identifier
NULL_RATES = "lab.Alpha2024.unpinned"
WRONG_SHA1 = "0" * 40


@dataclass
class Uploaded:
    identifier: str
    kind: str
    cls: str
    bucket: str
    key: str
    version_id: str
    sha1: str
    stimulus_set_identifier: str = ""
    path: Path | None = None

    def row(self, **changes: str) -> dict[str, str]:
        values = {"identifier": self.identifier, "kind": self.kind, "class": self.cls, "bucket": self.bucket,
                  "key": self.key, "version_id": self.version_id, "sha1": self.sha1,
                  "stimulus_set_identifier": self.stimulus_set_identifier, "bibtex": ""}
        return {**values, **changes}


@dataclass
class Source:
    server: SeaweedServer
    bucket: str
    unversioned: str
    objects: dict[str, list[Uploaded]] = field(default_factory=dict)

    def put(self, bucket: str, key: str, path: Path, identifier: str, kind: str, cls: str, stimulus_set: str = "",
            name: str | None = None) -> Uploaded:
        with open(path, "rb") as body:
            response = self.server.client().put_object(Bucket=bucket, Key=key, Body=body)
        version = response.get("VersionId") or "null"
        uploaded = Uploaded(identifier, kind, cls, bucket, key, version if version != "null" else "null",
                            sha1_hash(path), stimulus_set, path)
        self.objects.setdefault(name or key, []).append(uploaded)
        return uploaded

    def one(self, name: str, release: int = 0) -> Uploaded:
        return self.objects[name][release]


def _stimulus_files(directory: Path, identifier: str, label: str) -> tuple[Path, Path]:
    stimuli = make_stimulus_set(directory / "images")
    stimuli["category"] = [f"{label}-{c}" for c in stimuli["category"]]
    _, names = create_stimulus_zip(stimuli, directory / "stimuli.zip")
    create_stimulus_csv(stimuli, directory / "stimuli.csv", names)
    return directory / "stimuli.csv", directory / "stimuli.zip"


def _netcdf(directory: Path, version: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"rates-{version}.nc"
    write_netcdf(make_assembly(version), path)
    return path


@pytest.fixture(scope="module")
def source(seaweed: SeaweedServer, tmp_path_factory: pytest.TempPathFactory) -> Source:
    client = seaweed.client()
    bucket, unversioned = f"brainscore-{uuid.uuid4().hex[:8]}", f"unversioned-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    client.create_bucket(Bucket=unversioned)
    found = Source(seaweed, bucket, unversioned)
    base = tmp_path_factory.mktemp("source")
    for identifier, label in ((ALPHA, "alpha"), (LEGACY, "legacy")):
        csv_path, zip_path = _stimulus_files(base / label, identifier, label)
        stem = identifier.replace(".", "_")
        found.put(bucket, f"{FOLDER}/stimulus_{stem}.csv", csv_path, identifier, "stimulus_set", "StimulusSet")
        found.put(bucket, f"{FOLDER}/stimulus_{stem}.zip", zip_path, identifier, "stimulus_set", "")
    for version in (1, 2):  # two versions of one key
        found.put(bucket, f"{FOLDER}/assy_lab_Alpha2024_rates.nc", _netcdf(base / "nc", version), ALPHA_RATES,
                  "assembly", "NeuronRecordingAssembly", ALPHA)
    found.put(bucket, f"{FOLDER}/assy_{LEGACY}.nc", _netcdf(base / "nc", 3), LEGACY, "assembly",
              "NeuronRecordingAssembly", LEGACY)
    found.put(unversioned, f"{FOLDER}/assy_lab_Alpha2024_unpinned.nc", _netcdf(base / "nc", 4), NULL_RATES,
              "assembly", "NeuronRecordingAssembly", ALPHA)
    return found


@pytest.fixture(autouse=True)
def endpoint(seaweed: SeaweedServer, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL", seaweed.endpoint)
    return seaweed.endpoint


def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ADMIN_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", ADMIN_SECRET)


def run_cli(*arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(arguments))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout


def migrate(root: Path, source_file: Path, *options: str) -> tuple[int, dict]:
    code, output = run_cli("--registry", str(root), "--json", "migrate", str(source_file), *options)
    return code, json.loads(output)


def outcomes(report: dict) -> dict[tuple[str, str], dict]:
    return {(entry["identifier"], entry["role"]): entry for entry in report["entries"]}


def write_manifest(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="") as out:
        writer = csv.DictWriter(out, MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_classic_catalog(path: Path, rows: list[dict[str, str]]) -> Path:
    """The same objects as a classic BrainIO lookup.csv, with a version_id column."""
    columns = ["identifier", "lookup_type", "class", "location_type", "location", "sha1", "stimulus_set_identifier",
               "version_id"]
    with open(path, "w", newline="") as out:
        writer = csv.DictWriter(out, columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({"identifier": row["identifier"], "lookup_type": row["kind"], "class": row["class"],
                             "location_type": "S3",
                             "location": f"https://{row['bucket']}.s3.amazonaws.com/{row['key']}",
                             "sha1": row["sha1"], "stimulus_set_identifier": row["stimulus_set_identifier"],
                             "version_id": row["version_id"]})
    return path


def input_rows(source: Source, release: int = 0) -> list[dict[str, str]]:
    """Both stimulus sets, the assembly at one version, the legacy assembly, the unversioned one,
    and the bad entries: a missing object, a wrong SHA-1, an unknown class, no stimulus set."""
    alpha_csv, alpha_zip = (source.one(f"{FOLDER}/stimulus_lab_Alpha2024.{ext}") for ext in ("csv", "zip"))
    legacy_csv, legacy_zip = (source.one(f"{FOLDER}/stimulus_{LEGACY}.{ext}") for ext in ("csv", "zip"))
    rates = source.one(f"{FOLDER}/assy_lab_Alpha2024_rates.nc", release)
    legacy = source.one(f"{FOLDER}/assy_{LEGACY}.nc")
    unpinned = source.one(f"{FOLDER}/assy_lab_Alpha2024_unpinned.nc")
    return [
        alpha_csv.row(), alpha_zip.row(), legacy_csv.row(), legacy_zip.row(), rates.row(), legacy.row(),
        unpinned.row(),
        rates.row(identifier="lab.Alpha2024.missing", key=f"{FOLDER}/assy_lab_Alpha2024_missing.nc", version_id="",
                  sha1="1" * 40),
        legacy.row(identifier="lab.Alpha2024.wrong", sha1=WRONG_SHA1, stimulus_set_identifier=ALPHA),
        legacy.row(identifier="lab.Alpha2024.odd", **{"class": "OddAssembly"}, stimulus_set_identifier=ALPHA),
        legacy.row(identifier="lab.Beta2024.orphan", stimulus_set_identifier="lab.Beta2024"),
    ]


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    return init_registry(tmp_path / "registry", "../storage")


def merge(root: Path, branch: str) -> None:
    git(root, "merge", "--quiet", "--ff-only", branch)


def assembly_values(uploaded: Uploaded) -> np.ndarray:
    return brainio_dvc.assemblies.NeuronRecordingAssembly.from_files(uploaded.path).values


def test_copy_migrates_everything_it_can_and_the_registry_then_stands_alone(
    source: Source, registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = write_manifest(tmp_path / "brainscore.csv", input_rows(source, release=0))
    code, report = migrate(registry, manifest, "--copy", "--jobs", "4")
    assert code == 1  # some entries failed
    found = outcomes(report)
    for key in ((ALPHA, "csv"), (ALPHA, "zip"), (ALPHA_RATES, "nc"), (LEGACY, "csv"), (LEGACY, "zip"),
                (LEGACY, "nc"), (NULL_RATES, "nc")):
        assert found[key]["status"] == "migrated", found[key]
    assert found[(NULL_RATES, "nc")]["flags"] == ["unversioned"]
    assert found[("lab.Alpha2024.missing", "nc")]["reason"] == "missing object"
    assert found[("lab.Alpha2024.wrong", "nc")]["reason"] == "sha1 mismatch"
    assert found[("lab.Alpha2024.odd", "nc")]["reason"] == "unknown class"
    assert found[("lab.Beta2024.orphan", "nc")]["reason"] == "no stimulus set"
    assert report["branch"] == "migrate/brainscore"
    merge(registry, report["branch"])

    # A re-run skips everything that is done and commits nothing.
    code, again = migrate(registry, manifest, "--copy")
    assert {e["status"] for e in again["entries"] if e["reason"] == ""} == {"skipped"}
    assert again["commit"] is None

    # The registry depends on nothing outside itself: a dead S3 endpoint and an empty cache.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("BRAINIO_HOME", str(tmp_path / "fresh-home"))
    rates = brainio_dvc.get_assembly(ALPHA_RATES, registry=str(registry))
    np.testing.assert_array_equal(rates.values, assembly_values(source.one(f"{FOLDER}/assy_lab_Alpha2024_rates.nc", 0)))
    assert rates.attrs["stimulus_set"].identifier == ALPHA
    legacy = brainio_dvc.get_assembly(LEGACY, registry=str(registry))
    assert legacy.attrs["stimulus_set_identifier"] == LEGACY
    assert set(brainio_dvc.list_stimulus_sets(registry=str(registry))) == {ALPHA, LEGACY}
    code, output = run_cli("--registry", str(registry), "--json", "catalog", "check", "--remote")
    assert code == 0, output

    # `dvc import` of a migrated file from an analysis repository.
    analysis = tmp_path / "analysis"
    analysis.mkdir()
    git(analysis, "init", "--quiet")
    dvc(analysis, "init", "--quiet")
    dvc(analysis, "import", str(registry), f"registry/lab/assemblies/{ALPHA_RATES}/{ALPHA_RATES}.nc")
    assert sha1_hash(analysis / f"{ALPHA_RATES}.nc") == source.one(f"{FOLDER}/assy_lab_Alpha2024_rates.nc", 0).sha1

    # DVC's own reader takes the .dvc files migrate wrote without ruamel: status against the
    # remote, then a pull into a fresh clone, after which its workspace is what they describe.
    assert "in sync" in dvc(registry, "status", "--cloud")
    clone = tmp_path / "clone"  # beside the registry: the remote's relative path holds
    git(tmp_path, "clone", "--quiet", str(registry), str(clone))
    dvc(clone, "pull", "--quiet")
    assert "up to date" in dvc(clone, "status")
    pulled = clone / "registry" / "lab" / "assemblies" / ALPHA_RATES / f"{ALPHA_RATES}.nc"
    assert sha1_hash(pulled) == source.one(f"{FOLDER}/assy_lab_Alpha2024_rates.nc", 0).sha1


def test_a_copy_whose_push_fails_names_the_push_and_moves_no_branch(
    source: Source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The objects go up while others still download; a remote that refuses connections still
    fails the run at its step ``push``, with the remote named, and leaves every branch as it was."""
    from brainio_dvc.contribute.migrate import migrate as migrate_objects
    from brainio_dvc.exceptions import PackagingError, RemoteError

    _credentials(monkeypatch)
    root = init_registry(tmp_path / "registry", "s3://registry-bucket/objects")
    dvc(root, "remote", "modify", "storage", "endpointurl", "http://127.0.0.1:9")
    git(root, "commit", "--quiet", "-am", "A remote that is down")
    manifest = write_manifest(tmp_path / "brainscore.csv", input_rows(source)[:5])
    branches = git(root, "branch", "--list")
    with pytest.raises(PackagingError) as raised:
        migrate_objects(manifest, root, "copy", jobs=2)
    assert raised.value.step == "push", raised.value
    assert isinstance(raised.value.cause, RemoteError), raised.value
    assert "s3://registry-bucket/objects" in str(raised.value), raised.value
    assert git(root, "branch", "--list") == branches
    assert not (root / ".git" / "brainio-dvc-package.journal").exists()


def test_two_versions_of_one_key_migrate_by_version_id_and_load_by_rev(
    source: Source, registry: Path, tmp_path: Path
) -> None:
    first = write_manifest(tmp_path / "first.csv", input_rows(source, release=0)[:5])
    code, report = migrate(registry, first, "--copy")
    assert code == 0, report
    merge(registry, report["branch"])
    v1 = git(registry, "rev-parse", "HEAD")
    second = write_manifest(tmp_path / "second.csv", input_rows(source, release=1)[:5])
    code, refused = migrate(registry, second, "--copy")
    assert code == 1 and outcomes(refused)[(ALPHA_RATES, "nc")]["reason"] == "conflict"
    code, report = migrate(registry, second, "--copy", "--new-version")
    assert code == 0, report
    assert outcomes(report)[(ALPHA, "csv")]["status"] == "skipped"
    merge(registry, report["branch"])

    values = [assembly_values(source.one(f"{FOLDER}/assy_lab_Alpha2024_rates.nc", n)) for n in (0, 1)]
    np.testing.assert_array_equal(brainio_dvc.get_assembly(ALPHA_RATES, registry=str(registry)).values, values[1])
    np.testing.assert_array_equal(brainio_dvc.get_assembly(ALPHA_RATES, rev=v1, registry=str(registry)).values,
                                  values[0])
    code, output = run_cli("--registry", str(registry), "--json", "log", ALPHA_RATES)
    assert code == 0 and len(json.loads(output)) == 2
    code, output = run_cli("--registry", str(registry), "--json", "diff", v1, "HEAD")
    assert [(c["identifier"], c["status"]) for c in json.loads(output)] == [(ALPHA_RATES, "changed")]
    code, output = run_cli("--registry", str(registry), "--json", "show", ALPHA_RATES)
    assert code == 0 and json.loads(output)["files"][0]["dims"]


def test_reference_records_the_source_and_loads_verify_it(
    source: Source, registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = write_classic_catalog(tmp_path / "lookup.csv", input_rows(source, release=0))
    code, report = migrate(registry, catalog, "--reference")
    assert code == 1
    found = outcomes(report)
    assert found[(ALPHA_RATES, "nc")]["status"] == "migrated"
    assert found[(NULL_RATES, "nc")]["flags"] == ["unversioned"]
    assert found[("lab.Alpha2024.missing", "nc")]["reason"] == "missing object"
    assert found[("lab.Alpha2024.odd", "nc")]["reason"] == "unknown class"
    assert found[("lab.Beta2024.orphan", "nc")]["reason"] == "no stimulus set"
    merge(registry, report["branch"])
    dvc_file = registry / f"registry/lab/assemblies/{ALPHA_RATES}/{ALPHA_RATES}.nc.dvc"
    text = dvc_file.read_text()
    first = source.one(f"{FOLDER}/assy_lab_Alpha2024_rates.nc", 0)
    assert f"version_id: {first.version_id}" in text and f"path: s3://{source.bucket}/{first.key}" in text
    assert "etag:" in text and "frozen: true" in text
    code, output = run_cli("--registry", str(registry), "--json", "catalog", "check", "--remote")
    assert code == 0, output

    # The pinned version loads, though the key's latest version is another one.
    rates = brainio_dvc.get_assembly(ALPHA_RATES, registry=str(registry))
    np.testing.assert_array_equal(rates.values, assembly_values(first))
    assert brainio_dvc.get_stimulus_set(LEGACY, registry=str(registry)).identifier == LEGACY
    with pytest.raises(SourceChangedError, match="sha1"):
        brainio_dvc.get_assembly("lab.Alpha2024.wrong", registry=str(registry))
    unpinned = brainio_dvc.get_assembly(NULL_RATES, registry=str(registry))
    assert unpinned.attrs["sha1"] == source.one(f"{FOLDER}/assy_lab_Alpha2024_unpinned.nc").sha1

    # The unversioned object is overwritten: a cold load refuses it, and the check reports it.
    replacement = _netcdf(tmp_path / "new", 9)
    with open(replacement, "rb") as body:
        source.server.client().put_object(Bucket=source.unversioned, Key=f"{FOLDER}/assy_lab_Alpha2024_unpinned.nc",
                                          Body=body)
    monkeypatch.setenv("BRAINIO_HOME", str(tmp_path / "fresh-home"))
    with pytest.raises(SourceChangedError, match="changed since it was recorded"):
        brainio_dvc.get_assembly(NULL_RATES, registry=str(registry))
    code, output = run_cli("--registry", str(registry), "--json", "catalog", "check", "--remote")
    assert code == 1 and any(NULL_RATES in problem for problem in json.loads(output)["problems"])
    # Putting the recorded bytes back makes it loadable again.
    uploaded = source.one(f"{FOLDER}/assy_lab_Alpha2024_unpinned.nc")
    with open(uploaded.path, "rb") as body:
        source.server.client().put_object(Bucket=source.unversioned, Key=uploaded.key, Body=body)


def test_no_head_records_offline_and_the_check_reports_unverified(
    source: Source, registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = write_manifest(tmp_path / "offline.json.csv", input_rows(source)[:5])
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing is contacted
    code, report = migrate(registry, manifest, "--reference", "--no-head")
    assert code == 0, report
    assert all("unverified" in e["flags"] for e in report["entries"])
    merge(registry, report["branch"])
    monkeypatch.setenv("AWS_ENDPOINT_URL", source.server.endpoint)
    code, output = run_cli("--registry", str(registry), "--json", "catalog", "check", "--remote")
    problems = json.loads(output)["problems"]
    assert code == 1 and len([p for p in problems if "unverified" in p]) == 5
    # Unverified references load all the same, verified by their SHA-1.
    assert brainio_dvc.get_stimulus_set(ALPHA, registry=str(registry)).identifier == ALPHA


def test_scan_plugins_reads_brainscore_plugins_without_running_them(
    source: Source, registry: Path, tmp_path: Path
) -> None:
    rates = source.one(f"{FOLDER}/assy_lab_Alpha2024_rates.nc", 1)
    alpha_csv, alpha_zip = (source.one(f"{FOLDER}/stimulus_lab_Alpha2024.{ext}") for ext in ("csv", "zip"))
    legacy = source.one(f"{FOLDER}/assy_{LEGACY}.nc")
    legacy_csv, legacy_zip = (source.one(f"{FOLDER}/stimulus_{LEGACY}.{ext}") for ext in ("csv", "zip"))
    data = tmp_path / "vision" / "brainscore_vision" / "data"
    (data / "alpha").mkdir(parents=True)
    (data / "alpha" / "__init__.py").write_text(f'''
raise RuntimeError("plugins are never run")
import functools
from brainscore_vision import data_registry, stimulus_set_registry, load_stimulus_set
from brainscore_core.supported_data_standards.brainio.assemblies import NeuronRecordingAssembly
from brainscore_core.supported_data_standards.brainio.s3 import load_assembly_from_s3, load_stimulus_set_from_s3

BIBTEX = """@article{{alpha2024,
  title={{Alpha}}, year={{2024}}}}"""
BUCKET = "{source.bucket}/{FOLDER}"

# stimulus set: keyword arguments
stimulus_set_registry["Alpha2024"] = lambda: load_stimulus_set_from_s3(
    identifier="{ALPHA}",
    bucket=BUCKET,
    csv_sha1="{alpha_csv.sha1}",
    zip_sha1="{alpha_zip.sha1}",
    csv_version_id="{alpha_csv.version_id}",
    zip_version_id="{alpha_zip.version_id}")

# assembly: functools.partial with positional arguments
data_registry["Alpha2024.rates"] = functools.partial(
    load_assembly_from_s3, "{ALPHA_RATES}", "{rates.version_id}", "{rates.sha1}", BUCKET,
    NeuronRecordingAssembly, stimulus_set_loader=lambda: load_stimulus_set("Alpha2024"))

def computed(name):
    return load_assembly_from_s3(identifier=name, version_id="null", sha1="{'1' * 40}", bucket=BUCKET,
                                 cls=NeuronRecordingAssembly)

data_registry["Alpha2024.computed"] = lambda: computed("lab.Alpha2024.computed")
''')
    (data / "legacy").mkdir()
    (data / "legacy" / "__init__.py").write_text(f'''
from brainscore_vision import data_registry, stimulus_set_registry
from brainscore_vision.data_helpers.s3 import load_assembly_from_s3, load_stimulus_set_from_s3
from brainio.assemblies import NeuronRecordingAssembly

# positional stimulus set, plain bucket/folder literal, "null" version ids (unpinned)
stimulus_set_registry["{LEGACY}"] = lambda: load_stimulus_set_from_s3(
    "{LEGACY}", "{source.bucket}/{FOLDER}", "{legacy_csv.sha1}", "{legacy_zip.sha1}", "null", "null")
data_registry["{LEGACY}"] = lambda: load_assembly_from_s3(
    identifier="{LEGACY}", version_id="{legacy.version_id}", sha1="{legacy.sha1}",
    bucket="{source.bucket}/{FOLDER}", cls=NeuronRecordingAssembly,
    stimulus_set_loader=lambda: stimulus_set_registry["{LEGACY}"]())
''')
    (data / "alpha" / "test.py").write_text("def test():\n    pass\n")
    manifest = tmp_path / "manifest.csv"
    code, output = run_cli("--json", "migrate", "scan-plugins", str(tmp_path / "vision"), "-o", str(manifest))
    scan = json.loads(output)
    assert code == 1  # one call cannot be resolved statically
    assert [(u["file"], u["reason"].split(":")[0]) for u in scan["unresolved"]] == [
        ("brainscore_vision/data/alpha/__init__.py", "load_assembly_from_s3")]
    lines = (data / "alpha" / "__init__.py").read_text().splitlines()
    expected_line = next(n for n, line in enumerate(lines, 1) if "return load_assembly_from_s3(" in line)
    assert scan["unresolved"][0]["line"] == expected_line and "identifier is name" in scan["unresolved"][0]["reason"]
    rows = {(r["identifier"], r["key"].rsplit(".", 1)[1]): r for r in csv.DictReader(manifest.open())}
    assert set(rows) == {(ALPHA, "csv"), (ALPHA, "zip"), (ALPHA_RATES, "nc"), (LEGACY, "csv"), (LEGACY, "zip"),
                         (LEGACY, "nc")}
    assert rows[(ALPHA_RATES, "nc")]["key"] == f"{FOLDER}/assy_lab_Alpha2024_rates.nc"
    assert rows[(ALPHA_RATES, "nc")]["stimulus_set_identifier"] == ALPHA
    assert rows[(ALPHA_RATES, "nc")]["bibtex"].startswith("@article{alpha2024")
    assert rows[(LEGACY, "csv")]["version_id"] == "" and rows[(LEGACY, "csv")]["class"] == "StimulusSet"
    assert rows[(LEGACY, "nc")]["stimulus_set_identifier"] == LEGACY

    code, report = migrate(registry, manifest, "--reference")
    assert code == 0, report
    assert outcomes(report)[(LEGACY, "csv")]["flags"] == ["pinned latest version"]
    merge(registry, report["branch"])
    np.testing.assert_array_equal(brainio_dvc.get_assembly(ALPHA_RATES, registry=str(registry)).values,
                                  assembly_values(rates))
    assert "bibtex: '@article{alpha2024" in (
        registry / f"registry/lab/assemblies/{ALPHA_RATES}/{ALPHA_RATES}.nc.dvc").read_text().replace('"', "'")


def test_the_check_reads_a_referenced_pair_from_its_sources_and_reports_a_lost_stimulus(
    source: Source, registry: Path, tmp_path: Path
) -> None:
    """A pair migrated by reference is never on the machine at migration; ``catalog check
    --remote`` reads the CSV and the ZIP's central directory from their S3 versions."""
    import pandas as pd

    identifier = "lab.Lost2024"
    csv_path, zip_path = _stimulus_files(tmp_path / "lost", identifier, "lost")
    frame = pd.read_csv(csv_path)
    lost = frame.iloc[[-1]].assign(stimulus_id="s9", filename="lost/s9.png")
    pd.concat([frame, lost]).to_csv(csv_path, index=False)
    stem = identifier.replace(".", "_")
    rows = [source.put(source.bucket, f"{FOLDER}/stimulus_{stem}.{ext}", path, identifier, "stimulus_set", cls).row()
            for ext, path, cls in (("csv", csv_path, "StimulusSet"), ("zip", zip_path, ""))]
    code, report = migrate(registry, write_manifest(tmp_path / "lost.csv", rows), "--reference")
    assert code == 0, report
    merge(registry, report["branch"])
    from brainio_dvc import config

    assert not list(config.home().glob("cache/files/*/*/*"))  # nothing of it is here
    code, output = run_cli("--registry", str(registry), "--json", "catalog", "check", "--remote")
    problems = [p for p in json.loads(output)["problems"] if "not in the ZIP" in p]
    assert code == 1 and len(problems) == 1, output
    assert identifier in problems[0] and "'lost/s9.png'" in problems[0] and f"s3://{source.bucket}/" in problems[0]
