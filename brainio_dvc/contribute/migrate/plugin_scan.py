"""Read Brain-Score data plugins with ``ast``, never importing or running them, into manifest entries.

A brain-score/vision data plugin (``brainscore_vision/data/<name>/__init__.py``) registers::

    BIBTEX = \"\"\"@article{...}\"\"\"
    stimulus_set_registry['X'] = lambda: load_stimulus_set_from_s3(identifier='lab.X', bucket='b/folder',
        csv_sha1='...', zip_sha1='...', csv_version_id='...', zip_version_id='...')
    data_registry['X.it'] = functools.partial(load_assembly_from_s3, 'lab.X.it', '...', '...', 'b/folder',
        NeuronRecordingAssembly, stimulus_set_loader=lambda: load_stimulus_set('X'))

:func:`scan_plugins` finds every call of ``load_stimulus_set_from_s3`` and
``load_assembly_from_s3`` (keyword or positional arguments, in a ``lambda``, a
``functools.partial`` or anywhere else), resolves its arguments from literals and module-level
constants, and applies BrainIO lite's key rules (:func:`brainio_dvc.s3.object_key`).  An
assembly's stimulus set is taken from its ``stimulus_set_loader``: a ``lambda`` calling
``stimulus_set_registry['X']()``, ``load_stimulus_set('X')`` or the loader itself.  A module-level
string whose name contains ``bibtex`` is the plugin's citation.  Whatever cannot be resolved
statically is returned as an :class:`Unresolved` with its file and line, never guessed.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...formats.catalog_csv import TYPE_ASSEMBLY, TYPE_STIMULUS_SET
from .manifest import ROLE_CSV, ROLE_NC, ROLE_ZIP, Entry

__all__ = ["PluginScan", "Unresolved", "scan_plugins", "scan_source"]

logger = logging.getLogger(__name__)

STIMULUS_LOADER = "load_stimulus_set_from_s3"
ASSEMBLY_LOADER = "load_assembly_from_s3"
#: Brain-Score's loader signatures, in positional order.
SIGNATURES = {
    STIMULUS_LOADER: ("identifier", "bucket", "csv_sha1", "zip_sha1", "csv_version_id", "zip_version_id",
                      "filename_prefix"),
    ASSEMBLY_LOADER: ("identifier", "version_id", "sha1", "bucket", "cls", "stimulus_set_loader",
                      "merge_stimulus_set_meta"),
}
_REQUIRED = {
    STIMULUS_LOADER: ("identifier", "bucket", "csv_sha1", "zip_sha1"),
    ASSEMBLY_LOADER: ("identifier", "sha1", "bucket", "cls"),
}
_REGISTRIES = ("stimulus_set_registry", "data_registry")
_UNRESOLVED = object()


@dataclass(frozen=True)
class Unresolved:
    """A loader call that static reading cannot resolve: where it is and why."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass
class PluginScan:
    entries: list[Entry] = field(default_factory=list)
    unresolved: list[Unresolved] = field(default_factory=list)
    files: int = 0


