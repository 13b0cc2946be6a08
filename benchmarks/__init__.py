"""Benchmarks of brainio_dvc at the scale of Brain-Score's MajajHong2015 public set.

Run them with ``make benchmark`` (``python -m benchmarks``; ``--quick`` for a small smoke run).
Every figure is the median of several fresh processes (:mod:`benchmarks.probes`), reported
beside a baseline measured in the same run.  The README's "Benchmarks" section has the
figures of a full run.

This package imports nothing heavy at import time: the probes measure ``import brainio_dvc``.
"""
