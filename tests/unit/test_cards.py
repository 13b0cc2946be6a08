"""Dataset cards, BibTeX, citations and search ranking: the pure parts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from brainio_dvc import cards
from brainio_dvc.browse.catalog_search import entries, normalize_kind, rank
from brainio_dvc.browse.citations import Citation
from brainio_dvc.exceptions import CardError, ValidationError
from brainio_dvc.formats.bibtex import format_entry, parse_bibtex, text_citation

ROOT = Path(__file__).resolve().parents[2]
BIBTEX = r"""@comment{ignored}
@article{Smith2025,
  title = {Weighted sums of {IT} rates},
  author = "Smith, Jane and Doe, John",
  journal = {J. Neurosci.}, year = 2025, pages = {1--2},
  doi = {https://doi.org/10.1523/JNEUROSCI.0001-25.2025},
  note = "part " # "two"
}"""


def _card(**fields: object) -> dict:
    return {"schema_version": 1, "identifier": "lab.Smith2025", "kind": "assembly", **fields}


def test_the_demo_registry_cards_are_valid() -> None:
    found = sorted(ROOT.glob("registry/*/*/*/card.json"))
    assert len(found) == 3
    for path in found:
        card = cards.read_card_text(path.read_text(), str(path))
        assert card["identifier"] == path.parent.name and card["title"] and card["derived"]["file_size"] > 0


@pytest.mark.parametrize(("fields", "field"), [
    ({"subjects": "two"}, "subjects"),
    ({"subjects": -1}, "subjects"),
    ({"species": "macaque"}, "species"),
    ({"regions": ["V4", ""]}, "regions[1]"),
    ({"regions": ["V4", "V4"]}, "regions"),
    ({"doi": "doi.org/10.1/x"}, "doi"),
    ({"paper_url": "ftp://x"}, "paper_url"),
    ({"colour": "red"}, "colour"),
    ({"derived": {"shape": [2, "3"]}}, "derived.shape[1]"),
    ({"kind": "table"}, "kind"),
    ({"bibtex": "@article{x, title = {open"}, "bibtex"),
])
def test_an_invalid_card_is_an_error_naming_the_field(fields: dict, field: str) -> None:
    errors = cards.card_problems(_card(**fields), "card.json")
    assert [error.field for error in errors] == [field]
    with pytest.raises(CardError, match=f"card field '{field.split('[')[0]}"):
        cards.check_card(_card(**fields), "card.json")


def test_a_card_without_identity_names_the_missing_fields() -> None:
    assert {error.field for error in cards.card_problems({}, "c")} == {"schema_version", "identifier", "kind"}
    with pytest.raises(CardError, match="invalid JSON"):
        cards.read_card_text("{", "card.json")


def test_from_bibtex_fills_title_doi_and_bibtex_and_takes_fields() -> None:
    card = cards.from_bibtex(BIBTEX, species=["Macaca mulatta"], regions=["IT"])
    assert card["title"] == "Weighted sums of IT rates"
    assert card["doi"] == "10.1523/JNEUROSCI.0001-25.2025"
    assert card["bibtex"].startswith("@comment") and card["species"] == ["Macaca mulatta"]
    with pytest.raises(CardError, match="'subjects'"):
        cards.from_bibtex(BIBTEX, subjects="many")
    with pytest.raises(CardError, match="bibtex"):
        cards.from_bibtex("no entry here")


def test_make_card_adds_identity_and_derived_and_refuses_another_identifier() -> None:
    card = cards.make_card("lab.Smith2025", "assembly", {"title": "T", "derived": {"stimuli": 1}}, {"dtype": "int8"})
    assert card["derived"] == {"dtype": "int8"} and card["schema_version"] == 1
    assert cards.render_card(card) == cards.render_card(dict(reversed(list(card.items()))))
    with pytest.raises(CardError, match="'identifier'"):
        cards.make_card("lab.Smith2025", "assembly", {"identifier": "other"}, {})


def test_the_shipped_schema_is_json_schema_naming_every_contributor_field() -> None:
    schema = cards.schema()
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert set(cards.CONTRIBUTOR_FIELDS) <= set(schema["properties"])


def test_bibtex_values_braces_quotes_numbers_and_concatenation() -> None:
    (entry,) = parse_bibtex(BIBTEX)
    assert (entry.entry_type, entry.key) == ("article", "Smith2025")
    assert entry.get("title") == "Weighted sums of {IT} rates" and entry.get("year") == "2025"
    assert entry.get("note") == "part two"
    assert text_citation(entry).startswith(
        "Jane Smith & John Doe (2025). Weighted sums of IT rates. J. Neurosci., 1–2."
    )
    assert format_entry("misc", "k", {"title": "T", "doi": ""}) == "@misc{k,\n  title = {T},\n}"
    with pytest.raises(ValidationError):
        parse_bibtex("@article{k, title = {unclosed}")


def _citation(**fields: str) -> Citation:
    base = dict(identifier="lab.Smith2025.it", kind="assembly", registry="https://github.com/lab/registry",
                commit="a" * 40, date="2025-01-02T03:04:05+00:00",
                files=[{"path": "registry/lab/assemblies/x/x.nc", "md5": "b" * 32, "sha1": "c" * 40}])
    return Citation(**{**base, **fields})


def test_a_citation_pins_registry_commit_md5_and_doi() -> None:
    cited = _citation(title="IT rates", data_doi="10.5281/zenodo.1", paper_bibtex="@article{p, title={P}}")
    bibtex = cited.format("bibtex")
    assert bibtex.startswith("@article{p,") and "@misc{lab.Smith2025.it:aaaaaaaaaa," in bibtex
    assert "a" * 40 in bibtex and "b" * 32 in bibtex and "doi = {10.5281/zenodo.1}" in bibtex
    assert "url = {https://github.com/lab/registry}" in bibtex
    text = cited.format("text")
    assert "commit " + "a" * 40 + " (2025-01-02)" in text and "https://doi.org/10.5281/zenodo.1" in text
    as_json = json.loads(cited.format("json"))
    assert as_json["commit"] == "a" * 40 and as_json["data_bibtex"] == cited.data_bibtex()
    with pytest.raises(ValidationError):
        cited.format("yaml")


def test_without_a_data_doi_the_data_citation_names_the_paper_doi() -> None:
    cited = _citation(doi="10.1/p")
    assert "described in doi:10.1/p" in cited.data_bibtex() and "https://doi.org/10.1/p" in cited.data_text()
    assert "Paper: (the card names no paper)" in cited.format("text")


ROWS = [
    {"identifier": "lab.Smith2025", "lookup_type": "stimulus_set", "class": "StimulusSet", "location": "a.csv",
     "size": "10"},
    {"identifier": "lab.Smith2025", "lookup_type": "stimulus_set", "class": "", "location": "a.zip", "size": "20"},
    {"identifier": "lab.Smith2025.it", "lookup_type": "assembly", "class": "NeuronRecordingAssembly",
     "location": "b.nc"},
    {"identifier": "lab.Jones2020.v4", "lookup_type": "assembly", "class": "NeuronRecordingAssembly",
     "location": "c.nc"},
]
CARDS = {
    ("assembly", "lab.Smith2025.it"): {"title": "IT rates to objects", "species": ["Macaca mulatta"],
                                       "regions": ["IT"]},
    ("assembly", "lab.Jones2020.v4"): {"title": "V4 rates", "species": ["Macaca mulatta"], "regions": ["V4"],
                                       "description": "recorded while viewing objects"},
}


def _ranked(text: str = "", **filters: str) -> list[str]:
    return [entry["identifier"] for _, entry in rank(entries(ROWS, CARDS), text, **filters)]


def test_entries_gather_rows_and_cards_per_identifier() -> None:
    found = {entry["identifier"]: entry for entry in entries(ROWS, CARDS)}
    assert found["lab.Smith2025"]["size"] == 30 and found["lab.Smith2025"]["class"] == "StimulusSet"
    assert not found["lab.Smith2025"]["has_card"] and found["lab.Smith2025.it"]["regions"] == ["IT"]


def test_ranking_every_word_must_match_and_better_fields_rank_higher() -> None:
    assert _ranked() == ["lab.Jones2020.v4", "lab.Smith2025", "lab.Smith2025.it"]
    assert _ranked("objects") == ["lab.Smith2025.it", "lab.Jones2020.v4"]  # title beats description
    assert _ranked("smith") == ["lab.Smith2025", "lab.Smith2025.it"]
    assert _ranked("lab.Smith2025.it")[0] == "lab.Smith2025.it"
    assert _ranked("smith v4") == []


def test_filters_species_region_and_kind() -> None:
    assert _ranked(species="mulatta") == ["lab.Jones2020.v4", "lab.Smith2025.it"]
    assert _ranked(region="it") == ["lab.Smith2025.it"]
    assert _ranked(kind="stimulus-set") == ["lab.Smith2025"]
    assert normalize_kind("Assemblies") == "assembly" and normalize_kind(None) is None
    with pytest.raises(ValidationError, match="kind"):
        normalize_kind("table")
