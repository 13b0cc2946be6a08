"""Contributing as Brain-Score scientists do: their packaging scripts, one pull request per
dataset, merges without catalog conflicts, ``init`` and ``gc``.  Real git and DVC throughout."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner

import brainio_dvc
from brainio_dvc.assemblies import BehavioralAssembly, NeuronRecordingAssembly
from brainio_dvc.cli import cli
from brainio_dvc.exceptions import PackagingError
from brainio_dvc.packaging import package_data_assembly, package_stimulus_set
from brainio_dvc.stimuli import StimulusSet

from .conftest import dvc, git

README = Path(__file__).resolve().parents[2] / "README.md"


def run_cli(*arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(arguments))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def new_registry(base: Path, name: str = "registry") -> Path:
    """A fresh registry made by `brainio-dvc init`, with a bare origin to push to."""
    root = base / name
    code, output = run_cli("init", str(root))
    assert code == 0, output
    origin = base / f"{name}-origin.git"
    git(base, "clone", "--quiet", "--bare", str(root), str(origin))
    git(root, "remote", "add", "origin", str(origin))
    git(root, "fetch", "--quiet", "origin")
    return root


def check(root: Path, *options: str) -> dict:
    code, output = run_cli("--registry", str(root), "--json", "catalog", "check", *options)
    report = json.loads(output[output.index("{"):])
    report["exit_code"] = code
    return report


# -- a packaging script in Brain-Score's style ----------------------------------------------


def images(directory: Path, names: list[str]) -> dict[str, Path]:
    from PIL import Image

    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for number, name in enumerate(names):
        path = directory / f"{name}.png"
        Image.fromarray(np.full((8, 8, 3), 30 * number, dtype=np.uint8)).save(path)
        paths[name] = path
    return paths


TEXTURE = "BMD_2024_texture_1"  # an identifier BrainIO accepted, off the naming convention
TEXTURE_IDS = ["Airplane_11_t1", "Airplane_12_t1", "Bird_3_t1", "Bird_4_t1"]


def texture_stimuli(directory: Path) -> StimulusSet:
    paths = images(directory, TEXTURE_IDS)
    stimuli = StimulusSet({"stimulus_id": TEXTURE_IDS, "category": ["airplane", "airplane", "bird", "bird"],
                           "texture_level": [0.5, 1.0, 0.5, 1.0]})
    stimuli.stimulus_paths = paths
    stimuli.identifier = TEXTURE
    return stimuli


def texture_rates(ids: list[str] = TEXTURE_IDS) -> NeuronRecordingAssembly:
    return NeuronRecordingAssembly(
        np.arange(len(ids) * 2 * 2, dtype=np.float32).reshape(len(ids) * 2, 2, 1),
        coords={"stimulus_id": ("presentation", ids * 2),
                "repetition": ("presentation", [0] * len(ids) + [1] * len(ids)),
                "neuroid_id": ("neuroid", ["n1", "n2"]), "region": ("neuroid", ["V4", "IT"]),
                "time_bin_start": ("time_bin", [70]), "time_bin_end": ("time_bin", [170])},
        dims=["presentation", "neuroid", "time_bin"])


def texture_choices() -> BehavioralAssembly:
    return BehavioralAssembly(
        [["airplane", "bird"], ["bird", "bird"], ["bird", "airplane"], ["bird", "bird"]],
        coords={"stimulus_id": ("presentation", TEXTURE_IDS),
                "truth": ("presentation", ["airplane"] * 2 + ["bird"] * 2),
                "subject": ("subject", ["s1", "s2"])},
        dims=["presentation", "subject"])


def texture_extras() -> dict[str, xr.DataArray]:
    return {"ceiling": xr.DataArray([0.8, 0.9], coords={"subject": ["s1", "s2"]}, dims=["subject"], name="ceiling")}


def package_texture_dataset(root: Path, directory: Path) -> list[dict]:
    """What a Brain-Score packaging script does: the stimulus set, then its assemblies."""
    return [
        package_stimulus_set(None, texture_stimuli(directory), TEXTURE, "brainio-temp", registry=root),
        # The same identifier for the assembly as for its stimulus set, as in BrainIO's catalogs.
        package_data_assembly(None, texture_rates(), TEXTURE, TEXTURE, "NeuronRecordingAssembly", "brainio-temp",
                              texture_extras(), registry=root),
        package_data_assembly(None, texture_choices(), f"{TEXTURE}.behavior", TEXTURE,
                              assembly_class_name="BehavioralAssembly", bucket_name="brainio-temp", registry=root),
    ]


LONNQVIST = "Lonnqvist2024_train"
LONNQVIST_IDS = [1, 2, 3]  # integer stimulus ids, as BrainIO accepted


def package_lonnqvist_dataset(root: Path, directory: Path) -> list[dict]:
    paths = images(directory, [str(i) for i in LONNQVIST_IDS])
    stimuli = StimulusSet({"stimulus_id": LONNQVIST_IDS, "shape": ["a", "b", "c"]})
    stimuli.stimulus_paths = {int(name): path for name, path in paths.items()}
    responses = BehavioralAssembly(
        ["yes", "no", "yes"],
        coords={"stimulus_id": ("presentation", LONNQVIST_IDS), "trial": ("presentation", [0, 1, 2])},
        dims=["presentation"])
    return [
        package_stimulus_set(catalog_name=None, proto_stimulus_set=stimuli, stimulus_set_identifier=LONNQVIST,
                             bucket_name="brainio-temp", registry=root),
        package_data_assembly(None, responses, "lonnqvist.Lonnqvist2024_train", LONNQVIST, "BehavioralAssembly",
                              registry=root),
    ]


def test_a_brain_score_script_makes_one_branch_that_merges_and_loads_back(tmp_path: Path) -> None:
    root = new_registry(tmp_path)
    base = git(root, "rev-parse", "HEAD")
    results = package_texture_dataset(root, tmp_path / "texture")
    # One branch for the dataset, three commits on top of the base, the user's branch untouched.
    assert {result["branch"] for result in results} == {f"package/{TEXTURE}"}
    assert git(root, "rev-list", "--count", f"{base}..package/{TEXTURE}") == "3"
    assert git(root, "rev-parse", "HEAD") == base
    stimulus_result, rates_result, choices_result = results
    # BrainIO's keys, then ours.
    assert {"identifier", "bucket", "csv_sha1", "zip_sha1", "csv_version_id", "zip_version_id"} <= set(stimulus_result)
    assert {"identifier", "version_id", "sha1", "bucket", "cls"} <= set(rates_result)
    assert stimulus_result["bucket"] == "brainio-temp" and stimulus_result["catalog"] == "brainscore"
    assert rates_result["cls"] == "NeuronRecordingAssembly" and choices_result["cls"] == "BehavioralAssembly"
    assert rates_result["remote"] == "storage"  # no DVC remote named brainio-temp: the default one

    # A second dataset, branched from the same base, into the same catalog.
    other = package_lonnqvist_dataset(root, tmp_path / "lonnqvist")
    assert {result["branch"] for result in other} == {f"package/{LONNQVIST}"}
    # The pull-request check passes on each branch as packaging left it: naming is advice.
    for branch in (f"package/{TEXTURE}", f"package/{LONNQVIST}"):
        git(root, "switch", "--quiet", branch)
        report = check(root, "--remote")
        assert report["exit_code"] == 0 and report["problems"] == [], report
        assert any(TEXTURE in warning or LONNQVIST in warning for warning in report["warnings"])
    git(root, "switch", "--quiet", "main")

    # Both branches merge with plain git, without a conflict, and the result passes the check.
    git(root, "merge", "--quiet", "--no-edit", f"package/{TEXTURE}")
    git(root, "merge", "--quiet", "--no-edit", f"package/{LONNQVIST}")
    report = check(root, "--remote")
    assert report["exit_code"] == 0 and report["problems"] == [], report

    # Everything loads back with the same values.
    registry = str(root)
    stimuli = brainio_dvc.get_stimulus_set(TEXTURE, registry=registry)
    assert sorted(stimuli["stimulus_id"]) == sorted(TEXTURE_IDS)
    assert list(stimuli.set_index("stimulus_id").loc[TEXTURE_IDS, "texture_level"]) == [0.5, 1.0, 0.5, 1.0]
    assert Path(stimuli.get_stimulus("Bird_3_t1")).read_bytes() == (tmp_path / "texture" / "Bird_3_t1.png").read_bytes()
    rates = brainio_dvc.get_assembly(TEXTURE, registry=registry)
    np.testing.assert_array_equal(np.sort(rates.values.ravel()), np.sort(texture_rates().values.ravel()))
    assert set(rates["category"].values) == {"airplane", "bird"}  # merged from the stimulus set
    choices = brainio_dvc.get_assembly(f"{TEXTURE}.behavior", registry=registry)
    assert isinstance(choices, BehavioralAssembly)
    expected = texture_choices()
    assert sorted(map(str, choices.values.ravel())) == sorted(map(str, expected.values.ravel()))
    code, output = run_cli("--registry", registry, "get", TEXTURE, "-o", str(tmp_path / "got"))
    assert code == 0, output
    ceiling = xr.open_dataarray(tmp_path / "got" / f"{TEXTURE}.nc", group="ceiling")
    np.testing.assert_allclose(ceiling.values, [0.8, 0.9])
    responses = brainio_dvc.get_assembly("lonnqvist.Lonnqvist2024_train", registry=registry)
    assert sorted(map(str, responses.values)) == ["no", "yes", "yes"]
    lonnqvist = brainio_dvc.get_stimulus_set(LONNQVIST, registry=registry)
    assert sorted(lonnqvist["shape"]) == ["a", "b", "c"]
    # Integer stimulus ids: packaged as their decimal form; the loading side is being fixed
    # concurrently (stimuli.py), so only the values are compared here, not their type.
    assert sorted(int(i) for i in lonnqvist["stimulus_id"]) == LONNQVIST_IDS


def test_two_datasets_merge_in_the_other_order_too(tmp_path: Path) -> None:
    root = new_registry(tmp_path)
    package_lonnqvist_dataset(root, tmp_path / "lonnqvist")
    package_texture_dataset(root, tmp_path / "texture")
    for branch in (f"package/{LONNQVIST}", f"package/{TEXTURE}"):  # the reverse order
        git(root, "merge", "--quiet", "--no-edit", branch)
    report = check(root)
    assert report["exit_code"] == 0 and report["problems"] == [], report
    code, _ = run_cli("--registry", str(root), "catalog", "build")
    assert code == 0
    assert sorted(brainio_dvc.list_assemblies(registry=str(root))) == sorted(
        [TEXTURE, f"{TEXTURE}.behavior", "lonnqvist.Lonnqvist2024_train"])


def test_a_new_version_after_the_merge_needs_no_branch_deleted(tmp_path: Path) -> None:
    root = new_registry(tmp_path)
    first = package_texture_dataset(root, tmp_path / "texture")
    git(root, "merge", "--quiet", "--no-edit", f"package/{TEXTURE}")  # the branch stays
    merged = git(root, "rev-parse", "HEAD")
    changed = texture_rates() + 1
    result = package_data_assembly(None, changed, TEXTURE, TEXTURE, registry=root, new_version=True)
    assert result["branch"] == f"package/{TEXTURE}"
    assert git(root, "rev-parse", f"{result['commit']}~1") == merged  # started again from the base
    new = brainio_dvc.get_assembly(TEXTURE, rev=result["branch"], registry=str(root))
    old = brainio_dvc.get_assembly(TEXTURE, rev=merged, registry=str(root))
    assert float(new.sum() - old.sum()) == pytest.approx(16.0)
    assert first[1]["md5"] != result["md5"]


def test_a_squash_merged_branch_counts_as_merged(tmp_path: Path) -> None:
    root = new_registry(tmp_path)
    package_texture_dataset(root, tmp_path / "texture")
    git(root, "merge", "--quiet", "--squash", f"package/{TEXTURE}")
    git(root, "commit", "--quiet", "-m", "Squashed")
    result = package_data_assembly(None, texture_rates() * 2, TEXTURE, TEXTURE, registry=root, new_version=True)
    assert git(root, "rev-parse", f"{result['commit']}~1") == git(root, "rev-parse", "HEAD")


def test_an_assembly_without_its_stimulus_set_anywhere_is_refused(tmp_path: Path) -> None:
    root = new_registry(tmp_path)
    with pytest.raises(PackagingError, match="package it first") as raised:
        package_data_assembly(None, texture_rates(), TEXTURE, TEXTURE, registry=root)
    assert raised.value.step == "validate"
    assert git(root, "branch", "--list", "package/*") == ""


def test_a_script_run_again_before_the_merge_changes_nothing(tmp_path: Path) -> None:
    root = new_registry(tmp_path)
    package_texture_dataset(root, tmp_path / "texture")
    tip = git(root, "rev-parse", f"package/{TEXTURE}")
    again = package_texture_dataset(root, tmp_path / "texture")
    assert git(root, "rev-parse", f"package/{TEXTURE}") == tip
    assert {result["commit"] for result in again} == {tip}


@pytest.mark.parametrize("bucket", ["brainio.requested", None])
def test_brainios_submission_checks_run_where_brainio_ran_them(tmp_path: Path, bucket: str | None) -> None:
    root = new_registry(tmp_path)
    stimuli = texture_stimuli(tmp_path / "texture")  # 'Airplane_11_t1.png' ... are not numbered sequentially
    if bucket:
        with pytest.raises(PackagingError, match="sequentially numbered|submission rules"):
            package_stimulus_set(None, stimuli, TEXTURE, bucket, registry=root)
        with pytest.raises(PackagingError, match="sequentially numbered|submission rules"):
            package_stimulus_set(None, stimuli, TEXTURE, registry=root, strict=True)
    else:
        assert package_stimulus_set(None, stimuli, TEXTURE, registry=root)["stimuli"] == 4


def test_legacy_names_and_video_stimuli_are_packaged(tmp_path: Path) -> None:
    root = new_registry(tmp_path)
    clip = tmp_path / "clips" / "clip_1.mp4"
    clip.parent.mkdir()
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    stimuli = StimulusSet({"stimulus_id": ["clip_1"]})
    stimuli.stimulus_paths = {"clip_1": clip}
    for identifier in ("dicarlo.hvm-public", "dicarlo.Marques2020_blank"):
        result = package_stimulus_set("dicarlo", stimuli, identifier, registry=root)
        assert result["branch"] == f"package/{identifier}"
        assert f"{identifier}.zip" in result["zip_path"]


def test_a_bucket_name_selects_the_remote_of_that_name(tmp_path: Path) -> None:
    root = new_registry(tmp_path)
    other = tmp_path / "other-storage"
    dvc(root, "remote", "add", "brainio-contrib", str(other))
    git(root, "commit", "--quiet", "-am", "A second remote")
    result = package_stimulus_set(
        None, texture_stimuli(tmp_path / "texture"), TEXTURE, "brainio-contrib", registry=root
    )
    assert result["remote"] == "brainio-contrib"
    md5 = result["md5"]
    assert (other / "files" / "md5" / md5[:2] / md5[2:]).is_file()


# -- catalog check: advice, --strict ----------------------------------------------------------


def test_strict_check_fails_only_on_names_new_since_the_base(tmp_path: Path) -> None:
    root = new_registry(tmp_path)
    package_texture_dataset(root, tmp_path / "texture")
    git(root, "merge", "--quiet", "--no-edit", f"package/{TEXTURE}")
    assert check(root, "--strict", "--base", "HEAD")["exit_code"] == 0  # old names: advice only
    package_lonnqvist_dataset(root, tmp_path / "lonnqvist")
    git(root, "switch", "--quiet", f"package/{LONNQVIST}")
    report = check(root, "--strict", "--base", "main")
    assert report["exit_code"] == 1
    assert [p for p in report["problems"] if LONNQVIST in p] and not [p for p in report["problems"] if TEXTURE in p]
    assert check(root)["exit_code"] == 0


# -- init -------------------------------------------------------------------------------------


def test_init_makes_a_registry_that_list_and_check_accept_at_once(tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    code, output = run_cli("init", str(root))
    assert code == 0, output
    assert git(root, "status", "--porcelain") == ""
    assert (tmp_path / "fresh-storage").is_dir()
    assert "merge=union" in (root / ".gitattributes").read_text()
    workflow = (root / ".github" / "workflows" / "catalog-check.yml").read_text()
    assert workflow == (README.parent / ".github" / "workflows" / "catalog-check.yml").read_text()
    code, output = run_cli("--registry", str(root), "--json", "list")
    assert code == 0 and json.loads(output) == [], output
    assert check(root, "--remote")["exit_code"] == 0
    code, output = run_cli("init", str(root))
    assert code == 1 and "already" in output


def test_init_with_an_s3_remote_keeps_credentials_out_of_the_committed_config(tmp_path: Path) -> None:
    root = tmp_path / "s3reg"
    code, output = run_cli("init", str(root), "--remote", "s3://bucket/prefix", "--endpoint-url", "http://127.0.0.1:9")
    assert code == 0, output
    config = (root / ".dvc" / "config").read_text()
    assert "s3://bucket/prefix" in config and "http://127.0.0.1:9" in config
    assert "secret" not in config.lower() and "access_key" not in config.lower()


def test_a_plain_git_and_dvc_repository_is_an_empty_registry(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    root.mkdir()
    git(root, "init", "--quiet")
    dvc(root, "init", "--quiet")
    assert check(root)["exit_code"] == 0  # no catalogs/ (git keeps no empty directory), no commit yet
    code, output = run_cli("--registry", str(root), "--json", "list")
    assert code == 0 and json.loads(output) == [], output
    git(root, "commit", "--quiet", "-m", "Initialize DVC")  # as DVC's documentation does next
    code, output = run_cli("--registry", str(root), "--json", "list")
    assert code == 0 and json.loads(output) == [], output
    dvc(root, "remote", "add", "--default", "storage", str(tmp_path / "storage"))
    result = package_stimulus_set(None, texture_stimuli(tmp_path / "texture"), TEXTURE, registry=root)
    git(root, "merge", "--quiet", "--no-edit", result["branch"])
    assert check(root, "--remote")["exit_code"] == 0


# -- no shared data is ever deleted; gc ------------------------------------------------------


def remote_objects(storage: Path) -> set[str]:
    return {p.parent.name + p.name for p in (storage / "files" / "md5").glob("*/*")}


def test_gc_removes_only_unreferenced_objects_and_only_with_force(tmp_path: Path) -> None:
    root = new_registry(tmp_path)
    storage = tmp_path / "registry-storage"
    results = package_texture_dataset(root, tmp_path / "texture")
    git(root, "push", "--quiet", "origin", f"package/{TEXTURE}")
    git(root, "branch", "--quiet", "-D", f"package/{TEXTURE}")  # only origin has it now
    hook = root / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(PackagingError):
        package_data_assembly(None, texture_rates() * 3, f"{TEXTURE}.orphan", TEXTURE, registry=root,
                              branch="package/orphan", base=f"origin/package/{TEXTURE}")
    hook.unlink()
    objects = remote_objects(storage)
    referenced = {r["md5"] for r in results} | {results[0]["zip_md5"]}
    orphans = objects - referenced
    assert referenced <= objects and orphans  # the failed run's objects stayed

    code, output = run_cli("--registry", str(root), "--json", "gc", "--remote", "--older-than", "0")
    assert code == 0, output
    report = json.loads(output)
    assert set(report["garbage"]) == orphans and not report["deleted"]
    assert remote_objects(storage) == objects  # a dry run
    code, output = run_cli("--registry", str(root), "--json", "gc", "--remote")  # younger than 7 days
    assert json.loads(output)["garbage"] == []
    code, output = run_cli("--registry", str(root), "--json", "gc", "--remote", "--older-than", "0", "--force")
    assert code == 0 and json.loads(output)["deleted"], output
    assert remote_objects(storage) == referenced
    loaded = brainio_dvc.get_stimulus_set(TEXTURE, rev=f"origin/package/{TEXTURE}", registry=str(root))
    assert len(loaded) == 4


def test_a_corrupt_journal_is_refused_not_read_as_empty(tmp_path: Path) -> None:
    root = new_registry(tmp_path)
    journal = root / ".git" / "brainio-dvc-package.journal"
    journal.write_text("{not json")
    with pytest.raises(PackagingError, match="journal") as raised:
        package_stimulus_set(None, texture_stimuli(tmp_path / "texture"), TEXTURE, registry=root)
    assert "delete the file" in str(raised.value)
    assert journal.read_text() == "{not json"
    assert git(root, "branch", "--list", "package/*") == ""


# -- the README's own example -----------------------------------------------------------------


def readme_contributing_blocks() -> dict[str, list[str]]:
    section = README.read_text().split("## Contributing data", 1)[1].split("\n## ", 1)[0]
    blocks: dict[str, list[str]] = {}
    for language, code in re.findall(r"```(\w+)\n(.*?)```", section, flags=re.DOTALL):
        blocks.setdefault(language, []).append(code)
    return blocks


def test_the_readmes_contributing_example_works_as_written(tmp_path: Path) -> None:
    blocks = readme_contributing_blocks()
    assert len(blocks["python"]) == 1
    root = new_registry(tmp_path)
    script = tmp_path / "package_smith2025.py"
    script.write_text(blocks["python"][0])
    completed = subprocess.run([sys.executable, str(script)], cwd=root, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr[-3000:]
    branch = re.search(r"`git push origin (package/\S+)`", README.read_text().split("## Contributing data", 1)[1])
    assert branch and branch.group(1) == "package/Smith2025"
    git(root, "push", "--quiet", "origin", branch.group(1))
    git(root, "merge", "--quiet", "--no-edit", branch.group(1))
    assert check(root, "--remote")["exit_code"] == 0
    assert sorted(brainio_dvc.list_assemblies(registry=str(root))) == ["Smith2025", "Smith2025.behavior"]
    # The shell example, with its clone of the registry.
    shell = blocks["bash"][0]
    assert "--catalog" not in shell
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", str(tmp_path / "registry-origin.git"), str(clone))
    (clone / ".dvc" / "config.local").write_text(  # the storage directory, from the clone's place
        f"['remote \"storage\"']\n    url = {tmp_path / 'registry-storage'}\n")
    images_dir = tmp_path / "images"
    rows = images(images_dir, ["im1", "im2"])
    pd.DataFrame({"stimulus_id": list(rows), "filename": [p.name for p in rows.values()]}).to_csv(
        tmp_path / "stimuli.csv", index=False)
    rates = texture_rates(["im1", "im2"])
    from brainio_dvc.formats.netcdf import write_netcdf

    write_netcdf(rates, tmp_path / "rates.nc")
    for line in shell.splitlines():
        command = line.split("#", 1)[0].strip()
        if command.startswith("brainio-dvc "):
            arguments = command.split()[1:]
            arguments = [str(tmp_path / a) if a in ("stimuli.csv", "images/", "rates.nc") else a for a in arguments]
            code, output = run_cli("--registry", str(clone), *arguments)
            assert code == 0, output
    assert git(clone, "branch", "--list", "package/*") == "package/lab.Smith2025"
    git(clone, "push", "--quiet", "origin", "package/lab.Smith2025")
