"""Brain-Score-style analyses, run unchanged under BrainIO 1.1 and under brainio_dvc.

``python brainscore_scripts.py LIBRARY DIR`` loads the files of make_data.py with LIBRARY
(``brainio`` or ``brainio_dvc``), runs what Brain-Score's benchmarks and metrics do with them,
and prints one JSON document describing every result.  ``python brainscore_scripts.py
brainio_dvc DIR REGISTRY`` loads the same data by identifier from a registry instead, as
Brain-Score's data plugins do (see tests/integration/test_brainscore_style.py).  Only the import line differs between
the two runs, which is the whole claim of a drop-in.  The descriptions leave out what the two
xarray generations are known to spell differently (see ``describe``).
"""

import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

library, directory = sys.argv[1], Path(sys.argv[2])
registry = sys.argv[3] if len(sys.argv) > 3 else None
assemblies = importlib.import_module(f"{library}.assemblies")
stimuli = importlib.import_module(f"{library}.stimuli")
transform = importlib.import_module(f"{library}.transform")
DataAssembly, walk_coords, get_levels = assemblies.DataAssembly, assemblies.walk_coords, assemblies.get_levels


def plain(value):
    """Values as JSON: floats rounded (the two pandas generations parse CSV floats a few ulps
    apart), NaN as None, everything else as text; MultiIndex tuples item by item."""
    value = np.asarray(value)
    if value.dtype.kind == "f":
        return [None if np.isnan(v) else round(float(v), 5) for v in value.ravel()]
    return [plain(np.array(v, dtype=object)) if isinstance(v, tuple) else scalar(v) for v in value.ravel()]


def scalar(value):
    return round(value, 5) if isinstance(value, float) else str(value)


def describe(assembly):
    """Dims, shape, values, levels and the coordinates along dimensions, by name.

    Scalar coordinates are left out: after ``sel`` on a level, xarray >= 2022.6 keeps the level
    as a scalar coordinate where 2022.3 dropped it.  So is the name of a dimension after a
    repeated-dimension ``sel``: 2022.3 renamed it after the remaining level.
    """
    return {
        "class": type(assembly).__name__,
        "dims": [str(dim) for dim in assembly.dims],
        "shape": list(assembly.shape),
        "values": plain(assembly.values),
        "levels": sorted(str(level) for level in get_levels(assembly)),
        "coords": {str(name): [[str(d) for d in dims], plain(values)]
                   for name, dims, values in walk_coords(assembly) if dims},
        # A MultiIndex's tuples follow its level order, which follows the CSV's column order:
        # BrainIO's packaging wrote the columns in no fixed order.  Its levels are in "coords".
        "dim_values": {str(dim): plain(assembly[dim].values) for dim in set(assembly.dims)
                       if dim in assembly.coords and not isinstance(assembly.indexes.get(dim), pd.MultiIndex)},
    }


results = {}


def case(function):
    try:
        results[function.__name__] = function()
    except Exception as error:  # noqa: BLE001 - the comparison is of behaviour, failures included
        results[function.__name__] = f"{type(error).__name__}"
    return function


STIMULUS_SET = "dicarlo.Example2024"


def load(cls, name):
    """An assembly of make_data.py with the stimulus set: from its file, or from the registry."""
    if registry:
        return importlib.import_module(library).get_assembly(f"{STIMULUS_SET}.{name}", registry=registry)
    return cls.from_files(directory / f"{name}.nc", stimulus_set_identifier=STIMULUS_SET, stimulus_set=stimulus_set)


if registry:
    stimulus_set = importlib.import_module(library).get_stimulus_set(STIMULUS_SET, registry=registry)
else:
    stimulus_set = stimuli.StimulusSet.from_files(directory / "stimuli.csv", directory / "images")
    stimulus_set.identifier = STIMULUS_SET


def neural():
    return load(assemblies.NeuronRecordingAssembly, "neural")


@case
def load_neural():
    assembly = neural()
    return {**describe(assembly), "stimulus_set_identifier": assembly.attrs["stimulus_set_identifier"],
            "stimulus_set_rows": len(assembly.attrs["stimulus_set"])}


@case  # only from files: a registry always attaches the stimulus set
def load_without_stimulus_set():
    assembly = assemblies.NeuronRecordingAssembly.from_files(directory / "neural.nc")
    return {"stimulus_set": repr(assembly.attrs["stimulus_set"]),
            "stimulus_set_identifier": repr(assembly.attrs["stimulus_set_identifier"])}


@case
def stimulus_set_paths():
    return {"rows": len(stimulus_set), "columns": sorted(stimulus_set.columns),
            "path": Path(stimulus_set.get_stimulus("Airplane_3_t1")).name}


@case
def region_selection():  # a benchmark's `assembly.sel(region=region)`
    assembly = neural().sel(region="IT")
    assembly = assembly.squeeze("time_bin") if assembly.sizes["time_bin"] == 1 else assembly.isel(time_bin=0)
    return describe(assembly.transpose("presentation", "neuroid"))


@case
def average_repetitions_then_select():  # multi_groupby then sel on a level
    assembly = neural().isel(time_bin=0)
    averaged = assembly.multi_groupby(["category", "stimulus_id"]).mean("presentation")
    return {"averaged": describe(averaged), "airplanes": describe(averaged.sel(category="airplane"))}


