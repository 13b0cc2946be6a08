"""``python -m brainio_dvc.cli``: the same command line as ``brainio-dvc``."""

from . import main

main()
