"""Fuzzing every reader of outside input: catalog CSVs, .dvc files, stimulus CSVs and ZIPs.

The contract: a reader returns normally or raises a :class:`BrainioDvcError`; nothing else
(no KeyError from pandas, no UnicodeDecodeError, no zipfile.BadZipFile, no YAML error).
Inputs are random bytes and text, and mutations (flipped, inserted, deleted and repeated
bytes, truncation) of valid files, which reach much deeper into each parser.  Bounded: the
whole module runs in well under 30 s.

The default suite replays the same examples on every run (the ``derandomized`` hypothesis profile
of tests/conftest.py), so that CI stays deterministic; ``BRAINIO_DVC_FUZZ_EXAMPLES=5000`` searches
afresh, with that many examples per test.  Keep what a search finds as a fixed ``@example``.
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from brainio_dvc.catalogs import BRAINIO_COLUMNS, Catalog, parse_catalog_csv, render_catalog_csv
from brainio_dvc.exceptions import BrainioDvcError
from brainio_dvc.formats.dvcmeta import META_FIELDS, parse_dvc_file
from brainio_dvc.formats.zip_extraction import extract_zip, extraction_problems
from brainio_dvc.stimuli import StimulusSet

_SEARCH_EXAMPLES = int(os.environ.get("BRAINIO_DVC_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=_SEARCH_EXAMPLES or 150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_every_hypothesis_test_replays_fixed_examples_unless_searching() -> None:
    """tests/conftest.py's profile, which every hypothesis test of the suite runs under."""
    assert settings.default.derandomize is not bool(_SEARCH_EXAMPLES)
    assert settings.default.database is None


# --- valid seeds ------------------------------------------------------------------------------

SHA1 = "5b7a0b3c" * 5
MD5 = "0f343b0931126a20f133d67c2b018a3b"
CATALOG_TEXT = render_catalog_csv([
    {"identifier": "lab.Tester2024", "lookup_type": "stimulus_set", "class": "StimulusSet",
     "location_type": "dvc", "location": "registry/lab/stimulus_sets/lab.Tester2024/lab.Tester2024.csv",
     "sha1": SHA1, "stimulus_set_identifier": "", "md5": MD5, "size": "120"},
    {"identifier": "lab.Tester2024", "lookup_type": "stimulus_set", "class": "",
     "location_type": "dvc", "location": "registry/lab/stimulus_sets/lab.Tester2024/lab.Tester2024.zip",
     "sha1": SHA1, "stimulus_set_identifier": "", "md5": MD5, "size": "4000"},
    {"identifier": "lab.Tester2024.rates", "lookup_type": "assembly", "class": "NeuronRecordingAssembly",
     "location_type": "S3", "location": "https://example.org/a.nc", "sha1": SHA1,
     "stimulus_set_identifier": "lab.Tester2024", "md5": "", "size": ""},
])
DVC_TEXT = f"""outs:
- md5: {MD5}
  size: 1024
  hash: md5
  path: lab.Tester2024.rates.nc
meta:
  identifier: lab.Tester2024.rates
  lookup_type: assembly
  class: NeuronRecordingAssembly
  sha1: {SHA1}
  stimulus_set_identifier: lab.Tester2024
  catalog: lab
"""
STIMULUS_CSV = (
    "stimulus_id,image_id,category,size_deg,filename\n"
    "s0,0012,car,1.5,s0.png\n"
    "s1,NA,dog,,images/s1.png\n"
    '"s2",0013,"c,a,t",2e3,s2.png\n'
)


