"""The scenarios: each builds what it needs, runs fresh processes and records figures."""

from __future__ import annotations

import logging
import shutil
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .data import ASSEMBLY_ID, STIMULUS_SET_ID, Scale
from .harness import Figure, absolute_figure, fresh_runs, median, ratio_figure, round_ratios, run_probe
from .registries import git, scenario_env

logger = logging.getLogger("benchmarks")


@dataclass
class Context:
    scale: Scale
    work: Path
    stimuli: Any = None
    local_root: Path | None = None
    figures: list[Figure] = field(default_factory=list)
    measurements: list[dict[str, Any]] = field(default_factory=list)
    #: Where one extra, uncounted run of the heavy load probes writes cProfile statistics.
    profile_dir: Path | None = None
    #: One row of figures per scale (benchmarks.growth).
    growth: list[dict[str, Any]] = field(default_factory=list)

    def measure(self, name: str, value: Any, unit: str = "", **details: Any) -> None:
        self.measurements.append({"measurement": name, "value": value, "unit": unit, **details})
        logger.info("%s: %s %s", name, value, unit)


def _seconds(samples: list[dict[str, Any]], key: str = "seconds") -> list[float]:
    return [sample[key] for sample in samples]


def import_time(ctx: Context) -> None:
    samples = fresh_runs("import_library", ctx.scale.runs, {})
    ctx.figures.append(absolute_figure("import brainio_dvc", median(samples), 0.3, "s", _seconds(samples),
                                       note=f"modules imported with it: {samples[0]['heavy_modules_imported']}"))
    ctx.measure("first access of brainio_dvc.get_assembly after the import (imports the loading modules)",
                round(median(samples, "first_use_seconds"), 3), "s")


def build_data(ctx: Context) -> None:
    from .data import make_stimulus_set
    from .registries import local_registry

    started = time.perf_counter()
    ctx.stimuli = make_stimulus_set(ctx.work / "stimuli", ctx.scale.stimuli)
    ctx.measure("writing the stimulus PNGs (setup)", round(time.perf_counter() - started, 2), "s")
    started = time.perf_counter()
    ctx.local_root = local_registry(ctx.work / "local", ctx.stimuli)
    ctx.measure("package_stimulus_set into a local-directory registry (setup, one run)",
                round(time.perf_counter() - started, 2), "s")


def _package_runs(ctx: Context, root: Path, label: str, zlib9: Path | None) -> list[dict[str, Any]]:
    """heavy_runs packagings of the assembly on branches from the same base; run 0 is merged."""
    from .registries import merge

    def args(number: int) -> dict[str, Any]:
        found = {"scale": ctx.scale.name, "seed": number, "registry": str(root), "branch": f"bench/{label}-{number}"}
        if number == 0 and zlib9 is not None:
            found["zlib9_path"] = str(zlib9)
        return found

    samples = fresh_runs("package_assembly", ctx.scale.heavy_runs, args)
    merge(root, samples[0]["branch"])
    for sample in samples[1:]:
        git(root, "branch", "--quiet", "-D", sample["branch"])
    return samples


def packaging(ctx: Context) -> None:
    zlib9 = ctx.work / "zlib9" / "assembly-zlib9.nc"
    zlib9.parent.mkdir(parents=True, exist_ok=True)
    samples = _package_runs(ctx, ctx.local_root, "local", zlib9)
    ctx.figures.append(absolute_figure(
        "package_data_assembly (local-directory remote)", median(samples), 10, "s", _seconds(samples),
        note="validate, write netCDF (zlib 1), dvc add, catalog build, push, commit; data generation untimed; "
             "each run pushes new values (seed) so no object is already in the remote"))
    size, baseline = samples[0]["size"], samples[0]["zlib9_size"]
    ctx.figures.append(ratio_figure(
        "packaged file size vs write_netcdf(compression_level=9)", size / 1e6, baseline / 1e6, 1.25, "MB",
        note=f"zlib-9 file written in {samples[0]['zlib9_seconds']:.1f} s"))


def _cache_path(home: Path, md5: str) -> Path:
    return home / "cache" / "files" / "md5" / md5[:2] / md5[2:]


