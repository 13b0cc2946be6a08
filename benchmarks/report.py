"""The benchmark's figures for people: the machine, a growth table, and the README's table.

``python -m benchmarks --readme`` rewrites the part of README.md between the markers
``<!-- performance-table:start -->`` and ``<!-- performance-table:end -->`` from one run.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

START = "<!-- performance-table:start -->"
END = "<!-- performance-table:end -->"


def machine() -> str:
    """The CPU model, cores, memory and system, in one line."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        lines = cpuinfo.read_text().splitlines()
        names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
        model = names[0] if names else model
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split("MemTotal:", 1)[1].split()[0])
        memory = f", {kib / 2**20:.0f} GiB"
    system = f"{platform.system()} {platform.release()}"
    return f"{model}, {os.cpu_count()} cores{memory}, {system}, Python {platform.python_version()}"


def _cell(value: Any, unit: str = "") -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g} {unit}".strip()
    return f"{value} {unit}".strip()


def figures_table(targets: list[dict[str, Any]]) -> str:
    lines = ["| figure | measured | baseline (same run) | ratio | target | met |", "|---|---|---|---|---|---|"]
    for target in targets:
        ratio = target.get("ratio")
        ratio_text = f"{ratio:.3g}x" if isinstance(ratio, float | int) and not isinstance(ratio, bool) else ""
        lines.append(f"| {target['figure']} | {_cell(target['value'], target.get('unit', ''))} | "
                     f"{_cell(target.get('baseline'), target.get('unit', ''))} | {ratio_text} | {target['target']} | "
                     f"{'**met**' if target['met'] else '**not met**'} |")
    return "\n".join(lines)


def growth_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| scale | presentations | stimuli | in memory | rounds | cold | warm | xarray | warm/xarray | "
             "cold/xarray | RSS warm/xarray | RSS cold/warm |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['scale']} | {row['presentations']:,} | {row['stimuli']:,} | {row['memory_gb']:.2f} GB | "
                     f"{row.get('rounds', '')} | {row['cold_s']:.2f} s ({row['cold_s_per_gb']:.2f} s/GB) | "
                     f"{row['warm_s']:.2f} s ({row['warm_s_per_gb']:.2f} s/GB) | {row['xarray_s']:.2f} s | "
                     f"{row['warm_over_xarray']:.2f}x | {row['cold_over_xarray']:.2f}x | "
                     f"{row['rss_warm_over_xarray']:.2f}x | {row['rss_cold_over_warm']:.2f}x |")
    return "\n".join(lines)


def readme_section(results: dict[str, Any]) -> str:
    parts = [f"Measured by `make benchmark` on {results.get('machine', 'an unnamed machine')} "
             f"(numpy {results['environment']['versions'].get('numpy', '?')}, "
             f"pandas {results['environment']['versions'].get('pandas', '?')}, "
             f"xarray {results['environment']['versions'].get('xarray', '?')}), in {results['wall_seconds']} s. "
             "Each figure is the median of fresh processes; each baseline was measured in the same run; "
             f"each process started after the machine had been idle for {results['settle_seconds']:g} s.",
             "", figures_table(results["targets"])]
    if results.get("growth"):
        parts += ["", "Growth with size (MajajHong2015's shape; cold and warm loads from a local-directory remote; "
                  "times are medians, ratios the medians of each round's ratio):",
                  "", growth_table(results["growth"])]
    return "\n".join(parts)


def update_readme(readme: Path, results: dict[str, Any]) -> None:
    """Replace the text between the README's markers with this run's tables."""
    text = readme.read_text()
    if START not in text or END not in text:
        msg = f"{readme} has no {START} ... {END} markers to write the performance table between"
        raise ValueError(msg)
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    readme.write_text(f"{before}{START}\n{readme_section(results)}\n{END}{after}")
