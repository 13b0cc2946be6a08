"""The ``brainio-dvc migrate`` commands: Brain-Score's S3 data into a registry.

Registered on :data:`brainio_dvc.cli.cli` when that module is imported.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .core import Options, _emit, _local_registry, cli
from .tables import format_table


class _MigrateGroup(click.Group):
    """``migrate FROM ...`` runs the migration; ``migrate scan-plugins PATH`` writes a manifest."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@cli.group(cls=_MigrateGroup)
def migrate() -> None:
    """Migrate Brain-Score's S3 data into this registry, by copy or by verified reference.

    \b
    Examples:
      brainio-dvc migrate scan-plugins vision/brainscore_vision/data -o manifest.csv
      brainio-dvc migrate manifest.csv --reference
      brainio-dvc migrate lookup.csv --copy --jobs 16
    """


@migrate.command("run")
@click.argument("source", metavar="FROM", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--copy", "mode", flag_value="copy", help="Download each object, verify its SHA-1, track and push it.")
@click.option("--reference", "mode", flag_value="reference",
              help="Record each object's source (URL, version, SHA-1, HEAD's size and ETag); "
                   "loads fetch and verify it.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=8, show_default=True, help="Parallel transfers.")
@click.option("--no-head", is_flag=True, help="With --reference: record only what FROM says, without contacting "
              "the source (entries are marked unverified; `catalog check --remote` reports them).")
@click.option("--branch", help="Review branch to commit on (default migrate/<FROM's name>).")
@click.option("--catalog", "catalog_name", help="Catalog of every entry (default: by identifier, as packaging).")
@click.option("--new-version", is_flag=True, help="Replace identifiers the registry holds with other content.")
@click.option("--no-push", is_flag=True, help="--copy: do not push to the DVC remote.")
@click.pass_obj
def migrate_run(options: Options, source: Path, mode: str | None, jobs: int, no_head: bool, branch: str | None,
                catalog_name: str | None, new_version: bool, no_push: bool) -> None:
    """Migrate what FROM lists (a manifest CSV/JSON or a classic BrainIO catalog CSV).

    Entries already migrated are skipped, so a re-run finishes an interrupted one. Exits 1
    when any entry failed (the report says why).

    \b
    Example:
      brainio-dvc migrate manifest.csv --reference && git push origin migrate/manifest
    """
    from ..contribute.migrate import migrate as run_migration

    if mode is None:
        msg = "give --copy or --reference"
        raise click.UsageError(msg)
    report = run_migration(source, _local_registry(options), mode, jobs=jobs, head=not no_head, branch=branch,
                           catalog=catalog_name, new_version=new_version, push=not no_push)

    def render() -> str:
        rows = [{"identifier": o.identifier, "file": o.role, "status": o.status,
                 "reason": o.reason or ", ".join(o.flags), "detail": o.detail or o.source} for o in report.outcomes]
        counts = report.counts()
        summary = f"{counts['migrated']} migrated, {counts['skipped']} skipped, {counts['failed']} failed"
        if report.commit:
            summary += (f"; committed {report.commit[:10]} on branch {report.branch}\n"
                        f"next: git push origin {report.branch} and open a pull request")
        listing = format_table(rows, ["identifier", "file", "status", "reason", "detail"]) + "\n" if rows else ""
        return listing + summary

    _emit(options, report.to_json(), render)
    if report.failed:
        sys.exit(1)


@migrate.command("scan-plugins")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the manifest here (.json: JSON, else CSV); default: standard output.")
@click.pass_obj
def migrate_scan_plugins(options: Options, path: Path, output: Path | None) -> None:
    """Read Brain-Score data plugins (never importing them) into a manifest of their S3 objects.

    Calls that cannot be resolved statically are listed with file and line (exit 1).

    \b
    Example:
      brainio-dvc migrate scan-plugins vision/brainscore_vision/data -o manifest.csv
    """
    from ..contribute.migrate import render_manifest_csv, render_manifest_json, scan_plugins
    from ..formats.atomic import atomic_write_text

    scan = scan_plugins(path)
    text = (render_manifest_json if output is not None and output.suffix == ".json" else render_manifest_csv)(
        scan.entries)
    if output is not None:
        atomic_write_text(output.resolve(), text)
    unresolved = [{"file": u.file, "line": u.line, "reason": u.reason} for u in scan.unresolved]
    if options.as_json:
        click.echo(json.dumps({"files": scan.files, "entries": [e.manifest_row() for e in scan.entries],
                               "unresolved": unresolved, "output": str(output) if output else None}, indent=2))
    else:
        if output is None:
            click.echo(text, nl=False)
        for item in scan.unresolved:
            click.echo(f"unresolved: {item}", err=True)
        click.echo(f"{len(scan.entries)} entries from {scan.files} files"
                   + (f" written to {output}" if output else "") + f"; {len(unresolved)} unresolved", err=True)
    if unresolved:
        sys.exit(1)

