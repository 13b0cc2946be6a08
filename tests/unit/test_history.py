"""diff_rows: what changed between two sets of catalog rows, per identifier and file role."""

from __future__ import annotations

import pytest

from brainio_dvc.browse.history import Change, diff_rows, role_of


def assembly(identifier: str, md5: str) -> dict[str, str]:
    return {"identifier": identifier, "lookup_type": "assembly", "class": "NeuronRecordingAssembly", "md5": md5}


def stimulus(identifier: str, md5: str, cls: str = "") -> dict[str, str]:
    return {"identifier": identifier, "lookup_type": "stimulus_set", "class": cls, "md5": md5}


@pytest.mark.parametrize(
    "row, role",
    [
        (assembly("a", "1"), "nc"),
        ({**assembly("a", "1"), "class": ""}, "nc"),
        (stimulus("s", "1", "StimulusSet"), "csv"),
        (stimulus("s", "1"), "zip"),
        ({"identifier": "s", "lookup_type": "stimulus_set"}, "zip"),
    ],
)
def test_role_of(row: dict[str, str], role: str) -> None:
    assert role_of(row) == role


def test_identical_rows_give_no_changes() -> None:
    rows = [assembly("a.A2000", "1"), stimulus("s", "2", "StimulusSet"), stimulus("s", "3")]
    assert diff_rows(rows, list(reversed(rows))) == []


def test_added_removed_and_changed_sorted_by_identifier() -> None:
    before = [
        assembly("b.Kept2000", "k"),
        assembly("c.Gone2000", "g"),
        stimulus("d.set", "csv1", "StimulusSet"),
        stimulus("d.set", "zip1"),
    ]
    after = [
        stimulus("d.set", "zip2"),
        stimulus("d.set", "csv1", "StimulusSet"),
        assembly("a.New2000", "n"),
        assembly("b.Kept2000", "k"),
    ]
    assert diff_rows(before, after) == [
        Change("added", "a.New2000", "assembly", "nc", "", "n"),
        Change("removed", "c.Gone2000", "assembly", "nc", "g", ""),
        Change("changed", "d.set", "stimulus_set", "zip", "zip1", "zip2"),
    ]


def test_csv_and_zip_of_a_stimulus_set_are_tracked_separately() -> None:
    before = [stimulus("s", "csv1", "StimulusSet")]
    after = [stimulus("s", "csv2", "StimulusSet"), stimulus("s", "zip1")]
    changes = diff_rows(before, after)
    assert {(c.role, c.status) for c in changes} == {("csv", "changed"), ("zip", "added")}


def test_an_assembly_and_a_stimulus_set_of_one_name_are_distinct() -> None:
    changes = diff_rows([assembly("x", "1")], [stimulus("x", "1", "StimulusSet")])
    assert [(c.status, c.lookup_type, c.role) for c in changes] == [
        ("removed", "assembly", "nc"),
        ("added", "stimulus_set", "csv"),
    ]


def test_sha1_is_compared_when_there_is_no_md5() -> None:
    before = [{"identifier": "a", "lookup_type": "assembly", "class": "C", "sha1": "s1"}]
    after = [{"identifier": "a", "lookup_type": "assembly", "class": "C", "sha1": "s2", "md5": ""}]
    assert diff_rows(before, after) == [Change("changed", "a", "assembly", "nc", "s1", "s2")]


def test_a_class_change_alone_is_not_a_content_change() -> None:
    before = [assembly("a", "1")]
    after = [{**assembly("a", "1"), "class": "BehavioralAssembly"}]
    assert diff_rows(before, after) == []


def test_diff_accepts_any_iterables() -> None:
    assert diff_rows(iter([]), (row for row in [assembly("a", "1")]))[0].status == "added"
