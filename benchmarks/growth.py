"""Growth with size, lazy loading and the --large run.

- :func:`growth`: MajajHong2015's shape at 0.25x, 1x and 4x its presentations and stimuli.  At
  each scale: cold and warm ``get_assembly`` from a local-directory remote beside a plain
  ``xarray`` load of the same file, in rounds of three fresh processes, with their peak RSS.
  The figures are ratios to xarray (medians of each round's ratio), which must stay within 10%
  of each other across scales, and the cold load's peak RSS against the warm one's (at most
  1.15x).
- :func:`lazy`: ``get_assembly(..., lazy=True).sel(region=...).load()`` against the lazy load of
  everything: the bytes read (``rchar``) and the time, as fractions.
- :func:`large`: one cold and one warm load of a 4 GB-class assembly with a 3 GB-class
  stimulus ZIP (``python -m benchmarks --large``; it needs about 20 GB of disk).
"""

from __future__ import annotations

import logging
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from .data import ASSEMBLY_ID, CATALOG, LARGE, LARGE_IMAGE_SIZE, STIMULUS_SET_ID, Scale, make_assembly, scaled
from .harness import Figure, median, ratio_figure, round_ratios, run_probe
from .registries import local_registry, merge, scenario_env

logger = logging.getLogger("benchmarks")

GROWTH_FACTORS = (0.25, 1, 4)
#: Rounds (a cold, a warm and an xarray load each) at each growth factor: more where a load is
#: short, because a short load's ratio moves more with the machine's noise.  At 4x, single
#: rounds' warm/xarray ratios still ranged from 0.93x to 1.36x in ten rounds, hence seven.
GROWTH_ROUNDS = {0.25: 21, 1: 9, 4: 7}
_SPREAD_LIMIT = 1.10


def _build(base: Path, scale: Scale, image_size: int | None = None) -> Path:
    """A local-directory registry holding the stimulus set and assembly of ``scale``, built in a
    child process: this one must stay small, since a child's peak RSS (``ru_maxrss``) starts
    from its parent's at fork, which would inflate every later probe's figure."""
    run_probe("build_registry", {"base": str(base), "stimuli": scale.stimuli, "presentations": scale.presentations,
                                 "neuroids": scale.neuroids, "name": scale.name, "image_size": image_size})
    return base / "registry"


def build_registry(base: Path, scale: Scale, image_size: int | None = None) -> Path:
    """What :func:`_build` runs in its child."""
    from brainio_dvc.packaging import package_data_assembly

    from .data import make_stimulus_set

    stimuli = make_stimulus_set(base / "stimuli", scale.stimuli, *([image_size] if image_size else []))
    root = local_registry(base, stimuli)
    result = package_data_assembly(CATALOG, make_assembly(scale), ASSEMBLY_ID, STIMULUS_SET_ID, registry=root)
    merge(root, result["branch"])
    shutil.rmtree(base / "stimuli", ignore_errors=True)
    return root


def _loads(base: Path, root: Path, runs: int) -> dict[str, Any]:
    """``runs`` rounds of a cold, a warm and a raw-xarray load, each in a fresh process, back to
    back; medians, and the medians of each round's ratios.

    A ratio is taken within a round, whose three loads ran within seconds of one another, rather
    than between the medians of all rounds: this machine's speed drifts from minute to minute (a
    shared host), and a drift between rounds then moves both sides of a ratio alike.
    """
    import brainio_dvc.lookup as lookup

    args = {"identifier": ASSEMBLY_ID, "registry": str(root)}
    env = scenario_env(base / "warm")
    run_probe("get_assembly", args, env)  # fills the caches
    md5 = lookup.lookup_assembly(ASSEMBLY_ID, registry=str(root))["md5"]
    nc = Path(env["BRAINIO_HOME"]) / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    cold, warm, raw = [], [], []
    for number in range(runs):
        cold_home = base / "cold" / f"run-{number}"
        cold.append(run_probe("cold_get_assembly", args, scenario_env(cold_home)))
        shutil.rmtree(cold_home, ignore_errors=True)
        warm.append(run_probe("get_assembly", args, env))
        raw.append(run_probe("raw_xarray", {"path": str(nc)}, env))

    def per_round(numerators: list[dict[str, Any]], key: str = "seconds") -> float:
        return float(statistics.median(round_ratios([n[key] for n in numerators], [r[key] for r in raw])))

    return {"cold": median(cold), "warm": median(warm), "raw": median(raw),
            "cold_over_raw": per_round(cold), "warm_over_raw": per_round(warm),
            "rss_warm_over_raw": per_round(warm, "max_rss_mb"),
            "rss_cold_over_warm": float(statistics.median(
                round_ratios([c["max_rss_mb"] for c in cold], [w["max_rss_mb"] for w in warm]))),
            "cold_rss": median(cold, "max_rss_mb"), "warm_rss": median(warm, "max_rss_mb"),
            "raw_rss": median(raw, "max_rss_mb"), "file_gb": nc.stat().st_size / 1e9, "shape": warm[0]["shape"],
            "rounds": runs}


