"""Write Brain-Score-style data files with the library given on the command line.

``python make_data.py brainio DIR`` packages them as BrainIO 1.1 writes them: a stimulus CSV and
its images, a neural assembly (presentation x neuroid x time_bin), a behavioural assembly (reaction times, choices as
coordinates) and a spike-times assembly with a metadata group.  Run under both libraries' interpreters by
tests/differential/test_differential.py; it needs only numpy, pandas, PIL and the library.
"""

import importlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

library, directory = sys.argv[1], Path(sys.argv[2])
assemblies = importlib.import_module(f"{library}.assemblies")
write_netcdf = importlib.import_module(f"{library}.packaging").write_netcdf

directory.mkdir(parents=True, exist_ok=True)
images = directory / "images"
images.mkdir(exist_ok=True)
rng = np.random.default_rng(2015)

stimulus_ids = [f"Airplane_{n}_t1" for n in range(1, 9)]
categories = ["airplane", "car"] * 4
objects = ["a1", "c1", "a2", "c2"] * 2
for number, stimulus_id in enumerate(stimulus_ids):
    Image.fromarray(np.full((4, 4, 3), number * 30, dtype=np.uint8)).save(images / f"{stimulus_id}.png")
pd.DataFrame({
    "stimulus_id": stimulus_ids, "filename": [f"{s}.png" for s in stimulus_ids],
    "category": categories, "object_name": objects, "size_deg": np.linspace(2, 8, 8),
}).to_csv(directory / "stimuli.csv", index=False)

presentations = stimulus_ids * 3
neural = assemblies.NeuronRecordingAssembly(
    rng.normal(size=(len(presentations), 6, 2)).astype(np.float32),
    coords={
        "stimulus_id": ("presentation", presentations),
        "repetition": ("presentation", np.repeat([0, 1, 2], len(stimulus_ids))),
        "neuroid_id": ("neuroid", [f"n{n}" for n in range(6)]),
        "region": ("neuroid", ["V4", "V4", "IT", "IT", "IT", "V4"]),
        "animal": ("neuroid", ["chabo", "tito"] * 3),
        "time_bin_start": ("time_bin", [70, 170]),
        "time_bin_end": ("time_bin", [170, 270]),
    },
    dims=["presentation", "neuroid", "time_bin"],
)
write_netcdf(neural, directory / "neural.nc")

trials = stimulus_ids * 4
truth = categories * 4
choice = [t if rng.random() < 0.7 else ("car" if t == "airplane" else "airplane") for t in truth]
behavior = assemblies.BehavioralAssembly(  # reaction times; BrainIO cannot compress string data
    rng.uniform(0.2, 0.9, size=len(trials)),
    coords={
        "stimulus_id": ("presentation", trials),
        "truth": ("presentation", truth),
        "choice": ("presentation", choice),
        "subject": ("presentation", np.repeat(["s1", "s2"], len(trials) // 2)),
    },
    dims=["presentation"],
)
write_netcdf(behavior, directory / "behavior.nc")

spikes = assemblies.SpikeTimesAssembly(
    np.sort(rng.uniform(0, 0.3, size=10)),
    coords={
        "neuroid_id": ("event", [f"n{n % 3}" for n in range(10)]),
        "stimulus_presentation": ("event", np.arange(10) // 4),
    },
    dims=["event"],
)
write_netcdf(spikes, directory / "spikes.nc")
meta = assemblies.MetadataAssembly(
    rng.normal(size=(3, 2)),
    coords={
        "neuroid_id": ("neuroid", ["n0", "n1", "n2"]),
        "electrode": ("neuroid", ["e0", "e1", "e2"]),
        "stat": ("stat", ["snr", "rate"]),
    },
    dims=["neuroid", "stat"],
)
write_netcdf(meta, directory / "spikes.nc", append=True, group="neuroid_meta")
