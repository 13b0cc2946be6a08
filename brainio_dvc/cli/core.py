"""The ``brainio-dvc`` command line. The only module that prints.

Exit codes: 0 success, 1 problems found or an operation failed, 2 usage error.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click

from ..exceptions import BrainioDvcError, RegistryError
from ..progress import ProgressEvent
from .tables import format_table

logger = logging.getLogger(__name__)


@dataclass
class Options:
    registry: str | None
    rev: str | None
    as_json: bool


class _Group(click.Group):
    """Turns brainio_dvc errors into a one-line message and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrainioDvcError as error:
            raise click.ClickException(str(error)) from error


class _TerminalProgress:
    """Renders progress events on one terminal line; used only when stderr is a terminal."""

    def __init__(self) -> None:
        self._last: tuple[str, str, int] | None = None

    def __call__(self, event: ProgressEvent) -> None:
        if event.total:
            percent = int(100 * event.done / event.total)
            amount = f"{percent:3d}% of {_size(event.total) if event.unit == 'B' else f'{event.total} {event.unit}'}"
        else:
            percent = -1
            amount = _size(event.done) if event.unit == "B" and event.done else "..."
        key = (event.task, event.description, percent)
        if key == self._last and not event.finished:
            return
        self._last = key
        line = f"\r{event.task} {event.description}: {amount}"
        click.echo(line.ljust(79), err=True, nl=event.finished)


def _emit(options: Options, data: Any, render: Callable[[], str]) -> None:
    if options.as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        click.echo(render())


def _size(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    for unit in ("B", "kB", "MB", "GB"):
        if number < 1000 or unit == "GB":
            return f"{number:.0f} {unit}" if unit == "B" else f"{number:.1f} {unit}"
        number /= 1000
    return ""


def _local_registry(options: Options) -> Path:
    """The working tree of the registry to change: --registry, or the one around the cwd."""
    from ..store.registry import find_registry_root, is_git_url

    if options.registry and is_git_url(options.registry):
        raise RegistryError(options.registry, "this command changes a registry: give its local working tree")
    start = Path(options.registry or ".").resolve()
    root = find_registry_root(start)
    if root is None:
        raise RegistryError(
            str(start), "not inside a registry (a git working tree with .dvc/); `brainio-dvc init` makes one"
        )
    return root


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--registry", "-r", metavar="PATH|URL",
              help="Registry to use (default: configured ones, else the one around the current directory).")
