"""Build the static site: gather each identifier's facts (I/O), then render them (Jinja2)."""

from __future__ import annotations

import io
import json
import logging
import shutil
import zipfile
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ...exceptions import BrainioDvcError
from ...formats.catalog_csv import TYPE_ASSEMBLY, csv_first

__all__ = ["SiteReport", "build_site", "page_path"]

logger = logging.getLogger(__name__)

#: Thumbnails per stimulus set, and their longest side in pixels.
THUMBNAILS = 12
THUMBNAIL_SIZE = 96
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp")
_MAX_MEMBER_BYTES = 64 * 2**20


@dataclass
class SiteReport:
    """What :func:`build_site` wrote."""

    output: Path
    index: Path
    pages: list[Path] = field(default_factory=list)
    thumbnails: int = 0


def page_path(kind: str, identifier: str) -> PurePosixPath:
    """An identifier's page, relative to the site's root."""
    return PurePosixPath(kind, f"{identifier}.html")


def _size(value: int | None) -> str:
    if not value:
        return ""
    number = float(value)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if number < 1000 or unit == "TB":
            return f"{number:.0f} {unit}" if unit == "B" else f"{number:.1f} {unit}"
        number /= 1000
    return ""


def _versions(
    registry: Any, rows: Sequence[Mapping[str, Any]], commit: str, tags: Mapping[str, list[str]]
) -> list[dict[str, Any]]:
    """Every commit that changed one of the identifier's files, newest first, with each file's md5."""
    from ..history import file_history, role_of

    by_commit: dict[str, dict[str, Any]] = {}
    for row in rows:
        for entry in file_history(registry, str(row["location"]), rev=commit):
            version = by_commit.setdefault(
                entry["commit"], {**entry, "md5s": {}, "tags": tags.get(entry["commit"], [])}
            )
            version["md5s"][role_of(row)] = entry["md5"]
    return sorted(by_commit.values(), key=lambda version: version["date"], reverse=True)


def _thumbnails(zip_row: Mapping[str, Any], identifier: str, target: Path, count: int) -> list[dict[str, str]]:
    """Write up to ``count`` thumbnails of a stimulus set's images (spread over its ZIP)."""
    from PIL import Image, UnidentifiedImageError

    from ...fetch import fetch_row

    try:
        archive = fetch_row(zip_row, identifier)
    except BrainioDvcError as error:
        logger.warning("no thumbnails for %s: %s", identifier, error)
        return []
    written = []
    with zipfile.ZipFile(archive) as opened:
        members = sorted(
            info.filename for info in opened.infolist()
            if info.filename.lower().endswith(_IMAGE_SUFFIXES) and info.file_size <= _MAX_MEMBER_BYTES
        )
        step = max(1, len(members) / count) if members else 1
        sample = [members[int(number * step)] for number in range(min(count, len(members)))]
        target.mkdir(parents=True, exist_ok=True)
        for number, name in enumerate(sample):
            try:
                with Image.open(io.BytesIO(opened.read(name))) as image:
                    image.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
                    image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB").save(target / f"{number}.png")
            except (UnidentifiedImageError, OSError, ValueError) as error:
                logger.warning("no thumbnail for %s in %s: %s", name, identifier, error)
                continue
            written.append({"file": f"{number}.png", "name": PurePosixPath(name).name})
    return written


def _usage(entry: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], url: str) -> dict[str, Any]:
    commit = entry["rev"]
    loader = "get_assembly" if entry["kind"] == TYPE_ASSEMBLY else "get_stimulus_set"
    return {
        # A reference to an S3 object (``migrate --reference``, no md5) is not on the DVC remote.
        "dvc_import": [f"dvc import {url} {row['location']} --rev {commit}" for row in rows if row.get("md5")],
        "python": f"brainio_dvc.{loader}({entry['identifier']!r}, rev={commit!r}, registry={url!r})",
    }


def _facts(entry: Mapping[str, Any], card: Mapping[str, Any]) -> list[tuple[str, str]]:
    derived = card.get("derived", {})
    facts = [("class", entry["class"] or derived.get("class", ""))]
    if derived.get("dims"):
        sizes = zip(derived["dims"], derived["shape"], strict=False)
        facts.append(("dims", " × ".join(f"{dim} {size}" for dim, size in sizes)))
    facts += [("dtype", derived.get("dtype", "")), ("stimuli", str(derived.get("stimuli", "")))]
    if derived.get("columns"):
        facts.append(("columns", ", ".join(derived["columns"])))
    facts += [("file size", _size(derived.get("file_size") or entry["size"])),
              ("in memory (estimate)", _size(derived.get("memory_size")))]
    return [(name, value) for name, value in facts if value]


