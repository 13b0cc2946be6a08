"""Fuzzing the readers of damaged netCDF/HDF5 assembly files, reference ``.dvc`` files and the
extra meta that migration writes (``bibtex``, ``verified``), and dataset cards.

The contract is :mod:`tests.unit.test_fuzz`'s: a reader returns normally or raises a
:class:`BrainioDvcError` (or, for a file that is gone, FileNotFoundError); nothing else.  The
default suite replays fixed examples (tests/conftest.py's ``derandomized`` hypothesis profile);
``BRAINIO_DVC_FUZZ_EXAMPLES=N`` searches afresh.
"""

from __future__ import annotations

import json
import multiprocessing
import queue
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st
from test_fuzz import _SCALARS, _YAML_TOKENS, FUZZ, MD5, SHA1, _as_text, _dump, mutations

from brainio_dvc.assemblies import NeuronRecordingAssembly
from brainio_dvc.exceptions import BrainioDvcError
from brainio_dvc.formats.dvcmeta import META_FIELDS, parse_dvc_file

# --- netCDF / HDF5 --------------------------------------------------------------------------------


@cache
def valid_netcdf() -> bytes:
    """A small assembly file as packaging writes it (netCDF-4, HDF5 underneath)."""
    from brainio_dvc.formats.netcdf import write_netcdf

    assembly = NeuronRecordingAssembly(
        np.arange(24, dtype=np.float32).reshape(4, 3, 2),
        coords={"stimulus_id": ("presentation", ["s0", "s1", "s0", "s1"]), "repetition": ("presentation", [0, 0, 1, 1]),
                "neuroid_id": ("neuroid", ["n0", "n1", "n2"]), "region": ("neuroid", ["IT", "IT", "V4"]),
                "time_bin_start": ("time_bin", [70, 120]), "time_bin_end": ("time_bin", [120, 170])},
        dims=["presentation", "neuroid", "time_bin"],
    )
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "valid.nc"
        write_netcdf(assembly, path)
        return path.read_bytes()


_HDF5_TOKENS = (b"\x89HDF\r\n\x1a\n", b"\xff" * 8, b"\x00" * 8, b"OHDR", b"TREE", b"HEAP", b"SNOD", b"GCOL", b"FRHP",
                b"BTHD", b"FSHD", b"\x01\x00\x00\x00")


@st.composite
def damaged_netcdfs(draw: st.DrawFn) -> bytes:
    """Truncated, zeroed and mutated copies of a valid assembly file."""
    data = valid_netcdf()
    kind = draw(st.sampled_from(["truncate", "zero", "mutate"]))
    if kind == "truncate":
        return data[: draw(st.integers(0, len(data) - 1))]
    if kind == "zero":
        start = draw(st.integers(0, len(data) - 1))
        length = draw(st.integers(1, 4096))
        return data[:start] + b"\x00" * min(length, len(data) - start) + data[start + length:]
    return draw(mutations(data, _HDF5_TOKENS))


#: Seconds a damaged file may take to load or be refused.  HDF5 loops forever on some damaged
#: files (the library itself, before netCDF4 returns to Python): such a file cannot be refused
#: with an error, only never reached.  Registry loads never reach one: a file is read only
#: after its md5 matched.  The README says so.
_HDF5_HANG_SECONDS = 20


def _load_in_child(path: str, results: Any) -> None:
    try:
        assembly = NeuronRecordingAssembly.from_files(path)
    except BrainioDvcError as error:
        results.put(("refused", str(error)))
    except BaseException as error:  # noqa: BLE001 - reported to the parent, which fails the test
        results.put(("escaped", f"{type(error).__name__}: {error}"))
    else:
        results.put(("loaded", assembly.ndim))


def _load_netcdf(data: bytes) -> None:
    """Load a damaged file in a forked child: it loads, or a BrainioDvcError names it, or HDF5
    hangs on it (the child is killed; see _HDF5_HANG_SECONDS); any other error fails."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "fuzz.nc"
        path.write_bytes(data)
        context = multiprocessing.get_context("fork")
        results = context.Queue()
        child = context.Process(target=_load_in_child, args=(str(path), results))
        child.start()
        try:
            outcome, detail = results.get(timeout=_HDF5_HANG_SECONDS)
        except queue.Empty:
            child.kill()
            child.join()
            return
        child.join()
        assert outcome != "escaped", detail
        if outcome == "refused":
            assert str(path) in detail, detail
        else:
            assert detail >= 1


@FUZZ
@given(damaged_netcdfs())
@example(b"")
@example(b"\x89HDF\r\n\x1a\n")
def test_damaged_netcdf_files_load_or_raise_brainio_errors(data: bytes) -> None:
    _load_netcdf(data)


def test_every_truncation_of_an_assembly_file_is_refused_or_loads() -> None:
    """Truncated at every 1/64th of its length (what a disk full or a killed copy leaves)."""
    data = valid_netcdf()
    for cut in range(0, len(data), max(1, len(data) // 64)):
        _load_netcdf(data[:cut])


# --- .dvc files: references and migration's extra meta -----------------------------------------

REFERENCE_TEXT = f"""frozen: true
deps:
- etag: '"{MD5}"'
  size: 1024
  version_id: 3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY
  path: s3://brainscore-storage/brainio-brainscore/assy_lab_Tester2024_rates.nc
  fs_config:
    version_aware: true
