"""The xarray machinery beneath :mod:`brainio_dvc.assemblies`, BrainIO's face for assemblies.

- :mod:`.indexes`: coordinates gathered into one pandas MultiIndex per dimension, and the
  metadata walk over coordinates and levels;
- :mod:`.grouping`: groupby on several coordinates of one dimension, and the partitions of
  ``multi_dim_apply``;
- :mod:`.loaders`: reading the BrainIO netCDF format and attaching the stimulus set.

These modules import nothing of the package above them at run time; the assembly classes
themselves live in :mod:`brainio_dvc.assemblies`.
"""
