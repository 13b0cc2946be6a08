"""Hex digests (brainio_dvc.formats.hashes): the one place that says what a digest looks like."""

from __future__ import annotations

import pytest

from brainio_dvc.exceptions import ValidationError
from brainio_dvc.formats.hashes import check_digest, is_digest, is_hex

MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"


@pytest.mark.parametrize(("algorithm", "digest", "any_case", "lower_case"), [
    ("md5", MD5, True, True),
    ("md5", MD5.upper(), True, False),
    ("sha1", SHA1, True, True),
    ("sha1", SHA1[:-1], False, False),
    ("md5", SHA1, False, False),
    ("md5", MD5[:-1] + "g", False, False),
    ("md5", None, False, False),
    ("sha256", MD5, False, False),
])
def test_is_digest(algorithm: str, digest: object, any_case: bool, lower_case: bool) -> None:
    assert is_digest(algorithm, digest) is any_case
    assert is_digest(algorithm, digest, lowercase=True) is lower_case


def test_is_hex() -> None:
    assert is_hex("0a1b2c") and is_hex("0A1B") and not is_hex("0A1B", lowercase=True)
    assert not is_hex("") and not is_hex("xyz") and not is_hex(12)


def test_check_digest_lowers_the_case_and_refuses_paths() -> None:
    assert check_digest("md5", MD5.upper()) == MD5
    with pytest.raises(ValidationError):
        check_digest("md5", "../" + MD5[3:])
