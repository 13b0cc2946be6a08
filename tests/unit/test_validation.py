"""The stimulus checks that packaging exposes: each one passing and failing, with its message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from brainio_dvc.contribute.validation import (
    check_experiment_stimulus_set,
    check_image_format,
    check_naming_convention,
    check_stimulus_csv_columns,
    check_stimulus_naming_convention,
    check_stimulus_numbers,
    check_stimulus_paths,
    describe_stimulus_set,
    preview,
)
from brainio_dvc.exceptions import IdentifierError, ValidationError
from brainio_dvc.formats import identifiers
from brainio_dvc.stimuli import StimulusSet


def write_image(path: Path, suffix_format: str = "PNG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((5, 5, 3), dtype=np.uint8)).save(path, format=suffix_format)
    return path


@pytest.fixture
def proto(tmp_path: Path) -> StimulusSet:
    ids = [f"s{i}" for i in range(8)]
    return StimulusSet(
        {"stimulus_id": ids, "label": list("abcdefgh")},
        stimulus_paths={i: write_image(tmp_path / f"image_{n + 1}.png") for n, i in enumerate(ids)},
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


@pytest.mark.parametrize("name", ["image_12.png", "12.png", "abc3.jpg", "clip_1.mp4", "Airplane_11.jpeg"])
def test_stimulus_naming_convention_is_brainios(name: str) -> None:
    assert check_stimulus_naming_convention(name) == name


@pytest.mark.parametrize("name", ["a_b.png", "image_01.png", "x_1.gif", "", 12, None])
def test_stimulus_naming_convention_refuses_others(name: object) -> None:
    with pytest.raises(IdentifierError, match="BrainIO's convention"):
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


def test_image_format_takes_an_open_image_as_brainio_does(tmp_path: Path) -> None:
    with Image.open(write_image(tmp_path / "a.png")) as image:
        assert check_image_format(image, "a") is image
    grey = Image.fromarray(np.zeros((4, 4), dtype=np.uint8))
    assert check_image_format(grey, "grey") is grey  # BrainIO refused 'L' by a shape slip; we do not


def test_image_format_refuses_other_modes(tmp_path: Path) -> None:
    path = tmp_path / "a.tif"
    Image.fromarray(np.zeros((4, 4), dtype=np.float32)).save(path)  # mode 'F'
    with pytest.raises(ValidationError, match="image mode 'F'") as caught:
        check_image_format(path)
    assert str(path) in str(caught.value)


def test_image_format_refuses_unreadable_content(tmp_path: Path) -> None:
    path = tmp_path / "fake.png"
    path.write_text("not an image")
    with pytest.raises(ValidationError, match="an image Pillow can read") as caught:
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
    assert check_stimulus_csv_columns(frame, "s.csv", required=("stimulus_id", "filename")) is None  # accepted


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


def test_csv_columns_refuse_missing_values_of_a_pandas_string_column() -> None:
    # pd.NA among them made the check raise TypeError ("boolean value of NA is ambiguous").
    frame = pd.DataFrame({"stimulus_id": pd.Series(["a", None, "", "d"], dtype="string")})
    with pytest.raises(ValidationError, match=r"rows \(0-based\) 2: 1, 2"):
        check_stimulus_csv_columns(frame, "s.csv")


def test_csv_columns_name_the_missing_values_of_each_required_column_on_their_own_rows() -> None:
    frame = pd.DataFrame({"stimulus_id": ["a", "b", "c"], "filename": ["a.png", "", "c.png"]})
    with pytest.raises(ValidationError, match=r"column 'filename' on every row.*rows \(0-based\) 1: 1$"):
        check_stimulus_csv_columns(frame, "s.csv", required=("stimulus_id", "filename"))
    assert check_stimulus_csv_columns(frame, "s.csv", required=()) is None  # nothing required, nothing missing


def test_csv_columns_refuse_duplicates_listing_them_once() -> None:
    frame = pd.DataFrame({"stimulus_id": ["a", "b", "a", "a", "c", "b"]})
    with pytest.raises(ValidationError, match="repeated ids 2: 'a', 'b'"):
        check_stimulus_csv_columns(frame, "s.csv")


# --- stimulus paths (what every packaging run checks) ---------------------------------------


def test_stimulus_paths_accept_a_matching_set(proto: StimulusSet) -> None:
    assert len(check_stimulus_paths(proto)) == 8


def test_stimulus_paths_accept_underscores_dots_and_integers(tmp_path: Path) -> None:
    ids = ["Airplane_11_t1", "im-2.v1", 3]
    paths = {i: write_image(tmp_path / f"{i}.png") for i in ids}
    stimuli = StimulusSet({"stimulus_id": ids}, stimulus_paths=paths)
    assert [Path(path) for path in check_stimulus_paths(stimuli)] == [paths[i] for i in ids]


def test_stimulus_paths_refuse_a_row_without_path(proto: StimulusSet) -> None:
    del proto.stimulus_paths["s3"]
    with pytest.raises(ValidationError, match="no path for the stimulus ids 1: 's3'"):
        check_stimulus_paths(proto)


def test_stimulus_paths_refuse_paths_without_rows(proto: StimulusSet) -> None:
    selected = proto[proto["stimulus_id"] != "s5"]  # keeps the full stimulus_paths, as BrainIO
    with pytest.raises(ValidationError, match="8 entries; without a row: 1: 's5'"):
        check_stimulus_paths(selected)


def test_stimulus_paths_refuse_duplicate_ids(proto: StimulusSet) -> None:
    doubled = pd.concat([proto, proto.head(1)])
    with pytest.raises(ValidationError, match="repeated ids 1: 's0'"):
        check_stimulus_paths(doubled)


def test_stimulus_paths_refuse_unsafe_ids(proto: StimulusSet) -> None:
    proto["stimulus_id"] = ["s0", "a/b", "s2", "..", "s4", "s5", "s6", "s7"]
    with pytest.raises(ValidationError, match="invalid ids 2: 'a/b', '..'"):
        check_stimulus_paths(proto)


def test_stimulus_paths_list_missing_files(proto: StimulusSet) -> None:
    for stimulus_id in ["s1", "s2", "s3", "s4", "s5", "s6", "s7"]:
        proto.get_stimulus(stimulus_id).unlink()
    with pytest.raises(ValidationError) as caught:
        check_stimulus_paths(proto)
    found = caught.value.found
    assert found.startswith("missing files 7: ")
    assert "image_2.png" in found
    assert "and 2 more" in found


def test_any_media_type_is_packaged_without_strict_checks(tmp_path: Path) -> None:
    clip = tmp_path / "clip_1.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    stimuli = StimulusSet({"stimulus_id": ["c1"]}, stimulus_paths={"c1": clip})
    assert [Path(path) for path in check_stimulus_paths(stimuli)] == [clip]


# --- BrainIO's submission checks (bucket brainio.requested, or strict=True) ------------------


def test_stimulus_numbers_accept_sequential_files(proto: StimulusSet) -> None:
    assert check_stimulus_numbers(proto) is None  # returns normally: no gap, no repeat


def test_stimulus_numbers_refuse_a_gap(proto: StimulusSet, tmp_path: Path) -> None:
    proto.stimulus_paths["s3"] = write_image(tmp_path / "image_20.png")
    with pytest.raises(ValidationError, match="sequentially numbered"):
        check_stimulus_numbers(proto)


def test_experiment_stimulus_set_accepts_a_good_set(proto: StimulusSet) -> None:
    assert check_experiment_stimulus_set(proto) is None  # returns normally: every rule holds


def test_experiment_stimulus_set_needs_a_stimulus_id_column(proto: StimulusSet) -> None:
    renamed = proto.rename(columns={"stimulus_id": "image"})
    renamed.identifier = "dicarlo.Test2024"
    with pytest.raises(ValidationError) as caught:
        check_experiment_stimulus_set(renamed)
    assert caught.value.subject == "stimulus set 'dicarlo.Test2024'"
    assert "'stimulus_id'" in caught.value.found


def test_experiment_stimulus_set_refuses_file_names_off_convention(proto: StimulusSet, tmp_path: Path) -> None:
    proto.stimulus_paths["s2"] = write_image(tmp_path / "other" / "picture.png")
    with pytest.raises(ValidationError, match="picture.png"):
        check_experiment_stimulus_set(proto)


def test_experiment_stimulus_set_refuses_mixed_media_types(proto: StimulusSet, tmp_path: Path) -> None:
    proto.stimulus_paths["s2"] = write_image(tmp_path / "other" / "image_3.jpg", "JPEG")
    with pytest.raises(ValidationError, match="different media type"):
        check_experiment_stimulus_set(proto)


def test_experiment_stimulus_set_refuses_unreadable_images(proto: StimulusSet) -> None:
    proto.get_stimulus("s6").write_bytes(b"garbage")
    with pytest.raises(ValidationError, match="image_7.png") as caught:
        check_experiment_stimulus_set(proto)
    assert "BrainIO's submission rules" in str(caught.value)


def test_experiment_stimulus_set_refuses_mismatched_paths(proto: StimulusSet) -> None:
    with pytest.raises(ValidationError, match="one stimulus_paths entry per row"):
        check_experiment_stimulus_set(proto.head(3))