def _row(scale: Scale, found: dict[str, Any]) -> dict[str, Any]:
    memory_gb = scale.presentations * scale.neuroids * 4 / 1e9
    return {"scale": scale.name, "presentations": scale.presentations, "stimuli": scale.stimuli,
            "file_gb": round(found["file_gb"], 3), "memory_gb": round(memory_gb, 3),
            "cold_s": round(found["cold"], 3), "warm_s": round(found["warm"], 3), "xarray_s": round(found["raw"], 3),
            "cold_s_per_gb": round(found["cold"] / memory_gb, 3), "warm_s_per_gb": round(found["warm"] / memory_gb, 3),
            "warm_over_xarray": round(found["warm_over_raw"], 3),
            "cold_over_xarray": round(found["cold_over_raw"], 3),
            "rss_warm_over_xarray": round(found["rss_warm_over_raw"], 3),
            "rss_cold_over_warm": round(found["rss_cold_over_warm"], 3), "rounds": found["rounds"],
            "rss_mb": {"cold": round(found["cold_rss"]), "warm": round(found["warm_rss"]),
                       "xarray": round(found["raw_rss"])}}


def _spread(rows: list[dict[str, Any]], key: str) -> float:
    values = [row[key] for row in rows]
    return max(values) / min(values)


def growth(ctx: Any) -> None:
    rows = []
    for factor in GROWTH_FACTORS:
        scale = scaled(factor)
        base = ctx.work / "growth" / scale.name
        started = time.perf_counter()
        root = _build(base, scale)
        logger.info("growth %s: registry built in %.1f s", scale.name, time.perf_counter() - started)
        rows.append(_row(scale, _loads(base, root, GROWTH_ROUNDS[factor])))
        logger.info("growth %s: %s", scale.name, rows[-1])
        shutil.rmtree(base, ignore_errors=True)
    ctx.growth.extend(rows)
    for key, what in (("warm_over_xarray", "warm get_assembly / xarray load"),
                      ("cold_over_xarray", "cold get_assembly / xarray load"),
                      ("rss_warm_over_xarray", "peak RSS, warm get_assembly / xarray load")):
        spread = _spread(rows, key)
        ctx.figures.append(Figure(
            f"growth: spread of {what} across {', '.join(row['scale'] for row in rows)}", spread, "x",
            f"<= {_SPREAD_LIMIT:g}x (largest/smallest)", spread <= _SPREAD_LIMIT,
            samples=[row[key] for row in rows], note="per-scale values in 'samples'; the full table in growth"))
    worst = max(row["rss_cold_over_warm"] for row in rows)
    ctx.figures.append(Figure("growth: peak RSS of a cold load / a warm load, worst scale", worst, "x", "<= 1.15x",
                              worst <= 1.15, samples=[row["rss_cold_over_warm"] for row in rows]))


def lazy(ctx: Any) -> None:
    """Region selection on a lazily opened assembly against the lazy load of all of it."""
    args = {"identifier": ASSEMBLY_ID, "registry": str(ctx.local_root)}
    env = scenario_env(ctx.work / "lazy")
    run_probe("get_assembly", args, env)  # caches filled: the figure is about reading, not fetching
    region, whole = [], []
    for _ in range(ctx.scale.heavy_runs):
        region.append(run_probe("lazy_region", {**args, "region": "V4"}, env))
        whole.append(run_probe("lazy_region", args, env))
    bytes_fraction = median(region, "bytes_read") / median(whole, "bytes_read")
    ctx.figures.append(ratio_figure(
        "lazy get_assembly(...).sel(region='V4').load(), time", median(region), median(whole), 0.75, "s",
        [s["seconds"] for s in region], [s["seconds"] for s in whole],
        note=f"baseline: .load() of the whole lazy assembly; V4 is {region[0]['shape'][1]} of "
             f"{whole[0]['shape'][1]} neuroids; bytes read (rchar): {median(region, 'bytes_read') / 1e6:.1f} MB of "
             f"{median(whole, 'bytes_read') / 1e6:.1f} MB ({bytes_fraction:.2f})"))
    ctx.measure("lazy region selection: bytes read as a fraction of a full load", round(bytes_fraction, 3), "",
                neuroids_selected=region[0]["shape"][1], neuroids=whole[0]["shape"][1])


def large(ctx: Any) -> None:
    """One cold and one warm load at the 4 GB-class scale, beside xarray."""
    base = ctx.work / "large"
    started = time.perf_counter()
    root = _build(base, LARGE, LARGE_IMAGE_SIZE)
    ctx.measure("--large: building the registry (setup)", round(time.perf_counter() - started, 1), "s")
    row = _row(LARGE, _loads(base, root, LARGE.runs))
    zip_bytes = sum(p.stat().st_size for p in (base / "storage").rglob("*") if p.is_file()) / 1e9
    row["storage_gb"] = round(zip_bytes, 2)
    ctx.growth.append(row)
    ctx.figures.append(Figure("--large: peak RSS of a cold load / a warm load", row["rss_cold_over_warm"], "x",
                              "<= 1.15x", row["rss_cold_over_warm"] <= 1.15, note=str(row)))