def _callee(node: ast.expr) -> str | None:
    """``f`` of ``f``, ``a.b.f``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


class _Constants:
    """Module-level names bound once to literals (strings, numbers, None), and what they evaluate to."""

    def __init__(self, tree: ast.Module) -> None:
        assigned: dict[str, list[ast.expr]] = {}
        for node in tree.body:
            targets: list[ast.expr] = []
            value: ast.expr | None = None
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                targets, value = [node.target], node.value
            for target in targets:
                if isinstance(target, ast.Name) and value is not None:
                    assigned.setdefault(target.id, []).append(value)
        self.values: dict[str, Any] = {}
        for name, values in assigned.items():
            if len(values) == 1:  # a name bound twice is not a constant
                found = self.evaluate(values[0])
                if found is not _UNRESOLVED:
                    self.values[name] = found

    def evaluate(self, node: ast.expr | None) -> Any:
        """The value of a literal expression, or ``_UNRESOLVED``."""
        if node is None:
            return _UNRESOLVED
        if isinstance(node, ast.Constant) and isinstance(node.value, str | int | float | bool | type(None)):
            return node.value
        if isinstance(node, ast.Name):
            return self.values.get(node.id, _UNRESOLVED)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self.evaluate(node.left), self.evaluate(node.right)
            if isinstance(left, str) and isinstance(right, str):
                return left + right
            return _UNRESOLVED
        if isinstance(node, ast.JoinedStr):
            parts = []
            for value in node.values:
                if isinstance(value, ast.Constant):
                    parts.append(str(value.value))
                elif isinstance(value, ast.FormattedValue) and value.format_spec is None and value.conversion == -1:
                    inner = self.evaluate(value.value)
                    if inner is _UNRESOLVED:
                        return _UNRESOLVED
                    parts.append(str(inner))
                else:
                    return _UNRESOLVED
            return "".join(parts)
        return _UNRESOLVED

    def bibtex(self) -> str:
        found = [value for name, value in self.values.items() if "bibtex" in name.lower() and isinstance(value, str)]
        return found[0].strip() if len(found) == 1 else ""


@dataclass(frozen=True)
class _Call:
    loader: str
    arguments: dict[str, ast.expr]
    line: int
    registry_key: tuple[str, str] | None  # (registry, key) of the registration it is in


def _bind(loader: str, positional: list[ast.expr], keywords: list[ast.keyword]) -> dict[str, ast.expr] | str:
    names = SIGNATURES[loader]
    if len(positional) > len(names) or any(isinstance(a, ast.Starred) for a in positional):
        return "positional arguments that do not fit the signature (or *args)"
    bound = dict(zip(names, positional, strict=False))
    for keyword in keywords:
        if keyword.arg is None:
            return "**kwargs"
        if keyword.arg not in names:
            return f"unknown argument {keyword.arg!r}"
        bound[keyword.arg] = keyword.value
    return bound


def _loader_call(node: ast.expr) -> tuple[str, list[ast.expr], list[ast.keyword]] | None:
    """(loader, positional, keywords) of ``loader(...)``, ``partial(loader, ...)`` or ``lambda: loader(...)``."""
    if isinstance(node, ast.Lambda):
        return _loader_call(node.body)
    if not isinstance(node, ast.Call):
        return None
    name = _callee(node.func)
    if name in SIGNATURES:
        return name, list(node.args), list(node.keywords)
    if name == "partial" and node.args and _callee(node.args[0]) in SIGNATURES:
        return str(_callee(node.args[0])), list(node.args[1:]), list(node.keywords)
    return None


def _registration(node: ast.stmt) -> tuple[str, ast.expr, ast.expr] | None:
    """(registry, key expression, value) of ``registry['X'] = value``."""
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
        if isinstance(target, ast.Subscript) and _callee(target.value) in _REGISTRIES:
            return str(_callee(target.value)), target.slice, node.value
    return None


def _calls(tree: ast.Module, constants: _Constants) -> Iterator[_Call | Unresolved]:
    """Every loader call of the module, with the registration it is in."""
    seen: set[int] = set()
    for node in ast.walk(tree):
        registration = _registration(node) if isinstance(node, ast.stmt) else None
        if registration is None:
            continue
        registry, key_node, value = registration
        found = _loader_call(value)
        if found is None:
            continue
        seen.add(id(value.body if isinstance(value, ast.Lambda) else value))
        key = constants.evaluate(key_node)
        loader, positional, keywords = found
        bound = _bind(loader, positional, keywords)
        if isinstance(bound, str):
            yield Unresolved("", value.lineno, f"{loader} call with {bound}")
            continue
        yield _Call(loader, bound, value.lineno, (registry, key) if isinstance(key, str) else None)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and id(node) not in seen:
            found = _loader_call(node)
            if found is None or (_callee(node.func) == "partial"):
                if found is not None:
                    yield Unresolved("", node.lineno, f"{found[0]} in a functools.partial outside a registration")
                continue
            if _is_loader_argument(node, tree):
                continue
            loader, positional, keywords = found
            bound = _bind(loader, positional, keywords)
            if isinstance(bound, str):
                yield Unresolved("", node.lineno, f"{loader} call with {bound}")
            else:
                yield _Call(loader, bound, node.lineno, None)


def _is_loader_argument(call: ast.Call, tree: ast.Module) -> bool:
    """Whether ``call`` is a ``stimulus_set_loader=lambda: load_stimulus_set_from_s3(...)`` (handled there)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "stimulus_set_loader" and isinstance(node.value, ast.Lambda):
            if node.value.body is call:
                return True
    return False


