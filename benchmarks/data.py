"""Deterministic data at the scale of MajajHong2015 (public): stimuli and a neural assembly.

Everything derives from fixed seeds, so that every process (the parent that builds the
registries and the children that package or compare) sees the same stimulus ids, metadata,
images and assembly values.  The values are firing-rate-like: gamma-distributed (shape 2,
a per-neuroid scale between 2 and 12 spikes/s), rounded to 2 decimals, stored as float32.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

STIMULUS_SET_ID = "dicarlo.MajajHong2015"
ASSEMBLY_ID = "dicarlo.MajajHong2015.public"
CATALOG = "dicarlo"
VALUES_DESCRIPTION = "rng.gamma(shape=2, scale=2..12 per neuroid), rounded to 2 decimals, float32"

_METADATA_SEED = 2015
_IMAGE_SEED = 64
_COORDS_SEED = 148480
_IMAGE_SIZE = 64
_CATEGORIES = ("Animals", "Boats", "Cars", "Chairs", "Faces", "Fruits", "Planes", "Tables")
_OBJECTS_PER_CATEGORY = 8


@dataclass(frozen=True)
class Scale:
    """How much data to build."""

    name: str
    stimuli: int
    presentations: int
    neuroids: int
    catalog_rows: int
    runs: int  # fresh processes per figure (cheap figures)
    heavy_runs: int  # fresh processes per figure for packaging and S3

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "stimuli": self.stimuli,
            "presentations": self.presentations,
            "neuroids": self.neuroids,
            "time_bins": 1,
            "assembly_bytes_in_memory": self.presentations * self.neuroids * 4,
            "catalog_rows": self.catalog_rows,
            "fresh_processes_per_figure": self.runs,
            "fresh_processes_per_heavy_figure": self.heavy_runs,
        }


FULL = Scale("full", stimuli=5760, presentations=148480, neuroids=256, catalog_rows=10000, runs=5, heavy_runs=3)


def scaled(factor: float, neuroids: int = 256) -> Scale:
    """MajajHong2015's shape with ``factor`` times its stimuli and presentations."""
    return Scale(f"{factor:g}x", stimuli=round(5760 * factor), presentations=round(148480 * factor),
                 neuroids=neuroids, catalog_rows=0, runs=3, heavy_runs=3)


#: The --large run: a 4 GB-class assembly (MajajHong2015's presentations, 27x its neuroids).
LARGE = Scale("large", stimuli=5760, presentations=148480, neuroids=256 * 27, catalog_rows=0, runs=1, heavy_runs=1)
#: Pixels a side of the --large run's images: 5,760 noisy RGB PNGs of this size make a 3 GB-class ZIP.
LARGE_IMAGE_SIZE = 420
QUICK = Scale("quick", stimuli=288, presentations=7424, neuroids=256, catalog_rows=1000, runs=3, heavy_runs=3)


def stimulus_ids(count: int) -> list[str]:
    """40-hex ids, like MajajHong2015's (alphanumeric, as BrainIO requires)."""
    return [hashlib.sha1(f"majajhong-{number}".encode()).hexdigest() for number in range(count)]