def _valid_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("s0.png", b"\x89PNG" + b"0" * 60)
        archive.writestr("images/", b"")
        archive.writestr("images/s1.png", b"\x89PNG" + b"1" * 60)
        archive.writestr(zipfile.ZipInfo("deflated.txt"), b"text " * 40, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


VALID_ZIP = _valid_zip()


def _zip_with_an_empty_name() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("s0.png", b"\x89PNG")
        archive.writestr(zipfile.ZipInfo("\x00hidden"), b"zipfile cuts names at NUL: this one is ''")
    return buffer.getvalue()


def _zip_claiming_more_than_its_entry_holds() -> bytes:
    """A deflated entry whose central directory claims 456 bytes; its data and CRC hold 200."""
    content = b"text " * 40
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("s0.png", b"\x89PNG")
        archive.writestr("deflated.txt", content, compress_type=zipfile.ZIP_DEFLATED)
    data = bytearray(buffer.getvalue())
    central = data.rindex(b"PK\x01\x02")  # the last central directory record: deflated.txt
    data[central + 24:central + 28] = (len(content) + 256).to_bytes(4, "little")
    return bytes(data)


#: What fuzzing found, kept as fixed examples: every offset one byte off (zipfile seeks to -1:
#: OSError EINVAL); an entry whose name is empty (ZipInfo.is_dir: IndexError); an entry that
#: holds fewer bytes than the archive says (zipfile checks only the CRC of what it read).
FOUND_BY_FUZZING = (VALID_ZIP[1:], _zip_with_an_empty_name(), _zip_claiming_more_than_its_entry_holds())


# --- a mutator ----------------------------------------------------------------------------------


@st.composite
def mutations(draw: st.DrawFn, seed: bytes, tokens: tuple[bytes, ...] = ()) -> bytes:
    """``seed`` after a few random edits: byte flips, insertions (of bytes or of tokens that
    mean something to the parser), deletions, repeated slices, truncation."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, len(data)))
        operation = draw(st.sampled_from(["flip", "insert", "token", "delete", "repeat", "truncate"]))
        if operation == "flip" and position < len(data):
            data[position] = draw(st.integers(0, 255))
        elif operation == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif operation == "token" and tokens:
            data[position:position] = draw(st.sampled_from(tokens))
        elif operation == "delete":
            del data[position : position + draw(st.integers(1, 16))]
        elif operation == "repeat":
            data[position:position] = data[position : position + draw(st.integers(1, 32))]
        elif operation == "truncate":
            del data[position:]
    return bytes(data)


def _as_text(data: bytes) -> str:
    return data.decode("utf-8", errors="surrogateescape")


# --- catalog CSV ---------------------------------------------------------------------------------

_CSV_TOKENS = (b",", b'"', b"\n", b"\r", b"\r\n", b'""', b"\x00", b"assembly", b"stimulus_set", b"dvc",
               b"identifier", b"lookup_type", b"size", b"md5", b"sha1", b"-1", b"\xef\xbb\xbf", b"\xff")


def _parse_catalog(text: str) -> None:
    try:
        catalog = parse_catalog_csv(text, source="catalogs/lab/lookup.csv")
    except BrainioDvcError as error:
        assert "catalogs/lab/lookup.csv" in str(error)
        return
    assert set(BRAINIO_COLUMNS) <= set(catalog.columns)
    assert set(catalog["lookup_type"]) <= {"assembly", "stimulus_set"}


@FUZZ
@given(st.one_of(st.text(max_size=300), mutations(CATALOG_TEXT.encode(), _CSV_TOKENS).map(_as_text)))
def test_catalog_text_parses_or_raises_brainio_errors(text: str) -> None:
    _parse_catalog(text)


@FUZZ
@given(st.one_of(st.binary(max_size=300), mutations(CATALOG_TEXT.encode(), _CSV_TOKENS)))
def test_catalog_files_load_or_raise_brainio_errors(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "lookup.csv"
        path.write_bytes(data)
        try:
            catalog = Catalog.from_files("lab", path)
        except BrainioDvcError as error:  # any other exception escapes and fails the test
            assert str(path) in str(error), str(error)
            return
        assert isinstance(catalog, Catalog) and catalog.identifier == "lab"
        assert catalog.attrs["source_path"] == str(path)
        assert set(BRAINIO_COLUMNS) <= set(catalog.columns)
        assert set(catalog["lookup_type"]) <= {"assembly", "stimulus_set"}


# --- .dvc files ----------------------------------------------------------------------------------

_YAML_TOKENS = (b"outs:", b"meta:", b"- ", b"  ", b"\n", b": ", b"[", b"]", b"{", b"}", b"&a ", b"*a", b"!!int ",
                b"!!binary ", b"!!python/name:os.system ", b"? ", b"|", b">", b"~", b"null", b"1e999", b"0x1F",
                b"2001-02-30", b"'", b'"', b"#", b"\t", b"---\n", b"...\n", b"%YAML 1.2\n", b"<<: *a")
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8), st.just(MD5),
                     st.just(SHA1))
_DOCUMENTS = st.recursive(
    _SCALARS, lambda children: st.one_of(st.lists(children, max_size=3),
                                         st.dictionaries(st.sampled_from(["outs", "meta", "md5", "size", "path",
                                                                          *META_FIELDS]), children, max_size=5)),
    max_leaves=12,
)


def _dump(document: object) -> str:
    from ruamel.yaml import YAML

    buffer = io.StringIO()
    YAML(typ="safe").dump(document, buffer)
    return buffer.getvalue()


def _parse_dvc(text: str) -> None:
    try:
        row = parse_dvc_file(text, "registry/lab/assemblies/x/x.nc.dvc")
    except BrainioDvcError as error:
        assert "registry/lab/assemblies/x/x.nc.dvc" in str(error)
        return
    assert set(META_FIELDS) <= set(row) and len(str(row["md5"])) == 32


@FUZZ
@given(st.one_of(st.text(max_size=200), mutations(DVC_TEXT.encode(), _YAML_TOKENS).map(_as_text)))
def test_dvc_text_parses_or_raises_brainio_errors(text: str) -> None:
    _parse_dvc(text)


@FUZZ
@given(_DOCUMENTS)
def test_dvc_documents_of_any_shape_parse_or_raise_brainio_errors(document: object) -> None:
    _parse_dvc(_dump(document))


# --- stimulus CSV --------------------------------------------------------------------------------


def _load_stimuli(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        csv_path = directory / "stimuli.csv"
        csv_path.write_bytes(data)
        try:
            loaded = StimulusSet.from_files(csv_path, directory / "stimuli")
        except BrainioDvcError as error:
            assert str(csv_path) in str(error)
            return
        assert loaded["stimulus_id"].is_unique
        for path in loaded.stimulus_paths.values():
            assert path.resolve().is_relative_to((directory / "stimuli").resolve()), path


@FUZZ
@given(st.one_of(st.binary(max_size=300), mutations(STIMULUS_CSV.encode(), _CSV_TOKENS + (b"../", b"/", b"\\")))
)
def test_stimulus_csvs_load_or_raise_brainio_errors(data: bytes) -> None:
    _load_stimuli(data)


# --- ZIP archives --------------------------------------------------------------------------------

_ZIP_TOKENS = (b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06", b"\xff\xff\xff\xff", b"\x00" * 4,
               b"../", b"/", b"\\")
_MEMBER = st.lists(st.sampled_from([*"ab./\\:C", "\x00", ".."]), max_size=8).map("".join)


@st.composite
def crafted_zips(draw: st.DrawFn) -> bytes:
    """Well-formed ZIPs with hostile member names, symlinks, directories and duplicates."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in draw(st.lists(_MEMBER.filter(lambda n: n and "\x00" not in n), min_size=1, max_size=4)):
            info = zipfile.ZipInfo(name)
            if draw(st.booleans()):
                info.create_system = 3
                info.external_attr = draw(st.sampled_from([stat.S_IFLNK | 0o777, stat.S_IFREG | 0o644,
                                                           stat.S_IFDIR | 0o755, 0o7777])) << 16
            archive.writestr(info, draw(st.binary(max_size=16)))
    return buffer.getvalue()


def _inside(directory: Path, root: Path) -> bool:
    return all(path.resolve().is_relative_to(root.resolve()) for path in directory.rglob("*"))


@FUZZ
@given(st.one_of(st.binary(max_size=300), mutations(VALID_ZIP, _ZIP_TOKENS), crafted_zips()))
@example(FOUND_BY_FUZZING[0])
@example(FOUND_BY_FUZZING[1])
@example(FOUND_BY_FUZZING[2])
@pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")
def test_zips_extract_safely_or_raise_brainio_errors(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        zip_path, cache = base / "fuzz.zip", base / "cache"
        zip_path.write_bytes(data)
        cache.mkdir()
        try:
            target = extract_zip(zip_path, cache / "target")
        except BrainioDvcError as error:
            assert str(zip_path) in str(error)
            assert sorted(p.name for p in cache.iterdir()) == []  # nothing left behind
        else:
            assert _inside(target, target) and not any(p.is_symlink() for p in target.rglob("*"))
            assert extraction_problems(zip_path, target) == []
        assert sorted(p.name for p in base.iterdir()) == ["cache", "fuzz.zip"]  # nothing escaped


@FUZZ
@given(mutations(VALID_ZIP, _ZIP_TOKENS))
@example(FOUND_BY_FUZZING[0])
@example(FOUND_BY_FUZZING[1])
@example(FOUND_BY_FUZZING[2])
def test_checking_an_extraction_against_a_damaged_zip_never_crashes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        good, damaged = base / "good.zip", base / "damaged.zip"
        good.write_bytes(VALID_ZIP)
        damaged.write_bytes(data)
        target = extract_zip(good, base / "target")
        problems = extraction_problems(damaged, target)
        assert all(isinstance(problem, str) for problem in problems)
