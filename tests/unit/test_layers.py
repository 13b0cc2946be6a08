"""The package's layers: every import of one brainio_dvc module by another goes downward.

From the bottom up: ``exceptions``, ``config``, ``progress``, ``parallel`` and ``memory`` (which
every layer raises, reads, reports progress to, runs threads with and frees memory with), then ``formats/``, ``store/``,
``contribute/`` and ``browse/`` (side by side), the top-level modules (the BrainIO faces and the
public ``s3``, ``lock``, ``cards``), and ``cli/``.  A module may import its own layer and any
layer beneath it.

Every module is parsed with :mod:`ast`; nothing is imported.  An import at module level (in a
class body or under ``try``/``if`` too) runs when the module is imported, so it must go downward.
An import inside a function runs when the function is called: it may go upward only where
:data:`LAZY_UPWARD` lists it with its reason.  Imports under ``if TYPE_CHECKING:`` never run and
are not checked.  :data:`KNOWN_MODULE_LEVEL` lists the upward module-level imports that main
has today, each with what is wrong; remove an entry when its import is gone (a test fails
until then, so the list stays true).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "brainio_dvc"

#: Layer of each subpackage and of the base modules; every other top-level module is a face.
BASE = 0
FACES = 4
LAYERS = {
    "exceptions": BASE, "config": BASE, "progress": BASE, "parallel": BASE, "memory": BASE,
    "formats": 1, "arrays": 1,
    "store": 2,
    "contribute": 3, "browse": 3,
    "cli": 5,
}
LAYER_NAMES = {0: "base", 1: "formats/arrays", 2: "store", 3: "contribute/browse", 4: "faces", 5: "cli"}

#: Upward imports at module level that main has today: (importer, imported) -> what is wrong.
KNOWN_MODULE_LEVEL: dict[tuple[str, str], str] = {}

_S3 = ("s3.py, the public S3 module (object URLs, version pins, checked downloads), is a top-level "
       "module that the store and migration use when they reach S3")
_RESOLVE = ("browse answers questions about what the lookup face resolves (combined catalogs, "
            "identifiers) and the cards face reads; both are needed only when a query runs")

#: Upward imports inside functions, each allowed for its reason: (importer, imported) -> why.
LAZY_UPWARD: dict[tuple[str, str], str] = {
    ("brainio_dvc.formats.catalog_csv", "brainio_dvc.catalogs"):
        "a CatalogTable becomes the catalogs face's Catalog frame unless told another class; the "
        "face imports the schema at module level",
    ("brainio_dvc.formats.dvcmeta", "brainio_dvc.store.references"):
        "a .dvc file that references an S3 object is parsed by store/references, which imports "
        "dvcmeta at module level: the cycle is broken here",
    ("brainio_dvc.store.references", "brainio_dvc.s3"): _S3,
    ("brainio_dvc.contribute.completeness", "brainio_dvc.stimuli"):
        "the stimulus CSV reader (read_stimulus_csv) lives with StimulusSet, in the stimuli face",
    ("brainio_dvc.contribute.migrate.copying", "brainio_dvc.s3"): _S3,
    ("brainio_dvc.contribute.migrate.run", "brainio_dvc.assemblies"):
        "migration checks class names against ASSEMBLY_CLASSES, which live next to the classes",
    ("brainio_dvc.contribute.migrate.run", "brainio_dvc.stimuli"):
        "migration checks class names against STIMULUS_SET_CLASSES, which live next to the classes",
    ("brainio_dvc.browse.catalog_search", "brainio_dvc.lookup"): _RESOLVE,
    ("brainio_dvc.browse.catalog_search", "brainio_dvc.cards"): _RESOLVE,
    ("brainio_dvc.browse.citations", "brainio_dvc.lookup"): _RESOLVE,
    ("brainio_dvc.browse.citations", "brainio_dvc.cards"): _RESOLVE,
    ("brainio_dvc.browse.history", "brainio_dvc.lookup"): _RESOLVE,
    ("brainio_dvc.browse.listing", "brainio_dvc.lookup"): _RESOLVE,
    ("brainio_dvc.browse.listing", "brainio_dvc.fetch"): _RESOLVE + " (show reads the file it describes)",
    ("brainio_dvc.browse.listing", "brainio_dvc.stimuli"): _RESOLVE + " (show reads the stimulus CSV)",
    ("brainio_dvc.contribute.checks", "brainio_dvc.assemblies"):
        "catalog check validates each row's class against the classes, which live with the faces",
    ("brainio_dvc.contribute.checks", "brainio_dvc.stimuli"):
        "catalog check validates each row's class against the classes, which live with the faces",
    ("brainio_dvc.contribute.checks", "brainio_dvc.cards"): "catalog check checks the dataset cards",
    ("brainio_dvc.contribute.checks", "brainio_dvc.fetch"):
        "verify checks extracted stimuli with the fetch face's verify_stimuli_directory",
    ("brainio_dvc.browse.site.build", "brainio_dvc.fetch"):
        "the site's thumbnails need a stimulus ZIP on disk, fetched with the fetch face",
}


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    where: str  # file:line
    lazy: bool

    @property
    def key(self) -> tuple[str, str]:
        return (self.importer, self.imported)

    def describe(self) -> str:
        return (f"{self.where}: {self.importer} ({LAYER_NAMES[layer(self.importer)]}) imports "
                f"{self.imported} ({LAYER_NAMES[layer(self.imported)]})"
                f"{' inside a function' if self.lazy else ' at module level'}")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return FACES  # the package itself re-exports the faces' names
    if parts[1] in LAYERS:
        return LAYERS[parts[1]]
    if (PACKAGE / parts[1]).is_dir():
        msg = f"subpackage brainio_dvc.{parts[1]} has no layer: add it to LAYERS in {__file__}"
        raise AssertionError(msg)
    return FACES


def _is_module(dotted: str) -> bool:
    path = PACKAGE.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _targets(node: ast.Import | ast.ImportFrom, importer: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = importer.split(".") if is_package else importer.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        source = ".".join([*base, *([node.module] if node.module else [])])
    else:
        source = node.module or ""
    named = [f"{source}.{alias.name}" for alias in node.names]
    submodules = [name for name in named if _is_module(name)]
    # ``from brainio_dvc import config`` imports the submodule; the package itself is only the
    # target when a name it re-exports is imported from it.
    if submodules and len(submodules) == len(node.names):
        return submodules
    return [source, *submodules]


def imports_in(source: str, importer: str, is_package: bool, filename: str) -> list[Import]:
    """The imports of brainio_dvc modules in the module ``importer`` whose text is ``source``."""
    found: list[Import] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, True)
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for branch in child.orelse:  # the else branch of ``if TYPE_CHECKING`` runs
                    visit(ast.Module(body=[branch], type_ignores=[]), lazy)
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                for target in _targets(child, importer, is_package):
                    if target.split(".")[0] == "brainio_dvc":
                        found.append(Import(importer, target, f"{filename}:{child.lineno}", lazy))
            else:
                visit(child, lazy)

    visit(ast.parse(source, filename=filename), False)
    return found


def imports_of(path: Path) -> list[Import]:
    source = path.read_text(encoding="utf-8")
    is_package = path.name == "__init__.py"
    return imports_in(source, module_name(path), is_package, str(path.relative_to(PACKAGE.parent)))


def upward_imports() -> list[Import]:
    every = [found for path in sorted(PACKAGE.rglob("*.py")) for found in imports_of(path)]
    return [found for found in every if layer(found.imported) > layer(found.importer)]


def test_module_level_imports_go_only_downward() -> None:
    violations = [found.describe() for found in upward_imports()
                  if not found.lazy and found.key not in KNOWN_MODULE_LEVEL]
    if violations:
        pytest.fail("upward imports at module level (move the code down a layer, or import "
                    "inside the function and list it in LAZY_UPWARD with a reason):\n"
                    + "\n".join(violations), pytrace=False)


def test_imports_inside_functions_go_upward_only_where_listed() -> None:
    allowed = LAZY_UPWARD.keys() | KNOWN_MODULE_LEVEL.keys()
    violations = [found.describe() for found in upward_imports()
                  if found.lazy and found.key not in allowed]
    if violations:
        pytest.fail("upward imports inside functions that LAZY_UPWARD does not list:\n"
                    + "\n".join(violations), pytrace=False)


def test_every_listed_exception_is_still_there() -> None:
    """An entry whose import is gone is removed, so that the lists say what main is."""
    upward = upward_imports()
    module_level = {found.key for found in upward if not found.lazy}
    lazy = {found.key for found in upward if found.lazy}
    stale = [f"KNOWN_MODULE_LEVEL {key}" for key in KNOWN_MODULE_LEVEL if key not in module_level]
    stale += [f"LAZY_UPWARD {key}" for key in LAZY_UPWARD if key not in lazy]
    if stale:
        pytest.fail("listed upward imports that no longer exist (remove them from "
                    f"{Path(__file__).name}):\n" + "\n".join(stale), pytrace=False)


def test_the_checker_sees_upward_imports_at_both_levels_and_skips_type_only_ones() -> None:
    """What the tests above rely on, shown on a module written here."""
    source = ("from typing import TYPE_CHECKING\n"
              "from .. import config\n"
              "from ..cli import core\n"
              "if TYPE_CHECKING:\n"
              "    from ..loading import get_assembly\n"
              "def later() -> None:\n"
              "    from ..lookup import refresh\n")
    found = imports_in(source, "brainio_dvc.store.probe", False, "brainio_dvc/store/probe.py")
    assert [(item.imported, item.lazy) for item in found] == [
        ("brainio_dvc.config", False),
        ("brainio_dvc.cli.core", False),
        ("brainio_dvc.lookup", True),
    ]
    assert [layer(item.imported) > layer(item.importer) for item in found] == [False, True, True]
    assert found[1].describe() == ("brainio_dvc/store/probe.py:3: brainio_dvc.store.probe (store) "
                                   "imports brainio_dvc.cli.core (cli) at module level")
