"""The stimulus checks that packaging exposes: each one passing and failing, with its message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from brainio_dvc import identifiers
from brainio_dvc.exceptions import IdentifierError, ValidationError
from brainio_dvc.stimuli import StimulusSet
from brainio_dvc.validation import (
    check_experiment_stimulus_set,
    check_image_format,
    check_naming_convention,
    check_stimulus_csv_columns,
    check_stimulus_naming_convention,
    check_stimulus_numbers,
    describe_stimulus_set,
    preview,
)


def write_image(path: Path, suffix_format: str = "PNG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((5, 5, 3), dtype=np.uint8)).save(path, format=suffix_format)
    return path


@pytest.fixture
def proto(tmp_path: Path) -> StimulusSet:
    ids = [f"s{i}" for i in range(8)]
    return StimulusSet(
        {"stimulus_id": ids, "label": list("abcdefgh")},
        stimulus_paths={i: write_image(tmp_path / f"{i}.png") for i in ids},
    )


# --- helpers --------------------------------------------------------------------------------


def test_preview_lists_a_count_and_the_first_few() -> None:
    assert preview(["a", "b"]) == "2: 'a', 'b'"
    assert preview(range(8), limit=3) == "8: 0, 1, 2, and 5 more"


def test_describe_prefers_the_identifier_then_the_source(proto: StimulusSet) -> None:
    assert describe_stimulus_set(proto) == "proto stimulus set (no identifier yet)"
    proto.attrs["source_path"] = "/data/x.csv"
    assert describe_stimulus_set(proto) == "stimulus set CSV /data/x.csv"
    proto.identifier = "dicarlo.Test2024"
    assert describe_stimulus_set(proto) == "stimulus set 'dicarlo.Test2024'"


# --- naming ---------------------------------------------------------------------------------


def test_naming_convention_is_the_identifiers_one() -> None:
    assert check_naming_convention is identifiers.check_naming_convention
    assert check_naming_convention("dicarlo.MajajHong2015.public") == "dicarlo.MajajHong2015.public"
    with pytest.raises(IdentifierError, match="FirstAuthorYYYY"):
        check_naming_convention("MajajHong2015")


@pytest.mark.parametrize("name", ["abc", "0012", "ImageA7"])
def test_stimulus_naming_convention_accepts_alphanumerics(name: str) -> None:
    assert check_stimulus_naming_convention(name) == name


@pytest.mark.parametrize("name", ["a_b", "a-b", "a.png", "", "ü1", 12, None])
def test_stimulus_naming_convention_refuses_others(name: object) -> None:
    with pytest.raises(IdentifierError, match="alphanumeric"):
        check_stimulus_naming_convention(name)


# --- image format ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "image_format"),
    [("a.png", "PNG"), ("b.JPG", "JPEG"), ("c.jpeg", "JPEG"), ("d.bmp", "BMP"), ("e.TIFF", "TIFF")],
)
def test_image_format_accepts_readable_images(tmp_path: Path, name: str, image_format: str) -> None:
    path = write_image(tmp_path / name, image_format)
    assert check_image_format(path) == path
    assert check_image_format(str(path)) == path


def test_image_format_refuses_other_extensions(tmp_path: Path) -> None:
    path = write_image(tmp_path / "a.gif", "GIF")
    with pytest.raises(ValidationError) as caught:
        check_image_format(path)
    assert str(path) in str(caught.value)
    assert "'.gif'" in str(caught.value)


def test_image_format_refuses_unreadable_content(tmp_path: Path) -> None:
    path = tmp_path / "fake.png"
    path.write_text("not an image")
    with pytest.raises(ValidationError, match="an image Pillow can read as PNG") as caught:
        check_image_format(path)
    assert str(path) in str(caught.value)


def test_image_format_refuses_a_truncated_png(tmp_path: Path) -> None:
    path = write_image(tmp_path / "cut.png")
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ValidationError, match="cut.png"):
        check_image_format(path)


def test_image_format_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="an existing file"):
        check_image_format(tmp_path / "absent.png")


# --- columns --------------------------------------------------------------------------------


def test_csv_columns_accept_a_good_frame() -> None:
    frame = pd.DataFrame({"stimulus_id": ["a", "b"], "filename": ["a.png", "b.png"]})
    check_stimulus_csv_columns(frame, "s.csv", required=("stimulus_id", "filename"))


def test_csv_columns_name_missing_and_present_columns() -> None:
    frame = pd.DataFrame({"stimulus_id": ["a"], "other": [1]})
    with pytest.raises(ValidationError) as caught:
        check_stimulus_csv_columns(frame, "s.csv", required=("stimulus_id", "filename"))
    error = caught.value
    assert error.subject == "s.csv"
    assert "'filename'" in error.found
    assert "['stimulus_id', 'other']" in error.found


def test_csv_columns_refuse_missing_values() -> None:
    frame = pd.DataFrame({"stimulus_id": ["a", None, "c", np.nan]})
    with pytest.raises(ValidationError, match=r"rows \(0-based\) 2: 1, 3"):
        check_stimulus_csv_columns(frame, "s.csv")


def test_csv_columns_refuse_duplicates_listing_them_once() -> None:
    frame = pd.DataFrame({"stimulus_id": ["a", "b", "a", "a", "c", "b"]})
    with pytest.raises(ValidationError, match="repeated ids 2: 'a', 'b'"):
        check_stimulus_csv_columns(frame, "s.csv")


# --- stimulus numbers -----------------------------------------------------------------------


def test_stimulus_numbers_accept_a_matching_set(proto: StimulusSet) -> None:
    check_stimulus_numbers(proto)


def test_stimulus_numbers_refuse_a_row_without_path(proto: StimulusSet) -> None:
    del proto.stimulus_paths["s3"]
    with pytest.raises(ValidationError, match="no path for the stimulus ids 1: 's3'"):
        check_stimulus_numbers(proto)


def test_stimulus_numbers_refuse_paths_without_rows(proto: StimulusSet) -> None:
    selected = proto[proto["stimulus_id"] != "s5"]  # keeps the full stimulus_paths, as BrainIO
    with pytest.raises(ValidationError, match="8 entries; without a row: 1: 's5'"):
        check_stimulus_numbers(selected)


def test_stimulus_numbers_refuse_duplicate_ids(proto: StimulusSet) -> None:
    doubled = pd.concat([proto, proto.head(1)])
    with pytest.raises(ValidationError, match="repeated ids 1: 's0'"):
        check_stimulus_numbers(doubled)


# --- the full submission check --------------------------------------------------------------


def test_experiment_stimulus_set_accepts_a_good_set(proto: StimulusSet) -> None:
    check_experiment_stimulus_set(proto)


def test_experiment_stimulus_set_needs_a_stimulus_id_column(proto: StimulusSet) -> None:
    renamed = proto.rename(columns={"stimulus_id": "image"})
    renamed.identifier = "dicarlo.Test2024"
    with pytest.raises(ValidationError) as caught:
        check_experiment_stimulus_set(renamed)
    assert caught.value.subject == "stimulus set 'dicarlo.Test2024'"
    assert "'stimulus_id'" in caught.value.found


def test_experiment_stimulus_set_refuses_bad_ids(proto: StimulusSet) -> None:
    proto["stimulus_id"] = ["s0", "s_1", "s2", "s-3", "s4", "s5", "s6", "s7"]
    with pytest.raises(ValidationError, match="invalid ids 2: 's_1', 's-3'"):
        check_experiment_stimulus_set(proto)


def test_experiment_stimulus_set_refuses_duplicate_ids(proto: StimulusSet) -> None:
    proto["stimulus_id"] = ["s0", "s0", "s2", "s3", "s4", "s5", "s6", "s7"]
    with pytest.raises(ValidationError, match="repeated ids"):
        check_experiment_stimulus_set(proto)


def test_experiment_stimulus_set_lists_missing_files(proto: StimulusSet) -> None:
    for stimulus_id in ["s1", "s2", "s3", "s4", "s5", "s6", "s7"]:
        proto.get_stimulus(stimulus_id).unlink()
    with pytest.raises(ValidationError) as caught:
        check_experiment_stimulus_set(proto)
    found = caught.value.found
    assert found.startswith("missing files 7: ")
    assert "s1.png" in found
    assert "and 2 more" in found


def test_experiment_stimulus_set_refuses_unreadable_images(proto: StimulusSet) -> None:
    proto.get_stimulus("s6").write_bytes(b"garbage")
    with pytest.raises(ValidationError, match="s6.png") as caught:
        check_experiment_stimulus_set(proto)
    assert "readable image" in str(caught.value)


def test_experiment_stimulus_set_refuses_mismatched_paths(proto: StimulusSet) -> None:
    with pytest.raises(ValidationError, match="one stimulus_paths entry per row"):
        check_experiment_stimulus_set(proto.head(3))
