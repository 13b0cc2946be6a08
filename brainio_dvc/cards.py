"""Dataset cards: what a registry says about a stimulus set or an assembly.

A card is a JSON file committed beside an identifier's ``.dvc`` files::

    registry/<catalog>/<kind>/<identifier>/card.json

Its schema is :file:`brainio_dvc/card.schema.json` (JSON Schema, shipped with the package).
The contributor writes title, description, paper (``doi``, ``paper_url``), ``bibtex``,
``license``, ``species``, ``regions``, ``modality``, ``recording_method``, ``subjects``,
``data_use``, ``contact`` and ``keywords``; packaging adds ``schema_version``, ``identifier``,
``kind`` and the ``derived`` facts (dims, shape, dtype, number of stimuli, file size and an
estimate of the size in memory).

Validation, merging and the derived facts are pure; :func:`write_card`, :func:`check_cards`
and :func:`cards_at` do the I/O (a working tree, and a registry at a commit, cached on disk
per commit so that a warm search starts no git process).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from .catalogs import TYPE_ASSEMBLY
from .exceptions import CardError, ValidationError
from .formats.atomic import atomic_write_text

if TYPE_CHECKING:
    import xarray as xr

    from .store.registry import Registry

__all__ = [
    "CARD_FILE",
    "CONTRIBUTOR_FIELDS",
    "SCHEMA_VERSION",
    "card_path",
    "card_problems",
    "cards_at",
    "check_card",
    "check_cards",
    "derive_assembly",
    "derive_stimulus_set",
    "from_bibtex",
    "load_card_input",
    "make_card",
    "read_card_text",
    "render_card",
    "schema",
    "write_card",
]

logger = logging.getLogger(__name__)

CARD_FILE = "card.json"
SCHEMA_VERSION = 1
#: The fields a contributor writes, in the order a card shows them.
CONTRIBUTOR_FIELDS = (
    "title", "description", "doi", "paper_url", "data_doi", "bibtex", "license", "species", "regions",
    "modality", "recording_method", "subjects", "data_use", "contact", "keywords",
)
#: Fields without which ``catalog check`` calls a card incomplete (a warning).
RECOMMENDED_FIELDS = ("title", "license", "bibtex")
_CARD_CACHE_DIR = "card-cache"
_CARD_CACHE_VERSION = 1

CardInput = Mapping[str, Any] | str | os.PathLike[str] | None


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The card schema (JSON Schema), as shipped in the package."""
    from importlib.resources import files

    return json.loads(files("brainio_dvc").joinpath("card.schema.json").read_text(encoding="utf-8"))


# -- validation (pure) ----------------------------------------------------------------------

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "array": (list, tuple),
    "object": (dict,), "boolean": (bool,),
}
_ARTICLES = {"string": "a text", "integer": "an integer", "number": "a number", "array": "a list",
             "object": "a mapping", "boolean": "true or false"}


def _is_type(value: object, name: str) -> bool:
    if isinstance(value, bool) and name in ("integer", "number"):
        return False
    return isinstance(value, _TYPES[name])


