"""Loading stimulus sets and assemblies by identifier, at a revision of a registry."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import pins
from .catalogs import LOCATION_TYPE_DVC, TYPE_ASSEMBLY, TYPE_STIMULUS_SET
from .exceptions import PinError, UnsafeArchiveError, ValidationError
from .fetch import fetch_row, resolve_assembly_class, resolve_stimulus_set_class, stimuli_directory
from .lookup import find_assembly_row, find_stimulus_set_rows

if TYPE_CHECKING:
    from .assemblies import DataAssembly
    from .stimuli import StimulusSet

__all__ = ["get_assembly", "get_stimulus_set", "provenance"]

_PROVENANCE = ("catalog", "registry", "rev", "md5", "sha1")


def provenance(row: Mapping[str, Any], identifier: str) -> dict[str, str]:
    """Where a loaded object came from: identifier, catalog, registry, rev, path, md5, sha1."""
    found = {"identifier": identifier, "path": str(row["location"])}
    for key in _PROVENANCE:
        value = row.get(key)
        if value is not None and value == value and value != "":
            found[key] = str(value)
    if "catalog" not in found and row.get("source_catalog"):
        found["catalog"] = str(row["source_catalog"])
    return found


def _origin(row: Mapping[str, Any]) -> str:
    """Where a catalog row points: its location, and the registry and commit when it has them."""
    origin = str(row["location"])
    if row.get("registry"):
        origin += f" in {row['registry']} at {str(row.get('rev', ''))[:10]}"
    return origin


def _in_context(error: ValidationError, context: str) -> ValidationError:
    """``error`` with ``context`` (what was being loaded) before its subject (a cached file)."""
    if type(error) in (ValidationError, UnsafeArchiveError):
        return type(error)(f"{context}: {error.subject}", error.expected, error.found, error.hint)
    return error


def _check_pin(identifier: str, decision: pins.Decision, rows: tuple[Mapping[str, Any], ...]) -> None:
    """Refuse rows that disagree with the md5 the pin (lock entry or dvc import) recorded."""
    found = {str(row["location"]): str(row.get("md5") or "") for row in rows}
    for path, md5 in decision.expected.items():
        if found.get(path) != md5:
            at = f"{decision.registry} at {str(decision.rev)[:10]}"
            what = f"md5 {found[path]}" if path in found else f"no such file (its files: {', '.join(sorted(found))})"
            raise PinError(identifier, decision.source, f"{path} has md5 {md5} in the pin, but {at} has {what}",
                           hint="`brainio-dvc lock --check` lists every such problem")


def _fetch(row: Mapping[str, Any], identifier: str, decision: pins.Decision) -> Path:
    """A row's file: for a pinned load, the repository's own copy when it holds one (checked)."""
    md5 = row.get("md5")
    if decision.pinned and row.get("location_type") == LOCATION_TYPE_DVC and isinstance(md5, str) and md5:
        local = pins.local_file(str(row["location"]), md5)
        if local is not None:
            return local
    return fetch_row(row, identifier)


def _resolution(decision: pins.Decision) -> dict[str, str]:
    return {"resolved_by": decision.rule, "resolved_from": decision.source}


def get_stimulus_set(identifier: str, rev: str | None = None, registry: str | None = None) -> StimulusSet:
    """Load a stimulus set; ``rev`` and ``registry`` as in :mod:`brainio_dvc.lookup`.

    Without them, the pins of the repository around the current directory decide
    (:mod:`brainio_dvc.pins`); ``attrs['resolved_by']`` names the rule that did.
    """
    return _load_stimulus_set(identifier, pins.resolve(TYPE_STIMULUS_SET, identifier, rev, registry))


def _load_stimulus_set(identifier: str, decision: pins.Decision) -> StimulusSet:
    csv_row, zip_row = find_stimulus_set_rows(identifier, rev=decision.rev, registry=decision.registry)
    _check_pin(identifier, decision, (csv_row, zip_row))
    cls = resolve_stimulus_set_class(str(csv_row["class"]))
    csv_path = _fetch(csv_row, identifier, decision)
    zip_path = _fetch(zip_row, identifier, decision)
    digest = str(zip_row.get("md5") or "") or str(zip_row["sha1"])
    try:
        stimulus_set = cls.from_files(csv_path, stimuli_directory(zip_path, digest))
    except ValidationError as error:
        raise _in_context(error, f"stimulus set {identifier!r} ({_origin(csv_row)})") from error
    stimulus_set.identifier = identifier
    stimulus_set.attrs.update(provenance(csv_row, identifier))
    stimulus_set.attrs.update(_resolution(decision))
    stimulus_set.attrs["zip"] = provenance(zip_row, identifier)
    pins.loaded(TYPE_STIMULUS_SET, identifier, [csv_row, zip_row], decision)
    return stimulus_set


def get_assembly(identifier: str, rev: str | None = None, registry: str | None = None) -> DataAssembly:
    """Load an assembly with its stimulus set attached (``assembly.attrs['stimulus_set']``).

    The stimulus set comes from the same registry and commit as the assembly.  Without ``rev``
    and ``registry``, the pins of the repository around the current directory decide
    (:mod:`brainio_dvc.pins`); ``attrs['resolved_by']`` names the rule that did.
    """
    decision = pins.resolve(TYPE_ASSEMBLY, identifier, rev, registry)
    row = find_assembly_row(identifier, rev=decision.rev, registry=decision.registry)
    _check_pin(identifier, decision, (row,))
    cls = resolve_assembly_class(str(row["class"]))
    file_path = _fetch(row, identifier, decision)
    stimulus_set_identifier = str(row["stimulus_set_identifier"])
    source_registry = row.get("registry")
    if isinstance(source_registry, str) and source_registry:
        stimulus_set = _load_stimulus_set(
            stimulus_set_identifier, decision.for_stimulus_set(identifier, source_registry, str(row["rev"])))
    else:
        stimulus_set = get_stimulus_set(stimulus_set_identifier)
    loader = cls.get_loader_class()(
        cls=cls,
        file_path=file_path,
        stimulus_set_identifier=stimulus_set_identifier,
        stimulus_set=stimulus_set,
    )
    assembly = loader.load()
    assembly.attrs.update(provenance(row, identifier))
    assembly.attrs.update(_resolution(decision))
    assembly.attrs["stimulus_set_identifier"] = stimulus_set_identifier
    assembly.attrs["stimulus_set"] = stimulus_set
    pins.loaded(TYPE_ASSEMBLY, identifier, [row], decision)
    return assembly
