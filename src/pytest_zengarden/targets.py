"""Targets: where the checks read state from — the embedded lab, a live site, or a recording.

``--zg-target lab`` (default), ``live`` or ``offline=DIR``.  A :class:`Target` hands out one connection
per system, lazily, and closes them at the end.  Failures raise :class:`TargetError` (the check errors,
naming host and cause); what a target cannot provide at all raises :class:`TargetUnavailable` (skip).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from .clients.prober import Prober, SshLogin, Vantage
from .cluster_state import ClusterReader
from .credentials import resolve_secret
from .errors import CredentialError, TargetError, TargetUnavailable, UsageProblem
from .host_view import HostView
from .lab.topology import WAN_LINK
from .router_config import RouterConfig
from .safety import require_lab_netns
from .site.schema import Inventory, Site


def default_lab_state() -> Path:
    """Where `zengarden lab up` keeps the lab's state (``$ZG_LAB_STATE`` overrides)."""
    return Path(os.environ.get("ZG_LAB_STATE", "/var/lib/zengarden/lab"))


@dataclass(frozen=True)
class TargetSpec:
    """A parsed ``--zg-target`` value."""

    kind: Literal["lab", "live", "offline"]
    path: Path | None = None

    @classmethod
    def parse(cls, text: str) -> TargetSpec:
        text = text.strip()
        if text in ("lab", "live"):
            return cls(text)  # type: ignore[arg-type]
        if text.startswith("offline="):
            path = Path(text.split("=", 1)[1]).expanduser()
            if not text.split("=", 1)[1]:
                raise UsageProblem("--zg-target offline=DIR needs a directory")
            if not path.is_dir():
                raise UsageProblem(f"--zg-target {text}: {path} is not a directory")
            return cls("offline", path)
        raise UsageProblem(f"--zg-target: expected lab, live or offline=DIR, got {text!r}")

    def __str__(self) -> str:
        return f"offline={self.path}" if self.kind == "offline" else self.kind


@dataclass
class RouterHandle:
    """The router as the checks see it: a configuration snapshot, and a client where it can be changed."""

    endpoint: str
    _read: Callable[[], RouterConfig]
    client: Any = None  # a RouterClient on live/lab targets, None offline
    _config: RouterConfig | None = field(default=None, repr=False)

    @property
    def config(self) -> RouterConfig:
        """The configuration, read once per session (re-read with :meth:`refresh`)."""
        if self._config is None:
            self._config = self._read()
        return self._config

    def refresh(self) -> RouterConfig:
        self._config = None
        return self.config


class Target:
    """Base: a named source of router, cluster, blade, etcd and HTTP access."""

    name = "target"

    def router(self) -> RouterHandle:
        raise TargetUnavailable(f"{self.name} target has no router access")

    def cluster(self) -> ClusterReader:
        raise TargetUnavailable(f"{self.name} target has no cluster access")

    def blade(self, name: str) -> HostView:
        raise TargetUnavailable(f"{self.name} target has no blade access")

    def etcd(self) -> Any:
        raise TargetUnavailable(f"{self.name} target has no etcd access")

    def http(self) -> httpx.Client:
        raise TargetUnavailable(f"{self.name} target has no HTTP access")

    def prober(self) -> Prober:
        """Runs connection probes from a vantage point in each segment (active firewall checks)."""
        raise TargetUnavailable(f"{self.name} target cannot send probes")

    @property
    def live(self) -> bool:
        """Whether checks talk to running systems (drills and probes need this)."""
        return False

    def close(self) -> None:
        """Close whatever the target opened."""


