"""The cluster through whichever of the site's API servers answers: one server down is not an outage.

A k3s HA cluster has an API server on every control-plane blade.  :class:`HaClusterClient` asks one
(the kubeconfig's first, then the others in the site's order) and moves on when that one does not
answer (refused, timed out, unreachable): the server that answered is asked first from then on, and one
found down is asked last, so a stopped server costs at most one timeout per session, not one per check.
An answer, even a refusal (403, 404), is never a reason to ask another server: it is the cluster's.
Which servers did not answer is kept for the control-plane HA check to report.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import TargetError
from ..facts.cluster import KubeObject, Unanswered
from .cluster import KubeClusterClient

# What _cause() in clients/cluster.py reports for a server that did not answer at all.
UNANSWERED = ("connection refused", "timed out", "no route to host", "network is unreachable", "connection reset")


def unanswered(exc: TargetError) -> bool:
    """Whether ``exc`` says the server never answered (as opposed to answering with an error)."""
    return any(marker in exc.cause.lower() for marker in UNANSWERED)


class HaClusterClient:
    """:class:`KubeClusterClient`'s interface over several API servers, asked in turn (see the module)."""

    def __init__(self, servers: list[str], make: Callable[[str], KubeClusterClient]):
        if not servers:
            raise ValueError("no API server to ask")
        self.servers = list(dict.fromkeys(servers))
        self._make = make
        self._clients: dict[str, KubeClusterClient] = {}
        self.down: dict[str, str] = {}  # server -> why it did not answer (last time it was asked)
        self._preferred = self.servers[0]
        self.endpoint = f"cluster (API servers {', '.join(self.servers)})"

    def client(self, server: str) -> KubeClusterClient:
        """The client of one server (made once; making it does not touch the network)."""
        if server not in self._clients:
            self._clients[server] = self._make(server)
        return self._clients[server]

    def _order(self) -> list[str]:
        rest = [s for s in self.servers if s != self._preferred]
        return [self._preferred, *[s for s in rest if s not in self.down], *[s for s in rest if s in self.down]]

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        tried: list[str] = []
        last: TargetError | None = None
        for server in self._order():
            problem: TargetError | None = None
            try:
                result = getattr(self.client(server), name)(*args, **kwargs)
            except TargetError as exc:
                if not unanswered(exc):
                    raise
                problem = exc
            if problem is None:
                self._preferred = server
                self.down.pop(server, None)
                return result
            self.down[server] = problem.cause
            tried.append(f"{server}: {problem.cause}")
            last = problem
        if len(tried) == 1 and last is not None:  # one server to ask: its own error says it all
            raise TargetError(last.target, last.cause) from None
        raise TargetError(self.endpoint, "no API server answered (" + "; ".join(tried) + ")")

    def list(self, kind: str) -> list[KubeObject]:
        result: list[KubeObject] = self._call("list", kind)
        return result

    def dry_run_create(self, obj: dict[str, Any]) -> tuple[bool, str]:
        result: tuple[bool, str] = self._call("dry_run_create", obj)
        return result

    def unauthenticated_get(self, address: str, port: int, path: str = "/api") -> tuple[int, str]:
        """What an anonymous client gets from the server at ``address:port`` (asked alone, never in turn): its
        client is made like every other server's, so the target's address guard applies."""
        result: tuple[int, str] = self.client(f"https://{address}:{port}").unauthenticated_get(address, port, path)
        return result

    def __getattr__(self, name: str) -> Any:
        """Any other request of :class:`KubeClusterClient` (methods only), asked in turn as well."""
        if name.startswith("_") or not callable(getattr(KubeClusterClient, name, None)):
            raise AttributeError(name)
        return lambda *args, **kwargs: self._call(name, *args, **kwargs)

    # What the provisioner's writer takes from a reader: the server that answered last.
    @property
    def api_client(self) -> Any:
        return self.client(self._preferred).api_client

    @property
    def timeout(self) -> float:
        return self.client(self._preferred).timeout

    @property
    def cache_dir(self) -> Path:
        return self.client(self._preferred).cache_dir

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


QUESTIONS = ("readyz", "livez", "version", "sans")


def ask_server(cluster: HaClusterClient, url: str) -> dict[str, Any]:
    """What the API server at ``url`` answers alone: verbose ``/readyz`` and ``/livez`` (status, body), its
    ``/version`` (``gitVersion``) and its certificate's subjectAltNames.

    A server that does not answer (or answers /version with something else) gives :class:`Unanswered`
    for what it did not answer; after a first unanswered question the rest are not asked (one timeout).
    """
    client = cluster.client(url)
    try:
        readyz = client.get_raw("/readyz", (("verbose", ""),))
        livez = client.get_raw("/livez", (("verbose", ""),))
        status, body = client.get_raw("/version")
        sans = client.serving_sans()
    except TargetError as exc:
        return dict.fromkeys(QUESTIONS, Unanswered(exc.cause))
    version: str | Unanswered = Unanswered(f"/version answered HTTP {status}")
    if status == 200:
        try:
            version = str(json.loads(body)["gitVersion"])
        except (ValueError, KeyError, TypeError):
            version = Unanswered("/version is not Kubernetes' version document")
    return {"readyz": readyz, "livez": livez, "version": version, "sans": sans}


def ask_every_server(cluster: HaClusterClient, urls: dict[str, str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """:func:`ask_server` for each server (``name -> url``): ``name -> (url, answers)``.

    One server that does not answer is that server's finding; none answering is the target unreachable:
    :class:`TargetError` naming each cause (the checks error, never fail on an assumed outage).
    """
    got = {name: (url, ask_server(cluster, url)) for name, url in urls.items()}
    silent = {name: a["readyz"] for name, (_, a) in got.items() if isinstance(a["readyz"], Unanswered)}
    if got and len(silent) == len(got):
        causes = "; ".join(f"{name} ({urls[name]}): {u.cause}" for name, u in silent.items())
        raise TargetError(cluster.endpoint, f"no API server answered: {causes}")
    return got