@case
def groupby_then_select():  # a reduction, then sel on a level of the other dimension
    averaged = neural().isel(time_bin=0).groupby("stimulus_id").mean("presentation")
    return {"averaged": describe(averaged), "v4": describe(averaged.sel(region="V4"))}


@case
def mean_then_select():
    return describe(neural().mean("presentation").sel(animal="tito"))


def probabilities():
    behavior = load(assemblies.BehavioralAssembly, "behavior")
    choices = sorted(set(behavior["choice"].values))
    ids = sorted(set(behavior["stimulus_id"].values))
    chosen = behavior["choice"].values
    values = np.array([[np.mean(chosen[behavior["stimulus_id"].values == s] == c) for c in choices] for s in ids])
    truth = [behavior["truth"].values[behavior["stimulus_id"].values == s][0] for s in ids]
    return DataAssembly(values, coords={"stimulus_id": ("presentation", ids), "truth": ("presentation", truth),
                                         "choice": ("choice", choices)}, dims=["presentation", "choice"])


@case
def i2n_like():  # Brain-Score's I2n: per-cell scores, then group means subtracted
    p = probabilities()
    lookup = {(s, c): v for s, c, v in zip(np.repeat(p["stimulus_id"].values, p.sizes["choice"]),
                                          np.tile(p["choice"].values, p.sizes["presentation"]), p.values.ravel(),
                                          strict=True)}

    def target_distractor(p_choice, stimulus_id, truth, choice, **_):
        if truth == choice:
            return np.nan
        p_object = lookup[(stimulus_id, truth)]
        return p_object / (p_object + p_choice)

    scores = p.multi_dim_apply(["stimulus_id", "choice"], target_distractor)
    normalized = scores.multi_dim_apply(["truth", "choice"], lambda group, **_: group - np.nanmean(group))
    return {"scores": describe(scores), "normalized": describe(normalized)}


@case
def subtract_mean_brainio_example():
    d = DataAssembly([[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]],
                     coords={"a": ["a", "b", "c", "d"], "aa": ("a", ["a", "a", "b", "b"]), "b": ["x", "y", "z"]},
                     dims=["a", "b"])
    return describe(d.multi_dim_apply(["aa", "b"], lambda x, **_: x - x.mean()))


def rdm():
    it = neural().isel(time_bin=0).sel(region="IT")
    features = it.multi_groupby(["category", "stimulus_id"]).mean("presentation")
    features = features.transpose("presentation", "neuroid")
    coords = {name: (dims, values) for name, dims, values in walk_coords(features) if dims == ("presentation",)}
    return DataAssembly(np.corrcoef(features.values), coords=coords, dims=["presentation", "presentation"])


@case
def similarity_matrix():
    matrix = rdm()
    return {"matrix": describe(matrix), "cars": plain(matrix.sel(category="car").values)}


@case
def similarity_subset():
    matrix = rdm()
    target = matrix.sel(category="car")
    cars = matrix["stimulus_id"].values[matrix["category"].values == "car"]
    target = DataAssembly(target.values, coords={"stimulus_id": ("presentation", cars),
                                                 "category": ("presentation", ["car"] * target.shape[0])},
                          dims=["presentation", "presentation"])
    return plain(transform.subset(matrix, target, subset_dims=["stimulus_id"]).values)


@case
def extras_groups():
    spikes = load(assemblies.SpikeTimesAssembly, "spikes")
    group = spikes.attrs["neuroid_meta"]
    return {"spikes": describe(spikes), "group": describe(group), "group_class": type(group).__name__,
            "group_stimulus_set_rows": len(group.attrs["stimulus_set"]),
            "group_stimulus_set_identifier": group.attrs["stimulus_set_identifier"]}


@case
def one_coordinate_dimension():
    a = DataAssembly(np.arange(6.).reshape(3, 2), coords={"stimulus_id": ("presentation", ["a", "b", "c"]),
                     "repetition": ("presentation", [0, 0, 1]), "neuroid_id": ("neuroid", ["n1", "n2"])},
                     dims=["presentation", "neuroid"])
    reset = a.reset_index(["neuroid"])
    return {"assembly": describe(a), "coords_for_dim": sorted(assemblies.coords_for_dim(a, "neuroid")),
            "reset": sorted(str(name) for name in reset.coords if name not in get_levels(reset)),
            "neuroid_values": plain(a["neuroid"].values)}


@case
def coords_for_dim_presentation():
    coords = assemblies.coords_for_dim(neural().reset_index("presentation"), "presentation")
    return {str(k): plain(v) for k, v in coords.items()}


@case
def index_efficient():
    return [int(i) for i in transform.index_efficient(np.array(["b", "a", "c", "a"]), np.array(["a", "c", "c"]))]


@case
def multi_groupby_error():
    try:
        neural().multi_groupby(["stimulus_id", "region"])
    except assemblies.GroupbyError:
        return "GroupbyError"
    return "no error"


sys.stdout.write(json.dumps(results, indent=1, sort_keys=True) + "\n")
