"""Settings: set() over environment over config file over default, resolved at every call."""

from __future__ import annotations

from pathlib import Path

import pytest

from brainio_dvc import config
from brainio_dvc.exceptions import ConfigurationError


@pytest.fixture
def config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "settings" / "brainio.toml"
    path.parent.mkdir()
    monkeypatch.setenv("BRAINIO_DVC_CONFIG", str(path))
    return path


# --- where the config file is ---------------------------------------------------------------


def test_config_file_defaults_to_xdg_config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config.config_file() == tmp_path / "xdg" / "brainio-dvc" / "config.toml"


def test_config_file_falls_back_to_home_dot_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config.config_file() == tmp_path / ".config" / "brainio-dvc" / "config.toml"


def test_brainio_dvc_config_names_the_file(config_path: Path) -> None:
    assert config.config_file() == config_path
    config_path.write_text('rev = "from-explicit-file"\n', encoding="utf-8")
    assert config.rev() == "from-explicit-file"


def test_brainio_dvc_config_expands_the_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("BRAINIO_DVC_CONFIG", "~/my.toml")
    assert config.config_file() == tmp_path / "my.toml"


def test_the_default_location_is_read_when_no_variable_is_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "brainio-dvc").mkdir()
    (tmp_path / "brainio-dvc" / "config.toml").write_text("jobs = 3\n", encoding="utf-8")
    assert config.jobs() == 3


# --- defaults -------------------------------------------------------------------------------


def test_defaults_without_environment_or_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("BRAINIO_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config.home() == tmp_path / ".brainio"
    assert config.registries() == []
    assert config.rev() is None
    assert config.fetch_interval() == 300.0
    assert config.jobs() == 0


def test_an_empty_environment_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch, config_path: Path) -> None:
    config_path.write_text('rev = "file-rev"\n', encoding="utf-8")
    monkeypatch.setenv("BRAINIO_DVC_REV", "")
    assert config.rev() == "file-rev"


# --- precedence: set() > environment > file > default ---------------------------------------

_CASES = [
    # setting, variable, file TOML value, environment value, set() value, reader, expected x3
    ("home", "BRAINIO_HOME", '"/from/file"', "/from/env", "/from/set", config.home,
     (Path("/from/file"), Path("/from/env"), Path("/from/set"))),
    ("registries", "BRAINIO_DVC_REGISTRIES", '["file-a", "file-b"]', "env-a, ,env-b,", ["set-a"],
     config.registries, (["file-a", "file-b"], ["env-a", "env-b"], ["set-a"])),
    ("rev", "BRAINIO_DVC_REV", '"file-rev"', "env-rev", "set-rev", config.rev,
     ("file-rev", "env-rev", "set-rev")),
    ("fetch_interval", "BRAINIO_DVC_FETCH_INTERVAL", "12.5", "7", 0, config.fetch_interval,
     (12.5, 7.0, 0.0)),
    ("jobs", "BRAINIO_DVC_JOBS", "4", "2", 8, config.jobs, (4, 2, 8)),
]


@pytest.mark.parametrize(
    "setting, variable, file_value, env_value, set_value, read, expected",
    _CASES,
    ids=[case[0] for case in _CASES],
)
def test_precedence(
    monkeypatch: pytest.MonkeyPatch,
    config_path: Path,
    setting: str,
    variable: str,
    file_value: str,
    env_value: str,
    set_value: object,
    read: object,
    expected: tuple[object, object, object],
) -> None:
    monkeypatch.delenv(variable, raising=False)
    config_path.write_text(f"{setting} = {file_value}\n", encoding="utf-8")
    assert read() == expected[0]
    monkeypatch.setenv(variable, env_value)
    assert read() == expected[1]
    with config.set(**{setting: set_value}):
        assert read() == expected[2]
    assert read() == expected[1]


def test_nested_set_blocks_restore_the_outer_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRAINIO_DVC_REV", "env")
    with config.set(rev="outer"):
        with config.set(rev="inner", jobs=5):
            assert (config.rev(), config.jobs()) == ("inner", 5)
        assert (config.rev(), config.jobs()) == ("outer", 0)
    assert config.rev() == "env"


def test_nested_set_blocks_with_equal_overrides_restore_each_level() -> None:
    # set(rev="a") / set(rev="b") / set(rev="a"): leaving the inner "a" must restore "b".
    with config.set(rev="a"):
        with config.set(rev="b"):
            with config.set(rev="a"):
                assert config.rev() == "a"
            assert config.rev() == "b"
        assert config.rev() == "a"
    assert config.rev() is None


