"""A recording: ``router.rsc``, ``cluster/`` manifests and ``hosts/<blade>/`` file trees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from ..errors import TargetError, TargetUnavailable
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

    def router(self) -> RouterHandle:
        from ..offline.rsc import RscParseError, load_rsc

        path = self.root / "router.rsc"
        if not path.exists():
            raise TargetUnavailable(f"the recording {self.root} has no router.rsc")

        def read() -> RouterConfig:
            try:
                return load_rsc(path)
            except RscParseError as exc:
                raise TargetError(f"router (recorded at {path})", str(exc)) from None

        return RouterHandle(f"router (recorded at {path})", read)

    def cluster(self) -> ClusterReader:
        from ..offline.manifests import ManifestCluster

        path = self.root / "cluster"
        if not path.exists():
            raise TargetUnavailable(f"the recording {self.root} has no cluster/ manifests")
        return ManifestCluster(path)

    def blade(self, name: str) -> HostView:
        from ..offline.hostfiles import FileTreeHost

        path = self.root / "hosts" / name
        if not path.is_dir():
            raise TargetUnavailable(f"the recording {self.root} has no hosts/{name}/")
        return FileTreeHost(name, path)

    def etcd(self) -> Any:
        raise TargetUnavailable("offline target: etcd health needs a live system")

    def http(self) -> httpx.Client:
        raise TargetUnavailable("offline target: HTTP probes need a live system")
