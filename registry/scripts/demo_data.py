"""Deterministic demo data: Gabor-patch stimuli and two assemblies recorded on them.

Imported by ``build_demo.py`` (which packages it into this registry) and by the demo command
(which packages a second version into a throwaway registry).  Same seed, same bytes.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from brainio_dvc.assemblies import BehavioralAssembly, NeuronRecordingAssembly
from brainio_dvc.stimuli import StimulusSet

CATALOG = "demo"
STIMULUS_SET_IDENTIFIER = "demo.Gabor2024"
NEURAL_IDENTIFIER = "demo.Gabor2024.neural"
BEHAVIOR_IDENTIFIER = "demo.Gabor2024.behavior"
_SIZE = 32
_ORIENTATIONS = (0, 45, 90, 135)
_FREQUENCIES = (2, 4)
_PHASES = (0.0, 1.5)


def _gabor(orientation: float, frequency: float, phase: float) -> np.ndarray:
    grid = np.linspace(-1, 1, _SIZE)
    x, y = np.meshgrid(grid, grid)
    theta = np.deg2rad(orientation)
    rotated = x * np.cos(theta) + y * np.sin(theta)
    envelope = np.exp(-(x**2 + y**2) / 0.3)
    image = 0.5 + 0.5 * envelope * np.cos(2 * np.pi * frequency * rotated + phase)
    return (image * 255).round().astype(np.uint8)


def stimulus_set(directory: Path) -> StimulusSet:
    """16 Gabor patches written as PNGs into ``directory``."""
    from PIL import Image

    directory.mkdir(parents=True, exist_ok=True)
    rows, paths = [], {}
    combinations = itertools.product(_ORIENTATIONS, _FREQUENCIES, _PHASES)
    for number, (orientation, frequency, phase) in enumerate(combinations):
        stimulus_id = f"gabor{number:02d}"
        path = directory / f"{stimulus_id}.png"
        Image.fromarray(_gabor(orientation, frequency, phase), mode="L").save(path)
        paths[stimulus_id] = path
        rows.append({
            "stimulus_id": stimulus_id,
            "orientation": orientation,
            "spatial_frequency": frequency,
            "phase": phase,
            "image_label": "vertical" if orientation == 90 else "other",
        })
    stimuli = StimulusSet(pd.DataFrame(rows))
    stimuli.stimulus_paths = paths
    stimuli.identifier = STIMULUS_SET_IDENTIFIER
    return stimuli


def neural_assembly(version: int = 1) -> NeuronRecordingAssembly:
    """8 neuroids x 48 presentations (3 repetitions) x 1 time bin; ``version`` changes the data."""
    rng = np.random.default_rng(2024 + version)
    stimulus_ids = [f"gabor{n:02d}" for n in range(16)]
    presentations = [(s, r) for r in range(3) for s in stimulus_ids]
    data = rng.normal(size=(len(presentations), 8, 1)).astype(np.float32)
    return NeuronRecordingAssembly(
        data,
        coords={
            "stimulus_id": ("presentation", [s for s, _ in presentations]),
            "repetition": ("presentation", [r for _, r in presentations]),
            "neuroid_id": ("neuroid", [f"n{i}" for i in range(8)]),
            "region": ("neuroid", ["V1"] * 4 + ["V4"] * 4),
            "animal": ("neuroid", ["ana"] * 8),
            "time_bin_start": ("time_bin", [70]),
            "time_bin_end": ("time_bin", [170]),
        },
        dims=["presentation", "neuroid", "time_bin"],
    )


def behavioral_assembly() -> BehavioralAssembly:
    """Two subjects' choices ("vertical" or "other") on every stimulus."""
    rng = np.random.default_rng(7)
    stimulus_ids = [f"gabor{n:02d}" for n in range(16)]
    trials = [(s, subject) for subject in ("s1", "s2") for s in stimulus_ids]
    choices = rng.choice(["vertical", "other"], size=len(trials))
    return BehavioralAssembly(
        choices,
        coords={
            "stimulus_id": ("presentation", [s for s, _ in trials]),
            "subject": ("presentation", [subject for _, subject in trials]),
        },
        dims=["presentation"],
    )
