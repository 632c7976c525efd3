"""The site file: schema (``site.schema``), loader (``site.loader``) and semantic validation.

Deliberately empty: ``analysis/`` imports ``site.schema`` and ``site.validate`` imports ``analysis/``, so
this package must not load its loader when any of its modules is imported.
"""
