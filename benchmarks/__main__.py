"""``python -m benchmarks``: measure brainio_dvc at MajajHong2015 scale and write JSON results.

Builds MajajHong2015-scale data (``--quick``: 1/20 of it) in a temporary directory, packages
it into a local-directory registry and a SeaweedFS S3 registry, measures each figure as the
median of fresh processes beside its baseline, prints a table and writes the JSON results.
"""

from __future__ import annotations

import argparse
import compileall
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from . import compare, growth, report, scenarios
from .data import FULL, QUICK, VALUES_DESCRIPTION
from .harness import REPO, settle_seconds, table
from .registries import isolate

logger = logging.getLogger("benchmarks")

_DEFAULT_OUTPUT = REPO / "benchmarks" / "results.json"
_VERSIONS = ("brainio-dvc", "numpy", "pandas", "xarray", "netCDF4", "h5py", "dvc", "dvc-s3", "boto3", "GitPython")


def _versions() -> dict[str, str]:
    found = {}
    for name in _VERSIONS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1/20 of the data, 1,000 catalog rows: a smoke run")
    parser.add_argument("--output", type=Path, default=None,
                        help=f"JSON results (default {_DEFAULT_OUTPUT}, with --compare {compare.DEFAULT_OUTPUT})")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (printed) afterwards")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="also profile one extra, uncounted cold S3 load; cProfile statistics go to DIR")
    parser.add_argument("--only", nargs="*", default=None,
                        choices=["import", "package", "warm", "offline", "s3", "lookup", "lazy", "growth"],
                        help="run only these scenarios (package is needed by warm, offline, s3 and lazy)")
    parser.add_argument("--large", action="store_true",
                        help="also load a 4 GB-class assembly with a 3 GB-class stimulus ZIP (about 20 GB of disk)")
    parser.add_argument("--readme", action="store_true",
                        help="write the figures into README.md's performance table (between its markers)")
    parser.add_argument("--compare", metavar="REV", default=None,
                        help="instead of the targets: each figure of the library (the --only scenarios but offline) "
                             "for REV's brainio_dvc and this tree's, interleaved, with their ratio and whether it "
                             "differs beyond noise (benchmarks.compare)")
    options = parser.parse_args(argv)
    if options.output is None:
        options.output = compare.DEFAULT_OUTPUT if options.compare else _DEFAULT_OUTPUT
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)

    scale = QUICK if options.quick else FULL
    # Installed packages come with bytecode; so must the library and the probes here.
    compileall.compile_dir(REPO / "brainio_dvc", quiet=1)
    compileall.compile_dir(REPO / "benchmarks", quiet=1)
    work = Path(tempfile.mkdtemp(prefix="brainio-dvc-bench-"))
    started = time.perf_counter()
    isolate(work)
    ctx = scenarios.Context(scale=scale, work=work, profile_dir=options.profile)
    if options.profile is not None:
        options.profile.mkdir(parents=True, exist_ok=True)
    wanted = set(options.only or ["import", "package", "warm", "offline", "s3", "lookup", "lazy", "growth"])
    logger.info("benchmarks at scale %s in %s", scale.name, work)
    try:
        if options.compare is not None:
            return compare.main(options.compare, scale, work, wanted & set(compare.SCENARIOS), options.output)
        if "import" in wanted:
            scenarios.import_time(ctx)
        if wanted & {"package", "warm", "offline", "s3", "lazy"}:
            scenarios.build_data(ctx)
            scenarios.packaging(ctx)
        if wanted & {"warm", "s3"}:
            scenarios.warm_loads(ctx)
        if "offline" in wanted:
            scenarios.offline(ctx)
        if "s3" in wanted:
            scenarios.s3(ctx)
        if "lookup" in wanted:
            scenarios.lookups(ctx)
        if "lazy" in wanted:
            growth.lazy(ctx)
        if "growth" in wanted and not options.quick:
            growth.growth(ctx)
        if options.large:
            growth.large(ctx)
    finally:
        if options.keep:
            logger.info("kept %s", work)
        else:
            shutil.rmtree(work, ignore_errors=True)

    results = {
        "scale": scale.describe(),
        "values": VALUES_DESCRIPTION,
        "method": "each figure is the median of fresh processes (python -m benchmarks.probes); baselines are "
                  "measured in the same run, interleaved with the figure where both are cheap; each process "
                  "starts after the machine was left idle for settle_seconds (benchmarks.harness)",
        "environment": {"python": platform.python_version(), "platform": platform.platform(),
                        "cpus": os.cpu_count(), "versions": _versions()},
        "wall_seconds": round(time.perf_counter() - started, 1),
        "settle_seconds": settle_seconds(),
        "machine": report.machine(),
        "targets": [figure.as_json() for figure in ctx.figures],
        "measurements": ctx.measurements,
        "growth": getattr(ctx, "growth", []),
    }
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(results, indent=2) + "\n")
    sys.stdout.write(table(ctx.figures, ctx.measurements) + "\n")
    if results["growth"]:
        sys.stdout.write("\n" + report.growth_table(results["growth"]) + "\n")
    if options.readme:
        report.update_readme(REPO / "README.md", results)
        sys.stdout.write(f"\nREADME.md's performance table rewritten from {options.output}\n")
    met = sum(figure.met for figure in ctx.figures)
    sys.stdout.write(f"\n{met}/{len(ctx.figures)} targets met in {results['wall_seconds']} s; "
                     f"results in {options.output}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