def _found(value: object) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _problems(value: Any, rule: Mapping[str, Any], where: str) -> list[tuple[str, str, str]]:
    """(field, expected, found) for every way ``value`` breaks ``rule`` (this schema's subset)."""
    if "enum" in rule and value not in rule["enum"]:
        return [(where, "one of " + ", ".join(json.dumps(v) for v in rule["enum"]), _found(value))]
    kind = rule.get("type")
    if kind and not _is_type(value, kind):
        return [(where, _ARTICLES[kind], _found(value))]
    problems: list[tuple[str, str, str]] = []
    if kind == "string":
        if len(value) < rule.get("minLength", 0):
            problems.append((where, "a non-empty text", _found(value)))
        if len(value) > rule.get("maxLength", len(value)):
            problems.append((where, f"at most {rule['maxLength']} characters", f"{len(value)} characters"))
        if "pattern" in rule and not re.search(rule["pattern"], value):
            problems.append((where, f"text matching {rule['pattern']}", _found(value)))
    elif kind in ("integer", "number") and value < rule.get("minimum", value):
        problems.append((where, f"{_ARTICLES[kind]} >= {rule['minimum']}", _found(value)))
    elif kind == "array":
        for number, item in enumerate(value):
            problems += _problems(item, rule.get("items", {}), f"{where}[{number}]")
        if rule.get("uniqueItems") and len({json.dumps(item) for item in value}) != len(value):
            problems.append((where, "no repeated entries", _found(value)))
    elif kind == "object":
        properties = rule.get("properties", {})
        for name in rule.get("required", []):
            if name not in value:
                problems.append((f"{where}.{name}".lstrip("."), "a value (required)", "nothing"))
        for name, item in value.items():
            path = f"{where}.{name}".lstrip(".")
            if name in properties:
                problems += _problems(item, properties[name], path)
            elif rule.get("additionalProperties", True) is False:
                known = ", ".join(properties)
                problems.append((path, f"one of the card's fields ({known})", "an unknown field"))
    return problems


def card_problems(card: object, source: str) -> list[CardError]:
    """Every way ``card`` breaks the schema, one :class:`CardError` (naming the field) each."""
    errors = [CardError(source, field, expected, found) for field, expected, found in _problems(card, schema(), "")]
    bibtex = card.get("bibtex") if isinstance(card, Mapping) else None
    if isinstance(bibtex, str) and not errors:
        from .formats.bibtex import parse_bibtex

        try:
            if not parse_bibtex(bibtex, f"{source}: card field 'bibtex'"):
                errors.append(CardError(source, "bibtex", "one BibTeX entry", "no entry"))
        except ValidationError as error:
            errors.append(CardError(source, "bibtex", "readable BibTeX", str(error.found)))
    return errors


def check_card(card: object, source: str) -> dict[str, Any]:
    """``card`` if it is valid, else the first :class:`CardError`."""
    errors = card_problems(card, source)
    if errors:
        raise errors[0]
    return dict(card)  # type: ignore[call-overload]


def read_card_text(text: str, source: str) -> dict[str, Any]:
    """A card from its JSON text, validated."""
    try:
        card = json.loads(text)
    except ValueError as error:
        raise CardError(source, "", "a JSON object", f"invalid JSON ({error})") from error
    return check_card(card, source)


def render_card(card: Mapping[str, Any]) -> str:
    """The JSON text of a card, in a fixed order: same card, same bytes."""
    order = ["schema_version", "identifier", "kind", *CONTRIBUTOR_FIELDS, "derived"]
    ordered = {name: card[name] for name in order if name in card}
    return json.dumps(ordered, indent=2, ensure_ascii=False) + "\n"


# -- making cards (pure) --------------------------------------------------------------------


def from_bibtex(bibtex: str, **fields: Any) -> dict[str, Any]:
    """A contributor card from a paper's BibTeX: title, doi, paper_url and bibtex filled in.

    ``fields`` add or override any contributor field (``species=["Macaca mulatta"]``, ...).
    For migration from Brain-Score plugins, whose data registrations carry BibTeX strings.

    :raises CardError: when the BibTeX has no entry or ``fields`` break the schema.
    """
    from .formats.bibtex import parse_bibtex, plain_text

    entries = parse_bibtex(bibtex, "BibTeX")
    if not entries:
        msg = "BibTeX"
        raise CardError(msg, "bibtex", "one BibTeX entry", _found(bibtex))
    entry = entries[0]
    card: dict[str, Any] = {"bibtex": bibtex.strip()}
    if entry.get("title"):
        card["title"] = plain_text(entry.get("title"))
    doi = re.sub(r"^(https?://(dx\.)?doi\.org/|doi:)", "", entry.get("doi"), flags=re.IGNORECASE)
    if re.fullmatch(schema()["properties"]["doi"]["pattern"], doi or "-"):
        card["doi"] = doi
    if entry.get("url").startswith(("http://", "https://")):
        card["paper_url"] = entry.get("url")
    card.update(fields)
    _check_contributed(card, "from_bibtex")
    return card


