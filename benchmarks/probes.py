"""What runs inside each fresh measuring process: ``python -m benchmarks.probes NAME JSON``.

A probe does its set-up (imports, data generation) untimed unless the import is what it
measures, times one operation with :func:`time.perf_counter`, and prints one JSON line as its
last line of output: at least ``seconds``, and ``max_rss_mb`` (``ru_maxrss`` of this process).
With ``"profile": PATH`` in its arguments, the timed operation also runs under cProfile and the
statistics are dumped to PATH.
"""

from __future__ import annotations

import json
import resource
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Imported before the clock starts by the load probes and their baselines alike, so that both
#: pay for exactly the same interpreter state.
_COMMON_IMPORTS = ("numpy", "pandas", "xarray", "netCDF4", "brainio_dvc")

PROBES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def probe(function: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    PROBES[function.__name__] = function
    return function


def _common_imports() -> None:
    import importlib

    for name in _COMMON_IMPORTS:
        importlib.import_module(name)


def _timed(args: dict[str, Any], operation: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds taken by ``operation()``, and its result (profiled when args['profile'])."""
    if args.get("profile"):
        import cProfile

        profiler = cProfile.Profile()
        started = time.perf_counter()
        result = profiler.runcall(operation)
        seconds = time.perf_counter() - started
        profiler.dump_stats(args["profile"])
        return seconds, result
    started = time.perf_counter()
    result = operation()
    return time.perf_counter() - started, result


def _max_rss_mb() -> float:
    """This process's peak RSS: VmHWM where Linux has it, which starts afresh at exec, unlike
    ``ru_maxrss``, which a forked child starts at its parent's peak."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


@probe
def import_library(args: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    import brainio_dvc

    seconds = time.perf_counter() - started
    heavy = sorted(name for name in ("xarray", "pandas", "numpy", "dvc", "git", "boto3", "netCDF4", "dask")
                   if name in sys.modules)
    started = time.perf_counter()
    brainio_dvc.get_assembly  # noqa: B018 - the first attribute access imports the loading modules
    first_use = time.perf_counter() - started
    return {"seconds": seconds, "heavy_modules_imported": heavy, "first_use_seconds": first_use}


@probe
def get_assembly(args: dict[str, Any]) -> dict[str, Any]:
    _common_imports()
    from brainio_dvc import get_assembly

    split: dict[str, float] = {}

    def load() -> Any:
        started = time.perf_counter()
        assembly = get_assembly(args["identifier"], registry=args["registry"])
        split["get_assembly_seconds"] = time.perf_counter() - started
        dask_before = "dask" in sys.modules
        started = time.perf_counter()
        assembly = assembly.load()  # already in memory: xarray still checks each variable for dask
        split["load_seconds"] = time.perf_counter() - started
        split["load_imported_dask"] = not dask_before and "dask" in sys.modules
        return assembly

    seconds, assembly = _timed(args, load)
    # Untimed: the first use of the stimulus paths extracts the ZIP (in the run that fills the
    # caches), so that the later runs are warm loads.
    len(assembly.attrs["stimulus_set"].stimulus_paths)
    return {"seconds": seconds, **split, "shape": list(assembly.shape),
            "levels": len(assembly.indexes["presentation"].names)}


def _in_package(module: str) -> bool:
    return module == "brainio_dvc" or module.startswith("brainio_dvc.")


def count_crossings(operation: Callable[[], Any]) -> tuple[int, Any]:
    """The module crossings of ``operation()``, and its result.

    A crossing is a Python function call (a profiler ``"call"`` event: calls of C functions are
    not counted, nor are generator resumptions told apart from calls) whose callee's module
    (``__name__`` of the callee frame's globals) differs from its caller's (the frame below it),
    where both modules are ``brainio_dvc`` or modules under it: a call across a boundary
    between two of the package's modules.  So ``loading -> lookup`` and a property of
    ``store.pins`` read in ``loading`` count once each; ``loading -> xarray``, ``xarray ->
    xarray`` and ``pandas -> brainio_dvc.stimuli`` do not (calls into and out of libraries
    are a different measure: some 600 in a warm load, most into pathlib and pandas).  The
    calling thread is profiled (``sys.setprofile``) and so is every thread it starts
    (``threading.setprofile``): a warm load reads the assembly's values in one.
    """
    crossings: list[str] = []  # list.append is atomic: the threads share it

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event != "call" or frame.f_back is None:
            return
        callee = frame.f_globals.get("__name__", "")
        caller = frame.f_back.f_globals.get("__name__", "")
        if callee != caller and _in_package(callee) and _in_package(caller):
            crossings.append(callee)

    previous, previous_threads = sys.getprofile(), threading.getprofile()
    sys.setprofile(profile)
    threading.setprofile(profile)
    try:
        result = operation()
    finally:
        sys.setprofile(previous)
        threading.setprofile(previous_threads)
    return len(crossings), result


@probe
def warm_crossings(args: dict[str, Any]) -> dict[str, Any]:
    """Module crossings of one warm ``get_assembly`` (after a first, uncounted one)."""
    _common_imports()
    from brainio_dvc import get_assembly

    def load() -> Any:
        return get_assembly(args["identifier"], registry=args["registry"])

    len(load().attrs["stimulus_set"].stimulus_paths)  # the first use of the paths extracts the ZIP
    started = time.perf_counter()
    crossings, _ = count_crossings(load)
    return {"seconds": time.perf_counter() - started, "crossings": crossings}


@probe
def raw_xarray(args: dict[str, Any]) -> dict[str, Any]:
    _common_imports()
    import xarray as xr

    def load() -> Any:
        return xr.open_dataarray(args["path"]).load()

    seconds, array = _timed(args, load)
    return {"seconds": seconds, "shape": list(array.shape)}


@probe
def get_stimulus_set(args: dict[str, Any]) -> dict[str, Any]:
    _common_imports()
    from brainio_dvc import get_stimulus_set

    seconds, stimuli = _timed(args, lambda: get_stimulus_set(args["identifier"], registry=args["registry"]))
    started = time.perf_counter()
    stimuli.get_stimulus(stimuli["stimulus_id"].iloc[0])  # builds every stimulus path
    first_path = time.perf_counter() - started
    return {"seconds": seconds, "first_get_stimulus_seconds": first_path, "rows": len(stimuli),
            "columns": len(stimuli.columns)}


@probe
def raw_read_csv(args: dict[str, Any]) -> dict[str, Any]:
    _common_imports()
    import pandas as pd

    seconds, frame = _timed(args, lambda: pd.read_csv(args["path"]))
    return {"seconds": seconds, "rows": len(frame)}


def _tree_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file()) if root.exists() else 0


@probe
def cold_get_assembly(args: dict[str, Any]) -> dict[str, Any]:
    """A load with empty caches (BRAINIO_HOME is a new directory for each process).

    ``get_assembly`` is imported before the clock starts, as the warm probe imports it: the
    loading modules cost a process the same whatever the caches hold (the import scenario
    reports that cost), and the figure is the cost of empty caches.  What only a cold load
    imports (boto3, say) is imported inside the clock.
    """
    _common_imports()
    from brainio_dvc import config, get_assembly

    def load() -> Any:
        return get_assembly(args["identifier"], registry=args["registry"]).load()

    seconds, assembly = _timed(args, load)
    cached = _tree_bytes(config.home() / "cache")
    # Not in the figure: the stimuli are extracted on the first use of their paths.
    started = time.perf_counter()
    stimuli = assembly.attrs["stimulus_set"]
    Path(stimuli.get_stimulus(stimuli["stimulus_id"].iloc[0])).stat()
    first_use = time.perf_counter() - started
    return {"seconds": seconds, "shape": list(assembly.shape), "cached_bytes": cached,
            "first_use_seconds": first_use}


@probe
def copy_files(args: dict[str, Any]) -> dict[str, Any]:
    """The raw transfer from a local-directory remote: copy each object file to a new file."""
    import shutil

    _common_imports()
    destination = Path(args["destination"])
    destination.mkdir(parents=True, exist_ok=True)

    def copy() -> int:
        total = 0
        for number, source in enumerate(args["paths"]):
            target = destination / f"object-{number}"
            shutil.copyfile(source, target)
            total += target.stat().st_size
        return total

    seconds, total = _timed(args, copy)
    return {"seconds": seconds, "bytes": total}


@probe
def boto3_download(args: dict[str, Any]) -> dict[str, Any]:
    """The raw transfer: import boto3, make a client, download each object to a file."""
    _common_imports()
    destination = Path(args["destination"])
    destination.mkdir(parents=True, exist_ok=True)

    def download() -> int:
        import boto3

        client = boto3.client("s3", endpoint_url=args["endpoint"], region_name="us-east-1",
                              aws_access_key_id=args["key"], aws_secret_access_key=args["secret"])
        total = 0
        for number, key in enumerate(args["keys"]):
            target = destination / f"object-{number}"
            client.download_file(args["bucket"], key, str(target))
            total += target.stat().st_size
        return total

    seconds, total = _timed(args, download)
    return {"seconds": seconds, "bytes": total}


@probe
def package_assembly(args: dict[str, Any]) -> dict[str, Any]:
    """``package_data_assembly`` of a freshly generated assembly (generation untimed)."""
    from benchmarks.data import ASSEMBLY_ID, CATALOG, FULL, QUICK, STIMULUS_SET_ID, make_assembly
    from brainio_dvc.packaging import package_data_assembly, write_netcdf

    scale = {"full": FULL, "quick": QUICK}[args["scale"]]
    assembly = make_assembly(scale, seed=args["seed"])

    def package() -> dict[str, Any]:
        return package_data_assembly(CATALOG, assembly, ASSEMBLY_ID, STIMULUS_SET_ID, "NeuronRecordingAssembly",
                                     registry=args["registry"], branch=args["branch"])

    seconds, result = _timed(args, package)
    found = {"seconds": seconds, "size": int(result["size"]), "md5": result["md5"],
             "branch": result["branch"], "commit": result["commit"]}
    if args.get("zlib9_path"):
        # The size baseline: the same assembly (with the attrs packaging adds) at zlib level 9.
        attributed = assembly.copy()
        attributed.attrs.update(identifier=ASSEMBLY_ID, stimulus_set_identifier=STIMULUS_SET_ID)
        started = time.perf_counter()
        write_netcdf(attributed, args["zlib9_path"], compression_level=9)
        found["zlib9_seconds"] = time.perf_counter() - started
        found["zlib9_size"] = Path(args["zlib9_path"]).stat().st_size
    return found


@probe
def lookup(args: dict[str, Any]) -> dict[str, Any]:
    """The first lookup in a process (catalog read and indexed), then repeated lookups."""
    import brainio_dvc.lookup as lookup_module

    identifiers = args["identifiers"]
    registry = args["registry"]
    first, _ = _timed(args, lambda: lookup_module.lookup_assembly(identifiers[0], registry=registry))
    repeats = args.get("repeats", 1000)
    started = time.perf_counter()
    for number in range(repeats):
        lookup_module.lookup_assembly(identifiers[number % len(identifiers)], registry=registry)
    repeated = (time.perf_counter() - started) / repeats
    # The same keys in a plain dict, as a machine-independent yardstick for the repeated lookup.
    table = {identifier: {"identifier": identifier} for identifier in identifiers}
    started = time.perf_counter()
    for number in range(repeats):
        table[identifiers[number % len(identifiers)]]
    per_dict_lookup = (time.perf_counter() - started) / repeats
    return {"seconds": first, "first_seconds": first, "repeated_seconds": repeated, "repeats": repeats,
            "dict_lookup_seconds": per_dict_lookup}


def _bytes_read() -> int:
    """rchar of this process: every byte its read system calls returned, page cache included."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return 0


@probe
def build_registry(args: dict[str, Any]) -> dict[str, Any]:
    """Set-up, not a figure: the registry of one growth scale (benchmarks.growth)."""
    from benchmarks.data import Scale
    from benchmarks.growth import build_registry as build

    scale = Scale(args["name"], args["stimuli"], args["presentations"], args["neuroids"], 0, 1, 1)
    started = time.perf_counter()
    root = build(Path(args["base"]), scale, args.get("image_size"))
    return {"seconds": time.perf_counter() - started, "root": str(root)}


@probe
def lazy_region(args: dict[str, Any]) -> dict[str, Any]:
    """get_assembly(lazy=True), then either the values of one region or all of them."""
    _common_imports()
    import dask  # noqa: F401 - imported before the clock, as the eager probes import xarray

    from brainio_dvc import get_assembly

    assembly = get_assembly(args["identifier"], registry=args["registry"], lazy=True)
    before = _bytes_read()
    if args.get("region"):
        seconds, selected = _timed(args, lambda: assembly.sel(region=args["region"]).load())
    else:
        seconds, selected = _timed(args, lambda: assembly.load())
    return {"seconds": seconds, "bytes_read": _bytes_read() - before, "shape": list(selected.shape),
            "file_bytes": Path(assembly.encoding.get("source", "")).stat().st_size
            if assembly.encoding.get("source") else None}


@probe
def offline_load(args: dict[str, Any]) -> dict[str, Any]:
    """get_assembly from a git URL, recording every subprocess and socket connection it makes."""
    _common_imports()
    import socket
    import subprocess

    import brainio_dvc

    commands: list[list[str]] = []
    connections: list[str] = []
    original_init = subprocess.Popen.__init__
    original_connect = socket.socket.connect

    def recording_init(self: Any, command: Any, *rest: Any, **kwargs: Any) -> None:
        commands.append([str(part) for part in command] if isinstance(command, list | tuple) else [str(command)])
        original_init(self, command, *rest, **kwargs)

    def recording_connect(self: Any, address: Any) -> Any:
        connections.append(repr(address))
        return original_connect(self, address)

    subprocess.Popen.__init__ = recording_init  # type: ignore[method-assign]
    socket.socket.connect = recording_connect  # type: ignore[method-assign]
    seconds, assembly = _timed(args, lambda: brainio_dvc.get_assembly(args["identifier"], registry=args["registry"]))
    network = {"fetch", "ls-remote", "clone", "pull", "push", "remote-https", "remote-http"}
    git_network = [c for c in commands if c and Path(c[0]).name == "git" and network & set(c)]
    return {"seconds": seconds, "shape": list(assembly.shape), "rev": assembly.attrs.get("rev"),
            "subprocesses": commands, "git_network_commands": git_network, "socket_connections": connections}


def main(argv: list[str]) -> None:
    name, raw = argv[1], argv[2] if len(argv) > 2 else "{}"
    result = PROBES[name](json.loads(raw))
    result.setdefault("max_rss_mb", _max_rss_mb())
    sys.stdout.write("\n" + json.dumps(result) + "\n")


if __name__ == "__main__":
    main(sys.argv)