class _Resolver:
    """Turns the calls of one file into entries, or into Unresolved with the reason."""

    def __init__(self, file: str, constants: _Constants, stimulus_keys: Mapping[str, str]) -> None:
        self.file, self.constants, self.stimulus_keys = file, constants, stimulus_keys
        self.bibtex = constants.bibtex()

    def value(self, call: _Call, name: str) -> Any:
        node = call.arguments.get(name)
        return None if node is None else self.constants.evaluate(node)

    def text(self, call: _Call, name: str) -> str | Unresolved:
        value = self.value(call, name)
        if value is _UNRESOLVED or (value is None and name in _REQUIRED[call.loader]):
            node = call.arguments.get(name)
            shown = ast.unparse(node) if node is not None else "missing"
            return Unresolved(self.file, call.line, f"{call.loader}: argument {name} is {shown}, not a literal or "
                                                    "module-level constant")
        return "" if value is None else str(value)

    def entries(self, call: _Call) -> list[Entry] | Unresolved:
        from ...store.s3objects import object_key, pinned_version, split_bucket

        names = [name for name in SIGNATURES[call.loader] if name not in ("cls", "stimulus_set_loader",
                                                                        "merge_stimulus_set_meta")]
        values: dict[str, str] = {}
        for name in names:
            found = self.text(call, name)
            if isinstance(found, Unresolved):
                return found
            values[name] = found
        try:
            bucket, folder = split_bucket(values["bucket"])
        except ValueError as error:
            return Unresolved(self.file, call.line, f"{call.loader}: {error}")
        identifier = values["identifier"]
        origin = f"{self.file}:{call.line}"
        prefix = values.get("filename_prefix") or None
        if call.loader == STIMULUS_LOADER:
            return [
                Entry(identifier, TYPE_STIMULUS_SET, role, cls, bucket, object_key(identifier, role, folder, prefix),
                      pinned_version(values[f"{role}_version_id"]), values[f"{role}_sha1"].lower(), "", self.bibtex,
                      origin)
                for role, cls in ((ROLE_CSV, "StimulusSet"), (ROLE_ZIP, ""))
            ]
        cls = call.arguments.get("cls")
        cls_name = _callee(cls) if cls is not None else None
        if cls_name is None:
            return Unresolved(self.file, call.line, f"{call.loader}: argument cls is not a class name")
        stimulus_set = self.stimulus_set_of(call)
        if isinstance(stimulus_set, Unresolved):
            return stimulus_set
        return [Entry(identifier, TYPE_ASSEMBLY, ROLE_NC, cls_name, bucket, object_key(identifier, "nc", folder),
                      pinned_version(values["version_id"]), values["sha1"].lower(), stimulus_set, self.bibtex, origin)]

    def stimulus_set_of(self, call: _Call) -> str | Unresolved:
        node = call.arguments.get("stimulus_set_loader")
        if node is None or (isinstance(node, ast.Constant) and node.value is None):
            return ""
        body = node.body if isinstance(node, ast.Lambda) else node
        key: Any = _UNRESOLVED
        if isinstance(body, ast.Call) and _callee(body.func) == STIMULUS_LOADER:
            bound = _bind(STIMULUS_LOADER, list(body.args), list(body.keywords))
            if isinstance(bound, dict):
                identifier = self.constants.evaluate(bound.get("identifier"))
                if isinstance(identifier, str):
                    return identifier
        elif isinstance(body, ast.Call) and isinstance(body.func, ast.Subscript) \
                and _callee(body.func.value) == "stimulus_set_registry":
            key = self.constants.evaluate(body.func.slice)
        elif isinstance(body, ast.Call) and _callee(body.func) == "load_stimulus_set" and body.args:
            key = self.constants.evaluate(body.args[0])
        if isinstance(key, str) and key in self.stimulus_keys:
            return self.stimulus_keys[key]
        reason = ("registers no stimulus set of that key" if isinstance(key, str)
                  else "is not a lambda naming a registered stimulus set")
        return Unresolved(self.file, call.line, f"{call.loader}: stimulus_set_loader {ast.unparse(node)} {reason}")