def _check_contributed(card: Mapping[str, Any], source: str) -> None:
    """Validate the contributor's part of a card (identifier and kind not needed yet)."""
    probe = {"schema_version": SCHEMA_VERSION, "identifier": "-", "kind": TYPE_ASSEMBLY, **card}
    check_card(probe, source)


def make_card(identifier: str, kind: str, contributed: Mapping[str, Any], derived: Mapping[str, Any]) -> dict[str, Any]:
    """The full card: the contributor's fields, identity, and the derived facts (which win)."""
    for name, expected in (("identifier", identifier), ("kind", kind)):
        if contributed.get(name, expected) != expected:
            msg = f"card of {identifier!r}"
            raise CardError(msg, name, repr(expected), repr(contributed[name]))
    card = {name: value for name, value in contributed.items() if name in CONTRIBUTOR_FIELDS}
    card.update(schema_version=SCHEMA_VERSION, identifier=identifier, kind=kind, derived=dict(derived))
    return check_card(card, f"card of {identifier!r}")


def derive_assembly(assembly: xr.DataArray, file_sizes: Iterable[int], class_name: str) -> dict[str, Any]:
    """Dims, shape, dtype, file size and in-memory size (values plus coordinates) of an assembly."""
    memory = int(assembly.variable.nbytes) + sum(int(coord.variable.nbytes) for coord in assembly.coords.values())
    return {
        "class": class_name,
        "dims": [str(dim) for dim in assembly.dims],
        "shape": [int(size) for size in assembly.shape],
        "dtype": str(assembly.dtype),
        "file_size": int(sum(file_sizes)),
        "memory_size": memory,
    }


def derive_stimulus_set(stimulus_set: Any, file_sizes: Iterable[int], class_name: str) -> dict[str, Any]:
    """Number of stimuli, columns, file size and in-memory size (the table) of a stimulus set."""
    return {
        "class": class_name,
        "stimuli": len(stimulus_set),
        "columns": [str(column) for column in stimulus_set.columns],
        "file_size": int(sum(file_sizes)),
        "memory_size": int(stimulus_set.memory_usage(deep=True, index=True).sum()),
    }


# -- I/O --------------------------------------------------------------------------------------


def card_path(catalog: str, kind: str, identifier: str) -> PurePosixPath:
    """Where an identifier's card lives, relative to the registry root."""
    from .store.layout import artifact_dir

    return artifact_dir(catalog, kind, identifier) / CARD_FILE


def _card_path_of_location(location: str) -> str:
    return (PurePosixPath(location).parent / CARD_FILE).as_posix()


def load_card_input(card: CardInput, identifier: str) -> dict[str, Any] | None:
    """A contributor's card given as a mapping or a JSON file path, validated; None for None."""
    if card is None:
        return None
    if isinstance(card, Mapping):
        contributed, source = dict(card), f"card of {identifier!r}"
    else:
        source = os.fspath(card)
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as error:
            raise CardError(source, "", "a readable JSON file", str(error)) from error
        try:
            contributed = json.loads(text)
        except ValueError as error:
            raise CardError(source, "", "a JSON object", f"invalid JSON ({error})") from error
        if not isinstance(contributed, dict):
            raise CardError(source, "", "a JSON object", _found(contributed))
    _check_contributed({k: v for k, v in contributed.items() if k not in ("identifier", "kind")}, source)
    return contributed


