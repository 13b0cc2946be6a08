"""A static catalog site of a registry: ``brainio-dvc site -o DIR``.

``index.html`` lists every identifier with client-side search and filters; one page per
identifier (``<kind>/<identifier>.html``) shows its card, derived facts, every version, a
sample of thumbnails for a stimulus set, the ``dvc import`` and Python lines and the
citation.  Pages are self-contained (CSS and JavaScript inline, a Content-Security-Policy that
forbids any other origin) and work from ``file://`` as from GitHub Pages.
"""

from __future__ import annotations

from .build import SiteReport, build_site

__all__ = ["SiteReport", "build_site"]