def stimulus_metadata(count: int) -> pd.DataFrame:
    """17 metadata columns per stimulus, in the spirit of the HvM image set."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(_METADATA_SEED)
    ids = stimulus_ids(count)
    objects = [f"{category.lower()}{number:02d}" for category in _CATEGORIES for number in range(_OBJECTS_PER_CATEGORY)]
    object_index = np.arange(count) % len(objects)
    variation = np.array([0, 3, 6])[(np.arange(count) // len(objects)) % 3]
    spread = variation / 6.0

    def angle() -> np.ndarray:
        return np.round(rng.uniform(-90, 90, count) * spread, 6)

    rxy, ryz, rxz = angle(), angle(), angle()
    return pd.DataFrame({
        "stimulus_id": ids,
        "image_id": ids,
        "object_name": [objects[i] for i in object_index],
        "category_name": [_CATEGORIES[i // _OBJECTS_PER_CATEGORY] for i in object_index],
        "variation": variation,
        "rxy": rxy,
        "ryz": ryz,
        "rxz": rxz,
        "s": np.round(1 + rng.uniform(-0.4, 0.6, count) * spread, 6),
        "ty": np.round(rng.uniform(-1, 1, count) * spread, 6),
        "tz": np.round(rng.uniform(-1, 1, count) * spread, 6),
        "background_id": [hashlib.md5(f"bg{n}".encode()).hexdigest() for n in rng.integers(0, 1000, count)],
        "size": np.full(count, 8.0),
        "image_file_name": [f"{stimulus_id}.png" for stimulus_id in ids],
        "rxy_semantic": np.round(rxy + 90, 6),
        "ryz_semantic": np.round(ryz + 90, 6),
        "rxz_semantic": np.round(rxz + 90, 6),
    })


def write_images(directory: Path, ids: list[str], size: int = _IMAGE_SIZE) -> dict[str, Path]:
    """One PNG per stimulus: 64x64 grayscale smooth blobs plus a little noise by default; at
    other sizes, RGB noise (incompressible, so that the ZIP is as large as the pixels)."""
    import numpy as np
    from PIL import Image

    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(_IMAGE_SEED)
    block = np.ones((_IMAGE_SIZE // 8, _IMAGE_SIZE // 8))
    paths = {}
    for stimulus_id in ids:
        path = directory / f"{stimulus_id}.png"
        if size == _IMAGE_SIZE:
            coarse = np.kron(rng.integers(0, 200, (8, 8)), block)
            pixels = np.clip(coarse + rng.normal(0, 8, coarse.shape), 0, 255).astype(np.uint8)
            Image.fromarray(pixels, mode="L").save(path, optimize=False)
        else:
            noise = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            Image.fromarray(noise, mode="RGB").save(path, optimize=False, compress_level=1)
        paths[stimulus_id] = path
    return paths


def make_stimulus_set(directory: Path, count: int, image_size: int = _IMAGE_SIZE):
    """The proto stimulus set (metadata + images written under ``directory``)."""
    from brainio_dvc.stimuli import StimulusSet

    metadata = stimulus_metadata(count)
    stimuli = StimulusSet(metadata)
    stimuli.stimulus_paths = write_images(directory, list(metadata["stimulus_id"]), image_size)
    stimuli.identifier = STIMULUS_SET_ID
    return stimuli


def assembly_parts(scale: Scale, seed: int = 0) -> tuple[Any, dict[str, tuple[str, Any]]]:
    """The values (presentation x neuroid x time_bin) and coordinates of the assembly.

    Coordinates depend only on the scale; ``seed`` changes the values (so that repeated
    packaging runs push new objects).
    """
    import numpy as np

    count, presentations, neuroids = scale.stimuli, scale.presentations, scale.neuroids
    coords_rng = np.random.default_rng(_COORDS_SEED)
    ids = np.array(stimulus_ids(count), dtype=object)
    order = coords_rng.permutation(presentations)
    stimulus_index = order % count
    repetition = order // count
    days = 12
    day = 20140101 + (np.arange(presentations) * days // presentations)

    animal = np.where(np.arange(neuroids) < neuroids // 2, "Chabo", "Tito")
    channel = np.arange(neuroids) % (neuroids // 2 or 1)
    arr = np.array(["A", "M", "P"])[np.minimum(channel * 3 // max(neuroids // 2, 1), 2)]
    region = np.where(arr == "P", "V4", "IT")
    subregion = np.where(arr == "P", "V4", np.where(arr == "A", "aIT", "cIT"))
    hemisphere = np.where(animal == "Chabo", "L", "R")
    col, row = channel % 10, (channel // 10) % 10
    neuroid_id = np.array([f"{a}_{h}_{r}_{c}_{w}_{n}" for a, h, r, c, w, n in
                           zip(animal, hemisphere, arr, col, row, channel, strict=True)], dtype=object)

    values_rng = np.random.default_rng(seed)
    rates = values_rng.gamma(shape=2.0, size=(presentations, neuroids, 1))
    rates *= np.linspace(2, 12, neuroids)[None, :, None]
    values = np.round(rates, 2).astype(np.float32)
    coords = {
        "stimulus_id": ("presentation", ids[stimulus_index]),
        "repetition": ("presentation", repetition.astype(np.int64)),
        "day": ("presentation", day.astype(np.int64)),
        "trial_id": ("presentation", np.arange(presentations, dtype=np.int64)),
        "neuroid_id": ("neuroid", neuroid_id),
        "arr": ("neuroid", arr.astype(object)),
        "col": ("neuroid", col.astype(np.int64)),
        "row": ("neuroid", row.astype(np.int64)),
        "hemisphere": ("neuroid", hemisphere.astype(object)),
        "subregion": ("neuroid", subregion.astype(object)),
        "animal": ("neuroid", animal.astype(object)),
        "region": ("neuroid", region.astype(object)),
        "x": ("neuroid", np.round(col * 0.4 - 1.8, 3)),
        "y": ("neuroid", np.round(row * 0.4 - 1.8, 3)),
        "time_bin_start": ("time_bin", np.array([70])),
        "time_bin_end": ("time_bin", np.array([170])),
    }
    return values, coords


def make_assembly(scale: Scale, seed: int = 0):
    """The proto NeuronRecordingAssembly."""
    from brainio_dvc.assemblies import NeuronRecordingAssembly

    values, coords = assembly_parts(scale, seed)
    return NeuronRecordingAssembly(values, coords=coords, dims=["presentation", "neuroid", "time_bin"])
