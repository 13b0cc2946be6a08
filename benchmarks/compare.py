"""``python -m benchmarks --compare REV``: each figure of the library, this working tree against REV.

REV's ``brainio_dvc`` (and nothing else of REV) is checked out into a detached ``git worktree``
in a temporary directory, and this tree's ``brainio_dvc`` is copied into another; both go
afterwards.  Each probe of :mod:`benchmarks.probes` then runs for the baseline (REV) and for the
working tree in turn, in fresh processes, on the same registries and data, which this tree's
code builds once.  The probes are this tree's, with the side's package first on their
PYTHONPATH (checked before anything is measured), so both sides import alike; they call only
public names (``get_assembly``, ``get_stimulus_set``, ``config.home``, ``lookup.lookup_assembly``,
``packaging.package_data_assembly`` and ``write_netcdf``, the classes of ``assemblies`` and
``stimuli``).  Where a probe fails against REV, its figures are reported as not comparable, with
the error, never estimated.  Each side keeps its own BRAINIO_HOME and DVC site cache, so neither
reads the other's caches; a warm figure's caches are filled by one uncounted load per side.

The order is interleaved, baseline first in even rounds and working first in odd ones (A B, B A,
A B, ...), so that a drift of the machine or an advantage of going second hits both sides alike.
Per figure: the median of each side, working/baseline and :func:`verdict`.
"""

from __future__ import annotations

import compileall
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .data import ASSEMBLY_ID, STIMULUS_SET_ID, Scale, scaled
from .harness import REPO, ProbeError, probe_environment, run_probe
from .registries import git, merge, scenario_env

logger = logging.getLogger("benchmarks")

DEFAULT_OUTPUT = REPO / "benchmarks" / "compare-results.json"
#: A median ratio beyond this, with the two sides' ranges apart, is a difference beyond noise.
NOISE_RATIO = 1.05
RULE = (f"beyond noise when the ratio of medians (working/baseline) is above {NOISE_RATIO:g} (or below "
        f"1/{NOISE_RATIO:g}) and the two sides' samples do not overlap (every working sample above every baseline "
        "sample, or below); otherwise within noise. Higher is worse for every figure (time, memory, counts)")
#: Scales of the growth comparison: GROWTH_FACTORS of benchmarks.growth at full scale, these with --quick.
QUICK_GROWTH_FACTORS = (0.05, 0.1)
SCENARIOS = ("import", "package", "warm", "s3", "lookup", "lazy", "growth")

#: A figure whose probe runs the same code on both sides: a check of the noise rule on this machine.
CONTROL = "control, the same code on both sides: xarray.open_dataarray(cached).load()"
BASELINE, WORKING = "baseline", "working"
NOT_COMPARABLE = "not comparable"


def verdict(baseline: Sequence[float], working: Sequence[float]) -> str:
    """``"higher"``, ``"lower"`` or ``"within noise"`` (see :data:`RULE`); ``"not comparable"``
    when a side has no samples."""
    if not baseline or not working:
        return NOT_COMPARABLE
    ratio = _ratio(statistics.median(baseline), statistics.median(working))
    if ratio > NOISE_RATIO and min(working) > max(baseline):
        return "higher"
    if ratio < 1 / NOISE_RATIO and max(working) < min(baseline):
        return "lower"
    return "within noise"


def _ratio(baseline: float, working: float) -> float:
    if baseline:
        return working / baseline
    return 1.0 if not working else float("inf")


def samples_per_side(scale: Scale) -> int:
    """Fresh processes a side for each figure: 5 (3 with --quick), heavy figures included.

    Two samples of the same distribution fall apart by chance with probability 2/C(2n, n):
    10% at n = 3 a side, 0.8% at n = 5; so only a full run's verdicts are worth acting on.
    """
    return 3 if scale.name == "quick" else 5


def order(runs: int) -> list[tuple[str, int]]:
    """(side, run number) in the order they run: A B, B A, A B, ..."""
    rounds = [(BASELINE, WORKING) if number % 2 == 0 else (WORKING, BASELINE) for number in range(runs)]
    return [(side, number) for number, pair in enumerate(rounds) for side in pair]


@dataclass(frozen=True)
class Side:
    """One version of the package: where its ``brainio_dvc`` lives and what goes first on the path."""

    name: str
    label: str
    library: Path
    pythonpath: tuple[Path, ...] = ()


