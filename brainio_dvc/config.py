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
import contextvars
import functools
import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
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
#: The overrides of the enclosing :func:`set` blocks, merged (inner ones win).  A context
#: variable: each block restores exactly what it found, by its token, however blocks nest and
#: whatever they hold; and a thread sees the overrides of the context it runs in (the threads of
#: :mod:`brainio_dvc.parallel` run in a copy of their caller's), not another thread's.
_overrides: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "brainio_dvc_config_overrides", default=MappingProxyType({})
)


@contextlib.contextmanager
def set(**settings: Any) -> Iterator[None]:
    """Override settings for the duration of a ``with`` block (meant for tests and scripts).

    Blocks nest: leaving one restores the settings as they were when it was entered.  The
    overrides belong to the current thread's context (threads started through
    :mod:`brainio_dvc.parallel` inherit them).
    """
    unknown = sorted(settings.keys() - _ENVIRONMENT.keys())
    if unknown:
        msg = f"unknown settings {unknown}; known: {sorted(_ENVIRONMENT)}"
        raise TypeError(msg)
    token = _overrides.set({**_overrides.get(), **settings})
    try:
        yield
    finally:
        _overrides.reset(token)


def config_file() -> Path:
    """Where the config file is (it need not exist)."""
    return Path(_config_path())


def _config_path() -> str:
    # Strings rather than Paths: settings are read on every lookup.
    explicit = os.environ.get("BRAINIO_DVC_CONFIG")
    if explicit:
        return os.path.expanduser(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "brainio-dvc", "config.toml")


#: The last config file read, by path: its (mtime, size) and settings.  Settings are looked up
#: on every load, so the file is parsed again only when it changes.
_file_memo: dict[str, tuple[tuple[int, int], dict[str, Any]]] = {}


def _read_config_file() -> dict[str, Any]:
    path = _config_path()
    try:
        status = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    signature = (status.st_mtime_ns, status.st_size)
    known = _file_memo.get(path)
    if known is not None and known[0] == signature:
        return known[1]
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    import tomllib  # imported here: most machines have no config file

    try:
        settings = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(
            setting="config file", value=str(path), expected=f"valid TOML ({error})", source="BRAINIO_DVC_CONFIG"
        ) from error
    _file_memo[path] = (signature, settings)
    return settings


def _lookup(name: str) -> tuple[Any, str] | None:
    """The raw value of a setting and where it came from, or None when it is not set."""
    overrides = _overrides.get()
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
    return _home_path(None if found is None else str(found[0]), os.environ.get("HOME", ""))


@functools.lru_cache(maxsize=16)
def _home_path(setting: str | None, user_home: str) -> Path:
    """The home setting as a Path (``user_home`` keys the memo: ``~`` depends on it)."""
    return Path.home() / ".brainio" if setting is None else Path(setting).expanduser()


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
        raise ConfigurationError(
            setting="registries", value=value, expected="a comma-separated string or a list", source=source
        )
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