def write_card(
    tree: Path,
    catalog: str,
    kind: str,
    identifier: str,
    contributed: Mapping[str, Any] | None,
    derived: Mapping[str, Any],
) -> PurePosixPath:
    """Write an identifier's card into a working tree; return its path relative to the tree.

    Without ``contributed``, the contributor's fields of the card already there are kept, so a
    new version keeps its description; the derived facts are always measured anew.
    """
    relative = card_path(catalog, kind, identifier)
    target = tree / relative
    if contributed is None:
        contributed = {}
        if target.exists():
            try:
                contributed = read_card_text(target.read_text(encoding="utf-8"), relative.as_posix())
            except CardError as error:
                logger.warning("replacing an invalid card: %s", error)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, render_card(make_card(identifier, kind, contributed, derived)))
    return relative


def check_cards(root: Path, rows: Iterable[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """(problems, warnings) about the cards of a working tree's identifiers (``catalog check``).

    An invalid card is a problem naming the field; a missing or incomplete card is a warning.
    """
    problems: list[str] = []
    warnings: list[str] = []
    seen: dict[str, tuple[str, str]] = {}
    for row in rows:
        seen.setdefault(_card_path_of_location(str(row["location"])), (str(row["identifier"]), str(row["lookup_type"])))
    for relative, (identifier, kind) in sorted(seen.items()):
        path = Path(root) / relative
        if not path.exists():
            warnings.append(f"{kind} {identifier!r} has no card ({relative}); see brainio_dvc/card.schema.json")
            continue
        try:
            card = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            problems.append(str(CardError(relative, "", "a JSON object", f"invalid JSON ({error})")))
            continue
        errors = card_problems(card, relative)
        problems += [f"invalid card: {error}" for error in errors]
        if errors:
            continue
        for name, expected in (("identifier", identifier), ("kind", kind)):
            if card[name] != expected:
                problems.append(f"invalid card: {CardError(relative, name, repr(expected), repr(card[name]))}")
        missing = [name for name in RECOMMENDED_FIELDS if name not in card]
        if missing:
            warnings.append(f"{kind} {identifier!r}: its card has no {', '.join(missing)} ({relative})")
    return problems, warnings


def cards_at(
    registry: Registry, commit: str, rows: Iterable[Mapping[str, Any]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, identifier) -> card of the registry at ``commit``, for the identifiers of ``rows``.

    Invalid cards are left out with a warning.  What was read is kept in
    ``$BRAINIO_HOME/card-cache/<commit>.json``: a commit fixes its tree, so a warm call reads
    one file and starts no git process.
    """
    wanted = {(str(row["lookup_type"]), str(row["identifier"])): _card_path_of_location(str(row["location"]))
              for row in rows}
    cache_file = registry.home / _CARD_CACHE_DIR / f"{commit}.json"
    cached = _read_cache(cache_file)
    entries: dict[str, dict[str, Any]] = cached if cached is not None else {}
    missing = [path for path in wanted.values() if path not in entries]
    for path in missing:
        data = registry.read_bytes(commit, path)
        if data is None:
            entries[path] = {}
            continue
        try:
            entries[path] = {"card": read_card_text(data.decode("utf-8"), f"{registry.label}@{commit[:10]}:{path}")}
        except (CardError, UnicodeDecodeError) as error:
            entries[path] = {"problem": str(error)}
    if missing:
        atomic_write_text(cache_file, json.dumps({"version": _CARD_CACHE_VERSION, "cards": entries}))
    cards = {}
    for key, path in wanted.items():
        entry = entries.get(path, {})
        if "problem" in entry:
            logger.warning("ignoring an invalid card: %s", entry["problem"])
        elif "card" in entry:
            cards[key] = entry["card"]
    return cards


def _read_cache(cache_file: Path) -> dict[str, dict[str, Any]] | None:
    try:
        cached = json.loads(cache_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        logger.warning("ignoring unreadable card cache %s: %s", cache_file, error)
        return None
    if (not isinstance(cached, dict) or cached.get("version") != _CARD_CACHE_VERSION
            or not isinstance(cached.get("cards"), dict)):
        return None
    return cached["cards"]
