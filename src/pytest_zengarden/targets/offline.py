"""A recording: ``router.rsc``, ``cluster/`` manifests and ``hosts/<blade>/`` file trees.

What the recording lacks makes the checks that read it *error*, naming the missing path: a check
with nothing to judge never passes, and it is not skipped either (a partial recording would then
look like a green run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from ..errors import TargetError
from ..facts.cluster import ClusterReader
from ..facts.host import HostView
from ..facts.router import RouterConfig
from ..site.schema import Site
from .base import RouterHandle, Target


class OfflineTarget(Target):
    """Recorded state: ``router.rsc``, ``cluster/`` manifests and ``hosts/<blade>/`` file trees."""

    def __init__(self, site: Site, root: Path):
        self.site = site
        self.root = root
        self.name = f"offline={root}"

    def _missing(self, path: Path, what: str) -> TargetError:
        return TargetError(f"recording {self.root}", f"{path} is missing: the recording holds no {what}")

    def router(self) -> RouterHandle:
        from ..offline.rsc import RscParseError, load_rsc, read_export

        path = self.root / "router.rsc"
        if not path.is_file():
            raise self._missing(path, "router configuration (save the router's `/export` there)")

        def read() -> RouterConfig:
            try:
                said = load_rsc(path)
                config = read_export(path)
            except RscParseError as exc:
                raise TargetError(f"router (recorded at {path})", str(exc)) from None
            if not any(said.menus.values()):
                # A failed or truncated /export is not a factory router: nothing here says what the router is.
                raise TargetError(f"router (recorded at {path})", "the export states no configuration (empty?)")
            return config

        return RouterHandle(f"router (recorded at {path})", read)

    def cluster(self) -> ClusterReader:
        from ..offline.manifests import ManifestCluster

        path = self.root / "cluster"
        if not path.is_dir():
            raise self._missing(path, "cluster objects (a cluster/ directory of YAML manifests)")
        return ManifestCluster(path)

    def blade(self, name: str) -> HostView:
        from ..offline.hostfiles import FileTreeHost

        path = self.root / "hosts" / name
        if not path.is_dir():
            raise self._missing(path, f"files of blade {name} (a hosts/{name}/ tree)")
        return FileTreeHost(name, path)

    def etcd(self) -> Any:
        # A recording holds configuration, not the health of running members: nothing here to judge.
        raise TargetError(self.name, "etcd health cannot be recorded; run etcd checks against --zg-target live or lab")

    def http(self) -> httpx.Client:
        raise TargetError(self.name, "HTTP probes cannot be recorded; run them against --zg-target live or lab")
