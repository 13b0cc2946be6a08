"""The in-process state of brainio_dvc: every memo, bounded, and one :func:`refresh`.

Everything a process remembers between calls lives in a :class:`Memo` made here, by name and
with its size; :func:`refresh` empties them all (``brainio_dvc.lookup.refresh()`` calls it).
A memo is a least-recently-used map: when full, the entry used longest ago is dropped and is
made again when next asked for.  Entries are facts that do not go stale (a commit's
catalogs, a registry's clone) or are checked before use (the pins of a repository), so a
dropped entry costs only the time to make it again.

The sizes, and why:

- :data:`REGISTRIES` (16): one :class:`~brainio_dvc.store.registry.Registry` per spec and
  ``BRAINIO_HOME``; a process uses a handful.
- :data:`REMOTES` (16): one opened DVC remote per registry and commit.
- :data:`CATALOG_TABLES` (8) and :data:`CATALOGS` (8): a registry's catalogs at a commit, as
  tables and as DataFrames.  A 10,000-row catalog takes some 10 MB, so a few commits only.
- :data:`REGISTRY_SOURCES` (32): the catalog sources of a registry at a commit (small).
- :data:`COMBINED` (8): the catalogs of one set of sources combined, with the rows looked up.
- :data:`SEARCHES` (16): the registries one kind of lookup searches (``registry``, else the
  configured ones, at ``rev``), opened, and the commits they last resolved to.
- :data:`INSTALLED` (1): the catalogs of installed packages (``brainio_lookups`` entry points).
- :data:`DATA_CACHES` (4): the data cache of a ``BRAINIO_HOME``.
- :data:`REPOSITORY_FACTS` (16): the pins read from the repositories around working directories.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

__all__ = ["Memo", "memo", "refresh"]

_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")

_MEMOS: list[Memo[Any, Any]] = []


class Memo(Generic[_K, _V]):
    """A bounded least-recently-used map, safe to share between threads."""

    def __init__(self, name: str, size: int) -> None:
        if size < 1:
            msg = f"memo {name!r} needs a size of at least 1, not {size}"
            raise ValueError(msg)
        self.name = name
        self.size = size
        self._entries: OrderedDict[_K, _V] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Memo({self.name!r}, size={self.size}, entries={len(self._entries)})"

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def get(self, key: _K, default: _V | None = None) -> _V | None:
        """The value of ``key`` (now the most recently used), else ``default``."""
        with self._lock:
            try:
                self._entries.move_to_end(key)
            except KeyError:
                return default
            return self._entries[key]

    def __getitem__(self, key: _K) -> _V:
        with self._lock:
            self._entries.move_to_end(key)
            return self._entries[key]

    def __setitem__(self, key: _K, value: _V) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def get_or_make(self, key: _K, make: Callable[[], _V]) -> _V:
        """The value of ``key``, made by ``make()`` (outside the lock) when it is not known."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        value = make()
        self[key] = value
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def memo(name: str, size: int) -> Memo[Any, Any]:
    """A new memo, emptied by :func:`refresh`."""
    made: Memo[Any, Any] = Memo(name, size)
    _MEMOS.append(made)
    return made


def refresh() -> None:
    """Forget everything remembered in this process: registries, remotes, catalogs, the
    catalogs of installed packages, data caches and repository pins."""
    for known in _MEMOS:
        known.clear()


REGISTRIES = memo("registries", 16)
REMOTES = memo("remotes", 16)
CATALOG_TABLES = memo("catalog tables", 8)
CATALOGS = memo("catalogs", 8)
REGISTRY_SOURCES = memo("registry sources", 32)
COMBINED = memo("combined catalogs", 8)
SEARCHES = memo("searches", 16)
INSTALLED = memo("installed catalogs", 1)
DATA_CACHES = memo("data caches", 4)
REPOSITORY_FACTS = memo("repository facts", 16)
