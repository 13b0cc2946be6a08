"""Deterministic stimulus ZIP and CSV writing; safe, atomic, concurrent ZIP extraction."""

from __future__ import annotations

import multiprocessing
import os
import stat
import struct
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from brainio_dvc.exceptions import BrainioDvcError, UnsafeArchiveError, ValidationError
from brainio_dvc.formats import zip_extraction
from brainio_dvc.formats.archives import create_stimulus_csv, create_stimulus_zip, stimulus_zip_member_names
from brainio_dvc.formats.hashes import sha1_hash
from brainio_dvc.formats.zip_extraction import check_zip, extract_zip
from brainio_dvc.stimuli import StimulusSet


def write_image(path: Path, value: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((6, 6, 3), value, dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def proto(tmp_path: Path) -> StimulusSet:
    ids = ["img3", "img1", "img2"]
    files = ["c.png", "a.jpg", "b.PNG"]
    paths = {
        i: write_image(tmp_path / "raw" / f, n * 40)
        for n, (i, f) in enumerate(zip(ids, files, strict=True))
    }
    return StimulusSet(
        {"stimulus_id": ids, "object": ["car", "dog", "cat"], "rating": [0.5, 1.25, 2.0]},
        stimulus_paths=paths,
    )


def leftovers(directory: Path) -> list[str]:
    """Temporary files or directories that a write or an extraction left behind."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def build_zip(path: Path, entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for info, data in entries:
            archive.writestr(info, data)
    return path


# --- writing the ZIP ------------------------------------------------------------------------


def test_zip_members_follow_row_order_with_extensions(proto: StimulusSet, tmp_path: Path) -> None:
    sha1, names = create_stimulus_zip(proto, tmp_path / "out" / "stimuli.zip")
    assert names == ["img3.png", "img1.jpg", "img2.PNG"]
    assert sha1 == sha1_hash(tmp_path / "out" / "stimuli.zip")
    with zipfile.ZipFile(tmp_path / "out" / "stimuli.zip") as archive:
        assert archive.namelist() == names
        for info in archive.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.compress_type == zipfile.ZIP_STORED
            assert stat.S_IMODE(info.external_attr >> 16) == 0o644
        assert archive.read("img1.jpg") == proto.get_stimulus("img1").read_bytes()
    assert leftovers(tmp_path / "out") == []


def test_zip_is_deterministic(proto: StimulusSet, tmp_path: Path) -> None:
    first, _ = create_stimulus_zip(proto, tmp_path / "first.zip")
    for path in proto.stimulus_paths.values():  # new mtimes must not matter
        os.utime(path, (1_700_000_000, 1_700_000_000))
    second, _ = create_stimulus_zip(proto, tmp_path / "second.zip")
    assert first == second
    assert (tmp_path / "first.zip").read_bytes() == (tmp_path / "second.zip").read_bytes()


def test_zip_overwrites_atomically_and_keeps_umask_permissions(
    proto: StimulusSet, tmp_path: Path
) -> None:
    target = tmp_path / "stimuli.zip"
    target.write_bytes(b"old")
    create_stimulus_zip(proto, target)
    assert zipfile.is_zipfile(target)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_the_csv_leaves_out_the_packaging_columns_as_brainio_does(proto: StimulusSet, tmp_path: Path) -> None:
    proto["stimulus_path_within_store"] = ["cars/one", "dogs/two", "cats/three"]
    proto["stimulus_current_local_file_path"] = ["/a", "/b", "/c"]
    _, names = create_stimulus_zip(proto, tmp_path / "s.zip")
    create_stimulus_csv(proto, tmp_path / "s.csv", zip_filenames=names)
    columns = (tmp_path / "s.csv").read_text().splitlines()[0].split(",")
    assert "stimulus_path_within_store" not in columns and "stimulus_current_local_file_path" not in columns
    assert columns[-1] == "filename" and "stimulus_id" in columns


def test_stimulus_path_within_store_names_the_members(proto: StimulusSet, tmp_path: Path) -> None:
    proto["stimulus_path_within_store"] = ["cars/one", "dogs/two", "cats/three"]
    _, names = create_stimulus_zip(proto, tmp_path / "s.zip")
    assert names == ["cars/one.png", "dogs/two.jpg", "cats/three.PNG"]
    with zipfile.ZipFile(tmp_path / "s.zip") as archive:
        assert archive.namelist() == names


def test_zip_refuses_an_escaping_path_within_store(proto: StimulusSet, tmp_path: Path) -> None:
    proto["stimulus_path_within_store"] = ["ok", "../escape", "fine"]
    with pytest.raises(UnsafeArchiveError, match=r"\.\./escape"):
        create_stimulus_zip(proto, tmp_path / "s.zip")
    assert not (tmp_path / "s.zip").exists()


def test_zip_refuses_repeated_member_names(proto: StimulusSet, tmp_path: Path) -> None:
    proto["stimulus_path_within_store"] = ["same", "other", "same"]
    proto.stimulus_paths["img2"] = proto.stimulus_paths["img3"]
    with pytest.raises(ValidationError, match="'same.png'"):
        stimulus_zip_member_names(proto)


def test_zip_of_a_missing_file_leaves_nothing(proto: StimulusSet, tmp_path: Path) -> None:
    proto.stimulus_paths["img2"] = tmp_path / "raw" / "gone.png"
    out = tmp_path / "out"
    with pytest.raises(FileNotFoundError):
        create_stimulus_zip(proto, out / "s.zip")
    assert list(out.iterdir()) == []


def test_zip_works_with_a_plain_stimulus_paths_object(tmp_path: Path) -> None:
    class Proto:
        columns = ["stimulus_id"]
        stimulus_paths = {"x1": write_image(tmp_path / "x.bmp", 1)}

        def __getitem__(self, key):
            import pandas as pd

            return pd.Series(["x1"])

    _, names = create_stimulus_zip(Proto(), tmp_path / "p.zip")
    assert names == ["x1.bmp"]


# --- writing the CSV ------------------------------------------------------------------------


def test_csv_is_deterministic_and_sets_filename(proto: StimulusSet, tmp_path: Path) -> None:
    _, names = create_stimulus_zip(proto, tmp_path / "s.zip")
    before = proto.copy()
    first = create_stimulus_csv(proto, tmp_path / "a.csv", zip_filenames=names)
    second = create_stimulus_csv(proto, tmp_path / "b.csv", zip_filenames=names)
    assert first == second == sha1_hash(tmp_path / "a.csv")
    text = (tmp_path / "a.csv").read_bytes()
    assert b"\r\n" not in text
    assert text.splitlines()[0] == b"stimulus_id,object,rating,filename"
    assert text.splitlines()[1] == b"img3,car,0.5,img3.png"
    assert list(proto.columns) == list(before.columns)  # the input is not modified


def test_csv_replaces_an_existing_filename_column(proto: StimulusSet, tmp_path: Path) -> None:
    proto["filename"] = ["c.png", "a.jpg", "b.PNG"]
    create_stimulus_csv(proto, tmp_path / "s.csv", zip_filenames=["1.png", "2.jpg", "3.PNG"])
    lines = (tmp_path / "s.csv").read_text().splitlines()
    assert lines[0] == "stimulus_id,object,rating,filename"
    assert lines[3].endswith(",3.PNG")


def test_csv_refuses_a_wrong_number_of_filenames(proto: StimulusSet, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="one zip filename per stimulus"):
        create_stimulus_csv(proto, tmp_path / "s.csv", zip_filenames=["1.png"])
    assert not (tmp_path / "s.csv").exists()


def test_package_extract_load_round_trip(proto: StimulusSet, tmp_path: Path) -> None:
    proto["stimulus_path_within_store"] = ["sub/one", "sub/two", "three"]
    _, names = create_stimulus_zip(proto, tmp_path / "pkg" / "s.zip")
    create_stimulus_csv(proto, tmp_path / "pkg" / "s.csv", zip_filenames=names)
    directory = extract_zip(tmp_path / "pkg" / "s.zip", tmp_path / "data" / "s")
    loaded = StimulusSet.from_files(tmp_path / "pkg" / "s.csv", directory)
    for stimulus_id in proto["stimulus_id"]:
        assert loaded.get_stimulus(stimulus_id).read_bytes() == (
            proto.get_stimulus(stimulus_id).read_bytes()
        )
    assert loaded["object"].tolist() == ["car", "dog", "cat"]


# --- extraction -----------------------------------------------------------------------------


def test_extract_round_trip(tmp_path: Path) -> None:
    zip_path = build_zip(tmp_path / "a.zip", [("x/1.png", b"one"), ("2.png", b"two"), ("d/", b"")])
    target = extract_zip(zip_path, tmp_path / "cache" / "a")
    assert target == tmp_path / "cache" / "a"
    assert (target / "x" / "1.png").read_bytes() == b"one"
    assert (target / "2.png").read_bytes() == b"two"
    assert (target / "d").is_dir()
    assert leftovers(tmp_path / "cache") == []


def test_extract_returns_a_complete_directory_untouched(tmp_path: Path) -> None:
    zip_path = build_zip(tmp_path / "a.zip", [("1.png", b"one")])
    target = extract_zip(zip_path, tmp_path / "a")
    (target / "1.png").write_bytes(b"changed")
    zip_path.unlink()  # not even opened the second time
    assert extract_zip(zip_path, target) == target
    assert (target / "1.png").read_bytes() == b"changed"


def test_extract_fills_an_empty_target_directory(tmp_path: Path) -> None:
    zip_path = build_zip(tmp_path / "a.zip", [("1.png", b"one")])
    (tmp_path / "a").mkdir()
    extract_zip(zip_path, tmp_path / "a")
    assert (tmp_path / "a" / "1.png").read_bytes() == b"one"


def _symlink_entry() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("link")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


UNSAFE_ENTRIES = {
    "parent": ("../evil", "'..'"),
    "nested parent": ("ok/../../evil", "'..'"),
    "absolute": ("/etc/evil", "absolute"),
    "drive letter": ("C:/evil", "drive letter"),
    "backslash parent": ("..\\evil", "backslash"),
    "symlink": (_symlink_entry(), "symbolic link"),
}


@pytest.mark.parametrize(("entry", "reason"), UNSAFE_ENTRIES.values(), ids=UNSAFE_ENTRIES.keys())
def test_extract_refuses_unsafe_entries(tmp_path: Path, entry, reason: str) -> None:
    zip_path = build_zip(tmp_path / "evil.zip", [("fine.png", b"1"), (entry, b"/etc/passwd")])
    target = tmp_path / "cache" / "evil"
    with pytest.raises(UnsafeArchiveError) as caught:
        extract_zip(zip_path, target)
    message = str(caught.value)
    assert str(zip_path) in message
    assert reason in message
    name = entry.filename if isinstance(entry, zipfile.ZipInfo) else entry
    assert repr(name) in message
    assert not target.exists()
    assert leftovers(tmp_path / "cache") == []
    assert not (tmp_path / "evil").exists()


@pytest.mark.parametrize("directory_entry", ["a/b", "a/"])
def test_extract_refuses_a_file_that_is_also_a_directory(
    tmp_path: Path, directory_entry: str
) -> None:
    zip_path = build_zip(tmp_path / "clash.zip", [("a", b"file"), (directory_entry, b"")])
    with pytest.raises(ValidationError, match="also directories"):
        extract_zip(zip_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_extract_of_a_corrupt_zip_leaves_nothing(tmp_path: Path) -> None:
    good = build_zip(tmp_path / "good.zip", [("1.png", b"x" * 1000)])
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(good.read_bytes()[:-30])
    with pytest.raises(ValidationError, match="readable ZIP") as caught:
        extract_zip(corrupt, tmp_path / "out")
    assert str(corrupt) in str(caught.value)
    assert not (tmp_path / "out").exists()
    assert leftovers(tmp_path) == []


def _stored_zip(tmp_path: Path) -> tuple[Path, bytes]:
    """A ZIP of stored entries, small and larger than one read, and its bytes."""
    entries = [("a/1.png", b"one" * 100), ("2.png", os.urandom(3 << 20)), ("3.png", b"")]
    zip_path = build_zip(tmp_path / "stored.zip", entries)
    return zip_path, zip_path.read_bytes()


def test_stored_entries_are_extracted_byte_for_byte(tmp_path: Path) -> None:
    zip_path, _ = _stored_zip(tmp_path)
    target = extract_zip(zip_path, tmp_path / "out")
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            assert (target / info.filename).read_bytes() == archive.read(info)


@pytest.mark.parametrize("damage", ["data", "local name", "local signature"])
def test_a_damaged_stored_entry_fails_the_extraction(tmp_path: Path, damage: str) -> None:
    zip_path, data = _stored_zip(tmp_path)
    with zipfile.ZipFile(zip_path) as archive:
        info = archive.getinfo("a/1.png")
    position = {"data": data.index(b"oneone"), "local name": info.header_offset + 30,
                "local signature": info.header_offset}[damage]
    damaged = bytearray(data)
    damaged[position] ^= 0xFF
    zip_path.write_bytes(bytes(damaged))
    with pytest.raises(ValidationError, match="readable ZIP"):
        extract_zip(zip_path, tmp_path / "out")
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def _many_stored_entries(tmp_path: Path) -> Path:
    """Stored entries of many sizes, with ASCII, UTF-8 and cp437 names (written in that order)."""
    rng = np.random.default_rng(7)
    entries: list[tuple[zipfile.ZipInfo | str, bytes]] = [
        (f"set/{number}.png", rng.bytes(int(rng.integers(0, 300)))) for number in range(40)
    ]
    entries.append(("été/ü.png", b"utf-8 name"))  # zipfile sets the UTF-8 flag for it
    entries.append(("cafX.png", b"cp437 name"))  # made "café.png" in cp437 below, as old Windows tools wrote it
    path = build_zip(tmp_path / "many.zip", entries)
    path.write_bytes(path.read_bytes().replace(b"cafX.png", b"caf\x82.png"))  # the local and central names
    return path


@pytest.mark.parametrize("window", [64, 1 << 20])
def test_stored_entries_read_a_window_at_a_time_are_extracted_byte_for_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, window: int
) -> None:
    """Windows smaller than most entries (each read again where it is cut) and one window for all."""
    monkeypatch.setattr(zip_extraction, "_WINDOW_BYTES", window)
    zip_path = _many_stored_entries(tmp_path)
    target = extract_zip(zip_path, tmp_path / "out")
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            assert (target / info.filename).read_bytes() == archive.read(info), info.filename
        assert check_zip(zip_path) == archive.namelist()


def test_stored_entries_are_read_with_one_system_call_per_window_none_through_zipfile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every entry, whatever its name's encoding, is checked from the window: none falls back
    to ``ZipFile.open``, which would check it too, only slower."""
    reads: list[int] = []
    opened: list[str] = []
    real_pread, real_open = os.pread, zipfile.ZipFile.open

    def counted_pread(descriptor: int, length: int, offset: int) -> bytes:
        reads.append(offset)
        return real_pread(descriptor, length, offset)

    def counted_open(archive: zipfile.ZipFile, name: object, *arguments: object, **options: object) -> object:
        opened.append(getattr(name, "filename", name))
        return real_open(archive, name, *arguments, **options)

    zip_path = _many_stored_entries(tmp_path)
    monkeypatch.setattr(zip_extraction.os, "pread", counted_pread)
    monkeypatch.setattr(zipfile.ZipFile, "open", counted_open)
    check_zip(zip_path)
    assert len(reads) == 1 and opened == [], (reads, opened)


def test_a_damaged_entry_read_a_window_at_a_time_fails_the_check_wherever_the_windows_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each entry in turn has its first byte damaged: some lie whole in a window, some are cut."""
    monkeypatch.setattr(zip_extraction, "_WINDOW_BYTES", 256)
    zip_path = _many_stored_entries(tmp_path)
    original = zip_path.read_bytes()
    with zipfile.ZipFile(zip_path) as archive:
        infos = [info for info in archive.infolist() if info.file_size]
    for info in infos:
        damaged = bytearray(original)
        name_length, extra_length = struct.unpack_from("<2H", original, info.header_offset + 26)
        damaged[info.header_offset + 30 + name_length + extra_length] ^= 0xFF
        zip_path.write_bytes(bytes(damaged))
        with pytest.raises(ValidationError, match="readable ZIP") as raised:
            check_zip(zip_path)
        assert repr(info.filename) in str(raised.value), (info.filename, str(raised.value))


def _extract_after_barrier(barrier, zip_path: str, target: str, results) -> None:
    barrier.wait()
    results.put(str(extract_zip(zip_path, target)))


def test_concurrent_extractions_both_succeed(tmp_path: Path) -> None:
    entries = [(f"d{i % 7}/{i}.png", os.urandom(2000)) for i in range(300)]
    zip_path = build_zip(tmp_path / "big.zip", entries)
    target = tmp_path / "cache" / "big"
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    barrier, results = context.Barrier(2), context.Queue()
    arguments = (barrier, str(zip_path), str(target), results)
    workers = [context.Process(target=_extract_after_barrier, args=arguments) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0, 0]
    assert [results.get(timeout=5) for _ in workers] == [str(target)] * 2
    for name, data in entries:
        assert (target / name).read_bytes() == data
    assert leftovers(tmp_path / "cache") == []


# --- fuzzing --------------------------------------------------------------------------------


def _valid_zip_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as scratch:
        path = build_zip(Path(scratch) / "v.zip", [("a/1.png", b"one" * 20), ("2.png", b"two")])
        with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("3.txt", b"three" * 50)
        return path.read_bytes()


_VALID_ZIP = _valid_zip_bytes()


@st.composite
def damaged_zips(draw: st.DrawFn) -> bytes:
    """A valid ZIP with some bytes overwritten, then possibly truncated."""
    content = bytearray(_VALID_ZIP)
    for _ in range(draw(st.integers(1, 4))):
        content[draw(st.integers(0, len(content) - 1))] = draw(st.integers(0, 255))
    return bytes(content[: draw(st.integers(0, len(content)))])


@settings(max_examples=100, deadline=None)
@given(content=st.one_of(st.binary(max_size=400), damaged_zips()))
def test_random_bytes_raise_only_brainio_errors(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        zip_path = Path(scratch) / "fuzz.zip"
        zip_path.write_bytes(content)
        try:
            extract_zip(zip_path, Path(scratch) / "out")
        except BrainioDvcError:
            assert not (Path(scratch) / "out").exists()
        assert [p.name for p in Path(scratch).iterdir() if p.name.startswith(".")] == []


_NAME = st.text(alphabet=st.sampled_from("ab./\\:C\x00"), min_size=0, max_size=10)


@pytest.mark.filterwarnings("ignore:Duplicate name")
@settings(max_examples=100, deadline=None)
@given(names=st.lists(_NAME, min_size=1, max_size=4))
def test_random_member_names_stay_inside_or_are_refused(names: list[str]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        zip_path = root / "fuzz.zip"
        with zipfile.ZipFile(zip_path, "w") as archive:
            for name in names:
                archive.writestr(zipfile.ZipInfo(name or "x"), b"data")
        target = root / "box" / "out"
        try:
            extract_zip(zip_path, target)
        except BrainioDvcError:
            assert not target.exists()
        else:
            for info in zipfile.ZipFile(zip_path).infolist():  # names end at a NUL
                parts = [part for part in info.filename.split("/") if part not in ("", ".")]
                assert target.joinpath(*parts).exists()
        escaped = [p for p in root.rglob("*") if not p.is_relative_to(root / "box")]
        assert [p.name for p in escaped] == ["fuzz.zip"]


def test_missing_files_compares_names_as_extraction_lays_them_out() -> None:
    from brainio_dvc.contribute.completeness import missing_files

    members = ["a.png", "./b.png", "dir/", "dir//c.png"]
    assert missing_files(iter(["a.png", "b.png", "dir/c.png"]), members) == []
    assert missing_files(["a.png", "x.png", "x.png", "dir"], iter(members)) == ["x.png", "dir"]
    assert missing_files((name for name in ["a.png"]), ["a.png"]) == []


def test_check_zip_reads_every_entry_and_writes_nothing(tmp_path: Path) -> None:
    from brainio_dvc.formats.zip_extraction import check_zip

    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as writer:
        writer.writestr("a.png", b"\x89PNG" * 10)
        writer.writestr("d/b.txt", b"text " * 1000, compress_type=zipfile.ZIP_DEFLATED)
    assert check_zip(archive) == ["a.png", "d/b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip"]
    data = bytearray(archive.read_bytes())
    at = data.index(b"\x89PNG")
    data[at] ^= 0xFF  # the central directory still holds the old CRC-32
    archive.write_bytes(bytes(data))
    with pytest.raises(ValidationError, match="a readable ZIP archive"):
        check_zip(archive)
