"""StimulusSet and StimulusSetLoader: metadata propagation, CSV loading and its errors."""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from brainio_dvc.exceptions import BrainioDvcError, ValidationError
from brainio_dvc.stimuli import (
    STIMULUS_SET_CLASSES,
    StimulusSet,
    StimulusSetLoader,
    read_stimulus_csv,
)

IDENTIFIER = "dicarlo.Test2024"


def write_png(path: Path, value: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((4, 4, 3), value, dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def stimulus_set(tmp_path: Path) -> StimulusSet:
    ids = ["a1", "b2", "c3", "d4"]
    paths = {i: write_png(tmp_path / "stimuli" / f"{i}.png", n) for n, i in enumerate(ids)}
    frame = StimulusSet(
        {"stimulus_id": ids, "category": ["x", "x", "y", "y"], "size": [1.0, 2.0, 3.0, 4.0]},
        identifier=IDENTIFIER,
        stimulus_paths=paths,
    )
    frame.attrs["provenance"] = {"rev": "abc123"}
    return frame


@pytest.fixture
def packaged(tmp_path: Path) -> tuple[Path, Path]:
    """A CSV with ``filename`` and the directory its stimuli are in."""
    directory = tmp_path / "extracted"
    for n, name in enumerate(["0001", "0002", "0003"]):
        write_png(directory / "sub" / f"{name}.png", n)
    csv = tmp_path / "stimuli.csv"
    csv.write_text(
        "stimulus_id,filename,label,size\n"
        "0001,sub/0001.png,NA,1.5\n"
        "0002,sub/0002.png,cat,\n"
        "0003,sub/0003.png,dog,3\n"
    )
    return csv, directory


# --- metadata propagation -------------------------------------------------------------------

SELECTIONS = {
    "boolean mask": lambda s: s[s["category"] == "x"],
    "loc": lambda s: s.loc[[0, 2]],
    "iloc": lambda s: s.iloc[1:3],
    "head": lambda s: s.head(2),
    "copy": lambda s: s.copy(),
    "sort_values": lambda s: s.sort_values("size", ascending=False),
    "column subset": lambda s: s[["stimulus_id", "size"]],
    "merge": lambda s: s.merge(pd.DataFrame({"category": ["x"], "extra": [1]})),
}


@pytest.mark.parametrize("operation", SELECTIONS.values(), ids=SELECTIONS.keys())
def test_metadata_survives_selection(stimulus_set: StimulusSet, operation) -> None:
    selected = operation(stimulus_set)
    assert type(selected) is StimulusSet
    assert selected.identifier == IDENTIFIER
    assert selected.stimulus_paths == stimulus_set.stimulus_paths
    for stimulus_id in selected["stimulus_id"]:
        assert selected.get_stimulus(stimulus_id).is_file()


@pytest.mark.parametrize("operation", ["boolean mask", "loc", "iloc", "head", "copy"])
def test_attrs_survive_selection(stimulus_set: StimulusSet, operation: str) -> None:
    selected = SELECTIONS[operation](stimulus_set)
    assert selected.attrs == {"provenance": {"rev": "abc123"}}


def test_copy_gets_its_own_paths_dict(stimulus_set: StimulusSet) -> None:
    copied = stimulus_set.copy()
    copied.stimulus_paths["new"] = Path("new.png")
    assert "new" not in stimulus_set.stimulus_paths


def test_concat_unions_paths_and_keeps_a_shared_identifier(stimulus_set: StimulusSet) -> None:
    first, second = stimulus_set.iloc[:2].copy(), stimulus_set.iloc[2:].copy()
    first.stimulus_paths = {k: stimulus_set.stimulus_paths[k] for k in first["stimulus_id"]}
    second.stimulus_paths = {k: stimulus_set.stimulus_paths[k] for k in second["stimulus_id"]}
    combined = pd.concat([first, second])
    assert type(combined) is StimulusSet
    assert combined.identifier == IDENTIFIER
    assert combined.stimulus_paths == stimulus_set.stimulus_paths
    assert combined.attrs == stimulus_set.attrs
    assert combined["stimulus_id"].tolist() == stimulus_set["stimulus_id"].tolist()


def test_concat_of_different_identifiers_has_none(stimulus_set: StimulusSet) -> None:
    other = StimulusSet(
        {"stimulus_id": ["z9"]}, identifier="dicarlo.Other2024", stimulus_paths={"z9": "z9.png"}
    )
    combined = pd.concat([stimulus_set, other])
    assert combined.identifier is None
    assert set(combined.stimulus_paths) == {"a1", "b2", "c3", "d4", "z9"}


def test_concat_conflicting_paths_keeps_the_first(
    stimulus_set: StimulusSet, caplog: pytest.LogCaptureFixture
) -> None:
    other = StimulusSet({"stimulus_id": ["a1"]}, stimulus_paths={"a1": Path("elsewhere.png")})
    combined = pd.concat([stimulus_set, other])
    assert combined.stimulus_paths["a1"] == stimulus_set.stimulus_paths["a1"]
    assert "different paths" in caplog.text


def test_constructor_copies_metadata_from_a_stimulus_set(stimulus_set: StimulusSet) -> None:
    rebuilt = StimulusSet(stimulus_set)
    assert rebuilt.identifier == IDENTIFIER
    assert rebuilt.stimulus_paths == stimulus_set.stimulus_paths
    assert StimulusSet({"stimulus_id": ["x"]}).stimulus_paths == {}


def test_columns_named_like_the_metadata_are_not_taken_for_it(stimulus_set: StimulusSet) -> None:
    frame = pd.DataFrame({"stimulus_id": ["z9"], "identifier": ["x"], "stimulus_paths": ["y"]})
    assert StimulusSet(frame).identifier is None
    assert StimulusSet(frame).stimulus_paths == {}
    combined = pd.concat([stimulus_set, frame])
    assert combined.identifier is None
    assert combined.stimulus_paths == stimulus_set.stimulus_paths


def test_pickle_round_trip_keeps_metadata(stimulus_set: StimulusSet) -> None:
    restored = pickle.loads(pickle.dumps(stimulus_set))
    assert restored.identifier == IDENTIFIER
    assert restored.stimulus_paths == stimulus_set.stimulus_paths
    pd.testing.assert_frame_equal(restored, stimulus_set)


def test_column_assignment_keeps_metadata(stimulus_set: StimulusSet) -> None:
    stimulus_set["filename"] = stimulus_set["stimulus_id"] + ".png"
    assert stimulus_set.identifier == IDENTIFIER
    assert len(stimulus_set.stimulus_paths) == 4


# --- get_stimulus ---------------------------------------------------------------------------


def test_get_stimulus_returns_the_local_path(stimulus_set: StimulusSet) -> None:
    assert stimulus_set.get_stimulus("b2") == stimulus_set.stimulus_paths["b2"]
    assert stimulus_set.get_stimulus("b2").name == "b2.png"


def test_get_stimulus_of_an_unknown_id_is_a_key_error(stimulus_set: StimulusSet) -> None:
    with pytest.raises(KeyError) as caught:
        stimulus_set.get_stimulus("nope")
    message = str(caught.value)
    assert "'nope'" in message
    assert IDENTIFIER in message


def test_registry_and_loader_class() -> None:
    assert STIMULUS_SET_CLASSES == {"StimulusSet": StimulusSet}
    assert StimulusSet.get_loader_class() is StimulusSetLoader


# --- loading --------------------------------------------------------------------------------


def test_from_files_loads_metadata_and_paths(packaged: tuple[Path, Path]) -> None:
    csv, directory = packaged
    loaded = StimulusSet.from_files(csv, directory)
    assert type(loaded) is StimulusSet
    assert loaded["stimulus_id"].tolist() == ["0001", "0002", "0003"]
    assert loaded.get_stimulus("0002") == directory / "sub" / "0002.png"
    assert all(path.is_file() for path in loaded.stimulus_paths.values())
    # Other columns keep pandas' type inference and NA handling.
    assert loaded["size"].dtype == np.float64
    assert np.isnan(loaded["size"].iloc[1])
    assert pd.isna(loaded["label"].iloc[0])


def test_digit_only_and_na_like_ids_stay_strings(tmp_path: Path) -> None:
    csv = tmp_path / "ids.csv"
    csv.write_text("stimulus_id,filename\n0012,0012.png\n345,345.png\nNA,NA.png\nnan,nan.png\n")
    loaded = StimulusSet.from_files(csv, tmp_path)
    assert loaded["stimulus_id"].tolist() == ["0012", "345", "NA", "nan"]
    assert set(loaded.stimulus_paths) == {"0012", "345", "NA", "nan"}
    assert loaded.get_stimulus("0012") == tmp_path / "0012.png"


def test_legacy_image_id_is_copied_to_stimulus_id(tmp_path: Path) -> None:
    csv = tmp_path / "legacy.csv"
    csv.write_text("image_id,filename,object\n007,007.png,car\n008,008.png,dog\n")
    loaded = StimulusSet.from_files(csv, tmp_path)
    assert loaded["stimulus_id"].tolist() == ["007", "008"]
    assert loaded["image_id"].tolist() == ["007", "008"]
    assert loaded.get_stimulus("008") == tmp_path / "008.png"


def test_pandas_auto_index_column_is_dropped(tmp_path: Path) -> None:
    csv = tmp_path / "indexed.csv"
    pd.DataFrame({"stimulus_id": ["a", "b"], "filename": ["a.png", "b.png"]}).to_csv(csv)
    loaded = StimulusSet.from_files(csv, tmp_path)
    assert list(loaded.columns) == ["stimulus_id", "filename"]


def test_subclass_is_kept_by_from_files(packaged: tuple[Path, Path]) -> None:
    class MyStimulusSet(StimulusSet):
        pass

    loaded = MyStimulusSet.from_files(*packaged)
    assert type(loaded) is MyStimulusSet
    assert type(loaded.head(1)) is MyStimulusSet


def test_loading_touches_no_stimulus_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    n = 5760
    csv = tmp_path / "large.csv"
    ids = [f"{i:05d}" for i in range(n)]
    frame = pd.DataFrame({"stimulus_id": ids, "filename": [f"{i}.png" for i in ids]})
    frame.assign(value=np.arange(n) / 7).to_csv(csv, index=False)

    def forbidden(*args, **kwargs):
        message = "the loader must not stat or list stimulus files"
        raise AssertionError(message)

    monkeypatch.setattr(Path, "is_file", forbidden)
    monkeypatch.setattr(Path, "exists", forbidden)
    monkeypatch.setattr(os, "listdir", forbidden)
    monkeypatch.setattr(os, "scandir", forbidden)
    start = time.perf_counter()
    loaded = StimulusSet.from_files(csv, tmp_path / "does-not-exist")
    elapsed = time.perf_counter() - start
    assert len(loaded.stimulus_paths) == n
    assert elapsed < 1.0  # typically ~15 ms; generous for slow CI machines


@pytest.mark.parametrize(
    ("content", "expected_in_message"),
    [
        ("stimulus_id,label\na,1\n", ["'filename'", "['stimulus_id', 'label']"]),
        ("filename,label\na.png,1\n", ["'stimulus_id'", "image_id"]),
        ("label\n1\n", ["'stimulus_id'", "'filename'"]),
    ],
)
def test_missing_columns_are_named(
    tmp_path: Path, content: str, expected_in_message: list[str]
) -> None:
    csv = tmp_path / "broken.csv"
    csv.write_text(content)
    with pytest.raises(ValidationError) as caught:
        StimulusSet.from_files(csv, tmp_path)
    message = str(caught.value)
    assert str(csv) in message
    for text in expected_in_message:
        assert text in message


def test_duplicate_ids_are_named(tmp_path: Path) -> None:
    csv = tmp_path / "dupes.csv"
    csv.write_text("stimulus_id,filename\n1,a.png\n2,b.png\n1,c.png\n2,d.png\n3,e.png\n")
    with pytest.raises(ValidationError) as caught:
        StimulusSet.from_files(csv, tmp_path)
    assert str(csv) in str(caught.value)
    assert "repeated ids 2: 1, 2" in str(caught.value)


def test_empty_ids_and_filenames_are_refused(tmp_path: Path) -> None:
    csv = tmp_path / "gaps.csv"
    csv.write_text("stimulus_id,filename\na,a.png\n,b.png\nc,\n")
    with pytest.raises(ValidationError) as caught:
        StimulusSet.from_files(csv, tmp_path)
    assert "stimulus_id" in str(caught.value)
    assert "rows (0-based) 1: 1" in str(caught.value)


@pytest.mark.parametrize(
    "content", [b"", b"\xff\xfe\x00\x81binary", b'stimulus_id,filename\n"a,b.png\n']
)
def test_unparseable_files_raise_validation_error(tmp_path: Path, content: bytes) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_bytes(content)
    with pytest.raises(ValidationError, match=str(csv)):
        StimulusSet.from_files(csv, tmp_path)


def test_missing_csv_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_stimulus_csv(tmp_path / "absent.csv")


# --- fuzzing --------------------------------------------------------------------------------

_FUZZ = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _load_or_refuse(tmp_path: Path, content: bytes) -> None:
    csv = tmp_path / "fuzz.csv"
    csv.write_bytes(content)
    try:
        loaded = StimulusSet.from_files(csv, tmp_path)
    except BrainioDvcError:
        return
    # Whatever loads must satisfy the loader's own contract.
    assert loaded["stimulus_id"].is_unique
    assert set(loaded.stimulus_paths) == set(loaded["stimulus_id"])


@_FUZZ
@given(content=st.binary(max_size=300))
def test_random_bytes_load_or_raise_brainio_errors(tmp_path: Path, content: bytes) -> None:
    _load_or_refuse(tmp_path, content)


_CSV_FIELD = st.text(alphabet=st.sampled_from('ab01,"\n\r\t ;.NA#-'), max_size=8)


@_FUZZ
@given(
    header=st.lists(
        st.sampled_from(["stimulus_id", "image_id", "filename", "label", "Unnamed: 0", ""]),
        min_size=1,
        max_size=4,
    ),
    rows=st.lists(st.lists(_CSV_FIELD, min_size=0, max_size=5), max_size=6),
)
def test_random_csv_text_loads_or_raises_brainio_errors(
    tmp_path: Path, header: list[str], rows: list[list[str]]
) -> None:
    text = ",".join(header) + "\n" + "".join(",".join(row) + "\n" for row in rows)
    _load_or_refuse(tmp_path, text.encode())


def test_paths_of_a_loaded_set_survive_selection_copy_concat_pickle_and_assignment(tmp_path: Path) -> None:
    """A loaded set builds its Paths on first use; every way of deriving a set must still see them."""
    import pickle

    csv = tmp_path / "set.csv"
    csv.write_text("stimulus_id,filename,group\na,x/a.png,1\nb,b.png,2\nc,c.png,1\n")
    expected = {"a": tmp_path / "x" / "a.png", "b": tmp_path / "b.png", "c": tmp_path / "c.png"}

    selected = StimulusSet.from_files(csv, tmp_path)[lambda frame: frame["group"] == 1]
    assert selected.stimulus_paths == expected and selected.get_stimulus("c") == expected["c"]
    assert StimulusSet.from_files(csv, tmp_path).copy().stimulus_paths == expected
    assert pickle.loads(pickle.dumps(StimulusSet.from_files(csv, tmp_path))).stimulus_paths == expected
    concatenated = pd.concat([StimulusSet.from_files(csv, tmp_path), StimulusSet.from_files(csv, tmp_path)])
    assert concatenated.stimulus_paths == expected
    assert all(isinstance(path, Path) for path in concatenated.stimulus_paths.values())

    reassigned = StimulusSet.from_files(csv, tmp_path)
    reassigned.stimulus_paths = {"a": Path("/elsewhere/a.png")}
    assert reassigned.stimulus_paths == {"a": Path("/elsewhere/a.png")}
