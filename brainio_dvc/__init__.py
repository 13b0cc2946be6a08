"""brainio_dvc: BrainIO's stimulus sets, data assemblies and catalogs in a versioned DVC/git registry.

>>> import brainio_dvc
>>> assembly = brainio_dvc.get_assembly("demo.Gabor2024.neural", rev="main")  # doctest: +SKIP

The public names are imported on first use, so that ``import brainio_dvc`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "BrainioDvcError",
    "cite",
    "get_assembly",
    "get_catalog",
    "get_stimulus_set",
    "list_assemblies",
    "list_catalogs",
    "list_stimulus_sets",
    "search",
]

_WHERE = {
    "BrainioDvcError": "exceptions",
    "cite": "browse.citations",
    "search": "browse.catalog_search",
    "get_assembly": "loading",
    "get_stimulus_set": "loading",
    "get_catalog": "lookup",
    "list_assemblies": "lookup",
    "list_catalogs": "lookup",
    "list_stimulus_sets": "lookup",
}

#: Submodules reachable as attributes (``brainio_dvc.lookup``), imported on first use.
_SUBMODULES = frozenset({
    "assemblies", "cards", "catalogs", "config", "exceptions", "fetch", "lock", "lookup", "packaging", "s3",
    "stimuli", "transform",
})

if TYPE_CHECKING:
    from .browse.catalog_search import search
    from .browse.citations import cite
    from .exceptions import BrainioDvcError
    from .loading import get_assembly, get_stimulus_set
    from .lookup import get_catalog, list_assemblies, list_catalogs, list_stimulus_sets


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
