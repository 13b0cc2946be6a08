"""Adding a row to the catalog CSV of an installed package (BrainIO's ``lookup.append``).

A registry's catalogs are generated (:mod:`brainio_dvc.contribute.catalog_build`); an installed
package's catalog is a CSV file that BrainIO's ``append`` adds rows to.  The row is checked as
every catalog row is, and the file replaced atomically.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..exceptions import ValidationError
from ..formats.atomic import atomic_write_text
from ..formats.catalog_csv import TYPE_ASSEMBLY, CatalogTable, read_catalog_text, with_appended_row

if TYPE_CHECKING:
    from ..catalogs import Catalog

__all__ = ["append_row"]

logger = logging.getLogger(__name__)


def append_row(catalog_identifier: str, catalog: Catalog, row: Mapping[str, Any]) -> Path:
    """Add ``row`` to the CSV file behind ``catalog`` (an installed package's), and return the file.

    A row the catalog would set aside is refused (CatalogFormatError), as is a duplicate
    (ValidationError), except the second half (CSV or ZIP) of a stimulus set; so is a catalog
    with no CSV file of its own (a registry's, which is generated).
    """
    path = _appendable_csv(catalog_identifier, catalog)
    lookup_type, identifier = str(row["lookup_type"]), str(row["identifier"])
    table, text = with_appended_row(read_catalog_text(path), str(path), dict(row))
    _check_not_duplicate(catalog_identifier, table, lookup_type, identifier, bool(row.get("class")))
    atomic_write_text(path, text)
    logger.info("added %s %r to catalog %r (%s)", lookup_type, identifier, catalog_identifier, path)
    return path


def _appendable_csv(catalog_identifier: str, catalog: Catalog) -> Path:
    """The CSV file behind an installed package's catalog; ValidationError for any other."""
    source = catalog.attrs.get("source_path")
    if "registry" in catalog.columns or not source or not Path(source).is_file():
        raise ValidationError(
            subject=f"catalog {catalog_identifier!r}",
            expected="a catalog CSV file of an installed package",
            found="a generated registry catalog" if "registry" in catalog.columns else "no CSV file behind it",
            hint="registries are changed with package_stimulus_set / package_data_assembly",
        )
    return Path(source)


def _check_not_duplicate(
    catalog_identifier: str, table: CatalogTable, lookup_type: str, identifier: str, has_class: bool
) -> None:
    """Refuse a second row of one role: an assembly's, or a stimulus set's CSV (class) or ZIP."""
    table.check_usable(lookup_type, identifier)
    class_at = table.position("class")
    clashes = table.rows_of(lookup_type, identifier)
    if (lookup_type == TYPE_ASSEMBLY and clashes) or any(
        bool(row[class_at] if class_at is not None else "") == has_class for row in clashes
    ):
        raise ValidationError(
            subject=f"catalog {catalog_identifier!r}",
            expected=f"no {lookup_type} {identifier!r} yet",
            found="one already",
        )
