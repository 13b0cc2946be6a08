"""Brain-Score's data into a registry: classic catalogs, manifests and data plugins, by copy or reference.

* :mod:`.manifest`: the inputs (a manifest of S3 objects as CSV or JSON, a classic BrainIO
  catalog) as :class:`Entry` objects;
* :mod:`.plugin_scan`: Brain-Score data plugins read with ``ast`` into manifest entries;
* :mod:`.run`: :func:`migrate`, on a review branch of the registry.

``brainio-dvc migrate`` is the command line of all three.
"""

from __future__ import annotations

from .manifest import MANIFEST_COLUMNS, Entry, read_input, render_manifest_csv, render_manifest_json
from .plugin_scan import PluginScan, Unresolved, scan_plugins
from .run import MigrationReport, Outcome, migrate, migration_branch

__all__ = [
    "MANIFEST_COLUMNS",
    "Entry",
    "MigrationReport",
    "Outcome",
    "PluginScan",
    "Unresolved",
    "migrate",
    "migration_branch",
    "read_input",
    "render_manifest_csv",
    "render_manifest_json",
    "scan_plugins",
]
