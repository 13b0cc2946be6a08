"""Cards written by packaging, checked by `catalog check`, read by `cite` and `search`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import brainio_dvc
from brainio_dvc.cli import cli
from brainio_dvc.exceptions import PackagingError

from .carded import ASSEMBLY_CARD, STIMULI_CARD, carded, carded_template  # noqa: F401 - fixtures
from .conftest import ASSEMBLY, CATALOG, STIMULI, Registry, git, make_assembly

ASSEMBLY_CARD_PATH = f"registry/{CATALOG}/assemblies/{ASSEMBLY}/card.json"
STIMULI_CARD_PATH = f"registry/{CATALOG}/stimulus_sets/{STIMULI}/card.json"


def _card_at(registry: Registry, rev: str, path: str) -> dict:
    return json.loads(git(registry.root, "show", f"{rev}:{path}"))


def test_packaging_commits_a_card_with_derived_facts_beside_the_dvc_files(carded: Registry) -> None:
    stimuli = _card_at(carded, "v2", STIMULI_CARD_PATH)
    assert {name: stimuli[name] for name in STIMULI_CARD} == STIMULI_CARD
    assert stimuli["derived"]["stimuli"] == 6 and stimuli["derived"]["columns"][0] == "stimulus_id"
    catalog = brainio_dvc.get_catalog(CATALOG, registry=str(carded.root))
    sizes = catalog[catalog["identifier"] == STIMULI]["size"].astype(int).sum()
    assert stimuli["derived"]["file_size"] == sizes
    first, second = _card_at(carded, "v1", ASSEMBLY_CARD_PATH), _card_at(carded, "v2", ASSEMBLY_CARD_PATH)
    assert first["derived"]["shape"] == [12, 3, 1] and first["derived"]["dtype"] == "float32"
    assert first["derived"]["memory_size"] >= 12 * 3 * 4
    # The second version was packaged without a card: it keeps the contributor's fields.
    assert {name: second[name] for name in ASSEMBLY_CARD} == ASSEMBLY_CARD
    assert second["derived"]["file_size"] != first["derived"]["file_size"] or second != first


def test_an_invalid_card_refuses_packaging_naming_the_field(carded: Registry) -> None:
    with pytest.raises(PackagingError, match="'subjects'") as raised:
        brainio_dvc.packaging.package_data_assembly(
            CATALOG, make_assembly(3), "lab.Tester2024.other", STIMULI, registry=carded.root,
            card={**ASSEMBLY_CARD, "subjects": "two"})
    assert raised.value.step == "validate"
    assert "package/lab.Tester2024" not in git(carded.root, "branch", "--list")


def test_catalog_check_validates_cards(carded: Registry) -> None:
    runner = CliRunner()
    checked = runner.invoke(cli, ["--registry", str(carded.root), "catalog", "check"])
    assert checked.exit_code == 0, checked.output
    assert "warning" not in checked.output and "problem" not in checked.output

    (carded.root / STIMULI_CARD_PATH).unlink()
    card = json.loads((carded.root / ASSEMBLY_CARD_PATH).read_text())
    (carded.root / ASSEMBLY_CARD_PATH).write_text(json.dumps({**card, "regions": "IT"}))
    checked = runner.invoke(cli, ["--registry", str(carded.root), "catalog", "check"])
    assert checked.exit_code == 1
    assert f"warning: stimulus_set '{STIMULI}' has no card ({STIMULI_CARD_PATH})" in checked.output
    assert f"problem: invalid card: {ASSEMBLY_CARD_PATH}: card field 'regions': expected a list" in checked.output


def test_cite_gives_the_paper_and_the_data_pinned_to_commit_and_md5(carded: Registry) -> None:
    rows = {
        rev: brainio_dvc.lookup.lookup_assembly(ASSEMBLY, rev=rev, registry=str(carded.root)) for rev in ("v1", "v2")
    }
    for rev, commit in (("v1", carded.v1), ("v2", carded.v2)):
        bibtex = brainio_dvc.cite(ASSEMBLY, rev=rev, registry=str(carded.root))
        assert bibtex.startswith("@article{Tester2024,")
        assert f"@misc{{{ASSEMBLY}:{commit[:10]}," in bibtex and commit in bibtex and rows[rev]["md5"] in bibtex
        assert "doi = {10.5281/zenodo.0000001}" in bibtex
    text = brainio_dvc.cite(ASSEMBLY, rev="v1", registry=str(carded.root), format="text")
    assert text.startswith("Paper: Ada Tester, Bob Example & Cy Sample (2024). Object IT responses to Tester shapes.")
    result = CliRunner().invoke(
        cli, ["--registry", str(carded.root), "cite", ASSEMBLY, "--rev", "v1", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    cited = json.loads(result.output)
    assert cited["commit"] == carded.v1 and cited["files"][0]["md5"] == rows["v1"]["md5"]
    assert cited["registry"] == str(carded.root)  # no origin: its path


def test_cite_of_a_clone_names_its_origin_url(carded: Registry, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", carded.url, str(clone))
    cited = json.loads(brainio_dvc.cite(STIMULI, registry=str(clone), format="json"))
    assert cited["registry"] == carded.url and len(cited["files"]) == 2


def test_search_ranks_filters_and_works_at_any_rev(carded: Registry) -> None:
    spec = str(carded.root)
    assert [r.identifier for r in brainio_dvc.search("tester", registry=spec)] == [STIMULI, ASSEMBLY]
    assert [r.identifier for r in brainio_dvc.search("squares", registry=spec)] == [STIMULI]
    found = brainio_dvc.search(species="Macaca mulatta", region="v4", registry=spec)
    assert [r.identifier for r in found] == [ASSEMBLY]
    assert [r.identifier for r in brainio_dvc.search(kind="stimulus_set", registry=spec)] == [STIMULI]
    before_assembly = git(carded.root, "rev-parse", f"{carded.v1}~1")
    assert [r.identifier for r in brainio_dvc.search("tester", rev=before_assembly, registry=spec)] == [STIMULI]
    result = CliRunner().invoke(cli, ["--registry", spec, "--json", "search", "IT", "--kind", "assembly"])
    assert result.exit_code == 0, result.output
    assert [hit["identifier"] for hit in json.loads(result.output)] == [ASSEMBLY]
    result = CliRunner().invoke(cli, ["--registry", spec, "--json", "search", "tester", "--rev", before_assembly])
    assert [hit["identifier"] for hit in json.loads(result.output)] == [STIMULI]


def test_a_warm_search_starts_no_git_and_works_offline(carded: Registry, tmp_path: Path) -> None:
    expected = [r.to_dict() for r in brainio_dvc.search("tester", registry=carded.url)]
    code = (
        "import json, sys, brainio_dvc\n"
        f"found = [r.to_dict() for r in brainio_dvc.search('tester', registry={carded.url!r})]\n"
        "print(json.dumps({'found': found, 'git': 'git' in sys.modules}))\n"
    )
    empty = tmp_path / "no-git-here"
    empty.mkdir()
    # The origin is gone and git is not on PATH: only the caches can answer.
    os.rename(carded.root, carded.root.with_name("gone"))
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ, "PATH": str(empty)}).stdout
    answer = json.loads(output)
    assert answer == {"found": expected, "git": False}
