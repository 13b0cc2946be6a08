"""brainio_dvc.lookup behaves as BrainIO 1.1's: names, results, ``append``, and malformed rows.

Registry tests use real git registries (:mod:`tests.gitdvc`).  The differential test runs one
script under real BrainIO 1.1 and under brainio_dvc, on the same installed-package catalog, and
compares what ``lookup_assembly``, ``lookup_stimulus_set`` and ``append`` give.  It needs a
Python with BrainIO installed: set ``BRAINIO_REFERENCE_PYTHON`` to its interpreter (for example
``BRAINIO_REFERENCE_PYTHON=/tmp/bio-venv/bin/python``); without it, ``/tmp/bio-venv/bin/python``
is used when it exists, else the test is skipped.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import brainio_dvc.catalogs
import brainio_dvc.lookup
from brainio_dvc import lookup
from brainio_dvc.catalogs import BRAINIO_COLUMNS, render_catalog_csv
from brainio_dvc.exceptions import CatalogRowError
from tests.gitdvc import git, git_commands, in_a_new_process, init_registry

SHA1 = "5b7a0b3c" * 5
MD5 = "0cc175b9c0f1b6a831c399e269772661"
CATALOG = "lab"
GOOD_ROWS = [
    {"identifier": "lab.Good2020", "lookup_type": "assembly", "class": "NeuronRecordingAssembly",
     "location_type": "dvc", "location": "registry/lab/assemblies/lab.Good2020/lab.Good2020.nc",
     "sha1": SHA1, "stimulus_set_identifier": "lab.Images2020", "md5": MD5, "size": "10", "catalog": CATALOG},
    {"identifier": "lab.Images2020", "lookup_type": "stimulus_set", "class": "StimulusSet",
     "location_type": "dvc", "location": "registry/lab/stimulus_sets/lab.Images2020/lab.Images2020.csv",
     "sha1": SHA1, "stimulus_set_identifier": "", "md5": MD5, "size": "10", "catalog": CATALOG},
    {"identifier": "lab.Images2020", "lookup_type": "stimulus_set", "class": "",
     "location_type": "dvc", "location": "registry/lab/stimulus_sets/lab.Images2020/lab.Images2020.zip",
     "sha1": SHA1, "stimulus_set_identifier": "", "md5": MD5, "size": "10", "catalog": CATALOG},
]
#: Line 5 of the catalog: an md5 that would name a path outside the cache.
BAD_LINE = "lab.Bad2020,assembly,NeuronRecordingAssembly,dvc,registry/lab/x.nc,,lab.Images2020,../../x,10\n"
CATALOG_PATH = f"catalogs/{CATALOG}/lookup.csv"


# --- the names of BrainIO 1.1's modules -----------------------------------------------------

BRAINIO_LOOKUP_NAMES = [
    "ENTRYPOINT", "TYPE_ASSEMBLY", "TYPE_STIMULUS_SET", "list_catalogs", "get_catalog", "get_catalogs",
    "combined_catalog", "list_stimulus_sets", "list_assemblies", "lookup_stimulus_set", "lookup_assembly",
    "StimulusSetLookupError", "AssemblyLookupError", "append", "sha1_hash", "Catalog", "SOURCE_CATALOG",
]
BRAINIO_CATALOGS_NAMES = ["SOURCE_CATALOG", "Catalog", "CatalogLoader"]


def test_brainios_public_names_are_exported_from_the_same_modules() -> None:
    for name in BRAINIO_LOOKUP_NAMES:
        assert hasattr(brainio_dvc.lookup, name) and name in brainio_dvc.lookup.__all__, name
    for name in BRAINIO_CATALOGS_NAMES:
        assert hasattr(brainio_dvc.catalogs, name) and name in brainio_dvc.catalogs.__all__, name
    assert brainio_dvc.lookup.Catalog is brainio_dvc.catalogs.Catalog
    assert brainio_dvc.lookup.SOURCE_CATALOG == brainio_dvc.catalogs.SOURCE_CATALOG == "source_catalog"
    assert (lookup.ENTRYPOINT, lookup.TYPE_ASSEMBLY, lookup.TYPE_STIMULUS_SET) == (
        "brainio_lookups", "assembly", "stimulus_set")
    assert issubclass(lookup.AssemblyLookupError, KeyError) and issubclass(lookup.StimulusSetLookupError, KeyError)
    catalog = brainio_dvc.catalogs.Catalog({"identifier": ["a", "b"], "lookup_type": ["assembly", "stimulus_set"]})
    catalog.identifier, catalog.url = "lab", "https://example.org/lab.csv"
    # As BrainIO's, a catalog's identifier and url survive pandas operations.
    for derived in (catalog[catalog["lookup_type"] == "assembly"], catalog.copy(), catalog.head(1)):
        assert isinstance(derived, brainio_dvc.catalogs.Catalog)
        assert (derived.identifier, derived.url) == ("lab", "https://example.org/lab.csv")


# --- a registry catalog with a malformed row ------------------------------------------------


@pytest.fixture
def bad_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A registry whose one catalog has three good rows and, at line 5, a malformed one."""
    monkeypatch.chdir(tmp_path)
    root = init_registry(tmp_path / "registry", str(tmp_path / "storage"))
    path = root / CATALOG_PATH
    path.parent.mkdir(parents=True)
    path.write_text(render_catalog_csv(GOOD_ROWS) + BAD_LINE, encoding="utf-8")
    git(root, "add", CATALOG_PATH)
    git(root, "commit", "--quiet", "-m", "A catalog with a malformed row")
    yield root
    lookup.refresh()


