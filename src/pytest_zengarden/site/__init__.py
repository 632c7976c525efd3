"""The site file: schema, loader and semantic validation."""

from .loader import Problem, SiteError, load_site, parse_site
from .schema import Role, Site

__all__ = ["Problem", "Role", "Site", "SiteError", "load_site", "parse_site"]
