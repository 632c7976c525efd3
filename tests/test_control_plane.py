"""Control-plane HA evaluators (checks/control_plane.py) and the HA cluster reader's order of asking."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_zengarden.checks import control_plane as cp
from pytest_zengarden.clients.cluster_ha import HaClusterClient
from pytest_zengarden.errors import TargetError
from pytest_zengarden.site.loader import load_site
from pytest_zengarden.site.schema import Site

SITE_FILE = Path(__file__).resolve().parent.parent / "fixtures" / "sites" / "zengarden.yaml"
# kube-apiserver v1.32's verbose /readyz, as the lab's servers answer it (trimmed of the poststarthooks).
READYZ_OK = "[+]ping ok\n[+]log ok\n[+]etcd ok\n[+]etcd-readiness ok\n[+]informer-sync ok\nreadyz check passed\n"
READYZ_ETCD_DOWN = (
    "[+]ping ok\n[+]log ok\n[-]etcd failed: reason withheld\n[-]etcd-readiness failed: reason withheld\n"
    "[+]informer-sync ok\nreadyz check failed\n"
)
LIVEZ_OK = "[+]ping ok\n[+]log ok\n[+]etcd ok\nlivez check passed\n"
SANS = [("DNS", "kubernetes.homelab.int.zengarden.space"), ("DNS", "kubernetes.default.svc"),
        ("IP Address", "10.43.0.1"), ("IP Address", "192.168.77.170")]  # fmt: skip


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(SITE_FILE)


def test_a_healthy_server(site: Site) -> None:
    f = cp.server_health(site, "blade001", "https://192.168.77.170:6443", (200, READYZ_OK), (200, LIVEZ_OK))
    assert f.ok and f.control == "K8S-CONTROL-PLANE-HA"
    assert f.message == "/readyz 200 (etcd ok), /livez 200 (etcd ok)"


def test_a_server_that_lost_etcd_names_the_failing_checks(site: Site) -> None:
    f = cp.server_health(site, "blade002", "u", (500, READYZ_ETCD_DOWN), (200, LIVEZ_OK))
    assert not f.ok
    assert f.message == "/readyz 500 (failing: etcd, etcd-readiness), /livez 200 (etcd ok)"
    # 200 without etcd among the checks (e.g. a proxy answering for it) is not the server's own verdict.
    assert not cp.server_health(site, "blade002", "u", (200, "ok"), (200, LIVEZ_OK)).ok


def test_a_server_that_does_not_answer_is_a_finding(site: Site) -> None:
    gone = cp.Unanswered("connection refused")
    f = cp.server_health(site, "blade003", "https://192.168.77.172:6443", gone, gone)
    assert not f.ok and f.subject == "blade003 API https://192.168.77.172:6443"
    assert f.message == "does not answer /readyz: connection refused (the other servers still serve)"


def test_certificate_names(site: Site) -> None:
    assert cp.serving_certificate(site, "blade001", "u", SANS, "10.43.0.1").ok
    f = cp.serving_certificate(site, "blade002", "u", SANS, "10.43.0.1")  # blade001's address only
    assert not f.ok and f.message == "does not cover IP:192.168.77.171: add them to tls-san and restart k3s"
    assert (
        "certificate verify failed"
        in cp.serving_certificate(
            site, "blade001", "u", cp.Unanswered("certificate verify failed (self-signed)"), "10.43.0.1"
        ).message
    )


def test_versions(site: Site) -> None:
    same = {"blade001": "v1.32.4+k3s1", "blade002": "v1.32.4+k3s1", "blade003": "v1.32.4+k3s1"}
    assert cp.versions(site, dict(same)).ok  # type: ignore[arg-type]
    mixed = same | {"blade003": "v1.31.9+k3s1"}
    f = cp.versions(site, dict(mixed))  # type: ignore[arg-type]
    assert not f.ok and f.message == "blade003 runs v1.31.9+k3s1, expected Kubernetes v1.32.4+k3s1"
    lab = {"blade001": "v1.32.13", "blade002": "v1.32.13", "blade003": cp.Unanswered("refused")}
    f = cp.versions(site, lab, minor_only=True)
    assert f.ok and "blade003 did not answer" in f.message
    assert not cp.versions(site, {"blade001": "v1.33.0"}, minor_only=True).ok
    with pytest.raises(ValueError, match="nothing to judge"):
        cp.versions(site, {"blade001": cp.Unanswered("refused")})


def lease(holder: str, renewed: str, name: str = "kube-controller-manager") -> dict[str, Any]:
    # As the dynamic client lists it (the API's own field names).
    return {"metadata": {"name": name, "namespace": "kube-system"},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15, "renewTime": renewed}}  # fmt: skip


def test_leader_leases(site: Site) -> None:
    now = 1796684000.0  # 2026-12-07T22:53:20Z
    held = [lease("blade002_3f1c6a9e-4a59-4c8e-9d1e-0b9f2d7a1c55", "2026-12-07T22:53:15.123456Z")]
    f = cp.leader_lease(site, "kube-controller-manager", held, now)
    assert f.ok and f.message == "held by blade002, renewed 5s ago (duration 15s)"
    stale = cp.leader_lease(site, "kube-controller-manager", held, now + 60)
    assert not stale.ok and "last renewed 65s ago" in stale.message
    stranger = [lease("laptop_1", "2026-12-07T22:53:15Z")]
    assert "not by one of the servers" in cp.leader_lease(site, "kube-controller-manager", stranger, now).message
    assert "does not exist" in cp.leader_lease(site, "kube-scheduler", held, now).message
    assert "held by nobody" in cp.leader_lease(site, "kube-controller-manager", [lease("", "")], now).message


class Server:
    """A stand-in for one server's client: answers, or fails as the real client reports it."""

    def __init__(self, url: str, cause: str | None, log: list[str]):
        self.url, self.cause, self.log = url, cause, log

    def list(self, kind: str) -> list[dict[str, Any]]:
        self.log.append(self.url)
        if self.cause:
            raise TargetError(f"cluster {self.url}", f"list {kind}: {self.cause}")
        return [{"kind": kind, "from": self.url}]

    def close(self) -> None:
        pass