def warm_loads(ctx: Context) -> None:
    import brainio_dvc.lookup as lookup

    env = scenario_env(ctx.work / "warm")
    registry = str(ctx.local_root)
    run_probe("get_assembly", {"identifier": ASSEMBLY_ID, "registry": registry}, env)  # fills the caches
    home = Path(env["BRAINIO_HOME"])
    nc = _cache_path(home, lookup.lookup_assembly(ASSEMBLY_ID, registry=registry)["md5"])
    csv = _cache_path(home, lookup.lookup_stimulus_set(STIMULUS_SET_ID, registry=registry)[0]["md5"])
    assert nc.is_file() and csv.is_file(), (nc, csv)

    library, raw, stimuli, read_csv = [], [], [], []
    for number in range(ctx.scale.runs):  # interleaved, so that drift hits both sides alike
        library.append(run_probe("get_assembly", {"identifier": ASSEMBLY_ID, "registry": registry}, env))
        raw.append(run_probe("raw_xarray", {"path": str(nc)}, env))
        stimuli.append(run_probe("get_stimulus_set", {"identifier": STIMULUS_SET_ID, "registry": registry}, env))
        read_csv.append(run_probe("raw_read_csv", {"path": str(csv)}, env))
        logger.info("  warm run %d: get_assembly %.3f s (%.0f MB), xarray %.3f s (%.0f MB), "
                    "get_stimulus_set %.4f s, read_csv %.4f s", number + 1, library[-1]["seconds"],
                    library[-1]["max_rss_mb"], raw[-1]["seconds"], raw[-1]["max_rss_mb"], stimuli[-1]["seconds"],
                    read_csv[-1]["seconds"])
    ctx.figures.append(ratio_figure(
        "warm get_assembly + .load()", median(library), median(raw), 1.1, "s", _seconds(library), _seconds(raw),
        rounds=round_ratios(_seconds(library), _seconds(raw)),
        note=f"baseline: xarray.open_dataarray(cached file).load(), run right after each get_assembly; the ratio "
             f"is the median of each such pair's; of the figure, get_assembly itself takes "
             f"{median(library, 'get_assembly_seconds'):.3f} s and the trailing .load() "
             f"{median(library, 'load_seconds'):.3f} s (it imported dask: {library[0]['load_imported_dask']}); "
             f"presentation MultiIndex levels: {library[0]['levels']}"))
    ctx.figures.append(ratio_figure(
        "warm get_stimulus_set", median(stimuli), median(read_csv), 3, "s", _seconds(stimuli), _seconds(read_csv),
        extra_limit=0.1,
        note="baseline: pandas.read_csv(cached CSV); the loading modules are imported before the clock starts "
             "(see 'first access' below); stimulus Paths are built on first use: the first get_stimulus "
             f"then takes {median(stimuli, 'first_get_stimulus_seconds'):.4f} s more"))
    ctx.figures.append(ratio_figure(
        "peak RSS of warm get_assembly", median(library, "max_rss_mb"), median(raw, "max_rss_mb"), 1.15, "MB",
        _seconds(library, "max_rss_mb"), _seconds(raw, "max_rss_mb"),
        rounds=round_ratios(_seconds(library, "max_rss_mb"), _seconds(raw, "max_rss_mb")),
        note="ru_maxrss of the whole child process; both import numpy, pandas, xarray, netCDF4, brainio_dvc first"))
    crossings = run_probe("warm_crossings", {"identifier": ASSEMBLY_ID, "registry": registry}, env)["crossings"]
    ctx.figures.append(absolute_figure(
        "module crossings of a warm get_assembly", crossings, 25, "calls",
        note="calls from one brainio_dvc module into another (benchmarks.probes.count_crossings), counted with "
             "sys.setprofile and threading.setprofile around the second warm get_assembly of a process (the "
             "thread that reads the values too); a count, not a timing"))
    _cold_local_loads(ctx, registry)


def _cold_local_loads(ctx: Context, registry: str) -> None:
    """Rounds of a cold load from the local-directory remote, a warm load of the files it cached
    and a plain copy of the same files, each in a fresh process, back to back."""
    import brainio_dvc.lookup as lookup

    rows = [lookup.lookup_assembly(ASSEMBLY_ID, registry=registry), *lookup.lookup_stimulus_set(STIMULUS_SET_ID,
                                                                                                 registry=registry)]
    storage = Path(registry).parent / "storage"
    paths = [str(storage / "files" / "md5" / row["md5"][:2] / row["md5"][2:]) for row in rows]
    args = {"identifier": ASSEMBLY_ID, "registry": registry}
    cold, warm, raw = [], [], []
    for number in range(ctx.scale.runs):
        env = scenario_env(ctx.work / "cold-local" / f"run-{number}")
        cold.append(run_probe("cold_get_assembly", args, env))
        warm.append(run_probe("get_assembly", args, env))
        copies = ctx.work / "cold-local" / f"copies-{number}"
        raw.append(run_probe("copy_files", {"paths": paths, "destination": str(copies)},
                             scenario_env(ctx.work / "cold-local" / f"copy-{number}")))
        shutil.rmtree(copies, ignore_errors=True)
        shutil.rmtree(ctx.work / "cold-local" / f"run-{number}", ignore_errors=True)
        logger.info("  cold local run %d: get_assembly %.3f s (then the first use of a stimulus path %.3f s), "
                    "warm %.3f s, copy %.3f s", number + 1, cold[-1]["seconds"], cold[-1]["first_use_seconds"],
                    warm[-1]["seconds"], raw[-1]["seconds"])
    baselines = [copy + again for copy, again in zip(_seconds(raw), _seconds(warm), strict=True)]
    ctx.figures.append(ratio_figure(
        "cold get_assembly from a local-directory remote, empty caches", median(cold), statistics.median(baselines),
        1.3, "s", _seconds(cold), baselines, rounds=round_ratios(_seconds(cold), baselines),
        note=f"baseline = a plain copy (shutil.copyfile) of the assembly, stimulus CSV and ZIP from the remote "
             f"directory ({raw[0]['bytes']} bytes, median {median(raw):.3f} s) + a warm get_assembly of the files "
             f"the cold load cached (median {median(warm):.3f} s), both right after each cold load; the ratio is "
             f"the median of each round's; the stimuli are extracted on the first use of their paths, after the "
             f"figure: median {median(cold, 'first_use_seconds'):.3f} s"))
    ctx.measure("peak RSS of cold get_assembly from the local-directory remote (median)",
                round(median(cold, "max_rss_mb"), 1), "MB")