def test_a_registry_catalog_keeps_its_good_rows_and_names_the_bad_one(
    bad_registry: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = str(bad_registry)
    with caplog.at_level(logging.WARNING, logger="brainio_dvc"):
        assert lookup.list_catalogs(registry=registry) == [CATALOG]
        assert lookup.list_assemblies(registry=registry) == ["lab.Good2020"]
        assert lookup.lookup_assembly("lab.Good2020", registry=registry)["md5"] == MD5
        csv_row, zip_row = lookup.lookup_stimulus_set("lab.Images2020", registry=registry)
        assert (csv_row["class"], zip_row["class"]) == ("StimulusSet", "")
        with pytest.raises(CatalogRowError) as caught:
            lookup.lookup_assembly("lab.Bad2020", registry=registry)
    message = str(caught.value)
    assert CATALOG_PATH in message and "line 5" in message and "md5 as 32 hex digits" in message
    assert caught.value.line == 5
    warned = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warned) == 1 and CATALOG_PATH in warned[0] and "line 5" in warned[0], warned
    assert lookup.get_catalog(CATALOG, registry=registry).attrs["bad_rows"][0].line == 5


def test_the_catalog_cache_carries_the_bad_rows(bad_registry: Path, tmp_path: Path) -> None:
    registry = str(bad_registry)
    assert lookup.list_assemblies(registry=registry) == ["lab.Good2020"]  # parses, writes the cache
    # A new process reads the cache, not the CSV from git: the bad row is still known there.
    code = ("import brainio_dvc.lookup as lookup\n"
            "from brainio_dvc.exceptions import CatalogRowError\n"
            f"print(lookup.list_assemblies(registry={registry!r}))\n"
            "try:\n"
            f"    lookup.lookup_assembly('lab.Bad2020', registry={registry!r})\n"
            "except CatalogRowError as error:\n"
            "    print(error.line, error)\n")
    reads = {"cat-file", "ls-tree", "show"}
    trace = tmp_path / "warm.trace"
    listed, refused = in_a_new_process(code, trace=trace).stdout.splitlines()
    assert listed == "['lab.Good2020']"
    assert refused.startswith("5 ") and f"{CATALOG_PATH}, line 5" in refused, refused
    assert not reads & set(git_commands(trace)), git_commands(trace)
    # (where nothing is cached, the catalog is read from git: the trace sees it)
    cold = tmp_path / "cold.trace"
    assert in_a_new_process(code, trace=cold, BRAINIO_HOME=str(tmp_path / "another-home")).stdout.splitlines() == [
        listed, refused]
    assert reads & set(git_commands(cold)), git_commands(cold)


def test_catalog_check_reports_the_malformed_row(bad_registry: Path) -> None:
    from brainio_dvc.cli import cli

    result = CliRunner().invoke(cli, ["--registry", str(bad_registry), "--json", "catalog", "check"])
    assert result.exit_code == 1, result.output
    problems = json.loads(result.output)["problems"]
    malformed = [problem for problem in problems if "malformed catalog row" in problem]
    assert len(malformed) == 1 and f"{CATALOG_PATH}, line 5" in malformed[0] and "'../../x'" in malformed[0]


# --- the same script under BrainIO 1.1 and brainio_dvc --------------------------------------

REFERENCE_ROWS = [
    {"identifier": "dicarlo.MajajHong2015.public", "lookup_type": "assembly", "class": "NeuronRecordingAssembly",
     "location_type": "S3", "location": "https://brainio.dicarlo.s3.amazonaws.com/assy_dicarlo_MajajHong2015_public.nc",
     "sha1": "13d28ca0ce88ee550b54db3004374ae19096e9b9", "stimulus_set_identifier": "dicarlo.hvm-public"},
    {"identifier": "dicarlo.hvm-public", "lookup_type": "stimulus_set", "class": "StimulusSet",
     "location_type": "S3", "location": "https://brainio.dicarlo.s3.amazonaws.com/image_dicarlo_hvm-public.csv",
     "sha1": "5ca7a3da00d8e9c694a9cd725df5ba0ad6d735af", "stimulus_set_identifier": ""},
    {"identifier": "dicarlo.hvm-public", "lookup_type": "stimulus_set", "class": "",
     "location_type": "S3", "location": "https://brainio.dicarlo.s3.amazonaws.com/image_dicarlo_hvm-public.zip",
     "sha1": "8aa44e038d7b551efa8077467622f9d48d72e473", "stimulus_set_identifier": ""},
]