class OfflineTarget(Target):
    """Recorded state: ``router.rsc``, ``cluster/`` manifests and ``hosts/<blade>/`` file trees."""

    def __init__(self, site: Site, root: Path):
        self.site = site
        self.root = root
        self.name = f"offline={root}"

    def router(self) -> RouterHandle:
        from .offline.rsc import RscParseError, load_rsc

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
        from .offline.manifests import ManifestCluster

        path = self.root / "cluster"
        if not path.exists():
            raise TargetUnavailable(f"the recording {self.root} has no cluster/ manifests")
        return ManifestCluster(path)

    def blade(self, name: str) -> HostView:
        from .offline.hostfiles import FileTreeHost

        path = self.root / "hosts" / name
        if not path.is_dir():
            raise TargetUnavailable(f"the recording {self.root} has no hosts/{name}/")
        return FileTreeHost(name, path)

    def etcd(self) -> Any:
        raise TargetUnavailable("offline target: etcd health needs a live system")

    def http(self) -> httpx.Client:
        raise TargetUnavailable("offline target: HTTP probes need a live system")


class LiveTarget(Target):
    """Real systems, reached with the credentials the inventory names."""

    name = "live"

    def __init__(self, site: Site, inventory: Inventory | None = None, guard: Callable[[str], None] | None = None):
        self.site = site
        self.inventory = inventory or site.inventory
        self._guard = guard or (lambda address: None)
        self._closers: list[Callable[[], None]] = []

    @property
    def live(self) -> bool:
        return True

    def _need(self, section: str) -> Any:
        value = getattr(self.inventory, section)
        if value is None:
            raise TargetError(
                self.name, f"inventory.{section} is not set: say where the {section} credentials come from"
            )
        return value

    def prober(self) -> Prober:
        """Vantage hosts from ``inventory.probes`` (one per segment), reached over SSH."""
        vantages_spec = self.inventory.probes
        if not vantages_spec:
            raise TargetUnavailable(
                "active probes need a vantage host per segment: set inventory.probes "
                "(segment: {host: ADDRESS, user: ..., key_file: ...})"
            )
        blades = self.inventory.blades
        vantages = {}
        for segment, spec in vantages_spec.items():
            user = spec.user or (blades.user if blades else None)
            key = spec.key_file or (blades.key_file if blades else None)
            if user is None or key is None:
                raise TargetError(
                    f"inventory.probes.{segment}", "needs user and key_file (or inventory.blades to take them from)"
                )
            self._guard(str(spec.host))
            login = SshLogin(
                user,
                Path(key).expanduser(),
                spec.port,
                known_hosts=blades.known_hosts if blades else None,
                connect_timeout=blades.timeout_s if blades else 10.0,
            )
            vantages[segment] = Vantage(segment, str(spec.host), ssh=login)
        routers = [str(s.router_address) for s in self.site.segments.values() if s.router_address is not None]
        return Prober(vantages, [], routers + list(map(str, self.inventory.router_wan or [])))

    def router(self) -> RouterHandle:
        from .clients.router import RouterApiClient, RouterRestClient, snapshot, tls_context

        access = self._need("router")
        r = self.site.router
        address = str(r.address)
        self._guard(address)
        try:
            password = resolve_secret(access.password, "inventory.router.password")
        except CredentialError as exc:
            raise TargetError(f"router {address}", str(exc)) from None
        client: Any
        if access.transport == "rest":
            verify = tls_context(access.ca_file, access.verify_tls) if r.rest.scheme == "https" else False
            client = RouterRestClient(
                f"{r.rest.scheme}://{address}:{r.rest.port}",
                access.username,
                password,
                verify=verify,
                timeout=access.timeout_s,
            )
        elif access.transport == "api-ssl":
            client = RouterApiClient(
                address,
                access.username,
                password,
                port=r.api.ssl_port,
                tls=tls_context(access.ca_file, access.verify_tls),
                timeout=access.timeout_s,
            )
        else:
            client = RouterApiClient(address, access.username, password, port=r.api.port, timeout=access.timeout_s)
        self._closers.append(client.close)
        return RouterHandle(client.endpoint, lambda: snapshot(client), client)

    def cluster(self) -> ClusterReader:
        from .clients.cluster import KubeClusterClient

        access = self._need("cluster")
        self._guard(self.site.cluster.api_endpoint)
        client = KubeClusterClient(access.kubeconfig, access.context, access.timeout_s)
        self._closers.append(client.close)
        return client

    def blade(self, name: str) -> HostView:
        from .clients.hosts import SshBlade

        access = self._need("blades")
        address = str(self.site.blades[name].address)
        self._guard(address)
        return SshBlade(
            name,
            address,
            access.user,
            access.key_file,
            port=access.port,
            timeout=access.timeout_s,
            known_hosts=access.known_hosts,
        )

    def etcd(self) -> Any:
        from .clients.etcd import EtcdClient

        access = self._need("etcd")
        etcd = self.site.cluster.etcd
        endpoints = []
        for member in etcd.members:
            address = str(self.site.blades[member].address)
            self._guard(address)
            endpoints.append(f"https://{address}:{etcd.client_port}")
        client = EtcdClient(endpoints, access.ca_file, access.cert_file, access.key_file, access.timeout_s)
        self._closers.append(client.close)
        return client

    def http(self) -> httpx.Client:
        def guard(request: httpx.Request) -> None:
            # Same rule as every other client: in the lab, refuse before the request leaves.
            self._guard(request.url.host)

        client = httpx.Client(timeout=httpx.Timeout(5.0), follow_redirects=False, event_hooks={"request": [guard]})
        self._closers.append(client.close)
        return client

    def close(self) -> None:
        while self._closers:
            # Closing is best effort: a dead connection must not fail the session.
            with contextlib.suppress(Exception):
                self._closers.pop()()


