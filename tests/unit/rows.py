"""Catalog rows shared by the catalog and lookup tests: an assembly and its stimulus set's two
rows, in BrainIO's columns (a test adds the DVC columns it needs)."""

from __future__ import annotations

SHA1 = "5b7a0b3c" * 5
ASSEMBLY = {
    "identifier": "dicarlo.MajajHong2015",
    "lookup_type": "assembly",
    "class": "NeuronRecordingAssembly",
    "location_type": "http",
    "location": "https://example.org/MajajHong2015.nc",
    "sha1": SHA1,
    "stimulus_set_identifier": "dicarlo.hvm",
}
STIMULUS_CSV = {
    "identifier": "dicarlo.hvm",
    "lookup_type": "stimulus_set",
    "class": "StimulusSet",
    "location_type": "http",
    "location": "https://example.org/hvm.csv",
    "sha1": SHA1,
    "stimulus_set_identifier": "",
}
STIMULUS_ZIP = {**STIMULUS_CSV, "class": "", "location": "https://example.org/hvm.zip"}
