"""subset: aligning a source assembly to a target's coordinates."""

from __future__ import annotations

import numpy as np
import pytest

from brainio_dvc.assemblies import NeuroidAssembly
from brainio_dvc.exceptions import ValidationError
from brainio_dvc.transform import subset


def features(stimulus_ids: list[str]) -> NeuroidAssembly:
    """A model's features: one presentation per stimulus, values encode the stimulus."""
    return NeuroidAssembly(
        np.array([[float(i), float(i) + 0.5] for i in range(len(stimulus_ids))]),
        dims=["presentation", "neuroid"],
        coords={  # as model activations: several coordinates per dimension
            "stimulus_id": ("presentation", stimulus_ids),
            "object_name": ("presentation", ["obj"] * len(stimulus_ids)),
            "neuroid_id": ("neuroid", ["u1", "u2"]),
            "layer": ("neuroid", ["conv1", "conv1"]),
        },
    )


def recordings(stimulus_ids: list[str]) -> NeuroidAssembly:
    return NeuroidAssembly(
        np.zeros((len(stimulus_ids), 3)),
        dims=["presentation", "neuroid"],
        coords={
            "stimulus_id": ("presentation", stimulus_ids),
            "repetition": ("presentation", list(range(len(stimulus_ids)))),
            "neuroid_id": ("neuroid", ["n1", "n2", "n3"]),
            "region": ("neuroid", ["IT"] * 3),
        },
    )


def test_subset_keeps_source_entries_present_in_target_in_source_order():
    source = features(["a", "b", "c", "d"])
    target = recordings(["d", "b"])
    result = subset(source, target, subset_dims=["presentation"])
    assert type(result) is NeuroidAssembly
    assert list(result["stimulus_id"].values) == ["b", "d"]
    np.testing.assert_array_equal(result.values[:, 0], [1.0, 3.0])
    assert result.sizes["neuroid"] == 2  # other dims untouched


def test_subset_with_repeat_follows_target_order_and_repeats():
    source = features(["a", "b", "c"])
    target = recordings(["c", "a", "c", "b", "a"])
    result = subset(source, target, subset_dims=["presentation"], repeat=True)
    assert list(result["stimulus_id"].values) == ["c", "a", "c", "b", "a"]
    np.testing.assert_array_equal(result.values[:, 0], [2.0, 0.0, 2.0, 1.0, 0.0])


def test_subset_size_mismatch_is_a_validation_error():
    source = features(["a", "b"])
    target = recordings(["a", "b", "b"])
    with pytest.raises(ValidationError) as raised:
        subset(source, target, subset_dims=["presentation"])
    message = str(raised.value)
    assert "'presentation'" in message and "3 entries" in message and "2 entries" in message


def test_subset_without_dims_must_match_accepts_partial_matches():
    source = features(["a", "b"])
    target = recordings(["a", "z"])
    result = subset(source, target, subset_dims=["presentation"], dims_must_match=False)
    assert list(result["stimulus_id"].values) == ["a"]


def test_subset_uses_every_shared_level():
    source = recordings(["a", "a", "b", "b"])
    target = recordings(["a", "b"])  # repetitions 0 and 1
    result = subset(source, target, subset_dims=["presentation"], dims_must_match=False)
    pairs = list(zip(result["stimulus_id"].values, result["repetition"].values, strict=True))
    assert pairs == [("a", 0), ("a", 1)]


def test_subset_by_level_name_and_all_dims_by_default():
    source = recordings(["a", "b", "c"])
    target = recordings(["c", "a"]).isel(neuroid=[0, 2])
    by_level = subset(source, target, subset_dims=["stimulus_id"], dims_must_match=False)
    assert list(by_level["stimulus_id"].values) == ["a", "c"]
    everything = subset(source, target, dims_must_match=False)
    assert list(everything["neuroid_id"].values) == ["n1", "n3"]


def test_subset_without_shared_levels_is_a_validation_error():
    source = features(["a"]).rename(stimulus_id="image")
    with pytest.raises(ValidationError, match="at least one coordinate"):
        subset(source, recordings(["a"]), subset_dims=["presentation"])


def test_subset_unknown_dim_is_a_validation_error():
    with pytest.raises(ValidationError, match="'trial'"):
        subset(features(["a"]), recordings(["a"]), subset_dims=["trial"])
