"""The main job, on this repository's embedded demo registry.

Lists the catalog, loads the demo stimulus set and an assembly, then shows versioning: it
clones the registry into a throwaway directory, packages a second version of one assembly
there, and loads the identifier at both commits.  Then it prints a citation and builds the
catalog site into ``build/site``.  Output goes through ``echo`` (the CLI's).
"""

from __future__ import annotations

import importlib.util
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, cast

from ..loading import get_assembly, get_stimulus_set
from ..lookup import combined_catalog
from ..store.git import Git
from ..store.git import clone as git_clone
from .tables import format_table

__all__ = ["run_demo"]

Echo = Callable[[str], None]


def _demo_data(root: Path) -> ModuleType:
    script = root / "registry" / "scripts" / "demo_data.py"
    spec = importlib.util.spec_from_file_location("brainio_dvc_demo_data", script)
    if spec is None or spec.loader is None:
        msg = f"{script} not found: the demo runs in a clone of the brainio-dvc repository"
        raise FileNotFoundError(msg)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _origin(attrs: dict) -> str:
    return f"{attrs['registry']} @ {attrs['rev'][:10]}  {attrs['path']}  md5 {attrs['md5']}"


def _show_catalog(root: Path, echo: Echo) -> None:
    catalog = combined_catalog(registry=str(root))
    echo(f"== Catalog of the registry {root}")
    # A catalog's column labels are str; pandas-stubs keys to_dict's records by Hashable.
    rows = cast("list[dict[str, Any]]", catalog.to_dict(orient="records"))
    echo(format_table(rows, ["identifier", "lookup_type", "class", "md5", "size"]))


def _show_loading(root: Path, data: ModuleType, echo: Echo) -> None:
    stimuli = get_stimulus_set(data.STIMULUS_SET_IDENTIFIER, registry=str(root))
    echo(f"\n== Stimulus set {stimuli.identifier}: {len(stimuli)} stimuli, columns {list(stimuli.columns)}")
    echo(f"   from {_origin(stimuli.attrs)}")
    first = stimuli["stimulus_id"].iloc[0]
    echo(f"   {first} -> {stimuli.get_stimulus(first)}")
    assembly = get_assembly(data.NEURAL_IDENTIFIER, registry=str(root))
    shape = ", ".join(f"{dim}={size}" for dim, size in assembly.sizes.items())
    echo(f"\n== {type(assembly).__name__} {assembly.attrs['identifier']}: {shape}")
    echo(f"   from {_origin(assembly.attrs)}")
    echo(f"   presentation levels: {list(assembly.indexes['presentation'].names)}")
    v4 = assembly.sel(region="V4")
    echo(f"   mean response of V4 sites to vertical gratings: {float(v4.sel(image_label='vertical').mean()):.4f}")


def _show_versions(root: Path, data: ModuleType, echo: Echo) -> None:
    from ..packaging import package_data_assembly

    with tempfile.TemporaryDirectory(prefix="brainio-dvc-demo-") as scratch:
        clone = Path(scratch) / "registry"
        git_clone(str(root), clone, "--quiet")
        git = Git(clone)
        version_1 = git.run("rev-parse", "HEAD").strip()
        result = package_data_assembly(
            data.CATALOG, data.neural_assembly(version=2), data.NEURAL_IDENTIFIER, data.STIMULUS_SET_IDENTIFIER,
            "NeuronRecordingAssembly", registry=clone, new_version=True,
        )
        git.run("merge", "--quiet", "--ff-only", result["branch"])
        echo(f"\n== Versions: packaged a second version of {data.NEURAL_IDENTIFIER} into a throwaway clone {clone}")
        for label, rev in (("v1", version_1), ("v2", result["commit"])):
            assembly = get_assembly(data.NEURAL_IDENTIFIER, rev=rev, registry=str(clone))
            echo(f"   {label}: mean {float(assembly.mean()):+.4f}  from {_origin(assembly.attrs)}")


def _show_citation(root: Path, data: ModuleType, echo: Echo) -> None:
    from ..browse.citations import citation

    found = citation(data.NEURAL_IDENTIFIER, registry=str(root))
    echo(f"\n== How to cite {data.NEURAL_IDENTIFIER} (`brainio-dvc cite`), from its card and the commit")
    echo(found.format("text").rstrip())


def _show_site(root: Path, echo: Echo) -> None:
    from ..browse.site import build_site

    report = build_site(root / "build" / "site", registry=str(root))
    echo(f"\n== Catalog site (`brainio-dvc site`): {len(report.pages)} pages, {report.thumbnails} thumbnails")
    echo(f"   open {report.index.as_uri()}")


def run_demo(root: Path, echo: Echo) -> None:
    """Run the demo on the registry at ``root`` (a clone of brainio-dvc)."""
    data = _demo_data(root)
    _show_catalog(root, echo)
    _show_loading(root, data, echo)
    _show_versions(root, data, echo)
    _show_citation(root, data, echo)
    _show_site(root, echo)
