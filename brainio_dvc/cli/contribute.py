"""The ``brainio-dvc`` commands that change registries: ``package``, ``init`` and ``gc``.

Registered on :data:`brainio_dvc.cli.cli` when that module is imported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click

from .core import Options, _emit, _local_registry, _size, cli


@cli.group()
def package() -> None:
    """Package data into the registry on a new branch, ready for a pull request."""


_package_options = [
    click.option("--identifier", required=True, help="Identifier, preferably <lab>.<FirstAuthorYYYY>[.<variant>]."),
    click.option("--catalog", "catalog_name", help="Catalog it belongs to (default: the identifier's part before "
                 "its first dot, else brainscore)."),
    click.option("--new-version", is_flag=True, help="Replace an identifier that the base already has."),
    click.option("--no-push", is_flag=True, help="Do not push to the DVC remote (e.g. to push later)."),
    click.option("--remote", "remote_name", default="brainio-temp", help="DVC remote to push to, if the registry "
                 "has one of this name (BrainIO's bucket_name); else the default remote."),
    click.option("--branch", help="Branch to commit on (default package/<stimulus set identifier>)."),
    click.option("--card", "card_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                 help="Dataset card (JSON: title, bibtex, license, species, regions, ...; see "
                 "brainio_dvc/card.schema.json); without it, the card already there is kept."),
]


def _with_package_options(function: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_package_options):
        function = option(function)
    return function


def _report_packaged(options: Options, result: Mapping[str, Any]) -> None:
    _emit(options, dict(result), lambda: (
        f"packaged {result['identifier']} on branch {result['branch']} (commit {result['commit'][:10]})\n"
        f"next: git push origin {result['branch']} and open a pull request"))


@package.command("stimulus-set")
@click.argument("csv_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("stimuli_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_with_package_options
@click.pass_obj
@click.option("--strict", is_flag=True, help="Run BrainIO's submission checks (file names, image formats, numbering).")
def package_stimulus_set_command(options: Options, csv_path: Path, stimuli_dir: Path, identifier: str,
                                 catalog_name: str | None, new_version: bool, no_push: bool, remote_name: str,
                                 branch: str | None, card_file: Path | None, strict: bool) -> None:
    """Package a stimulus set: CSV with stimulus_id and filename (relative to STIMULI_DIR).

    \b
    Example:
      brainio-dvc package stimulus-set stimuli.csv images/ --identifier dicarlo.Sanghavi2020 --card card.json
    """
    from ..packaging import package_stimulus_set
    from ..stimuli import StimulusSet

    proto = StimulusSet.from_files(csv_path, stimuli_dir)
    proto.identifier = identifier
    result = package_stimulus_set(catalog_name, proto, identifier, remote_name, registry=_local_registry(options),
                                  new_version=new_version, push=not no_push, branch=branch, strict=strict,
                                  card=card_file)
    _report_packaged(options, result)


@package.command("assembly")
@click.argument("netcdf_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_with_package_options
@click.option("--stimulus-set", "stimulus_set_identifier", required=True,
              help="Identifier of its stimulus set (in the registry, or on its pending branch package/<it>).")
@click.option("--class", "class_name", default="NeuronRecordingAssembly", show_default=True, help="Assembly class.")
@click.pass_obj
def package_assembly_command(options: Options, netcdf_path: Path, identifier: str, catalog_name: str | None,
                             new_version: bool, no_push: bool, remote_name: str, branch: str | None,
                             card_file: Path | None, stimulus_set_identifier: str, class_name: str) -> None:
    """Package an assembly from a netCDF file holding one data variable.

    It goes on its stimulus set's branch, package/<stimulus set identifier>.

    \b
    Example:
      brainio-dvc package assembly rates.nc --identifier dicarlo.Sanghavi2020.it \\
          --stimulus-set dicarlo.Sanghavi2020
    """
    from ..formats.netcdf import read_data_array
    from ..packaging import package_data_assembly

    proto = read_data_array(netcdf_path)
    result = package_data_assembly(catalog_name, proto, identifier, stimulus_set_identifier, class_name, remote_name,
                                   registry=_local_registry(options), new_version=new_version, push=not no_push,
                                   branch=branch, card=card_file)
    _report_packaged(options, result)


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
@click.option("--remote", "remote_url", metavar="URL",
              help="Default DVC remote: a local directory or s3://bucket/prefix "
              "(default: the directory DIRECTORY-storage beside it).")
@click.option("--endpoint-url", metavar="URL", help="S3 endpoint of the remote (for S3 servers other than AWS).")
@click.pass_obj
def init(options: Options, directory: Path, remote_url: str | None, endpoint_url: str | None) -> None:
    """Make a new, empty registry: git, DVC, its remote, catalogs/, the pull-request check.

    Credentials are never written to .dvc/config: DVC takes them from the environment or
    from .dvc/config.local (`dvc remote modify --local storage access_key_id ...`).

    \b
    Example:
      brainio-dvc init my-registry --remote s3://lab-data/registry --endpoint-url https://s3.example.org
    """
    from ..contribute.scaffold import init_registry

    result = init_registry(directory, remote_url, endpoint_url)
    _emit(options, result, lambda: f"made an empty registry in {result['registry']} (DVC remote {result['remote']})")


@cli.command()
@click.option("--remote", "remote", is_flag=True, required=True, help="Collect the DVC remote's garbage (required).")
@click.option("--older-than", "older_than", type=click.FloatRange(min=0), default=7.0, show_default=True,
              metavar="DAYS", help="Only objects at least this old.")
@click.option("--force", is_flag=True, help="Delete them (without it: only list them).")
@click.pass_obj
def gc(options: Options, remote: bool, older_than: float, force: bool) -> None:
    """List (or with --force delete) remote objects that no branch or tag references.

    References are read from every commit of every branch and tag of the registry's origin
    (fetched first) and of the local repository, from the working tree and from packaging
    runs in progress.

    \b
    Example:
      brainio-dvc gc --remote --older-than 30 --force
    """
    from ..contribute.gc import collect_garbage

    report = collect_garbage(_local_registry(options), older_than, force)
    data = {"remote": report.remote, "objects": report.objects, "referenced": report.referenced,
            "garbage": [item.md5 for item in report.garbage], "bytes": report.garbage_bytes, "deleted": report.deleted}
    verb = "deleted" if report.deleted else "would delete (dry run; --force deletes)"
    _emit(options, data, lambda: "\n".join([*(item.md5 for item in report.garbage),
                                            f"{verb} {len(report.garbage)} of {report.objects} objects "
                                            f"({_size(report.garbage_bytes)}) on remote {report.remote}"]))
