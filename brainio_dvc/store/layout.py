"""Where things live in a registry. Pure path arithmetic, no I/O.

::

    registry/<catalog>/assemblies/<identifier>/<identifier>.nc(.dvc)
    registry/<catalog>/stimulus_sets/<identifier>/<identifier>.csv(.dvc)
    registry/<catalog>/stimulus_sets/<identifier>/<identifier>.zip(.dvc)
    catalogs/<catalog>/lookup.csv
"""

from __future__ import annotations

from pathlib import PurePosixPath

from ..formats.catalog_csv import TYPE_ASSEMBLY, TYPE_STIMULUS_SET
from ..formats.identifiers import check_safe_identifier

__all__ = [
    "CATALOGS_DIR",
    "REGISTRY_DIR",
    "artifact_dir",
    "assembly_path",
    "catalog_csv_path",
    "stimulus_set_paths",
]

REGISTRY_DIR = "registry"
CATALOGS_DIR = "catalogs"
CATALOG_FILE = "lookup.csv"
_KIND_DIRS = {TYPE_ASSEMBLY: "assemblies", TYPE_STIMULUS_SET: "stimulus_sets"}


def artifact_dir(catalog: str, lookup_type: str, identifier: str) -> PurePosixPath:
    """The directory of one identifier's files, relative to the registry root."""
    check_safe_identifier(catalog, "catalog identifier")
    check_safe_identifier(identifier)
    return PurePosixPath(REGISTRY_DIR, catalog, _KIND_DIRS[lookup_type], identifier)


def assembly_path(catalog: str, identifier: str) -> PurePosixPath:
    """The netCDF file of an assembly, relative to the registry root."""
    return artifact_dir(catalog, TYPE_ASSEMBLY, identifier) / f"{identifier}.nc"


def stimulus_set_paths(catalog: str, identifier: str) -> tuple[PurePosixPath, PurePosixPath]:
    """The CSV and ZIP files of a stimulus set, relative to the registry root."""
    directory = artifact_dir(catalog, TYPE_STIMULUS_SET, identifier)
    return directory / f"{identifier}.csv", directory / f"{identifier}.zip"


def catalog_csv_path(catalog: str) -> PurePosixPath:
    """The generated lookup CSV of a catalog, relative to the registry root."""
    check_safe_identifier(catalog, "catalog identifier")
    return PurePosixPath(CATALOGS_DIR, catalog, CATALOG_FILE)