@dataclass
class Comparison:
    """One figure measured on both sides."""

    figure: str
    unit: str
    baseline: list[float]
    working: list[float]
    load_average: float
    error: str = ""

    @property
    def verdict(self) -> str:
        return NOT_COMPARABLE if self.error else verdict(self.baseline, self.working)

    def medians(self) -> tuple[float, float] | None:
        if self.verdict == NOT_COMPARABLE:
            return None
        return float(statistics.median(self.baseline)), float(statistics.median(self.working))

    def as_json(self) -> dict[str, Any]:
        medians = self.medians()
        found: dict[str, Any] = {"figure": self.figure, "unit": self.unit, "verdict": self.verdict,
                                 "slower_beyond_noise": self.verdict == "higher",
                                 "baseline_median": _round(medians[0]) if medians else None,
                                 "working_median": _round(medians[1]) if medians else None,
                                 "ratio": _round(_ratio(*medians)) if medians else None,
                                 "baseline_samples": [_round(v) for v in self.baseline],
                                 "working_samples": [_round(v) for v in self.working],
                                 "load_average_1min_at_start": round(self.load_average, 2)}
        if self.error:
            found["error"] = self.error
        return found


def _round(value: float) -> float:
    return float(f"{value:.4g}")


@dataclass(frozen=True)
class Metric:
    """A figure read from each sample of a probe: ``sample[key] * factor``."""

    figure: str
    key: str = "seconds"
    unit: str = "s"
    factor: float = 1.0


Args = Mapping[str, Any] | Callable[[Side, int], Mapping[str, Any]]


@dataclass
class Run:
    """What a comparison shares: the two sides, the scale, the working directory and the results."""

    sides: dict[str, Side]
    scale: Scale
    work: Path
    comparisons: list[Comparison] = field(default_factory=list)
    stimuli: Any = None

    def compare(self, probe: str, metrics: Sequence[Metric], args: Args,
                envs: Mapping[str, Mapping[str, str]] | None = None, fresh: Path | None = None,
                runs: int | None = None) -> None:
        """Run ``probe`` for both sides, interleaved, and add one comparison per metric.

        ``envs``: the environment of each side (caches kept between its runs); ``fresh``: each
        run gets empty caches of its own under this directory, removed after the run.
        """
        samples: dict[str, list[dict[str, Any]]] = {BASELINE: [], WORKING: []}
        error = ""
        load = os.getloadavg()[0]
        for name, number in order(runs or samples_per_side(self.scale)):
            if name == BASELINE and error:
                continue
            side = self.sides[name]
            directory = fresh / f"{name}-{number}" if fresh is not None else None
            env = scenario_env(directory) if directory is not None else (envs or {}).get(name)
            try:
                sample = run_probe(probe, args(side, number) if callable(args) else args, env,
                                   pythonpath=side.pythonpath)
            except ProbeError as failure:
                if name != BASELINE:
                    raise
                error = _last_line(failure.stderr)
                logger.warning("  %s fails against the baseline %s: %s", probe, side.label, error)
                continue
            finally:
                if directory is not None:
                    shutil.rmtree(directory, ignore_errors=True)
            samples[name].append(sample)
            logger.info("  %s, %s run %d: %s", probe, name, number + 1,
                        ", ".join(f"{m.key} {sample[m.key] * m.factor:.4g} {m.unit}" for m in metrics))
        for metric in metrics:
            values = {name: [sample[metric.key] * metric.factor for sample in found]
                      for name, found in samples.items()}
            self.comparisons.append(Comparison(metric.figure, metric.unit, values[BASELINE], values[WORKING],
                                               load, error))

    def side_envs(self, directory: Path,
                  warm: tuple[str, Mapping[str, Any]] | None = None) -> dict[str, dict[str, str]]:
        """Caches of each side's own under ``directory``; filled by one uncounted ``warm`` probe run."""
        envs = {name: scenario_env(directory / name) for name in self.sides}
        for name, side in self.sides.items() if warm else ():
            try:
                run_probe(warm[0], warm[1], envs[name], pythonpath=side.pythonpath)
            except ProbeError as failure:
                if name != BASELINE:
                    raise
                logger.warning("  warming %s fails against the baseline: %s", warm[0], _last_line(failure.stderr))
        return envs


def _last_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no stderr)"


