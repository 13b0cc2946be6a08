"""Search a registry's identifiers and cards, ranked.

:func:`entries` gathers one entry per identifier from catalog rows and cards, and
:func:`rank` scores entries against a query; both are pure, and the static site runs the same
scoring in the browser on the same entries and :data:`WEIGHTS`.  :func:`search` does the I/O:
catalogs and cards at a commit, both cached per commit, so a warm search works offline and
starts no git process.

Scoring: the query is split into words; every word must occur in some field of an entry.  A
word scores the weight of the best field it occurs in, doubled when it is a whole word there;
the whole query equal to the identifier adds 100.  Ties go in identifier order.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from ..exceptions import ValidationError
from ..formats.catalog_csv import TYPE_ASSEMBLY, TYPE_STIMULUS_SET
from .listing import parse_size

__all__ = [
    "WEIGHTS", "SearchResult", "entries", "normalize_kind", "rank", "registry_entries", "rows_and_cards", "search",
]

#: How much a word found in each searchable field counts.
WEIGHTS: dict[str, int] = {
    "identifier": 8, "title": 6, "species": 4, "regions": 4, "keywords": 4, "modality": 3,
    "recording_method": 3, "authors": 3, "catalog": 2, "class": 2, "description": 1,
}
_EXACT_IDENTIFIER = 100
_WORD = re.compile(r"[^\W_]+")
_KINDS = {
    "assembly": TYPE_ASSEMBLY, "assemblies": TYPE_ASSEMBLY,
    "stimulus_set": TYPE_STIMULUS_SET, "stimulus-set": TYPE_STIMULUS_SET, "stimulus_sets": TYPE_STIMULUS_SET,
    "stimulus set": TYPE_STIMULUS_SET, "stimulus-sets": TYPE_STIMULUS_SET, "stimuli": TYPE_STIMULUS_SET,
}


@dataclass(frozen=True)
class SearchResult:
    """One identifier that matched, with its score and what it is."""

    identifier: str
    kind: str
    score: int
    title: str
    species: tuple[str, ...]
    regions: tuple[str, ...]
    catalog: str
    class_name: str
    registry: str
    rev: str

    def to_dict(self) -> dict[str, Any]:
        return {"identifier": self.identifier, "kind": self.kind, "score": self.score, "title": self.title,
                "species": list(self.species), "regions": list(self.regions), "catalog": self.catalog,
                "class": self.class_name, "registry": self.registry, "rev": self.rev}


def normalize_kind(kind: str | None) -> str | None:
    """``assembly`` or ``stimulus_set`` for the ways people write them; None stays None."""
    if kind is None or kind == "":
        return None
    found = _KINDS.get(kind.strip().lower())
    if found is None:
        msg = "kind"
        raise ValidationError(msg, "assembly or stimulus_set", repr(kind))
    return found


def _authors(card: Mapping[str, Any]) -> str:
    from ..formats.bibtex import parse_bibtex, plain_text

    bibtex = card.get("bibtex")
    if not bibtex:
        return ""
    try:
        found = parse_bibtex(str(bibtex))
    except ValidationError:
        return ""
    return plain_text(found[0].get("author")) if found else ""


def entries(
    rows: Iterable[Mapping[str, Any]], cards: Mapping[tuple[str, str], Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One searchable entry per (kind, identifier), sorted by identifier then kind."""
    grouped: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[(str(row["lookup_type"]), str(row["identifier"]))].append(row)
    found = []
    for (kind, identifier), group in sorted(grouped.items(), key=lambda item: (item[0][1], item[0][0])):
        card = cards.get((kind, identifier), {})
        first = group[0]
        class_name = next((str(row["class"]) for row in group if row.get("class")), "")
        found.append({
            "identifier": identifier,
            "kind": kind,
            "catalog": str(first.get("catalog") or first.get("source_catalog") or ""),
            "class": class_name,
            "registry": str(first.get("registry") or ""),
            "rev": str(first.get("rev") or ""),
            "stimulus_set": str(first.get("stimulus_set_identifier") or ""),
            "size": sum(parse_size(row.get("size")) for row in group),
            "title": str(card.get("title", "")),
            "description": str(card.get("description", "")),
            "species": list(card.get("species", [])),
            "regions": list(card.get("regions", [])),
            "keywords": list(card.get("keywords", [])),
            "modality": str(card.get("modality", "")),
            "recording_method": str(card.get("recording_method", "")),
            "authors": _authors(card),
            "has_card": bool(card),
        })
    return found