def ha(causes: dict[str, str | None], log: list[str]) -> HaClusterClient:
    return HaClusterClient(list(causes), lambda url: Server(url, causes[url], log))  # type: ignore[arg-type,return-value]


def test_the_reader_moves_on_from_a_server_that_does_not_answer_and_remembers() -> None:
    log: list[str] = []
    client = ha({"a": "timed out", "b": None, "c": None}, log)
    assert client.list("Namespace") == [{"kind": "Namespace", "from": "b"}]
    assert client.list("Node") == [{"kind": "Node", "from": "b"}]
    assert log == ["a", "b", "b"]  # the dead server cost one timeout, not one per check
    assert client.down == {"a": "list Namespace: timed out"}


def test_an_answer_is_never_a_reason_to_ask_another_server() -> None:
    log: list[str] = []
    client = ha({"a": "HTTP 403 Forbidden", "b": None}, log)
    with pytest.raises(TargetError, match="403"):
        client.list("Secret")
    assert log == ["a"]


def test_no_server_answering_is_an_error_naming_each() -> None:
    client = ha({"a": "connection refused", "b": "no route to host"}, [])
    with pytest.raises(TargetError, match=r"no API server answered \(a: list Pod: connection refused; b: list Pod"):
        client.list("Pod")


def test_site_addresses_are_refused_before_any_packet_under_the_tests(tmp_path: Path) -> None:
    """The plugin's own tests (ZG_ONLY_LOOPBACK=1, tests/conftest.py) never reach a site address, by construction:
    a kubeconfig on loopback is asked alone, and a request to a blade's API server is refused by the guard."""
    import os

    from pytest_zengarden.errors import UnsafeTarget
    from pytest_zengarden.site.schema import Inventory, KubeAccess
    from pytest_zengarden.targets.live import LiveTarget

    assert os.environ.get("ZG_ONLY_LOOPBACK") == "1"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}}]\n"
        "users: [{name: u, user: {token: zg-unit-test-token-0123456789}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    site = load_site(SITE_FILE)
    target = LiveTarget(site, Inventory(cluster=KubeAccess(kubeconfig=kubeconfig, timeout_s=1)))
    cluster: Any = target.cluster()
    try:
        assert cluster.servers == ["https://127.0.0.1:1"]  # not the site's servers: the kubeconfig is elsewhere
        with pytest.raises(UnsafeTarget, match=r"refusing to contact 192\.168\.77\.170"):
            cluster.unauthenticated_get("192.168.77.170", 6443)
        with pytest.raises(UnsafeTarget):
            cluster.client("https://192.168.77.171:6443")
    finally:
        target.close()


class Silent:
    """A server that never answers, as the real client reports it."""

    def __init__(self, url: str):
        self.url = url

    def get_raw(self, path: str, query: Any = ()) -> tuple[int, str]:
        raise TargetError(f"cluster {self.url}", f"GET {path}: connection refused")

    def close(self) -> None:
        pass


def test_no_server_answering_is_the_target_unreachable_not_a_finding() -> None:
    from pytest_zengarden.clients.cluster_ha import ask_every_server

    urls = {"blade001": "https://a:6443", "blade002": "https://b:6443"}
    client = HaClusterClient(list(urls.values()), Silent)  # type: ignore[arg-type]
    with pytest.raises(TargetError, match=r"no API server answered: blade001 \(https://a:6443\): GET /readyz"):
        ask_every_server(client, urls)


class Busy(Exception):
    """What the kubernetes client raises for an HTTP status (its ``status`` and ``headers``)."""

    def __init__(self, status: int, retry_after: str = "0.1"):
        super().__init__(f"HTTP {status}")
        self.status, self.headers = status, {"Retry-After": retry_after}


def test_a_server_answering_429_is_asked_again_after_its_retry_after_within_a_budget() -> None:
    from pytest_zengarden.clients.cluster import retrying_429

    calls: list[int] = []

    def filling_caches() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise Busy(429)
        return "items"

    assert retrying_429(filling_caches, budget=5) == "items" and len(calls) == 3
    calls.clear()

    def forbidden() -> str:
        calls.append(1)
        raise Busy(403)

    with pytest.raises(Busy, match="403"):
        retrying_429(forbidden)
    assert len(calls) == 1  # any other answer is final

    def always_busy() -> str:
        raise Busy(429, retry_after="0.2")

    with pytest.raises(Busy, match="429"):
        retrying_429(always_busy, budget=0.5)  # bounded: the server's 429 is reported when the budget is spent
