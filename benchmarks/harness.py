"""Running probes in fresh processes, and turning their samples into figures."""

from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger("benchmarks")

REPO = Path(__file__).resolve().parent.parent
_PROBE_TIMEOUT_SECONDS = 900

#: Seconds the machine is left idle before each probe starts (``BENCHMARK_SETTLE_SECONDS``).
#: On these virtual machines the guest hands freed memory back to the host (virtio-balloon free
#: page reporting, within a few seconds of a free), and touching such a page again costs a fault
#: on the host: 400 MB took 0.6-1.0 s to fill after a pause, 0.08-0.24 s right after another
#: process had filled and freed as much. So a probe ran faster right after a big one, and a
#: figure whose baseline ran right after it paid for the order: at 1x, in 8 interleaved rounds,
#: get_assembly/xarray was 1.04x when the library went first and 0.79x when xarray did. After a
#: 4 s pause before each process both orders gave 0.97x and 1.00x. Every probe now starts after
#: such a pause, whatever ran before it. Single processes still vary (so do the host's faults),
#: but no longer with what ran before them.
DEFAULT_SETTLE_SECONDS = 4.0


def settle_seconds() -> float:
    """The pause before each probe: ``BENCHMARK_SETTLE_SECONDS``, or :data:`DEFAULT_SETTLE_SECONDS`."""
    configured = os.environ.get("BENCHMARK_SETTLE_SECONDS", "")
    if not configured:
        return DEFAULT_SETTLE_SECONDS
    try:
        seconds = float(configured)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        msg = f"BENCHMARK_SETTLE_SECONDS: expected a number of seconds >= 0, found {configured!r}"
        raise ValueError(msg)
    return seconds


class ProbeError(RuntimeError):
    """A measuring process failed; carries its name and the end of its stderr."""

    def __init__(self, name: str, returncode: int, stderr: str) -> None:
        self.name, self.returncode, self.stderr = name, returncode, stderr
        super().__init__(f"probe {name!r} exited with {returncode}; its stderr ends:\n{stderr[-4000:]}")


def probe_environment(env: Mapping[str, str] | None = None, pythonpath: Sequence[Path] = ()) -> dict[str, str]:
    """The environment of a probe's process; its PYTHONPATH starts with ``pythonpath``, then the repository."""
    environment = {**os.environ, **(env or {})}
    # Measure an installed library as users run it: from compiled bytecode.
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [*map(str, pythonpath), str(REPO), environment.get("PYTHONPATH", "")]))
    return environment


def run_probe(name: str, args: Mapping[str, Any], env: Mapping[str, str] | None = None,
              cwd: Path | None = None, pythonpath: Sequence[Path] = ()) -> dict[str, Any]:
    """Run one probe in a new Python process and return the JSON it printed.

    ``pythonpath`` goes before the repository (benchmarks.compare: a baseline revision's
    ``brainio_dvc``, under the probes of this tree). The machine is first left idle for
    :func:`settle_seconds`, so that no probe's time depends on what ran just before it.
    """
    environment = probe_environment(env, pythonpath)
    time.sleep(settle_seconds())
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.probes", name, json.dumps(dict(args))],
        cwd=cwd or environment.get("BENCHMARK_CWD", str(REPO)), env=environment,
        capture_output=True, text=True, timeout=_PROBE_TIMEOUT_SECONDS, check=False,
    )
    if completed.returncode != 0:
        raise ProbeError(name, completed.returncode, completed.stderr)
    sample = json.loads(completed.stdout.strip().splitlines()[-1])
    sample["process_seconds"] = time.perf_counter() - started
    return sample


def fresh_runs(name: str, runs: int, args: Callable[[int], Mapping[str, Any]] | Mapping[str, Any],
               env: Callable[[int], Mapping[str, str]] | Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """``runs`` fresh processes of probe ``name``; ``args``/``env`` may depend on the run number."""
    samples = []
    for number in range(runs):
        run_args = args(number) if callable(args) else args
        run_env = env(number) if callable(env) else env
        sample = run_probe(name, run_args, run_env)
        logger.info("  %s run %d: %.4f s (process %.1f s, max RSS %.0f MB)", name, number + 1, sample["seconds"],
                    sample["process_seconds"], sample.get("max_rss_mb", 0))
        samples.append(sample)
    return samples


def median(samples: list[dict[str, Any]], key: str = "seconds") -> float:
    return float(statistics.median(sample[key] for sample in samples))


def round_ratios(values: Sequence[float], baselines: Sequence[float]) -> list[float]:
    """Each round's value over the baseline measured in the same round."""
    return [value / baseline for value, baseline in zip(values, baselines, strict=True)]


@dataclass
class Figure:
    """One target line: a measured value, its baseline, their ratio and whether the target is met."""

    figure: str
    value: float | bool
    unit: str
    target: str
    met: bool
    baseline: float | None = None
    ratio: float | None = None
    samples: list[float] = field(default_factory=list)
    baseline_samples: list[float] = field(default_factory=list)
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        found = {"figure": self.figure, "value": _round(self.value), "baseline": _round(self.baseline),
                 "ratio": _round(self.ratio), "target": self.target, "met": bool(self.met), "unit": self.unit}
        if self.samples:
            found["samples"] = [_round(s) for s in self.samples]
        if self.baseline_samples:
            found["baseline_samples"] = [_round(s) for s in self.baseline_samples]
        if self.note:
            found["note"] = self.note
        return found


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.4g}")
    return value


def ratio_figure(figure: str, value: float, baseline: float, limit: float, unit: str,
                 samples: list[float] = (), baseline_samples: list[float] = (), extra_limit: float | None = None,
                 note: str = "", rounds: Sequence[float] = ()) -> Figure:
    """value/baseline <= limit (and value < extra_limit when given).

    With ``rounds``, the ratio is their median instead: each is one round's value over its own
    baseline, both measured within seconds of each other, so that the machine's drift from
    minute to minute moves both sides of each alike (:func:`round_ratios`).
    """
    if rounds:
        ratio = float(statistics.median(rounds))
    else:
        ratio = value / baseline if baseline else float("inf")
    met = ratio <= limit and (extra_limit is None or value < extra_limit)
    target = f"<= {limit:g}x" + (f" and < {extra_limit:g} {unit}" if extra_limit is not None else "")
    return Figure(figure, value, unit, target, met, baseline, ratio, list(samples), list(baseline_samples), note)


def absolute_figure(figure: str, value: float, limit: float, unit: str, samples: list[float] = (),
                    note: str = "") -> Figure:
    return Figure(figure, value, unit, f"<= {limit:g} {unit}", value <= limit, samples=list(samples), note=note)


def table(figures: list[Figure], measurements: list[dict[str, Any]]) -> str:
    """A plain-text table for people."""
    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value)

    rows = [("figure", "value", "baseline", "ratio", "target", "met")]
    rows += [(f.figure, f"{cell(f.value)} {f.unit}".strip(), cell(f.baseline), cell(f.ratio), f.target,
              "MET" if f.met else "NOT MET") for f in figures]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    if measurements:
        lines.append("")
        lines.append("also measured:")
        lines += [f"  {m['measurement']}: {cell(m['value'])} {m.get('unit', '')}".rstrip() for m in measurements]
    return "\n".join(lines)
