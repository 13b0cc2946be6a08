"""The pure parts of a migration: reading its inputs, BrainIO lite's key rules, and the plan.

No S3, git or DVC: text in, entries and decisions out.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from brainio_dvc.contribute.migrate.copying import tracked_dvc_text
from brainio_dvc.contribute.migrate.manifest import (
    MANIFEST_COLUMNS,
    Entry,
    parse_input,
    parse_manifest_csv,
    render_manifest_csv,
    render_manifest_json,
)
from brainio_dvc.contribute.migrate.plugin_scan import scan_source
from brainio_dvc.contribute.migrate.run import migration_branch, plan
from brainio_dvc.exceptions import MigrationError

SHA1 = "a" * 40
OTHER_SHA1 = "b" * 40
HEADER = ",".join(MANIFEST_COLUMNS[:8])
ASSEMBLY_CLASSES = ["DataAssembly", "NeuronRecordingAssembly"]
STIMULUS_CLASSES = ["StimulusSet"]


def manifest(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


STIMULUS_ROWS = (
    f"lab.X2024,stimulus_set,StimulusSet,bucket,folder/stimulus_lab_X2024.csv,v1,{SHA1},",
    f"lab.X2024,stimulus_set,,bucket,folder/stimulus_lab_X2024.zip,null,{SHA1},",
)
ASSEMBLY_ROW = f"lab.X2024.it,assembly,NeuronRecordingAssembly,bucket,folder/assy_lab_X2024_it.nc,,{SHA1},lab.X2024"


# -- inputs ------------------------------------------------------------------------------------


def test_a_csv_manifest_gives_one_entry_per_object_with_its_role_version_and_origin() -> None:
    entries = parse_manifest_csv(manifest(*STIMULUS_ROWS, ASSEMBLY_ROW), "in.csv")
    assert [(e.identifier, e.role, e.version_id, e.origin) for e in entries] == [
        ("lab.X2024", "csv", "v1", "in.csv:2"),
        ("lab.X2024", "zip", None, "in.csv:3"),  # "null" is the latest version
        ("lab.X2024.it", "nc", None, "in.csv:4"),
    ]
    assert entries[2].stimulus_set_identifier == "lab.X2024"
    assert entries[0].source == "s3://bucket/folder/stimulus_lab_X2024.csv?versionId=v1"
    assert entries[1].source == "s3://bucket/folder/stimulus_lab_X2024.zip"
    assert not any(entry.problem for entry in entries)


def test_bad_rows_are_kept_with_their_line_and_reason_and_blank_lines_are_skipped() -> None:
    text = manifest(
        STIMULUS_ROWS[0],
        "",
        f"lab.Y2024,assembly,DataAssembly,bucket,assy_lab_Y2024.nc,,{'z' * 40},lab.X2024",
        f"lab.Z2024,dataset,DataAssembly,bucket,assy_lab_Z2024.nc,,{SHA1},",
        f",assembly,DataAssembly,,assy.nc,,{SHA1},",
    )
    entries = parse_manifest_csv(text, "in.csv")
    problems = {entry.origin: entry.problem for entry in entries}
    assert problems == {
        "in.csv:2": "",
        "in.csv:4": f"invalid entry: sha1 {'z' * 40!r} is not 40 hex digits",
        "in.csv:5": "invalid entry: kind 'dataset', expected 'assembly' or 'stimulus_set'",
        "in.csv:6": "invalid entry: no identifier, bucket",
    }


def test_a_manifest_without_its_columns_or_with_broken_csv_is_refused_by_name() -> None:
    with pytest.raises(MigrationError, match=r"in\.csv.*no version_id, stimulus_set_identifier"):
        parse_manifest_csv("identifier,kind,class,bucket,key,sha1\n", "in.csv")
    with pytest.raises(MigrationError, match="empty"):
        parse_input("", "in.csv")


def test_a_json_manifest_is_a_list_or_an_object_with_entries() -> None:
    rows = [{"identifier": "lab.X2024.it", "kind": "assembly", "class": "DataAssembly", "bucket": "bucket/folder",
             "key": "assy_lab_X2024_it.nc", "version_id": None, "sha1": SHA1.upper(),
             "stimulus_set_identifier": "lab.X2024", "bibtex": "@misc{x}"}, "not an object"]
    for text in (json.dumps(rows), json.dumps({"entries": rows})):
        first, second = parse_input(text, "in.json")
        assert (first.bucket, first.key, first.sha1, first.bibtex, first.origin) == (
            "bucket", "folder/assy_lab_X2024_it.nc", SHA1, "@misc{x}", "in.json[0]")
        assert second.origin == "in.json[1]" and second.problem == "invalid entry: not an object"
    with pytest.raises(MigrationError, match="invalid JSON"):
        parse_input("[{", "in.json")
    with pytest.raises(MigrationError, match="list of entries"):
        parse_input('{"rows": []}', "in.json")


def test_a_classic_brainio_catalog_is_read_as_the_same_entries() -> None:
    text = textwrap.dedent(f"""\
        identifier,lookup_type,class,location_type,location,sha1,stimulus_set_identifier,version_id
        lab.X2024,stimulus_set,StimulusSet,S3,https://bucket.s3.amazonaws.com/f/stimulus_lab_X2024.csv,{SHA1},,
        lab.X2024,stimulus_set,,S3,https://bucket.s3.us-east-1.amazonaws.com/f/stimulus_lab_X2024.zip,{SHA1},,v2
        lab.X2024.it,assembly,NeuronRecordingAssembly,S3,s3://bucket/f/assy.nc?versionId=v3,{SHA1},lab.X2024,
        lab.X2024.v4,assembly,DataAssembly,S3,https://s3.amazonaws.com/bucket/f/v4.nc,{SHA1},lab.X2024,
        lab.X2024.bad,assembly,DataAssembly,local,/data/bad.nc,{SHA1},lab.X2024,
        """)
    entries = parse_input(text, "lookup.csv")
    assert [(e.identifier, e.role, e.bucket, e.key, e.version_id) for e in entries[:4]] == [
        ("lab.X2024", "csv", "bucket", "f/stimulus_lab_X2024.csv", None),
        ("lab.X2024", "zip", "bucket", "f/stimulus_lab_X2024.zip", "v2"),
        ("lab.X2024.it", "nc", "bucket", "f/assy.nc", "v3"),
        ("lab.X2024.v4", "nc", "bucket", "f/v4.nc", None),
    ]
    assert entries[4].origin == "lookup.csv:6"
    assert entries[4].problem.startswith("invalid entry: location is not an S3 object")


def test_manifests_render_back_to_what_they_were_read_from() -> None:
    entries = parse_manifest_csv(manifest(*STIMULUS_ROWS, ASSEMBLY_ROW), "in.csv")
    again = parse_manifest_csv(render_manifest_csv(entries), "again.csv")
    assert [e.manifest_row() for e in again] == [e.manifest_row() for e in entries]
    from_json = parse_input(render_manifest_json(entries), "again.json")
    assert [e.manifest_row() for e in from_json] == [e.manifest_row() for e in entries]


# -- BrainIO lite's key rules, as scan-plugins applies them -------------------------------------


def test_plugin_calls_get_brainio_lites_keys_and_folder_rules() -> None:
    source = textwrap.dedent(f'''
        import functools
        BUCKET = "brainio-brainscore/vision/sub/"
        stimulus_set_registry["X"] = lambda: load_stimulus_set_from_s3(
            identifier="lab.X2024", bucket=BUCKET, csv_sha1="{SHA1}", zip_sha1="{OTHER_SHA1}",
            csv_version_id="c1", zip_version_id="null")
        stimulus_set_registry["Y"] = lambda: load_stimulus_set_from_s3(
            "lab.Y2024", "plain-bucket", "{SHA1}", "{SHA1}", "null", "null", "image_")
        data_registry["X.it"] = functools.partial(load_assembly_from_s3, "lab.X2024.it", "v7", "{SHA1}", BUCKET,
            NeuronRecordingAssembly, stimulus_set_loader=lambda: stimulus_set_registry["X"]())
        ''')
    scan = scan_source(source, "data/x/__init__.py")
    assert scan.unresolved == []
    assert [(e.identifier, e.role, e.bucket, e.key, e.version_id) for e in scan.entries] == [
        ("lab.X2024", "csv", "brainio-brainscore", "vision/sub/stimulus_lab_X2024.csv", "c1"),
        ("lab.X2024", "zip", "brainio-brainscore", "vision/sub/stimulus_lab_X2024.zip", None),
        ("lab.Y2024", "csv", "plain-bucket", "image_lab_Y2024.csv", None),
        ("lab.Y2024", "zip", "plain-bucket", "image_lab_Y2024.zip", None),
        ("lab.X2024.it", "nc", "brainio-brainscore", "vision/sub/assy_lab_X2024_it.nc", "v7"),
    ]
    assert scan.entries[-1].stimulus_set_identifier == "lab.X2024"
    assert scan.entries[-1].origin == "data/x/__init__.py:9"


def test_plugin_calls_that_cannot_be_resolved_are_listed_with_file_and_line() -> None:
    source = textwrap.dedent(f'''
        data_registry["A"] = lambda: load_assembly_from_s3(
            identifier=make_name(), version_id="null", sha1="{SHA1}", bucket="b", cls=DataAssembly)
        data_registry["B"] = lambda: load_assembly_from_s3(
            identifier="lab.B2024", version_id="null", sha1="{SHA1}", bucket="/folder", cls=DataAssembly)
        data_registry["C"] = lambda: load_assembly_from_s3(
            identifier="lab.C2024", version_id="null", sha1="{SHA1}", bucket="b", cls=DataAssembly,
            stimulus_set_loader=lambda: stimulus_set_registry["nowhere"]())
        def broken(:
        ''')
    scan = scan_source(source, "x.py")
    assert scan.entries == []
    assert [(u.line, u.reason.split(":")[0]) for u in scan.unresolved] == [(9, "not valid Python")]
    scan = scan_source(source.replace("def broken(:\n", ""), "x.py")
    found = {u.line: u.reason for u in scan.unresolved}
    assert set(found) == {2, 4, 6}
    assert "argument identifier is make_name()" in found[2]
    assert "bucket" in found[4]
    assert "registers no stimulus set of that key" in found[6]


# -- plan decisions ----------------------------------------------------------------------------


def entry(identifier: str, role: str, sha1: str = SHA1, stimulus_set: str = "", cls: str | None = None,
          problem: str = "") -> Entry:
    kind = "assembly" if role == "nc" else "stimulus_set"
    default_class = {"nc": "NeuronRecordingAssembly", "csv": "StimulusSet", "zip": ""}[role]
    return Entry(identifier, kind, role, default_class if cls is None else cls, "bucket", f"{identifier}.{role}",
                 None, sha1, stimulus_set, origin=f"in.csv:{identifier}", problem=problem)


def row(identifier: str, role: str, sha1: str = SHA1) -> dict[str, str]:
    lookup_type = "assembly" if role == "nc" else "stimulus_set"
    cls = {"nc": "NeuronRecordingAssembly", "csv": "StimulusSet", "zip": ""}[role]
    return {"identifier": identifier, "lookup_type": lookup_type, "class": cls, "sha1": sha1,
            "location_type": "dvc", "location": f"registry/lab/{identifier}.{role}", "catalog": "lab"}


def decide(entries: list[Entry], existing: list[dict[str, str]] = (), new_version: bool = False):
    todo, decided = plan(entries, list(existing), ASSEMBLY_CLASSES, STIMULUS_CLASSES, new_version)
    return {(e.identifier, e.role) for e in todo}, {key: (o.status, o.reason) for key, o in decided.items()}


def test_plan_migrates_a_complete_stimulus_set_and_its_assembly() -> None:
    todo, decided = decide([entry("lab.X2024", "csv"), entry("lab.X2024", "zip"),
                            entry("lab.X2024.it", "nc", stimulus_set="lab.X2024")])
    assert todo == {("lab.X2024", "csv"), ("lab.X2024", "zip"), ("lab.X2024.it", "nc")} and decided == {}


def test_plan_skips_what_the_branch_has_with_the_same_sha1_and_refuses_other_content() -> None:
    existing = [row("lab.X2024", "csv"), row("lab.X2024", "zip"), row("lab.X2024.it", "nc", OTHER_SHA1)]
    entries = [entry("lab.X2024", "csv"), entry("lab.X2024", "zip"),
               entry("lab.X2024.it", "nc", stimulus_set="lab.X2024")]
    todo, decided = decide(entries, existing)
    assert todo == set()
    assert decided[("lab.X2024", "csv")] == ("skipped", "")
    assert decided[("lab.X2024.it", "nc")] == ("failed", "conflict")
    todo, decided = decide(entries, existing, new_version=True)
    assert todo == {("lab.X2024.it", "nc")}  # its stimulus set is skipped, so it is there


def test_plan_fails_entries_with_their_reasons() -> None:
    entries = [
        entry("lab.X2024", "csv"), entry("lab.X2024", "zip"),
        entry("lab.Bad2024", "nc", stimulus_set="lab.X2024", problem="invalid entry: no bucket"),
        entry("lab.Odd2024", "nc", stimulus_set="lab.X2024", cls="OddAssembly"),
        entry("lab.Orphan2024", "nc", stimulus_set="lab.Nowhere2024"),
        entry("lab.Unnamed2024", "nc"),
        entry("lab.Half2024", "csv"),  # no ZIP
        entry("lab.OddSet2024", "csv", cls="Frame"), entry("lab.OddSet2024", "zip"),
        entry("lab.OnHalf2024", "nc", stimulus_set="lab.Half2024"),
        entry("lab.Twice2024", "nc", stimulus_set="lab.X2024"),
        entry("lab.Twice2024", "nc", sha1=OTHER_SHA1, stimulus_set="lab.X2024"),
        entry("bad/name", "nc", stimulus_set="lab.X2024"),
    ]
    todo, decided = decide(entries)
    assert todo == {("lab.X2024", "csv"), ("lab.X2024", "zip")}
    assert decided == {
        ("lab.Bad2024", "nc"): ("failed", "invalid entry"),
        ("lab.Odd2024", "nc"): ("failed", "unknown class"),
        ("lab.Orphan2024", "nc"): ("failed", "no stimulus set"),
        ("lab.Unnamed2024", "nc"): ("failed", "no stimulus set"),
        ("lab.Half2024", "csv"): ("failed", "incomplete stimulus set"),
        ("lab.OddSet2024", "csv"): ("failed", "unknown class"),
        ("lab.OddSet2024", "zip"): ("failed", "incomplete stimulus set"),
        ("lab.OnHalf2024", "nc"): ("failed", "no stimulus set"),
        ("lab.Twice2024", "nc"): ("failed", "duplicate entry"),
        ("bad/name", "nc"): ("failed", "invalid entry"),
    }


def test_an_identical_entry_listed_twice_is_one_entry() -> None:
    todo, decided = decide([entry("lab.X2024", "csv"), entry("lab.X2024", "zip"), entry("lab.X2024", "zip")])
    assert todo == {("lab.X2024", "csv"), ("lab.X2024", "zip")} and decided == {}


def test_an_assembly_may_name_a_stimulus_set_the_registry_already_has() -> None:
    todo, decided = decide([entry("lab.X2024.it", "nc", stimulus_set="lab.X2024")],
                           [row("lab.X2024", "csv"), row("lab.X2024", "zip")])
    assert todo == {("lab.X2024.it", "nc")} and decided == {}


def test_the_review_branch_is_named_after_the_input() -> None:
    assert migration_branch("/data/brainscore.csv") == "migrate/brainscore"
    assert migration_branch("lookup.json") == "migrate/lookup"
    assert migration_branch("we ird$.csv") == "migrate/input"


def test_a_copys_dvc_file_is_what_dvc_add_writes_plus_the_meta_block() -> None:
    from brainio_dvc.formats.dvcmeta import parse_dvc_file

    meta = {"identifier": "lab.X2024.it", "lookup_type": "assembly", "class": "NeuronRecordingAssembly",
            "sha1": SHA1, "stimulus_set_identifier": "lab.X2024", "catalog": "lab"}
    md5 = "0f343b0931126a20f133d67c2b018a3b"
    text = tracked_dvc_text("lab.X2024.it.nc", md5, 12, meta,
                            {"source": "s3://b/k?versionId=v", "bibtex": "@misc{x,\n  title={X}}"})
    assert text.startswith(f"outs:\n- md5: {md5}\n  size: 12\n  hash: md5\n"
                           "  path: lab.X2024.it.nc\nmeta:\n  identifier: lab.X2024.it\n")
    found = parse_dvc_file(text, "registry/lab/assemblies/lab.X2024.it/lab.X2024.it.nc.dvc")
    assert (found["md5"], found["size"], found["location_type"], found["sha1"]) == (md5, 12, "dvc", SHA1)
