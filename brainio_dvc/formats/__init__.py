"""File formats and naming rules: the bottom layer, pure or local-file I/O only.

netCDF assemblies (:mod:`.netcdf`), stimulus ZIPs and CSVs written (:mod:`.archives`) and
read (:mod:`.zip_extraction`), the ``meta`` block of ``.dvc`` files (:mod:`.dvcmeta`),
``brainio.lock`` (:mod:`.lockfile`), BibTeX (:mod:`.bibtex`), hashes (:mod:`.hashes`) and
identifier rules (:mod:`.identifiers`).
Nothing here knows about git, DVC, remotes or the data cache.
"""
