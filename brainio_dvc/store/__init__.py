"""Where the bytes live and how they are found: git, DVC remotes and the shared data cache.

A registry read at a commit (:mod:`.registry`, with refs read from git's files by
:mod:`.gitrefs`), its remotes (:mod:`.remotes`), S3 sources of referenced artifacts
(:mod:`.references`, read through :mod:`.s3objects`), the content-addressed cache (:mod:`.cache`), the paths inside a
registry (:mod:`.layout`), the pins of an analysis repository (:mod:`.pins`), and the small helpers for
transfers (:mod:`.parallel`, :mod:`.progress`). Uses :mod:`brainio_dvc.formats`; knows nothing of
assemblies or stimulus sets.  Every git command of the package runs through :mod:`.git`.
"""
