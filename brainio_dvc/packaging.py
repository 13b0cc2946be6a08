"""Packaging stimulus sets and assemblies into a registry (BrainIO API).

Each ``package_*`` call validates its input, writes the files into the registry layout, tracks
them with DVC (with the catalog row in the ``.dvc`` file's ``meta``), regenerates the catalog,
pushes to the registry's default remote and commits on a new branch ``package/<identifier>``,
ready for a pull request.  It is all or nothing: see :mod:`brainio_dvc.transaction`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from .archives import create_stimulus_csv, create_stimulus_zip
from .catalog_build import scan_registry
from .catalogs import LOCATION_TYPE_DVC, TYPE_ASSEMBLY, TYPE_STIMULUS_SET
from .exceptions import BrainioDvcError, PackagingError
from .identifiers import check_naming_convention, check_safe_identifier
from .layout import CATALOGS_DIR, assembly_path, stimulus_set_paths
from .netcdf import validate_netcdf, write_netcdf
from .s3 import get_user_info, upload_to_s3
from .transaction import PackagingTransaction
from .validation import (
    check_experiment_stimulus_set,
    check_image_format,
    check_stimulus_naming_convention,
    check_stimulus_numbers,
)

if TYPE_CHECKING:
    import xarray as xr

    from .stimuli import StimulusSet

__all__ = [
    "check_experiment_stimulus_set",
    "check_image_format",
    "check_naming_convention",
    "check_stimulus_naming_convention",
    "check_stimulus_numbers",
    "create_stimulus_csv",
    "create_stimulus_zip",
    "get_user_info",
    "package_data_assembly",
    "package_stimulus_set",
    "upload_to_s3",
    "write_netcdf",
]

logger = logging.getLogger(__name__)


def _validated(identifier: str, check: Any, *args: Any) -> Any:
    """Run a validation, turning its failure into a PackagingError of step 'validate'."""
    try:
        return check(*args)
    except BrainioDvcError as error:
        raise PackagingError(identifier, "validate", error) from error


def _check_new_version(transaction: PackagingTransaction, paths: list[PurePosixPath], new_version: bool) -> None:
    exists = any(transaction.exists_at_base(path) for path in paths)
    if exists and not new_version:
        raise BrainioDvcError(
            f"{transaction.identifier!r} already exists in the registry; pass new_version=True "
            "(CLI: --new-version) to replace it in a new commit"
        )


def _commit_message(lookup_type: str, identifier: str, transaction: PackagingTransaction, paths: list[PurePosixPath]) -> str:
    kind = "assembly" if lookup_type == TYPE_ASSEMBLY else "stimulus set"
    verb = "New version of" if any(transaction.exists_at_base(p) for p in paths) else "Add"
    return f"{verb} {kind} {identifier}"


def _finish(
    transaction: PackagingTransaction,
    lookup_type: str,
    identifier: str,
    files: Mapping[PurePosixPath, Mapping[str, str]],
) -> tuple[dict[PurePosixPath, dict[str, Any]], str]:
    """Track, catalog, push and commit ``files``; return their catalog rows and the commit."""
    paths = list(files)
    message = _commit_message(lookup_type, identifier, transaction, paths)
    with transaction.step("dvc add"):
        rows = transaction.track(files)
    with transaction.step("catalog build"):
        transaction.build_catalogs()
    with transaction.step("push"):
        transaction.push(paths, [str(row["md5"]) for row in rows.values()])
    with transaction.step("commit"):
        committed = [f"{p}.dvc" for p in paths] + [str(p.parent / ".gitignore") for p in paths] + [CATALOGS_DIR]
        commit = transaction.commit(message, committed)
    return rows, commit


def _stimulus_set_class_name(proto_stimulus_set: Any) -> str:
    from .stimuli import STIMULUS_SET_CLASSES

    name = type(proto_stimulus_set).__name__
    return name if name in STIMULUS_SET_CLASSES else "StimulusSet"


def package_stimulus_set(
    catalog_name: str,
    proto_stimulus_set: StimulusSet,
    stimulus_set_identifier: str,
    registry: str | os.PathLike[str] = ".",
    *,
    new_version: bool = False,
    push: bool = True,
    base: str | None = None,
    branch: str | None = None,
) -> dict[str, Any]:
    """Package a stimulus set (its CSV and the ZIP of its stimuli) into a registry.

    :param catalog_name: the catalog it belongs to, e.g. ``"dicarlo"``.
    :param proto_stimulus_set: a StimulusSet with ``stimulus_id`` and ``stimulus_paths``.
    :param stimulus_set_identifier: e.g. ``"dicarlo.MajajHong2015"``.
    :param registry: the registry's working tree.
    :param new_version: allow replacing an existing identifier (in a new commit).
    :param push: push to the registry's default remote.
    :param base: the revision to branch from (default HEAD).
    :param branch: the branch to create (default ``package/<identifier>``).
    :return: BrainIO's description plus md5, path, branch and commit.
    """
    identifier = stimulus_set_identifier
    _validated(identifier, check_naming_convention, identifier)
    _validated(identifier, check_safe_identifier, catalog_name, "catalog identifier")
    _validated(identifier, check_experiment_stimulus_set, proto_stimulus_set)
    class_name = _stimulus_set_class_name(proto_stimulus_set)
    csv_path, zip_path = stimulus_set_paths(catalog_name, identifier)
    transaction = PackagingTransaction(Path(registry), identifier, branch or f"package/{identifier}", base, push)
    with transaction.run():
        _check_new_version(transaction, [csv_path, zip_path], new_version)
        with transaction.step("write"):
            transaction.path(csv_path).parent.mkdir(parents=True, exist_ok=True)
            zip_sha1, zip_filenames = create_stimulus_zip(proto_stimulus_set, transaction.path(zip_path))
            csv_sha1 = create_stimulus_csv(proto_stimulus_set, transaction.path(csv_path), zip_filenames=zip_filenames)
        common = {"identifier": identifier, "lookup_type": TYPE_STIMULUS_SET, "stimulus_set_identifier": "", "catalog": catalog_name}
        files = {
            csv_path: {**common, "class": class_name, "sha1": csv_sha1},
            zip_path: {**common, "class": "", "sha1": zip_sha1},
        }
        rows, commit = _finish(transaction, TYPE_STIMULUS_SET, identifier, files)
    return {
        "identifier": identifier,
        "lookup_type": TYPE_STIMULUS_SET,
        "class": class_name,
        "catalog": catalog_name,
        "location_type": LOCATION_TYPE_DVC,
        "csv_sha1": csv_sha1,
        "zip_sha1": zip_sha1,
        "sha1": csv_sha1,
        "md5": rows[csv_path]["md5"],
        "zip_md5": rows[zip_path]["md5"],
        "path": str(csv_path),
        "zip_path": str(zip_path),
        "stimuli": len(proto_stimulus_set),
        "branch": transaction.branch,
        "commit": commit,
    }


def _prepare_assembly(
    proto_data_assembly: xr.DataArray,
    assembly_identifier: str,
    stimulus_set_identifier: str,
    assembly_class_name: str,
) -> xr.DataArray:
    from .fetch import resolve_assembly_class

    cls = resolve_assembly_class(assembly_class_name)
    assembly = cls(proto_data_assembly)
    assembly.validate()
    assembly.attrs["identifier"] = assembly_identifier
    assembly.attrs["stimulus_set_identifier"] = stimulus_set_identifier
    return assembly


def _registry_has_stimulus_set(tree: Path, stimulus_set_identifier: str) -> bool:
    return any(
        row["identifier"] == stimulus_set_identifier and row["lookup_type"] == TYPE_STIMULUS_SET
        for row in scan_registry(tree).rows
    )


def package_data_assembly(
    catalog_identifier: str,
    proto_data_assembly: xr.DataArray,
    assembly_identifier: str,
    stimulus_set_identifier: str,
    assembly_class_name: str = "NeuronRecordingAssembly",
    registry: str | os.PathLike[str] = ".",
    extras: Mapping[str, xr.DataArray] | None = None,
    *,
    new_version: bool = False,
    push: bool = True,
    base: str | None = None,
    branch: str | None = None,
    compression_level: int = 1,
) -> dict[str, Any]:
    """Package an assembly (one netCDF file, extras as groups) into a registry.

    The stimulus set must already be in the registry at ``base``.  Other parameters as in
    :func:`package_stimulus_set`; ``compression_level`` is the zlib level (1 is fast and
    nearly as small as 9 on neural data).
    """
    identifier = assembly_identifier
    _validated(identifier, check_naming_convention, identifier)
    _validated(identifier, check_safe_identifier, catalog_identifier, "catalog identifier")
    assembly = _validated(
        identifier, _prepare_assembly, proto_data_assembly, identifier, stimulus_set_identifier, assembly_class_name
    )
    relative = assembly_path(catalog_identifier, identifier)
    transaction = PackagingTransaction(Path(registry), identifier, branch or f"package/{identifier}", base, push)
    with transaction.run():
        with transaction.step("validate"):
            if not _registry_has_stimulus_set(transaction.tree, stimulus_set_identifier):
                raise BrainioDvcError(
                    f"stimulus set {stimulus_set_identifier!r} is not in the registry; package it first"
                )
            _check_new_version(transaction, [relative], new_version)
        with transaction.step("write"):
            target = transaction.path(relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            sha1 = write_netcdf(assembly, target, compression_level=compression_level)
            for group, extra in (extras or {}).items():
                sha1 = write_netcdf(extra, target, append=True, group=group, compression_level=compression_level)
            validate_netcdf(target)
        meta = {
            "identifier": identifier,
            "lookup_type": TYPE_ASSEMBLY,
            "class": assembly_class_name,
            "sha1": sha1,
            "stimulus_set_identifier": stimulus_set_identifier,
            "catalog": catalog_identifier,
        }
        rows, commit = _finish(transaction, TYPE_ASSEMBLY, identifier, {relative: meta})
    return {
        **meta,
        "location_type": LOCATION_TYPE_DVC,
        "location": str(relative),
        "path": str(relative),
        "md5": rows[relative]["md5"],
        "size": rows[relative]["size"],
        "branch": transaction.branch,
        "commit": commit,
    }
