"""The pure parts of pinning: the precedence of rules, the lock file's format, citations."""

from __future__ import annotations

from pathlib import Path

import pytest

from brainio_dvc.exceptions import LockFileError, PinError
from brainio_dvc.formats.lockfile import (
    LockedFile,
    LockEntry,
    LockFile,
    read_lock,
    render_lock,
    write_lock,
)
from brainio_dvc.store.pins import Import, RepositoryFacts, Settings, decide

COMMIT_A, COMMIT_B = "a" * 40, "b" * 40
NC = "registry/lab/assemblies/lab.X2024.it/lab.X2024.it.nc"


def assembly_entry(commit: str = COMMIT_A, rev: str | None = "v1") -> LockEntry:
    return LockEntry("assembly", "lab.X2024.it", "https://example.org/registry", commit,
                     (LockedFile(NC, "1" * 32, "2" * 40, 10),), rev=rev, stimulus_set="lab.X2024")


def stimulus_entry() -> LockEntry:
    base = "registry/lab/stimulus_sets/lab.X2024/lab.X2024"
    return LockEntry("stimulus_set", "lab.X2024", "/data/registry", COMMIT_A,
                     (LockedFile(base + ".csv", "3" * 32, "4" * 40, 5),
                      LockedFile(base + ".zip", "5" * 32, "6" * 40, 7)))


def imported(commit: str = COMMIT_B, url: str = "/data/registry", path: str = NC) -> Import:
    return Import(Path("/a/x.dvc"), "assembly", "lab.X2024.it", url, "v2", commit, path, Path("/a/x.nc"), "1" * 32)


def facts(lock: LockFile | None = None, imports: tuple[Import, ...] = ()) -> RepositoryFacts:
    return RepositoryFacts(root=Path("/a"), lock=lock, imports=imports)


def test_precedence_explicit_then_lock_then_import_then_config_then_default() -> None:
    lock = LockFile(Path("/a/brainio.lock"), {("assembly", "lab.X2024.it"): assembly_entry()})
    everything = facts(lock, (imported(),))
    configured = Settings(("/configured",), "v9")
    assert decide("assembly", "lab.X2024.it", "v3", None, everything, configured).rule == "explicit"
    by_lock = decide("assembly", "lab.X2024.it", None, None, everything, configured)
    assert (by_lock.rule, by_lock.rev, by_lock.registry, by_lock.requested) == (
        "lock", COMMIT_A, "https://example.org/registry", "v1")
    assert by_lock.expected == {NC: "1" * 32} and by_lock.source == "/a/brainio.lock"
    by_import = decide("assembly", "lab.X2024.it", None, None, facts(None, (imported(),)), configured)
    assert (by_import.rule, by_import.rev, by_import.registry) == ("import", COMMIT_B, "/data/registry")
    assert decide("assembly", "lab.X2024.it", None, None, facts(), configured).rule == "config"
    assert decide("assembly", "lab.X2024.it", None, None, facts(), Settings()).rule == "default"
    # A pin is per kind: the lock's assembly does not pin a stimulus set of the same name.
    assert decide("stimulus_set", "lab.X2024.it", None, None, everything, Settings()).rule == "default"


def test_imports_of_one_identifier_at_two_commits_are_refused() -> None:
    with pytest.raises(PinError, match="different registries or commits"):
        decide(
            "assembly", "lab.X2024.it", None, None, facts(None, (imported(COMMIT_A), imported(COMMIT_B))), Settings()
        )


def test_the_lock_file_round_trips_in_canonical_form(tmp_path: Path) -> None:
    lock = LockFile(tmp_path / "brainio.lock", {entry.key: entry for entry in (stimulus_entry(), assembly_entry())})
    write_lock(lock)
    text = (tmp_path / "brainio.lock").read_text()
    assert read_lock(tmp_path / "brainio.lock") == lock
    assert render_lock(read_lock(tmp_path / "brainio.lock")) == text
    assert text.index("[assemblies.") < text.index("[stimulus_sets.")
    assert 'csv = { path = "registry/lab/stimulus_sets/lab.X2024/lab.X2024.csv"' in text


@pytest.mark.parametrize(("edit", "line", "problem"), [
    (lambda text: text.replace('commit = "' + "a" * 40, 'commit = "' + "a" * 39 + "g", 1), 8, "commit"),
    (lambda text: text.replace("version = 1", "version = 2"), 3, "version is 2"),
    (lambda text: text.replace("size = 10", "size = -1"), 13, "size -1"),
    (lambda text: text + "\n[extras]\nx = 1\n", 21, "unknown key 'extras'"),
    (lambda text: text.replace('stimulus_set = "lab.X2024"\n', ""), 5, "has no stimulus_set"),
    (lambda text: text.replace('"3' + "3" * 31 + '"', '"nothex"'), 18, "md5 'nothex'"),
    (lambda text: text.replace("path = \"registry/lab/assemblies", "path = \"../../etc"), 10, "'..' component"),
    (lambda text: text.replace('[assemblies."lab.X2024.it"]', '[assemblies."../x"]'), 5, "identifier"),
    (lambda text: text.replace('registry = "https', 'registry = "https" "'), 6, "invalid TOML"),
])
def test_bad_lock_files_name_the_line(tmp_path: Path, edit, line: int, problem: str) -> None:
    path = tmp_path / "brainio.lock"
    write_lock(LockFile(path, {entry.key: entry for entry in (assembly_entry(), stimulus_entry())}))
    path.write_text(edit(path.read_text()))
    with pytest.raises(LockFileError) as raised:
        read_lock(path)
    assert raised.value.line == line, (str(raised.value), path.read_text())
    assert problem in str(raised.value) and str(path) in str(raised.value)