@click.option("--rev", metavar="REV",
              help="Branch, tag or commit to read (default: the default branch or BRAINIO_DVC_REV).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
@click.version_option(package_name="brainio-dvc")
@click.pass_context
def cli(ctx: click.Context, registry: str | None, rev: str | None, as_json: bool, verbose: int) -> None:
    """Versioned BrainIO stimulus sets and assemblies in a DVC/git registry.

    \b
    Example:
      brainio-dvc --registry https://github.com/lab/registry list
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    ctx.obj = Options(registry=registry, rev=rev, as_json=as_json)
    if sys.stderr.isatty():
        from ..progress import subscribe

        ctx.with_resource(subscribe(_TerminalProgress()))


@cli.command("list")
@click.pass_obj
def list_command(options: Options) -> None:
    """List every stimulus set and assembly.

    \b
    Example:
      brainio-dvc --rev v2 list
    """
    from ..browse.listing import list_artifacts

    entries = list_artifacts(rev=options.rev, registry=options.registry)
    listing = [entry.as_dict() for entry in entries]
    _emit(options, listing, lambda: format_table([{**e, "size": _size(e["size"])} for e in listing],
                                           ["identifier", "type", "class", "catalog", "stimulus_set", "size"]))


@cli.command()
@click.argument("identifier")
@click.pass_obj
def show(options: Options, identifier: str) -> None:
    """Describe one identifier: class, sizes, shape, history and the dvc import command.

    \b
    Example:
      brainio-dvc show demo.Gabor2024.neural
    """
    from ..browse.listing import describe_identifier

    described = describe_identifier(identifier, rev=options.rev, registry=options.registry)
    details = [file.as_dict() for file in described.files]
    data = {"identifier": identifier, "type": described.type, "registry": described.registry,
            "rev": described.rev, "files": details}

    def render() -> str:
        lines = [f"{identifier} ({data['type']}, {described.class_name})"]
        if data["registry"]:
            lines.append(f"registry: {data['registry']} at {data['rev']}")
        for detail in details:
            lines.append(f"\nfile: {detail['file']}  {_size(detail['size'])}  md5 {detail['md5']}")
            if "dims" in detail:
                sizes = ", ".join(f"{d}={n}" for d, n in zip(detail["dims"], detail["shape"], strict=True))
                lines.append(f"dims: {sizes}  ({detail['dtype']})")
            if "stimuli" in detail:
                lines.append(f"stimuli: {detail['stimuli']}")
            if detail["dvc_import"]:
                lines.append(f"import: {detail['dvc_import']}")
            if detail["history"]:
                lines.append("revisions that changed it:")
                lines.append(format_table(detail["history"], ["commit", "date", "md5", "subject"]))
        return "\n".join(lines)

    _emit(options, data, render)


@cli.command()
@click.argument("identifier")
@click.option("-o", "--output", "output", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Directory to copy the files into.")
@click.pass_obj
def get(options: Options, identifier: str, output: Path) -> None:
    """Download an identifier's files (through the cache) and copy them into a directory.

    \b
    Example:
      brainio-dvc get demo.Gabor2024 --rev main -o data/
    """
    from ..fetch import fetch_row
    from ..lookup import lookup_identifier

    output.mkdir(parents=True, exist_ok=True)
    copied = []
    for row in lookup_identifier(identifier, rev=options.rev, registry=options.registry):
        cached = fetch_row(row, identifier)
        target = output / Path(str(row["location"])).name
        shutil.copyfile(cached, target)
        copied.append({"identifier": identifier, "file": str(target), "md5": row.get("md5") or "",
                       "rev": row.get("rev") or ""})
    _emit(options, copied, lambda: "\n".join(entry["file"] for entry in copied))


@cli.command()
@click.argument("identifier")
@click.pass_obj
def log(options: Options, identifier: str) -> None:
    """The history of one identifier: every commit that changed its files.

    \b
    Example:
      brainio-dvc log demo.Gabor2024.neural
    """
    from ..browse.history import identifier_history

    revisions = identifier_history(identifier, rev=options.rev, registry=options.registry)
    entries = [asdict(revision) for revision in revisions]
    _emit(options, entries, lambda: format_table(entries, ["commit", "date", "author", "md5", "file", "subject"]))


@cli.command()
@click.argument("rev_a")
@click.argument("rev_b")
@click.pass_obj
def diff(options: Options, rev_a: str, rev_b: str) -> None:
    """Identifiers added, removed and changed between two revisions, with their md5.

    \b
    Example:
      brainio-dvc diff v1 v2
    """
    from ..browse.history import diff_revisions

    changes = [asdict(change) for change in diff_revisions(rev_a, rev_b, registry=options.registry)]
    columns = ["status", "identifier", "lookup_type", "role", "md5_before", "md5_after"]
    _emit(options, changes, lambda: format_table(changes, columns) if changes else "no differences")


@cli.command()
@click.argument("identifiers", nargs=-1)
@click.pass_obj
def verify(options: Options, identifiers: tuple[str, ...]) -> None:
    """Re-hash cached files now; corrupt ones are removed so that the next load fetches them again.

    Without identifiers, every file in the cache is checked. The stimuli extracted from a
    stimulus set's ZIP are compared with it file by file; corrupt extractions are removed so
    that the next load extracts again. Every filename of a stimulus set's CSV must also be a
    file of its ZIP (without identifiers: every stimulus set of the catalogs whose CSV and ZIP
    are both cached). Exits 1 if anything was corrupt.

    \b
    Example:
      brainio-dvc verify demo.Gabor2024.neural
    """
    from ..browse.listing import catalog_rows
    from ..contribute.checks import verify_cache
    from ..lookup import lookup_identifier

    if identifiers:
        rows = [row for identifier in identifiers
                for row in lookup_identifier(identifier, options.rev, options.registry)]
        verified = verify_cache(rows)
    else:  # every cached file; the pairs of the catalogs' stimulus sets, where both files are cached
        verified = verify_cache(None, pair_rows=catalog_rows(options.rev, options.registry))
    results = [asdict(verification) for verification in verified]
    _emit(options, results, lambda: format_table(results, ["kind", "algorithm", "digest", "status"])
          if results else "the cache is empty")
    if any(verification.corrupt for verification in verified):
        sys.exit(1)


@cli.group()
def catalog() -> None:
    """Generate and check the registry's lookup CSVs."""


@catalog.command("build")
@click.pass_obj
def catalog_build(options: Options) -> None:
    """Regenerate catalogs/<catalog>/lookup.csv from the .dvc files.

    \b
    Example:
      brainio-dvc catalog build
    """
    from ..contribute.catalog_build import write_catalogs

    written = write_catalogs(_local_registry(options))
    _emit(options, {name: str(path) for name, path in written.items()},
          lambda: "\n".join(f"{name}: {path}" for name, path in written.items()) or "no catalogs")


def _default_base(root: Path) -> str:
    from ..contribute.checks import default_base

    base = default_base(root)
    if base is None:
        msg = "--strict needs --base REV: no origin/HEAD, main or master to compare with"
        raise click.UsageError(msg)
    return base


@catalog.command("check")
@click.option("--remote", is_flag=True, help="Also verify that every artifact is on the default DVC remote.")
@click.option("--strict", is_flag=True, help="Fail on identifiers new since --base that break the naming convention.")
@click.option("--base", metavar="REV", help="Revision that --strict compares with (default origin/HEAD, else main).")
@click.pass_obj
def catalog_check(options: Options, remote: bool, strict: bool, base: str | None) -> None:
    """Exit 1 and list every problem: out-of-sync CSVs, duplicates, missing files, unknown classes.

    Identifiers that break the naming convention <lab>.<FirstAuthorYYYY>[.<variant>] are
    warnings (exit 0); with --strict, those new since --base are problems.

    \b
    Example (the pull-request check):
      brainio-dvc catalog check --remote
      brainio-dvc catalog check --strict --base origin/main
    """
    from ..contribute.checks import check_registry

    root = _local_registry(options)
    report = check_registry(root, remote=remote, strict=strict,
                            base=base or (lambda: _default_base(root)))
    problems, warnings = report.problems, report.warnings
    data = {"registry": str(root), "artifacts": report.artifacts, "problems": problems,
            "warnings": warnings}
    _emit(options, data,
          lambda: "\n".join([*(f"warning: {w}" for w in warnings), *(f"problem: {p}" for p in problems)]
                            + ([] if problems else [f"ok: {report.artifacts} artifacts in {root}"])))
    if problems:
        sys.exit(1)


@cli.command()
@click.pass_obj
def demo(options: Options) -> None:
    """The main job on the embedded registry: list, load, and load two pinned versions.

    \b
    Example (from a clone of brainio-dvc):
      brainio-dvc demo
    """
    from .demo import run_demo

    run_demo(_local_registry(options), click.echo)


def main() -> None:
    cli(prog_name="brainio-dvc")