REFERENCE_PACKAGE = '''
import importlib
import os
from pathlib import Path

Catalog = importlib.import_module(os.environ["REFERENCE_LIBRARY"] + ".catalogs").Catalog


def catalog():
    return Catalog.from_files("refcat", Path(__file__).parent / "lookup.csv", url="https://example.org/refcat.csv")
'''

REFERENCE_SCRIPT = '''
import csv
import importlib
import json
import math
import os
import sys

lookup = importlib.import_module(os.environ["REFERENCE_LIBRARY"] + ".lookup")


def text(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def row(series):
    return {str(key): text(value) for key, value in series.items()}


def refusal(call):
    try:
        call()
    except ValueError:
        return True
    return False


result = {}
result["assembly"] = row(lookup.lookup_assembly("dicarlo.MajajHong2015.public"))
stimuli = lookup.lookup_stimulus_set("dicarlo.hvm-public")
result["stimulus_set_type"] = type(stimuli).__name__
result["stimulus_set"] = [row(part) for part in stimuli]
updated = lookup.append("refcat", "dicarlo.Rajalingham2018.public", "BehavioralAssembly", "assembly",
                        "brainio-brainscore", "0" * 40, "assy_dicarlo_Rajalingham2018_public.nc",
                        "dicarlo.hvm-public")
result["append_rows"] = [row(r) for _, r in updated.iterrows()]
result["append_source_path"] = text(updated.attrs["source_path"])
result["appended_assembly"] = row(lookup.lookup_assembly("dicarlo.Rajalingham2018.public"))
lookup.append("refcat", "dicarlo.objectome", "StimulusSet", "stimulus_set", "brainio-brainscore", "1" * 40,
              "image_dicarlo_objectome.csv")
lookup.append("refcat", "dicarlo.objectome", None, "stimulus_set", "brainio-brainscore", "2" * 40,
              "image_dicarlo_objectome.zip")
result["appended_stimulus_set"] = [row(part) for part in lookup.lookup_stimulus_set("dicarlo.objectome")]
result["duplicate_refused"] = refusal(lambda: lookup.append(
    "refcat", "dicarlo.Rajalingham2018.public", "BehavioralAssembly", "assembly", "b", "3" * 40, "x.nc"))
result["assemblies"] = lookup.list_assemblies()
result["stimulus_sets"] = lookup.list_stimulus_sets()
with open(os.environ["REFERENCE_CATALOG"], newline="", encoding="utf-8") as stream:
    result["file_rows"] = [{k: text(v) for k, v in r.items()} for r in csv.DictReader(stream)]
with open(sys.argv[1], "w", encoding="utf-8") as stream:
    json.dump(result, stream, indent=1, sort_keys=True)
'''


def _reference_python() -> str | None:
    configured = os.environ.get("BRAINIO_REFERENCE_PYTHON")
    if configured:
        return configured
    default = Path("/tmp/bio-venv/bin/python")
    return str(default) if default.exists() else None


def _run_reference_script(python: str, library: str, base: Path) -> dict:
    """The script's results under ``python`` with ``library``, on a fresh copy of the package."""
    site = base / "site"
    package = site / "refpkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(REFERENCE_PACKAGE, encoding="utf-8")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(BRAINIO_COLUMNS)
    writer.writerows([[row[column] for column in BRAINIO_COLUMNS] for row in REFERENCE_ROWS])
    (package / "lookup.csv").write_text(buffer.getvalue(), encoding="utf-8")
    info = site / "refpkg-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: refpkg\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[brainio_lookups]\nrefcat = refpkg:catalog\n", encoding="utf-8")
    script = base / "script.py"
    script.write_text(REFERENCE_SCRIPT, encoding="utf-8")
    output = base / "result.json"
    python_path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": python_path, "REFERENCE_LIBRARY": library,
           "REFERENCE_CATALOG": str(package / "lookup.csv")}
    completed = subprocess.run([python, str(script), str(output)], cwd=base, env=env, capture_output=True, text=True,
                               timeout=300)
    assert completed.returncode == 0, f"{library} under {python}:\n{completed.stderr}"
    result = json.loads(output.read_text(encoding="utf-8"))
    result["append_source_path"] = str(Path(result["append_source_path"]).relative_to(base))
    return result


def test_lookups_and_append_give_what_brainio_gives(tmp_path: Path) -> None:
    reference = _reference_python()
    if reference is None:
        pytest.skip("no BrainIO to compare with: set BRAINIO_REFERENCE_PYTHON to a Python with BrainIO 1.1")
    probe = subprocess.run([reference, "-c", "import brainio.lookup"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"BRAINIO_REFERENCE_PYTHON={reference} cannot import brainio: {probe.stderr.strip()[-200:]}")
    expected = _run_reference_script(reference, "brainio", tmp_path / "brainio")
    found = _run_reference_script(sys.executable, "brainio_dvc", tmp_path / "brainio_dvc")
    assert expected["stimulus_set_type"] == "tuple"
    assert expected["duplicate_refused"] is True
    for key in sorted(expected):
        assert found[key] == expected[key], key
