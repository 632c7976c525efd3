"""Targets: where the checks read state from — the embedded lab, a live site, or a recording.

``--zg-target lab`` (default), ``live`` or ``offline=DIR``.  A :class:`Target` hands out one connection
per system, lazily, and closes them at the end.  The lab target is imported only in lab mode.
"""

from __future__ import annotations

from ..site.schema import Site
from .base import RouterHandle, Target, TargetSpec
from .live import LiveTarget
from .offline import OfflineTarget

__all__ = ["LiveTarget", "OfflineTarget", "RouterHandle", "Target", "TargetSpec", "make_target"]


def make_target(spec: TargetSpec, site: Site) -> Target:
    """The :class:`Target` for a parsed ``--zg-target``."""
    if spec.kind == "offline":
        assert spec.path is not None
        return OfflineTarget(site, spec.path)
    if spec.kind == "live":
        return LiveTarget(site)
    from .lab import LabTarget

    return LabTarget(site)
