"""Shared fixtures. Every test runs with HOME, BRAINIO_HOME, XDG and git/DVC config isolated."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_SETTINGS_VARIABLES = (
    "BRAINIO_HOME",
    "BRAINIO_DVC_REGISTRIES",
    "BRAINIO_DVC_REV",
    "BRAINIO_DVC_FETCH_INTERVAL",
    "BRAINIO_DVC_JOBS",
    "BRAINIO_DVC_CONFIG",
    "BRAINIO_CHUNKS",
)


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """A fresh HOME, data directory and git/DVC configuration for every test."""
    root = tmp_path_factory.mktemp("env")
    home = root / "home"
    home.mkdir()
    for variable in _SETTINGS_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("BRAINIO_HOME", str(root / "brainio-home"))
    gitconfig = home / ".gitconfig"
    gitconfig.write_text("[user]\n\tname = Test Scientist\n\temail = test@example.org\n"
                         "[init]\n\tdefaultBranch = main\n[protocol \"file\"]\n\tallow = always\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    monkeypatch.setenv("DVC_GLOBAL_CONFIG_DIR", str(home / ".config" / "dvc"))
    monkeypatch.setenv("DVC_SYSTEM_CONFIG_DIR", str(root / "dvc-system"))
    monkeypatch.setenv("DVC_SITE_CACHE_DIR", str(root / "dvc-site-cache"))
    yield Path(os.environ["BRAINIO_HOME"])