class LabTarget(LiveTarget):
    """The embedded lab: a live target whose inventory the lab writes, reachable only from inside it."""

    name = "lab"

    def __init__(self, site: Site, state_dir: Path | None = None):
        self.state_dir = state_dir = state_dir or default_lab_state()
        inventory, namespaces, problem = self._lab_inventory(state_dir)

        def guard(address: str) -> None:
            require_lab_netns(address, namespaces)

        super().__init__(site, inventory, guard=guard)
        self._problem = problem

    @staticmethod
    def _lab_inventory(state_dir: Path) -> tuple[Inventory | None, list[str], str | None]:
        state = state_dir / "lab.json"
        if not state.exists():
            return None, [], f"the lab is not running (no {state}); start it with `zengarden lab up`"
        try:
            data = json.loads(state.read_text(encoding="utf-8"))
            return Inventory.model_validate(data["inventory"]), list(data.get("namespaces", [])), None
        except (ValueError, KeyError) as exc:
            return None, [], f"lab state {state} is unreadable ({exc}); run `zengarden lab up` again"

    def prober(self) -> Prober:
        if self._problem is not None:
            raise TargetError("lab", self._problem)
        data = json.loads((self.state_dir / "lab.json").read_text(encoding="utf-8"))
        probes = data.get("probes")
        if not probes:
            raise TargetUnavailable("the lab has no probe vantage points (lab.json has no 'probes')")
        vantages = {seg: Vantage(seg, p["address"], netns=p["netns"]) for seg, p in probes.items()}
        routers = [str(s.router_address) for s in self.site.segments.values() if s.router_address is not None]
        routers.append(str(WAN_LINK.network_address + 1))
        return Prober(vantages, list(data.get("namespaces", [])), routers)

    def _need(self, section: str) -> Any:
        if self._problem is not None:
            raise TargetError("lab", self._problem)
        if getattr(self.inventory, section) is None:
            # The lab grows part by part; what it does not run yet is skipped, with the reason, not failed.
            raise TargetUnavailable(f"the lab does not provide {section} access yet")
        return super()._need(section)


def make_target(spec: TargetSpec, site: Site) -> Target:
    """The :class:`Target` for a parsed ``--zg-target``."""
    if spec.kind == "offline":
        assert spec.path is not None
        return OfflineTarget(site, spec.path)
    if spec.kind == "live":
        return LiveTarget(site)
    return LabTarget(site)
