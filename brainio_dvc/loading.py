"""Loading stimulus sets and assemblies by identifier, at a revision of a registry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .exceptions import UnsafeArchiveError, ValidationError
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


def get_stimulus_set(identifier: str, rev: str | None = None, registry: str | None = None) -> StimulusSet:
    """Load a stimulus set; ``rev`` and ``registry`` as in :mod:`brainio_dvc.lookup`."""
    csv_row, zip_row = find_stimulus_set_rows(identifier, rev=rev, registry=registry)
    cls = resolve_stimulus_set_class(str(csv_row["class"]))
    csv_path = fetch_row(csv_row, identifier)
    zip_path = fetch_row(zip_row, identifier)
    digest = str(zip_row.get("md5") or "") or str(zip_row["sha1"])
    try:
        stimulus_set = cls.from_files(csv_path, stimuli_directory(zip_path, digest))
    except ValidationError as error:
        raise _in_context(error, f"stimulus set {identifier!r} ({_origin(csv_row)})") from error
    stimulus_set.identifier = identifier
    stimulus_set.attrs.update(provenance(csv_row, identifier))
    stimulus_set.attrs["zip"] = provenance(zip_row, identifier)
    return stimulus_set


def get_assembly(identifier: str, rev: str | None = None, registry: str | None = None) -> DataAssembly:
    """Load an assembly with its stimulus set attached (``assembly.attrs['stimulus_set']``).

    The stimulus set comes from the same registry and commit as the assembly.
    """
    row = find_assembly_row(identifier, rev=rev, registry=registry)
    cls = resolve_assembly_class(str(row["class"]))
    file_path = fetch_row(row, identifier)
    stimulus_set_identifier = str(row["stimulus_set_identifier"])
    source_registry = row.get("registry")
    if isinstance(source_registry, str) and source_registry:
        stimulus_set = get_stimulus_set(stimulus_set_identifier, rev=str(row["rev"]), registry=source_registry)
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
    assembly.attrs["stimulus_set_identifier"] = stimulus_set_identifier
    assembly.attrs["stimulus_set"] = stimulus_set
    return assembly