def offline(ctx: Context) -> None:
    """Load from a file:// URL, delete the origin and its remote, load again in a new process."""
    base = ctx.work / "offline"
    shutil.copytree(ctx.local_root.parent / "registry", base / "registry", symlinks=True)
    shutil.copytree(ctx.local_root.parent / "storage", base / "storage", symlinks=True)
    env = scenario_env(base / "env")
    url = f"file://{base / 'registry'}"
    args = {"identifier": ASSEMBLY_ID, "registry": url}
    first = run_probe("offline_load", args, env)
    shutil.rmtree(base / "registry")
    shutil.rmtree(base / "storage")
    try:
        second = run_probe("offline_load", args, env)
    except Exception as error:  # noqa: BLE001 - the failure is the finding
        ctx.figures.append(Figure("warm load from a git URL after deleting origin and remote", False, "", "succeeds "
                                  "with no git fetch/ls-remote/clone and no socket connection", False,
                                  note=str(error)[-1500:]))
        return
    network = second["git_network_commands"] + second["socket_connections"]
    ctx.figures.append(Figure(
        "warm load from a git URL after deleting origin and remote", not network, "",
        "succeeds with no git fetch/ls-remote/clone and no socket connection", not network,
        baseline=None, ratio=None, samples=[second["seconds"]],
        note=f"first (cold) load {first['seconds']:.2f} s, second {second['seconds']:.2f} s at rev "
             f"{str(second['rev'])[:10]}; subprocesses of the second: {[c[:4] for c in second['subprocesses']]}; "
             f"network: {network}"))
    # After the fetch interval, a branch is fetched again: what does an offline process then do?
    try:
        stale = run_probe("offline_load", args, {**env, "BRAINIO_DVC_FETCH_INTERVAL": "0"})
        ctx.measure("warm load from the deleted git URL with BRAINIO_DVC_FETCH_INTERVAL=0 (interval expired)",
                    round(stale["seconds"], 3), "s", succeeded=True,
                    git_network_commands=[c[:6] for c in stale["git_network_commands"]])
    except Exception as error:  # noqa: BLE001
        ctx.measure("warm load from the deleted git URL with BRAINIO_DVC_FETCH_INTERVAL=0 (interval expired)",
                    None, "", succeeded=False, error=str(error)[-800:])


def s3(ctx: Context) -> None:
    from tests.seaweed import ADMIN_KEY, ADMIN_SECRET, SeaweedServer

    from .registries import s3_registry

    server = SeaweedServer(ctx.work / "seaweedfs")
    try:
        server.start()
        started = time.perf_counter()
        root, bucket = s3_registry(ctx.work / "s3", server, ctx.stimuli)
        ctx.measure("package_stimulus_set into an S3 registry (setup, one run)",
                    round(time.perf_counter() - started, 2), "s")
        pushes = _package_runs(ctx, root, "s3", None)
        ctx.measure("cold S3 push: package_data_assembly into the S3 registry (median)", round(median(pushes), 3),
                    "s", samples=[round(s, 3) for s in _seconds(pushes)],
                    note="every run pushes a new object (new values); the bucket is on 127.0.0.1")
        _cold_loads(ctx, root, bucket, server, ADMIN_KEY, ADMIN_SECRET)
    finally:
        server.stop()