outs:
- path: lab.Tester2024.rates.nc
  hash: md5
  push: false
meta:
  identifier: lab.Tester2024.rates
  lookup_type: assembly
  class: NeuronRecordingAssembly
  sha1: {SHA1}
  stimulus_set_identifier: lab.Tester2024
  catalog: lab
  bibtex: '@article{{tester2024, title={{Rates}}, year={{2024}}}}'
  verified: false
"""
_REFERENCE_TOKENS = (*_YAML_TOKENS, b"deps:", b"etag: ", b"version_id: ", b"s3://", b"fs_config:", b"frozen: ",
                     b"bibtex: ", b"verified: ", b"push: ", b"{", b"@article")
_REFERENCE_DOCUMENTS = st.fixed_dictionaries({
    "deps": st.one_of(_SCALARS, st.lists(st.dictionaries(
        st.sampled_from(["path", "etag", "size", "version_id", "fs_config"]),
        st.one_of(_SCALARS, st.just("s3://bucket/key.nc"), st.dictionaries(st.text(max_size=4), _SCALARS, max_size=2)),
        max_size=5), max_size=2)),
    "outs": st.one_of(_SCALARS, st.lists(
        st.dictionaries(st.sampled_from(["path", "hash", "push", "md5"]), st.one_of(_SCALARS, st.just("x.nc")),
                        max_size=4),
        max_size=2)),
    "meta": st.one_of(_SCALARS, st.dictionaries(st.sampled_from([*META_FIELDS, "bibtex", "verified", "card"]),
                                                st.one_of(_SCALARS, st.just(SHA1)), max_size=9)),
}, optional={"frozen": _SCALARS})


def _parse_dvc(text: str) -> None:
    try:
        row = parse_dvc_file(text, "registry/lab/assemblies/x/x.nc.dvc")
    except BrainioDvcError as error:
        assert "registry/lab/assemblies/x/x.nc.dvc" in str(error)
        return
    assert set(META_FIELDS) <= set(row)


def test_the_reference_seed_parses_as_a_reference() -> None:
    from brainio_dvc.store.references import LOCATION_TYPE_REFERENCE

    row = parse_dvc_file(REFERENCE_TEXT, "registry/lab/assemblies/x/x.nc.dvc")
    assert row["location_type"] == LOCATION_TYPE_REFERENCE and row["size"] == 1024


@FUZZ
@given(mutations(REFERENCE_TEXT.encode(), _REFERENCE_TOKENS).map(_as_text))
def test_reference_dvc_text_parses_or_raises_brainio_errors(text: str) -> None:
    _parse_dvc(text)


@FUZZ
@given(_REFERENCE_DOCUMENTS)
def test_reference_documents_of_any_shape_parse_or_raise_brainio_errors(document: object) -> None:
    _parse_dvc(_dump(document))


# --- dataset cards ----------------------------------------------------------------------------------


@cache
def valid_card_text() -> str:
    """A card of the demo registry (this repository's ``registry/``)."""
    return sorted((Path(__file__).resolve().parents[2] / "registry").rglob("card.json"))[0].read_text(encoding="utf-8")


_JSON_TOKENS = (b"{", b"}", b"[", b"]", b'"', b":", b",", b"null", b"true", b"1e999", b"-0", b"\\u0000", b"\\ud800",
                b'"species"', b'"regions"', b'"doi"', b'"authors"', b'"year"', b'"license"')
_JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8)),
                     lambda children: st.one_of(st.lists(children, max_size=3),
                                                st.dictionaries(st.text(max_size=10), children, max_size=5)),
                     max_leaves=15)


def _read_card(text: str) -> None:
    from brainio_dvc.cards import read_card_text

    try:
        card = read_card_text(text, "registry/lab/assemblies/x/card.json")
    except BrainioDvcError as error:
        assert "card.json" in str(error), str(error)
        return
    assert isinstance(card, dict)


@FUZZ
@given(st.one_of(mutations(b"", _JSON_TOKENS).map(_as_text), st.text(max_size=200)))
def test_card_text_reads_or_raises_brainio_errors(text: str) -> None:
    _read_card(text)


@FUZZ
@given(st.deferred(lambda: mutations(valid_card_text().encode(), _JSON_TOKENS)))
def test_mutated_cards_read_or_raise_brainio_errors(data: bytes) -> None:
    _read_card(_as_text(data))


@FUZZ
@given(_JSON)
def test_cards_of_any_shape_read_or_raise_brainio_errors(document: object) -> None:
    _read_card(json.dumps(document))
