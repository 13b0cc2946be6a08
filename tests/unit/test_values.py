"""The one rule for a missing value (brainio_dvc.formats.values.is_missing)."""

from __future__ import annotations

import decimal

import numpy as np
import pandas as pd
import pytest

from brainio_dvc.formats.values import is_missing

MISSING = [None, "", float("nan"), np.float32("nan"), np.float64("nan"), decimal.Decimal("NaN"), pd.NA, pd.NaT]
PRESENT = ["x", " ", "nan", "0", 0, 0.0, False, np.int64(3), pd.Timestamp("2020-01-01"), [], ("a",)]


@pytest.mark.parametrize("value", MISSING, ids=repr)
def test_missing(value: object) -> None:
    assert is_missing(value) is True


@pytest.mark.parametrize("value", PRESENT, ids=repr)
def test_present(value: object) -> None:
    assert is_missing(value) is False


def test_a_series_gives_the_rule_element_by_element() -> None:
    values = [*MISSING, "x", 1, 2.5]
    expected = [True] * len(MISSING) + [False] * 3
    assert is_missing(pd.Series(values, dtype=object)).tolist() == expected
    assert is_missing(np.array(values, dtype=object)).tolist() == expected
    assert is_missing(pd.Series([1.0, np.nan])).tolist() == [False, True]


def test_a_blank_csv_field_is_missing_however_it_was_read(tmp_path) -> None:
    import csv

    path = tmp_path / "rows.csv"
    path.write_text("a,b\n1,\n", encoding="utf-8")
    with open(path, newline="", encoding="utf-8") as stream:
        assert is_missing(next(csv.DictReader(stream))["b"])
    assert is_missing(pd.read_csv(path)["b"][0])