def test_set_in_a_thread_started_by_parallel_stays_in_that_thread() -> None:
    from brainio_dvc.parallel import Background, side_by_side

    def inside(value: str) -> tuple[str | None, str | None]:
        before = config.rev()
        with config.set(rev=value):
            return before, config.rev()

    with config.set(rev="caller"):
        # each thread starts with the caller's overrides, and its own set() is its own
        assert side_by_side([lambda: inside("one"), lambda: inside("two")]) == [("caller", "one"), ("caller", "two")]
        assert Background(lambda: inside("three")).result() == ("caller", "three")
        assert config.rev() == "caller"
    assert config.rev() is None


def test_set_in_one_thread_is_not_seen_by_another() -> None:
    import threading

    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        with config.set(rev="elsewhere"):
            entered.set()
            release.wait()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        entered.wait()
        assert config.rev() is None
    finally:
        release.set()
        thread.join()


def test_set_restores_after_an_exception() -> None:
    with pytest.raises(RuntimeError), config.set(rev="temporary"):
        raise RuntimeError
    assert config.rev() is None


def test_set_refuses_unknown_settings() -> None:
    with pytest.raises(TypeError, match=r"unknown settings \['colour'\]"), config.set(colour="red"):
        pass


def test_registries_from_a_comma_string_in_the_file(config_path: Path) -> None:
    config_path.write_text('registries = " /a ,git@host:b.git,, "\n', encoding="utf-8")
    assert config.registries() == ["/a", "git@host:b.git"]


def test_home_expands_the_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("BRAINIO_HOME", "~/data")
    assert config.home() == tmp_path / "data"


def test_settings_are_read_at_call_time(monkeypatch: pytest.MonkeyPatch, config_path: Path) -> None:
    monkeypatch.setenv("BRAINIO_DVC_REV", "first")
    assert config.rev() == "first"
    monkeypatch.setenv("BRAINIO_DVC_REV", "second")
    assert config.rev() == "second"
    monkeypatch.delenv("BRAINIO_DVC_REV")
    config_path.write_text("fetch_interval = 1\n", encoding="utf-8")
    assert config.fetch_interval() == 1.0
    config_path.write_text("fetch_interval = 2\n", encoding="utf-8")
    assert config.fetch_interval() == 2.0


# --- errors name their source ---------------------------------------------------------------


@pytest.mark.parametrize("value", ["-1", "soon", "-0.5"])
@pytest.mark.parametrize(
    "variable, read", [("BRAINIO_DVC_FETCH_INTERVAL", config.fetch_interval), ("BRAINIO_DVC_JOBS", config.jobs)]
)
def test_a_bad_number_from_the_environment_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, read: object, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as caught:
        read()
    assert f"environment variable {variable}" in str(caught.value)
    assert repr(value) in str(caught.value)
    assert "at least 0" in str(caught.value)


def test_a_bad_number_from_the_file_names_the_file(config_path: Path) -> None:
    config_path.write_text("fetch_interval = -3\n", encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        config.fetch_interval()
    assert f"config file {config_path}" in str(caught.value)
    assert caught.value.setting == "fetch_interval"


def test_a_bad_number_from_set_names_set() -> None:
    with config.set(jobs=-2), pytest.raises(ConfigurationError, match=r"config\.set\(\)"):
        config.jobs()


def test_registries_of_the_wrong_type_name_the_file(config_path: Path) -> None:
    config_path.write_text("registries = 3\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="comma-separated string or a list") as caught:
        config.registries()
    assert str(config_path) in str(caught.value)


def test_invalid_toml_names_the_file_and_the_variable(config_path: Path) -> None:
    config_path.write_text("rev = [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        config.rev()
    message = str(caught.value)
    assert str(config_path) in message
    assert "valid TOML" in message
    assert "BRAINIO_DVC_CONFIG" in message


def test_the_environment_wins_without_reading_an_invalid_file(
    monkeypatch: pytest.MonkeyPatch, config_path: Path
) -> None:
    config_path.write_text("not toml at all ][\n", encoding="utf-8")
    monkeypatch.setenv("BRAINIO_DVC_REV", "env")
    assert config.rev() == "env"


def test_a_nan_fetch_interval_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRAINIO_DVC_FETCH_INTERVAL", "nan")
    with pytest.raises(ConfigurationError, match="BRAINIO_DVC_FETCH_INTERVAL"):
        config.fetch_interval()


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_a_non_finite_jobs_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("BRAINIO_DVC_JOBS", value)
    with pytest.raises(ConfigurationError, match="BRAINIO_DVC_JOBS"):
        config.jobs()