def _text(value: Any) -> str:
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)


def _term_score(term: str, entry: Mapping[str, Any]) -> int:
    best = 0
    for name, weight in WEIGHTS.items():
        text = _text(entry.get(name, "")).lower()
        if term in text:
            whole = term in _WORD.findall(text)
            best = max(best, weight * (2 if whole else 1))
    return best


def _matches_any(wanted: str | None, values: Sequence[str]) -> bool:
    """Whether ``wanted`` equals one of ``values`` or one of its words, ignoring case."""
    if not wanted:
        return True
    wanted = wanted.strip().lower()
    return any(wanted == value.lower() or wanted in value.lower().split() for value in values)


def rank(
    found: Iterable[Mapping[str, Any]],
    text: str = "",
    species: str | None = None,
    region: str | None = None,
    kind: str | None = None,
) -> list[tuple[int, Mapping[str, Any]]]:
    """(score, entry) for the entries that match ``text`` and the filters, best first."""
    kind = normalize_kind(kind)
    terms = _WORD.findall(text.lower())
    query = text.strip().lower()
    ranked = []
    for entry in found:
        if kind and entry["kind"] != kind:
            continue
        if not (_matches_any(species, entry.get("species", [])) and _matches_any(region, entry.get("regions", []))):
            continue
        scores = [_term_score(term, entry) for term in terms]
        if not all(scores):
            continue
        score = sum(scores) + (_EXACT_IDENTIFIER if query and query == str(entry["identifier"]).lower() else 0)
        ranked.append((score, entry))
    ranked.sort(key=lambda item: (-item[0], str(item[1]["identifier"]), str(item[1]["kind"])))
    return ranked


def rows_and_cards(
    rev: str | None = None, registry: str | None = None
) -> tuple[list[dict[str, Any]], dict[tuple[str, str], Mapping[str, Any]]]:
    """Every catalog row of the registries (default: the configured ones) at ``rev``, and the
    cards of their identifiers by (kind, identifier)."""
    from ..cards import cards_at
    from ..lookup import combined_catalog
    from ..store.registry import open_registry

    # A catalog's column labels are str; pandas-stubs keys to_dict's records by Hashable.
    rows = cast("list[dict[str, Any]]", combined_catalog(rev=rev, registry=registry).to_dict(orient="records"))
    by_commit: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row.get("registry") and row.get("rev"):
            by_commit[(str(row["registry"]), str(row["rev"]))].append(row)
    cards: dict[tuple[str, str], Mapping[str, Any]] = {}
    for (spec, commit), group in by_commit.items():
        for key, card in cards_at(open_registry(spec), commit, group).items():
            cards.setdefault(key, card)
    return rows, cards


def registry_entries(rev: str | None = None, registry: str | None = None) -> list[dict[str, Any]]:
    """The searchable entries of the registries (default: the configured ones) at ``rev``."""
    return entries(*rows_and_cards(rev, registry))


def search(
    text: str = "",
    *,
    species: str | None = None,
    region: str | None = None,
    kind: str | None = None,
    rev: str | None = None,
    registry: str | None = None,
    limit: int | None = None,
) -> list[SearchResult]:
    """Identifiers whose names or cards match ``text`` (every word), best first.

    :param species: keep entries whose card lists this species (or a word of one), any case.
    :param region: keep entries whose card lists this brain region, any case.
    :param kind: ``assembly`` or ``stimulus_set``.
    :param rev: branch, tag or commit (default: the default branch or the ``rev`` setting).
    :param registry: a registry path or git URL (default: the configured registries).
    """
    ranked = rank(registry_entries(rev, registry), text, species, region, kind)
    results = [
        SearchResult(
            identifier=str(entry["identifier"]), kind=str(entry["kind"]), score=score, title=str(entry["title"]),
            species=tuple(entry["species"]), regions=tuple(entry["regions"]), catalog=str(entry["catalog"]),
            class_name=str(entry["class"]), registry=str(entry["registry"]), rev=str(entry["rev"]),
        )
        for score, entry in ranked
    ]
    return results[:limit] if limit is not None else results