def _gather(rev: str | None, registry: str | None, url: str | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every entry, with what its page shows, and the facets of the index's filters."""
    from ...store.registry import open_registry
    from ..catalog_search import entries, rows_and_cards
    from ..citations import citation, public_url
    from ..history import tags_by_commit

    rows, cards = rows_and_cards(rev, registry)
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[(str(row["lookup_type"]), str(row["identifier"]))].append(row)
    found = entries(rows, cards)
    used_by: dict[str, list[str]] = defaultdict(list)
    for entry in found:
        if entry["kind"] == TYPE_ASSEMBLY and entry["stimulus_set"]:
            used_by[entry["stimulus_set"]].append(entry["identifier"])
    tags: dict[str, dict[str, list[str]]] = {}
    for entry in found:
        key = (entry["kind"], entry["identifier"])
        entry_rows = csv_first(grouped[key])
        entry["page"] = page_path(*key).as_posix()
        entry["card"] = cards.get(key, {})
        entry["facts"] = _facts(entry, entry["card"])
        entry["used_by"] = sorted(used_by.get(entry["identifier"], [])) if entry["kind"] != TYPE_ASSEMBLY else []
        entry["rows"] = entry_rows
        if not entry["registry"]:
            entry.update(versions=[], usage=None, citation=None)
            continue
        source = open_registry(entry["registry"])
        if source.label not in tags:
            tags[source.label] = tags_by_commit(source)
        cited = citation(entry["identifier"], rev=entry["rev"], registry=entry["registry"], url=url)
        entry["versions"] = _versions(source, entry_rows, entry["rev"], tags[source.label])
        entry["usage"] = _usage(entry, entry_rows, url or public_url(source))
        entry["citation"] = {"text": cited.format("text"), "bibtex": cited.format("bibtex")}
    facets = {
        "species": sorted({value for entry in found for value in entry["species"]}, key=str.lower),
        "regions": sorted({value for entry in found for value in entry["regions"]}, key=str.lower),
    }
    return found, facets


def _environment() -> Any:
    from jinja2 import Environment, PackageLoader, select_autoescape

    environment = Environment(
        loader=PackageLoader("brainio_dvc.browse.site", "templates"), autoescape=select_autoescape(["html"]),
        trim_blocks=True, lstrip_blocks=True,
    )
    environment.filters["size"] = _size
    return environment


def _asset(name: str) -> Any:
    from importlib.resources import files

    from markupsafe import Markup

    return Markup(files("brainio_dvc.browse.site").joinpath("templates", name).read_text(encoding="utf-8"))


def _embedded_json(value: Any) -> Any:
    """JSON safe inside ``<script type="application/json">`` (no ``</script>`` can end it)."""
    from markupsafe import Markup

    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def build_site(
    output: str | Path,
    rev: str | None = None,
    registry: str | None = None,
    url: str | None = None,
    thumbnails: int = THUMBNAILS,
) -> SiteReport:
    """Write the static site of the registries (default: the configured ones) at ``rev``.

    :param output: the directory to write (its ``index.html``, pages and thumbnails are replaced).
    :param url: the registry URL that import lines and citations give (default: the registry's
        git URL, or its ``origin`` for a working tree).
    :param thumbnails: how many thumbnails to show per stimulus set (0: none, and no download).
    """
    from ..catalog_search import WEIGHTS

    output = Path(output)
    found, facets = _gather(rev, registry, url)
    environment = _environment()
    common = {"css": _asset("site.css"), "weights": WEIGHTS}
    report = SiteReport(output=output, index=output / "index.html")
    for kind in {entry["kind"] for entry in found} | {"assembly", "stimulus_set"}:
        shutil.rmtree(output / kind, ignore_errors=True)
    shutil.rmtree(output / "thumbs", ignore_errors=True)
    output.mkdir(parents=True, exist_ok=True)
    for entry in found:
        entry["thumbnails"] = []
        zip_rows = [row for row in entry["rows"] if entry["kind"] != TYPE_ASSEMBLY and not row.get("class")]
        if thumbnails and zip_rows:
            directory = PurePosixPath("thumbs", entry["identifier"])
            written = _thumbnails(zip_rows[0], entry["identifier"], output / directory, thumbnails)
            entry["thumbnails"] = [{"src": f"../{directory}/{item['file']}", "name": item["name"]} for item in written]
            report.thumbnails += len(written)
        page = output / entry["page"]
        page.parent.mkdir(parents=True, exist_ok=True)
        html = environment.get_template("dataset.html").render(entry=entry, root="../", **common)
        page.write_text(html, encoding="utf-8")
        report.pages.append(page)
    searchable = [{name: entry[name] for name in (*WEIGHTS, "kind", "page")} for entry in found]
    report.index.write_text(environment.get_template("index.html").render(
        entries=found, facets=facets, data=_embedded_json({"entries": searchable, "weights": WEIGHTS}),
        script=_asset("site.js"), root="", **common,
    ), encoding="utf-8")
    (output / ".nojekyll").touch()
    logger.info("wrote %d pages and %d thumbnails into %s", len(report.pages), report.thumbnails, output)
    return report
