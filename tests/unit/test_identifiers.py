"""Identifier rules: BrainIO's naming convention, path safety, and stimulus ids."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brainio_dvc.exceptions import IdentifierError, ValidationError
from brainio_dvc.formats.identifiers import (
    DEFAULT_CATALOG,
    check_naming_convention,
    check_safe_identifier,
    check_stimulus_id,
    default_catalog,
    naming_problem,
    relative_path_problem,
    unsafe_relative_paths,
)


@pytest.mark.parametrize(
    "identifier",
    [
        "dicarlo.MajajHong2015",
        "dicarlo.MajajHong2015.public",
        "dicarlo.MajajHong2015.temporal-private",
        "dicarlo.Rajalingham2018a",
        "klab2.Zhang2018.v2_high",
        "aru.Kuzovkin2018",
    ],
)
def test_naming_convention_accepts(identifier: str) -> None:
    assert check_naming_convention(identifier) == identifier


@pytest.mark.parametrize(
    "identifier",
    [
        "Dicarlo.X2015",  # lab must be lower case
        "dicarlo.majaj2015",  # authors in CamelCase
        "dicarlo.MajajHong",  # no year
        "dicarlo.MajajHong15",  # a 2-digit year
        "dicarlo",  # no authors at all
        "dicarlo.MajajHong2015.-x",  # a variant starting with '-'
        "1lab.Majaj2015",
    ],
)
def test_naming_convention_rejects(identifier: str) -> None:
    with pytest.raises(IdentifierError) as caught:
        check_naming_convention(identifier)
    assert "<lab>.<FirstAuthorYYYY>" in str(caught.value)
    assert repr(identifier) in str(caught.value)
    assert naming_problem(identifier) is not None


@pytest.mark.parametrize(
    "identifier",
    ["dicarlo.hvm-public", "dicarlo.Marques2020_blank", "BMD_2024_texture_1", "Lonnqvist2024_train",
     "coggan2024_fMRI", "Malania2007.short2", "brendel.Geirhos2021_colour", "x..y", "Lab.bad"],
)
def test_names_brainio_accepted_are_safe(identifier: str) -> None:
    """BrainIO's package_* never refused these: they are packaged, with advice at most."""
    assert check_safe_identifier(identifier) == identifier


def test_default_catalog_is_the_lab_prefix_else_a_fixed_name() -> None:
    assert default_catalog("dicarlo.hvm-public") == "dicarlo"
    assert default_catalog("dicarlo.MajajHong2015.public") == "dicarlo"
    assert default_catalog("Lonnqvist2024_train") == DEFAULT_CATALOG == "brainscore"


@pytest.mark.parametrize("identifier", ["../x", "/abs", "a\x00b", "a/b", "a\\b", "..", ".hidden", "trailing.", "-x"])
def test_unsafe_identifiers_are_rejected_by_both_checks(identifier: str) -> None:
    for check in (check_safe_identifier, check_naming_convention):
        with pytest.raises(IdentifierError) as caught:
            check(identifier)
        assert isinstance(caught.value, ValidationError)


def test_path_escape_message_explains_why() -> None:
    with pytest.raises(IdentifierError, match="directory names in the registry"):
        check_safe_identifier("../etc", what="catalog")


@pytest.mark.parametrize("identifier", ["", None, 42, b"dicarlo.MajajHong2015", ["dicarlo.X2015"]])
def test_empty_or_non_string_identifiers_are_rejected(identifier: object) -> None:
    with pytest.raises(IdentifierError, match="a non-empty string"):
        check_naming_convention(identifier)
    with pytest.raises(IdentifierError, match="^catalog: "):
        check_safe_identifier(identifier, what="catalog")


@pytest.mark.parametrize("identifier", ["a b", "a;b", "é.Majaj2015", "a*", "a\nb"])
def test_safe_identifier_rejects_other_characters(identifier: str) -> None:
    with pytest.raises(IdentifierError, match="other characters"):
        check_safe_identifier(identifier)


def test_safe_identifier_accepts_what_the_convention_does_not_require() -> None:
    assert check_safe_identifier("my_catalog-2.x") == "my_catalog-2.x"


@pytest.mark.parametrize("check", [check_safe_identifier, check_naming_convention, check_stimulus_id])
def test_a_trailing_newline_is_rejected(check: object) -> None:
    value = "a1\n" if check is check_stimulus_id else "dicarlo.MajajHong2015\n"
    with pytest.raises(IdentifierError):
        check(value)


@pytest.mark.parametrize("stimulus_id", ["a1", "000", "ABCdef9", "Airplane_11_t1", "a-1", "a.png", "a 1"])
def test_stimulus_id_accepts_what_is_safe_as_a_file_name(stimulus_id: str) -> None:
    assert check_stimulus_id(stimulus_id) == stimulus_id


def test_stimulus_id_accepts_integers_as_their_decimal_form() -> None:
    import numpy as np

    assert check_stimulus_id(7) == "7"
    assert check_stimulus_id(np.int64(12)) == "12"


@pytest.mark.parametrize("stimulus_id", ["", "a/1", "a\\1", ".", "..", " a", "a:b", "a\x00", None, 1.5, True])
def test_stimulus_id_rejects_what_is_unsafe(stimulus_id: object) -> None:
    with pytest.raises(IdentifierError, match="safe as a file name") as caught:
        check_stimulus_id(stimulus_id)
    assert repr(stimulus_id) in str(caught.value)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.text(alphabet="a./\\:\x00-", max_size=5), max_size=6)
       | st.lists(st.text(alphabet="a./\n", max_size=4), max_size=4))
def test_the_screen_of_all_names_at_once_finds_exactly_the_unsafe_ones(names: list[str]) -> None:
    """unsafe_relative_paths (one screen of every name, CSV file names and ZIP entries) must give
    what relative_path_problem gives name by name, in order."""
    expected = [(name, reason) for name in names if (reason := relative_path_problem(name)) is not None]
    assert unsafe_relative_paths(names) == expected


@pytest.mark.parametrize("unsafe", ["a/../b", "a/..", "a\\b", "a\x00b", "/a", "c:a", "", ".", "./."])
def test_the_screen_finds_each_kind_of_unsafe_name_among_safe_ones(unsafe: str) -> None:
    """Each refusal where it may hide: in the middle of a name, at its start, among others."""
    names = ["img/1.png", unsafe, "img/2.png"]
    assert unsafe_relative_paths(names) == [(unsafe, relative_path_problem(unsafe))]
    assert relative_path_problem(unsafe) is not None
