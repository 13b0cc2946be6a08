"""The ``brainio-dvc`` commands of an analysis repository: ``lock`` and ``why``.

Registered on :data:`brainio_dvc.cli.cli` when that module is imported.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .core import Options, _emit, cli
from .tables import format_table


@cli.command("lock")
@click.argument("specs", nargs=-1, metavar="[ID[@REV] ...]")
@click.option("--update", "update_", is_flag=True, help="Move pins to the default revision (or @REV).")
@click.option("--check", "check_", is_flag=True,
              help="Exit 1 naming every locked artifact that no longer resolves as locked.")
@click.option("--export-citations", "citations", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write BibTeX for everything locked, pinned to its commit.")
@click.option("--file", "lock_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Lock file (default: brainio.lock at the root of the repository around the current directory).")
@click.pass_obj
def lock_command(options: Options, specs: tuple[str, ...], update_: bool, check_: bool, citations: Path | None,
                 lock_file: Path | None) -> None:
    """Pin identifiers to registry commits in brainio.lock; loads here then follow it.

    An assembly brings its stimulus set. Without @REV, an identifier is pinned at its
    `dvc import`'s revision if this repository has one, else at the default revision
    (--rev, the rev setting or the default branch) of --registry or the configured registries.

    \b
    Examples:
      brainio-dvc --registry https://github.com/lab/registry lock demo.Gabor2024.neural@v1
      brainio-dvc lock --update demo.Gabor2024.neural@v2
      brainio-dvc lock --check                  # in CI: exit 1 if anything moved or is gone
      brainio-dvc lock --export-citations refs.bib
    """
    from .. import lock as locking

    if sum((update_, check_, citations is not None)) > 1:
        msg = "use one of --update, --check and --export-citations at a time"
        raise click.UsageError(msg)
    if (check_ or citations) and specs:
        msg = "--check and --export-citations take no identifiers: they use the whole lock file"
        raise click.UsageError(msg)
    path = lock_file or locking.default_lock_path()
    if check_:
        problems = locking.check(path)
        count = len(locking.read(path).entries)
        _emit(options, {"lock": str(path), "artifacts": count, "problems": problems},
              lambda: "\n".join(f"problem: {problem}" for problem in problems) if problems
              else f"ok: {count} locked artifacts in {path} resolve as locked")
        if problems:
            sys.exit(1)
        return
    if citations:
        written = locking.export_citations(citations, path)
        _emit(options, {"file": str(citations), "entries": written},
              lambda: f"wrote {written} citations to {citations}")
        return
    if update_:
        entries = locking.update(specs, path, rev=options.rev)
    elif not specs:
        msg = "give identifiers to lock (ID or ID@REV), or --update, --check or --export-citations"
        raise click.UsageError(msg)
    else:
        entries = locking.lock(specs, path, registry=options.registry, rev=options.rev)
    listing = [{"identifier": entry.identifier, "type": entry.kind, "registry": entry.registry,
                "rev": entry.rev or "", "commit": entry.commit} for entry in entries]
    _emit(options, {"lock": str(path), "locked": listing}, lambda: (
        format_table([{**row, "commit": row["commit"][:10]} for row in listing],
                     ["identifier", "type", "rev", "commit", "registry"]) + f"\nwritten to {path}"
        if listing else f"nothing changed in {path}"))


@cli.command()
@click.argument("identifier")
@click.pass_obj
def why(options: Options, identifier: str) -> None:
    """Which rule decides what a load of IDENTIFIER gets here, and where that leads.

    The rules, highest first: explicit --rev/--registry, the lock file, a `dvc import`,
    the configuration, the registry around the current directory.

    \b
    Example:
      brainio-dvc why demo.Gabor2024.neural
    """
    from ..lock import why as explain

    found = explain(identifier, rev=options.rev, registry=options.registry)

    def render() -> str:
        requested = found["requested"]
        lines = [f"{identifier} ({found['kind']}): decided by {found['rule']}: {found['source']}",
                 f"registry: {found['registry']}",
                 f"commit: {found['commit']}" + (f" ({requested})" if requested not in (None, found["commit"]) else "")]
        for item in found["files"]:
            lines.append(f"file: {item['path']}  md5 {item['md5']}"
                         + (f"  local copy {item['local']}" if item["local"] else "  (not downloaded yet)"))
        return "\n".join(lines)

    _emit(options, found, render)
