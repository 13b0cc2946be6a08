"""The meta block of .dvc files: parsing into a catalog row, rewriting, and every refusal."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brainio_dvc.catalogs import LOCATION_TYPE_DVC
from brainio_dvc.exceptions import BrainioDvcError, ValidationError
from brainio_dvc.formats.dvcmeta import META_FIELDS, parse_dvc_file, with_meta

DVC_PATH = "registry/demo/demo.Gabor2024/demo.Gabor2024.nc.dvc"
MD5 = "0f343b0931126a20f133d67c2b018a3b"
SHA1 = "5b7a0b3c" * 5
META = {
    "identifier": "demo.Gabor2024",
    "lookup_type": "assembly",
    "class": "NeuronRecordingAssembly",
    "sha1": SHA1,
    "stimulus_set_identifier": "demo.Gabor2024",
    "catalog": "demo",
}
OUTS_ONLY = f"""outs:
- md5: {MD5}
  size: 1024
  hash: md5
  path: demo.Gabor2024.nc
"""


def dvc_text(
    md5: str = MD5, size: str = "1024", path: str = "demo.Gabor2024.nc", **meta: str
) -> str:
    fields = {**META, **meta}
    lines = [f"  {key}: {value}" for key, value in fields.items()]
    return f"outs:\n- md5: {md5}\n  size: {size}\n  hash: md5\n  path: {path}\nmeta:\n" + "\n".join(lines) + "\n"


def refusal(text: str) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        parse_dvc_file(text, DVC_PATH)
    assert DVC_PATH in str(caught.value)
    return caught.value


# --- valid files ----------------------------------------------------------------------------


def test_parse_gives_the_catalog_row() -> None:
    row = parse_dvc_file(dvc_text(), DVC_PATH)
    assert row == {
        **META,
        "location_type": LOCATION_TYPE_DVC,
        "location": "registry/demo/demo.Gabor2024/demo.Gabor2024.nc",
        "md5": MD5,
        "size": 1024,
    }


def test_parse_reads_a_null_meta_value_as_empty_text() -> None:
    row = parse_dvc_file(dvc_text(stimulus_set_identifier="", **{"class": "null"}), DVC_PATH)
    assert row["class"] == ""
    assert row["stimulus_set_identifier"] == ""


def test_parse_of_a_dvc_file_at_the_top_level_locates_the_file_there() -> None:
    assert parse_dvc_file(dvc_text(), "x.nc.dvc")["location"] == "demo.Gabor2024.nc"


def test_with_meta_then_parse_round_trips_and_keeps_dvc_fields() -> None:
    text = with_meta(OUTS_ONLY, META)
    assert parse_dvc_file(text, DVC_PATH) == parse_dvc_file(dvc_text(), DVC_PATH)
    assert "hash: md5" in text
    assert text.startswith(OUTS_ONLY)


def test_with_meta_replaces_an_existing_block_and_fills_absent_fields() -> None:
    replaced = with_meta(
        dvc_text(identifier="old.Old2000"), {"identifier": "new.New2001", "sha1": SHA1, "lookup_type": "assembly"}
    )
    row = parse_dvc_file(replaced, DVC_PATH)
    assert row["identifier"] == "new.New2001"
    assert row["class"] == "" and row["catalog"] == ""
    assert "old.Old2000" not in replaced


def test_with_meta_writes_exactly_the_meta_fields_as_text() -> None:
    text = with_meta(OUTS_ONLY, {**META, "extra": "dropped", "class": None})
    assert "extra" not in text
    assert parse_dvc_file(text, DVC_PATH)["class"] == ""
    assert list(META_FIELDS) == [line.split(":")[0].strip() for line in text.split("meta:\n")[1].splitlines()]


# --- refusals name the .dvc path ------------------------------------------------------------


@pytest.mark.parametrize("text", ["outs: [unclosed", "a: b: c", "\tkey: tab"])
def test_parse_refuses_invalid_yaml(text: str) -> None:
    assert "invalid YAML" in str(refusal(text))


@pytest.mark.parametrize(
    "text, kind", [("- a\n- b\n", "list"), ("just text\n", "str"), ("", "NoneType"), ("42", "int")]
)
def test_parse_refuses_a_document_that_is_not_a_mapping(text: str, kind: str) -> None:
    assert refusal(text).found == kind


@pytest.mark.parametrize(
    "outs",
    [
        "outs: []\n",
        "other: {}\n",
        f"outs:\n- md5: {MD5}\n  size: 1\n  path: a\n- md5: {MD5}\n  size: 1\n  path: b\n",
        "outs: [just-a-string]\n",
        "outs: {md5: x}\n",
    ],
)
def test_parse_refuses_anything_but_exactly_one_out(outs: str) -> None:
    assert "exactly one tracked file" in str(refusal(outs + "meta:\n  identifier: x\n"))


@pytest.mark.parametrize(
    "md5",
    [MD5[:-1], MD5 + "0", MD5.upper(), MD5 + ".dir", "null", "12345"],
)
def test_parse_refuses_a_bad_md5(md5: str) -> None:
    assert "outs[0].md5" in str(refusal(dvc_text(md5=md5)))


@pytest.mark.parametrize("size", ["-1", "true", "false", "1.5", "'1024'", "null"])
def test_parse_refuses_a_size_that_is_not_a_byte_count(size: str) -> None:
    assert "outs[0].size" in str(refusal(dvc_text(size=size)))


def test_parse_accepts_a_zero_size() -> None:
    assert parse_dvc_file(dvc_text(size="0"), DVC_PATH)["size"] == 0


@pytest.mark.parametrize("path", ["sub/file.nc", "..", ".", "'a\\\\b.nc'", "''", "/abs.nc"])
def test_parse_refuses_a_path_that_is_not_a_sibling_file(path: str) -> None:
    assert "outs[0].path" in str(refusal(dvc_text(path=path)))


def test_parse_refuses_a_missing_meta_block() -> None:
    assert "a 'meta' block" in str(refusal(OUTS_ONLY))


@pytest.mark.parametrize("field", META_FIELDS)
def test_parse_names_a_missing_meta_field(field: str) -> None:
    lines = [line for line in dvc_text().splitlines() if not line.startswith(f"  {field}:")]
    assert refusal("\n".join(lines) + "\n").found == f"no {field}"


@pytest.mark.parametrize("value", ["1", "[a, b]", "{a: 1}", "true", "2.5"])
def test_parse_refuses_a_meta_value_that_is_not_text(value: str) -> None:
    assert refusal(dvc_text(catalog=value)).found == "non-text catalog"


@pytest.mark.parametrize("sha1", ["''", SHA1[:-1], SHA1 + "0", SHA1.upper(), "g" * 40])
def test_parse_refuses_a_bad_sha1(sha1: str) -> None:
    assert "meta.sha1" in str(refusal(dvc_text(sha1=sha1)))


@pytest.mark.parametrize("field", ["md5", "sha1"])
def test_parse_refuses_a_hash_with_a_trailing_newline(field: str) -> None:
    bad = {"md5": f'"{MD5}\\n"', "sha1": f'"{SHA1}\\n"'}[field]
    text = dvc_text(md5=bad) if field == "md5" else dvc_text(sha1=bad)
    refusal(text)


@pytest.mark.parametrize("text", ["a: 2001-02-30\n", "a: !!int x\n", "a: !!float x\n"])
def test_parse_reports_unconstructible_yaml_values_as_validation_errors(text: str) -> None:
    refusal(text)


# --- fuzz -----------------------------------------------------------------------------------

_YAMLISH = st.lists(
    st.sampled_from(
        ["outs:", "meta:", "\n", "- ", "  ", "md5: ", "size: ", "path: ", MD5, "1", "-1", ":", "[", "]",
         "{", "}", "'", '"', "&a ", "*a", "!!", "x", "identifier: ", "sha1: ", SHA1, "#"]
    ),
    max_size=40,
).map("".join)


@pytest.mark.filterwarnings("ignore::ruamel.yaml.error.ReusedAnchorWarning")
@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(), _YAMLISH))
def test_parse_of_random_text_raises_only_library_errors(text: str) -> None:
    try:
        row = parse_dvc_file(text, DVC_PATH)
    except BrainioDvcError as error:
        assert DVC_PATH in str(error)
    else:
        assert set(META_FIELDS) <= set(row)


# --- writing: dvc_yaml is ruamel.yaml's output, without ruamel ----------------------------------


def ruamel_text(document: dict[str, object]) -> str:
    import io

    from ruamel.yaml import YAML

    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[attr-defined]
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    return buffer.getvalue()


def ruamel_load(text: str) -> object:
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(text)


_TEXT = st.one_of(
    st.text(alphabet="abefxyzAEZ0123456789_.:/?=&%+~-# '\"\n\ttTrRuUnNlLoO@!", max_size=130),
    st.sampled_from(["", "yes", "No", "TRUE", "null", "Null", "~", "on", "Off", "y", "0b101", "0x1f", "1e5", "12e4",
                     "1_000", "0o7", "1:30", "2001-01-01", ".inf", ".NaN", "e5", "x:", "a::b", "a:b", "-a", "=", "<<",
                     MD5, SHA1, "0123456789", "s3://bucket/folder/key.nc?versionId=3HL4kqtJlcpXroDzDmJ+rmSpXd3"]),
)
_SCALAR = st.one_of(_TEXT, st.booleans(), st.integers(min_value=-(10**12), max_value=10**12))
_KEY = st.sampled_from(["md5", "size", "path", "meta", "identifier", "stimulus_set_identifier", "x", "version_aware"])


@st.composite
def _documents(draw: st.DrawFn) -> dict[str, object]:
    """.dvc-shaped documents: mappings of scalars, mappings and lists of mappings, two levels deep."""
    flat = st.dictionaries(_KEY, _SCALAR, min_size=1, max_size=4)
    inner = st.dictionaries(_KEY, st.one_of(_SCALAR, flat), min_size=1, max_size=4)
    value = st.one_of(_SCALAR, inner, st.lists(inner, min_size=1, max_size=2))
    return draw(st.dictionaries(_KEY, value, min_size=1, max_size=4))


@settings(max_examples=1500, deadline=None)
@given(_documents())
def test_dvc_yaml_writes_what_ruamel_writes_and_ruamel_reads_it_back(document: dict[str, object]) -> None:
    from brainio_dvc.formats.dvcmeta import dvc_yaml

    text = dvc_yaml(document)
    if text is not None:
        assert text == ruamel_text(document)
        assert ruamel_load(text) == document


@pytest.mark.parametrize("value", ["a b", "x:", "yes", "null", "1e5", "0123", "-a", "@x", "a\nb", None, 1.5, []])
def test_dvc_yaml_leaves_what_it_cannot_be_sure_of_to_ruamel(value: object) -> None:
    from brainio_dvc.formats.dvcmeta import dvc_yaml

    assert dvc_yaml({"meta": {"identifier": value}}) is None


def test_the_dvc_files_migrations_write_are_written_without_ruamel_and_read_back_as_written() -> None:
    from brainio_dvc.contribute.migrate.copying import tracked_dvc_document
    from brainio_dvc.formats.dvcmeta import dvc_row, dvc_yaml
    from brainio_dvc.store.references import Source, reference_dvc_document

    source = "s3://brainscore-storage/brainscore-vision/assy_dicarlo_MajajHong2015_public.nc?versionId=" + "a" * 32
    documents = [
        tracked_dvc_document("demo.Gabor2024.nc", MD5, 1024, {**META, "stimulus_set_identifier": ""},
                             {"source": source}),
        reference_dvc_document("demo.Gabor2024.nc", Source(source.split("?")[0], "v" * 32, MD5, 10**9), META, {}),
        reference_dvc_document("demo.Gabor2024.nc", Source(source.split("?")[0], None, None, None), META, {}),
    ]
    for document in documents:
        text = dvc_yaml(document)
        assert text is not None
        assert text == ruamel_text(document)
        assert dvc_row(document, DVC_PATH) == parse_dvc_file(text, DVC_PATH)


def test_a_scan_uses_known_rows_only_for_files_that_still_hold_the_known_text(tmp_path) -> None:
    from brainio_dvc.contribute.catalog_build import scan_registry

    relative = "registry/demo/assemblies/demo.Gabor2024/demo.Gabor2024.nc.dvc"
    (tmp_path / relative).parent.mkdir(parents=True)
    (tmp_path / relative).write_text(dvc_text())
    stale = {**parse_dvc_file(dvc_text(), relative), "class": "KnownOnly"}
    assert scan_registry(tmp_path, {relative: (dvc_text(), stale)}).rows == [stale]
    (tmp_path / relative).write_text(dvc_text(**{"class": "EditedSince"}))
    assert scan_registry(tmp_path, {relative: (dvc_text(), stale)}).rows[0]["class"] == "EditedSince"


# --- reading without ruamel: only what dvc_yaml writes back to the same text ---------------------


@settings(max_examples=1500, deadline=None)
@given(_documents())
def test_read_dvc_yaml_reads_what_dvc_yaml_writes_as_ruamel_reads_it(document: dict[str, object]) -> None:
    from brainio_dvc.formats.dvcmeta import dvc_yaml, read_dvc_yaml

    text = dvc_yaml(document)
    if text is not None:
        assert read_dvc_yaml(text) == document == ruamel_load(text)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), _YAMLISH))
def test_read_dvc_yaml_gives_ruamels_document_or_leaves_the_text_to_ruamel(text: str) -> None:
    from brainio_dvc.formats.dvcmeta import read_dvc_yaml

    document = read_dvc_yaml(text)
    if document is not None:
        assert document == ruamel_load(text)


@pytest.mark.parametrize("text", [
    dvc_text().replace("size: 1024", "size: '1024'"),  # quoted: ruamel's
    dvc_text().replace("size: 1024", "size: 01024"),  # not how it is written back
    dvc_text() + "# a comment\n",
    dvc_text().replace("meta:\n", "meta:  \n"),
    dvc_text()[:-1],  # no final newline
    dvc_text().replace("  catalog: demo", "  catalog: demo\n  catalog: other"),  # a duplicate key
])
def test_read_dvc_yaml_leaves_other_shapes_to_ruamel_and_parsing_still_agrees(text: str) -> None:
    from brainio_dvc.formats.dvcmeta import load_dvc_document, read_dvc_yaml

    assert read_dvc_yaml(text) is None
    try:
        expected: object = ruamel_load(text)
    except Exception as error:  # noqa: BLE001 - ruamel's refusal becomes a ValidationError
        with pytest.raises(ValidationError):
            load_dvc_document(text, DVC_PATH)
        del error
    else:
        assert load_dvc_document(text, DVC_PATH) == expected


def test_the_files_migrations_write_are_read_back_without_ruamel() -> None:
    from brainio_dvc.formats.dvcmeta import read_dvc_yaml

    assert read_dvc_yaml(dvc_text()) == ruamel_load(dvc_text())