def scan_source(source: str, file: str, stimulus_keys: Mapping[str, str] | None = None) -> PluginScan:
    """The entries and the unresolved calls of one module's source (pure: the source is parsed, never run)."""
    scan = PluginScan(files=1)
    try:
        tree = ast.parse(source, filename=file)
    except SyntaxError as error:
        scan.unresolved.append(Unresolved(file, error.lineno or 0, f"not valid Python: {error.msg}"))
        return scan
    constants = _Constants(tree)
    keys = dict(stimulus_keys or {})
    calls = []
    for call in _calls(tree, constants):
        if isinstance(call, Unresolved):
            scan.unresolved.append(Unresolved(file, call.line, call.reason))
            continue
        calls.append(call)
        if call.loader == STIMULUS_LOADER and call.registry_key and call.registry_key[0] == "stimulus_set_registry":
            identifier = constants.evaluate(call.arguments.get("identifier"))
            if isinstance(identifier, str):
                keys.setdefault(call.registry_key[1], identifier)
    resolver = _Resolver(file, constants, keys)
    for call in calls:
        found = resolver.entries(call)
        if isinstance(found, Unresolved):
            scan.unresolved.append(found)
        else:
            scan.entries.extend(found)
    return scan


def _plugin_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(
        file for file in path.rglob("*.py")
        if not any(part.startswith(".") or part in ("node_modules", ".venv") for part in file.relative_to(path).parts)
    )


def _stimulus_keys(sources: Mapping[Path, str]) -> dict[str, str]:
    """Registry key -> identifier of every stimulus set registration of all files (plugins share them)."""
    keys: dict[str, str] = {}
    for source in sources.values():
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        constants = _Constants(tree)
        for node in ast.walk(tree):
            registration = _registration(node) if isinstance(node, ast.stmt) else None
            if registration is None or registration[0] != "stimulus_set_registry":
                continue
            found = _loader_call(registration[2])
            key = constants.evaluate(registration[1])
            if found is None or not isinstance(key, str):
                continue
            bound = _bind(*found)
            identifier = constants.evaluate(bound.get("identifier")) if isinstance(bound, dict) else None
            if isinstance(identifier, str):
                keys.setdefault(key, identifier)
    return keys


def scan_plugins(path: Path) -> PluginScan:
    """Every Brain-Score data plugin under ``path`` (a checkout, its ``data/`` directory, or one file).

    Only files that mention a loader are parsed.  Identical entries registered more than once
    count once; two different ones for the same identifier and file are both listed as unresolved.
    """
    path = Path(path)
    sources = {}
    for file in _plugin_files(path):
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            logger.warning("skipping %s: %s", file, error)
            continue
        if STIMULUS_LOADER in text or ASSEMBLY_LOADER in text:
            sources[file] = text
    keys = _stimulus_keys(sources)
    scan = PluginScan()
    base = path if path.is_dir() else path.parent
    for file, text in sources.items():
        found = scan_source(text, file.relative_to(base).as_posix(), keys)
        scan.files += 1
        scan.entries.extend(found.entries)
        scan.unresolved.extend(found.unresolved)
    scan.entries, conflicts = _deduplicated(scan.entries)
    scan.unresolved.extend(conflicts)
    return scan


def _deduplicated(entries: list[Entry]) -> tuple[list[Entry], list[Unresolved]]:
    kept: dict[tuple[str, str], Entry] = {}
    conflicts = []
    for entry in entries:
        key = (entry.identifier, entry.role)
        known = kept.get(key)
        if known is None:
            kept[key] = entry
        elif known.manifest_row() != entry.manifest_row():
            file, _, line = entry.origin.rpartition(":")
            conflicts.append(Unresolved(file, int(line or 0), f"{entry.identifier} ({entry.role}) is registered "
                                                             f"differently at {known.origin}"))
    return list(kept.values()), conflicts