@contextmanager
def baseline_tree(rev: str, repo: Path = REPO) -> Iterator[tuple[Path, str]]:
    """A temporary detached worktree of ``repo`` at ``rev`` holding only ``brainio_dvc`` (compiled),
    and the commit; the worktree is removed afterwards."""
    found = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], cwd=repo,
                           capture_output=True, text=True, check=False)
    if found.returncode != 0:
        msg = f"--compare {rev!r}: expected a commit of the repository {repo}, found no such revision"
        raise ValueError(msg)
    commit = found.stdout.strip()
    parent = Path(tempfile.mkdtemp(prefix="brainio-dvc-baseline-"))
    tree = parent / "tree"
    try:
        git(repo, "worktree", "add", "--quiet", "--detach", "--no-checkout", str(tree), commit)
        try:
            checkout = subprocess.run(["git", "checkout", commit, "--", "brainio_dvc"], cwd=tree,
                                      capture_output=True, text=True, check=False)
            if checkout.returncode != 0:
                msg = (f"--compare {rev!r}: expected a brainio_dvc package in commit {commit[:10]}, "
                       f"found: {checkout.stderr.strip()}")
                raise ValueError(msg)
            compileall.compile_dir(tree / "brainio_dvc", quiet=1)
            yield tree, commit
        finally:
            git(repo, "worktree", "remove", "--force", str(tree))
    finally:
        shutil.rmtree(parent, ignore_errors=True)


