"""Real systems, reached with the credentials the site's inventory names."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..credentials import resolve_secret
from ..errors import CredentialError, TargetError, TargetUnavailable
from ..facts.cluster import ClusterReader
from ..facts.host import HostView
from ..probes.prober import Prober, SshLogin, Vantage
from ..safety import only_loopback, require_loopback
from ..site.schema import Inventory, Site
from .base import RouterHandle, Target


class LiveTarget(Target):
    """Real systems, reached with the credentials the inventory names."""

    name = "live"

    def __init__(self, site: Site, inventory: Inventory | None = None, guard: Callable[[str], None] | None = None):
        self.site = site
        self.inventory = inventory or site.inventory
        # The plugin's own tests run live targets against loopback stand-ins only, by construction.
        self._guard = guard or (require_loopback if only_loopback() else (lambda address: None))
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

    def router_client(self, transport: str | None = None) -> Any:
        """A new connection to the router (the caller closes it); ``transport`` overrides the inventory's."""
        from ..clients.router import RouterApiClient, RouterRestClient, tls_context

        access = self._need("router")
        r = self.site.router
        address = str(r.address)
        self._guard(address)
        try:
            password = resolve_secret(access.password, "inventory.router.password")
        except CredentialError as exc:
            raise TargetError(f"router {address}", str(exc)) from None
        transport = transport or access.transport
        if transport == "rest":
            verify = tls_context(access.ca_file, access.verify_tls) if r.rest.scheme == "https" else False
            return RouterRestClient(
                f"{r.rest.scheme}://{address}:{r.rest.port}",
                access.username,
                password,
                verify=verify,
                timeout=access.timeout_s,
            )
        if transport == "api-ssl":
            return RouterApiClient(
                address,
                access.username,
                password,
                port=r.api.ssl_port,
                tls=tls_context(access.ca_file, access.verify_tls),
                timeout=access.timeout_s,
            )
        return RouterApiClient(address, access.username, password, port=r.api.port, timeout=access.timeout_s)

    def router_transport(self) -> str:
        return str(self._need("router").transport)

    def router(self) -> RouterHandle:
        from ..clients.router import snapshot

        client = self.router_client()
        self._closers.append(client.close)
        return RouterHandle(client.endpoint, lambda: snapshot(client), client)

    def cluster(self) -> ClusterReader:
        """The cluster through its API servers in turn: the kubeconfig's, then each control-plane blade's."""
        from ..clients.cluster import KubeClusterClient
        from ..clients.cluster_ha import HaClusterClient

        access = self._need("cluster")
        first = KubeClusterClient(access.kubeconfig, access.context, access.timeout_s)
        self._closers.append(first.close)
        self._guard(urlsplit(first.server).hostname or first.server)
        # The site's servers are the alternatives to the kubeconfig's only if that names this site's cluster
        # (one of its servers or its API endpoint); a kubeconfig pointing elsewhere is asked alone.
        site_servers = self.api_servers()
        site_hosts = {urlsplit(u).hostname for u in site_servers.values()} | {self.site.cluster.api_endpoint}
        ours = urlsplit(first.server).hostname in site_hosts
        servers = [first.server, *(site_servers.values() if ours else ())]

        def make(server: str) -> KubeClusterClient:
            if server == first.server:
                return first
            self._guard(server.split("//", 1)[-1].rsplit(":", 1)[0])
            return KubeClusterClient(access.kubeconfig, access.context, access.timeout_s, server=server)

        client = HaClusterClient(servers, make)
        self._closers.append(client.close)
        return client

    def api_servers(self) -> dict[str, str]:
        """Each control-plane blade's API server URL (``https://address:api_port``), by blade."""
        port = self.site.cluster.api_port
        return {b: f"https://{self.site.blades[b].address}:{port}" for b in self.site.cluster.control_plane}

    def blade(self, name: str) -> HostView:
        from ..clients.hosts import SshBlade

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
        from ..clients.etcd import EtcdClient

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
