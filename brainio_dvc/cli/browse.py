"""The ``brainio-dvc`` commands that browse a registry: ``cite``, ``search`` and ``site``.

Registered on :data:`brainio_dvc.cli.cli` when that module is imported.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from .core import Options, _emit, cli
from .tables import format_table

_rev_option = click.option("--rev", "local_rev", metavar="REV",
                           help="Branch, tag or commit to read (same as the global --rev).")


@cli.command()
@click.argument("identifier")
@click.option("--format", "style", type=click.Choice(["bibtex", "text", "json"]), default="bibtex", show_default=True,
              help="BibTeX entries, lines of text, or JSON.")
@_rev_option
@click.pass_obj
def cite(options: Options, identifier: str, style: str, local_rev: str | None) -> None:
    """How to cite IDENTIFIER: its paper, and the data pinned to the registry, commit and md5.

    The paper comes from the identifier's card (its BibTeX); the data citation names the
    registry's URL, the commit that --rev resolves to, each file's md5 and the card's DOI.

    \b
    Examples:
      brainio-dvc cite demo.Gabor2024.neural
      brainio-dvc cite demo.Gabor2024.neural --rev v1 --format text
    """
    from ..browse.citations import citation

    found = citation(identifier, rev=local_rev or options.rev, registry=options.registry)
    click.echo(found.format("json" if options.as_json else style), nl=False)


@cli.command()
@click.argument("text", required=False, default="")
@click.option("--species", metavar="S", help="Only identifiers whose card lists this species (or a word of it).")
@click.option("--region", metavar="R", help="Only identifiers whose card lists this brain region.")
@click.option("--kind", metavar="K", type=click.Choice(["assembly", "stimulus_set", "stimulus-set"]),
              help="Only assemblies or only stimulus sets.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many results.")
@_rev_option
@click.pass_obj
def search(options: Options, text: str, species: str | None, region: str | None, kind: str | None,
           limit: int | None, local_rev: str | None) -> None:
    """Search identifiers and their cards (title, species, regions, ...), best match first.

    Every word of TEXT must occur somewhere. Works at any --rev, and offline once the
    registry's catalogs and cards at that commit have been read.

    \b
    Examples:
      brainio-dvc search gabor
      brainio-dvc search --species "Macaca mulatta" --region V4 --kind assembly
    """
    from ..browse.catalog_search import search as run_search

    results = [result.to_dict() for result in run_search(
        text, species=species, region=region, kind=kind, rev=local_rev or options.rev, registry=options.registry,
        limit=limit)]
    _emit(options, results, lambda: format_table(
        [{**row, "species": ", ".join(row["species"]), "regions": ", ".join(row["regions"])} for row in results],
        ["identifier", "kind", "score", "title", "species", "regions"]) if results else "no matches")


@cli.command()
@click.option("-o", "--output", "output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory to write the site into.")
@click.option("--url", metavar="URL", help="Registry URL for import lines and citations (default: the registry's "
              "git URL, or its origin's).")
@click.option("--thumbnails", type=click.IntRange(min=0), default=12, show_default=True,
              help="Thumbnails per stimulus set (0: none, and nothing downloaded).")
@_rev_option
@click.pass_obj
def site(options: Options, output: Path, url: str | None, thumbnails: int, local_rev: str | None) -> None:
    """Write a static catalog site: an index with search and filters, one page per identifier.

    Pages need no server and load nothing from the network: open OUTPUT/index.html, or
    publish OUTPUT on GitHub Pages (.github/workflows/site.yml does it on each push).

    \b
    Example:
      brainio-dvc site -o _site && xdg-open _site/index.html
    """
    from ..browse.site import build_site

    report = build_site(output, rev=local_rev or options.rev, registry=options.registry, url=url, thumbnails=thumbnails)
    data = {"index": str(report.index), "pages": [str(page) for page in report.pages], "thumbnails": report.thumbnails}
    if options.as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(f"wrote {len(report.pages)} pages and {report.thumbnails} thumbnails: {report.index}")
