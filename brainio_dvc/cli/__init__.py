"""The ``brainio-dvc`` command line: the only part of brainio_dvc that prints.

:mod:`.core` holds the command group and the commands that read registries; importing this
package registers the others on that group:

- :mod:`.contribute`: ``package``, ``init`` and ``gc``;
- :mod:`.browse`: ``cite``, ``search`` and ``site``;
- :mod:`.migrate`: ``migrate``;
- :mod:`.lock`: ``lock`` and ``why``.

``brainio-dvc`` (the entry point) and ``python -m brainio_dvc.cli`` both run :func:`main`.
"""

from __future__ import annotations

from . import browse, contribute, lock, migrate
from .core import cli, main

__all__ = ["browse", "cli", "contribute", "lock", "main", "migrate"]
