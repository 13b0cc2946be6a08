"""The contribution path: everything that changes a registry.

All-or-nothing packaging runs (:mod:`.transaction`), the checks a pull request must pass
(:mod:`.validation`, :mod:`.completeness`; reported by :mod:`.checks`, which also verifies the
data cache), generating the catalogs from the ``.dvc`` files
(:mod:`.catalog_build`), new registries (:mod:`.scaffold`), remote garbage collection
(:mod:`.gc`) and migrating Brain-Score's S3 data (:mod:`.migrate`).
"""
