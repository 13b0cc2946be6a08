"""How to cite an identifier: its paper (from its card) and the data, pinned to a commit.

:func:`citation` looks the identifier up (I/O); a :class:`Citation` formats itself as BibTeX,
text or JSON (pure).  The data citation names the registry's URL, the commit, the md5 of each
file and, when the card has one, the DOI (``data_doi``, else the paper's).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..exceptions import BrainioDvcError, ValidationError

if TYPE_CHECKING:
    from ..store.registry import Registry

__all__ = ["FORMATS", "Citation", "cite", "citation", "public_url"]

logger = logging.getLogger(__name__)

FORMATS = ("bibtex", "text", "json")


@dataclass(frozen=True)
class Citation:
    """The facts a citation of one identifier is made of."""

    identifier: str
    kind: str
    registry: str
    commit: str
    date: str
    files: list[dict[str, str]] = field(default_factory=list)
    title: str = ""
    paper_bibtex: str = ""
    paper_text: str = ""
    doi: str = ""
    data_doi: str = ""
    paper_url: str = ""
    authors: str = ""

    @property
    def key(self) -> str:
        return f"{self.identifier}:{self.commit[:10]}"

    def data_bibtex(self) -> str:
        """A ``@misc`` entry for the data at this commit."""
        from ..formats.bibtex import format_entry

        doi = self.data_doi or ""
        files = _files(self.files)
        note = f"brainio-dvc registry {self.registry}, commit {self.commit}; {files}"
        if self.doi and not self.data_doi:
            note += f"; described in doi:{self.doi}"
        title = f"{self.identifier}: {self.title}" if self.title else self.identifier
        return format_entry("misc", self.key, {
            "title": f"{{{title}}}",
            "author": self.authors,
            "year": self.date[:4],
            "howpublished": f"\\url{{{self.registry}}}",
            "version": self.commit,
            "doi": doi,
            "url": self.registry if "://" in self.registry else "",
            "note": note,
        })

    def data_text(self) -> str:
        """One line: what, where, which commit, which bytes."""
        kind = self.kind.replace("_", " ")
        files = _files(self.files)
        text = f"{self.title + '. ' if self.title else ''}{self.identifier} ({kind}), brainio-dvc registry " \
               f"{self.registry}, commit {self.commit} ({self.date[:10]}); {files}."
        doi = self.data_doi or self.doi
        return text + (f" https://doi.org/{doi}" if doi else "")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "data_bibtex": self.data_bibtex(), "data_text": self.data_text()}

    def format(self, style: str = "bibtex") -> str:
        """The citation as ``bibtex`` (paper entry, then data entry), ``text`` or ``json``."""
        if style == "bibtex":
            return "\n\n".join(part for part in (self.paper_bibtex, self.data_bibtex()) if part) + "\n"
        if style == "text":
            paper = self.paper_text or "(the card names no paper)"
            return f"Paper: {paper}\nData: {self.data_text()}\n"
        if style == "json":
            return json.dumps(self.to_dict(), indent=2) + "\n"
        msg = "citation format"
        raise ValidationError(msg, "one of " + ", ".join(FORMATS), repr(style))


def _files(files: list[dict[str, str]]) -> str:
    """Each file's path and digest: its md5, or its SHA-1 for a reference to an S3 object."""
    return "; ".join(
        f"{entry['path']} md5 {entry['md5']}" if entry.get("md5") else f"{entry['path']} sha1 {entry.get('sha1', '')}"
        for entry in files
    )


def public_url(registry: Registry) -> str:
    """The URL to cite a registry by: its git URL, or for a working tree its ``origin``'s URL
    (its path when it has no origin)."""
    if not registry.is_local:
        return registry.label
    return registry.git.config_value("remote.origin.url") or registry.label


def _commit_date(registry: Registry, commit: str) -> str:
    return registry.git.commit_date(commit)


def citation(identifier: str, rev: str | None = None, registry: str | None = None, url: str | None = None) -> Citation:
    """The :class:`Citation` of ``identifier`` at ``rev`` of ``registry`` (default: the
    configured registries at their default branch).  ``url`` replaces the registry's URL."""
    from ..cards import cards_at
    from ..formats.bibtex import parse_bibtex, text_citation
    from ..lookup import lookup_identifier
    from ..store.registry import open_registry

    rows = lookup_identifier(identifier, rev=rev, registry=registry)
    first = rows[0]
    if not first.get("registry"):
        msg = f"{identifier!r} comes from an installed catalog, not a registry: there is no commit to cite"
        raise BrainioDvcError(
            msg
        )
    source = open_registry(str(first["registry"]))
    commit = str(first["rev"])
    kind = str(first["lookup_type"])
    card = cards_at(source, commit, rows).get((kind, identifier), {})
    if not card:
        logger.info("%s %r has no card at %s: citing the data only", kind, identifier, commit[:10])
    paper_bibtex = str(card.get("bibtex", ""))
    paper_text, authors = "", ""
    if paper_bibtex:
        entries = parse_bibtex(paper_bibtex, f"card of {identifier!r}")
        if entries:
            paper_text, authors = text_citation(entries[0]), entries[0].get("author")
    if not paper_text and (card.get("doi") or card.get("paper_url")):
        paper_text = f"https://doi.org/{card['doi']}" if card.get("doi") else str(card["paper_url"])
    return Citation(
        identifier=identifier,
        kind=kind,
        registry=url or public_url(source),
        commit=commit,
        date=_commit_date(source, commit),
        files=[{"path": str(row["location"]), "md5": str(row.get("md5") or ""), "sha1": str(row.get("sha1") or "")}
               for row in rows],
        title=str(card.get("title", "")),
        paper_bibtex=paper_bibtex.strip(),
        paper_text=paper_text,
        doi=str(card.get("doi", "")),
        data_doi=str(card.get("data_doi", "")),
        paper_url=str(card.get("paper_url", "")),
        authors=authors,
    )


def cite(identifier: str, rev: str | None = None, registry: str | None = None, format: str = "bibtex") -> str:
    """How to cite ``identifier``: the paper's BibTeX and a data citation pinned to the
    registry URL, the commit and the md5 (``format``: ``bibtex``, ``text`` or ``json``).

    >>> print(brainio_dvc.cite("demo.Gabor2024.neural", format="text"))  # doctest: +SKIP
    """
    if format not in FORMATS:
        msg = "citation format"
        raise ValidationError(msg, "one of " + ", ".join(FORMATS), repr(format))
    return citation(identifier, rev=rev, registry=registry).format(format)
