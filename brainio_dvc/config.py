"""Settings, resolved at every call.

Order of precedence, highest first: an explicit argument (handled by the caller), a temporary
override from :func:`set`, an environment variable, the config file, the default.

======================  ===========================  ==========================================
setting                 environment variable         meaning
======================  ===========================  ==========================================
``home``                ``BRAINIO_HOME``             local data directory (clones, cache)
``registries``          ``BRAINIO_DVC_REGISTRIES``   comma-separated registry paths or git URLs
``rev``                 ``BRAINIO_DVC_REV``          revision to load when none is given
``fetch_interval``      ``BRAINIO_DVC_FETCH_INTERVAL``  seconds a fetched branch is trusted
``jobs``                ``BRAINIO_DVC_JOBS``         parallel transfers for DVC push and pull
======================  ===========================  ==========================================

The config file is TOML, at ``$BRAINIO_DVC_CONFIG`` or ``~/.config/brainio-dvc/config.toml``
(``$XDG_CONFIG_HOME`` is honoured), with the settings above as top-level keys.
"""

from __future__ import annotations

import contextlib
import math
import os
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .exceptions import ConfigurationError

__all__ = [
    "config_file",
    "fetch_interval",
    "home",
    "jobs",
    "registries",
    "rev",
    "set",
]

_ENVIRONMENT = {
    "home": "BRAINIO_HOME",
    "registries": "BRAINIO_DVC_REGISTRIES",
    "rev": "BRAINIO_DVC_REV",
    "fetch_interval": "BRAINIO_DVC_FETCH_INTERVAL",
    "jobs": "BRAINIO_DVC_JOBS",
}
_DEFAULT_FETCH_INTERVAL = 300.0
_overrides: list[dict[str, Any]] = []


@contextlib.contextmanager
def set(**settings: Any) -> Iterator[None]:  # noqa: A001 - mirrors intake/dask's config.set
    """Override settings for the duration of a ``with`` block (meant for tests and scripts)."""
    unknown = sorted(settings.keys() - _ENVIRONMENT.keys())
    if unknown:
        msg = f"unknown settings {unknown}; known: {sorted(_ENVIRONMENT)}"
        raise TypeError(msg)
    _overrides.append(settings)
    try:
        yield
    finally:
        _overrides.remove(settings)


def config_file() -> Path:
    """Where the config file is (it need not exist)."""
    explicit = os.environ.get("BRAINIO_DVC_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "brainio-dvc" / "config.toml"


def _read_config_file() -> dict[str, Any]:
    path = config_file()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(
            "config file", str(path), f"valid TOML ({error})", "BRAINIO_DVC_CONFIG"
        ) from error


def _lookup(name: str) -> tuple[Any, str] | None:
    """The raw value of a setting and where it came from, or None when it is not set."""
    for overrides in reversed(_overrides):
        if name in overrides:
            return overrides[name], "brainio_dvc.config.set()"
    variable = _ENVIRONMENT[name]
    if os.environ.get(variable):
        return os.environ[variable], f"environment variable {variable}"
    file_settings = _read_config_file()
    if name in file_settings:
        return file_settings[name], f"config file {config_file()}"
    return None


def home() -> Path:
    """The local data directory: ``BRAINIO_HOME``, by default ``~/.brainio``."""
    found = _lookup("home")
    if found is None:
        return Path.home() / ".brainio"
    return Path(str(found[0])).expanduser()


def registries() -> list[str]:
    """Configured registries (paths or git URLs), in priority order; may be empty."""
    found = _lookup("registries")
    if found is None:
        return []
    value, source = found
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list | tuple):
        items = [str(item) for item in value]
    else:
        raise ConfigurationError("registries", value, "a comma-separated string or a list", source)
    return [item.strip() for item in items if item.strip()]


def rev() -> str | None:
    """The revision to load when a call gives none; None means each registry's default branch."""
    found = _lookup("rev")
    return None if found is None else str(found[0])


def _positive_number(name: str, default: float) -> float:
    found = _lookup(name)
    if found is None:
        return default
    value, source = found
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not math.isfinite(number) or number < 0:
        raise ConfigurationError(name, value, "a finite number of at least 0", source)
    return number


def fetch_interval() -> float:
    """Seconds during which a fetched branch is used without asking the git remote again."""
    return _positive_number("fetch_interval", _DEFAULT_FETCH_INTERVAL)


def jobs() -> int:
    """Parallel transfers for DVC push and pull (DVC's own default when 0)."""
    return int(_positive_number("jobs", 0))