def _cold_loads(ctx: Context, root: Path, bucket: str, server: Any, key: str, secret: str) -> None:
    import brainio_dvc.lookup as lookup

    rows = [lookup.lookup_assembly(ASSEMBLY_ID, registry=str(root)),
            *lookup.lookup_stimulus_set(STIMULUS_SET_ID, registry=str(root))]
    keys = [f"store/files/md5/{row['md5'][:2]}/{row['md5'][2:]}" for row in rows]
    args = {"identifier": ASSEMBLY_ID, "registry": str(root)}
    cold, warm, raw = [], [], []
    for number in range(ctx.scale.runs):
        env = scenario_env(ctx.work / "cold" / f"run-{number}")
        cold.append(run_probe("cold_get_assembly", args, env))
        warm.append(run_probe("get_assembly", args, env))
        raw.append(run_probe("boto3_download", {"endpoint": server.endpoint, "bucket": bucket, "keys": keys,
                                                "key": key, "secret": secret,
                                                "destination": str(ctx.work / "cold" / f"boto3-{number}")}, env))
        shutil.rmtree(ctx.work / "cold" / f"boto3-{number}", ignore_errors=True)
        logger.info("  cold run %d: get_assembly %.3f s (%d bytes cached; then the first use of a stimulus path "
                    "%.3f s), warm %.3f s, boto3 %.3f s (%d bytes)", number + 1, cold[-1]["seconds"],
                    cold[-1]["cached_bytes"], cold[-1]["first_use_seconds"], warm[-1]["seconds"], raw[-1]["seconds"],
                    raw[-1]["bytes"])
    ctx.measure("peak RSS of cold get_assembly from S3 (median)", round(median(cold, "max_rss_mb"), 1), "MB",
                boto3_max_rss_mb=round(median(raw, "max_rss_mb"), 1))
    if ctx.profile_dir is not None:  # one more run, under cProfile, not counted
        run_probe("cold_get_assembly", {**args, "profile": str(ctx.profile_dir / "cold_get_assembly_s3.prof")},
                  scenario_env(ctx.work / "cold" / "profiled"))
    baselines = [download + again for download, again in zip(_seconds(raw), _seconds(warm), strict=True)]
    ctx.figures.append(ratio_figure(
        "cold get_assembly from S3, empty caches", median(cold), statistics.median(baselines), 1.3, "s",
        _seconds(cold), baselines, rounds=round_ratios(_seconds(cold), baselines),
        note=f"baseline = boto3 download of the assembly, stimulus CSV and ZIP ({raw[0]['bytes']} bytes, median "
             f"{median(raw):.3f} s incl. import boto3) + a warm get_assembly of the files the cold load cached "
             f"(median {median(warm):.3f} s), both right after each cold load; the ratio is the median of each "
             f"round's; the stimuli are extracted on the first use of their paths, after the figure: median "
             f"{median(cold, 'first_use_seconds'):.3f} s"))


def lookups(ctx: Context) -> None:
    from .registries import catalog_registry

    started = time.perf_counter()
    root = ctx.work / "catalog" / "registry"
    assemblies = catalog_registry(root, ctx.scale.catalog_rows)
    ctx.measure(f"writing {ctx.scale.catalog_rows} .dvc files + brainio-dvc catalog build + commit (setup)",
                round(time.perf_counter() - started, 2), "s")
    step = max(len(assemblies) // 100, 1)
    identifiers = assemblies[::step][:100]
    env = scenario_env(ctx.work / "catalog" / "env")
    samples = fresh_runs("lookup", ctx.scale.runs, {"identifiers": identifiers, "registry": str(root)}, env)
    rows = ctx.scale.catalog_rows
    ctx.figures.append(absolute_figure(
        f"first lookup_assembly, {rows} catalog rows", median(samples, "first_seconds") * 1e3, 25, "ms",
        [s * 1e3 for s in _seconds(samples, "first_seconds")],
        note="after `import brainio_dvc.lookup`; includes opening the registry and reading its catalogs"))
    ctx.figures.append(absolute_figure(
        f"repeated lookup_assembly, {rows} catalog rows", median(samples, "repeated_seconds") * 1e3, 0.1, "ms",
        [s * 1e3 for s in _seconds(samples, "repeated_seconds")],
        note="mean of 1000 calls cycling over 100 identifiers, per process"))
    repeated, plain = median(samples, "repeated_seconds"), median(samples, "dict_lookup_seconds")
    ctx.figures.append(Figure(
        f"repeated lookup_assembly / a dict lookup of the same key, {rows} catalog rows", repeated / plain, "x",
        "reported (no target)", True, samples=_seconds(samples, "repeated_seconds"),
        baseline_samples=_seconds(samples, "dict_lookup_seconds"),
        note="reported, no target: a ratio that is stable across machines, where absolute times are not"))
