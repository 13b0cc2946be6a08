"""Packaging stimulus sets and assemblies into a registry (BrainIO API).

``package_stimulus_set`` and ``package_data_assembly`` take BrainIO's arguments in BrainIO's
order; this project's options (``registry``, ``new_version``, ...) are keyword-only.  Each call
validates its input, writes the files into the registry layout, tracks them with DVC (with the
catalog row in the ``.dvc`` file's ``meta``), regenerates the catalog, pushes to the registry's
DVC remote and commits on a review branch.  It is all or nothing: see
:mod:`brainio_dvc.contribute.transaction`.

**One branch per dataset.**  Both calls commit on ``package/<stimulus_set_identifier>``: a
script that packages a stimulus set and then its assemblies leaves one branch, for one pull
request.  An assembly whose stimulus set is only on that pending branch goes on top of it.

**BrainIO's arguments.**  ``bucket_name`` selects the registry's DVC remote of that name if
there is one, else the default remote is used (and the name logged).  ``bucket_name=
"brainio.requested"`` (or ``strict=True``) runs BrainIO's submission checks
(:func:`check_experiment_stimulus_set`).  ``catalog_name=None`` puts the artifact into the
catalog named by the identifier's part before its first dot (``dicarlo.hvm-public`` ->
``dicarlo``), or ``brainscore`` when it has no dot (:func:`~brainio_dvc.formats.identifiers.default_catalog`).
The returned dicts hold BrainIO's keys; the ``*version_id`` values are the files' md5, which
identify their version in the content-addressed remote.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from .cards import CardInput, derive_assembly, derive_stimulus_set, load_card_input, write_card
from .catalogs import LOCATION_TYPE_DVC, TYPE_ASSEMBLY, TYPE_STIMULUS_SET
from .contribute.catalog_build import scan_registry
from .contribute.transaction import PackagingTransaction
from .contribute.validation import (
    check_experiment_stimulus_set,
    check_image_format,
    check_stimulus_naming_convention,
    check_stimulus_numbers,
    check_stimulus_paths,
)
from .exceptions import BrainioDvcError, PackagingError, ValidationError
from .formats.archives import create_stimulus_csv, create_stimulus_zip, extract_specific
from .formats.hashes import sha1_hash
from .formats.identifiers import (
    check_naming_convention,
    check_safe_identifier,
    default_catalog,
    naming_problem,
)
from .formats.netcdf import validate_netcdf, write_netcdf
from .s3 import get_user_info, upload_to_s3
from .store.layout import CATALOGS_DIR, assembly_path, stimulus_set_paths

if TYPE_CHECKING:
    import xarray as xr

    from .stimuli import StimulusSet

__all__ = [
    "REQUESTED_BUCKET",
    "TYPE_ASSEMBLY",
    "TYPE_STIMULUS_SET",
    "check_experiment_stimulus_set",
    "check_image_format",
    "check_naming_convention",
    "check_stimulus_naming_convention",
    "check_stimulus_numbers",
    "create_stimulus_csv",
    "create_stimulus_zip",
    "extract_specific",
    "get_user_info",
    "package_data_assembly",
    "package_stimulus_set",
    "review_branch",
    "sha1_hash",
    "upload_to_s3",
    "write_netcdf",
]

logger = logging.getLogger(__name__)

#: Names BrainIO's packaging module re-exported, imported on first use (they need the lookup
#: and registry machinery, which packaging itself does not).
_LAZY = {
    "fetch": (".fetch", None),
    "lookup": (".lookup", None),
    "list_stimulus_sets": (".lookup", "list_stimulus_sets"),
    "resolve_assembly_class": (".assemblies", "resolve_assembly_class"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    import importlib

    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name, __package__)
    return module if attribute is None else getattr(module, attribute)


#: BrainIO's bucket for submissions, for which it ran its full stimulus set checks.
REQUESTED_BUCKET = "brainio.requested"
_DEFAULT_BUCKET = "brainio-temp"

Registry = str | os.PathLike[str]


def review_branch(stimulus_set_identifier: str) -> str:
    """The branch that a stimulus set and its assemblies are packaged on."""
    return f"package/{stimulus_set_identifier}"


def _validated(identifier: str, check: Any, *args: Any) -> Any:
    """Run a validation, turning its failure into a PackagingError of step 'validate'."""
    try:
        return check(*args)
    except BrainioDvcError as error:
        raise PackagingError(identifier, "validate", error) from error


def _check_names(identifier: str, catalog: str | None) -> str:
    """Refuse unsafe names, advise on the convention; return the catalog to use."""
    check_safe_identifier(identifier)
    catalog = default_catalog(identifier) if catalog is None else catalog
    check_safe_identifier(catalog, "catalog identifier")
    advice = naming_problem(identifier)
    if advice:
        logger.warning("naming convention (advice): %s", advice)
    return catalog


def _check_new_version(transaction: PackagingTransaction, paths: list[PurePosixPath], new_version: bool) -> None:
    if any(transaction.exists_at_base(path) for path in paths) and not new_version:
        msg = (
            f"{transaction.identifier!r} already exists in the registry at {transaction.base}; pass "
            "new_version=True (CLI: --new-version) to replace it in a new commit"
        )
        raise BrainioDvcError(
            msg
        )


def _commit_message(
    lookup_type: str, identifier: str, transaction: PackagingTransaction, paths: list[PurePosixPath]
) -> str:
    kind = "assembly" if lookup_type == TYPE_ASSEMBLY else "stimulus set"
    if any(transaction.exists_at_base(p) for p in paths):
        verb = "New version of"
    elif any(transaction.exists_in_tree(p) for p in paths):
        verb = "Update"
    else:
        verb = "Add"
    return f"{verb} {kind} {identifier}"


def _finish(
    transaction: PackagingTransaction,
    lookup_type: str,
    identifier: str,
    files: Mapping[PurePosixPath, Mapping[str, str]],
    card: PurePosixPath | None = None,
) -> tuple[dict[PurePosixPath, dict[str, Any]], str]:
    """Track, catalog, push and commit ``files`` (and the ``card`` written beside them); return
    their catalog rows and the commit."""
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
        committed += [str(card)] if card is not None else []
        commit = transaction.commit(message, committed)
    return rows, commit


def _stimulus_set_class_name(proto_stimulus_set: Any) -> str:
    from .stimuli import STIMULUS_SET_CLASSES

    name = type(proto_stimulus_set).__name__
    return name if name in STIMULUS_SET_CLASSES else "StimulusSet"


def _check_stimuli(proto_stimulus_set: Any, strict: bool) -> None:
    if strict:
        check_experiment_stimulus_set(proto_stimulus_set)
    else:
        check_stimulus_paths(proto_stimulus_set)


def package_stimulus_set(
    catalog_name: str | None,
    proto_stimulus_set: StimulusSet,
    stimulus_set_identifier: str,
    bucket_name: str = _DEFAULT_BUCKET,
    *,
    registry: Registry = ".",
    new_version: bool = False,
    push: bool = True,
    strict: bool = False,
    base: str | None = None,
    branch: str | None = None,
    card: CardInput = None,
) -> dict[str, Any]:
    """Package a stimulus set (its CSV and the ZIP of its stimuli) into a registry.

    :param catalog_name: the catalog it belongs to, e.g. ``"dicarlo"``; None: by the
        identifier (see the module's documentation).
    :param proto_stimulus_set: a StimulusSet with ``stimulus_id`` and ``stimulus_paths``.
    :param stimulus_set_identifier: e.g. ``"dicarlo.MajajHong2015"``.
    :param bucket_name: the registry's DVC remote of that name, if it has one.
    :param registry: the registry's working tree.
    :param new_version: allow replacing an identifier that the base already has.
    :param push: push to the DVC remote.
    :param strict: run BrainIO's submission checks (as for ``bucket_name="brainio.requested"``).
    :param base: the revision to branch from (default HEAD).
    :param branch: the branch to commit on (default ``package/<stimulus_set_identifier>``).
    :param card: its dataset card (a mapping or a JSON file; see :mod:`brainio_dvc.cards`),
        committed as ``card.json`` beside the files with the derived facts added; None keeps
        the contributor's fields of the card already there.
    :return: BrainIO's description (identifier, bucket, csv_sha1, zip_sha1, csv_version_id,
        zip_version_id) plus catalog, md5, paths, card, remote, branch and commit.
    """
    identifier = stimulus_set_identifier
    catalog = _validated(identifier, _check_names, identifier, catalog_name)
    contributed = _validated(identifier, load_card_input, card, identifier)
    _validated(identifier, _check_stimuli, proto_stimulus_set, strict or bucket_name == REQUESTED_BUCKET)
    class_name = _stimulus_set_class_name(proto_stimulus_set)
    csv_path, zip_path = stimulus_set_paths(catalog, identifier)
    transaction = PackagingTransaction(
        Path(registry), identifier, branch or review_branch(identifier), base, push, bucket_name
    )
    with transaction.run():
        _check_new_version(transaction, [csv_path, zip_path], new_version)
        with transaction.step("write"):
            transaction.path(csv_path).parent.mkdir(parents=True, exist_ok=True)
            zip_sha1, zip_filenames = create_stimulus_zip(proto_stimulus_set, transaction.path(zip_path))
            csv_sha1 = create_stimulus_csv(proto_stimulus_set, transaction.path(csv_path), zip_filenames=zip_filenames)
            sizes = [transaction.path(path).stat().st_size for path in (csv_path, zip_path)]
            card_file = write_card(transaction.tree, catalog, TYPE_STIMULUS_SET, identifier, contributed,
                                   derive_stimulus_set(proto_stimulus_set, sizes, class_name))
        common = {"identifier": identifier, "lookup_type": TYPE_STIMULUS_SET, "stimulus_set_identifier": "",
                  "catalog": catalog}
        files = {
            csv_path: {**common, "class": class_name, "sha1": csv_sha1},
            zip_path: {**common, "class": "", "sha1": zip_sha1},
        }
        rows, commit = _finish(transaction, TYPE_STIMULUS_SET, identifier, files, card_file)
    return {
        "identifier": identifier,
        "bucket": bucket_name,
        "csv_sha1": csv_sha1,
        "zip_sha1": zip_sha1,
        "csv_version_id": rows[csv_path]["md5"],
        "zip_version_id": rows[zip_path]["md5"],
        "lookup_type": TYPE_STIMULUS_SET,
        "class": class_name,
        "catalog": catalog,
        "location_type": LOCATION_TYPE_DVC,
        "sha1": csv_sha1,
        "md5": rows[csv_path]["md5"],
        "zip_md5": rows[zip_path]["md5"],
        "path": str(csv_path),
        "zip_path": str(zip_path),
        "card": str(card_file),
        "stimuli": len(proto_stimulus_set),
        "remote": transaction.remote,
        "branch": transaction.branch,
        "commit": commit,
    }


def _prepare_assembly(
    proto_data_assembly: xr.DataArray,
    assembly_identifier: str,
    stimulus_set_identifier: str,
    assembly_class_name: str,
    extras: Mapping[str, Any] | None,
) -> xr.DataArray:
    import xarray as xr

    from .assemblies import resolve_assembly_class

    check_safe_identifier(stimulus_set_identifier, "stimulus set identifier")
    not_arrays = [name for name, extra in (extras or {}).items() if not isinstance(extra, xr.DataArray)]
    if not_arrays:
        msg = "extras"
        raise ValidationError(msg, "a DataArray for every group", f"other values for {not_arrays}")
    cls = resolve_assembly_class(assembly_class_name)
    cls(proto_data_assembly).validate()
    # Written as given, not as the class gathers it: a lone coordinate of a dimension keeps its
    # name in the file (the class would index the dimension by it under the dimension's name).
    assembly = xr.DataArray(proto_data_assembly).copy(deep=False)
    _check_presentations_have_stimulus_ids(assembly, cls)
    assembly.attrs["identifier"] = assembly_identifier
    assembly.attrs["stimulus_set_identifier"] = stimulus_set_identifier
    return assembly


def _check_presentations_have_stimulus_ids(assembly: xr.DataArray, cls: type) -> None:
    """Presentations are matched to the stimulus set by ``stimulus_id`` (or legacy ``image_id``)."""
    if "presentation" not in assembly.dims or {"stimulus_id", "image_id"} & set(map(str, assembly.coords)):
        return
    msg = f"{cls.__name__} to package"
    raise ValidationError(
        msg,
        "a stimulus_id coordinate on the presentation dimension",
        "presentation coordinates " + (", ".join(map(str, assembly.coords)) or "none"),
        hint="a DataAssembly whose presentations have stimulus_id alone indexes them by it under the name "
        "'presentation', as BrainIO did; pass a plain xarray.DataArray or add another presentation coordinate",
    )


def _tree_has_stimulus_set(tree: Path, stimulus_set_identifier: str) -> bool:
    return any(
        row["identifier"] == stimulus_set_identifier and row["lookup_type"] == TYPE_STIMULUS_SET
        for row in scan_registry(tree).rows
    )


def package_data_assembly(
    catalog_identifier: str | None,
    proto_data_assembly: xr.DataArray,
    assembly_identifier: str,
    stimulus_set_identifier: str,
    assembly_class_name: str = "NeuronRecordingAssembly",
    bucket_name: str = _DEFAULT_BUCKET,
    extras: Mapping[str, xr.DataArray] | None = None,
    *,
    registry: Registry = ".",
    new_version: bool = False,
    push: bool = True,
    base: str | None = None,
    branch: str | None = None,
    compression_level: int = 1,
    card: CardInput = None,
) -> dict[str, Any]:
    """Package an assembly (one netCDF file, ``extras`` as groups) into a registry.

    The stimulus set must be in the registry at ``base``, or on its pending review branch
    ``package/<stimulus_set_identifier>``; the assembly is committed on that branch.  Other
    parameters as in :func:`package_stimulus_set`; ``compression_level`` is the zlib level
    (1 is fast and nearly as small as 9 on neural data), ``card`` its dataset card.

    :return: BrainIO's description (identifier, version_id, sha1, bucket, cls) plus catalog,
        md5, size, path, card, remote, branch and commit.
    """
    identifier = assembly_identifier
    catalog = _validated(identifier, _check_names, identifier, catalog_identifier)
    contributed = _validated(identifier, load_card_input, card, identifier)
    assembly = _validated(
        identifier, _prepare_assembly, proto_data_assembly, identifier, stimulus_set_identifier, assembly_class_name,
        extras,
    )
    relative = assembly_path(catalog, identifier)
    branch = branch or review_branch(stimulus_set_identifier)
    transaction = PackagingTransaction(Path(registry), identifier, branch, base, push, bucket_name)
    with transaction.run():
        with transaction.step("validate"):
            if not _tree_has_stimulus_set(transaction.tree, stimulus_set_identifier):
                msg = (
                    f"stimulus set {stimulus_set_identifier!r} is neither in the registry at {transaction.base} nor on "
                    f"branch {branch!r}; package it first (its assemblies then go on its branch "
                    f"{review_branch(stimulus_set_identifier)!r})"
                )
                raise BrainioDvcError(
                    msg
                )
            _check_new_version(transaction, [relative], new_version)
        with transaction.step("write"):
            target = transaction.path(relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            sha1 = write_netcdf(assembly, target, compression_level=compression_level)
            for group, extra in (extras or {}).items():
                sha1 = write_netcdf(extra, target, append=True, group=group, compression_level=compression_level)
            validate_netcdf(target)
            card_file = write_card(transaction.tree, catalog, TYPE_ASSEMBLY, identifier, contributed,
                                   derive_assembly(assembly, [target.stat().st_size], assembly_class_name))
        meta = {
            "identifier": identifier,
            "lookup_type": TYPE_ASSEMBLY,
            "class": assembly_class_name,
            "sha1": sha1,
            "stimulus_set_identifier": stimulus_set_identifier,
            "catalog": catalog,
        }
        rows, commit = _finish(transaction, TYPE_ASSEMBLY, identifier, {relative: meta}, card_file)
    md5 = rows[relative]["md5"]
    return {
        "identifier": identifier,
        "version_id": md5,
        "sha1": sha1,
        "bucket": bucket_name,
        "cls": assembly_class_name,
        **meta,
        "location_type": LOCATION_TYPE_DVC,
        "location": str(relative),
        "path": str(relative),
        "md5": md5,
        "size": rows[relative]["size"],
        "card": str(card_file),
        "remote": transaction.remote,
        "branch": transaction.branch,
        "commit": commit,
    }