@contextmanager
def working_copy() -> Iterator[Path]:
    """A temporary directory holding a copy of this tree's ``brainio_dvc`` (compiled), removed afterwards.

    Both sides then import their package alike: from a directory of its own put first on the
    path, above the repository (whose ``benchmarks`` the probes are); and edits made to the
    tree while a comparison runs do not reach it.
    """
    parent = Path(tempfile.mkdtemp(prefix="brainio-dvc-working-"))
    try:
        shutil.copytree(REPO / "brainio_dvc", parent / "brainio_dvc", ignore=shutil.ignore_patterns("__pycache__"))
        compileall.compile_dir(parent / "brainio_dvc", quiet=1)
        yield parent
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def where(side: Side) -> tuple[Path, Path]:
    """The ``brainio_dvc`` and ``benchmarks`` packages a probe of ``side`` imports."""
    code = ("import sys, brainio_dvc, benchmarks; "
            "sys.stdout.write(brainio_dvc.__file__ + '\\n' + benchmarks.__file__ + '\\n')")
    completed = subprocess.run([sys.executable, "-c", code], env=probe_environment(pythonpath=side.pythonpath),
                               cwd=os.environ.get("BENCHMARK_CWD", tempfile.gettempdir()),
                               capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        msg = (f"the {side.name} side ({side.label}) cannot import brainio_dvc and benchmarks: "
               f"{_last_line(completed.stderr)}")
        raise RuntimeError(msg)
    library, probes = completed.stdout.strip().splitlines()[-2:]
    return Path(library).resolve().parent, Path(probes).resolve().parent


def check_side(side: Side) -> None:
    """Fail unless ``side``'s probes import its own ``brainio_dvc`` and this tree's ``benchmarks``."""
    library, probes = where(side)
    expected = (side.library.resolve() / "brainio_dvc", (REPO / "benchmarks").resolve())
    if (library, probes) != expected:
        msg = (f"the {side.name} side's probes would import brainio_dvc from {library} and benchmarks from "
               f"{probes}; expected {expected[0]} and {expected[1]}")
        raise RuntimeError(msg)


def _assembly_args(root: Path) -> dict[str, Any]:
    return {"identifier": ASSEMBLY_ID, "registry": str(root)}


def _import(run: Run) -> None:
    run.compare("import_library", [Metric("import brainio_dvc"),
                                   Metric("first access of brainio_dvc.get_assembly", "first_use_seconds")], {})


def _package(run: Run, root: Path, where_to: str, slug: str) -> None:
    """package_data_assembly on branches from the same base (new values each run: nothing is
    already in the remote), the branches deleted; then one more, uncounted, merged for the loads."""
    def args(side: Side, number: int) -> dict[str, Any]:
        seed = 1 + 2 * number + (side.name == WORKING)
        return {"scale": run.scale.name, "seed": seed, "registry": str(root), "branch": f"compare/{slug}-{seed}"}

    run.compare("package_assembly", [Metric(f"package_data_assembly ({where_to})")], args)
    branches = git(root, "for-each-ref", "--format=%(refname:short)", "refs/heads/compare/").split()
    if branches:
        git(root, "branch", "--quiet", "-D", *branches)
    setup = run_probe("package_assembly", {"scale": run.scale.name, "seed": 0, "registry": str(root),
                                           "branch": f"compare/{slug}-setup"})
    merge(root, setup["branch"])


def _local(run: Run) -> Path:
    from .scenarios import Context, build_data

    context = Context(scale=run.scale, work=run.work)
    build_data(context)
    run.stimuli = context.stimuli
    if context.local_root is None:
        msg = "benchmarks.scenarios.build_data made no local-directory registry"
        raise RuntimeError(msg)
    return context.local_root


def _warm(run: Run, root: Path) -> None:
    import brainio_dvc.lookup as lookup

    from .scenarios import _cache_path

    args = _assembly_args(root)
    envs = run.side_envs(run.work / "warm", ("get_assembly", args))
    run.compare("get_assembly", [Metric("warm get_assembly + .load()"),
                                 Metric("warm get_assembly without .load()", "get_assembly_seconds"),
                                 Metric("peak RSS of warm get_assembly", "max_rss_mb", "MB")], args, envs)
    run.compare("get_stimulus_set", [Metric("warm get_stimulus_set"),
                                     Metric("first get_stimulus after it", "first_get_stimulus_seconds")],
                {"identifier": STIMULUS_SET_ID, "registry": str(root)}, envs)
    md5 = lookup.lookup_assembly(ASSEMBLY_ID, registry=str(root))["md5"]
    nc = _cache_path(Path(envs[WORKING]["BRAINIO_HOME"]), md5)
    run.compare("raw_xarray", [Metric(CONTROL)],
                {"path": str(nc)}, envs)
    run.compare("warm_crossings", [Metric("module crossings of a warm get_assembly (a count)", "crossings",
                                          "calls")], args, envs, runs=1)
    run.compare("cold_get_assembly", [Metric("cold get_assembly from the local-directory remote"),
                                      Metric("peak RSS of cold get_assembly (local remote)", "max_rss_mb", "MB")],
                args, fresh=run.work / "cold-local")


def _s3(run: Run) -> None:
    from tests.seaweed import SeaweedServer

    from .registries import s3_registry

    server = SeaweedServer(run.work / "seaweedfs")
    try:
        server.start()
        root, _ = s3_registry(run.work / "s3", server, run.stimuli)
        _package(run, root, "S3 remote, push included", "s3")
        run.compare("cold_get_assembly", [Metric("cold get_assembly from S3, empty caches"),
                                          Metric("peak RSS of cold get_assembly from S3", "max_rss_mb", "MB")],
                    _assembly_args(root), fresh=run.work / "cold-s3")
    finally:
        server.stop()


def _lookups(run: Run) -> None:
    from .registries import catalog_registry

    rows = run.scale.catalog_rows
    root = run.work / "catalog" / "registry"
    assemblies = catalog_registry(root, rows)
    args = {"identifiers": assemblies[::max(len(assemblies) // 100, 1)][:100], "registry": str(root)}
    envs = run.side_envs(run.work / "catalog" / "env", ("lookup", args))  # each side's catalog cache written
    run.compare("lookup", [Metric(f"first lookup_assembly, {rows} catalog rows", "first_seconds", "ms", 1e3),
                           Metric(f"repeated lookup_assembly, {rows} catalog rows", "repeated_seconds", "ms", 1e3)],
                args, envs)


def _lazy(run: Run, root: Path) -> None:
    args = _assembly_args(root)
    envs = run.side_envs(run.work / "lazy", ("get_assembly", args))
    run.compare("lazy_region", [Metric("lazy get_assembly(...).sel(region='V4').load()"),
                                Metric("bytes read by that selection (rchar)", "bytes_read", "MB", 1e-6)],
                {**args, "region": "V4"}, envs)
    run.compare("lazy_region", [Metric("lazy get_assembly(...).load() of all of it")], args, envs)


def _growth(run: Run, factors: Sequence[float]) -> None:
    from .growth import _build

    for factor in factors:
        scale = scaled(factor)
        base = run.work / "growth" / scale.name
        args = _assembly_args(_build(base, scale))
        run.compare("cold_get_assembly", [Metric(f"growth {scale.name}: cold get_assembly"),
                                          Metric(f"growth {scale.name}: peak RSS, cold", "max_rss_mb", "MB")],
                    args, fresh=base / "cold")
        envs = run.side_envs(base / "warm", ("get_assembly", args))
        run.compare("get_assembly", [Metric(f"growth {scale.name}: warm get_assembly + .load()"),
                                     Metric(f"growth {scale.name}: peak RSS, warm", "max_rss_mb", "MB")],
                    args, envs)
        shutil.rmtree(base, ignore_errors=True)


def _working_label() -> str:
    head = git(REPO, "rev-parse", "HEAD")
    changed = git(REPO, "status", "--porcelain", "--", "brainio_dvc")
    return head + (" with uncommitted changes to brainio_dvc" if changed else "")


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def table(comparisons: Sequence[Comparison]) -> str:
    """A plain-text table for people: one line per figure."""
    rows = [("figure", "baseline", "working", "ratio", "baseline range", "working range", "beyond noise")]
    for c in comparisons:
        medians = c.medians()
        word = {"higher": "SLOWER" if c.unit in ("s", "ms") else "HIGHER",
                "lower": "faster" if c.unit in ("s", "ms") else "lower"}.get(c.verdict, c.verdict)
        rows.append((c.figure, f"{_cell(medians[0] if medians else None)} {c.unit}",
                     f"{_cell(medians[1] if medians else None)} {c.unit}",
                     _cell(_ratio(*medians)) if medians else "-",
                     f"{_cell(min(c.baseline, default=None))}..{_cell(max(c.baseline, default=None))}",
                     f"{_cell(min(c.working, default=None))}..{_cell(max(c.working, default=None))}", word))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def main(rev: str, scale: Scale, work: Path, wanted: set[str], output: Path) -> int:
    """Compare the working tree with ``rev`` in ``work``; write ``output`` and print the table."""
    from . import report
    from .growth import GROWTH_FACTORS

    started = time.perf_counter()
    load_at_start = os.getloadavg()
    with baseline_tree(rev) as (tree, commit), working_copy() as copy:
        sides = {BASELINE: Side(BASELINE, f"{rev} ({commit[:10]})", tree, (tree,)),
                 WORKING: Side(WORKING, _working_label(), copy, (copy,))}
        for side in sides.values():
            check_side(side)
        run = Run(sides, scale, work)
        logger.info("comparing %s (baseline) with %s (working) at scale %s in %s", sides[BASELINE].label,
                    sides[WORKING].label, scale.name, work)
        if "import" in wanted:
            _import(run)
        if wanted & {"package", "warm", "s3", "lazy"}:
            root = _local(run)
            _package(run, root, "local-directory remote", "local")
            if "warm" in wanted:
                _warm(run, root)
            if "lazy" in wanted:
                _lazy(run, root)
            if "s3" in wanted:
                _s3(run)
        if "lookup" in wanted:
            _lookups(run)
        if "growth" in wanted:
            _growth(run, QUICK_GROWTH_FACTORS if scale.name == "quick" else GROWTH_FACTORS)
    results = {
        "baseline": {"rev": rev, "commit": commit},
        "working": sides[WORKING].label,
        "scale": scale.describe(),
        "method": __doc__.split("\n\n", 1)[1].replace("\n", " ").strip() if __doc__ else "",
        "rule": RULE,
        "machine": report.machine(),
        "load_average_1_5_15min": {"start": [round(v, 2) for v in load_at_start],
                                   "end": [round(v, 2) for v in os.getloadavg()]},
        "wall_seconds": round(time.perf_counter() - started, 1),
        "figures": [comparison.as_json() for comparison in run.comparisons],
        "slower_beyond_noise": [c.figure for c in run.comparisons if c.verdict == "higher"],
        "not_comparable": [c.figure for c in run.comparisons if c.verdict == NOT_COMPARABLE],
    }
    control = next((c.verdict for c in run.comparisons if c.figure == CONTROL), None)
    if control not in (None, "within noise"):
        results["warning"] = (f"the control figure (the same code on both sides) came out {control} beyond noise: "
                              "this machine was too noisy for the rule; measure again on a quieter one")
        logger.warning("%s", results["warning"])
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    sys.stdout.write(table(run.comparisons) + "\n\n")
    higher = results["slower_beyond_noise"]
    sys.stdout.write(f"{len(run.comparisons)} figures of {sides[WORKING].label} against {sides[BASELINE].label}: "
                     f"{len(higher)} higher beyond noise{': ' + '; '.join(higher) if higher else ''}; "
                     f"{len(results['not_comparable'])} not comparable; load average at start "
                     f"{load_at_start[0]:.1f} on {os.cpu_count()} cores; {results['wall_seconds']} s; "
                     f"results in {output}\n")
    if "warning" in results:
        sys.stdout.write(f"WARNING: {results['warning']}\n")
    return 0
