"""The on-disk catalog cache: a commit's validated catalog tables, written once and read back.

A commit fixes its tree, so the tables of a commit never go stale: one file per commit,
``$BRAINIO_HOME/catalog-cache/<commit>.json``, shared by all registries and processes.  Version
5 holds {"catalogs": {name: {"columns": [...], "rows": [[...], ...], "index": {lookup_type:
{identifier: [row numbers]}}, "bad_rows": [{"line", "expected", "found", "cells"}, ...]}}}: each
catalog's CSV, indexed so that a lookup reads one entry rather than every row, and its
malformed rows, set aside.

The file is data only and checked as it is read: a file that is not a cache of this version
is ignored (with a warning when it is unreadable) and the caller parses the catalogs again.
Writes are atomic (:mod:`~brainio_dvc.formats.atomic`), so a reader never sees half a file.
"""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import Mapping
from pathlib import Path

from ..formats.atomic import atomic_write_text
from ..formats.catalog_csv import CatalogTable, tables_from_json, tables_to_json

__all__ = ["read_tables", "write_tables"]

logger = logging.getLogger(__name__)

_CATALOG_CACHE_DIR = "catalog-cache"
_CATALOG_CACHE_VERSION = 5  # bump whenever parsing or validation of catalogs changes


def _cache_file(home: Path, commit: str) -> Path:
    return home / _CATALOG_CACHE_DIR / f"{commit}.json"


def read_tables(home: Path, commit: str) -> dict[str, CatalogTable] | None:
    """The cached tables of ``commit`` (without provenance), or None when none are cached.

    An unreadable or damaged cache file is ignored with a warning naming it.
    """
    cache_file = _cache_file(home, commit)
    try:
        return _tables_from_cache(_json_without_gc(cache_file.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        logger.warning("ignoring unreadable catalog cache %s: %s", cache_file, error)
        return None


def write_tables(home: Path, commit: str, tables: Mapping[str, CatalogTable]) -> None:
    """Cache the validated ``tables`` of ``commit`` (atomically: readers see all or nothing)."""
    cached_form = {"version": _CATALOG_CACHE_VERSION, "catalogs": tables_to_json(tables)}
    atomic_write_text(_cache_file(home, commit), json.dumps(cached_form))


def _json_without_gc(text: str) -> object:
    """``json.loads(text)`` with the garbage collector paused: the ~100,000 lists and strings of
    a 10,000-row catalog otherwise set off collections that add a quarter to the decoding."""
    paused = gc.isenabled()
    gc.disable()
    try:
        return json.loads(text)
    finally:
        if paused:
            gc.enable()


def _tables_from_cache(cached: object) -> dict[str, CatalogTable] | None:
    """The catalog tables of a catalog cache file's JSON, or None when it is not one."""
    if not isinstance(cached, dict) or cached.get("version") != _CATALOG_CACHE_VERSION:
        return None
    return tables_from_json(cached.get("catalogs"))
