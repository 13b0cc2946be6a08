"""A small BibTeX reader and writer: enough for the citations that dataset cards carry.

Pure functions, text in and text out.  It reads ``@type{key, field = {value} | "value" |
number, ...}`` entries with nested braces, joins ``#`` concatenations of quoted parts, and
leaves LaTeX markup in values as it is (apart from the outer braces).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..exceptions import ValidationError

__all__ = ["BibEntry", "format_entry", "parse_bibtex", "plain_text", "text_citation"]

_ENTRY_START = re.compile(r"@\s*([A-Za-z]+)\s*[{(]")
_FIELD_NAME = re.compile(r"\s*([A-Za-z][\w:-]*)\s*=\s*")


@dataclass(frozen=True)
class BibEntry:
    """One BibTeX entry; field names are lower case."""

    entry_type: str
    key: str
    fields: dict[str, str] = field(default_factory=dict)

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name.lower(), default)


def _braced(text: str, start: int, source: str) -> tuple[str, int]:
    """The content of the balanced braces opening at ``text[start]``, and the index after them."""
    depth = 0
    for position in range(start, len(text)):
        if text[position] == "{":
            depth += 1
        elif text[position] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1:position], position + 1
    raise ValidationError(source, "balanced braces in BibTeX", f"an unclosed '{{' at offset {start}")


def _value(text: str, position: int, source: str) -> tuple[str, int]:
    """One field value (braced, quoted, a number or a macro, joined by ``#``)."""
    parts = []
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            raise ValidationError(source, "a BibTeX field value", "the end of the text")
        char = text[position]
        if char == "{":
            part, position = _braced(text, position, source)
        elif char == '"':
            end = position + 1
            depth = 0
            while end < len(text) and not (text[end] == '"' and depth == 0):
                depth += {"{": 1, "}": -1}.get(text[end], 0)
                end += 1
            if end >= len(text):
                raise ValidationError(source, "a closing '\"' in BibTeX", "the end of the text")
            part, position = text[position + 1:end], end + 1
        else:
            match = re.compile(r"[\w.:-]+").match(text, position)
            if not match:
                raise ValidationError(source, "a BibTeX field value", repr(text[position:position + 20]))
            part, position = match.group(0), match.end()
        parts.append(part)
        while position < len(text) and text[position].isspace():
            position += 1
        if position < len(text) and text[position] == "#":
            position += 1
            continue
        return "".join(parts), position


def parse_bibtex(text: str, source: str = "BibTeX") -> list[BibEntry]:
    """Every entry of ``text`` (``@comment``, ``@string`` and ``@preamble`` are skipped).

    :raises ValidationError: when an entry is malformed, naming ``source``.
    """
    entries = []
    position = 0
    while (match := _ENTRY_START.search(text, position)) is not None:
        entry_type = match.group(1).lower()
        position = match.end()
        if entry_type in ("comment", "string", "preamble"):
            opening = match.end() - 1
            if text[opening] == "{":
                position = _braced(text, opening, source)[1]
            else:
                closing = text.find(")", opening)
                position = len(text) if closing < 0 else closing + 1
            continue
        comma = text.find(",", position)
        if comma < 0:
            raise ValidationError(source, f"a citation key and fields after @{entry_type}{{", "no ','")
        key = text[position:comma].strip()
        position = comma + 1
        fields: dict[str, str] = {}
        while True:
            while position < len(text) and text[position] in " \t\r\n,":
                position += 1
            if position >= len(text):
                raise ValidationError(source, f"a closing brace for entry {key!r}", "the end of the text")
            if text[position] in "})":
                position += 1
                break
            name = _FIELD_NAME.match(text, position)
            if not name:
                raise ValidationError(source, f"'name = value' in entry {key!r}", repr(text[position:position + 30]))
            value, position = _value(text, name.end(), source)
            fields[name.group(1).lower()] = " ".join(value.split())
        entries.append(BibEntry(entry_type, key, fields))
    return entries


def plain_text(value: str) -> str:
    """A BibTeX value without braces and the commonest LaTeX escapes, for reading."""
    value = re.sub(r"\\[`'^\"~=.uvHc]\s*\{?([A-Za-z])\}?", r"\1", value)
    value = value.replace("\\&", "&").replace("~", " ").replace("--", "–")
    return " ".join(value.replace("{", "").replace("}", "").split())


def _authors(value: str) -> str:
    names = []
    for name in re.split(r"\s+and\s+", plain_text(value)):
        if "," in name:
            last, first = (part.strip() for part in name.split(",", 1))
            name = f"{first} {last}".strip()
        names.append(name)
    if len(names) > 3:
        return f"{names[0]} et al."
    return ", ".join(names[:-1]) + (" & " if len(names) > 1 else "") + names[-1] if names else ""


def text_citation(entry: BibEntry) -> str:
    """A one-line, human-readable citation: authors (year). Title. Venue. doi."""
    pieces = []
    authors = _authors(entry.get("author")) if entry.get("author") else ""
    year = entry.get("year")
    if authors or year:
        pieces.append(f"{authors} ({year})." if year else f"{authors}.")
    if entry.get("title"):
        pieces.append(plain_text(entry.get("title")).rstrip(".") + ".")
    venue = entry.get("journal") or entry.get("booktitle") or entry.get("publisher") or entry.get("howpublished")
    if venue:
        details = plain_text(venue)
        if entry.get("volume"):
            details += f", {entry.get('volume')}"
            if entry.get("number"):
                details += f"({entry.get('number')})"
        if entry.get("pages"):
            details += f", {plain_text(entry.get('pages'))}"
        pieces.append(details + ".")
    if entry.get("doi"):
        pieces.append(f"https://doi.org/{entry.get('doi')}")
    elif entry.get("url"):
        pieces.append(entry.get("url"))
    return " ".join(pieces)


def format_entry(entry_type: str, key: str, fields: Mapping[str, str]) -> str:
    """A BibTeX entry with one braced field per line, in the given order; empty fields left out."""
    lines = [f"@{entry_type}{{{key},"]
    lines += [f"  {name} = {{{value}}}," for name, value in fields.items() if value]
    lines.append("}")
    return "\n".join(lines)
